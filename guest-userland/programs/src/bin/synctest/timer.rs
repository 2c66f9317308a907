//! Timers: one-shot and periodic, notification and synchronization, relative and absolute
//! due times, cancellation, opening by name, and the bad inputs.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{SYNCHRONIZE, TIMER_ALL_ACCESS, TIMER_QUERY_STATE};
use abi::dispatcher::{
    NOTIFICATION_EVENT, NOTIFICATION_TIMER, SYNCHRONIZATION_TIMER, TIMER_BASIC_INFORMATION_CLASS,
    TimerBasicInformation, WAIT_ALL, WAIT_ANY,
};
use abi::nt::ObjectAttributes;
use rt::NtStatus;
use rt::syscall::{
    exit_thread, nt_cancel_timer, nt_create_timer, nt_open_timer, nt_query_timer, nt_set_timer,
};
use rt::tally::Tally;
use rt::thread::create_thread;

use super::{
    BOGUS_HANDLE, KERNEL_ADDRESS, MS, Name, POLL, close, create_event, object_attributes, wait,
    wait_multiple,
};

/// How long a wait for a timer that should fire may take before the case counts as wrong
/// (it only keeps a broken kernel from hanging the program).
const SAFETY: Option<i64> = Some(-2000 * MS);
/// A wait long enough for a timer that should not fire to show it did not.
const QUIET: Option<i64> = Some(-50 * MS);

fn create_timer(timer_type: u32, attributes: Option<&ObjectAttributes>) -> (NtStatus, u64) {
    let mut handle = 0;
    let attributes = attributes.map_or(core::ptr::null(), |a| a as *const ObjectAttributes);
    // SAFETY: the handle is a local; the attributes are null or a caller's local.
    let status = unsafe { nt_create_timer(&mut handle, TIMER_ALL_ACCESS, attributes, timer_type) };
    (status, handle)
}

/// Sets `timer` due at `due` (100 ns units, negative: relative) and every `period` ms;
/// returns the status and the previous state.
fn set_timer(timer: u64, due: i64, period: i32) -> (NtStatus, u8) {
    let mut previous = 0xFF;
    // SAFETY: the due time and previous state are locals.
    let status = unsafe { nt_set_timer(timer, &due, 0, 0, 0, period, &mut previous) };
    (status, previous)
}

fn cancel_timer(timer: u64) -> (NtStatus, u8) {
    let mut current = 0xFF;
    // SAFETY: the current state is a local.
    let status = unsafe { nt_cancel_timer(timer, &mut current) };
    (status, current)
}

