//! Thread, wait and event services: NtCreateThreadEx, NtTerminateThread, NtSuspendThread,
//! NtResumeThread, NtQueryInformationThread, NtWaitForSingleObject,
//! NtWaitForMultipleObjects, NtDelayExecution, NtYieldExecution, NtCreateEvent, NtSetEvent,
//! NtResetEvent and NtPulseEvent.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use abi::NtStatus;
use abi::access::{
    EVENT_MODIFY_STATE, OBJ_PERMANENT, PROCESS_CREATE_THREAD, SYNCHRONIZE,
    THREAD_QUERY_INFORMATION, THREAD_SUSPEND_RESUME, THREAD_TERMINATE,
};
use abi::dispatcher::{
    MAXIMUM_WAIT_OBJECTS, NOTIFICATION_EVENT, SYNCHRONIZATION_EVENT, THREAD_AM_I_LAST_THREAD_CLASS,
    THREAD_BASIC_INFORMATION_CLASS, THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    THREAD_CREATE_FLAGS_VALID, ThreadBasicInformation, WAIT_ALL, WAIT_ANY,
};
use abi::layout::USER_END;

use super::object::return_handle;
use super::user_args::{self, CapturedAttributes, arguments};
use crate::arch::TrapFrame;
use crate::ke::clock;
use crate::ke::dispatcher::DispatcherObject;
use crate::ke::event::Event;
use crate::ke::mutant::Mutant;
use crate::ke::semaphore::Semaphore;
use crate::ke::thread::{WaitReason, WaitType};
use crate::ke::timer::Timer;
use crate::ke::wait;
use crate::mm::probe::{self, Plain};
use crate::ob::{self, Object, ObjectBody, ObjectRef};
use crate::ps::{self, Process, Thread, ThreadStart};

// SAFETY: u32s, u64s and a CLIENT_ID at their natural alignment, pinned by `abi`'s
// assertions (size 0x30): no padding.
unsafe impl Plain for ThreadBasicInformation {}

/// Captured `OBJECT_ATTRIBUTES`, or none for a NULL pointer (an unnamed object).
pub(super) fn capture_optional_attributes(
    address: u64,
) -> Result<Option<CapturedAttributes>, NtStatus> {
    match address {
        0 => Ok(None),
        address => user_args::capture_object_attributes(address).map(Some),
    }
}

/// `NtCreateThreadEx(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES (optional),
/// ProcessHandle, StartRoutine, Argument, CreateFlags, ZeroBits, StackSize,
/// MaximumStackSize, PPS_ATTRIBUTE_LIST AttributeList)`: a thread of the process (the
/// handle needs PROCESS_CREATE_THREAD) that starts at `StartRoutine(Argument)` on a new
/// stack with a new TEB, suspended with CREATE_SUSPENDED. Undefined flags, a start routine
/// outside the user half, nonzero ZeroBits or an attribute list (not supported) are
/// STATUS_INVALID_PARAMETER.
pub fn nt_create_thread_ex(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        process_handle,
        start_routine,
        argument,
        flags,
        zero_bits,
        stack_size,
        maximum_stack_size,
        attribute_list,
    ] = arguments::<11>(frame)?;
    let flags = flags as u32;
    if flags & !THREAD_CREATE_FLAGS_VALID != 0
        || start_routine == 0
        || start_routine >= USER_END
        || zero_bits != 0
        || attribute_list != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = capture_optional_attributes(attributes)?;
    let attribute_flags = attributes.as_ref().map_or(0, |a| a.attributes);
    if attribute_flags & OBJ_PERMANENT != 0 {
        return Err(NtStatus::PRIVILEGE_NOT_HELD);
    }
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_CREATE_THREAD)?;
    let start = ThreadStart {
        start_routine,
        argument,
        suspended: flags & THREAD_CREATE_FLAGS_CREATE_SUSPENDED != 0,
        stack_commit: stack_size,
        stack_reserve: maximum_stack_size,
    };
    ps::create_thread(&process, start, |thread| {
        let (handle, _) =
            ob::insert_object(thread.clone(), None, attribute_flags, desired_access as u32)?;
        return_handle(handle_address, handle)
    })?;
    Ok(NtStatus::SUCCESS)
}

