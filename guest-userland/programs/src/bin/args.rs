//! `args [ARGS...]`: a program that calls the system through ntdll.dll's exports, bound by
//! ntdll's loader before this entry point runs, instead of rt's own stubs. Prints its
//! command line exactly as it got it (`NtDisplayString`), then where ntdll is mapped
//! (`NtQueryVirtualMemory` of `NtDisplayString`'s address: the base of its allocation and
//! that it is `MEM_IMAGE`), and ends with `NtTerminateProcess(NtCurrentProcess(), 0)`.
#![no_std]
#![no_main]

use abi::memory::{MEM_IMAGE, MEMORY_BASIC_INFORMATION_CLASS, MemoryBasicInformation};
use abi::nt::UnicodeString;
use abi::service::CURRENT_PROCESS_HANDLE;
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
    // SAFETY: the pseudo-handle names this process; the call ends it.
    unsafe { NtTerminateProcess(CURRENT_PROCESS_HANDLE, NtStatus::SUCCESS) };
    unreachable!("NtTerminateProcess of the current process returned")
}
