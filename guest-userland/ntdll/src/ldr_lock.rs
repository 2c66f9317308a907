//! The loader lock (`LdrpLoaderLock`) and the process-initialization state
//! (`LdrpProcessInitialized`).
//!
//! The lock serializes everything that reads or changes the module list and calls DLL
//! entry points. It is recursive, as a DLL's entry point may load or unload DLLs itself,
//! and it is a mutant rather than a critical section: a thread terminated while it holds
//! the lock abandons it, and the next thread still gets it. The mutant is made on first
//! use, so a process that loads no DLL of its own has none.
//!
//! The first thread to start in a process initializes it; another thread that starts
//! meanwhile (a thread created into the process before its first thread ran) waits until
//! that is done, as NT's LdrpInitialize does.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::ldr_calls;

/// The mutant's handle; 0 until the loader first needs the lock. A process that never
/// loads a DLL or calls the loader's services never makes one.
static LOADER_LOCK: AtomicU64 = AtomicU64::new(0);

/// `LdrpProcessInitialized`: no thread has started initializing the process.
const NOT_INITIALIZED: u32 = 0;
/// A thread is initializing the process.
const INITIALIZING: u32 = 1;
/// The process is initialized.
const INITIALIZED: u32 = 2;
static PROCESS_INITIALIZED: AtomicU32 = AtomicU32::new(NOT_INITIALIZED);

/// The loader lock, held until the guard is dropped.
pub struct LoaderLock {
    mutant: u64,
}

impl LoaderLock {
    /// Waits for the lock, creating it on first use (two threads that create it at once
    /// keep the first one stored). When no mutant can be created (the kernel is out of
    /// resources) the caller goes on without the lock, as if it had no rival.
    pub fn acquire() -> Self {
        let mutant = match LOADER_LOCK.load(Ordering::Acquire) {
            0 => create(),
            mutant => mutant,
        };
        if mutant != 0 {
            ldr_calls::acquire_mutant(mutant);
        }
        Self { mutant }
    }
}

impl Drop for LoaderLock {
    fn drop(&mut self) {
        if self.mutant != 0 {
            ldr_calls::release_mutant(self.mutant);
        }
    }
}

/// The loader lock's mutant, created now unless another thread just did; 0 when none can
/// be created.
fn create() -> u64 {
    let Ok(mutant) = ldr_calls::create_mutant() else {
        return 0;
    };
    match LOADER_LOCK.compare_exchange(0, mutant, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => mutant,
        Err(winner) => {
            ldr_calls::close(mutant);
            winner
        }
    }
}

/// Claims process initialization for the calling thread: true for the first thread to
/// start, which must then call [`process_initialized`]; false for any other, after the
/// first has finished.
pub fn claim_process_initialization() -> bool {
    if PROCESS_INITIALIZED
        .compare_exchange(
            NOT_INITIALIZED,
            INITIALIZING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        return true;
    }
    while PROCESS_INITIALIZED.load(Ordering::Acquire) == INITIALIZING {
        ldr_calls::delay_a_tick();
    }
    false
}

/// Process initialization is done: waiting threads go on.
pub fn process_initialized() {
    PROCESS_INITIALIZED.store(INITIALIZED, Ordering::Release);
}
