//! The object manager (Ob): object types and headers, pointer and handle counts, process
//! handle tables and the namespace, and the routines services reach objects through:
//! references by handle (with the pseudo-handles), opening by pointer and by name,
//! inserting named objects, closing and duplicating handles.
//!
//! The data structures (`handle_table`, `object`, `object_table`, `namespace`) are pure and
//! unit-tested on the host by `guest-kernel/host-tests`; this file ties them to processes.

pub mod handle_table;
mod namespace;
mod object;
mod object_table;

use alloc::string::String;
use alloc::sync::Arc;

use abi::NtStatus;
use abi::access::{
    DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS, DUPLICATE_SAME_ATTRIBUTES, OBJ_OPENIF,
    OBJ_PERMANENT, PROCESS_ALL_ACCESS, THREAD_ALL_ACCESS,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use spin::Once;

pub use namespace::{DIRECTORY_TYPE, Directory};
pub use object::{Object, ObjectBody, ObjectRef, ObjectType, pointer_count};
pub use object_table::{HandleEntry, ObjectTable};

use self::namespace::Insertion;
use self::object::{ObjectTypes, downcast};
use self::object_table::check_entry;
use crate::ps::{self, Process};

/// The registry of object types (`ObpObjectTypes`).
static OBJECT_TYPES: ObjectTypes = ObjectTypes::new();

/// The root of the namespace, `\` (`ObpRootDirectoryObject`).
static ROOT_DIRECTORY: Once<Arc<Object<Directory>>> = Once::new();

/// Where named objects of user programs live.
const BASE_NAMED_OBJECTS: &str = "\\BaseNamedObjects";

/// Brings the object manager up (`ObInitSystem`): the directory type, the root directory
/// and `\BaseNamedObjects`, both permanent.
pub fn init() {
    create_object_type(&DIRECTORY_TYPE);
    let root = ROOT_DIRECTORY.call_once(|| {
        let root = Object::create(Directory::new());
        root.header().make_permanent();
        root
    });
    let base_named_objects = Object::create(Directory::new());
    base_named_objects.header().make_permanent();
    let inserted =
        namespace::insert_object_name(root, None, BASE_NAMED_OBJECTS, base_named_objects);
    assert!(
        matches!(inserted, Ok(Insertion::Inserted)),
        "\\BaseNamedObjects is created once"
    );
}

/// Registers an object type (`ObCreateObjectType`). Types are registered once, at init.
pub fn create_object_type(object_type: &'static ObjectType) {
    if let Err(status) = OBJECT_TYPES.register(object_type) {
        panic!(
            "object type {} not registered: {status}",
            object_type.name()
        );
    }
}

fn root_directory() -> &'static Arc<Object<Directory>> {
    ROOT_DIRECTORY.get().expect("ob::init ran")
}

/// An object name from `OBJECT_ATTRIBUTES`: a path, relative to `root_directory` when that
/// handle is not 0.
#[derive(Debug)]
pub struct ObjectName {
    pub root_directory: u64,
    pub path: String,
}

/// References the object `handle` names in the current process, which must be a `T` and
/// grant `desired_access` (`ObReferenceObjectByHandle`). NtCurrentProcess() and
/// NtCurrentThread() grant all access.
pub fn reference_object_by_handle<T: ObjectBody>(
    handle: u64,
    desired_access: u32,
) -> Result<Arc<Object<T>>, NtStatus> {
    let process = ps::current_process();
    let entry = reference_handle(&process, handle, Some(T::object_type()), desired_access)?;
    downcast(entry.object)
}

/// The entry `handle` names in `process`'s table, checked against `object_type` and
/// `desired_access` as [`reference_object_by_handle`] does; the pseudo-handles name
/// `process` itself and the current thread.
pub fn reference_handle(
    process: &Arc<Object<Process>>,
    handle: u64,
    object_type: Option<&ObjectType>,
    desired_access: u32,
) -> Result<HandleEntry, NtStatus> {
    let entry = match handle {
        CURRENT_PROCESS_HANDLE => HandleEntry {
            object: process.clone(),
            granted_access: PROCESS_ALL_ACCESS,
            attributes: 0,
        },
        CURRENT_THREAD_HANDLE => HandleEntry {
            object: ps::current_thread(),
            granted_access: THREAD_ALL_ACCESS,
            attributes: 0,
        },
        _ => {
            return process
                .object_table
                .reference(handle, object_type, desired_access);
        }
    };
    check_entry(&entry, object_type, desired_access)?;
    Ok(entry)
}

/// Opens a handle to `object` in the current process (`ObOpenObjectByPointer`), granted what
/// its type grants for `desired_access`; `attributes` may ask for OBJ_INHERIT.
pub fn open_object_by_pointer(
    object: ObjectRef,
    attributes: u32,
    desired_access: u32,
) -> Result<u64, NtStatus> {
    let granted_access = object.header().object_type().grant_access(desired_access);
    ps::current_process()
        .object_table
        .create_handle(object, granted_access, attributes)
}

/// Opens a handle to the object `name` names (`ObOpenObjectByName`), which must be of
/// `object_type`: lookup errors as `ObpLookupObjectName`'s, STATUS_OBJECT_TYPE_MISMATCH for
/// another type.
pub fn open_object_by_name(
    name: &ObjectName,
    object_type: &ObjectType,
    attributes: u32,
    desired_access: u32,
) -> Result<u64, NtStatus> {
    let object = lookup_object_name(name)?;
    if !object.header().is_a(object_type) {
        return Err(NtStatus::OBJECT_TYPE_MISMATCH);
    }
    open_object_by_pointer(object, attributes, desired_access)
}

