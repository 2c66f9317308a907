//! `exit STATUS`: exits with STATUS, decimal or hex with `0x` (`exit 3`, `exit 0xC0000005`),
//! through ntdll.dll's `RtlExitUserProcess`.
#![no_std]
#![no_main]

use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

fn main(args: &Args) -> NtStatus {
    match (args.len(), args.get(1).and_then(rt::parse_u32)) {
        (2, Some(status)) => NtStatus(status),
        _ => {
            println!("usage: exit STATUS   (decimal, or hexadecimal with 0x)");
            NtStatus::INVALID_PARAMETER
        }
    }
}
