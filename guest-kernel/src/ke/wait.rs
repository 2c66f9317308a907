//! Waits (`KeWaitForSingleObject`, `KeWaitForMultipleObjects`, `KeDelayExecutionThread`),
//! what ends them (`KiWaitTest` when an object is signaled, `KiTimerExpiration` at a
//! timeout, `KiUnwaitThread`), yielding (`NtYieldExecution`), suspension and resumption
//! (`KeSuspendThread`, `KeResumeThread`), and a thread's termination as the dispatcher
//! sees it (`KeTerminateThread`).

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::dispatcher::MAXIMUM_SUSPEND_COUNT;

use super::apc::{self, Delivered, KernelApc};
use super::dispatcher::{
    DispatcherDatabase, DispatcherObject, WaitEntry, WaitTimer, current_thread, lock, mark_ready,
    ready_thread, swap_thread,
};
use super::thread::{ThreadState, WaitBlocks, WaitReason, WaitType};
use super::{clock, priority, timer};
use crate::ob::Object;
use crate::ps::Thread;

/// The running thread (services and the clock only ask while one runs).
fn running_thread() -> Arc<Object<Thread>> {
    current_thread().expect("a thread is running")
}

/// `KeWaitForMultipleObjects` (and, with one object, `KeWaitForSingleObject`): waits until
/// any or all of `objects` are signaled, or until `timeout` (a TSC deadline; `None` waits
/// for ever; a deadline already past polls). Returns STATUS_WAIT_0 + the index of the
/// object that satisfied a WaitAny (STATUS_WAIT_0 for WaitAll), STATUS_TIMEOUT, or
/// STATUS_KERNEL_APC when the thread is being terminated. A kernel APC queued meanwhile
/// (a suspension) is taken and the wait goes on. An `alertable` wait also ends
/// (or does not begin) for a user APC, with STATUS_USER_APC, and for an alert, with
/// STATUS_ALERTED. `objects` may be empty (a delay). Synchronization objects that satisfy
/// the wait are reset.
pub fn wait_for_objects(
    objects: Vec<Arc<dyn DispatcherObject>>,
    wait_type: WaitType,
    timeout: Option<u64>,
    reason: WaitReason,
    alertable: bool,
) -> NtStatus {
    let current = running_thread();
    loop {
        let mut db = lock();
        if !current.tcb.scheduling().kernel_apcs.is_empty() {
            drop(db);
            if apc::deliver_kernel_apcs(&current, false) == Delivered::Termination {
                return NtStatus::KERNEL_APC;
            }
            continue;
        }
        if alertable && let Some(status) = apc::check_alertable(&mut current.tcb.scheduling()) {
            return status;
        }
        match wait_type {
            WaitType::Any => {
                if let Some(index) = objects
                    .iter()
                    .position(|object| object.is_signaled_for(&current))
                {
                    let abandoned = objects[index].satisfy_wait_for(&objects[index], &current);
                    return wait_status(index, abandoned);
                }
            }
            WaitType::All => {
                if !objects.is_empty()
                    && objects
                        .iter()
                        .all(|object| object.is_signaled_for(&current))
                {
                    return wait_status(0, satisfy_all(&objects, &current));
                }
            }
        }
        if timeout.is_some_and(|deadline| deadline <= clock::now()) {
            return NtStatus::TIMEOUT;
        }
        for (key, object) in objects.iter().enumerate() {
            object.dispatcher_header().wait_list().push(WaitEntry {
                thread: current.clone(),
                key: key as u32,
            });
        }
        if let Some(deadline) = timeout {
            db.timers.push(WaitTimer {
                deadline,
                thread: current.clone(),
            });
        }
        {
            let mut scheduling = current.tcb.scheduling();
            scheduling.state = ThreadState::Waiting;
            scheduling.wait_reason = Some(reason);
            scheduling.wait = Some(WaitBlocks {
                objects: objects.clone(),
                wait_type,
            });
            scheduling.wait_status = NtStatus::PENDING;
            scheduling.alertable = alertable;
        }
        swap_thread(db, current.clone());
        let status = current.tcb.scheduling().wait_status;
        // A kernel APC ended the wait: take it, then wait again, to the same deadline.
        if status != NtStatus::KERNEL_APC {
            return status;
        }
    }
}

/// STATUS_WAIT_0 + `index`, or STATUS_ABANDONED_WAIT_0 + `index` when the wait acquired an
/// abandoned mutant.
fn wait_status(index: usize, abandoned: bool) -> NtStatus {
    let base = if abandoned {
        NtStatus::ABANDONED_WAIT_0
    } else {
        NtStatus::SUCCESS
    };
    NtStatus(base.0 + index as u32)
}

/// `KiWaitSatisfyAll`: every object of a WaitAll gives `thread` what its wait takes.
/// Returns true when one of them was an abandoned mutant.
fn satisfy_all(objects: &[Arc<dyn DispatcherObject>], thread: &Arc<Object<Thread>>) -> bool {
    objects.iter().fold(false, |abandoned, object| {
        object.satisfy_wait_for(object, thread) | abandoned
    })
}

