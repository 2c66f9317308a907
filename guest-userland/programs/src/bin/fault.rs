//! `fault [ADDRESS] [read]`: writes to (or reads) a kernel address, by default the first
//! page of kernel text; the kernel must end the program with STATUS_ACCESS_VIOLATION
//! (0xC0000005). ADDRESS is hexadecimal with 0x.
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main);

/// The first page of kernel text (KERNEL_BASE + KERNEL_PHYS_BASE).
const KERNEL_TEXT: u64 = 0xFFFF_FFFF_8020_0000;

fn main(args: &Args) -> NtStatus {
    let address = match args.get(1) {
        None => KERNEL_TEXT,
        Some(text) => match text
            .strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        {
            Some(address) => address,
            None => {
                println!("usage: fault [0xADDRESS] [read]");
                return NtStatus::INVALID_PARAMETER;
            }
        },
    };
    let read = args.get(2) == Some("read");
    // SAFETY: a user-mode access to a kernel address raises #PF before anything is read or
    // written; the kernel turns the fault into the end of this process. The access goes
    // through asm so the compiler makes no assumption about the address.
    unsafe {
        if read {
            core::arch::asm!(
                "mov {value}, byte ptr [{address}]",
                address = in(reg) address,
                value = out(reg_byte) _,
                options(nostack, preserves_flags, readonly),
            );
        } else {
            core::arch::asm!(
                "mov byte ptr [{address}], 0",
                address = in(reg) address,
                options(nostack, preserves_flags),
            );
        }
    }
    let access = if read { "read of" } else { "write to" };
    println!("fault: a user-mode {access} {address:#x} did not fault");
    NtStatus::UNSUCCESSFUL
}
