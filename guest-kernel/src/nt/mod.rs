//! System services: the service table behind `syscall`. Each service captures and
//! validates its user arguments, then calls the component that does the work.

use abi::NtStatus;
use abi::nt::UnicodeString;
use abi::service::SystemService;

use crate::arch::TrapFrame;
use crate::mm::probe;
use crate::{hal, ke};

mod dispatcher;
mod file;
mod memory;
mod object;
mod process;
mod section;
mod sync;
mod system_information;
mod user_args;

/// Dispatches the system call in `frame` (KiSystemService): the service number in `rax`,
/// arguments in `r10`, `rdx`, `r8`, `r9`; the NTSTATUS goes back in `rax`.
pub fn system_service(frame: &mut TrapFrame) {
    let service = SystemService::from_number(frame.rax as u32);
    if service == Some(SystemService::NtContinue) {
        // NtContinue returns to the context it loads, rax included.
        if let Err(status) = sync::nt_continue(frame) {
            frame.rax = u64::from(status.0);
        }
        service_exit(frame);
        return;
    }
    let status = match service.filter(|&service| creates_objects(service)) {
        Some(_) => crate::mm::ensure_pool_headroom().err(),
        None => None,
    }
    .unwrap_or_else(|| dispatch(service, frame));
    frame.rax = u64::from(status.0);
    service_exit(frame);
}

/// Services that create objects, handles, threads, processes or address-space records on
/// the caller's behalf: they are refused with STATUS_INSUFFICIENT_RESOURCES when the pool
/// is down to the kernel's reserve, so no program can exhaust it.
fn creates_objects(service: SystemService) -> bool {
    matches!(
        service,
        SystemService::NtDuplicateObject
            | SystemService::NtOpenProcess
            | SystemService::NtOpenThread
            | SystemService::NtCreateDirectoryObject
            | SystemService::NtOpenDirectoryObject
            | SystemService::NtAllocateVirtualMemory
            | SystemService::NtCreateThreadEx
            | SystemService::NtCreateEvent
            | SystemService::NtCreateUserProcess
            | SystemService::NtCreateSemaphore
            | SystemService::NtOpenSemaphore
            | SystemService::NtCreateMutant
            | SystemService::NtOpenMutant
            | SystemService::NtOpenEvent
            | SystemService::NtCreateTimer
            | SystemService::NtOpenTimer
            | SystemService::NtSetTimer
            | SystemService::NtQueueApcThread
            | SystemService::NtOpenFile
            | SystemService::NtCreateSection
            | SystemService::NtOpenSection
            | SystemService::NtMapViewOfSection
            | SystemService::NtCreateProcessEx
            | SystemService::NtCreateThread
    )
}

