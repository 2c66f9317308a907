//! Threads of the calling process: creation through `NtCreateThreadEx`.

use abi::access::THREAD_ALL_ACCESS;
use abi::service::CURRENT_PROCESS_HANDLE;

use crate::NtStatus;
use crate::syscall::nt_create_thread_ex;

/// A thread's start routine: it must end with `syscall::exit_thread`.
pub type StartRoutine = extern "system" fn(u64) -> !;

/// Creates a thread of this process running `start(argument)`, with NtCreateThreadEx's
/// `flags` (THREAD_CREATE_FLAGS_*); returns its handle.
pub fn create_thread(start: StartRoutine, argument: u64, flags: u32) -> Result<u64, NtStatus> {
    let mut handle = 0;
    // SAFETY: the handle pointer is a local; the start routine ends with NtTerminateThread.
    let status = unsafe {
        nt_create_thread_ex(
            &mut handle,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            CURRENT_PROCESS_HANDLE,
            start as usize as u64,
            argument,
            flags,
            0,
            0,
            0,
            0,
        )
    };
    if status == NtStatus::SUCCESS {
        Ok(handle)
    } else {
        Err(status)
    }
}
