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
    /// `NtClose(Handle)`.
    NtClose = 0x10,
    /// `NtDuplicateObject(SourceProcessHandle, SourceHandle, TargetProcessHandle,
    /// PHANDLE TargetHandle, DesiredAccess, HandleAttributes, Options)`.
    NtDuplicateObject = 0x11,
    /// `NtOpenProcess(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PCLIENT_ID ClientId)`.
    NtOpenProcess = 0x12,
    /// `NtOpenThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PCLIENT_ID ClientId)`.
    NtOpenThread = 0x13,
    /// `NtQueryObject(Handle, ObjectInformationClass, ObjectInformation,
    /// ObjectInformationLength, PULONG ReturnLength)`.
    NtQueryObject = 0x14,
    /// `NtCreateDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtCreateDirectoryObject = 0x15,
    /// `NtOpenDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenDirectoryObject = 0x16,
    /// `NtAllocateVirtualMemory(ProcessHandle, PVOID *BaseAddress, ZeroBits,
    /// PSIZE_T RegionSize, AllocationType, Protect)`.
    NtAllocateVirtualMemory = 0x20,
    /// `NtFreeVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize, FreeType)`.
    NtFreeVirtualMemory = 0x21,
    /// `NtProtectVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
    /// NewProtect, PULONG OldProtect)`.
    NtProtectVirtualMemory = 0x22,
    /// `NtQueryVirtualMemory(ProcessHandle, BaseAddress, MemoryInformationClass,
    /// MemoryInformation, MemoryInformationLength, PSIZE_T ReturnLength)`.
    NtQueryVirtualMemory = 0x23,
    /// `NtReadVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToRead,
    /// PSIZE_T NumberOfBytesRead)`.
    NtReadVirtualMemory = 0x24,
    /// `NtWriteVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToWrite,
    /// PSIZE_T NumberOfBytesWritten)`.
    NtWriteVirtualMemory = 0x25,
    /// `NtQuerySystemInformation(SystemInformationClass, SystemInformation,
    /// SystemInformationLength, PULONG ReturnLength)`.
    NtQuerySystemInformation = 0x26,
    /// `NtCreateThreadEx(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ProcessHandle, StartRoutine, Argument, CreateFlags, ZeroBits, StackSize,
    /// MaximumStackSize, PPS_ATTRIBUTE_LIST AttributeList)`.
    NtCreateThreadEx = 0x30,
    /// `NtTerminateThread(ThreadHandle, ExitStatus)`.
    NtTerminateThread = 0x31,
    /// `NtSuspendThread(ThreadHandle, PULONG PreviousSuspendCount)`.
    NtSuspendThread = 0x32,
    /// `NtResumeThread(ThreadHandle, PULONG PreviousSuspendCount)`.
    NtResumeThread = 0x33,
    /// `NtWaitForSingleObject(Handle, Alertable, PLARGE_INTEGER Timeout)`.
    NtWaitForSingleObject = 0x34,
    /// `NtWaitForMultipleObjects(Count, PHANDLE Handles, WaitType, Alertable,
    /// PLARGE_INTEGER Timeout)`.
    NtWaitForMultipleObjects = 0x35,
    /// `NtDelayExecution(Alertable, PLARGE_INTEGER DelayInterval)`.
    NtDelayExecution = 0x36,
    /// `NtYieldExecution()`.
    NtYieldExecution = 0x37,
    /// `NtCreateEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES, EventType,
    /// InitialState)`.
    NtCreateEvent = 0x38,
    /// `NtSetEvent(EventHandle, PLONG PreviousState)`.
    NtSetEvent = 0x39,
    /// `NtResetEvent(EventHandle, PLONG PreviousState)`.
    NtResetEvent = 0x3A,
    /// `NtPulseEvent(EventHandle, PLONG PreviousState)`.
    NtPulseEvent = 0x3B,
    /// `NtQueryInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
    /// ThreadInformationLength, PULONG ReturnLength)`.
    NtQueryInformationThread = 0x3C,
    /// `NtCreateUserProcess(PHANDLE ProcessHandle, PHANDLE ThreadHandle,
    /// ProcessDesiredAccess, ThreadDesiredAccess, POBJECT_ATTRIBUTES ProcessObjectAttributes,
    /// POBJECT_ATTRIBUTES ThreadObjectAttributes, ProcessFlags, ThreadFlags,
    /// PRTL_USER_PROCESS_PARAMETERS ProcessParameters, PPS_CREATE_INFO CreateInfo,
    /// PPS_ATTRIBUTE_LIST AttributeList)`.
    NtCreateUserProcess = 0x40,
    /// `NtQueryInformationProcess(ProcessHandle, ProcessInformationClass,
    /// ProcessInformation, ProcessInformationLength, PULONG ReturnLength)`.
    NtQueryInformationProcess = 0x41,
    /// `NtQueryArchitectureTimings(PARCHITECTURE_TIMINGS Timings)`: the kernel measures its
    /// own primitives (`abi::diagnostics`). Project-specific, not an NT service.
    NtQueryArchitectureTimings = 0x60,
    /// `NtCreateSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// InitialCount, MaximumCount)`.
    NtCreateSemaphore = 0x70,
    /// `NtReleaseSemaphore(SemaphoreHandle, ReleaseCount, PLONG PreviousCount)`.
    NtReleaseSemaphore = 0x71,
    /// `NtOpenSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenSemaphore = 0x72,
    /// `NtQuerySemaphore(SemaphoreHandle, SemaphoreInformationClass, SemaphoreInformation,
    /// SemaphoreInformationLength, PULONG ReturnLength)`.
    NtQuerySemaphore = 0x73,
    /// `NtCreateMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// InitialOwner)`.
    NtCreateMutant = 0x74,
    /// `NtReleaseMutant(MutantHandle, PLONG PreviousCount)`.
    NtReleaseMutant = 0x75,
    /// `NtOpenMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenMutant = 0x76,
    /// `NtQueryMutant(MutantHandle, MutantInformationClass, MutantInformation,
    /// MutantInformationLength, PULONG ReturnLength)`.
    NtQueryMutant = 0x77,
    /// `NtOpenEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenEvent = 0x78,
    /// `NtSetInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
    /// ThreadInformationLength)`.
    NtSetInformationThread = 0x79,
    /// `NtSetInformationProcess(ProcessHandle, ProcessInformationClass, ProcessInformation,
    /// ProcessInformationLength)`.
    NtSetInformationProcess = 0x7A,
    /// `NtCreateTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES, TimerType)`.
    NtCreateTimer = 0x7B,
    /// `NtOpenTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenTimer = 0x7C,
    /// `NtSetTimer(TimerHandle, PLARGE_INTEGER DueTime, PTIMER_APC_ROUTINE TimerApcRoutine,
    /// PVOID TimerContext, BOOLEAN ResumeTimer, LONG Period, PBOOLEAN PreviousState)`.
    NtSetTimer = 0x7D,
    /// `NtCancelTimer(TimerHandle, PBOOLEAN CurrentState)`.
    NtCancelTimer = 0x7E,
    /// `NtQueryTimer(TimerHandle, TimerInformationClass, TimerInformation,
    /// TimerInformationLength, PULONG ReturnLength)`.
    NtQueryTimer = 0x7F,
    /// `NtQueueApcThread(ThreadHandle, PPS_APC_ROUTINE ApcRoutine, ApcArgument1,
    /// ApcArgument2, ApcArgument3)`.
    NtQueueApcThread = 0x80,
    /// `NtTestAlert()`.
    NtTestAlert = 0x81,
    /// `NtAlertThread(ThreadHandle)`.
    NtAlertThread = 0x82,
    /// `NtContinue(PCONTEXT ContextRecord, BOOLEAN TestAlert)`.
    NtContinue = 0x83,
    /// `NtOpenFile(PHANDLE FileHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PIO_STATUS_BLOCK IoStatusBlock, ShareAccess, OpenOptions)`.
    NtOpenFile = 0x48,
    /// `NtCreateSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// PLARGE_INTEGER MaximumSize, SectionPageProtection, AllocationAttributes, FileHandle)`.
    NtCreateSection = 0x49,
    /// `NtMapViewOfSection(SectionHandle, ProcessHandle, PVOID *BaseAddress, ZeroBits,
    /// CommitSize, PLARGE_INTEGER SectionOffset, PSIZE_T ViewSize, InheritDisposition,
    /// AllocationType, Win32Protect)`.
    NtMapViewOfSection = 0x4A,
    /// `NtUnmapViewOfSection(ProcessHandle, BaseAddress)`.
    NtUnmapViewOfSection = 0x4B,
    /// `NtQuerySection(SectionHandle, SectionInformationClass, SectionInformation,
    /// SectionInformationLength, PULONG ReturnLength)`.
    NtQuerySection = 0x4C,
    /// `NtCreateProcessEx(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ParentProcess, Flags, SectionHandle, DebugPort, TokenHandle, Reserved)`.
    NtCreateProcessEx = 0x4D,
    /// `NtCreateThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES,
    /// ProcessHandle, PCLIENT_ID ClientId, PCONTEXT ThreadContext, PINITIAL_TEB InitialTeb,
    /// BOOLEAN CreateSuspended)`.
    NtCreateThread = 0x4E,
    /// `NtOpenSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
    NtOpenSection = 0x4F,
    /// `NtSignalAndWaitForSingleObject(SignalHandle, WaitHandle, Alertable,
    /// PLARGE_INTEGER Timeout)`.
    NtSignalAndWaitForSingleObject = 0x84,
    /// `NtGetCurrentProcessorNumber()`: the index of the processor the caller runs on (a
    /// ULONG in `rax`, not a status).
    NtGetCurrentProcessorNumber = 0x85,
}

