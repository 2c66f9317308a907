//! Process handle tables: handle creation and counts, references with type and access
//! checks, closing, rundown, inheritance.

use abi::NtStatus;
use abi::access::{OBJ_CASE_INSENSITIVE, OBJ_INHERIT, OBJ_PERMANENT, SYNCHRONIZE};

use super::{WIDGET_ALL_ACCESS, WIDGET_READ, WIDGET_WRITE, widget_type};
use crate::ob::object::{Object, ObjectBody, ObjectRef, pointer_count};
use crate::ob::object_table::ObjectTable;

widget_type!(Widget, WIDGET_TYPE, "Widget");
widget_type!(Other, OTHER_TYPE, "Other");
widget_type!(Tallied, TALLIED_TYPE, "Tallied");

fn widget() -> ObjectRef {
    Object::create(Widget::default())
}

#[test]
fn handles_count_in_the_object_and_its_type() {
    let table = ObjectTable::new();
    let object: ObjectRef = Object::create(Tallied::default());
    let first = table.create_handle(object.clone(), 0, 0).unwrap();
    let second = table.create_handle(object.clone(), 0, 0).unwrap();
    assert_eq!((first, second), (4, 8));
    assert_eq!(object.header().handle_count(), 2);
    assert_eq!(TALLIED_TYPE.handle_count(), 2);
    // Each handle holds a pointer reference, as NT's PointerCount counts them.
    assert_eq!(pointer_count(&object), 3);
    table.close(first).unwrap();
    assert_eq!(object.header().handle_count(), 1);
    assert_eq!(TALLIED_TYPE.handle_count(), 1);
    assert_eq!(pointer_count(&object), 2);
    table.close(second).unwrap();
    assert_eq!(TALLIED_TYPE.handle_count(), 0);
    assert_eq!(TALLIED_TYPE.high_water_handle_count(), 2);
    assert_eq!(pointer_count(&object), 1);
}

#[test]
fn references_check_handle_then_type_then_access() {
    let table = ObjectTable::new();
    let handle = table.create_handle(widget(), WIDGET_READ, 0).unwrap();
    let widget_type = Some(Widget::object_type());
    let entry = table.reference(handle, widget_type, WIDGET_READ).unwrap();
    assert_eq!(entry.granted_access, WIDGET_READ);
    assert!(entry.object.header().is_a(&WIDGET_TYPE));
    assert!(table.reference(handle, None, 0).is_ok());
    // Asking for nothing is always granted.
    assert!(table.reference(handle, widget_type, 0).is_ok());
    assert_eq!(
        table
            .reference(handle, widget_type, WIDGET_WRITE)
            .unwrap_err(),
        NtStatus::ACCESS_DENIED
    );
    assert_eq!(
        table
            .reference(handle, widget_type, WIDGET_READ | SYNCHRONIZE)
            .unwrap_err(),
        NtStatus::ACCESS_DENIED
    );
    // A wrong type is reported before missing access.
    assert_eq!(
        table
            .reference(handle, Some(Other::object_type()), WIDGET_WRITE)
            .unwrap_err(),
        NtStatus::OBJECT_TYPE_MISMATCH
    );
    for bad in [0, 3, 8, 0x1234_5678, u64::MAX, u64::MAX - 1] {
        assert_eq!(
            table.reference(bad, None, 0).unwrap_err(),
            NtStatus::INVALID_HANDLE,
            "handle {bad:#x}"
        );
    }
    // Tag bits are ignored.
    assert!(
        table
            .reference(handle | 3, widget_type, WIDGET_READ)
            .is_ok()
    );
}

#[test]
fn closing_twice_is_an_invalid_handle() {
    let table = ObjectTable::new();
    let handle = table.create_handle(widget(), 0, 0).unwrap();
    assert_eq!(table.close(handle), Ok(()));
    assert_eq!(table.close(handle), Err(NtStatus::INVALID_HANDLE));
    assert_eq!(
        table.reference(handle, None, 0).unwrap_err(),
        NtStatus::INVALID_HANDLE
    );
    assert_eq!(table.close(0), Err(NtStatus::INVALID_HANDLE));
}

