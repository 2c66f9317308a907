//! `dllstatic [initfail]`: imports `TestDllAdd` from testdll.dll statically, by name and by
//! ordinal (7), and `TestDllForwarded`, which testdll forwards to ntdll's
//! `RtlInitUnicodeString`, so ntdll's loader loads testdll (relocated, its own imports from
//! ntdll bound) and runs its DLL_PROCESS_ATTACH before this entry point. Prints both sums,
//! the forwarded call's result and testdll's base (LdrGetDllHandle), and exits 0 when all
//! are right, both imports bound to the same export and testdll is not at its preferred
//! base (this program is). It ends through LdrShutdownProcess (testdll's
//! DLL_PROCESS_DETACH for process exit) and NtTerminateProcess.
//!
//! With `initfail`, testdll's DllMain refuses DLL_PROCESS_ATTACH and the process ends
//! with STATUS_DLL_INIT_FAILED before this entry point runs.
#![no_std]
#![no_main]

use abi::nt::UnicodeString;
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::{Args, NtStatus, println};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn LdrGetDllHandle(
        path: *const u16,
        characteristics: *const u32,
        name: *const UnicodeString,
        handle: *mut u64,
    ) -> NtStatus;
    fn LdrShutdownProcess();
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

#[link(name = "testdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn TestDllAdd(a: u32, b: u32) -> u32;
    /// testdll's ordinal 7 (pinned to TestDllAdd by its build), imported by ordinal.
    #[link_ordinal(7)]
    fn testdll_ordinal_7(a: u32, b: u32) -> u32;
    /// Forwarded to ntdll's RtlInitUnicodeString.
    fn TestDllForwarded(destination: *mut UnicodeString, source: *const u16);
}

rt::entry!(main);

/// testdll's preferred base: this program's own.
const PREFERRED_BASE: u64 = 0x1_4000_0000;

fn main(_args: &Args) -> NtStatus {
    // SAFETY: both imports are TestDllAdd, bound by the loader.
    let (by_name, by_ordinal) = unsafe { (TestDllAdd(2, 3), testdll_ordinal_7(40, 2)) };
    println!("dllstatic: TestDllAdd(2, 3) = {by_name} by name, (40, 2) = {by_ordinal} by ordinal");
    let same = TestDllAdd as *const () as u64 == testdll_ordinal_7 as *const () as u64;
    println!("dllstatic: ordinal 7 is TestDllAdd: {same}");
    const HELLO: [u16; 6] = [0x68, 0x65, 0x6C, 0x6C, 0x6F, 0]; // "hello"
    let mut string = UnicodeString::default();
    // SAFETY: the import is RtlInitUnicodeString; `string` is writable, HELLO
    // NUL-terminated.
    unsafe { TestDllForwarded(&mut string, HELLO.as_ptr()) };
    println!(
        "dllstatic: TestDllForwarded (RtlInitUnicodeString) gave length {}",
        string.length
    );
    const NAME: [u16; 7] = [0x74, 0x65, 0x73, 0x74, 0x64, 0x6C, 0x6C]; // "testdll"
    let name = UnicodeString {
        length: (NAME.len() * 2) as u16,
        maximum_length: (NAME.len() * 2) as u16,
        reserved: 0,
        buffer: NAME.as_ptr() as u64,
    };
    let mut base = 0;
    // SAFETY: the string describes NAME; the handle is a local.
    let status = unsafe { LdrGetDllHandle(core::ptr::null(), core::ptr::null(), &name, &mut base) };
    println!("dllstatic: LdrGetDllHandle(testdll): {status}, base {base:#x}");
    let relocated = status.is_success() && base != PREFERRED_BASE;
    let status = if by_name == 5 && by_ordinal == 42 && same && relocated && string.length == 10 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    };
    // SAFETY: the loader's hook for the process on its way out; then the process ends.
    unsafe {
        LdrShutdownProcess();
        NtTerminateProcess(CURRENT_PROCESS_HANDLE, status);
    }
    unreachable!("NtTerminateProcess of the current process returned")
}
