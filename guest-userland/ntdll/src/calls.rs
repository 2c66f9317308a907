//! The stubs ntdll calls itself, with their signatures: the exports in [`crate::services`]
//! have none, so these name the same symbols through typed declarations.

use abi::NtStatus;
use abi::memory::{MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE};
use abi::nt::UnicodeString;
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};

use crate::native::{
    nt_allocate_virtual_memory, nt_display_string, nt_protect_virtual_memory, nt_terminate_process,
    nt_terminate_thread,
};

/// `NtTerminateProcess(NtCurrentProcess(), status)`.
pub fn terminate_current_process(status: NtStatus) -> ! {
    // SAFETY: the pseudo-handle names this process; the call ends it and does not return.
    unsafe { nt_terminate_process(CURRENT_PROCESS_HANDLE, status) };
    unreachable_end()
}

/// `NtTerminateThread(NtCurrentThread(), status)`.
pub fn terminate_current_thread(status: NtStatus) -> ! {
    // SAFETY: the pseudo-handle names this thread; the call ends it and does not return.
    unsafe { nt_terminate_thread(CURRENT_THREAD_HANDLE, status) };
    unreachable_end()
}

/// After a termination that returned anyway (it cannot for the caller itself): trap.
fn unreachable_end() -> ! {
    // SAFETY: `ud2` only raises an exception, which ends the process.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// `NtDisplayString` of ASCII `text` (at most 256 bytes shown), for the loader's messages.
pub fn display_ascii(text: &[u8]) {
    let mut units = [0u16; 256];
    let count = text.len().min(units.len());
    for (unit, byte) in units.iter_mut().zip(&text[..count]) {
        *unit = u16::from(*byte);
    }
    let string = UnicodeString {
        length: (count * 2) as u16,
        maximum_length: (count * 2) as u16,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    };
    // SAFETY: `string` describes `units`, readable for its length during the call. A
    // message that cannot be shown changes nothing, so the status is not needed.
    unsafe { nt_display_string(&string) };
}

/// `NtProtectVirtualMemory(NtCurrentProcess(), ...)` of `size` bytes at `address`: the
/// old protection, or the failure.
pub fn protect_own_memory(address: u64, size: u64, protect: u32) -> Result<u32, NtStatus> {
    let mut base = address;
    let mut region_size = size;
    let mut old_protect = 0;
    // SAFETY: every pointer is to a local, writable for the call.
    let status = unsafe {
        nt_protect_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            &mut region_size,
            protect,
            &mut old_protect,
        )
    };
    if status.is_success() {
        Ok(old_protect)
    } else {
        Err(status)
    }
}

/// `NtAllocateVirtualMemory(NtCurrentProcess(), ...)`: `size` bytes committed read-write
/// (zero-filled) wherever there is room; their address.
pub fn allocate_own_memory(size: u64) -> Result<u64, NtStatus> {
    let mut base = 0;
    let mut region_size = size;
    // SAFETY: both pointers are to locals, writable for the call.
    let status = unsafe {
        nt_allocate_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            0,
            &mut region_size,
            MEM_COMMIT | MEM_RESERVE,
            PAGE_READWRITE,
        )
    };
    if status.is_success() {
        Ok(base)
    } else {
        Err(status)
    }
}
