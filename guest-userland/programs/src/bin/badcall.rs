//! `badcall`: calls system services with bad numbers, pointers, lengths and handles, and
//! checks the kernel answers each with the NTSTATUS NT gives. Prints one line per case and
//! exits 0 only when every answer was the expected one.
#![no_std]
#![no_main]

use abi::nt::UnicodeString;
use abi::service::SystemService;
use rt::syscall::raw_system_service;
use rt::{Args, NtStatus, println};

rt::entry!(main);

const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
const UNMAPPED_ADDRESS: u64 = 0x0000_0000_1000_0000;
const NON_CANONICAL_ADDRESS: u64 = 0x0000_8000_0000_0000;

fn main(_args: &Args) -> NtStatus {
    let text: [u16; 2] = [u16::from(b'o'), u16::from(b'k')];
    let string = |length: u16, maximum_length: u16, buffer: u64| UnicodeString {
        length,
        maximum_length,
        reserved: 0,
        buffer,
    };
    let kernel_buffer = string(4, 4, KERNEL_ADDRESS);
    let unmapped_buffer = string(4, 4, UNMAPPED_ADDRESS);
    let straddling_buffer = string(4, 4, NON_CANONICAL_ADDRESS - 2);
    let odd_length = string(3, 4, text.as_ptr() as u64);
    let length_above_maximum = string(4, 2, text.as_ptr() as u64);
    let misaligned = (&raw const kernel_buffer as u64) + 1;

    let display = SystemService::NtDisplayString as u32;
    let terminate = SystemService::NtTerminateProcess as u32;
    let cases: [(&str, u32, u64, u64, NtStatus); 11] = [
        (
            "unknown service number",
            0x7FFF,
            0,
            0,
            NtStatus::INVALID_SYSTEM_SERVICE,
        ),
        (
            "service number with high bits",
            u32::MAX,
            0,
            0,
            NtStatus::INVALID_SYSTEM_SERVICE,
        ),
        (
            "NtDisplayString(NULL)",
            display,
            0,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtDisplayString(kernel address)",
            display,
            KERNEL_ADDRESS,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtDisplayString(misaligned)",
            display,
            misaligned,
            0,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
        (
            "buffer in kernel space",
            display,
            &raw const kernel_buffer as u64,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "buffer unmapped",
            display,
            &raw const unmapped_buffer as u64,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "buffer past the user half",
            display,
            &raw const straddling_buffer as u64,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "odd length",
            display,
            &raw const odd_length as u64,
            0,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "length above maximum",
            display,
            &raw const length_above_maximum as u64,
            0,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "NtTerminateProcess(bad handle)",
            terminate,
            0x1234,
            0,
            NtStatus::INVALID_HANDLE,
        ),
    ];

    let mut failures = 0;
    for (name, number, a1, a2, expected) in cases {
        // SAFETY: every case hands the kernel pointers it must refuse or strings this
        // function owns; none of them can write to this process's memory.
        let status = unsafe { raw_system_service(number, a1, a2, 0) };
        let verdict = if status == expected { "ok" } else { "WRONG" };
        if status != expected {
            failures += 1;
        }
        println!("{verdict}: {name}: {status} (expected {expected})");
    }
    println!("badcall: {failures} wrong");
    if failures == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}
