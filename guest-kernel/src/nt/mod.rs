//! System services: the service table behind `syscall`. Each service captures and
//! validates its user arguments, then calls the component that does the work.

use abi::NtStatus;
use abi::nt::UnicodeString;
use abi::service::{CURRENT_PROCESS_HANDLE, SystemService};

use crate::arch::TrapFrame;
use crate::mm::probe;
use crate::{hal, ps};

/// Dispatches the system call in `frame` (KiSystemService): the service number in `rax`,
/// arguments in `r10`, `rdx`, `r8`, `r9`; the NTSTATUS goes back in `rax`.
pub fn system_service(frame: &mut TrapFrame) {
    let status = match SystemService::from_number(frame.rax as u32) {
        Some(SystemService::NtTerminateProcess) => {
            nt_terminate_process(frame.r10, frame.rdx as u32)
        }
        Some(SystemService::NtDisplayString) => nt_display_string(frame.r10),
        Some(
            SystemService::NtClose
            | SystemService::NtDuplicateObject
            | SystemService::NtOpenProcess
            | SystemService::NtOpenThread
            | SystemService::NtQueryObject
            | SystemService::NtCreateDirectoryObject
            | SystemService::NtOpenDirectoryObject,
        ) => NtStatus::NOT_IMPLEMENTED,
        Some(
            SystemService::NtAllocateVirtualMemory
            | SystemService::NtFreeVirtualMemory
            | SystemService::NtProtectVirtualMemory
            | SystemService::NtQueryVirtualMemory
            | SystemService::NtReadVirtualMemory
            | SystemService::NtWriteVirtualMemory
            | SystemService::NtQuerySystemInformation,
        ) => NtStatus::NOT_IMPLEMENTED,
        None => NtStatus::INVALID_SYSTEM_SERVICE,
    };
    frame.rax = u64::from(status.0);
}

/// `NtTerminateProcess(ProcessHandle, ExitStatus)`. Only the current process can be named
/// until handle tables exist.
fn nt_terminate_process(process_handle: u64, exit_status: u32) -> NtStatus {
    if process_handle != CURRENT_PROCESS_HANDLE {
        return NtStatus::INVALID_HANDLE;
    }
    ps::terminate_current_process(NtStatus(exit_status))
}

/// `NtDisplayString(PUNICODE_STRING String)`: writes the string to the console.
fn nt_display_string(string: u64) -> NtStatus {
    let string: UnicodeString = match probe::capture(string) {
        Ok(string) => string,
        Err(status) => return status,
    };
    if !string.length.is_multiple_of(2) || string.length > string.maximum_length {
        return NtStatus::INVALID_PARAMETER;
    }
    let bytes = match probe::capture_bytes(string.buffer, usize::from(string.length)) {
        Ok(bytes) => bytes,
        Err(status) => return status,
    };
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let mut utf8 = [0u8; 4];
    for c in char::decode_utf16(units) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        hal::write_console(c.encode_utf8(&mut utf8).as_bytes());
    }
    NtStatus::SUCCESS
}
