//! `chaindll.dll`, a DLL of ours that imports `TestDllAdd` from testdll.dll: loading it
//! loads testdll as its dependency (initialized first), and its last unload unloads
//! testdll with it. Its DllMain prints each process notification
//! (`chaindll: DLL_PROCESS_ATTACH`).
// Built for the guest only: the host unit-test build of the workspace compiles it empty.
#![cfg(not(test))]
#![no_std]

use abi::NtStatus;
use abi::nt::{DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, UnicodeString};
use abi::service::CURRENT_PROCESS_HANDLE;

// The routines the compiler calls, shared with rt.
#[path = "../../rt/src/mem.rs"]
mod mem;

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtDisplayString(string: *const UnicodeString) -> NtStatus;
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

#[link(name = "testdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn TestDllAdd(a: u32, b: u32) -> u32;
}

/// `ChainDllAdd3(a, b, c)`: `a + b + c` (wrapping), through testdll's `TestDllAdd`.
#[unsafe(no_mangle)]
pub extern "system" fn ChainDllAdd3(a: u32, b: u32, c: u32) -> u32 {
    // SAFETY: the import is testdll's TestDllAdd, bound by the loader.
    unsafe { TestDllAdd(TestDllAdd(a, b), c) }
}

/// DllMain: prints the process notifications.
///
/// # Safety
/// Only the loader calls it, with DllMain's arguments.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn _DllMainCRTStartup(
    _instance: u64,
    reason: u32,
    _reserved: u64,
) -> i32 {
    let line: &[u8] = match reason {
        DLL_PROCESS_ATTACH => b"chaindll: DLL_PROCESS_ATTACH\n",
        DLL_PROCESS_DETACH => b"chaindll: DLL_PROCESS_DETACH\n",
        _ => b"",
    };
    let mut units = [0u16; 32];
    for (unit, byte) in units.iter_mut().zip(line) {
        *unit = u16::from(*byte);
    }
    let length = line.len().min(units.len());
    let string = UnicodeString {
        length: (length * 2) as u16,
        maximum_length: (length * 2) as u16,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    };
    // SAFETY: `string` describes `units`, readable for its length during the call.
    unsafe { NtDisplayString(&string) };
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
