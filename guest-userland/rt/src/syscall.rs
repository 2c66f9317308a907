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
    ClientId, KUSER_SHARED_DATA_ADDRESS, KUSER_SHARED_DATA_SYSTEM_CALL, ObjectAttributes,
    RtlUserProcessParameters, SYSTEM_CALL_INT_2E, UnicodeString,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE, SystemService};

macro_rules! system_service_stub {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) = $service:ident;) => {
        $(#[$doc])*
        #[unsafe(naked)]
        pub unsafe extern "system" fn $name($($arg: $type),*) -> NtStatus {
            core::arch::naked_asm!(
                abi::system_service_stub_body!(),
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

system_service_stub! {
    /// `NtClose(Handle)`.
    ///
    /// # Safety
    /// Closing a handle other code still uses leaves that code with a stale handle.
    fn nt_close(handle: u64) = NtClose;
}

system_service_stub! {
    /// `NtDuplicateObject(SourceProcessHandle, SourceHandle, TargetProcessHandle,
    /// PHANDLE TargetHandle, DesiredAccess, HandleAttributes, Options)`.
    ///
    /// # Safety
    /// `target_handle` is null or points to a writable `HANDLE`.
    fn nt_duplicate_object(
        source_process: u64,
        source_handle: u64,
        target_process: u64,
        target_handle: *mut u64,
        desired_access: u32,
        handle_attributes: u32,
        options: u32
    ) = NtDuplicateObject;
}

system_service_stub! {
    /// `NtOpenProcess(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PCLIENT_ID ClientId)`.
    ///
    /// # Safety
    /// `process_handle` points to a writable `HANDLE`; `object_attributes` to readable
    /// `OBJECT_ATTRIBUTES`; `client_id` is null or points to a readable `CLIENT_ID`.
    fn nt_open_process(
        process_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        client_id: *const ClientId
    ) = NtOpenProcess;
}

system_service_stub! {
    /// `NtOpenThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PCLIENT_ID ClientId)`.
    ///
    /// # Safety
    /// As [`nt_open_process`].
    fn nt_open_thread(
        thread_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        client_id: *const ClientId
    ) = NtOpenThread;
}

system_service_stub! {
    /// `NtQueryObject(Handle, ObjectInformationClass, ObjectInformation,
    /// ObjectInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_object(
        handle: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQueryObject;
}

system_service_stub! {
    /// `NtCreateDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// `directory_handle` points to a writable `HANDLE`; `object_attributes` to readable
    /// `OBJECT_ATTRIBUTES` whose name, if any, is readable.
    fn nt_create_directory_object(
        directory_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtCreateDirectoryObject;
}

system_service_stub! {
    /// `NtOpenDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// As [`nt_create_directory_object`].
    fn nt_open_directory_object(
        directory_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtOpenDirectoryObject;
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
    display_string_with(text, nt_display_string)
}

/// [`display_string`] through `display`: rt's own stub, or ntdll's export.
pub fn display_string_with(
    text: &[u16],
    display: unsafe extern "system" fn(*const UnicodeString) -> NtStatus,
) -> NtStatus {
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
        let status = unsafe { display(&string) };
        if !status.is_success() {
            return status;
        }
    }
    NtStatus::SUCCESS
}

system_service_stub! {
    /// `NtAllocateVirtualMemory(ProcessHandle, PVOID *BaseAddress, ZeroBits, PSIZE_T
    /// RegionSize, AllocationType, Protect)`.
    ///
    /// # Safety
    /// `base_address` and `region_size` point to writable pointer-sized values.
    fn nt_allocate_virtual_memory(
        process: u64,
        base_address: *mut u64,
        zero_bits: u64,
        region_size: *mut u64,
        allocation_type: u32,
        protect: u32
    ) = NtAllocateVirtualMemory;
}

system_service_stub! {
    /// `NtFreeVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize, FreeType)`.
    ///
    /// # Safety
    /// `base_address` and `region_size` point to writable pointer-sized values; memory
    /// freed must no longer be used.
    fn nt_free_virtual_memory(
        process: u64,
        base_address: *mut u64,
        region_size: *mut u64,
        free_type: u32
    ) = NtFreeVirtualMemory;
}

system_service_stub! {
    /// `NtProtectVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
    /// NewProtect, PULONG OldProtect)`.
    ///
    /// # Safety
    /// `base_address` and `region_size` point to writable pointer-sized values,
    /// `old_protect` to a writable `ULONG`; memory made inaccessible must not be used.
    fn nt_protect_virtual_memory(
        process: u64,
        base_address: *mut u64,
        region_size: *mut u64,
        new_protect: u32,
        old_protect: *mut u32
    ) = NtProtectVirtualMemory;
}

system_service_stub! {
    /// `NtQueryVirtualMemory(ProcessHandle, BaseAddress, MemoryInformationClass,
    /// MemoryInformation, MemoryInformationLength, PSIZE_T ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable pointer-sized value.
    fn nt_query_virtual_memory(
        process: u64,
        base_address: u64,
        class: u32,
        information: *mut u8,
        length: u64,
        return_length: *mut u64
    ) = NtQueryVirtualMemory;
}

/// NtQueryVirtualMemory(MemoryBasicInformation) of `address` in this process: the status
/// and the region's information (all zero when refused).
pub fn query_virtual_memory(address: u64) -> (NtStatus, abi::memory::MemoryBasicInformation) {
    let mut information = abi::memory::MemoryBasicInformation::default();
    // SAFETY: the buffer is a local of the size passed; the return length may be NULL.
    let status = unsafe {
        nt_query_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            address,
            abi::memory::MEMORY_BASIC_INFORMATION_CLASS,
            (&raw mut information).cast(),
            size_of::<abi::memory::MemoryBasicInformation>() as u64,
            core::ptr::null_mut(),
        )
    };
    (status, information)
}

system_service_stub! {
    /// `NtReadVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToRead,
    /// PSIZE_T NumberOfBytesRead)`.
    ///
    /// # Safety
    /// `buffer` points to `size` writable bytes; `bytes_read` is null or points to a
    /// writable pointer-sized value.
    fn nt_read_virtual_memory(
        process: u64,
        base_address: u64,
        buffer: *mut u8,
        size: u64,
        bytes_read: *mut u64
    ) = NtReadVirtualMemory;
}

system_service_stub! {
    /// `NtWriteVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToWrite,
    /// PSIZE_T NumberOfBytesWritten)`.
    ///
    /// # Safety
    /// `buffer` points to `size` readable bytes; `bytes_written` is null or points to a
    /// writable pointer-sized value; the target bytes must be free to change.
    fn nt_write_virtual_memory(
        process: u64,
        base_address: u64,
        buffer: *const u8,
        size: u64,
        bytes_written: *mut u64
    ) = NtWriteVirtualMemory;
}

system_service_stub! {
    /// `NtQuerySystemInformation(SystemInformationClass, SystemInformation,
    /// SystemInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_system_information(
        class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQuerySystemInformation;
}

system_service_stub! {
    /// `NtCreateThreadEx(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ProcessHandle, StartRoutine, Argument, CreateFlags, ZeroBits, StackSize,
    /// MaximumStackSize, PPS_ATTRIBUTE_LIST AttributeList)`.
    ///
    /// # Safety
    /// `thread_handle` points to a writable `HANDLE`; `object_attributes` is null or points
    /// to readable `OBJECT_ATTRIBUTES`; the new thread runs `start_routine(argument)` on a
    /// stack of its own, concurrently with this one, and must end with
    /// `NtTerminateThread` (it has no return address).
    fn nt_create_thread_ex(
        thread_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        process: u64,
        start_routine: u64,
        argument: u64,
        create_flags: u32,
        zero_bits: u64,
        stack_size: u64,
        maximum_stack_size: u64,
        attribute_list: u64
    ) = NtCreateThreadEx;
}

system_service_stub! {
    /// `NtTerminateThread(ThreadHandle, ExitStatus)`.
    ///
    /// # Safety
    /// For the current thread the call does not return; another thread ends wherever it is.
    fn nt_terminate_thread(thread: u64, exit_status: NtStatus) = NtTerminateThread;
}

system_service_stub! {
    /// `NtSuspendThread(ThreadHandle, PULONG PreviousSuspendCount)`.
    ///
    /// # Safety
    /// `previous_suspend_count` is null or points to a writable `ULONG`.
    fn nt_suspend_thread(thread: u64, previous_suspend_count: *mut u32) = NtSuspendThread;
}

system_service_stub! {
    /// `NtResumeThread(ThreadHandle, PULONG PreviousSuspendCount)`.
    ///
    /// # Safety
    /// As [`nt_suspend_thread`].
    fn nt_resume_thread(thread: u64, previous_suspend_count: *mut u32) = NtResumeThread;
}

system_service_stub! {
    /// `NtWaitForSingleObject(Handle, Alertable, PLARGE_INTEGER Timeout)`.
    ///
    /// # Safety
    /// `timeout` is null or points to a readable `LARGE_INTEGER`.
    fn nt_wait_for_single_object(handle: u64, alertable: u32, timeout: *const i64) =
        NtWaitForSingleObject;
}

system_service_stub! {
    /// `NtWaitForMultipleObjects(Count, PHANDLE Handles, WaitType, Alertable,
    /// PLARGE_INTEGER Timeout)`.
    ///
    /// # Safety
    /// `handles` points to `count` readable handles; `timeout` is null or points to a
    /// readable `LARGE_INTEGER`.
    fn nt_wait_for_multiple_objects(
        count: u32,
        handles: *const u64,
        wait_type: u32,
        alertable: u32,
        timeout: *const i64
    ) = NtWaitForMultipleObjects;
}

system_service_stub! {
    /// `NtDelayExecution(Alertable, PLARGE_INTEGER DelayInterval)`.
    ///
    /// # Safety
    /// `interval` points to a readable `LARGE_INTEGER`.
    fn nt_delay_execution(alertable: u32, interval: *const i64) = NtDelayExecution;
}

system_service_stub! {
    /// `NtYieldExecution()`.
    ///
    /// # Safety
    /// None beyond the call itself.
    fn nt_yield_execution() = NtYieldExecution;
}

system_service_stub! {
    /// `NtQueryArchitectureTimings(PARCHITECTURE_TIMINGS Timings)`: the kernel measures
    /// its own primitives (project-specific, see `abi::diagnostics`).
    ///
    /// # Safety
    /// `timings` points to a writable, 8-aligned `ArchitectureTimings`.
    fn nt_query_architecture_timings(timings: *mut abi::diagnostics::ArchitectureTimings) = NtQueryArchitectureTimings;
}

system_service_stub! {
    /// `NtCreateEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES, EventType,
    /// InitialState)`.
    ///
    /// # Safety
    /// `event_handle` points to a writable `HANDLE`; `object_attributes` is null or points
    /// to readable `OBJECT_ATTRIBUTES`.
    fn nt_create_event(
        event_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        event_type: u32,
        initial_state: u32
    ) = NtCreateEvent;
}

system_service_stub! {
    /// `NtSetEvent(EventHandle, PLONG PreviousState)`.
    ///
    /// # Safety
    /// `previous_state` is null or points to a writable `LONG`.
    fn nt_set_event(event: u64, previous_state: *mut i32) = NtSetEvent;
}

system_service_stub! {
    /// `NtResetEvent(EventHandle, PLONG PreviousState)`.
    ///
    /// # Safety
    /// As [`nt_set_event`].
    fn nt_reset_event(event: u64, previous_state: *mut i32) = NtResetEvent;
}

system_service_stub! {
    /// `NtPulseEvent(EventHandle, PLONG PreviousState)`.
    ///
    /// # Safety
    /// As [`nt_set_event`].
    fn nt_pulse_event(event: u64, previous_state: *mut i32) = NtPulseEvent;
}

system_service_stub! {
    /// `NtQueryInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
    /// ThreadInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_information_thread(
        thread: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQueryInformationThread;
}

/// Ends the calling thread with `status` (`NtTerminateThread(NtCurrentThread(), status)`);
/// the last thread of the process ends the process.
pub fn exit_thread(status: NtStatus) -> ! {
    // SAFETY: the current-thread pseudo-handle is always valid; the call does not return.
    unsafe { nt_terminate_thread(CURRENT_THREAD_HANDLE, status) };
    // SAFETY: `ud2` only raises #UD; a kernel that let the thread go on is broken.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}

system_service_stub! {
    /// `NtCreateUserProcess(PHANDLE ProcessHandle, PHANDLE ThreadHandle,
    /// ProcessDesiredAccess, ThreadDesiredAccess, POBJECT_ATTRIBUTES ProcessObjectAttributes,
    /// POBJECT_ATTRIBUTES ThreadObjectAttributes, ProcessFlags, ThreadFlags,
    /// PRTL_USER_PROCESS_PARAMETERS ProcessParameters, PPS_CREATE_INFO CreateInfo,
    /// PPS_ATTRIBUTE_LIST AttributeList)`.
    ///
    /// # Safety
    /// `process_handle` and `thread_handle` point to writable `HANDLE`s; the attributes are
    /// null or point to readable `OBJECT_ATTRIBUTES`; `parameters` points to readable
    /// process parameters whose strings are readable; `create_info` and `attribute_list`
    /// are null or readable.
    fn nt_create_user_process(
        process_handle: *mut u64,
        thread_handle: *mut u64,
        process_desired_access: u32,
        thread_desired_access: u32,
        process_object_attributes: *const ObjectAttributes,
        thread_object_attributes: *const ObjectAttributes,
        process_flags: u32,
        thread_flags: u32,
        parameters: *const RtlUserProcessParameters,
        create_info: u64,
        attribute_list: u64
    ) = NtCreateUserProcess;
}

system_service_stub! {
    /// `NtQueryInformationProcess(ProcessHandle, ProcessInformationClass,
    /// ProcessInformation, ProcessInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_information_process(
        process: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQueryInformationProcess;
}

system_service_stub! {
    /// `NtCreateSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// InitialCount, MaximumCount)`.
    ///
    /// # Safety
    /// `semaphore_handle` points to a writable `HANDLE`; `object_attributes` is null or
    /// points to readable `OBJECT_ATTRIBUTES`.
    fn nt_create_semaphore(
        semaphore_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        initial_count: i32,
        maximum_count: i32
    ) = NtCreateSemaphore;
}

system_service_stub! {
    /// `NtReleaseSemaphore(SemaphoreHandle, ReleaseCount, PLONG PreviousCount)`.
    ///
    /// # Safety
    /// `previous_count` is null or points to a writable `LONG`.
    fn nt_release_semaphore(semaphore: u64, release_count: i32, previous_count: *mut i32) =
        NtReleaseSemaphore;
}

system_service_stub! {
    /// `NtOpenSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// `semaphore_handle` points to a writable `HANDLE`; `object_attributes` to readable
    /// `OBJECT_ATTRIBUTES` whose name is readable.
    fn nt_open_semaphore(
        semaphore_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtOpenSemaphore;
}

system_service_stub! {
    /// `NtQuerySemaphore(SemaphoreHandle, SemaphoreInformationClass, SemaphoreInformation,
    /// SemaphoreInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_semaphore(
        semaphore: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQuerySemaphore;
}

system_service_stub! {
    /// `NtCreateMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// InitialOwner)`.
    ///
    /// # Safety
    /// As [`nt_create_semaphore`].
    fn nt_create_mutant(
        mutant_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        initial_owner: u32
    ) = NtCreateMutant;
}

system_service_stub! {
    /// `NtReleaseMutant(MutantHandle, PLONG PreviousCount)`.
    ///
    /// # Safety
    /// `previous_count` is null or points to a writable `LONG`.
    fn nt_release_mutant(mutant: u64, previous_count: *mut i32) = NtReleaseMutant;
}

system_service_stub! {
    /// `NtOpenMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// As [`nt_open_semaphore`].
    fn nt_open_mutant(
        mutant_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtOpenMutant;
}

system_service_stub! {
    /// `NtQueryMutant(MutantHandle, MutantInformationClass, MutantInformation,
    /// MutantInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// As [`nt_query_semaphore`].
    fn nt_query_mutant(
        mutant: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQueryMutant;
}

system_service_stub! {
    /// `NtOpenEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// As [`nt_open_semaphore`].
    fn nt_open_event(
        event_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtOpenEvent;
}

system_service_stub! {
    /// `NtSetInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
    /// ThreadInformationLength)`.
    ///
    /// # Safety
    /// `information` points to `length` readable bytes.
    fn nt_set_information_thread(
        thread: u64,
        information_class: u32,
        information: *const u8,
        length: u32
    ) = NtSetInformationThread;
}

system_service_stub! {
    /// `NtSetInformationProcess(ProcessHandle, ProcessInformationClass, ProcessInformation,
    /// ProcessInformationLength)`.
    ///
    /// # Safety
    /// `information` points to `length` readable bytes.
    fn nt_set_information_process(
        process: u64,
        information_class: u32,
        information: *const u8,
        length: u32
    ) = NtSetInformationProcess;
}

system_service_stub! {
    /// `NtCreateTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES, TimerType)`.
    ///
    /// # Safety
    /// As [`nt_create_semaphore`].
    fn nt_create_timer(
        timer_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        timer_type: u32
    ) = NtCreateTimer;
}

system_service_stub! {
    /// `NtOpenTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// As [`nt_open_semaphore`].
    fn nt_open_timer(
        timer_handle: *mut u64,
        desired_access: u32,
        object_attributes: *const ObjectAttributes
    ) = NtOpenTimer;
}

system_service_stub! {
    /// `NtSetTimer(TimerHandle, PLARGE_INTEGER DueTime, PTIMER_APC_ROUTINE TimerApcRoutine,
    /// PVOID TimerContext, BOOLEAN ResumeTimer, LONG Period, PBOOLEAN PreviousState)`.
    ///
    /// # Safety
    /// `due_time` points to a readable `LARGE_INTEGER`; `previous_state` is null or points
    /// to a writable `BOOLEAN`.
    fn nt_set_timer(
        timer: u64,
        due_time: *const i64,
        apc_routine: u64,
        apc_context: u64,
        resume_timer: u32,
        period: i32,
        previous_state: *mut u8
    ) = NtSetTimer;
}

system_service_stub! {
    /// `NtCancelTimer(TimerHandle, PBOOLEAN CurrentState)`.
    ///
    /// # Safety
    /// `current_state` is null or points to a writable `BOOLEAN`.
    fn nt_cancel_timer(timer: u64, current_state: *mut u8) = NtCancelTimer;
}

system_service_stub! {
    /// `NtQueryTimer(TimerHandle, TimerInformationClass, TimerInformation,
    /// TimerInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// As [`nt_query_semaphore`].
    fn nt_query_timer(
        timer: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQueryTimer;
}

system_service_stub! {
    /// `NtQueueApcThread(ThreadHandle, PPS_APC_ROUTINE ApcRoutine, ApcArgument1,
    /// ApcArgument2, ApcArgument3)`.
    ///
    /// # Safety
    /// The thread runs `routine(argument1, argument2, argument3)` at its next alertable
    /// wait: the routine and whatever its arguments point to must still be valid then.
    fn nt_queue_apc_thread(
        thread: u64,
        routine: u64,
        argument1: u64,
        argument2: u64,
        argument3: u64
    ) = NtQueueApcThread;
}

system_service_stub! {
    /// `NtTestAlert()`: runs the caller's queued user APCs before returning.
    ///
    /// # Safety
    /// The APCs run here, on this thread.
    fn nt_test_alert() = NtTestAlert;
}

system_service_stub! {
    /// `NtAlertThread(ThreadHandle)`.
    ///
    /// # Safety
    /// None beyond the call itself.
    fn nt_alert_thread(thread: u64) = NtAlertThread;
}

system_service_stub! {
    /// `NtContinue(PCONTEXT ContextRecord, BOOLEAN TestAlert)`: on success resumes the
    /// state the context holds and does not return here.
    ///
    /// # Safety
    /// `context` points to a readable, 16-byte aligned `CONTEXT` whose state is one this
    /// thread can go on in.
    fn nt_continue(context: *const abi::dispatcher::Context, test_alert: u32) = NtContinue;
}

system_service_stub! {
    /// `NtOpenFile(PHANDLE FileHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
    /// PIO_STATUS_BLOCK IoStatusBlock, ShareAccess, OpenOptions)`.
    ///
    /// # Safety
    /// `handle` points to a writable `HANDLE`, `attributes` to readable `OBJECT_ATTRIBUTES`
    /// whose name is readable, `io_status` to a writable `IO_STATUS_BLOCK`.
    fn nt_open_file(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        io_status: *mut abi::file::IoStatusBlock,
        share_access: u32,
        open_options: u32
    ) = NtOpenFile;
}

system_service_stub! {
    /// `NtCreateSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PLARGE_INTEGER MaximumSize, SectionPageProtection, AllocationAttributes, FileHandle)`.
    ///
    /// # Safety
    /// `handle` points to a writable `HANDLE`; `attributes` and `maximum_size` are null or
    /// readable.
    fn nt_create_section(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        maximum_size: *const u64,
        page_protection: u32,
        allocation_attributes: u32,
        file: u64
    ) = NtCreateSection;
}

system_service_stub! {
    /// `NtMapViewOfSection(SectionHandle, ProcessHandle, PVOID *BaseAddress, ZeroBits,
    /// CommitSize, PLARGE_INTEGER SectionOffset, PSIZE_T ViewSize, InheritDisposition,
    /// AllocationType, Win32Protect)`.
    ///
    /// # Safety
    /// `base` and `view_size` point to readable and writable values; `offset` is null or
    /// does too. A view mapped over memory the program uses changes it.
    fn nt_map_view_of_section(
        section: u64,
        process: u64,
        base: *mut u64,
        zero_bits: u64,
        commit_size: u64,
        offset: *mut u64,
        view_size: *mut u64,
        inherit_disposition: u32,
        allocation_type: u32,
        protect: u32
    ) = NtMapViewOfSection;
}

system_service_stub! {
    /// `NtUnmapViewOfSection(ProcessHandle, BaseAddress)`.
    ///
    /// # Safety
    /// Nothing may use the view's memory afterwards.
    fn nt_unmap_view_of_section(process: u64, base: u64) = NtUnmapViewOfSection;
}

system_service_stub! {
    /// `NtQuerySection(SectionHandle, SectionInformationClass, SectionInformation,
    /// SectionInformationLength, PULONG ReturnLength)`.
    ///
    /// # Safety
    /// `information` points to `length` writable bytes; `return_length` is null or points
    /// to a writable `ULONG`.
    fn nt_query_section(
        section: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32
    ) = NtQuerySection;
}

system_service_stub! {
    /// `NtCreateProcessEx(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ParentProcess, Flags, SectionHandle, DebugPort, TokenHandle, Reserved)`.
    ///
    /// # Safety
    /// `handle` points to a writable `HANDLE`; `attributes` is null or readable.
    fn nt_create_process_ex(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        parent_process: u64,
        flags: u32,
        section: u64,
        debug_port: u64,
        token: u64,
        reserved: u32
    ) = NtCreateProcessEx;
}

system_service_stub! {
    /// `NtCreateThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ProcessHandle, PCLIENT_ID ClientId, PCONTEXT ThreadContext, PINITIAL_TEB InitialTeb,
    /// BOOLEAN CreateSuspended)`.
    ///
    /// # Safety
    /// `handle` points to a writable `HANDLE`, `client_id` is null or writable, `context`
    /// points to a readable 16-byte aligned `CONTEXT` and `initial_teb` to a readable
    /// `INITIAL_TEB` describing a stack of the target process.
    fn nt_create_thread(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        process: u64,
        client_id: *mut ClientId,
        context: *const u8,
        initial_teb: *const abi::process::InitialTeb,
        create_suspended: u32
    ) = NtCreateThread;
}

system_service_stub! {
    /// `NtOpenSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    ///
    /// # Safety
    /// `handle` points to a writable `HANDLE`, `attributes` to readable `OBJECT_ATTRIBUTES`
    /// whose name is readable.
    fn nt_open_section(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes
    ) = NtOpenSection;
}

system_service_stub! {
    /// `NtSignalAndWaitForSingleObject(SignalHandle, WaitHandle, Alertable,
    /// PLARGE_INTEGER Timeout)`.
    ///
    /// # Safety
    /// `timeout` is null or points to a readable `LARGE_INTEGER`.
    fn nt_signal_and_wait_for_single_object(
        signal: u64,
        wait: u64,
        alertable: u32,
        timeout: *const i64
    ) = NtSignalAndWaitForSingleObject;
}

system_service_stub! {
    /// `NtGetCurrentProcessorNumber()`: the processor the caller runs on (a ULONG, not a
    /// status).
    ///
    /// # Safety
    /// None beyond the call itself.
    fn nt_get_current_processor_number() = NtGetCurrentProcessorNumber;
}
