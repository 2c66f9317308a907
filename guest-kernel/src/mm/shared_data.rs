//! KUSER_SHARED_DATA: one page of system facts that every process maps read-only.

use core::sync::atomic::{AtomicU64, Ordering};

use abi::layout::phys_to_virt;
use abi::nt::{KUSER_SHARED_DATA_SYSTEM_CALL, SYSTEM_CALL_INT_2E};

use crate::ke::bugcheck::{BugCheck, bugcheck};

static FRAME: AtomicU64 = AtomicU64::new(0);

/// Creates the page. `system_calls_use_int_2e` sets `SystemCall`, which tells user-mode
/// stubs to enter the kernel with `int 2Eh`.
pub fn init(system_calls_use_int_2e: bool) {
    let Some(frame) = super::allocate_zeroed_frame() else {
        bugcheck(BugCheck::NO_PAGES_AVAILABLE, [1, 0, 0, 0]);
    };
    if system_calls_use_int_2e {
        let field = phys_to_virt(frame + KUSER_SHARED_DATA_SYSTEM_CALL) as *mut u32;
        // SAFETY: the frame is fresh and owned here; the field lies within it and is aligned.
        unsafe { field.write_volatile(SYSTEM_CALL_INT_2E) };
    }
    FRAME.store(frame, Ordering::Release);
}

/// The page's frame, mapped into every address space.
pub fn frame() -> u64 {
    FRAME.load(Ordering::Acquire)
}
