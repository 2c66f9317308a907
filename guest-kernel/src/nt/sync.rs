//! Synchronization object and scheduling services: NtCreateSemaphore, NtReleaseSemaphore,
//! NtOpenSemaphore, NtQuerySemaphore, NtCreateMutant, NtReleaseMutant, NtOpenMutant,
//! NtQueryMutant, NtOpenEvent, NtSetInformationThread, NtSetInformationProcess,
//! NtCreateTimer, NtOpenTimer, NtSetTimer, NtCancelTimer, NtQueryTimer, NtQueueApcThread,
//! NtTestAlert, NtAlertThread, NtContinue and NtSignalAndWaitForSingleObject.

use alloc::sync::Arc;
use core::any::Any;

use abi::NtStatus;
use abi::access::{
    EVENT_MODIFY_STATE, MUTANT_QUERY_STATE, OBJ_PERMANENT, PROCESS_SET_INFORMATION,
    SEMAPHORE_MODIFY_STATE, SEMAPHORE_QUERY_STATE, THREAD_ALERT, THREAD_SET_CONTEXT,
    THREAD_SET_INFORMATION, TIMER_MODIFY_STATE, TIMER_QUERY_STATE,
};
use abi::dispatcher::{
    Context, HIGH_PRIORITY, MUTANT_BASIC_INFORMATION_CLASS, MutantBasicInformation,
    NOTIFICATION_TIMER, PROCESS_AFFINITY_MASK_CLASS, PROCESS_BASE_PRIORITY_CLASS,
    PROCESS_PRIORITY_CLASS_INFORMATION_CLASS, PROCESS_USER_APC_DISPATCHER_CLASS,
    SEMAPHORE_BASIC_INFORMATION_CLASS, SYNCHRONIZATION_TIMER, SemaphoreBasicInformation,
    THREAD_AFFINITY_MASK_CLASS, THREAD_BASE_PRIORITY_CLASS, THREAD_BASE_PRIORITY_IDLE,
    THREAD_BASE_PRIORITY_LOWRT, THREAD_BASE_PRIORITY_MAX, THREAD_BASE_PRIORITY_MIN,
    THREAD_IDEAL_PROCESSOR_CLASS, THREAD_PRIORITY_CLASS, TIMER_BASIC_INFORMATION_CLASS,
    TimerBasicInformation, priority_class_base,
};
use abi::layout::USER_END;

use super::dispatcher::{
    capture_optional_attributes, capture_timeout, probe_optional_ulong, reference_waitable,
    return_ulong,
};
use super::object::return_handle;
use super::user_args::{self, arguments};
use crate::arch::TrapFrame;
use crate::ke::apc::{self, UserApc};
use crate::ke::clock;
use crate::ke::dispatcher::active_processors;
use crate::ke::event::{EVENT_TYPE, Event};
use crate::ke::mutant::{MUTANT_TYPE, Mutant};
use crate::ke::priority;
use crate::ke::semaphore::{SEMAPHORE_TYPE, Semaphore};
use crate::ke::thread::{WaitReason, WaitType};
use crate::ke::timer::{TIMER_TYPE, Timer, TimerApc};
use crate::ke::wait;
use crate::mm::probe::{self, Plain};
use crate::ob::{self, Object, ObjectBody, ObjectName, ObjectRef, ObjectType};
use crate::ps::{self, Process, Thread};

// SAFETY: two i32s, no padding.
unsafe impl Plain for SemaphoreBasicInformation {}
// SAFETY: an i32 and four u8s, no padding.
unsafe impl Plain for MutantBasicInformation {}
// SAFETY: an i64 and eight u8s, no padding.
unsafe impl Plain for TimerBasicInformation {}
// SAFETY: integers at their natural alignment without padding (pinned by `abi`'s offset
// assertions, size 0x4D0).
unsafe impl Plain for Context {}

/// The optional `OBJECT_ATTRIBUTES` of a create service, captured: the flags and the
/// name, if any.
pub(super) struct NewObjectAttributes {
    flags: u32,
    name: Option<ObjectName>,
}

