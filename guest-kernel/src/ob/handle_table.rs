//! The executive handle table (`HANDLE_TABLE`, ExCreateHandle and friends): entries found by
//! handle values that are multiples of 4 starting at 4, freed values reused most recent
//! first. Processes' object tables and the CID table are both built on it.
//!
//! Pure data structure: no hardware, no globals, so it is unit-tested on the host.

use alloc::vec::Vec;

use abi::NtStatus;

/// NT's limit on the entries of one table (`MAX_HANDLES`, 2^24).
pub const MAX_HANDLES: usize = 1 << 24;

/// The low two bits of a handle value are tag bits that applications may use; lookups
/// ignore them, as NT's do.
const TAG_BITS: u64 = 0b11;
const HANDLE_VALUE_INC: u64 = 4;

/// A handle table holding `E`s.
#[derive(Debug)]
pub struct HandleTable<E> {
    /// `slots[i]` is the entry of handle value `(i + 1) * 4`.
    slots: Vec<Option<E>>,
    /// Indices of free slots below `slots.len()`; the last one is reused first.
    free: Vec<usize>,
    count: usize,
    limit: usize,
}

impl<E> HandleTable<E> {
    /// An empty table (`ExCreateHandleTable`) holding at most [`MAX_HANDLES`] entries.
    pub const fn new() -> Self {
        Self::with_limit(MAX_HANDLES)
    }

    /// An empty table holding at most `limit` entries.
    pub const fn with_limit(limit: usize) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            count: 0,
            limit,
        }
    }

    /// How many entries the table holds (`HandleCount`).
    pub fn count(&self) -> usize {
        self.count
    }

    /// Stores `entry` under a free handle value and returns it (`ExCreateHandle`): the most
    /// recently freed value, else the next unused one. STATUS_INSUFFICIENT_RESOURCES when the
    /// table is full or pool runs out.
    pub fn create(&mut self, entry: E) -> Result<u64, NtStatus> {
        if self.count >= self.limit {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(entry);
                index
            }
            None => {
                self.slots
                    .try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                // Keep room to free every slot without allocating: closing never fails.
                let free_room = self.slots.len() + 1;
                self.free
                    .try_reserve(free_room.saturating_sub(self.free.len()))
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.count += 1;
        Ok(value_of(index))
    }

    /// The entry of `handle` (`ExMapHandleToPointer`), tag bits ignored.
    pub fn get(&self, handle: u64) -> Option<&E> {
        self.slots.get(index_of(handle)?)?.as_ref()
    }

    /// Removes the entry of `handle` and frees its value (`ExDestroyHandle`).
    pub fn destroy(&mut self, handle: u64) -> Option<E> {
        let index = index_of(handle)?;
        let entry = self.slots.get_mut(index)?.take()?;
        self.count -= 1;
        if self.count == 0 {
            // An empty table gives its storage back, so a process that closes every handle
            // it opened holds no more pool than before; values start over at 4.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else if index + 1 == self.slots.len() {
            self.trim();
        } else {
            // Room was reserved when the slot was created.
            self.free.push(index);
        }
        Some(entry)
    }

    /// Drops the free slots at the end of the table, and gives storage back once the table
    /// uses a quarter of it, so a table that grew for a while and emptied again (the CID
    /// table after a burst of processes) holds no more pool than before.
    fn trim(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        if self.free.iter().any(|&index| index >= len) {
            self.free.retain(|&index| index < len);
        }
        if self.slots.capacity() > 4 * len.max(4) {
            self.slots.shrink_to_fit();
            // Still room to free every slot without allocating.
            self.free.shrink_to(len);
        }
    }

    /// Removes every entry and returns them with their handle values (the sweep of
    /// `ExDestroyHandleTable`). The table is empty and reusable afterwards.
    pub fn take_all(&mut self) -> Vec<(u64, E)> {
        let entries = core::mem::take(&mut self.slots)
            .into_iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((value_of(index), slot?)))
            .collect();
        self.free.clear();
        self.count = 0;
        entries
    }

    /// A new table with the same limit holding `copy(entry)` under the same handle value for
    /// each entry where it is `Some` (`ExDupHandleTable` with a duplicate procedure). Values
    /// left out are free in the copy, lowest reused first.
    pub fn duplicate<F>(&self, mut copy: F) -> Result<Self, NtStatus>
    where
        F: FnMut(&E) -> Option<E>,
    {
        // Everything is allocated before any entry is copied, so a failure copies nothing.
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(self.slots.len())
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        let mut free = Vec::new();
        free.try_reserve_exact(self.slots.len())
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        slots.extend(
            self.slots
                .iter()
                .map(|slot| slot.as_ref().and_then(&mut copy)),
        );
        // Trailing free slots would only be handed out again in order: drop them.
        while matches!(slots.last(), Some(None)) {
            slots.pop();
        }
        free.extend(
            (0..slots.len())
                .rev()
                .filter(|&index| slots[index].is_none()),
        );
        let count = slots.len() - free.len();
        Ok(Self {
            slots,
            free,
            count,
            limit: self.limit,
        })
    }
}

impl<E> Default for HandleTable<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// The handle value of slot `index`.
fn value_of(index: usize) -> u64 {
    (index as u64 + 1) * HANDLE_VALUE_INC
}

/// The slot a handle value names, if it can name one: tag bits ignored, 0 never valid.
fn index_of(handle: u64) -> Option<usize> {
    let index = (handle & !TAG_BITS) / HANDLE_VALUE_INC;
    usize::try_from(index.checked_sub(1)?).ok()
}