/// `NtTerminateThread(ThreadHandle, ExitStatus)`: the handle needs THREAD_TERMINATE. The
/// thread exits with ExitStatus (the caller on its way back to user mode, so the call does
/// not return to it); the last thread of a process ends the process. A NULL handle names
/// the caller, unless it is its process's last thread (STATUS_CANT_TERMINATE_SELF).
pub fn nt_terminate_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, exit_status] = arguments::<2>(frame)?;
    let status = NtStatus(exit_status as u32);
    let thread = match handle {
        0 => {
            let current = ps::current_thread();
            if ps::thread_count(current.process()) == 1 {
                return Err(NtStatus::CANT_TERMINATE_SELF);
            }
            current
        }
        handle => ob::reference_object_by_handle::<Thread>(handle, THREAD_TERMINATE)?,
    };
    deny_system_thread(&thread)?;
    ps::terminate_thread(&thread, status)?;
    Ok(NtStatus::SUCCESS)
}

/// STATUS_ACCESS_DENIED for a thread of the System process: no program ends or stops the
/// kernel's own threads.
fn deny_system_thread(thread: &Thread) -> Result<(), NtStatus> {
    if ps::is_system_process(thread.process()) {
        Err(NtStatus::ACCESS_DENIED)
    } else {
        Ok(())
    }
}

/// Writes a `ULONG` result to an optional user pointer (probed for alignment first).
pub(super) fn return_ulong(address: u64, value: u32) -> Result<(), NtStatus> {
    if address != 0 {
        user_args::write_bytes(address, &value.to_le_bytes())?;
    }
    Ok(())
}

pub(super) fn probe_optional_ulong(address: u64) -> Result<(), NtStatus> {
    if address != 0 {
        user_args::probe_for_write(address, 4, 4)?;
    }
    Ok(())
}

