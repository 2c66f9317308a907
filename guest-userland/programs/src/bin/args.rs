//! `args [ARGS...]`: a program that calls the system through ntdll.dll's exports, bound by
//! ntdll's loader before this entry point runs, instead of rt's own stubs. Prints its
//! command line exactly as it got it (`NtDisplayString`), then its environment, one
//! `environment: NAME=VALUE` line per string (`environment: none` without one), then where
//! ntdll is mapped
//! (`NtQueryVirtualMemory` of `NtDisplayString`'s address: the base of its allocation and
//! that it is `MEM_IMAGE`), whether ntdll's ordinal 1 bound to the same address as
//! `LdrInitializeThunk` by name, then the modules the loader listed in `PEB.Ldr`, in load order
//! (`module: BASE NAME FULL-NAME`), and ends with `NtTerminateProcess(NtCurrentProcess(), 0)`.
#![no_std]
#![no_main]

use abi::memory::{MEM_IMAGE, MEMORY_BASIC_INFORMATION_CLASS, MemoryBasicInformation};
use abi::nt::UnicodeString;
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::process::Utf16;
use rt::{Args, NtStatus, println};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtDisplayString(string: *const UnicodeString) -> NtStatus;
    fn NtQueryVirtualMemory(
        process: u64,
        base_address: u64,
        class: u32,
        information: *mut MemoryBasicInformation,
        length: u64,
        return_length: *mut u64,
    ) -> NtStatus;
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
    fn RtlInitUnicodeString(destination: *mut UnicodeString, source: *const u16);
    fn LdrInitializeThunk();
    /// ntdll's ordinal 1, which its build pins to LdrInitializeThunk, imported by ordinal.
    #[link_ordinal(1)]
    fn ntdll_ordinal_1();
}

rt::entry!(main);

/// A NUL-terminated newline, for `RtlInitUnicodeString`.
const NEWLINE: [u16; 2] = [b'\n' as u16, 0];

fn main(_args: &Args) -> NtStatus {
    let line = rt::command_line();
    let command_line = UnicodeString {
        length: (line.len() * 2) as u16,
        maximum_length: (line.len() * 2) as u16,
        reserved: 0,
        buffer: line.as_ptr() as u64,
    };
    let mut newline = UnicodeString::default();
    // SAFETY: `newline` is writable and NEWLINE NUL-terminated; both strings describe
    // memory readable for their lengths during the calls.
    unsafe {
        RtlInitUnicodeString(&mut newline, NEWLINE.as_ptr());
        NtDisplayString(&command_line);
        NtDisplayString(&newline);
    }

    let strings = rt::for_each_environment_string(64, |string| {
        println!("environment: {}", Utf16(string));
    });
    if strings == 0 {
        println!("environment: none");
    }

    // The import's address is ntdll's export: the loader wrote it into the IAT.
    let export = NtDisplayString as *const () as u64;
    let mut region = MemoryBasicInformation::default();
    // SAFETY: `region` is a local of the size passed; the return length may be NULL.
    let status = unsafe {
        NtQueryVirtualMemory(
            CURRENT_PROCESS_HANDLE,
            export,
            MEMORY_BASIC_INFORMATION_CLASS,
            &mut region,
            size_of::<MemoryBasicInformation>() as u64,
            core::ptr::null_mut(),
        )
    };
    if !status.is_success() {
        println!("NtQueryVirtualMemory({export:#x}): {status}");
        return status;
    }
    let kind = if region.kind == MEM_IMAGE {
        "MEM_IMAGE"
    } else {
        "not MEM_IMAGE"
    };
    println!("ntdll.dll: {kind} view at {:#x}", region.allocation_base);
    let by_ordinal = ntdll_ordinal_1 as *const () as u64;
    let by_name = LdrInitializeThunk as *const () as u64;
    if by_ordinal == by_name {
        println!("ordinal 1 is LdrInitializeThunk");
    } else {
        println!("ordinal 1 is at {by_ordinal:#x}, LdrInitializeThunk at {by_name:#x}");
    }
    print_modules();
    // SAFETY: the pseudo-handle names this process; the call ends it.
    unsafe { NtTerminateProcess(CURRENT_PROCESS_HANDLE, NtStatus::SUCCESS) };
    unreachable!("NtTerminateProcess of the current process returned")
}

/// Lists `PEB.Ldr->InLoadOrderModuleList`, at most a few entries.
fn print_modules() {
    match rt::process::print_load_order(8) {
        None => println!("PEB.Ldr is NULL"),
        Some(false) => println!("the module list does not end"),
        Some(true) => {}
    }
}
