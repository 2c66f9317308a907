//! Threads: `RtlUserThreadStart`, where every thread starts (its start routine's return
//! value becoming its exit status), `RtlCreateUserThread` (NtCreateThreadEx with the
//! caller's routine and parameter), `RtlExitUserThread` (the process's last thread ends
//! the process) and `RtlExitUserProcess`, each of the last two passing through the
//! loader's shutdown notification first
//! ([`notify_loader_of_thread_exit`], [`notify_loader_of_process_exit`]).

use abi::NtStatus;
use abi::access::THREAD_ALL_ACCESS;
use abi::dispatcher::{
    THREAD_AM_I_LAST_THREAD_CLASS, THREAD_BASIC_INFORMATION_CLASS,
    THREAD_CREATE_FLAGS_CREATE_SUSPENDED, ThreadBasicInformation,
};
use abi::nt::ClientId;
use abi::service::CURRENT_THREAD_HANDLE;

use crate::calls;
use crate::native::{nt_close, nt_create_thread_ex, nt_query_information_thread};

/// `PUSER_THREAD_START_ROUTINE`: what a thread of RtlCreateUserThread runs.
pub type UserThreadStartRoutine = extern "system" fn(parameter: u64) -> NtStatus;

/// `RtlCreateUserThread(Process, SecurityDescriptor, CreateSuspended, ZeroBits,
/// MaximumStackSize, CommittedStackSize, StartAddress, Parameter, Thread, ClientId)`: a
/// thread of `process` running `StartAddress(Parameter)` and ending with its return value
/// as exit status. The stack has the sizes asked for (0: the defaults). The handle (all
/// access) goes to `thread` and the client ID to `client_id`, each when not NULL; without
/// a place for it, the handle is closed.
///
/// # Safety
/// `start_address` is a `USER_THREAD_START_ROUTINE` in `process`; `thread` and
/// `client_id` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlCreateUserThread(
    process: u64,
    _security_descriptor: u64,
    create_suspended: u8,
    zero_bits: u32,
    maximum_stack_size: u64,
    committed_stack_size: u64,
    start_address: u64,
    parameter: u64,
    thread: *mut u64,
    client_id: *mut ClientId,
) -> NtStatus {
    let mut handle = 0;
    let flags = if create_suspended != 0 {
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED
    } else {
        0
    };
    // SAFETY: the handle is a local; the kernel starts the thread in RtlUserThreadStart,
    // which runs the routine and exits with its return value.
    let status = unsafe {
        nt_create_thread_ex(
            &mut handle,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            process,
            start_address,
            parameter,
            flags,
            u64::from(zero_bits),
            committed_stack_size,
            maximum_stack_size,
            0,
        )
    };
    if !status.is_success() {
        return status;
    }
    if !client_id.is_null() {
        let mut information = ThreadBasicInformation::default();
        // SAFETY: a local of the size passed.
        let queried = unsafe {
            nt_query_information_thread(
                handle,
                THREAD_BASIC_INFORMATION_CLASS,
                (&raw mut information).cast(),
                size_of::<ThreadBasicInformation>() as u32,
                core::ptr::null_mut(),
            )
        };
        // The thread exists either way; its client ID is what the query found.
        if queried.is_success() {
            // SAFETY: the caller gives a writable CLIENT_ID.
            unsafe { client_id.write(information.client_id) };
        }
    }
    if thread.is_null() {
        // SAFETY: the handle is this function's and not returned.
        unsafe { nt_close(handle) };
    } else {
        // SAFETY: the caller gives a writable HANDLE.
        unsafe { thread.write(handle) };
    }
    NtStatus::SUCCESS
}

/// `RtlUserThreadStart(StartAddress, Argument)`: where every thread of a process with
/// ntdll starts once the loader has run on it (the kernel's initial context for the
/// thread points here): runs `StartAddress(Argument)`, a `USER_THREAD_START_ROUTINE`, and
/// ends the thread with what it returns, after the loader's thread detach.
#[unsafe(no_mangle)]
pub extern "system" fn RtlUserThreadStart(start_address: u64, argument: u64) -> ! {
    // SAFETY: the thread's creator gave this routine to NtCreateThreadEx (or it is the
    // image's entry point); a bad one faults here as it would have as the thread's first
    // instruction.
    let routine: UserThreadStartRoutine = unsafe { core::mem::transmute(start_address) };
    RtlExitUserThread(routine(argument))
}

/// `RtlExitUserThread(ExitStatus)`: ends the calling thread, after the loader's thread
/// detach; the process's last thread ends the process instead (`RtlExitUserProcess`, so
/// the DLLs get their process detach), as NT's asks ThreadAmILastThread.
#[unsafe(no_mangle)]
pub extern "system" fn RtlExitUserThread(exit_status: NtStatus) -> ! {
    if is_last_thread() {
        RtlExitUserProcess(exit_status)
    }
    notify_loader_of_thread_exit();
    calls::terminate_current_thread(exit_status)
}

/// Whether the calling thread is the only one its process has left (ThreadAmILastThread);
/// false when the kernel cannot say.
fn is_last_thread() -> bool {
    let mut last = 0u32;
    // SAFETY: a local of the size passed; no return length.
    let status = unsafe {
        nt_query_information_thread(
            CURRENT_THREAD_HANDLE,
            THREAD_AM_I_LAST_THREAD_CLASS,
            (&raw mut last).cast(),
            size_of::<u32>() as u32,
            core::ptr::null_mut(),
        )
    };
    status.is_success() && last != 0
}

/// `RtlExitUserProcess(ExitStatus)`: ends the calling process, after the loader's process
/// detach.
#[unsafe(no_mangle)]
pub extern "system" fn RtlExitUserProcess(exit_status: NtStatus) -> ! {
    notify_loader_of_process_exit();
    calls::terminate_current_process(exit_status)
}

/// The DLLs' thread-detach notifications (`LdrShutdownThread`): the one place a thread
/// ending through the runtime library passes.
fn notify_loader_of_thread_exit() {
    crate::ldr::LdrShutdownThread();
}

/// The DLLs' process-detach notifications (`LdrShutdownProcess`): the one place a process
/// ending through the runtime library passes.
fn notify_loader_of_process_exit() {
    crate::ldr::LdrShutdownProcess();
}
