//! The namespace: directories, case-insensitive lookups, path errors, insertion, full
//! names, and temporary names going away with their last handle.

use std::sync::Arc;

use abi::NtStatus;

use super::{registered, widget_type};
use crate::ob::namespace::{
    DIRECTORY_TYPE, Directory, Insertion, delete_name_check, full_name, insert_object_name,
    lookup_object_name,
};
use crate::ob::object::{Object, ObjectRef, pointer_count, same_object};
use crate::ob::object_table::ObjectTable;

widget_type!(Event, EVENT_TYPE, "Event");

fn directory() -> Arc<Object<Directory>> {
    registered(&DIRECTORY_TYPE);
    Object::create(Directory::new())
}

/// `\` with a permanent `\BaseNamedObjects`, as `ObInitSystem` makes them.
fn namespace() -> (Arc<Object<Directory>>, Arc<Object<Directory>>) {
    let root = directory();
    let base = directory();
    base.header().make_permanent();
    let inserted = insert_object_name(&root, None, "\\BaseNamedObjects", base.clone()).unwrap();
    assert!(matches!(inserted, Insertion::Inserted));
    (root, base)
}

fn event() -> ObjectRef {
    Object::create(Event::default())
}

fn lookup_error(
    root: &Arc<Object<Directory>>,
    start: Option<&Arc<Object<Directory>>>,
    path: &str,
) -> NtStatus {
    lookup_object_name(root, start, path).unwrap_err()
}

#[test]
fn lookups_are_case_insensitive() {
    let (root, base) = namespace();
    let object = event();
    insert_object_name(&root, None, "\\BaseNamedObjects\\MyEvent", object.clone()).unwrap();
    for path in [
        "\\BaseNamedObjects\\MyEvent",
        "\\basenamedobjects\\MYEVENT",
        "\\BASENAMEDOBJECTS\\myevent",
    ] {
        let found = lookup_object_name(&root, None, path).unwrap();
        assert!(same_object(&found, &object), "{path}");
    }
    assert!(same_object(&base.lookup("myEVENT").unwrap(), &object));
    // Beyond ASCII too, one character for one.
    insert_object_name(&root, None, "\\BaseNamedObjects\\Größe", event()).unwrap();
    assert!(lookup_object_name(&root, None, "\\BASENAMEDOBJECTS\\GRÖßE").is_ok());
}

#[test]
fn the_root_and_relative_lookups() {
    let (root, base) = namespace();
    let root_ref: ObjectRef = root.clone();
    assert!(same_object(
        &lookup_object_name(&root, None, "\\").unwrap(),
        &root_ref
    ));
    let object = event();
    insert_object_name(&root, Some(&base), "Relative", object.clone()).unwrap();
    let found = lookup_object_name(&root, Some(&base), "relative").unwrap();
    assert!(same_object(&found, &object));
    // An empty relative path is the start directory itself.
    let base_ref: ObjectRef = base.clone();
    assert!(same_object(
        &lookup_object_name(&root, Some(&base), "").unwrap(),
        &base_ref
    ));
}

