//! `hello`: the default program. Prints a greeting and exits with STATUS_SUCCESS, through
//! ntdll.dll (`NtDisplayString`, `RtlExitUserProcess`).
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

fn main(_args: &Args) -> NtStatus {
    println!("hello from user mode");
    NtStatus::SUCCESS
}