/// The object `name` names: its root directory handle must name a directory
/// (STATUS_OBJECT_TYPE_MISMATCH otherwise); then the namespace walk.
fn lookup_object_name(name: &ObjectName) -> Result<ObjectRef, NtStatus> {
    let start = match name.root_directory {
        0 => None,
        handle => Some(reference_object_by_handle::<Directory>(handle, 0)?),
    };
    namespace::lookup_object_name(root_directory(), start.as_ref(), &name.path)
}

/// Inserts a new object in the namespace under `name` (if any) and opens a handle to it in
/// the current process (`ObInsertObject`). Returns the handle and STATUS_SUCCESS, or, when
/// the name exists and `attributes` has OBJ_OPENIF, a handle to the existing object (which
/// must be of the same type) and STATUS_OBJECT_NAME_EXISTS. An existing name without
/// OBJ_OPENIF is STATUS_OBJECT_NAME_COLLISION. OBJ_PERMANENT makes the object permanent.
pub fn insert_object(
    object: ObjectRef,
    name: Option<&ObjectName>,
    attributes: u32,
    desired_access: u32,
) -> Result<(u64, NtStatus), NtStatus> {
    if let Some(name) = name {
        let start = match name.root_directory {
            0 => None,
            handle => Some(reference_object_by_handle::<Directory>(handle, 0)?),
        };
        match namespace::insert_object_name(
            root_directory(),
            start.as_ref(),
            &name.path,
            object.clone(),
        )? {
            Insertion::Inserted => {}
            Insertion::Exists(existing) if attributes & OBJ_OPENIF != 0 => {
                if !core::ptr::eq(
                    existing.header().object_type(),
                    object.header().object_type(),
                ) {
                    return Err(NtStatus::OBJECT_TYPE_MISMATCH);
                }
                let handle = open_object_by_pointer(existing, attributes, desired_access)?;
                return Ok((handle, NtStatus::OBJECT_NAME_EXISTS));
            }
            Insertion::Exists(_) => return Err(NtStatus::OBJECT_NAME_COLLISION),
        }
    }
    if attributes & OBJ_PERMANENT != 0 {
        object.header().make_permanent();
    }
    // Should no handle be made, the handle table takes a temporary name away again.
    let handle = open_object_by_pointer(object, attributes, desired_access)?;
    Ok((handle, NtStatus::SUCCESS))
}

/// The full name of an object in the namespace (`\BaseNamedObjects\Name`), or None for an
/// unnamed object.
pub fn object_name(object: &ObjectRef) -> Option<String> {
    let root: ObjectRef = root_directory().clone();
    if object::same_object(object, &root) {
        return Some(String::from("\\"));
    }
    namespace::full_name(object.as_ref())
}

/// Closes `handle` in the current process (`ObCloseHandle`): STATUS_INVALID_HANDLE when it
/// names nothing there (the pseudo-handles included).
pub fn close_handle(handle: u64) -> Result<(), NtStatus> {
    ps::current_process().object_table.close(handle)
}

/// Duplicates `source_handle` of `source_process` into `target_process` (`ObDuplicateObject`)
/// and returns the new handle. DUPLICATE_SAME_ACCESS keeps the source's access, else
/// `desired_access` is mapped and must lie within it (without security descriptors a
/// duplicate never gains access: STATUS_ACCESS_DENIED); DUPLICATE_SAME_ATTRIBUTES keeps the
/// source's attributes, else `attributes` apply. DUPLICATE_CLOSE_SOURCE closes the source
/// handle whatever the outcome, once it was found. Without a target process only
/// DUPLICATE_CLOSE_SOURCE makes sense (STATUS_INVALID_PARAMETER otherwise) and no handle is
/// made.
pub fn duplicate_object(
    source_process: &Arc<Object<Process>>,
    source_handle: u64,
    target_process: Option<&Arc<Object<Process>>>,
    desired_access: u32,
    attributes: u32,
    options: u32,
) -> Result<Option<u64>, NtStatus> {
    let source = reference_handle(source_process, source_handle, None, 0)?;
    let duplicated = match target_process {
        None if options & DUPLICATE_CLOSE_SOURCE != 0 => Ok(None),
        None => Err(NtStatus::INVALID_PARAMETER),
        Some(target) => {
            let object_type = source.object.header().object_type();
            let granted_access = if options & DUPLICATE_SAME_ACCESS != 0 {
                Ok(source.granted_access)
            } else {
                let granted = object_type.grant_access(desired_access);
                if granted & !source.granted_access == 0 {
                    Ok(granted)
                } else {
                    Err(NtStatus::ACCESS_DENIED)
                }
            };
            let attributes = if options & DUPLICATE_SAME_ATTRIBUTES != 0 {
                source.attributes
            } else {
                attributes
            };
            granted_access.and_then(|granted_access| {
                target
                    .object_table
                    .create_handle(source.object, granted_access, attributes)
                    .map(Some)
            })
        }
    };
    if options & DUPLICATE_CLOSE_SOURCE != 0
        && source_handle != CURRENT_PROCESS_HANDLE
        && source_handle != CURRENT_THREAD_HANDLE
    {
        // It was found above; only a racing close could have taken it since.
        let _ = source_process.object_table.close(source_handle);
    }
    duplicated
}