#[test]
fn path_errors() {
    let (root, base) = namespace();
    insert_object_name(&root, None, "\\BaseNamedObjects\\Event", event()).unwrap();
    let cases = [
        (None, "NoLeadingSeparator", NtStatus::OBJECT_PATH_SYNTAX_BAD),
        (None, "", NtStatus::OBJECT_PATH_SYNTAX_BAD),
        (Some(&base), "\\Absolute", NtStatus::OBJECT_PATH_SYNTAX_BAD),
        (None, "\\Missing", NtStatus::OBJECT_NAME_NOT_FOUND),
        (None, "\\Missing\\Event", NtStatus::OBJECT_PATH_NOT_FOUND),
        (
            None,
            "\\BaseNamedObjects\\Missing",
            NtStatus::OBJECT_NAME_NOT_FOUND,
        ),
        (
            None,
            "\\BaseNamedObjects\\\\Event",
            NtStatus::OBJECT_NAME_INVALID,
        ),
        (None, "\\BaseNamedObjects\\", NtStatus::OBJECT_NAME_INVALID),
        (None, "\\\\", NtStatus::OBJECT_NAME_INVALID),
        (
            None,
            "\\BaseNamedObjects\\Event\\Below",
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ];
    for (start, path, expected) in cases {
        assert_eq!(lookup_error(&root, start, path), expected, "{path:?}");
    }
}

#[test]
fn insertion_needs_a_parent_and_a_free_name() {
    let (root, base) = namespace();
    let first = event();
    assert!(matches!(
        insert_object_name(&root, None, "\\BaseNamedObjects\\Name", first.clone()),
        Ok(Insertion::Inserted)
    ));
    match insert_object_name(&root, None, "\\BASENAMEDOBJECTS\\NAME", event()) {
        Ok(Insertion::Exists(existing)) => assert!(same_object(&existing, &first)),
        _ => panic!("the name is taken"),
    }
    let errors = [
        ("\\Missing\\Name", NtStatus::OBJECT_PATH_NOT_FOUND),
        ("\\", NtStatus::OBJECT_NAME_COLLISION),
        ("\\BaseNamedObjects\\", NtStatus::OBJECT_NAME_INVALID),
        ("Relative", NtStatus::OBJECT_PATH_SYNTAX_BAD),
    ];
    for (path, expected) in errors {
        assert!(
            matches!(insert_object_name(&root, None, path, event()), Err(status) if status == expected),
            "{path:?}"
        );
    }
    // An object has one name.
    assert_eq!(
        Directory::insert(&base, "Second", first.clone()).err(),
        Some(NtStatus::OBJECT_NAME_COLLISION)
    );
    assert_eq!(
        Directory::insert(&base, "a\\b", event()).err(),
        Some(NtStatus::OBJECT_NAME_INVALID)
    );
    assert_eq!(
        Directory::insert(&base, "", event()).err(),
        Some(NtStatus::OBJECT_NAME_INVALID)
    );
}

#[test]
fn names_are_recorded_in_the_header() {
    let (root, _base) = namespace();
    let nested = directory();
    insert_object_name(&root, None, "\\BaseNamedObjects\\Session", nested.clone()).unwrap();
    let object = event();
    insert_object_name(
        &root,
        None,
        "\\basenamedobjects\\session\\Thing",
        object.clone(),
    )
    .unwrap();
    assert_eq!(object.header().name().as_deref(), Some("Thing"));
    assert_eq!(
        full_name(object.as_ref()).as_deref(),
        Some("\\BaseNamedObjects\\Session\\Thing")
    );
    assert_eq!(full_name(event().as_ref()), None);
    assert_eq!(full_name(root.as_ref()), None);
}

#[test]
fn a_temporary_name_goes_with_the_last_handle() {
    let (root, base) = namespace();
    let table = ObjectTable::new();
    let object = Object::create(Event::default());
    let deleted = object.deleted.clone();
    insert_object_name(&root, None, "\\BaseNamedObjects\\Temporary", object.clone()).unwrap();
    let first = table.create_handle(object.clone(), 0, 0).unwrap();
    let second = table.create_handle(object.clone(), 0, 0).unwrap();
    drop(object);
    table.close(first).unwrap();
    assert!(base.lookup("Temporary").is_some());
    table.close(second).unwrap();
    assert_eq!(
        lookup_error(&root, None, "\\BaseNamedObjects\\Temporary"),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    // The directory's reference was the last one.
    assert_eq!(deleted.count(), 1);
}

#[test]
fn a_permanent_name_stays() {
    let (root, base) = namespace();
    let table = ObjectTable::new();
    let object = event();
    object.header().make_permanent();
    insert_object_name(&root, None, "\\BaseNamedObjects\\Permanent", object.clone()).unwrap();
    let handle = table.create_handle(object.clone(), 0, 0).unwrap();
    table.close(handle).unwrap();
    let found = base.lookup("permanent").unwrap();
    assert!(same_object(&found, &object));
    // Ours, the directory's, and `found`.
    assert_eq!(pointer_count(&object), 3);
}

#[test]
fn the_name_check_leaves_objects_that_still_have_handles() {
    let (root, base) = namespace();
    let table = ObjectTable::new();
    let object = event();
    insert_object_name(&root, None, "\\BaseNamedObjects\\Open", object.clone()).unwrap();
    table.create_handle(object.clone(), 0, 0).unwrap();
    delete_name_check(object.as_ref());
    assert!(base.lookup("Open").is_some());
    // An object that was never named is left alone.
    delete_name_check(event().as_ref());
}
