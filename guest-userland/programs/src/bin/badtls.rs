//! `badtls`: a program whose TLS directory is malformed (its raw data ends before it
//! starts). ntdll's loader must refuse it when it initializes the process: the process
//! ends with STATUS_INVALID_IMAGE_FORMAT, after a line naming the image, and main never
//! runs.
#![no_std]
#![no_main]

use core::sync::atomic::AtomicU32;

use abi::nt::ImageTlsDirectory64;
use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

#[unsafe(link_section = ".tls")]
static TLS_TEMPLATE: [u8; 16] = [0x5A; 16];

#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static _tls_index: AtomicU32 = AtomicU32::new(0);

/// The TLS directory, with End before Start.
#[used]
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static _tls_used: ImageTlsDirectory64 = ImageTlsDirectory64 {
    start_address_of_raw_data: (&raw const TLS_TEMPLATE).cast::<u8>().wrapping_add(16),
    end_address_of_raw_data: (&raw const TLS_TEMPLATE).cast(),
    address_of_index: (&raw const _tls_index).cast(),
    address_of_call_backs: core::ptr::null(),
    size_of_zero_fill: 0,
    characteristics: 0,
};

fn main(_args: &Args) -> NtStatus {
    // A volatile read keeps the directory referenced, so the linker cannot drop it.
    // SAFETY: the directory is this program's own static.
    let zero_fill = unsafe { (&raw const _tls_used.size_of_zero_fill).read_volatile() };
    println!("badtls: main ran (zero fill {zero_fill}): the loader took a bad TLS directory");
    NtStatus::UNSUCCESSFUL
}
