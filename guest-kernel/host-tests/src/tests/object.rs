//! Objects and object types: counts, the delete procedure, downcasts, granted access, the
//! type registry.

use std::sync::Arc;

use abi::NtStatus;
use abi::access::{DELETE, GENERIC_ALL, GENERIC_READ, MAXIMUM_ALLOWED, READ_CONTROL, SYNCHRONIZE};

use super::{WIDGET_ALL_ACCESS, WIDGET_READ, WIDGET_WRITE, widget_type};
use crate::ob::object::{
    Object, ObjectBody, ObjectRef, ObjectType, ObjectTypes, downcast, pointer_count, same_object,
};

widget_type!(Counted, COUNTED_TYPE, "Counted");
widget_type!(Gadget, GADGET_TYPE, "Gadget");
widget_type!(Sprocket, SPROCKET_TYPE, "Sprocket");

#[test]
fn objects_count_in_their_type_while_they_live() {
    let first = Object::create(Counted::default());
    let second = Object::create(Counted::default());
    assert_eq!(COUNTED_TYPE.object_count(), 2);
    drop(first);
    assert_eq!(COUNTED_TYPE.object_count(), 1);
    drop(second);
    assert_eq!(COUNTED_TYPE.object_count(), 0);
    assert_eq!(COUNTED_TYPE.high_water_object_count(), 2);
    assert_eq!(COUNTED_TYPE.name(), "Counted");
}

#[test]
fn the_delete_procedure_runs_on_the_last_dereference_only() {
    let widget = Object::create(Gadget::default());
    let deleted = widget.deleted.clone();
    let reference: ObjectRef = widget.clone();
    let another = reference.clone();
    assert_eq!(pointer_count(&reference), 3);
    drop(widget);
    drop(another);
    assert_eq!(deleted.count(), 0);
    assert_eq!(pointer_count(&reference), 1);
    drop(reference);
    assert_eq!(deleted.count(), 1);
}

#[test]
fn downcasts_check_the_type() {
    let gadget: ObjectRef = Object::create(Gadget::default());
    let sprocket: ObjectRef = Object::create(Sprocket::default());
    assert!(downcast::<Gadget>(gadget.clone()).is_ok());
    assert_eq!(
        downcast::<Gadget>(sprocket.clone()).unwrap_err(),
        NtStatus::OBJECT_TYPE_MISMATCH
    );
    assert!(gadget.header().is_a(Gadget::object_type()));
    assert!(!gadget.header().is_a(Sprocket::object_type()));
    assert!(same_object(&gadget, &gadget.clone()));
    assert!(!same_object(&gadget, &sprocket));
}

#[test]
fn objects_start_unnamed_temporary_and_without_handles() {
    let gadget = Object::create(Gadget::default());
    let header = gadget.header();
    assert_eq!(header.handle_count(), 0);
    assert!(!header.is_permanent());
    assert_eq!(header.name(), None);
    header.make_permanent();
    assert!(header.is_permanent());
}

#[test]
fn granted_access_maps_generic_rights_and_drops_invalid_ones() {
    let widget_type = Gadget::object_type();
    assert_eq!(widget_type.grant_access(0), 0);
    assert_eq!(widget_type.grant_access(WIDGET_READ), WIDGET_READ);
    assert_eq!(
        widget_type.grant_access(GENERIC_READ | WIDGET_WRITE),
        READ_CONTROL | WIDGET_READ | WIDGET_WRITE
    );
    assert_eq!(widget_type.grant_access(GENERIC_ALL), WIDGET_ALL_ACCESS);
    assert_eq!(widget_type.grant_access(MAXIMUM_ALLOWED), WIDGET_ALL_ACCESS);
    // Rights the type does not define are dropped.
    assert_eq!(
        widget_type.grant_access(0x8000 | SYNCHRONIZE | DELETE),
        SYNCHRONIZE | DELETE
    );
}

#[test]
fn registration_hands_out_indices_from_2_once_per_type() {
    static REGISTRY: ObjectTypes = ObjectTypes::new();
    static FIRST: ObjectType = ObjectType::new("First", super::WIDGET_MAPPING, WIDGET_ALL_ACCESS);
    static SECOND: ObjectType = ObjectType::new("Second", super::WIDGET_MAPPING, WIDGET_ALL_ACCESS);
    assert_eq!(FIRST.index(), 0);
    assert_eq!(REGISTRY.register(&FIRST), Ok(2));
    assert_eq!(REGISTRY.register(&SECOND), Ok(3));
    assert_eq!(FIRST.index(), 2);
    assert_eq!(
        REGISTRY.register(&FIRST),
        Err(NtStatus::OBJECT_NAME_COLLISION)
    );
    assert_eq!(FIRST.index(), 2);
}

#[test]
fn objects_of_different_types_share_a_reference_type() {
    let objects: Vec<ObjectRef> = vec![
        Object::create(Gadget::default()),
        Object::create(Sprocket::default()),
    ];
    let names: Vec<&str> = objects
        .iter()
        .map(|object| object.header().object_type().name())
        .collect();
    assert_eq!(names, ["Gadget", "Sprocket"]);
    let gadget: Arc<Object<Gadget>> = downcast(objects[0].clone()).unwrap();
    assert_eq!(gadget.deleted.count(), 0);
}
