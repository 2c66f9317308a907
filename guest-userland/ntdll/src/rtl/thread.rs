//! Threads: `RtlCreateUserThread` (through NtCreateThreadEx, the start routine's return
//! value becoming the thread's exit status), `RtlExitUserThread` and
//! `RtlExitUserProcess`, each of the last two passing through the loader's shutdown
//! notification first ([`notify_loader_of_thread_exit`], [`notify_loader_of_process_exit`]).

use abi::NtStatus;
use abi::access::THREAD_ALL_ACCESS;
use abi::dispatcher::{
    THREAD_BASIC_INFORMATION_CLASS, THREAD_CREATE_FLAGS_CREATE_SUSPENDED, ThreadBasicInformation,
};
use abi::memory::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE};
use abi::nt::ClientId;
use abi::service::CURRENT_PROCESS_HANDLE;
use abi::user_process::ChildMemory;

use crate::calls;
use crate::native::{
    ServiceStubs, nt_close, nt_create_thread_ex, nt_free_virtual_memory,
    nt_query_information_thread,
};

/// `PUSER_THREAD_START_ROUTINE`: what a thread of RtlCreateUserThread runs.
pub type UserThreadStartRoutine = extern "system" fn(parameter: u64) -> NtStatus;

/// What a new thread's first instructions need, written into its process by its creator:
/// the routine and its parameter (NtCreateThreadEx passes one argument, the record's
/// address).
#[repr(C)]
#[derive(Clone, Copy)]
struct StartRecord {
    routine: u64,
    parameter: u64,
}

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
    let record = StartRecord {
        routine: start_address,
        parameter,
    };
    let record_address = match write_start_record(process, &record) {
        Ok(address) => address,
        Err(status) => return status,
    };
    let mut handle = 0;
    let flags = if create_suspended != 0 {
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED
    } else {
        0
    };
    // SAFETY: the handle is a local; the thread starts at ntdll's own thunk, mapped at the
    // same base in every process, with the record it frees.
    let status = unsafe {
        nt_create_thread_ex(
            &mut handle,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            process,
            user_thread_start as *const () as u64,
            record_address,
            flags,
            u64::from(zero_bits),
            committed_stack_size,
            maximum_stack_size,
            0,
        )
    };
    if !status.is_success() {
        free_memory(process, record_address);
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

/// Allocates a page in `process` and writes `record` there: its address.
fn write_start_record(process: u64, record: &StartRecord) -> Result<u64, NtStatus> {
    let size = size_of::<StartRecord>();
    let base = ServiceStubs.allocate(
        process,
        0,
        size as u64,
        MEM_RESERVE | MEM_COMMIT,
        PAGE_READWRITE,
    )?;
    // SAFETY: the record is a local of `size` plain bytes (two integers, no padding).
    let bytes = unsafe { core::slice::from_raw_parts((record as *const StartRecord).cast(), size) };
    if let Err(status) = ServiceStubs.write(process, base, bytes) {
        free_memory(process, base);
        return Err(status);
    }
    Ok(base)
}

/// Releases the allocation at `base` in `process`; it was this module's, so a failure
/// leaves nothing to do.
fn free_memory(process: u64, base: u64) {
    let mut base = base;
    let mut size = 0;
    // SAFETY: the base and size are locals.
    unsafe { nt_free_virtual_memory(process, &mut base, &mut size, MEM_RELEASE) };
}

/// A thread of RtlCreateUserThread starts here (`RtlUserThreadStart`): it takes its
/// routine and parameter from the record, gives the record's page back, runs the routine
/// and exits with what it returns.
extern "system" fn user_thread_start(record_address: *const StartRecord) -> ! {
    // SAFETY: the creator wrote the record at this address in this process and nothing
    // else uses it.
    let record = unsafe { record_address.read() };
    free_memory(CURRENT_PROCESS_HANDLE, record_address as u64);
    // SAFETY: the creator gave a USER_THREAD_START_ROUTINE of this process.
    let routine: UserThreadStartRoutine = unsafe { core::mem::transmute(record.routine) };
    RtlExitUserThread(routine(record.parameter))
}

/// `RtlExitUserThread(ExitStatus)`: ends the calling thread, after the loader's thread
/// detach.
#[unsafe(no_mangle)]
pub extern "system" fn RtlExitUserThread(exit_status: NtStatus) -> ! {
    notify_loader_of_thread_exit();
    calls::terminate_current_thread(exit_status)
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