fn query_timer(timer: u64) -> Result<TimerBasicInformation, NtStatus> {
    let mut info = TimerBasicInformation::default();
    // SAFETY: the buffer is a local of the size given.
    let status = unsafe {
        nt_query_timer(
            timer,
            TIMER_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<TimerBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status == NtStatus::SUCCESS {
        Ok(info)
    } else {
        Err(status)
    }
}

static TIMER: AtomicU64 = AtomicU64::new(0);
static RELEASED: AtomicU32 = AtomicU32::new(0);

extern "system" fn wait_for_timer(_: u64) -> ! {
    if wait(TIMER.load(Ordering::Relaxed), SAFETY) == NtStatus::SUCCESS {
        RELEASED.fetch_add(1, Ordering::Relaxed);
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Two threads wait on `timer`, set due in 20 ms; returns how many it released (a quiet
/// while after it fired). Any waiter left is released by setting the timer again.
fn waiters_released(timer: u64) -> u32 {
    TIMER.store(timer, Ordering::Relaxed);
    RELEASED.store(0, Ordering::Relaxed);
    let waiters = [0, 1].map(|_| create_thread(wait_for_timer, 0, 0).unwrap_or(0));
    super::objects::let_others_run();
    set_timer(timer, -20 * MS, 0);
    wait_multiple(&waiters, WAIT_ALL, Some(-200 * MS));
    let released = RELEASED.load(Ordering::Relaxed);
    set_timer(timer, -MS, 0);
    wait_multiple(&waiters, WAIT_ALL, SAFETY);
    waiters.into_iter().for_each(close);
    released
}

pub fn timer(t: &mut Tally) {
    // One-shot notification timer: stays signaled.
    let (status, timer) = create_timer(NOTIFICATION_TIMER, None);
    t.status("create a notification timer", status, NtStatus::SUCCESS);
    t.status(
        "a new timer is not signaled",
        wait(timer, POLL),
        NtStatus::TIMEOUT,
    );
    let (status, previous) = set_timer(timer, -20 * MS, 0);
    t.status("set it 20 ms ahead", status, NtStatus::SUCCESS);
    t.value("its previous state", u64::from(previous), 0);
    t.check(
        "an armed timer has time remaining",
        query_timer(timer).is_ok_and(|info| info.remaining_time > 0 && info.timer_state == 0),
        &"state",
    );
    t.status("it fires", wait(timer, SAFETY), NtStatus::SUCCESS);
    t.status(
        "a notification timer stays signaled",
        wait(timer, POLL),
        NtStatus::SUCCESS,
    );
    t.check(
        "query: signaled, nothing remaining",
        query_timer(timer).is_ok_and(|info| info.remaining_time == 0 && info.timer_state == 1),
        &"state",
    );
    let (status, previous) = set_timer(timer, -5000 * MS, 0);
    t.status("set it again", status, NtStatus::SUCCESS);
    t.value("the previous state was signaled", u64::from(previous), 1);
    t.status("setting resets it", wait(timer, POLL), NtStatus::TIMEOUT);
    let (status, current) = cancel_timer(timer);
    t.status("cancel it", status, NtStatus::SUCCESS);
    t.value("its state when cancelled", u64::from(current), 0);
    t.status(
        "a cancelled timer does not fire",
        wait(timer, QUIET),
        NtStatus::TIMEOUT,
    );
    t.value(
        "two waiters on a notification timer",
        u64::from(waiters_released(timer)),
        2,
    );
    close(timer);

    // One-shot synchronization timer: releases one wait.
    let (_, timer) = create_timer(SYNCHRONIZATION_TIMER, None);
    set_timer(timer, -20 * MS, 0);
    t.status(
        "a synchronization timer fires",
        wait(timer, SAFETY),
        NtStatus::SUCCESS,
    );
    t.status("and resets", wait(timer, POLL), NtStatus::TIMEOUT);
    t.value(
        "two waiters on a synchronization timer",
        u64::from(waiters_released(timer)),
        1,
    );
    close(timer);

    // Periodic: fires every period until cancelled.
    let (_, timer) = create_timer(SYNCHRONIZATION_TIMER, None);
    let (status, _) = set_timer(timer, -10 * MS, 10);
    t.status("set a periodic timer", status, NtStatus::SUCCESS);
    let fired = (0..5)
        .filter(|_| wait(timer, SAFETY) == NtStatus::SUCCESS)
        .count();
    t.value("a periodic timer fires again and again", fired as u64, 5);
    cancel_timer(timer);
    wait(timer, POLL);
    t.status(
        "a cancelled periodic timer stops",
        wait(timer, QUIET),
        NtStatus::TIMEOUT,
    );
    let event = create_event(NOTIFICATION_EVENT, false);
    set_timer(timer, -20 * MS, 0);
    t.status(
        "WaitAny names the timer",
        wait_multiple(&[event, timer], WAIT_ANY, SAFETY),
        NtStatus(1),
    );
    close(event);

    // Absolute due times count from boot (there is no wall clock yet).
    let (status, _) = set_timer(timer, 1, 0);
    t.status("an absolute time in the past", status, NtStatus::SUCCESS);
    t.status(
        "signals the timer at once",
        wait(timer, POLL),
        NtStatus::SUCCESS,
    );
    set_timer(timer, i64::MAX / 2, 0);
    t.status(
        "an absolute time far ahead",
        wait(timer, QUIET),
        NtStatus::TIMEOUT,
    );
    cancel_timer(timer);
    close(timer);

    named_and_bad(t);
}

fn named_and_bad(t: &mut Tally) {
    let name = Name::new("\\BaseNamedObjects\\SyncTestTimer");
    let string = name.string();
    let attributes = object_attributes(&string, 0);
    let (status, timer) = create_timer(NOTIFICATION_TIMER, Some(&attributes));
    t.status("create a named timer", status, NtStatus::SUCCESS);
    let mut opened = 0;
    // SAFETY: the handle and attributes are locals.
    let status =
        unsafe { nt_open_timer(&mut opened, TIMER_QUERY_STATE | SYNCHRONIZE, &attributes) };
    t.status("open it by name for query", status, NtStatus::SUCCESS);
    t.status(
        "set without TIMER_MODIFY_STATE",
        set_timer(opened, -MS, 0).0,
        NtStatus::ACCESS_DENIED,
    );
    t.status(
        "cancel without TIMER_MODIFY_STATE",
        cancel_timer(opened).0,
        NtStatus::ACCESS_DENIED,
    );
    set_timer(timer, -20 * MS, 0);
    t.status(
        "wait through the opened handle",
        wait(opened, SAFETY),
        NtStatus::SUCCESS,
    );
    close(opened);

    t.status(
        "create type 2",
        create_timer(2, None).0,
        NtStatus::INVALID_PARAMETER,
    );
    t.status(
        "period -1",
        set_timer(timer, -MS, -1).0,
        NtStatus::INVALID_PARAMETER_6,
    );
    // SAFETY: a NULL due time; the kernel must refuse it.
    let status =
        unsafe { nt_set_timer(timer, core::ptr::null(), 0, 0, 0, 0, core::ptr::null_mut()) };
    t.status("a NULL due time", status, NtStatus::ACCESS_VIOLATION);
    // SAFETY: the kernel must refuse the kernel address before touching it.
    let status = unsafe {
        nt_set_timer(
            timer,
            KERNEL_ADDRESS as *const i64,
            0,
            0,
            0,
            0,
            core::ptr::null_mut(),
        )
    };
    t.status(
        "a due time at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let due = -MS;
    // SAFETY: the due time is a local; the previous state points into the kernel.
    let status = unsafe { nt_set_timer(timer, &due, 0, 0, 0, 0, KERNEL_ADDRESS as *mut u8) };
    t.status(
        "a previous state at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: the due time is a local; ResumeTimer asks for what cannot be done.
    let status = unsafe { nt_set_timer(timer, &due, 0, 0, 1, 0, core::ptr::null_mut()) };
    t.status(
        "ResumeTimer is ignored",
        status,
        NtStatus::TIMER_RESUME_IGNORED,
    );
    // SAFETY: the due time is a local; the kernel must refuse the routines.
    let status =
        unsafe { nt_set_timer(timer, &due, KERNEL_ADDRESS, 0, 0, 0, core::ptr::null_mut()) };
    t.status("a kernel APC routine", status, NtStatus::INVALID_PARAMETER);
    // Every process ntdll is mapped into has its KiUserApcDispatcher, so a user routine is
    // taken. It never runs: the timer is cancelled long before it is due.
    let far = -10_000 * MS;
    // SAFETY: the due time is a local.
    let status = unsafe { nt_set_timer(timer, &far, 0x1000, 0, 0, 0, core::ptr::null_mut()) };
    t.status(
        "an APC routine, for ntdll's dispatcher",
        status,
        NtStatus::SUCCESS,
    );
    t.status(
        "cancelled before it is due",
        cancel_timer(timer).0,
        NtStatus::SUCCESS,
    );
    t.status(
        "set a bogus handle",
        set_timer(BOGUS_HANDLE, -MS, 0).0,
        NtStatus::INVALID_HANDLE,
    );
    let event = create_event(NOTIFICATION_EVENT, false);
    t.status(
        "set an event",
        set_timer(event, -MS, 0).0,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    t.status(
        "cancel an event",
        cancel_timer(event).0,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    close(event);
    let mut buffer = [0u64; 2];
    // SAFETY: the buffer is a local; the length is wrong.
    let status = unsafe {
        nt_query_timer(
            timer,
            0,
            buffer.as_mut_ptr().cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    t.status(
        "query with a short buffer",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    // An armed periodic timer whose last handle closes goes away with it.
    set_timer(timer, -MS, 1);
    close(timer);
    super::objects::let_others_run();
    // SAFETY: as above; the name went with the last handle.
    let status = unsafe { nt_open_timer(&mut opened, TIMER_ALL_ACCESS, &attributes) };
    t.status(
        "a closed armed timer is gone",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );
}
