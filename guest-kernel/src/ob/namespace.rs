//! The object namespace: directory objects (`OBJECT_DIRECTORY`), the walk from a directory
//! down a `\`-separated path (`ObpLookupObjectName`), inserting named objects and taking
//! the name of a temporary object away when its last handle closes (`ObpDeleteNameCheck`).
//!
//! Names compare case-insensitively, as NT's do with `ObCaseInsensitive` set (the default):
//! each character is upcased one-to-one before comparing.
//!
//! Pure data structures: no hardware, so they are unit-tested on the host.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::access::{DIRECTORY_ALL_ACCESS, DIRECTORY_GENERIC_MAPPING};
use spin::Mutex;

use super::object::{AnyObject, NameInfo, Object, ObjectBody, ObjectRef, ObjectType, downcast};

/// The directory object type (`ObpDirectoryObjectType`).
pub static DIRECTORY_TYPE: ObjectType =
    ObjectType::new("Directory", DIRECTORY_GENERIC_MAPPING, DIRECTORY_ALL_ACCESS);

const SEPARATOR: char = '\\';

/// A directory object: named references to objects. An entry holds a pointer reference.
#[derive(Debug, Default)]
pub struct Directory {
    /// Entries by upcased name.
    entries: Mutex<BTreeMap<String, ObjectRef>>,
}

impl ObjectBody for Directory {
    fn object_type() -> &'static ObjectType {
        &DIRECTORY_TYPE
    }
}

/// What [`insert_object_name`] did.
pub enum Insertion {
    /// The object is in the namespace under the name.
    Inserted,
    /// The name was taken already: the object holding it.
    Exists(ObjectRef),
}

impl Directory {
    pub fn new() -> Self {
        Self::default()
    }

    /// The object named `name` in this directory (`ObpLookupDirectoryEntry`).
    pub fn lookup(&self, name: &str) -> Option<ObjectRef> {
        self.entries.lock().get(&upcase(name)).cloned()
    }

    /// Inserts `object` as `name` in `directory` (`ObpInsertDirectoryEntry`) and records the
    /// name in its header. A name already present gives back the object holding it. An
    /// object already named elsewhere is STATUS_OBJECT_NAME_COLLISION; a name that is empty
    /// or holds a separator STATUS_OBJECT_NAME_INVALID.
    pub fn insert(
        directory: &Arc<Object<Directory>>,
        name: &str,
        object: ObjectRef,
    ) -> Result<Insertion, NtStatus> {
        if name.is_empty() || name.contains(SEPARATOR) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        let mut entries = directory.entries.lock();
        let key = upcase(name);
        if let Some(existing) = entries.get(&key) {
            return Ok(Insertion::Exists(existing.clone()));
        }
        let mut name_info = object.header().name_info().lock();
        if name_info.is_some() {
            return Err(NtStatus::OBJECT_NAME_COLLISION);
        }
        *name_info = Some(NameInfo {
            directory: Arc::downgrade(directory),
            name: name.into(),
        });
        drop(name_info);
        entries.insert(key, object);
        Ok(Insertion::Inserted)
    }
}

/// Takes a temporary object's name out of its directory once no handle is left
/// (`ObpDeleteNameCheck`): the directory's pointer reference goes with it. Permanent objects
/// and objects with handles keep their names.
pub fn delete_name_check(object: &dyn AnyObject) {
    let header = object.header();
    if header.is_permanent() || header.handle_count() != 0 {
        return;
    }
    let Some(directory) = header
        .name_info()
        .lock()
        .as_ref()
        .and_then(|info| info.directory.upgrade())
    else {
        return;
    };
    let removed = {
        let mut entries = directory.entries.lock();
        // A handle may have been opened by name meanwhile: check again under the lock.
        let mut name_info = header.name_info().lock();
        if header.handle_count() != 0 {
            return;
        }
        let Some(info) = name_info.take() else {
            return;
        };
        entries.remove(&upcase(&info.name))
    };
    // The directory's reference is dropped outside its lock: it may be the last one.
    drop(removed);
}