/// `NtSuspendThread(ThreadHandle, PULONG PreviousSuspendCount OPTIONAL)`: the handle needs
/// THREAD_SUSPEND_RESUME; the thread stops before it next runs user code.
pub fn nt_suspend_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, previous_address] = arguments::<2>(frame)?;
    probe_optional_ulong(previous_address)?;
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_SUSPEND_RESUME)?;
    deny_system_thread(&thread)?;
    let previous = wait::suspend_thread(&thread)?;
    return_ulong(previous_address, previous)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtResumeThread(ThreadHandle, PULONG PreviousSuspendCount OPTIONAL)`: the handle needs
/// THREAD_SUSPEND_RESUME; the thread runs again when its count drops to zero.
pub fn nt_resume_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, previous_address] = arguments::<2>(frame)?;
    probe_optional_ulong(previous_address)?;
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_SUSPEND_RESUME)?;
    let previous = wait::resume_thread(&thread);
    return_ulong(previous_address, previous)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtQueryInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
/// ThreadInformationLength, PULONG ReturnLength OPTIONAL)`: ThreadBasicInformation and
/// ThreadAmILastThread (other classes STATUS_INVALID_INFO_CLASS), whose lengths must be
/// exact (STATUS_INFO_LENGTH_MISMATCH); the handle needs THREAD_QUERY_INFORMATION.
pub fn nt_query_information_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length, return_length] = arguments::<5>(frame)?;
    if class as u32 == THREAD_AM_I_LAST_THREAD_CLASS {
        let size = size_of::<u32>();
        if length as u32 as usize != size {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        user_args::probe_for_write(information, size, 4)?;
        probe_optional_ulong(return_length)?;
        let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_QUERY_INFORMATION)?;
        let last = u32::from(thread.process().thread_count() == 1);
        user_args::write_bytes(information, &last.to_le_bytes())?;
        return_ulong(return_length, size as u32)?;
        return Ok(NtStatus::SUCCESS);
    }
    if class as u32 != THREAD_BASIC_INFORMATION_CLASS {
        return Err(NtStatus::INVALID_INFO_CLASS);
    }
    let size = size_of::<ThreadBasicInformation>();
    if length as u32 as usize != size {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    user_args::probe_for_write(information, size, 8)?;
    probe_optional_ulong(return_length)?;
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_QUERY_INFORMATION)?;
    let (priority, base_priority, affinity_mask) = {
        let scheduling = thread.tcb.scheduling();
        (
            scheduling.priority,
            scheduling.base_priority,
            scheduling.affinity,
        )
    };
    let basic = ThreadBasicInformation {
        exit_status: thread.exit_status().0,
        reserved: 0,
        teb_base_address: thread.teb(),
        client_id: thread.client_id(),
        affinity_mask,
        priority: i32::from(priority),
        base_priority: i32::from(base_priority),
    };
    user_args::write_bytes(information, user_args::bytes_of(&basic))?;
    return_ulong(return_length, size as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// The dispatcher object a handle names, for a wait: the handle needs SYNCHRONIZE, and the
/// object must be a thread, process, event, semaphore, mutant or timer (others cannot be waited
/// on: STATUS_OBJECT_TYPE_MISMATCH).
pub(super) fn reference_waitable(handle: u64) -> Result<Arc<dyn DispatcherObject>, NtStatus> {
    let entry = ob::reference_handle(&ps::current_process(), handle, None, SYNCHRONIZE)?;
    waitable(entry.object)
}

/// `object` as a `T`, if it is one, else back for the next try.
fn downcast_waitable<T: ObjectBody + DispatcherObject>(
    object: Arc<dyn Any + Send + Sync>,
) -> Result<Arc<dyn DispatcherObject>, Arc<dyn Any + Send + Sync>> {
    object
        .downcast::<Object<T>>()
        .map(|object| object as Arc<dyn DispatcherObject>)
}

fn waitable(object: ObjectRef) -> Result<Arc<dyn DispatcherObject>, NtStatus> {
    let object: Arc<dyn Any + Send + Sync> = object;
    downcast_waitable::<Event>(object)
        .or_else(downcast_waitable::<Thread>)
        .or_else(downcast_waitable::<Process>)
        .or_else(downcast_waitable::<Semaphore>)
        .or_else(downcast_waitable::<Mutant>)
        .or_else(downcast_waitable::<Timer>)
        .map_err(|_| NtStatus::OBJECT_TYPE_MISMATCH)
}

/// The TSC deadline of an optional `PLARGE_INTEGER` timeout (NULL: none, wait for ever).
pub(super) fn capture_timeout(address: u64) -> Result<Option<u64>, NtStatus> {
    match address {
        0 => Ok(None),
        address => {
            let timeout: u64 = probe::capture(address)?;
            Ok(Some(clock::timeout_deadline(timeout as i64)))
        }
    }
}

/// `NtWaitForSingleObject(Handle, Alertable, PLARGE_INTEGER Timeout OPTIONAL)`:
/// STATUS_WAIT_0 when the object is signaled, STATUS_TIMEOUT when the timeout passes
/// first; an alertable wait also ends with STATUS_USER_APC (after the thread's user APCs
/// ran) or STATUS_ALERTED.
pub fn nt_wait_for_single_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, alertable, timeout] = arguments::<3>(frame)?;
    let timeout = capture_timeout(timeout)?;
    let object = reference_waitable(handle)?;
    Ok(wait::wait_for_objects(
        alloc::vec![object],
        WaitType::Any,
        timeout,
        WaitReason::UserRequest,
        alertable as u8 != 0,
    ))
}

