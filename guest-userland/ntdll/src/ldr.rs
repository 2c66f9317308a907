//! The user-mode loader's thread and process entry and exit: `LdrInitializeThunk`, where
//! the kernel starts every thread of a process (NT's initial user APC, see
//! `ps/system_dll.rs`), and the hooks `LdrShutdownThread` and `LdrShutdownProcess` that a
//! thread or the process calls on its way out. Loading DLLs is [`crate::load`]'s, the
//! module list in `PEB.Ldr` [`crate::modules`]'s.
//!
//! `LdrInitializeThunk(Context)` gets the thread's initial context (the entry point or
//! start routine, its stack and `rcx`) as a `CONTEXT` on the thread's stack. The first
//! thread to start initializes the process (`LdrpInitializeProcess`): it lists the
//! executable and ntdll in `PEB.Ldr`, loads the DLLs the executable imports (pinned) and
//! binds its imports, sets up static TLS ([`crate::tls`]), then runs the DLLs' entry
//! points with `DLL_PROCESS_ATTACH`. Every other thread gets its TLS blocks and runs them
//! with `DLL_THREAD_ATTACH` (`LdrpInitializeThread`). TLS callbacks go with the entry
//! points, the executable's after every DLL's. Either way
//! the thread then continues to its initial context with NtContinue, so its entry point
//! sees exactly what it would have seen without a loader. A process that cannot be
//! initialized ends with the reason (STATUS_DLL_NOT_FOUND, STATUS_ENTRYPOINT_NOT_FOUND,
//! STATUS_DLL_INIT_FAILED, STATUS_INVALID_IMAGE_FORMAT), after a line saying what was
//! missing.

use core::sync::atomic::{AtomicU32, Ordering};

use abi::NtStatus;
use abi::dispatcher::Context;
use abi::nt::{
    DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH,
    LDRP_DONT_CALL_FOR_THREADS, LDRP_PROCESS_ATTACH_CALLED, LdrDataTableEntry, Peb, PebLdrData,
};

use crate::image::{Image, MAX_NAME};
use crate::ldr_lock::{self, LoaderLock};
use crate::load::{self, LoadKind};
use crate::rtl::peb::RtlGetCurrentPeb;
use crate::{calls, modules, tls, tls_threads};

unsafe extern "C" {
    /// The linker's symbol at ntdll's own image base (its DOS header).
    static __ImageBase: u8;
}

/// How many DLLs have had their `DLL_PROCESS_ATTACH` and not yet their
/// `DLL_PROCESS_DETACH`. A thread that starts or ends, or a process that ends, while there
/// are none skips the loader lock: a process without DLLs of its own pays nothing.
static ATTACHED_DLLS: AtomicU32 = AtomicU32::new(0);

/// The routine of every thread's first user APC in a process with ntdll, which
/// `KiUserApcDispatcher` calls before it continues to the thread's initial context
/// (`_context`): initializes the process, or the thread.
#[unsafe(no_mangle)]
pub extern "system" fn LdrInitializeThunk(_context: *mut Context, _: u64, _: u64) {
    let peb = RtlGetCurrentPeb();
    if ldr_lock::claim_process_initialization(peb) {
        match initialize_process(peb) {
            Ok(ldr) => ldr_lock::process_initialized(ldr),
            Err(status) => calls::terminate_current_process(status),
        }
    } else {
        initialize_thread();
    }
}

/// `LdrpInitializeProcess`: the executable and ntdll in `PEB.Ldr`; the executable's
/// imports bound (the DLLs they name loaded and pinned); the DLLs' entry points run,
/// under the loader lock.
fn initialize_process(peb: *mut Peb) -> Result<*mut PebLdrData, NtStatus> {
    // SAFETY: the kernel writes the process's PEB before its first thread runs.
    let image_base = unsafe { (*peb).image_base_address };
    // Only the address of `__ImageBase` is taken, never its value.
    let ntdll_base = &raw const __ImageBase as u64;
    // The runtime library's share of process initialization (the process heap), before
    // any DLL entry point can want it.
    // SAFETY: the process's PEB, writable by the process.
    unsafe { crate::rtl::initialize_process(peb) };
    let executable = Image::at(image_base)?;
    let ntdll = Image::at(ntdll_base)?;
    // Any other thread waits until this one is done, so the loader lock is not needed
    // until a DLL's entry point runs.
    let ldr = modules::initialize(
        peb,
        &executable,
        executable.entry_point()?.unwrap_or(0),
        &ntdll,
    )?;
    load::snap_imports(&executable, LoadKind::Static, None)?;
    tls::initialize_process()?;
    if modules::initialization_order(false).nth(1).is_some() || tls::in_use() {
        // DLLs besides ntdll, which has no entry point, or TLS callbacks: they run, the
        // executable's TLS callbacks after every DLL's initialization, as on NT.
        let _lock = LoaderLock::acquire();
        tls_threads::list_current()?;
        load::run_initializers(LoadKind::Static)?;
        tls::call_callbacks(image_base, DLL_PROCESS_ATTACH);
    }
    Ok(ldr)
}