/// `KiUnwaitThread`: ends the wait of `thread`, if it waits, with `status`: takes it off
/// the wait lists of its objects and the timer list, boosts it by `increment` (the
/// signaled object's) and readies it.
pub(super) fn unwait_thread(
    db: &mut DispatcherDatabase,
    thread: &Arc<Object<Thread>>,
    status: NtStatus,
    increment: u8,
) {
    let wait = {
        let mut scheduling = thread.tcb.scheduling();
        if scheduling.state != ThreadState::Waiting {
            return;
        }
        priority::boost_on_unwait(&mut scheduling, increment);
        scheduling.wait_status = status;
        scheduling.alertable = false;
        scheduling.wait_reason = None;
        scheduling.wait.take()
    };
    for object in wait.iter().flat_map(|wait| &wait.objects) {
        object
            .dispatcher_header()
            .wait_list()
            .retain(|entry| !Arc::ptr_eq(&entry.thread, thread));
    }
    db.timers
        .retain(|timer| !Arc::ptr_eq(&timer.thread, thread));
    ready_thread(db, thread.clone());
}

/// `KiWaitTest`: after `object` was signaled, satisfies the waits it now satisfies, in the
/// order the threads began waiting, as long as it stays signaled; the threads released
/// get the boost `increment`.
pub fn wait_test(db: &mut DispatcherDatabase, object: &dyn DispatcherObject, increment: u8) {
    let header = object.dispatcher_header();
    let waiters = header.wait_list().clone();
    for entry in waiters {
        if !header.is_signaled() {
            break;
        }
        let wait = {
            let scheduling = entry.thread.tcb.scheduling();
            match (&scheduling.state, &scheduling.wait) {
                (ThreadState::Waiting, Some(wait)) => wait.clone(),
                _ => continue,
            }
        };
        match wait.wait_type {
            WaitType::Any => {
                let key = entry.key as usize;
                let abandoned =
                    wait.objects[key].satisfy_wait_for(&wait.objects[key], &entry.thread);
                unwait_thread(db, &entry.thread, wait_status(key, abandoned), increment);
            }
            WaitType::All => {
                if wait
                    .objects
                    .iter()
                    .all(|object| object.is_signaled_for(&entry.thread))
                {
                    let abandoned = satisfy_all(&wait.objects, &entry.thread);
                    unwait_thread(db, &entry.thread, wait_status(0, abandoned), increment);
                }
            }
        }
    }
}

/// `KiTimerExpiration`: ends with STATUS_TIMEOUT every timed wait whose deadline is past,
/// earliest deadline first, then signals the timer objects that are due.
pub fn expire_timers(now: u64) {
    let mut db = lock();
    let mut expired: Vec<WaitTimer> = Vec::new();
    db.timers.retain(|timer| {
        let due = timer.deadline <= now;
        if due {
            expired.push(WaitTimer {
                deadline: timer.deadline,
                thread: timer.thread.clone(),
            });
        }
        !due
    });
    expired.sort_by_key(|timer| timer.deadline);
    for timer in expired {
        unwait_thread(&mut db, &timer.thread, NtStatus::TIMEOUT, 0);
    }
    timer::expire(&mut db, now);
}

