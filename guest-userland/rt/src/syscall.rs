//! System service stubs in NT's convention, and safe wrappers around them.
//!
//! Each stub is what ntdll's `Nt*` exports are: `mov r10, rcx; mov eax, NUMBER`, then
//! `syscall`, or `int 2Eh` when `KUSER_SHARED_DATA.SystemCall` says the kernel wants it (as
//! on hosts where a user-mode `syscall` cannot reach it); then `ret`. Arguments stay where
//! the Windows x64 calling convention put them (rcx moved to r10 because `syscall`
//! overwrites rcx), the NTSTATUS comes back in `rax`. Numbers come from
//! [`abi::service::SystemService`].

use abi::NtStatus;
use abi::nt::{
    KUSER_SHARED_DATA_ADDRESS, KUSER_SHARED_DATA_SYSTEM_CALL, SYSTEM_CALL_INT_2E, UnicodeString,
};
use abi::service::{CURRENT_PROCESS_HANDLE, SystemService};

macro_rules! system_service_stub {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) = $service:ident;) => {
        $(#[$doc])*
        #[unsafe(naked)]
        pub unsafe extern "system" fn $name($($arg: $type),*) -> NtStatus {
            core::arch::naked_asm!(
                "mov r10, rcx",
                "mov eax, {number}",
                "test byte ptr ds:[{system_call}], {int_2e}",
                "jnz 2f",
                "syscall",
                "ret",
                "2:",
                "int 0x2e",
                "ret",
                number = const SystemService::$service as u32,
                system_call = const KUSER_SHARED_DATA_ADDRESS + KUSER_SHARED_DATA_SYSTEM_CALL,
                int_2e = const SYSTEM_CALL_INT_2E,
            )
        }
    };
}

system_service_stub! {
    /// `NtTerminateProcess(ProcessHandle, ExitStatus)`.
    ///
    /// # Safety
    /// `process` is a process handle or a pseudo-handle. For the current process the call
    /// does not return.
    fn nt_terminate_process(process: u64, exit_status: NtStatus) = NtTerminateProcess;
}

system_service_stub! {
    /// `NtDisplayString(PUNICODE_STRING String)`: writes the string to the console.
    ///
    /// # Safety
    /// `string` points to a readable `UNICODE_STRING` whose buffer holds `length` readable bytes.
    fn nt_display_string(string: *const UnicodeString) = NtDisplayString;
}

/// Calls system service `number` with up to three arguments, whatever the number: for
/// programs that test how the kernel answers unknown services and bad arguments.
///
/// # Safety
/// The service may read or write memory the arguments point to.
#[unsafe(naked)]
pub unsafe extern "system" fn raw_system_service(
    number: u32,
    a1: u64,
    a2: u64,
    a3: u64,
) -> NtStatus {
    core::arch::naked_asm!(
        "mov eax, ecx",
        "mov r10, rdx",
        "mov rdx, r8",
        "mov r8, r9",
        "test byte ptr ds:[{system_call}], {int_2e}",
        "jnz 2f",
        "syscall",
        "ret",
        "2:",
        "int 0x2e",
        "ret",
        system_call = const KUSER_SHARED_DATA_ADDRESS + KUSER_SHARED_DATA_SYSTEM_CALL,
        int_2e = const SYSTEM_CALL_INT_2E,
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
