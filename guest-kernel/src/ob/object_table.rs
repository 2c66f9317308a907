//! A process's handle table (`EPROCESS.ObjectTable`): handles to objects, each with the
//! access it was granted and its attributes. Creating a handle counts it in the object's
//! header and type; closing it counts it out, takes a temporary object's name away with its
//! last handle and drops the handle's pointer reference.
//!
//! Pure data structure: no hardware, so it is unit-tested on the host.

use abi::NtStatus;
use abi::access::OBJ_INHERIT;
use spin::Mutex;

use super::handle_table::HandleTable;
use super::namespace::delete_name_check;
use super::object::{ObjectRef, ObjectType};

/// The attributes a handle entry keeps.
const HANDLE_ATTRIBUTES: u32 = OBJ_INHERIT;

/// One handle (`HANDLE_TABLE_ENTRY`): the object it references, the access it grants and
/// its attributes (OBJ_INHERIT).
#[derive(Clone)]
pub struct HandleEntry {
    pub object: ObjectRef,
    pub granted_access: u32,
    pub attributes: u32,
}

impl core::fmt::Debug for HandleEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandleEntry")
            .field("type", &self.object.header().object_type().name())
            .field(
                "granted_access",
                &format_args!("{:#x}", self.granted_access),
            )
            .field("attributes", &format_args!("{:#x}", self.attributes))
            .finish()
    }
}

/// A process's handle table.
#[derive(Debug, Default)]
pub struct ObjectTable {
    table: Mutex<HandleTable<HandleEntry>>,
}

impl ObjectTable {
    /// An empty table (`ExCreateHandleTable`).
    pub const fn new() -> Self {
        Self {
            table: Mutex::new(HandleTable::new()),
        }
    }

    /// A new handle to `object` granting `granted_access`, taking over the caller's pointer
    /// reference (`ObpCreateHandle`). Only OBJ_INHERIT of `attributes` is kept.
    pub fn create_handle(
        &self,
        object: ObjectRef,
        granted_access: u32,
        attributes: u32,
    ) -> Result<u64, NtStatus> {
        // Counted before the handle exists, so a close racing with the creation never
        // counts it out first.
        object.header().increment_handle_count();
        let counted = object.clone();
        let entry = HandleEntry {
            object,
            granted_access,
            attributes: attributes & HANDLE_ATTRIBUTES,
        };
        let created = self.table.lock().create(entry);
        if created.is_err() {
            count_out(&counted);
        }
        created
    }

    /// The entry of `handle` with a new pointer reference to its object, when the object is
    /// of `object_type` (if given) and the handle grants all of `desired_access` (the
    /// handle-table half of `ObReferenceObjectByHandle`).
    ///
    /// Errors, checked in this order: STATUS_INVALID_HANDLE, STATUS_OBJECT_TYPE_MISMATCH,
    /// STATUS_ACCESS_DENIED.
    pub fn reference(
        &self,
        handle: u64,
        object_type: Option<&ObjectType>,
        desired_access: u32,
    ) -> Result<HandleEntry, NtStatus> {
        let entry = self
            .table
            .lock()
            .get(handle)
            .cloned()
            .ok_or(NtStatus::INVALID_HANDLE)?;
        check_entry(&entry, object_type, desired_access)?;
        Ok(entry)
    }

    /// Closes `handle` (`ObpCloseHandle`): STATUS_INVALID_HANDLE when the table has no such
    /// handle.
    pub fn close(&self, handle: u64) -> Result<(), NtStatus> {
        let entry = self
            .table
            .lock()
            .destroy(handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        release_handle(entry);
        Ok(())
    }

    /// How many handles the table holds (`ObjectTable->HandleCount`).
    pub fn handle_count(&self) -> usize {
        self.table.lock().count()
    }

    /// Closes every handle (`ObKillProcess`, at process rundown). Returns how many there were.
    pub fn close_all(&self) -> usize {
        let entries = self.table.lock().take_all();
        let count = entries.len();
        for (_, entry) in entries {
            release_handle(entry);
        }
        count
    }

    /// A table for a child process holding the inheritable handles of this one, at the same
    /// values, with the same access (`ExDupHandleTable` with `ObDupHandleProcedure`).
    pub fn duplicate_inheritable(&self) -> Result<Self, NtStatus> {
        let table = self.table.lock().duplicate(|entry| {
            (entry.attributes & OBJ_INHERIT != 0).then(|| {
                entry.object.header().increment_handle_count();
                entry.clone()
            })
        })?;
        Ok(Self {
            table: Mutex::new(table),
        })
    }
}

impl Drop for ObjectTable {
    /// A table going away closes what it still holds (`ExDestroyHandleTable`).
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Checks an entry against what a reference asks for.
pub fn check_entry(
    entry: &HandleEntry,
    object_type: Option<&ObjectType>,
    desired_access: u32,
) -> Result<(), NtStatus> {
    if object_type.is_some_and(|t| !entry.object.header().is_a(t)) {
        return Err(NtStatus::OBJECT_TYPE_MISMATCH);
    }
    if desired_access & !entry.granted_access != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    Ok(())
}

/// Counts a removed entry's handle out of its object, then drops the handle's pointer
/// reference, outside any table lock: it may run the object's delete procedure.
fn release_handle(entry: HandleEntry) {
    count_out(&entry.object);
}

/// Counts one handle out of `object` (`ObpDecrementHandleCount`) and takes a temporary
/// object's name away with its last handle.
fn count_out(object: &ObjectRef) {
    if object.header().decrement_handle_count() == 0 {
        delete_name_check(object.as_ref());
    }
}
