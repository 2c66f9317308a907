//! `baddll.dll`, a DLL of ours that cannot be loaded: it imports `TestDllAdd` from
//! testdll.dll, which exists, and `NtDoesNotExist` from ntdll.dll, which does not.
//! LdrLoadDll of it must fail with STATUS_ENTRYPOINT_NOT_FOUND and leave nothing of it,
//! or of testdll, loaded.
// Built for the guest only: the host unit-test build of the workspace compiles it empty.
#![cfg(not(test))]
#![no_std]

use abi::NtStatus;
use abi::service::CURRENT_PROCESS_HANDLE;

#[link(name = "testdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn TestDllAdd(a: u32, b: u32) -> u32;
}

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtDoesNotExist() -> NtStatus;
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

/// `BadDllCall()`: calls both imports (never reached: the DLL cannot be loaded).
#[unsafe(no_mangle)]
pub extern "system" fn BadDllCall() -> u32 {
    // SAFETY: never runs; the loader refuses the DLL before any export can be called.
    unsafe { TestDllAdd(NtDoesNotExist().0, 1) }
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