/// The earliest deadline of a timed wait or an armed timer, if any.
pub fn next_expiry(db: &DispatcherDatabase) -> Option<u64> {
    let waits = db.timers.iter().map(|timer| timer.deadline).min();
    match (waits, timer::next_due()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `NtYieldExecution`: gives the processor to a ready thread of the same or a higher
/// priority, the current thread going to the tail of its list. STATUS_NO_YIELD_PERFORMED
/// when there is none.
pub fn yield_execution() -> NtStatus {
    let current = running_thread();
    let mut db = lock();
    let priority = current.tcb.scheduling().priority;
    super::dispatcher::process_deferred_ready_list(&mut db);
    if db
        .prcb()
        .ready_queues
        .highest_priority()
        .is_none_or(|highest| highest < priority)
    {
        return NtStatus::NO_YIELD_PERFORMED;
    }
    mark_ready(&mut current.tcb.scheduling());
    db.prcb()
        .ready_queues
        .insert(priority, current.clone(), false);
    swap_thread(db, current);
    NtStatus::SUCCESS
}

/// `KeSuspendThread`: counts a suspension of `thread`, returning the previous count. The
/// first queues the suspend APC: the thread stops at once if it runs user code, leaves a
/// wait it is in to stop there (and waits again once resumed), and otherwise stops before
/// it next returns to user mode. STATUS_THREAD_IS_TERMINATING for a thread that is
/// exiting, STATUS_SUSPEND_COUNT_EXCEEDED past MAXIMUM_SUSPEND_COUNT.
pub fn suspend_thread(thread: &Arc<Object<Thread>>) -> Result<u32, NtStatus> {
    let mut db = lock();
    let previous = {
        let mut scheduling = thread.tcb.scheduling();
        if scheduling.terminate.is_some() || scheduling.state == ThreadState::Terminated {
            return Err(NtStatus::THREAD_IS_TERMINATING);
        }
        let previous = scheduling.suspend_count;
        if previous == MAXIMUM_SUSPEND_COUNT {
            return Err(NtStatus::SUSPEND_COUNT_EXCEEDED);
        }
        scheduling.suspend_count += 1;
        previous
    };
    if previous == 0 {
        apc::insert_kernel_apc(&mut db, thread, KernelApc::Suspend);
    }
    Ok(previous)
}

/// The suspend APC's work, on the current thread: waits, as WaitReason Suspended, while
/// its suspend count is above zero and it is not terminating.
pub fn wait_while_suspended(current: &Arc<Object<Thread>>) {
    loop {
        let db = lock();
        {
            let mut scheduling = current.tcb.scheduling();
            if scheduling.suspend_count == 0 || scheduling.terminate.is_some() {
                return;
            }
            scheduling.state = ThreadState::Waiting;
            scheduling.wait_reason = Some(WaitReason::Suspended);
            scheduling.wait_status = NtStatus::PENDING;
        }
        swap_thread(db, current.clone());
    }
}

/// `KeResumeThread`: takes one suspension of `thread` back, returning the previous count;
/// at zero a suspended thread runs again.
pub fn resume_thread(thread: &Arc<Object<Thread>>) -> u32 {
    let mut db = lock();
    let (previous, release) = {
        let mut scheduling = thread.tcb.scheduling();
        let previous = scheduling.suspend_count;
        scheduling.suspend_count = previous.saturating_sub(1);
        let release = previous == 1 && scheduling.wait_reason == Some(WaitReason::Suspended);
        (previous, release)
    };
    if release {
        unwait_thread(&mut db, thread, NtStatus::SUCCESS, 0);
    }
    previous
}

/// `PspTerminateThreadByPointer`'s kernel part: queues the termination APC to `thread`,
/// to exit with `status` when it next heads for user mode; a wait it is in ends with
/// STATUS_KERNEL_APC, and its suspensions are dropped (`KeForceResumeThread`). Returns
/// false when the thread was already terminating.
pub fn request_termination(thread: &Arc<Object<Thread>>, status: NtStatus) -> bool {
    let mut db = lock();
    let suspended = {
        let mut scheduling = thread.tcb.scheduling();
        if scheduling.terminate.is_some() || scheduling.state == ThreadState::Terminated {
            return false;
        }
        scheduling.terminate = Some(status);
        scheduling.suspend_count = 0;
        scheduling.wait_reason == Some(WaitReason::Suspended)
    };
    if suspended {
        unwait_thread(&mut db, thread, NtStatus::SUCCESS, 0);
    }
    apc::insert_kernel_apc(&mut db, thread, KernelApc::Terminate);
    true
}

/// `KeTerminateThread`: the current thread is terminated: the mutants it owns are
/// abandoned (their next owner learns it from STATUS_ABANDONED_WAIT_0), its object is
/// signaled (waking its waiters) and the processor goes to the next thread, for good.
pub fn terminate_current_thread(current: Arc<Object<Thread>>) -> ! {
    let mut db = lock();
    let owned_mutants = {
        let mut scheduling = current.tcb.scheduling();
        scheduling.state = ThreadState::Terminated;
        core::mem::take(&mut scheduling.owned_mutants)
    };
    for mutant in owned_mutants {
        mutant.abandon(&mut db);
    }
    current.tcb.header.set_signal_state(true);
    wait_test(&mut db, &*current, 0);
    swap_thread(db, current);
    unreachable!("a terminated thread was switched back to")
}

/// Signals `object` (a process whose last thread ended) and satisfies the waits it can,
/// with no boost. Returns the previous signal state.
pub fn signal_object(object: &dyn DispatcherObject) -> bool {
    signal_object_boosting(object, 0)
}

/// Signals `object` (an event being set) and satisfies the waits it can, boosting the
/// threads released by `increment`. Returns the previous signal state.
pub fn signal_object_boosting(object: &dyn DispatcherObject, increment: u8) -> bool {
    let mut db = lock();
    let previous = object.dispatcher_header().set_signal_state(true);
    wait_test(&mut db, object, increment);
    previous
}

/// `KePulseEvent`: signals `object`, satisfies the waits it can (boosting the threads
/// released by `increment`), and resets it. Returns the previous signal state.
pub fn pulse_object(object: &dyn DispatcherObject, increment: u8) -> bool {
    let mut db = lock();
    let previous = object.dispatcher_header().set_signal_state(true);
    wait_test(&mut db, object, increment);
    object.dispatcher_header().set_signal_state(false);
    previous
}