/// Captures a create service's optional `OBJECT_ATTRIBUTES`. OBJ_PERMANENT needs a
/// privilege no caller has: STATUS_PRIVILEGE_NOT_HELD.
pub(super) fn capture_new_object_attributes(
    attributes: u64,
) -> Result<NewObjectAttributes, NtStatus> {
    let attributes = capture_optional_attributes(attributes)?;
    let (flags, name) = match &attributes {
        Some(attributes) => (
            attributes.attributes,
            attributes.name.is_some().then(|| attributes.object_name()),
        ),
        None => (0, None),
    };
    if flags & OBJ_PERMANENT != 0 {
        return Err(NtStatus::PRIVILEGE_NOT_HELD);
    }
    Ok(NewObjectAttributes { flags, name })
}

/// The common tail of the create services: inserts `object` under its name, if any, and
/// returns the handle to the caller. Returns STATUS_OBJECT_NAME_EXISTS when OBJ_OPENIF
/// opened an existing object instead.
pub(super) fn insert_captured_object<T: ObjectBody>(
    object: alloc::sync::Arc<Object<T>>,
    handle_address: u64,
    desired_access: u64,
    attributes: NewObjectAttributes,
) -> Result<NtStatus, NtStatus> {
    let (handle, status) = ob::insert_object(
        object,
        attributes.name.as_ref(),
        attributes.flags,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    Ok(status)
}

/// [`capture_new_object_attributes`], then [`insert_captured_object`].
pub(super) fn insert_new_object<T: ObjectBody>(
    object: alloc::sync::Arc<Object<T>>,
    handle_address: u64,
    desired_access: u64,
    attributes: u64,
) -> Result<NtStatus, NtStatus> {
    let attributes = capture_new_object_attributes(attributes)?;
    insert_captured_object(object, handle_address, desired_access, attributes)
}

/// The body of the open services (`PHANDLE Handle, DesiredAccess, POBJECT_ATTRIBUTES`):
/// opens the named object, which must be of `object_type`.
fn open_named(frame: &TrapFrame, object_type: &ObjectType) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes] = arguments::<3>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = user_args::capture_object_attributes(attributes)?;
    let handle = ob::open_object_by_name(
        &attributes.object_name(),
        object_type,
        attributes.attributes,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// Checks the class and length of a query whose only class is `basic_class` and whose
/// answer is a `T` (STATUS_INVALID_INFO_CLASS, STATUS_INFO_LENGTH_MISMATCH), and probes the
/// buffer and the optional return length.
fn probe_basic_query<T>(
    basic_class: u32,
    [class, information, length, return_length]: [u64; 4],
) -> Result<(), NtStatus> {
    if class as u32 != basic_class {
        return Err(NtStatus::INVALID_INFO_CLASS);
    }
    if length as u32 as usize != size_of::<T>() {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    user_args::probe_for_write(information, size_of::<T>(), 4)?;
    probe_optional_ulong(return_length)
}

/// `NtCreateSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES
/// OPTIONAL, InitialCount, MaximumCount)`: a maximum below 1, a negative initial count or
/// one above the maximum is STATUS_INVALID_PARAMETER.
pub fn nt_create_semaphore(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes, initial, maximum] = arguments::<5>(frame)?;
    let (initial, maximum) = (initial as u32 as i32, maximum as u32 as i32);
    if maximum <= 0 || initial < 0 || initial > maximum {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    user_args::probe_for_write_handle(handle_address)?;
    let semaphore = Object::create(Semaphore::new(initial, maximum));
    insert_new_object(semaphore, handle_address, desired_access, attributes)
}

/// `NtReleaseSemaphore(SemaphoreHandle, ReleaseCount, PLONG PreviousCount OPTIONAL)`: the
/// handle needs SEMAPHORE_MODIFY_STATE; a count below 1 is STATUS_INVALID_PARAMETER, one
/// that would take the semaphore past its maximum STATUS_SEMAPHORE_LIMIT_EXCEEDED.
pub fn nt_release_semaphore(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, count, previous_address] = arguments::<3>(frame)?;
    let count = count as u32 as i32;
    if count <= 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    probe_optional_ulong(previous_address)?;
    let semaphore = ob::reference_object_by_handle::<Semaphore>(handle, SEMAPHORE_MODIFY_STATE)?;
    let previous = semaphore.release(count)?;
    return_ulong(previous_address, previous as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtOpenSemaphore(PHANDLE SemaphoreHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
pub fn nt_open_semaphore(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_named(frame, &SEMAPHORE_TYPE)
}

/// `NtQuerySemaphore(SemaphoreHandle, SemaphoreInformationClass, SemaphoreInformation,
/// SemaphoreInformationLength, PULONG ReturnLength OPTIONAL)`: SemaphoreBasicInformation,
/// with the handle granting SEMAPHORE_QUERY_STATE.
pub fn nt_query_semaphore(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length, return_length] = arguments::<5>(frame)?;
    probe_basic_query::<SemaphoreBasicInformation>(
        SEMAPHORE_BASIC_INFORMATION_CLASS,
        [class, information, length, return_length],
    )?;
    let semaphore = ob::reference_object_by_handle::<Semaphore>(handle, SEMAPHORE_QUERY_STATE)?;
    let (current_count, maximum_count) = semaphore.state();
    let answer = SemaphoreBasicInformation {
        current_count,
        maximum_count,
    };
    user_args::write_bytes(information, user_args::bytes_of(&answer))?;
    return_ulong(return_length, size_of::<SemaphoreBasicInformation>() as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtCreateMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES OPTIONAL,
/// BOOLEAN InitialOwner)`: owned by the caller when InitialOwner is set.
pub fn nt_create_mutant(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes, initial_owner] = arguments::<4>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    let mutant = Object::create(Mutant::new());
    if initial_owner as u8 != 0 {
        Mutant::acquire_initially(&mutant, &ps::current_thread());
    }
    insert_new_object(mutant, handle_address, desired_access, attributes)
}

/// `NtReleaseMutant(MutantHandle, PLONG PreviousCount OPTIONAL)`: the caller must own the
/// mutant (STATUS_MUTANT_NOT_OWNED); PreviousCount receives the signal state before the
/// release. As in NT the handle needs no particular access.
pub fn nt_release_mutant(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, previous_address] = arguments::<2>(frame)?;
    probe_optional_ulong(previous_address)?;
    let mutant = ob::reference_object_by_handle::<Mutant>(handle, 0)?;
    let previous = mutant.release(&ps::current_thread())?;
    return_ulong(previous_address, previous as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtOpenMutant(PHANDLE MutantHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
pub fn nt_open_mutant(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_named(frame, &MUTANT_TYPE)
}

/// `NtQueryMutant(MutantHandle, MutantInformationClass, MutantInformation,
/// MutantInformationLength, PULONG ReturnLength OPTIONAL)`: MutantBasicInformation, with
/// the handle granting MUTANT_QUERY_STATE.
pub fn nt_query_mutant(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length, return_length] = arguments::<5>(frame)?;
    probe_basic_query::<MutantBasicInformation>(
        MUTANT_BASIC_INFORMATION_CLASS,
        [class, information, length, return_length],
    )?;
    let mutant = ob::reference_object_by_handle::<Mutant>(handle, MUTANT_QUERY_STATE)?;
    let state = mutant.state(&ps::current_thread());
    let answer = MutantBasicInformation {
        current_count: state.signal_state,
        owned_by_caller: u8::from(state.owned_by_caller),
        abandoned_state: u8::from(state.abandoned),
        reserved: [0; 2],
    };
    user_args::write_bytes(information, user_args::bytes_of(&answer))?;
    return_ulong(return_length, size_of::<MutantBasicInformation>() as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtOpenEvent(PHANDLE EventHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
pub fn nt_open_event(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_named(frame, &EVENT_TYPE)
}

/// The bytes of a set-information buffer: its length must be `size` exactly
/// (STATUS_INFO_LENGTH_MISMATCH), its address aligned to `alignment`
/// (STATUS_DATATYPE_MISALIGNMENT) and readable.
fn capture_information<const N: usize>(
    information: u64,
    length: u64,
    alignment: u64,
) -> Result<[u8; N], NtStatus> {
    if length as u32 as usize != N {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    if !information.is_multiple_of(alignment) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let bytes = probe::capture_bytes(information, N)?;
    Ok(bytes.try_into().expect("captured N bytes"))
}

/// `NtSetInformationThread(ThreadHandle, ThreadInformationClass, ThreadInformation,
/// ThreadInformationLength)`, the handle granting THREAD_SET_INFORMATION:
/// - ThreadPriority: the current priority, 1-31;
/// - ThreadBasePriority: the base relative to the process's, -2 to 2 or the saturating
///   THREAD_BASE_PRIORITY_LOWRT (15) and _IDLE (-15);
/// - ThreadAffinityMask: a non-empty set of active processors.
///
/// Values outside those are STATUS_INVALID_PARAMETER; other classes
/// STATUS_INVALID_INFO_CLASS.
pub fn nt_set_information_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length] = arguments::<4>(frame)?;
    enum Change {
        Priority(u8),
        BasePriority(i8),
        Affinity(u64),
        IdealProcessor(u32),
    }
    let change = match class as u32 {
        THREAD_PRIORITY_CLASS => {
            let priority = i32::from_le_bytes(capture_information(information, length, 4)?);
            if !(1..=i32::from(HIGH_PRIORITY)).contains(&priority) {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Change::Priority(priority as u8)
        }
        THREAD_BASE_PRIORITY_CLASS => {
            let increment = i32::from_le_bytes(capture_information(information, length, 4)?);
            if !(THREAD_BASE_PRIORITY_MIN..=THREAD_BASE_PRIORITY_MAX).contains(&increment)
                && increment != THREAD_BASE_PRIORITY_LOWRT
                && increment != THREAD_BASE_PRIORITY_IDLE
            {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Change::BasePriority(increment as i8)
        }
        THREAD_AFFINITY_MASK_CLASS => {
            let affinity = u64::from_le_bytes(capture_information(information, length, 8)?);
            if affinity == 0 || affinity & !active_processors() != 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Change::Affinity(affinity)
        }
        THREAD_IDEAL_PROCESSOR_CLASS => {
            let processor = u32::from_le_bytes(capture_information(information, length, 4)?);
            if active_processors() & 1u64.checked_shl(processor).unwrap_or(0) == 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Change::IdealProcessor(processor)
        }
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_SET_INFORMATION)?;
    match change {
        Change::Priority(priority) => priority::set_priority_thread(&thread, priority),
        Change::BasePriority(increment) => priority::set_base_priority_thread(&thread, increment),
        Change::Affinity(affinity) => priority::set_affinity_thread(&thread, affinity),
        Change::IdealProcessor(processor) => {
            let previous =
                core::mem::replace(&mut thread.tcb.scheduling().ideal_processor, processor);
            return Ok(NtStatus(previous));
        }
    }
    Ok(NtStatus::SUCCESS)
}

/// `NtSetInformationProcess(ProcessHandle, ProcessInformationClass, ProcessInformation,
/// ProcessInformationLength)`, the handle granting PROCESS_SET_INFORMATION:
/// - ProcessBasePriority: the base priority itself, 1-31;
/// - ProcessPriorityClass: a `PROCESS_PRIORITY_CLASS` naming Idle (4), BelowNormal (6),
///   Normal (8), AboveNormal (10), High (13) or Realtime (24);
/// - ProcessAffinityMask: the processors every thread of the process runs on, a non-empty
///   part of the active ones;
/// - the project's ProcessUserApcDispatcher: the user address user APCs are delivered
///   through (see `abi::dispatcher::PROCESS_USER_APC_DISPATCHER_CLASS`).
///
/// The process's threads keep their base relative to the new one. Values outside those
/// are STATUS_INVALID_PARAMETER; other classes STATUS_INVALID_INFO_CLASS.
pub fn nt_set_information_process(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length] = arguments::<4>(frame)?;
    if class as u32 == PROCESS_USER_APC_DISPATCHER_CLASS {
        let dispatcher = u64::from_le_bytes(capture_information(information, length, 8)?);
        if dispatcher == 0 || dispatcher >= USER_END {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let process = ob::reference_object_by_handle::<Process>(handle, PROCESS_SET_INFORMATION)?;
        process.pcb.set_user_apc_dispatcher(dispatcher);
        return Ok(NtStatus::SUCCESS);
    }
    if class as u32 == PROCESS_AFFINITY_MASK_CLASS {
        let affinity = u64::from_le_bytes(capture_information(information, length, 8)?);
        if affinity == 0 || affinity & !active_processors() != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let process = ob::reference_object_by_handle::<Process>(handle, PROCESS_SET_INFORMATION)?;
        priority::set_affinity_process(&process, affinity);
        return Ok(NtStatus::SUCCESS);
    }
    let base = match class as u32 {
        PROCESS_BASE_PRIORITY_CLASS => {
            let base = i32::from_le_bytes(capture_information(information, length, 4)?);
            if !(1..=i32::from(HIGH_PRIORITY)).contains(&base) {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            base as u8
        }
        PROCESS_PRIORITY_CLASS_INFORMATION_CLASS => {
            let [_foreground, priority_class] = capture_information::<2>(information, length, 1)?;
            priority_class_base(priority_class).ok_or(NtStatus::INVALID_PARAMETER)?
        }
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    let process = ob::reference_object_by_handle::<Process>(handle, PROCESS_SET_INFORMATION)?;
    priority::set_priority_process(&process, base);
    Ok(NtStatus::SUCCESS)
}

/// `NtCreateTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES OPTIONAL,
/// TimerType)`: a notification or synchronization timer (STATUS_INVALID_PARAMETER for
/// another type), not signaled and not armed.
pub fn nt_create_timer(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes, timer_type] = arguments::<4>(frame)?;
    let synchronization = match timer_type as u32 {
        NOTIFICATION_TIMER => false,
        SYNCHRONIZATION_TIMER => true,
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    user_args::probe_for_write_handle(handle_address)?;
    let timer = Object::create(Timer::new(synchronization));
    insert_new_object(timer, handle_address, desired_access, attributes)
}

/// `NtOpenTimer(PHANDLE TimerHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
pub fn nt_open_timer(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_named(frame, &TIMER_TYPE)
}

/// Probes an optional `PBOOLEAN` result.
fn probe_optional_boolean(address: u64) -> Result<(), NtStatus> {
    if address != 0 {
        user_args::probe_for_write(address, 1, 1)?;
    }
    Ok(())
}

/// Writes an optional `BOOLEAN` result.
fn return_boolean(address: u64, value: bool) -> Result<(), NtStatus> {
    if address != 0 {
        user_args::write_bytes(address, &[u8::from(value)])?;
    }
    Ok(())
}

/// `NtSetTimer(TimerHandle, PLARGE_INTEGER DueTime, PTIMER_APC_ROUTINE TimerApcRoutine
/// OPTIONAL, PVOID TimerContext, BOOLEAN ResumeTimer, LONG Period, PBOOLEAN PreviousState
/// OPTIONAL)`: resets the timer and arms it for DueTime (negative: relative, positive: an
/// absolute system time, in 100 ns units), then every Period milliseconds if Period is
/// not 0. The handle needs TIMER_MODIFY_STATE; PreviousState receives the signal state it
/// had. With a TimerApcRoutine, each expiration queues the user APC
/// `TimerApcRoutine(TimerContext, time low, time high)` to the caller (a routine outside
/// the user half is STATUS_INVALID_PARAMETER, a process without a user APC dispatcher
/// STATUS_NOT_SUPPORTED). A negative Period is STATUS_INVALID_PARAMETER_6. ResumeTimer
/// cannot be honoured without power management: the timer is set and
/// STATUS_TIMER_RESUME_IGNORED returned.
pub fn nt_set_timer(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle,
        due_time,
        apc_routine,
        apc_context,
        resume,
        period,
        previous_address,
    ] = arguments::<7>(frame)?;
    let period = period as u32 as i32;
    if period < 0 {
        return Err(NtStatus::INVALID_PARAMETER_6);
    }
    if apc_routine >= USER_END {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let due_time: u64 = probe::capture(due_time)?;
    probe_optional_boolean(previous_address)?;
    let timer = ob::reference_object_by_handle::<Timer>(handle, TIMER_MODIFY_STATE)?;
    let current = ps::current_thread();
    if apc_routine != 0 && current.process().pcb.user_apc_dispatcher() == 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let apc = (apc_routine != 0).then(|| TimerApc {
        thread: Arc::downgrade(&current),
        routine: apc_routine,
        context: apc_context,
    });
    let deadline = clock::timeout_deadline(due_time as i64);
    let period_tsc = u64::from(period.unsigned_abs()) * clock::tsc_khz();
    let previous = Timer::set(&timer, deadline, period_tsc, apc);
    return_boolean(previous_address, previous)?;
    Ok(if resume as u8 != 0 {
        NtStatus::TIMER_RESUME_IGNORED
    } else {
        NtStatus::SUCCESS
    })
}

/// `NtCancelTimer(TimerHandle, PBOOLEAN CurrentState OPTIONAL)`: disarms the timer,
/// leaving its signal state, which CurrentState receives. The handle needs
/// TIMER_MODIFY_STATE.
pub fn nt_cancel_timer(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, current_address] = arguments::<2>(frame)?;
    probe_optional_boolean(current_address)?;
    let timer = ob::reference_object_by_handle::<Timer>(handle, TIMER_MODIFY_STATE)?;
    let state = timer.cancel();
    return_boolean(current_address, state)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtQueryTimer(TimerHandle, TimerInformationClass, TimerInformation,
/// TimerInformationLength, PULONG ReturnLength OPTIONAL)`: TimerBasicInformation, with the
/// handle granting TIMER_QUERY_STATE.
pub fn nt_query_timer(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length, return_length] = arguments::<5>(frame)?;
    probe_basic_query::<TimerBasicInformation>(
        TIMER_BASIC_INFORMATION_CLASS,
        [class, information, length, return_length],
    )?;
    let timer = ob::reference_object_by_handle::<Timer>(handle, TIMER_QUERY_STATE)?;
    let (signaled, deadline) = timer.state();
    let answer = TimerBasicInformation {
        remaining_time: deadline.map_or(0, clock::units_until),
        timer_state: u8::from(signaled),
        reserved: [0; 7],
    };
    user_args::write_bytes(information, user_args::bytes_of(&answer))?;
    return_ulong(return_length, size_of::<TimerBasicInformation>() as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtQueueApcThread(ThreadHandle, PPS_APC_ROUTINE ApcRoutine, ApcArgument1, ApcArgument2,
/// ApcArgument3)`: queues a user APC, `ApcRoutine(Argument1, Argument2, Argument3)`, to the
/// thread (the handle needs THREAD_SET_CONTEXT); it runs when the thread next waits
/// alertably or calls NtTestAlert. A routine outside the user half is
/// STATUS_INVALID_PARAMETER; a thread that is terminating STATUS_UNSUCCESSFUL, one with
/// 1024 APCs queued STATUS_INSUFFICIENT_RESOURCES; a process without a user APC dispatcher
/// STATUS_NOT_SUPPORTED.
pub fn nt_queue_apc_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, routine, argument1, argument2, argument3] = arguments::<5>(frame)?;
    if routine == 0 || routine >= USER_END {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_SET_CONTEXT)?;
    if thread.process().pcb.user_apc_dispatcher() == 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let apc = UserApc {
        routine,
        arguments: [argument1, argument2, argument3],
    };
    apc::queue_user_apc(&thread, apc)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtTestAlert()`: STATUS_ALERTED if the caller was alerted (the alert is consumed), else
/// STATUS_SUCCESS; its queued user APCs run before the call returns.
pub fn nt_test_alert() -> Result<NtStatus, NtStatus> {
    Ok(apc::test_alert())
}

/// `NtAlertThread(ThreadHandle)`: the handle needs THREAD_ALERT. An alertable wait of the
/// thread ends with STATUS_ALERTED; otherwise its next one, or NtTestAlert, reports it.
pub fn nt_alert_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle] = arguments::<1>(frame)?;
    let thread = ob::reference_object_by_handle::<Thread>(handle, THREAD_ALERT)?;
    apc::alert_thread(&thread);
    Ok(NtStatus::SUCCESS)
}

/// `NtContinue(PCONTEXT ContextRecord, BOOLEAN TestAlert)`: the call returns to the
/// control and integer state the 16-byte aligned `CONTEXT` holds (see
/// `ke::apc::continue_context`), after the next queued user APC if TestAlert is set. On
/// success the frame holds that state, rax included: no status goes back.
pub fn nt_continue(frame: &mut TrapFrame) -> Result<(), NtStatus> {
    let [context, test_alert] = arguments::<2>(frame)?;
    if !context.is_multiple_of(16) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let context: Context = probe::capture(context)?;
    apc::continue_context(frame, &context, test_alert as u8 != 0)
}

/// The signal of NtSignalAndWaitForSingleObject, through a handle granting
/// `granted_access`: sets an event, releases a semaphore by one or a mutant.
fn signal_object(object: ObjectRef, granted_access: u32) -> Result<(), NtStatus> {
    let require = |access: u32| {
        if granted_access & access == access {
            Ok(())
        } else {
            Err(NtStatus::ACCESS_DENIED)
        }
    };
    let object: Arc<dyn Any + Send + Sync> = object;
    let object = match object.downcast::<Object<Event>>() {
        Ok(event) => {
            require(EVENT_MODIFY_STATE)?;
            event.set();
            return Ok(());
        }
        Err(object) => object,
    };
    let object = match object.downcast::<Object<Semaphore>>() {
        Ok(semaphore) => {
            require(SEMAPHORE_MODIFY_STATE)?;
            return semaphore.release(1).map(drop);
        }
        Err(object) => object,
    };
    match object.downcast::<Object<Mutant>>() {
        Ok(mutant) => mutant.release(&ps::current_thread()).map(drop),
        Err(_) => Err(NtStatus::OBJECT_TYPE_MISMATCH),
    }
}

/// `NtSignalAndWaitForSingleObject(SignalHandle, WaitHandle, Alertable, PLARGE_INTEGER
/// Timeout OPTIONAL)`: signals one object and waits for another in one step (no other
/// thread runs in between). The signal sets an event (EVENT_MODIFY_STATE), releases a
/// semaphore by one (SEMAPHORE_MODIFY_STATE) or releases a mutant the caller owns;
/// another type is STATUS_OBJECT_TYPE_MISMATCH. Both handles are checked before the
/// signal; the wait then returns as NtWaitForSingleObject's does.
pub fn nt_signal_and_wait_for_single_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [signal_handle, wait_handle, alertable, timeout] = arguments::<4>(frame)?;
    let timeout = capture_timeout(timeout)?;
    let signal = ob::reference_handle(&ps::current_process(), signal_handle, None, 0)?;
    let waited = reference_waitable(wait_handle)?;
    signal_object(signal.object, signal.granted_access)?;
    Ok(wait::wait_for_objects(
        alloc::vec![waited],
        WaitType::Any,
        timeout,
        WaitReason::UserRequest,
        alertable as u8 != 0,
    ))
}
