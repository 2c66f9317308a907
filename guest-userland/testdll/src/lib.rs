//! `testdll.dll`, a DLL of ours for the loader's tests (`dlltest`, `dllstatic`): its
//! DllMain records every notification it gets, in order, in an exported log and prints a
//! line for each (`testdll: DLL_PROCESS_ATTACH static`); it exports a function by name and
//! by a pinned ordinal, forwarders to ntdll and to a missing DLL (`build.rs`), and an
//! absolute pointer in its data that only a base relocation makes right, as its preferred
//! base is always taken.
//!
//! It imports from ntdll.dll, so loading it binds its imports too. Its DllMain refuses
//! `DLL_PROCESS_ATTACH` (returns FALSE) when the process's command line has the word
//! `initfail`, so the tests can watch a failed initialization.
// Built for the guest only: the host unit-test build of the workspace compiles it empty.
#![cfg(not(test))]
#![no_std]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::nt::{
    DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH,
    PROCESS_PARAMETERS_NORMALIZED, Peb, RtlUserProcessParameters, UnicodeString,
};
use abi::service::CURRENT_PROCESS_HANDLE;

// The routines the compiler calls, shared with rt.
#[path = "../../rt/src/mem.rs"]
mod mem;

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtDisplayString(string: *const UnicodeString) -> NtStatus;
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

/// The most notifications the log keeps.
const LOG_CAPACITY: usize = 16;

/// The notifications DllMain got, in order: `count` of them in `reasons` (each a
/// `DLL_*` reason), the first [`LOG_CAPACITY`] kept.
#[repr(C)]
pub struct EventLog {
    pub count: AtomicU32,
    pub reasons: [AtomicU32; LOG_CAPACITY],
}

/// The log, exported as data: a program reads it through the address
/// `LdrGetProcedureAddress` gives for it.
#[unsafe(no_mangle)]
pub static TestDllEventLog: EventLog = EventLog {
    count: AtomicU32::new(0),
    reasons: [const { AtomicU32::new(0) }; LOG_CAPACITY],
};

/// Where the log is also copied ([`TestDllMirrorEvents`]): the caller's, which outlives
/// this DLL, so `DLL_PROCESS_DETACH` can be seen after the unload.
static MIRROR: AtomicU64 = AtomicU64::new(0);

/// A value exported as data, and a pointer to it in this DLL's data: the linker writes the
/// pointer for the preferred base, and only the base relocation the loader's mapping
/// applies makes it point at the marker where the DLL really is.
#[unsafe(no_mangle)]
pub static TestDllMarker: u32 = 0x07E5_7D11;
#[unsafe(no_mangle)]
pub static TestDllMarkerPointer: &u32 = &TestDllMarker;

/// `TestDllAdd(a, b)`: `a + b` (wrapping), exported by name and as ordinal 7.
#[unsafe(no_mangle)]
pub extern "system" fn TestDllAdd(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// `TestDllMirrorEvents(Buffer)`: from now on every notification is also appended to
/// `buffer`: `buffer[0]` counts them, `buffer[1..=LOG_CAPACITY]` holds them. The log so
/// far is copied first.
///
/// # Safety
/// `buffer` points to `LOG_CAPACITY + 1` writable `u32`s that outlive the DLL's use of it
/// (the rest of the process), or is NULL to stop mirroring.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TestDllMirrorEvents(buffer: *mut u32) {
    if !buffer.is_null() {
        let count = TestDllEventLog.count.load(Ordering::Acquire);
        for (index, reason) in TestDllEventLog.reasons.iter().enumerate() {
            // SAFETY: the caller gives LOG_CAPACITY + 1 writable u32s.
            unsafe { buffer.add(1 + index).write(reason.load(Ordering::Relaxed)) };
        }
        // SAFETY: as above.
        unsafe { buffer.write(count) };
    }
    MIRROR.store(buffer as u64, Ordering::Release);
}

