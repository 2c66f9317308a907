//! The loader lock (`LdrpLoaderLock`) and who initializes the process
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
//! that is done, as NT's LdrpInitialize does. The state lives in the process's own memory
//! rather than in ntdll's data: `PEB.Ldr` is 0 before, [`INITIALIZING`] while the first
//! thread builds the module list, then the list, whose `PEB_LDR_DATA.Initialized` says
//! when the process is initialized. So a process that loads no DLL of its own never
//! writes to ntdll's data pages (each write would copy one for the process).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use abi::nt::{Peb, PebLdrData};

use crate::ldr_calls;

/// The mutant's handle; 0 until the loader first needs the lock. A process that never
/// loads a DLL or calls the loader's services never makes one.
static LOADER_LOCK: AtomicU64 = AtomicU64::new(0);

/// `PEB.Ldr` while the first thread builds the module list.
pub const INITIALIZING: u64 = 1;

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
/// start, which must then build the module list and mark it initialized; false for any
/// other, after the first has finished.
pub fn claim_process_initialization(peb: *mut Peb) -> bool {
    // SAFETY: the kernel keeps the PEB mapped for the life of the process; PEB.Ldr is an
    // aligned u64 that every thread of the process reads and writes atomically.
    let ldr = unsafe { AtomicU64::from_ptr(&raw mut (*peb).ldr) };
    if ldr
        .compare_exchange(0, INITIALIZING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        return true;
    }
    loop {
        let data = ldr.load(Ordering::Acquire) as *mut PebLdrData;
        if data as u64 != INITIALIZING {
            // SAFETY: past INITIALIZING, PEB.Ldr points at the loader's PEB_LDR_DATA,
            // whose Initialized byte the first thread sets last.
            let initialized = unsafe { AtomicU8::from_ptr(&raw mut (*data).initialized) };
            if initialized.load(Ordering::Acquire) != 0 {
                return false;
            }
        }
        ldr_calls::delay_a_tick();
    }
}

/// Process initialization is done (`PEB_LDR_DATA.Initialized`): waiting threads go on.
pub fn process_initialized(ldr: *mut PebLdrData) {
    // SAFETY: the loader's PEB_LDR_DATA, mapped for the life of the process.
    let initialized = unsafe { AtomicU8::from_ptr(&raw mut (*ldr).initialized) };
    initialized.store(1, Ordering::Release);
}
