//! System service stubs in NT's convention, and safe wrappers around them.
//!
//! Each stub is what ntdll's `Nt*` exports are: `mov r10, rcx; mov eax, NUMBER; syscall;
//! ret`. Arguments stay where the Windows x64 calling convention put them (rcx moved to
//! r10 because `syscall` overwrites rcx), the NTSTATUS comes back in `rax`. Numbers come
//! from [`abi::service::SystemService`].

use abi::NtStatus;
use abi::nt::UnicodeString;
use abi::service::{CURRENT_PROCESS_HANDLE, SystemService};

/// `NtTerminateProcess(ProcessHandle, ExitStatus)`.
///
/// # Safety
/// `process` is a process handle or a pseudo-handle. For the current process the call
/// does not return.
#[unsafe(naked)]
pub unsafe extern "system" fn nt_terminate_process(
    process: u64,
    exit_status: NtStatus,
) -> NtStatus {
    core::arch::naked_asm!(
        "mov r10, rcx",
        "mov eax, {number}",
        "syscall",
        "ret",
        number = const SystemService::NtTerminateProcess as u32,
    )
}

/// `NtDisplayString(PUNICODE_STRING String)`: writes the string to the console.
///
/// # Safety
/// `string` points to a readable `UNICODE_STRING` whose buffer holds `length` readable bytes.
#[unsafe(naked)]
pub unsafe extern "system" fn nt_display_string(string: *const UnicodeString) -> NtStatus {
    core::arch::naked_asm!(
        "mov r10, rcx",
        "mov eax, {number}",
        "syscall",
        "ret",
        number = const SystemService::NtDisplayString as u32,
    )
}

/// Ends the calling process with `status` (`NtTerminateProcess(NtCurrentProcess(), status)`).
pub fn terminate_process(status: NtStatus) -> ! {
    // SAFETY: the current-process pseudo-handle is always valid; the call does not return.
    unsafe { nt_terminate_process(CURRENT_PROCESS_HANDLE, status) };
    // A kernel that let the process go on is broken: stop with an illegal instruction
    // rather than running past the end of the program.
    // SAFETY: `ud2` only raises #UD.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// Writes UTF-16 text to the console through `NtDisplayString`, in pieces of at most
/// `u16::MAX` bytes (a `UNICODE_STRING`'s limit).
pub fn display_string(text: &[u16]) -> NtStatus {
    const MAX_UNITS: usize = (u16::MAX / 2) as usize;
    for piece in text.chunks(MAX_UNITS) {
        let bytes = (piece.len() * 2) as u16;
        let string = UnicodeString {
            length: bytes,
            maximum_length: bytes,
            reserved: 0,
            buffer: piece.as_ptr() as u64,
        };
        // SAFETY: `string` describes `piece`, which stays borrowed for the call.
        let status = unsafe { nt_display_string(&string) };
        if !status.is_success() {
            return status;
        }
    }
    NtStatus::SUCCESS
}