/// `NtWaitForMultipleObjects(Count, PHANDLE Handles, WaitType, Alertable,
/// PLARGE_INTEGER Timeout OPTIONAL)`: 1 to 64 handles (STATUS_INVALID_PARAMETER
/// otherwise), WaitAll or WaitAny (STATUS_INVALID_PARAMETER otherwise); an object named
/// twice in a WaitAll is STATUS_INVALID_PARAMETER_MIX. Returns STATUS_WAIT_0 (+ the index
/// of the signaled object for WaitAny) or STATUS_TIMEOUT.
pub fn nt_wait_for_multiple_objects(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [count, handles, wait_type, alertable, timeout] = arguments::<5>(frame)?;
    let count = count as u32 as usize;
    if count == 0 || count > MAXIMUM_WAIT_OBJECTS {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let wait_type = match wait_type as u32 {
        WAIT_ALL => WaitType::All,
        WAIT_ANY => WaitType::Any,
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    if !handles.is_multiple_of(8) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let handle_bytes = probe::capture_bytes(handles, count * 8)?;
    let timeout = capture_timeout(timeout)?;
    let mut objects: Vec<Arc<dyn DispatcherObject>> = Vec::with_capacity(count);
    for bytes in handle_bytes.chunks_exact(8) {
        let handle = u64::from_le_bytes(bytes.try_into().expect("chunks of 8"));
        let object = reference_waitable(handle)?;
        if wait_type == WaitType::All
            && objects
                .iter()
                .any(|other| core::ptr::addr_eq(Arc::as_ptr(other), Arc::as_ptr(&object)))
        {
            return Err(NtStatus::INVALID_PARAMETER_MIX);
        }
        objects.push(object);
    }
    Ok(wait::wait_for_objects(
        objects,
        wait_type,
        timeout,
        WaitReason::UserRequest,
        alertable as u8 != 0,
    ))
}

/// `NtDelayExecution(Alertable, PLARGE_INTEGER DelayInterval)`: sleeps for the interval
/// (negative: relative, positive: until an absolute time); a zero interval yields. An
/// alertable delay ends early with STATUS_USER_APC or STATUS_ALERTED.
pub fn nt_delay_execution(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [alertable, interval] = arguments::<2>(frame)?;
    let interval: u64 = probe::capture(interval)?;
    if interval == 0 {
        wait::yield_execution();
        return Ok(NtStatus::SUCCESS);
    }
    let deadline = clock::timeout_deadline(interval as i64);
    match wait::wait_for_objects(
        Vec::new(),
        WaitType::Any,
        Some(deadline),
        WaitReason::DelayExecution,
        alertable as u8 != 0,
    ) {
        NtStatus::TIMEOUT => Ok(NtStatus::SUCCESS),
        status => Ok(status),
    }
}

/// `NtYieldExecution()`: STATUS_SUCCESS when another thread ran, STATUS_NO_YIELD_PERFORMED
/// when none was ready.
pub fn nt_yield_execution() -> Result<NtStatus, NtStatus> {
    Ok(wait::yield_execution())
}

/// `NtCreateEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES (optional),
/// EventType, InitialState)`: a notification or synchronization event
/// (STATUS_INVALID_PARAMETER for another type), named if the attributes say so.
pub fn nt_create_event(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        event_type,
        initial_state,
    ] = arguments::<5>(frame)?;
    let synchronization = match event_type as u32 {
        NOTIFICATION_EVENT => false,
        SYNCHRONIZATION_EVENT => true,
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    user_args::probe_for_write_handle(handle_address)?;
    let event = Object::create(Event::new(synchronization, initial_state as u8 != 0));
    super::sync::insert_new_object(event, handle_address, desired_access, attributes)
}

/// The body of NtSetEvent, NtResetEvent and NtPulseEvent (`EventHandle, PLONG
/// PreviousState OPTIONAL`): the handle needs EVENT_MODIFY_STATE.
fn change_event(frame: &TrapFrame, change: fn(&Event) -> bool) -> Result<NtStatus, NtStatus> {
    let [handle, previous_address] = arguments::<2>(frame)?;
    probe_optional_ulong(previous_address)?;
    let event = ob::reference_object_by_handle::<Event>(handle, EVENT_MODIFY_STATE)?;
    let previous = change(&event);
    return_ulong(previous_address, u32::from(previous))?;
    Ok(NtStatus::SUCCESS)
}

/// `NtSetEvent(EventHandle, PLONG PreviousState OPTIONAL)`.
pub fn nt_set_event(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    change_event(frame, Event::set)
}

/// `NtResetEvent(EventHandle, PLONG PreviousState OPTIONAL)`.
pub fn nt_reset_event(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    change_event(frame, Event::reset)
}

/// `NtPulseEvent(EventHandle, PLONG PreviousState OPTIONAL)`.
pub fn nt_pulse_event(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    change_event(frame, Event::pulse)
}