/// The full path of a named object, from the root (`\BaseNamedObjects\Name`), or None when
/// it has no name. The root itself has no name: callers that hold it know it as `\`.
pub fn full_name(object: &dyn AnyObject) -> Option<String> {
    let mut components = Vec::new();
    let info = object.header().name_info().lock();
    let first = info.as_ref()?;
    components.push(first.name.clone());
    let mut parent = first.directory.upgrade();
    drop(info);
    while let Some(directory) = parent {
        let info = directory.header().name_info().lock();
        let Some(info) = info.as_ref() else {
            break;
        };
        components.push(info.name.clone());
        parent = info.directory.upgrade();
    }
    let mut path = String::new();
    for component in components.iter().rev() {
        path.push(SEPARATOR);
        path.push_str(component);
    }
    Some(path)
}

/// The object `path` names (`ObpLookupObjectName`): from `root` when it starts with `\`,
/// else from `start` (a directory handle's object). `\` alone is the root; an empty path is
/// `start` itself.
///
/// Errors: STATUS_OBJECT_PATH_SYNTAX_BAD for a relative path without a start directory or
/// an absolute one with one, STATUS_OBJECT_NAME_INVALID for an empty component,
/// STATUS_OBJECT_PATH_NOT_FOUND when a directory on the way is missing,
/// STATUS_OBJECT_TYPE_MISMATCH when something on the way is not a directory and
/// STATUS_OBJECT_NAME_NOT_FOUND when the last component is missing.
pub fn lookup_object_name(
    root: &Arc<Object<Directory>>,
    start: Option<&Arc<Object<Directory>>>,
    path: &str,
) -> Result<ObjectRef, NtStatus> {
    match lookup_parent(root, start, path)? {
        (directory, None) => Ok(directory),
        (parent, Some(name)) => parent.lookup(name).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND),
    }
}

/// Inserts `object` under `path` (the naming half of `ObInsertObject`): its parent directory
/// must exist. Errors as [`lookup_object_name`]'s for the parent, and as
/// [`Directory::insert`]'s; a path naming a directory itself (`\`, or empty) is
/// STATUS_OBJECT_NAME_COLLISION.
pub fn insert_object_name(
    root: &Arc<Object<Directory>>,
    start: Option<&Arc<Object<Directory>>>,
    path: &str,
    object: ObjectRef,
) -> Result<Insertion, NtStatus> {
    match lookup_parent(root, start, path)? {
        (_, None) => Err(NtStatus::OBJECT_NAME_COLLISION),
        (parent, Some(name)) => Directory::insert(&parent, name, object),
    }
}

/// The directory holding the last component of `path`, and that component (None when the
/// path names the start or root directory itself).
fn lookup_parent<'p>(
    root: &Arc<Object<Directory>>,
    start: Option<&Arc<Object<Directory>>>,
    path: &'p str,
) -> Result<(Arc<Object<Directory>>, Option<&'p str>), NtStatus> {
    let (mut directory, rest) = match (path.strip_prefix(SEPARATOR), start) {
        (Some(rest), None) => (root.clone(), rest),
        (None, Some(start)) => (start.clone(), path),
        _ => return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD),
    };
    if rest.is_empty() {
        return Ok((directory, None));
    }
    let mut components = rest.split(SEPARATOR);
    let last = components.next_back().unwrap_or(rest);
    for component in components {
        if component.is_empty() {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        let next = directory
            .lookup(component)
            .ok_or(NtStatus::OBJECT_PATH_NOT_FOUND)?;
        directory = downcast::<Directory>(next)?;
    }
    if last.is_empty() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok((directory, Some(last)))
}

/// `name` with each character upcased where it has a one-character upper case
/// (`RtlUpcaseUnicodeChar`). ASCII, the common case, skips the Unicode tables.
fn upcase(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_uppercase();
            }
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}
