//! `privileged`: executes `hlt` in user mode; the kernel must end it with
//! STATUS_PRIVILEGED_INSTRUCTION (0xC0000096).
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main);

fn main(_args: &Args) -> NtStatus {
    // SAFETY: `hlt` at CPL 3 raises #GP(0) before doing anything; the kernel turns the
    // fault into the end of this process. If it executed, it would only wait for an
    // interrupt.
    unsafe { core::arch::asm!("hlt", options(nomem, nostack, preserves_flags)) };
    println!("privileged: hlt did not fault in user mode");
    NtStatus::UNSUCCESSFUL
}
