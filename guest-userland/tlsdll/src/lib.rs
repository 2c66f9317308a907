//! `tlsdll.dll`, a DLL of ours with static TLS: a TLS directory (`_tls_used`) with a
//! template, an index and a callback, and a DllMain. `tlstest` imports it, so the loader
//! gives it a TLS index and a block in every thread and calls its callback just before its
//! DllMain; both record each call in one log, which the executable's own callback writes
//! to too, so the order across modules shows. `dlltest` loads it with LdrLoadDll after
//! its process started: every thread must get a block then too.
// Built for the guest only: the host unit-test build of the workspace compiles it empty.
#![cfg(not(test))]
#![no_std]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use abi::NtStatus;
use abi::service::CURRENT_PROCESS_HANDLE;

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

/// The template of every thread's block, followed by [`ZERO_FILL`] zero bytes.
const TEMPLATE: [u8; 8] = *b"tlsdll!\0";
const ZERO_FILL: usize = 8;

/// What the log records besides the reason: who was called.
const TLS_CALLBACK: u32 = 0x100;
const DLL_MAIN: u32 = 0x200;

abi::static_tls!(
    pub directory;
    template: TEMPLATE,
    zero_fill: ZERO_FILL,
    callback: tls_callback,
);

const LOG_CAPACITY: usize = 32;
static LOG: [AtomicU32; LOG_CAPACITY] = [const { AtomicU32::new(u32::MAX) }; LOG_CAPACITY];
static LOG_COUNT: AtomicUsize = AtomicUsize::new(0);

/// `TlsDllRecord(Event)`: appends `event` to the log (dropped when it is full).
#[unsafe(no_mangle)]
pub extern "system" fn TlsDllRecord(event: u32) {
    let slot = LOG_COUNT.fetch_add(1, Ordering::AcqRel);
    if let Some(entry) = LOG.get(slot) {
        entry.store(event, Ordering::Release);
    }
}

/// `TlsDllEvent(Index)`: the log's event `index`, `u32::MAX` past its end.
#[unsafe(no_mangle)]
pub extern "system" fn TlsDllEvent(index: u32) -> u32 {
    let count = LOG_COUNT.load(Ordering::Acquire).min(LOG_CAPACITY);
    match LOG.get(index as usize) {
        Some(entry) if (index as usize) < count => entry.load(Ordering::Acquire),
        _ => u32::MAX,
    }
}

/// `TlsDllIndex()`: the TLS index the loader gave this DLL.
#[unsafe(no_mangle)]
pub extern "system" fn TlsDllIndex() -> u32 {
    _tls_index.load(Ordering::Relaxed)
}

/// `TlsDllBlock()`: the calling thread's block of this DLL
/// (`ThreadLocalStoragePointer[_tls_index]`), NULL when the thread has no array.
#[unsafe(no_mangle)]
pub extern "system" fn TlsDllBlock() -> *mut u8 {
    let array: *const *mut u8;
    // SAFETY: gs:[0x58] is the calling thread's TEB.ThreadLocalStoragePointer; the read
    // has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x58]", out(reg) array, options(nostack, readonly, preserves_flags));
    }
    if array.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: the loader gives every thread an array with a slot per TLS index.
    unsafe { array.add(TlsDllIndex() as usize).read() }
}

unsafe extern "system" fn tls_callback(_module: u64, reason: u32, _reserved: u64) {
    TlsDllRecord(TLS_CALLBACK | reason);
}

/// The DLL's entry point (DllMain): records the call.
///
/// # Safety
/// Only the loader calls it, with DllMain's arguments.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn _DllMainCRTStartup(_instance: u64, reason: u32, _: u64) -> i32 {
    TlsDllRecord(DLL_MAIN | reason);
    1
}

/// A panic ends the process with STATUS_ASSERTION_FAILURE.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the pseudo-handle names this process; the call ends it.
    unsafe { NtTerminateProcess(CURRENT_PROCESS_HANDLE, NtStatus::ASSERTION_FAILURE) };
    loop {
        core::hint::spin_loop();
    }
}