#[test]
fn closing_the_last_handle_deletes_an_object_nothing_else_references() {
    let table = ObjectTable::new();
    let object = Object::create(Widget::default());
    let deleted = object.deleted.clone();
    let first = table.create_handle(object.clone(), 0, 0).unwrap();
    let second = table.create_handle(object, 0, 0).unwrap();
    table.close(first).unwrap();
    assert_eq!(deleted.count(), 0);
    table.close(second).unwrap();
    assert_eq!(deleted.count(), 1);
}

#[test]
fn a_pointer_reference_outlives_the_last_handle() {
    let table = ObjectTable::new();
    let object = Object::create(Widget::default());
    let deleted = object.deleted.clone();
    let handle = table.create_handle(object.clone(), 0, 0).unwrap();
    let referenced = table.reference(handle, None, 0).unwrap().object;
    drop(object);
    table.close(handle).unwrap();
    assert_eq!(referenced.header().handle_count(), 0);
    assert_eq!(deleted.count(), 0);
    drop(referenced);
    assert_eq!(deleted.count(), 1);
}

#[test]
fn freed_handle_values_are_reused() {
    let table = ObjectTable::new();
    let handles: Vec<u64> = (0..3)
        .map(|_| table.create_handle(widget(), 0, 0).unwrap())
        .collect();
    assert_eq!(handles, [4, 8, 12]);
    table.close(8).unwrap();
    assert_eq!(table.create_handle(widget(), 0, 0).unwrap(), 8);
    assert_eq!(table.create_handle(widget(), 0, 0).unwrap(), 16);
}

#[test]
fn only_handle_attributes_are_kept() {
    let table = ObjectTable::new();
    let attributes = OBJ_INHERIT | OBJ_CASE_INSENSITIVE | OBJ_PERMANENT;
    let handle = table.create_handle(widget(), 0, attributes).unwrap();
    assert_eq!(
        table.reference(handle, None, 0).unwrap().attributes,
        OBJ_INHERIT
    );
}

#[test]
fn inheritance_copies_only_inheritable_handles() {
    let parent = ObjectTable::new();
    let inherited = Object::create(Widget::default());
    let private = Object::create(Widget::default());
    let (inherited_deleted, private_deleted) = (inherited.deleted.clone(), private.deleted.clone());
    let private_handle = parent.create_handle(private.clone(), 0, 0).unwrap();
    let inherited_handle = parent
        .create_handle(inherited.clone(), WIDGET_READ, OBJ_INHERIT)
        .unwrap();
    assert_eq!((private_handle, inherited_handle), (4, 8));

    let child = parent.duplicate_inheritable().unwrap();
    let entry = child.reference(inherited_handle, None, 0).unwrap();
    assert_eq!(entry.granted_access, WIDGET_READ);
    assert_eq!(entry.attributes, OBJ_INHERIT);
    assert_eq!(
        child.reference(private_handle, None, 0).unwrap_err(),
        NtStatus::INVALID_HANDLE
    );
    drop(entry);
    assert_eq!(inherited.header().handle_count(), 2);
    assert_eq!(private.header().handle_count(), 1);
    // The child's first new handle takes the value left free.
    assert_eq!(child.create_handle(widget(), 0, 0).unwrap(), 4);

    // The tables are independent: the parent closing leaves the child's handle.
    drop((inherited, private));
    parent.close(inherited_handle).unwrap();
    assert!(child.reference(inherited_handle, None, 0).is_ok());
    assert_eq!(parent.close_all(), 1);
    assert_eq!(private_deleted.count(), 1);
    assert_eq!(inherited_deleted.count(), 0);
    drop(child);
    assert_eq!(inherited_deleted.count(), 1);
}

#[test]
fn rundown_closes_every_handle() {
    let table = ObjectTable::new();
    let object = Object::create(Widget::default());
    let deleted = object.deleted.clone();
    for _ in 0..5 {
        table
            .create_handle(object.clone(), WIDGET_ALL_ACCESS, 0)
            .unwrap();
    }
    drop(object);
    assert_eq!(table.close_all(), 5);
    assert_eq!(deleted.count(), 1);
    assert_eq!(table.close_all(), 0);
    // The table stays usable, from the first value again.
    assert_eq!(table.create_handle(widget(), 0, 0).unwrap(), 4);
}

#[test]
fn dropping_a_table_closes_its_handles() {
    let table = ObjectTable::new();
    let object = Object::create(Widget::default());
    let deleted = object.deleted.clone();
    table.create_handle(object, 0, 0).unwrap();
    drop(table);
    assert_eq!(deleted.count(), 1);
}
