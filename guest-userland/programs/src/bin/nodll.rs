//! `nodll`: imports from `nosuch.dll`, which is not in the boot image. ntdll's loader ends
//! the process with STATUS_DLL_NOT_FOUND before this entry point runs.
#![no_std]
#![no_main]

use rt::{Args, NtStatus};

#[link(name = "nosuch", kind = "raw-dylib")]
unsafe extern "system" {
    fn NoSuchExport() -> NtStatus;
}

rt::entry!(main);

fn main(_args: &Args) -> NtStatus {
    // SAFETY: never reached: the loader refuses the DLL first.
    unsafe { NoSuchExport() }
}
