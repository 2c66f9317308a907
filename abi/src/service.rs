//! System service numbers: the index user mode puts in `eax` before `syscall`.
//!
//! The calling convention is NT's: `mov r10, rcx; mov eax, NUMBER; syscall`, arguments in
//! r10, rdx, r8, r9 and then on the user stack from `[rsp + 0x28]`, NTSTATUS back in `rax`.
//! A number the kernel has no service for returns `STATUS_INVALID_SYSTEM_SERVICE`.

/// Numbers of the services the kernel implements; the kernel's service table follows this order.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemService {
    /// `NtTerminateProcess(ProcessHandle, ExitStatus)`.
    NtTerminateProcess = 0,
    /// `NtDisplayString(PUNICODE_STRING String)`: text to the console.
    NtDisplayString = 1,
}

impl SystemService {
    pub const ALL: [Self; 2] = [Self::NtTerminateProcess, Self::NtDisplayString];

    pub const fn from_number(number: u32) -> Option<Self> {
        match number {
            0 => Some(Self::NtTerminateProcess),
            1 => Some(Self::NtDisplayString),
            _ => None,
        }
    }
}

/// `NtCurrentProcess()`: the pseudo-handle for the calling process.
pub const CURRENT_PROCESS_HANDLE: u64 = u64::MAX;
/// `NtCurrentThread()`: the pseudo-handle for the calling thread.
pub const CURRENT_THREAD_HANDLE: u64 = u64::MAX - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for service in SystemService::ALL {
            assert_eq!(SystemService::from_number(service as u32), Some(service));
        }
        assert_eq!(
            SystemService::from_number(SystemService::ALL.len() as u32),
            None
        );
    }
}
