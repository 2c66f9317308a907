//! `badimport`: imports `NtDoesNotExist`, which ntdll.dll does not export. ntdll's loader
//! ends the process with STATUS_ENTRYPOINT_NOT_FOUND before this entry point runs.
#![no_std]
#![no_main]

use rt::{Args, NtStatus};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtDoesNotExist() -> NtStatus;
}

rt::entry!(main);

fn main(_args: &Args) -> NtStatus {
    // SAFETY: never reached: the loader refuses the import first. Were it bound, the
    // call would take no arguments.
    unsafe { NtDoesNotExist() }
}
