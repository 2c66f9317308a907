//! The zero page thread (`MmZeroPageThread`): a System thread at priority 0, below every
//! other thread, that zeroes the frames on the free list while nothing else wants the
//! processor, so page faults and new page tables find zeroed frames instead of clearing
//! them on the spot.
//!
//! NT wakes it with an event that the free-list insertion sets. Frames are freed here in
//! places that may hold the dispatcher lock (a last dereference during a thread switch
//! runs an address space down), so the thread looks for work on a short timer instead.

use alloc::vec::Vec;

use crate::ke;
use crate::ke::thread::{WaitReason, WaitType};

/// Frames zeroed between looks at the ready queues.
const BATCH: usize = 32;
/// How long the thread sleeps when the free list is empty.
const IDLE_MS: u64 = 50;

/// The thread's body: zeroes the free list in batches, letting any ready thread run
/// between them, then sleeps.
pub fn zero_page_thread() -> ! {
    loop {
        while super::zero_free_frames(BATCH) == BATCH {
            ke::wait::yield_execution();
        }
        let deadline = ke::clock::now() + IDLE_MS * ke::clock::tsc_khz();
        ke::wait::wait_for_objects(
            Vec::new(),
            WaitType::Any,
            Some(deadline),
            WaitReason::FreePage,
            false,
        );
    }
}