/// `LdrpInitializeThread`: the thread listed for DLLs with TLS loaded later and its TLS
/// blocks, then `DLL_THREAD_ATTACH` for every attached DLL (but those that turned thread
/// notifications off), in initialization order, and for the executable's TLS callbacks.
/// A thread whose blocks cannot be had ends with STATUS_NO_MEMORY.
fn initialize_thread() {
    if !needs_thread_notifications() {
        return;
    }
    let _lock = LoaderLock::acquire();
    // The thread's TLS blocks exist before any callback or entry point runs on it; under
    // the lock, so that a DLL with TLS loaded meanwhile is in its array.
    if let Err(status) = tls_threads::list_current().and_then(|()| tls::allocate_thread_data()) {
        tls_threads::unlist_current();
        calls::terminate_current_thread(status);
    }
    for entry in modules::initialization_order(false) {
        if wants_thread_calls(entry) {
            load::call_entry_point(entry, DLL_THREAD_ATTACH, 0);
        }
    }
    tls::call_callbacks(executable_base(), DLL_THREAD_ATTACH);
}

/// `LdrShutdownThread()`: `DLL_THREAD_DETACH` for every attached DLL (but those that
/// turned thread notifications off), in reverse initialization order, and for the
/// executable's TLS callbacks; then the thread's TLS blocks are freed and it leaves the
/// loader's list of threads. A thread calls it on its way out (`RtlExitUserThread`), just
/// before NtTerminateThread.
#[unsafe(no_mangle)]
pub extern "system" fn LdrShutdownThread() {
    if !needs_thread_notifications() {
        return;
    }
    let _lock = LoaderLock::acquire();
    for entry in modules::initialization_order(true) {
        if wants_thread_calls(entry) {
            load::call_entry_point(entry, DLL_THREAD_DETACH, 0);
        }
    }
    tls::call_callbacks(executable_base(), DLL_THREAD_DETACH);
    tls::free_thread_data();
    tls_threads::unlist_current();
}

/// `LdrDisableThreadCalloutsForDll(DllHandle)`: the DLL at `base` gets no more
/// `DLL_THREAD_ATTACH` and `DLL_THREAD_DETACH`. STATUS_DLL_NOT_FOUND when no module is
/// mapped there.
#[unsafe(no_mangle)]
pub extern "system" fn LdrDisableThreadCalloutsForDll(base: u64) -> NtStatus {
    let _lock = LoaderLock::acquire();
    match modules::find_by_base(base) {
        Some(entry) => {
            // SAFETY: the entry is the loader's, changed under the loader lock.
            unsafe { (*entry).flags |= LDRP_DONT_CALL_FOR_THREADS };
            NtStatus::SUCCESS
        }
        None => NtStatus::DLL_NOT_FOUND,
    }
}

/// `LdrShutdownProcess()`: `DLL_PROCESS_DETACH` for every attached DLL, in reverse
/// initialization order, with `lpReserved` non-NULL (the process is ending), and for the
/// executable's TLS callbacks, then the calling thread's TLS blocks freed, once: the
/// process calls it on its way out (`RtlExitUserProcess`), just before
/// NtTerminateProcess; later calls do nothing.
#[unsafe(no_mangle)]
pub extern "system" fn LdrShutdownProcess() {
    if !needs_thread_notifications() {
        return;
    }
    {
        let _lock = LoaderLock::acquire();
        if modules::begin_shutdown(current_thread_id()) {
            return;
        }
        for entry in modules::initialization_order(true) {
            if is_attached(entry) {
                // SAFETY: the entry is the loader's, changed under the loader lock.
                unsafe { (*entry).flags &= !LDRP_PROCESS_ATTACH_CALLED };
                ATTACHED_DLLS.fetch_sub(1, Ordering::AcqRel);
                load::call_entry_point(entry, DLL_PROCESS_DETACH, 1);
            }
        }
        tls::call_callbacks(executable_base(), DLL_PROCESS_DETACH);
        tls::free_thread_data();
    }
}

/// Whether a thread's start or end, or the process's end, has anything for the loader to
/// do: DLLs to notify or TLS to set up and call back.
fn needs_thread_notifications() -> bool {
    ATTACHED_DLLS.load(Ordering::Acquire) != 0 || tls::in_use()
}

/// `PEB.ImageBaseAddress`: where the executable, whose TLS callbacks run after every DLL's
/// notification, is mapped.
fn executable_base() -> u64 {
    // SAFETY: the kernel keeps the process's PEB mapped for the life of the process.
    unsafe { (*RtlGetCurrentPeb()).image_base_address }
}

/// Counts a DLL whose `DLL_PROCESS_ATTACH` succeeded ([`crate::load`]).
pub fn count_attached(attached: bool) {
    if attached {
        ATTACHED_DLLS.fetch_add(1, Ordering::AcqRel);
    } else {
        ATTACHED_DLLS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn is_attached(entry: *mut LdrDataTableEntry) -> bool {
    // SAFETY: the entry is the loader's, read under the loader lock.
    unsafe { (*entry).flags & LDRP_PROCESS_ATTACH_CALLED != 0 }
}

/// Attached, and thread notifications not turned off.
fn wants_thread_calls(entry: *mut LdrDataTableEntry) -> bool {
    // SAFETY: the entry is the loader's, read under the loader lock.
    is_attached(entry) && unsafe { (*entry).flags & LDRP_DONT_CALL_FOR_THREADS == 0 }
}

fn current_thread_id() -> u64 {
    let id: u64;
    // SAFETY: gs:[0x48] is TEB.ClientId.UniqueThread; the read has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x48]", out(reg) id, options(nostack, readonly, preserves_flags))
    };
    id
}

/// Prints the concatenation of `parts` and a newline (at most a line's worth).
pub fn report(parts: &[&[u8]]) {
    let mut line = [0u8; 2 * MAX_NAME as usize];
    let mut length = 0;
    for byte in parts.iter().flat_map(|part| part.iter()).chain(b"\n") {
        if length < line.len() {
            line[length] = *byte;
            length += 1;
        }
    }
    calls::display_ascii(&line[..length]);
}
