//! `hello`: the default program. Prints a greeting and exits with STATUS_SUCCESS.
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main);

fn main(_args: &Args) -> NtStatus {
    println!("hello from user mode");
    NtStatus::SUCCESS
}
