//! `tlsdll.dll`, a DLL of ours with static TLS: a TLS directory (`_tls_used`, exported so
//! the linker keeps it) with a template and an index. ntdll fixes static TLS when the
//! process starts, so LdrLoadDll of it later must fail with STATUS_NOT_SUPPORTED and leave
//! nothing of it loaded (`tlstest`).
// Built for the guest only: the host unit-test build of the workspace compiles it empty.
#![cfg(not(test))]
#![no_std]

use core::sync::atomic::AtomicU32;

use abi::NtStatus;
use abi::nt::ImageTlsDirectory64;
use abi::service::CURRENT_PROCESS_HANDLE;

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

/// The template of the block each thread would get.
#[unsafe(link_section = ".tls")]
static TLS_TEMPLATE: [u8; 8] = *b"tlsdll!\0";

/// The DLL's TLS index, which the loader would write.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static _tls_index: AtomicU32 = AtomicU32::new(u32::MAX);

/// The TLS directory: the linker points data directory 9 at the symbol of this name.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static _tls_used: ImageTlsDirectory64 = ImageTlsDirectory64 {
    start_address_of_raw_data: (&raw const TLS_TEMPLATE).cast(),
    end_address_of_raw_data: (&raw const TLS_TEMPLATE).cast::<u8>().wrapping_add(8),
    address_of_index: (&raw const _tls_index).cast(),
    address_of_call_backs: core::ptr::null(),
    size_of_zero_fill: 8,
    characteristics: 0,
};

/// A panic ends the process with STATUS_ASSERTION_FAILURE.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the pseudo-handle names this process; the call ends it.
    unsafe { NtTerminateProcess(CURRENT_PROCESS_HANDLE, NtStatus::ASSERTION_FAILURE) };
    loop {
        core::hint::spin_loop();
    }
}
