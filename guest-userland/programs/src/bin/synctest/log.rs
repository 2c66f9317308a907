//! The order log the APC and priority subcommands' routines append to, so a check can see
//! which ran and in what order.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Values in the order they were appended since the last [`OrderLog::clear`] (eight
/// slots; a ninth overwrites the first), and how many were appended.
pub struct OrderLog {
    entries: [AtomicU64; 8],
    length: AtomicU32,
}

impl OrderLog {
    pub const fn new() -> Self {
        Self {
            entries: [const { AtomicU64::new(0) }; 8],
            length: AtomicU32::new(0),
        }
    }

    pub fn append(&self, value: u64) {
        let index = self.length.fetch_add(1, Ordering::Relaxed) as usize;
        self.entries[index % self.entries.len()].store(value, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        u64::from(self.length.load(Ordering::Relaxed))
    }

    /// The entries and the number appended.
    pub fn snapshot(&self) -> ([u64; 8], usize) {
        (
            self.entries
                .each_ref()
                .map(|entry| entry.load(Ordering::Relaxed)),
            self.count() as usize,
        )
    }

    pub fn clear(&self) {
        self.length.store(0, Ordering::Relaxed);
        for entry in &self.entries {
            entry.store(0, Ordering::Relaxed);
        }
    }
}
