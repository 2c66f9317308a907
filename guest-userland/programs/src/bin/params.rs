//! `params [ARGS]`: a program on ntdll.dll that prints what its creator gave it, for
//! comparing the creation paths: its PEB (image base, whether the loader listed modules
//! and the process heap is set), its process parameters (length, flags, where the
//! environment lies in the block), ImagePathName, CommandLine and each environment string;
//! then exits with the number of environment strings as its status.
#![no_std]
#![no_main]

use abi::nt::{Peb, RtlUserProcessParameters};
use rt::ntdll::RtlGetCurrentPeb;
use rt::process::{Utf16, unicode_units};
use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

/// Environment strings printed at most (a block without an end must not run on).
const MAX_STRINGS: usize = 64;

fn main(_args: &Args) -> NtStatus {
    // SAFETY: the PEB is mapped for the life of the process.
    let peb: &Peb = unsafe { &*RtlGetCurrentPeb() };
    println!(
        "params: image base {:#x}, loader data {}, process heap {}",
        peb.image_base_address,
        if peb.ldr != 0 { "set" } else { "NULL" },
        if peb.process_heap != 0 { "set" } else { "NULL" },
    );
    let address = peb.process_parameters;
    if address == 0 {
        println!("params: no process parameters");
        return NtStatus::UNSUCCESSFUL;
    }
    // SAFETY: the creator wrote the block at PEB.ProcessParameters, normalized.
    let parameters = unsafe { &*(address as *const RtlUserProcessParameters) };
    let environment_offset = match parameters.environment {
        0 => 0,
        environment => environment.wrapping_sub(address),
    };
    println!(
        "params: length {:#x} maximum {:#x} flags {:#x}, environment at {:#x}",
        parameters.length, parameters.maximum_length, parameters.flags, environment_offset,
    );
    // SAFETY: normalized parameters hold their strings in the block, mapped for the life
    // of the process.
    let (image_path, command_line) = unsafe {
        (
            unicode_units(&parameters.image_path_name),
            unicode_units(&parameters.command_line),
        )
    };
    println!("params: image path {}", Utf16(image_path));
    println!("params: command line {}", Utf16(command_line));
    let strings = rt::for_each_environment_string(MAX_STRINGS, |string| {
        println!("params: environment {}", Utf16(string));
    });
    NtStatus(strings as u32)
}
