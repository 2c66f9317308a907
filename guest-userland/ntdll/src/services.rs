//! The system service stubs: one `Nt*` and one `Zw*` export per service of
//! [`abi::service::SystemService`], generated from the table below.
//!
//! Each stub is NT's: `mov r10, rcx; mov eax, NUMBER`, then `syscall`, or `int 2Eh` when
//! `KUSER_SHARED_DATA.SystemCall` says the kernel wants it; then `ret`. The arguments stay
//! where the caller put them, so a stub needs no signature of its own. In user mode `Zw*`
//! and `Nt*` are the same call (the difference is only the previous mode in the kernel).

use abi::nt::{KUSER_SHARED_DATA_ADDRESS, KUSER_SHARED_DATA_SYSTEM_CALL, SYSTEM_CALL_INT_2E};
use abi::service::SystemService;

/// One naked stub exported as `$name`, entering service `$service`.
macro_rules! stub {
    ($name:ident = $service:ident) => {
        #[doc = concat!("`", stringify!($name), "`: system service `", stringify!($service), "`.")]
        ///
        /// # Safety
        /// The arguments are the service's, in the Windows x64 calling convention.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn $name() -> u32 {
            core::arch::naked_asm!(
                abi::system_service_stub_body!(),
                number = const SystemService::$service as u32,
                system_call = const KUSER_SHARED_DATA_ADDRESS + KUSER_SHARED_DATA_SYSTEM_CALL,
                int_2e = const SYSTEM_CALL_INT_2E,
            )
        }
    };
}

/// The table: each row names a service and its `Zw` twin, and exports both. The check
/// after it fails the build when a service of `SystemService::ALL` has no row.
macro_rules! services {
    ($($nt:ident $zw:ident;)*) => {
        $(
            stub!($nt = $nt);
            stub!($zw = $nt);
        )*

        /// The services the table exports, in its order.
        const EXPORTED: &[SystemService] = &[$(SystemService::$nt),*];
    };
}

services! {
    NtTerminateProcess ZwTerminateProcess;
    NtDisplayString ZwDisplayString;
    NtClose ZwClose;
    NtDuplicateObject ZwDuplicateObject;
    NtOpenProcess ZwOpenProcess;
    NtOpenThread ZwOpenThread;
    NtQueryObject ZwQueryObject;
    NtCreateDirectoryObject ZwCreateDirectoryObject;
    NtOpenDirectoryObject ZwOpenDirectoryObject;
    NtAllocateVirtualMemory ZwAllocateVirtualMemory;
    NtFreeVirtualMemory ZwFreeVirtualMemory;
    NtProtectVirtualMemory ZwProtectVirtualMemory;
    NtQueryVirtualMemory ZwQueryVirtualMemory;
    NtReadVirtualMemory ZwReadVirtualMemory;
    NtWriteVirtualMemory ZwWriteVirtualMemory;
    NtQuerySystemInformation ZwQuerySystemInformation;
    NtCreateThreadEx ZwCreateThreadEx;
    NtTerminateThread ZwTerminateThread;
    NtSuspendThread ZwSuspendThread;
    NtResumeThread ZwResumeThread;
    NtWaitForSingleObject ZwWaitForSingleObject;
    NtWaitForMultipleObjects ZwWaitForMultipleObjects;
    NtDelayExecution ZwDelayExecution;
    NtYieldExecution ZwYieldExecution;
    NtCreateEvent ZwCreateEvent;
    NtSetEvent ZwSetEvent;
    NtResetEvent ZwResetEvent;
    NtPulseEvent ZwPulseEvent;
    NtQueryInformationThread ZwQueryInformationThread;
    NtCreateUserProcess ZwCreateUserProcess;
    NtQueryInformationProcess ZwQueryInformationProcess;
    NtQueryArchitectureTimings ZwQueryArchitectureTimings;
    NtCreateSemaphore ZwCreateSemaphore;
    NtReleaseSemaphore ZwReleaseSemaphore;
    NtOpenSemaphore ZwOpenSemaphore;
    NtQuerySemaphore ZwQuerySemaphore;
    NtCreateMutant ZwCreateMutant;
    NtReleaseMutant ZwReleaseMutant;
    NtOpenMutant ZwOpenMutant;
    NtQueryMutant ZwQueryMutant;
    NtOpenEvent ZwOpenEvent;
    NtSetInformationThread ZwSetInformationThread;
    NtSetInformationProcess ZwSetInformationProcess;
    NtCreateTimer ZwCreateTimer;
    NtOpenTimer ZwOpenTimer;
    NtSetTimer ZwSetTimer;
    NtCancelTimer ZwCancelTimer;
    NtQueryTimer ZwQueryTimer;
    NtQueueApcThread ZwQueueApcThread;
    NtTestAlert ZwTestAlert;
    NtAlertThread ZwAlertThread;
    NtContinue ZwContinue;
    NtOpenFile ZwOpenFile;
    NtCreateSection ZwCreateSection;
    NtMapViewOfSection ZwMapViewOfSection;
    NtUnmapViewOfSection ZwUnmapViewOfSection;
    NtQuerySection ZwQuerySection;
    NtCreateProcessEx ZwCreateProcessEx;
    NtCreateThread ZwCreateThread;
    NtOpenSection ZwOpenSection;
    NtSignalAndWaitForSingleObject ZwSignalAndWaitForSingleObject;
    NtGetCurrentProcessorNumber ZwGetCurrentProcessorNumber;
}

/// Whether `service` has a row in the table (a `const fn`, so the build checks it).
const fn exported(service: SystemService) -> bool {
    let mut index = 0;
    while index < EXPORTED.len() {
        if EXPORTED[index] as u32 == service as u32 {
            return true;
        }
        index += 1;
    }
    false
}

const _: () = {
    assert!(EXPORTED.len() == SystemService::ALL.len());
    let mut index = 0;
    while index < SystemService::ALL.len() {
        assert!(
            exported(SystemService::ALL[index]),
            "a system service has no ntdll stub"
        );
        index += 1;
    }
};
