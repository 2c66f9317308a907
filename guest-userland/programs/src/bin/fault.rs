//! `fault`: writes to a kernel-half address; the kernel must end it with
//! STATUS_ACCESS_VIOLATION (0xC0000005).
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main);

/// The first address of the kernel half (canonical, supervisor-only).
const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;

fn main(_args: &Args) -> NtStatus {
    // SAFETY: a user-mode store to a supervisor (or unmapped) page raises #PF before
    // anything is written; the kernel turns the fault into the end of this process.
    // The store goes through asm so the compiler makes no assumption about the address.
    unsafe {
        core::arch::asm!(
            "mov byte ptr [{address}], 0",
            address = in(reg) KERNEL_ADDRESS,
            options(nostack, preserves_flags),
        )
    };
    println!("fault: a user-mode write to {KERNEL_ADDRESS:#x} did not fault");
    NtStatus::UNSUCCESSFUL
}