impl SystemService {
    pub const ALL: [Self; 62] = [
        Self::NtTerminateProcess,
        Self::NtDisplayString,
        Self::NtClose,
        Self::NtDuplicateObject,
        Self::NtOpenProcess,
        Self::NtOpenThread,
        Self::NtQueryObject,
        Self::NtCreateDirectoryObject,
        Self::NtOpenDirectoryObject,
        Self::NtAllocateVirtualMemory,
        Self::NtFreeVirtualMemory,
        Self::NtProtectVirtualMemory,
        Self::NtQueryVirtualMemory,
        Self::NtReadVirtualMemory,
        Self::NtWriteVirtualMemory,
        Self::NtQuerySystemInformation,
        Self::NtCreateThreadEx,
        Self::NtTerminateThread,
        Self::NtSuspendThread,
        Self::NtResumeThread,
        Self::NtWaitForSingleObject,
        Self::NtWaitForMultipleObjects,
        Self::NtDelayExecution,
        Self::NtYieldExecution,
        Self::NtCreateEvent,
        Self::NtSetEvent,
        Self::NtResetEvent,
        Self::NtPulseEvent,
        Self::NtQueryInformationThread,
        Self::NtCreateUserProcess,
        Self::NtQueryInformationProcess,
        Self::NtQueryArchitectureTimings,
        Self::NtCreateSemaphore,
        Self::NtReleaseSemaphore,
        Self::NtOpenSemaphore,
        Self::NtQuerySemaphore,
        Self::NtCreateMutant,
        Self::NtReleaseMutant,
        Self::NtOpenMutant,
        Self::NtQueryMutant,
        Self::NtOpenEvent,
        Self::NtSetInformationThread,
        Self::NtSetInformationProcess,
        Self::NtCreateTimer,
        Self::NtOpenTimer,
        Self::NtSetTimer,
        Self::NtCancelTimer,
        Self::NtQueryTimer,
        Self::NtQueueApcThread,
        Self::NtTestAlert,
        Self::NtAlertThread,
        Self::NtContinue,
        Self::NtOpenFile,
        Self::NtCreateSection,
        Self::NtMapViewOfSection,
        Self::NtUnmapViewOfSection,
        Self::NtQuerySection,
        Self::NtCreateProcessEx,
        Self::NtCreateThread,
        Self::NtOpenSection,
        Self::NtSignalAndWaitForSingleObject,
        Self::NtGetCurrentProcessorNumber,
    ];

