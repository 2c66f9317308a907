//! The CID table (`PspCidTable`): process and thread IDs. It is a handle table, so IDs are
//! multiples of 4 starting at 4 and freed IDs are reused; an entry names its process or
//! thread without keeping it alive (NT's CID entries hold no reference either).
//!
//! Pure data structure: no hardware, so it is unit-tested on the host.

use abi::NtStatus;
use spin::Mutex;

use crate::ob::handle_table::HandleTable;

/// Process and thread IDs and what they name.
#[derive(Debug, Default)]
pub struct CidTable<E> {
    table: Mutex<HandleTable<E>>,
}

impl<E: Clone> CidTable<E> {
    pub const fn new() -> Self {
        Self {
            table: Mutex::new(HandleTable::new()),
        }
    }

    /// A new ID for `entry` (`ExCreateHandle(PspCidTable, ...)`).
    pub fn allocate(&self, entry: E) -> Result<u64, NtStatus> {
        self.table.lock().create(entry)
    }

    /// What `id` names (`ExMapHandleToPointer(PspCidTable, ...)`).
    pub fn lookup(&self, id: u64) -> Option<E> {
        self.table.lock().get(id).cloned()
    }

    /// Frees `id` for reuse (`ExDestroyHandle(PspCidTable, ...)`); false if it was not in use.
    pub fn free(&self, id: u64) -> bool {
        // The entry is dropped after the lock is released.
        let entry = self.table.lock().destroy(id);
        entry.is_some()
    }
}
