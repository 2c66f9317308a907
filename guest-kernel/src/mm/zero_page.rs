//! The zero page thread (`MmZeroPageThread`): a System thread at priority 0, below every
//! other thread, that zeroes the frames on the free list while nothing else wants the
//! processor, so page faults and new page tables find zeroed frames instead of clearing
//! them on the spot.
//!
//! NT's free-list insertion sets the thread's event itself. Frames are freed here in
//! places that may hold the dispatcher lock (a last dereference during a thread switch
//! runs an address space down), so freeing only raises a flag, and the idle loop, which
//! holds no lock, sets the event.

use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;

use crate::ke;
use crate::ke::dispatcher::DispatcherObject;
use crate::ke::event::Event;
use crate::ke::thread::{WaitReason, WaitType};

/// Frames zeroed between looks at the ready queues.
const BATCH: usize = 32;

/// Raised when a frame goes to the free list.
static ZEROING_WANTED: AtomicBool = AtomicBool::new(false);
/// `MmZeroingPageEvent`: set when frames wait on the free list.
static ZEROING_PAGE_EVENT: Once<Arc<Event>> = Once::new();

/// Notes that a frame went to the free list.
pub(super) fn frame_freed() {
    ZEROING_WANTED.store(true, Ordering::Relaxed);
}

/// The idle loop's work: wakes the thread when frames wait to be zeroed.
fn wake_when_wanted() {
    if ZEROING_WANTED.swap(false, Ordering::Relaxed)
        && let Some(event) = ZEROING_PAGE_EVENT.get()
    {
        event.set();
    }
}

/// The thread's body: zeroes the free list in batches, letting any ready thread run
/// between them, then waits for the idle loop to find more.
pub fn zero_page_thread() -> ! {
    let event = ZEROING_PAGE_EVENT
        .call_once(|| Arc::new(Event::new(true, false)))
        .clone();
    ke::dispatcher::set_idle_work(wake_when_wanted);
    loop {
        while super::zero_free_frames(BATCH) == BATCH {
            ke::wait::yield_execution();
        }
        let object: Arc<dyn DispatcherObject> = event.clone();
        ke::wait::wait_for_objects(
            vec![object],
            WaitType::Any,
            None,
            WaitReason::FreePage,
            false,
        );
    }
}