/// DllMain: records and prints the notification; refuses `DLL_PROCESS_ATTACH` when the
/// command line says `initfail`.
///
/// # Safety
/// Only the loader calls it, with DllMain's arguments.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn _DllMainCRTStartup(
    _instance: u64,
    reason: u32,
    reserved: u64,
) -> i32 {
    record(reason);
    let name: &[u8] = match reason {
        DLL_PROCESS_ATTACH => b"DLL_PROCESS_ATTACH",
        DLL_THREAD_ATTACH => b"DLL_THREAD_ATTACH",
        DLL_THREAD_DETACH => b"DLL_THREAD_DETACH",
        DLL_PROCESS_DETACH => b"DLL_PROCESS_DETACH",
        _ => b"an unknown reason",
    };
    // lpReserved: non-NULL for the executable's imports and for process exit.
    let how: &[u8] = match (reason, reserved != 0) {
        (DLL_PROCESS_ATTACH, true) => b" static",
        (DLL_PROCESS_ATTACH, false) => b" dynamic",
        (DLL_PROCESS_DETACH, true) => b" process exit",
        (DLL_PROCESS_DETACH, false) => b" unload",
        _ => b"",
    };
    let refuse = reason == DLL_PROCESS_ATTACH && command_line_has(b"initfail");
    let refused: &[u8] = if refuse { b" (refused)" } else { b"" };
    print(&[b"testdll: ", name, how, refused, b"\n"]);
    i32::from(!refuse)
}

fn record(reason: u32) {
    let index = TestDllEventLog.count.fetch_add(1, Ordering::AcqRel) as usize;
    if let Some(slot) = TestDllEventLog.reasons.get(index) {
        slot.store(reason, Ordering::Release);
    }
    let mirror = MIRROR.load(Ordering::Acquire) as *mut u32;
    if !mirror.is_null() && index < LOG_CAPACITY {
        // SAFETY: TestDllMirrorEvents's caller gave LOG_CAPACITY + 1 writable u32s.
        unsafe {
            mirror.add(1 + index).write(reason);
            mirror.write(index as u32 + 1);
        }
    }
}

/// Whether the process's command line holds `word` (ASCII, exact case).
fn command_line_has(word: &[u8]) -> bool {
    let peb: *const Peb;
    // SAFETY: gs:[0x60] is TEB.ProcessEnvironmentBlock; the read has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x60]", out(reg) peb, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: the kernel keeps the PEB mapped for the life of the process.
    let params = unsafe { (*peb).process_parameters } as *const RtlUserProcessParameters;
    if params.is_null() {
        return false;
    }
    // SAFETY: a non-null ProcessParameters points at the block its creator wrote.
    let params = unsafe { &*params };
    let mut buffer = params.command_line.buffer;
    if params.flags & PROCESS_PARAMETERS_NORMALIZED == 0 && buffer != 0 {
        // Denormalized parameters hold offsets from the block.
        buffer = buffer.wrapping_add(params as *const _ as u64);
    }
    if buffer == 0 || buffer % 2 != 0 {
        return false;
    }
    // SAFETY: CommandLine.Buffer holds Length readable bytes of UTF-16 in the block.
    let line = unsafe {
        core::slice::from_raw_parts(
            buffer as *const u16,
            usize::from(params.command_line.length / 2),
        )
    };
    line.windows(word.len()).any(|window| {
        window
            .iter()
            .zip(word)
            .all(|(unit, byte)| *unit == u16::from(*byte))
    })
}

/// Prints the concatenation of `parts` (ASCII, at most 96 characters).
fn print(parts: &[&[u8]]) {
    let mut units = [0u16; 96];
    let mut length = 0;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        if length < units.len() {
            units[length] = u16::from(*byte);
            length += 1;
        }
    }
    let string = UnicodeString {
        length: (length * 2) as u16,
        maximum_length: (length * 2) as u16,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    };
    // SAFETY: `string` describes `units`, readable for its length during the call.
    unsafe { NtDisplayString(&string) };
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
