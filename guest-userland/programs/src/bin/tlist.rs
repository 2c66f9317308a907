//! `tlist`: lists the running processes like the NT tool, one per line: process ID,
//! parent process ID, thread count and image name, from ntdll.dll's
//! NtQuerySystemInformation (SystemProcessInformation).
#![no_std]
#![no_main]

use rt::ntdll::NtQuerySystemInformation;
use rt::process::{Utf16, for_each_process_with};
use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

fn main(_args: &Args) -> NtStatus {
    let mut buffer = [0u64; 4096];
    println!("   PID   PPID  Threads  Image");
    let listed = for_each_process_with(NtQuerySystemInformation, &mut buffer, |process, name| {
        println!(
            "{:>6} {:>6} {:>8}  {}",
            process.unique_process_id,
            process.inherited_from_unique_process_id,
            process.number_of_threads,
            Utf16(name),
        );
    });
    match listed {
        Ok(()) => NtStatus::SUCCESS,
        Err(status) => {
            println!("tlist: NtQuerySystemInformation failed: {status}");
            status
        }
    }
}
