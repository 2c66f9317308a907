//! `nop`: exits with STATUS_SUCCESS at once, reading no argument and printing nothing: the
//! tiny image `vmm bench` creates for `process_create_exit`.
#![no_std]
#![no_main]

use rt::{Args, NtStatus};

rt::entry!(main);

fn main(_: &Args) -> NtStatus {
    NtStatus::SUCCESS
}