/// Calls the service `service` names with the arguments in `frame`.
fn dispatch(service: Option<SystemService>, frame: &mut TrapFrame) -> NtStatus {
    match service {
        Some(SystemService::NtTerminateProcess) => {
            status_of(process::nt_terminate_process(frame.r10, frame.rdx as u32))
        }
        Some(SystemService::NtDisplayString) => nt_display_string(frame.r10),
        Some(SystemService::NtClose) => status_of(object::nt_close(frame.r10)),
        Some(SystemService::NtDuplicateObject) => status_of(object::nt_duplicate_object(frame)),
        Some(SystemService::NtOpenProcess) => status_of(process::nt_open_process(frame)),
        Some(SystemService::NtOpenThread) => status_of(process::nt_open_thread(frame)),
        Some(SystemService::NtQueryObject) => status_of(object::nt_query_object(frame)),
        Some(SystemService::NtCreateDirectoryObject) => {
            status_of(object::nt_create_directory_object(frame))
        }
        Some(SystemService::NtOpenDirectoryObject) => {
            status_of(object::nt_open_directory_object(frame))
        }
        Some(SystemService::NtAllocateVirtualMemory) => {
            status_of(memory::nt_allocate_virtual_memory(frame))
        }
        Some(SystemService::NtFreeVirtualMemory) => {
            status_of(memory::nt_free_virtual_memory(frame))
        }
        Some(SystemService::NtProtectVirtualMemory) => {
            status_of(memory::nt_protect_virtual_memory(frame))
        }
        Some(SystemService::NtQueryVirtualMemory) => {
            status_of(memory::nt_query_virtual_memory(frame))
        }
        Some(SystemService::NtReadVirtualMemory) => {
            status_of(memory::nt_read_virtual_memory(frame))
        }
        Some(SystemService::NtWriteVirtualMemory) => {
            status_of(memory::nt_write_virtual_memory(frame))
        }
        Some(SystemService::NtQuerySystemInformation) => {
            status_of(system_information::nt_query_system_information(frame))
        }
        Some(SystemService::NtCreateThreadEx) => status_of(dispatcher::nt_create_thread_ex(frame)),
        Some(SystemService::NtTerminateThread) => status_of(dispatcher::nt_terminate_thread(frame)),
        Some(SystemService::NtSuspendThread) => status_of(dispatcher::nt_suspend_thread(frame)),
        Some(SystemService::NtResumeThread) => status_of(dispatcher::nt_resume_thread(frame)),
        Some(SystemService::NtWaitForSingleObject) => {
            status_of(dispatcher::nt_wait_for_single_object(frame))
        }
        Some(SystemService::NtWaitForMultipleObjects) => {
            status_of(dispatcher::nt_wait_for_multiple_objects(frame))
        }
        Some(SystemService::NtDelayExecution) => status_of(dispatcher::nt_delay_execution(frame)),
        Some(SystemService::NtYieldExecution) => status_of(dispatcher::nt_yield_execution()),
        Some(SystemService::NtCreateEvent) => status_of(dispatcher::nt_create_event(frame)),
        Some(SystemService::NtSetEvent) => status_of(dispatcher::nt_set_event(frame)),
        Some(SystemService::NtResetEvent) => status_of(dispatcher::nt_reset_event(frame)),
        Some(SystemService::NtPulseEvent) => status_of(dispatcher::nt_pulse_event(frame)),
        Some(SystemService::NtQueryInformationThread) => {
            status_of(dispatcher::nt_query_information_thread(frame))
        }
        Some(SystemService::NtCreateUserProcess) => {
            status_of(process::nt_create_user_process(frame))
        }
        Some(SystemService::NtQueryInformationProcess) => {
            status_of(process::nt_query_information_process(frame))
        }
        Some(SystemService::NtQueryArchitectureTimings) => {
            status_of(nt_query_architecture_timings(frame.r10))
        }
        Some(SystemService::NtCreateSemaphore) => status_of(sync::nt_create_semaphore(frame)),
        Some(SystemService::NtReleaseSemaphore) => status_of(sync::nt_release_semaphore(frame)),
        Some(SystemService::NtOpenSemaphore) => status_of(sync::nt_open_semaphore(frame)),
        Some(SystemService::NtQuerySemaphore) => status_of(sync::nt_query_semaphore(frame)),
        Some(SystemService::NtCreateMutant) => status_of(sync::nt_create_mutant(frame)),
        Some(SystemService::NtReleaseMutant) => status_of(sync::nt_release_mutant(frame)),
        Some(SystemService::NtOpenMutant) => status_of(sync::nt_open_mutant(frame)),
        Some(SystemService::NtQueryMutant) => status_of(sync::nt_query_mutant(frame)),
        Some(SystemService::NtOpenEvent) => status_of(sync::nt_open_event(frame)),
        Some(SystemService::NtSetInformationThread) => {
            status_of(sync::nt_set_information_thread(frame))
        }
        Some(SystemService::NtSetInformationProcess) => {
            status_of(sync::nt_set_information_process(frame))
        }
        Some(SystemService::NtCreateTimer) => status_of(sync::nt_create_timer(frame)),
        Some(SystemService::NtOpenTimer) => status_of(sync::nt_open_timer(frame)),
        Some(SystemService::NtSetTimer) => status_of(sync::nt_set_timer(frame)),
        Some(SystemService::NtCancelTimer) => status_of(sync::nt_cancel_timer(frame)),
        Some(SystemService::NtQueryTimer) => status_of(sync::nt_query_timer(frame)),
        Some(SystemService::NtQueueApcThread) => status_of(sync::nt_queue_apc_thread(frame)),
        Some(SystemService::NtTestAlert) => status_of(sync::nt_test_alert()),
        Some(SystemService::NtAlertThread) => status_of(sync::nt_alert_thread(frame)),
        Some(SystemService::NtContinue) => unreachable!("NtContinue is dispatched above"),
        Some(SystemService::NtOpenFile) => status_of(file::nt_open_file(frame)),
        Some(SystemService::NtCreateSection) => status_of(section::nt_create_section(frame)),
        Some(SystemService::NtMapViewOfSection) => {
            status_of(section::nt_map_view_of_section(frame))
        }
        Some(SystemService::NtUnmapViewOfSection) => {
            status_of(section::nt_unmap_view_of_section(frame))
        }
        Some(SystemService::NtQuerySection) => status_of(section::nt_query_section(frame)),
        Some(SystemService::NtCreateProcessEx) => status_of(process::nt_create_process_ex(frame)),
        Some(SystemService::NtCreateThread) => status_of(process::nt_create_thread(frame)),
        Some(SystemService::NtOpenSection) => status_of(section::nt_open_section(frame)),
        Some(SystemService::NtSignalAndWaitForSingleObject) => {
            status_of(sync::nt_signal_and_wait_for_single_object(frame))
        }
        // A ULONG in rax, as NT's.
        Some(SystemService::NtGetCurrentProcessorNumber) => {
            NtStatus(crate::arch::current_processor())
        }
        None => NtStatus::INVALID_SYSTEM_SERVICE,
    }
}

/// `KiServiceExit`: preemption, quantum end, suspension and termination take effect here,
/// before the return to user mode; then a pending user APC redirects the return to it.
fn service_exit(frame: &mut TrapFrame) {
    ke::dispatcher::exit_dispatch(frame.is_user_mode());
    if frame.is_user_mode() {
        ke::apc::deliver_user_apc(frame);
    }
}

/// `NtQueryArchitectureTimings(PARCHITECTURE_TIMINGS Timings)`: project-specific, see
/// `abi::diagnostics`.
fn nt_query_architecture_timings(timings: u64) -> Result<NtStatus, NtStatus> {
    let size = size_of::<abi::diagnostics::ArchitectureTimings>();
    user_args::probe_for_write(timings, size, 8)?;
    let measured = ke::timings::measure();
    user_args::write_bytes(timings, user_args::bytes_of(&measured))?;
    Ok(NtStatus::SUCCESS)
}

/// The status a service returns, whether it succeeded or failed.
fn status_of(result: Result<NtStatus, NtStatus>) -> NtStatus {
    result.unwrap_or_else(|status| status)
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