    pub const fn from_number(number: u32) -> Option<Self> {
        match number {
            0 => Some(Self::NtTerminateProcess),
            1 => Some(Self::NtDisplayString),
            0x10 => Some(Self::NtClose),
            0x11 => Some(Self::NtDuplicateObject),
            0x12 => Some(Self::NtOpenProcess),
            0x13 => Some(Self::NtOpenThread),
            0x14 => Some(Self::NtQueryObject),
            0x15 => Some(Self::NtCreateDirectoryObject),
            0x16 => Some(Self::NtOpenDirectoryObject),
            0x20 => Some(Self::NtAllocateVirtualMemory),
            0x21 => Some(Self::NtFreeVirtualMemory),
            0x22 => Some(Self::NtProtectVirtualMemory),
            0x23 => Some(Self::NtQueryVirtualMemory),
            0x24 => Some(Self::NtReadVirtualMemory),
            0x25 => Some(Self::NtWriteVirtualMemory),
            0x26 => Some(Self::NtQuerySystemInformation),
            0x30 => Some(Self::NtCreateThreadEx),
            0x31 => Some(Self::NtTerminateThread),
            0x32 => Some(Self::NtSuspendThread),
            0x33 => Some(Self::NtResumeThread),
            0x34 => Some(Self::NtWaitForSingleObject),
            0x35 => Some(Self::NtWaitForMultipleObjects),
            0x36 => Some(Self::NtDelayExecution),
            0x37 => Some(Self::NtYieldExecution),
            0x38 => Some(Self::NtCreateEvent),
            0x39 => Some(Self::NtSetEvent),
            0x3A => Some(Self::NtResetEvent),
            0x3B => Some(Self::NtPulseEvent),
            0x3C => Some(Self::NtQueryInformationThread),
            0x40 => Some(Self::NtCreateUserProcess),
            0x41 => Some(Self::NtQueryInformationProcess),
            0x60 => Some(Self::NtQueryArchitectureTimings),
            0x70 => Some(Self::NtCreateSemaphore),
            0x71 => Some(Self::NtReleaseSemaphore),
            0x72 => Some(Self::NtOpenSemaphore),
            0x73 => Some(Self::NtQuerySemaphore),
            0x74 => Some(Self::NtCreateMutant),
            0x75 => Some(Self::NtReleaseMutant),
            0x76 => Some(Self::NtOpenMutant),
            0x77 => Some(Self::NtQueryMutant),
            0x78 => Some(Self::NtOpenEvent),
            0x79 => Some(Self::NtSetInformationThread),
            0x7A => Some(Self::NtSetInformationProcess),
            0x7B => Some(Self::NtCreateTimer),
            0x7C => Some(Self::NtOpenTimer),
            0x7D => Some(Self::NtSetTimer),
            0x7E => Some(Self::NtCancelTimer),
            0x7F => Some(Self::NtQueryTimer),
            0x80 => Some(Self::NtQueueApcThread),
            0x81 => Some(Self::NtTestAlert),
            0x82 => Some(Self::NtAlertThread),
            0x83 => Some(Self::NtContinue),
            0x48 => Some(Self::NtOpenFile),
            0x49 => Some(Self::NtCreateSection),
            0x4A => Some(Self::NtMapViewOfSection),
            0x4B => Some(Self::NtUnmapViewOfSection),
            0x4C => Some(Self::NtQuerySection),
            0x4D => Some(Self::NtCreateProcessEx),
            0x4E => Some(Self::NtCreateThread),
            0x4F => Some(Self::NtOpenSection),
            0x84 => Some(Self::NtSignalAndWaitForSingleObject),
            0x85 => Some(Self::NtGetCurrentProcessorNumber),
            _ => None,
        }
    }
}

/// The body of a user-mode system service stub, as NT's are: the service number in `eax`
/// and the first argument moved to `r10`, then `syscall`, or `int 2Eh` where
/// KUSER_SHARED_DATA.SystemCall says so. For `naked_asm!` with the operands `number` (the
/// service), `system_call` (the address of KUSER_SHARED_DATA.SystemCall) and `int_2e` (its
/// `int 2Eh` bit); rt's stubs and ntdll.dll's exports share it.
#[macro_export]
macro_rules! system_service_stub_body {
    () => {
        "mov r10, rcx\nmov eax, {number}\ntest byte ptr ds:[{system_call}], {int_2e}\njnz 2f\n\
         syscall\nret\n2:\nint 0x2e\nret"
    };
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
        // Every number `from_number` knows is in `ALL`, once.
        for number in 0..0x1000 {
            let listed = SystemService::ALL
                .iter()
                .filter(|service| **service as u32 == number)
                .count();
            let known = usize::from(SystemService::from_number(number).is_some());
            assert_eq!(listed, known, "service number {number:#x}");
        }
    }
}
