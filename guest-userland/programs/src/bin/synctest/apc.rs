//! User APCs: queued to this thread and to another, delivered in order at alertable waits,
//! delays and NtTestAlert with STATUS_USER_APC, kept out of non-alertable waits; alerts;
//! a timer's APC; NtContinue; and the bad inputs.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{THREAD_QUERY_INFORMATION, TIMER_ALL_ACCESS};
use abi::dispatcher::{
    Context, NOTIFICATION_EVENT, PROCESS_USER_APC_DISPATCHER_CLASS, SYNCHRONIZATION_TIMER,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::NtStatus;
use rt::syscall::{
    exit_thread, nt_alert_thread, nt_continue, nt_create_timer, nt_delay_execution,
    nt_duplicate_object, nt_queue_apc_thread, nt_set_information_process, nt_set_timer,
    nt_test_alert, nt_wait_for_single_object,
};
use rt::tally::{ExpectedValue, Tally};
use rt::thread::create_thread;

use super::log::OrderLog;
use super::{BOGUS_HANDLE, KERNEL_ADDRESS, MS, basic_information, close, create_event, wait};

/// What the APCs ran, in order: each appends its first argument.
static LOG: OrderLog = OrderLog::new();
/// The second and third arguments of the last APC, and the thread it ran on.
static LAST_ARGUMENTS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static LAST_THREAD: AtomicU64 = AtomicU64::new(0);

/// The calling thread's ID, from its TEB (`gs:[0x48]`).
fn thread_id() -> u64 {
    let id: u64;
    // SAFETY: user `gs` is the TEB, whose ClientId.UniqueThread is at 0x48; reading it has
    // no side effects.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x48]", out(reg) id, options(nostack, readonly, preserves_flags));
    }
    id
}

extern "system" fn record(argument1: u64, argument2: u64, argument3: u64) {
    LOG.append(argument1);
    LAST_ARGUMENTS[0].store(argument2, Ordering::Relaxed);
    LAST_ARGUMENTS[1].store(argument3, Ordering::Relaxed);
    LAST_THREAD.store(thread_id(), Ordering::Relaxed);
}

fn queue(thread: u64, tag: u64) -> NtStatus {
    // SAFETY: `record` is a routine of this program that stays valid.
    unsafe { nt_queue_apc_thread(thread, record as *const () as u64, tag, tag + 1, tag + 2) }
}

fn delay(alertable: bool, interval: i64) -> NtStatus {
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(u32::from(alertable), &interval) }
}

fn alertable_wait(handle: u64, timeout: i64) -> NtStatus {
    // SAFETY: the timeout is a local.
    unsafe { nt_wait_for_single_object(handle, 1, &timeout) }
}

struct LogDisplay(([u64; 8], usize));

impl core::fmt::Display for LogDisplay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (log, length) = self.0;
        write!(f, "{length} entries: {:?}", &log[..length.min(8)])
    }
}

static WORKER_STATUS: AtomicU32 = AtomicU32::new(0);
static WORKER_ID: AtomicU64 = AtomicU64::new(0);

/// Waits alertably on an event nobody sets, up to 5 s, and exits with how the wait ended.
extern "system" fn alertable_worker(event: u64) -> ! {
    WORKER_ID.store(thread_id(), Ordering::Relaxed);
    let status = alertable_wait(event, -5000 * MS);
    WORKER_STATUS.store(status.0, Ordering::Relaxed);
    exit_thread(status)
}

pub fn apc(t: &mut Tally) {
    let me = CURRENT_THREAD_HANDLE;
    // ntdll's KiUserApcDispatcher serves every process ntdll is mapped into from its start.
    LOG.clear();
    t.status(
        "queue with ntdll's dispatcher",
        queue(me, 1),
        NtStatus::SUCCESS,
    );
    t.status(
        "an alertable delay runs it",
        delay(true, -5000 * MS),
        NtStatus::USER_APC,
    );
    t.value("through KiUserApcDispatcher", LOG.snapshot().0[0], 1);
    t.status(
        "register rt's dispatcher in its place",
        rt::apc::register_dispatcher(),
        NtStatus::SUCCESS,
    );

    // Queued APCs wait for an alertable wait, then all run, in order, with their arguments.
    LOG.clear();
    for tag in [0x10, 0x20, 0x30] {
        queue(me, tag);
    }
    t.value("queued APCs do not run by themselves", LOG.count(), 0);
    let event = create_event(NOTIFICATION_EVENT, false);
    t.status(
        "a non-alertable wait ignores them",
        wait(event, Some(-20 * MS)),
        NtStatus::TIMEOUT,
    );
    t.value("nothing ran in it", LOG.count(), 0);
    t.status(
        "an alertable delay returns STATUS_USER_APC",
        delay(true, -5000 * MS),
        NtStatus::USER_APC,
    );
    let log = LOG.snapshot();
    t.check(
        "the APCs ran in the order queued",
        log.1 == 3 && log.0[..3] == [0x10, 0x20, 0x30],
        &LogDisplay(log),
    );
    t.check(
        "with their arguments",
        LAST_ARGUMENTS[0].load(Ordering::Relaxed) == 0x31
            && LAST_ARGUMENTS[1].load(Ordering::Relaxed) == 0x32,
        &ExpectedValue(LAST_ARGUMENTS[0].load(Ordering::Relaxed), 0x31),
    );
    t.value(
        "on this thread",
        LAST_THREAD.load(Ordering::Relaxed),
        thread_id(),
    );

    LOG.clear();
    queue(me, 0x40);
    t.status(
        "an alertable wait returns STATUS_USER_APC",
        alertable_wait(event, -5000 * MS),
        NtStatus::USER_APC,
    );
    t.value("after the APC ran", LOG.count(), 1);
    queue(me, 0x50);
    // SAFETY: no arguments; the APC runs here.
    let status = unsafe { nt_test_alert() };
    t.status("NtTestAlert", status, NtStatus::SUCCESS);
    t.value("runs the queued APC", LOG.count(), 2);
    t.status(
        "an alertable wait with nothing queued times out",
        alertable_wait(event, -20 * MS),
        NtStatus::TIMEOUT,
    );

    // An APC queued to another thread in an alertable wait ends its wait, on that thread.
    WORKER_STATUS.store(0, Ordering::Relaxed);
    let Ok(worker) = create_thread(alertable_worker, event, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    super::objects::let_others_run();
    LOG.clear();
    t.status(
        "queue to a waiting thread",
        queue(worker, 0x60),
        NtStatus::SUCCESS,
    );
    wait(worker, None);
    t.value(
        "its wait ended with STATUS_USER_APC",
        u64::from(WORKER_STATUS.load(Ordering::Relaxed)),
        u64::from(NtStatus::USER_APC.0),
    );
    t.value(
        "the APC ran on that thread",
        LAST_THREAD.load(Ordering::Relaxed),
        WORKER_ID.load(Ordering::Relaxed),
    );
    t.status(
        "queue to a thread that has exited",
        queue(worker, 0x70),
        NtStatus::UNSUCCESSFUL,
    );
    close(worker);

    timer_apc(t);
    full_queue(t);
    alerts(t, event);
    bad_inputs(t);
    close(event);
}

/// The kernel's bound on a thread's queued user APCs.
const MAXIMUM_QUEUED_USER_APCS: u32 = 1024;

static COUNTED: AtomicU32 = AtomicU32::new(0);

extern "system" fn count(_: u64, _: u64, _: u64) {
    COUNTED.fetch_add(1, Ordering::Relaxed);
}

/// A thread's APC queue is bounded; a full queue refuses more, and all queued ones run.
fn full_queue(t: &mut Tally) {
    COUNTED.store(0, Ordering::Relaxed);
    let queue_count = || {
        // SAFETY: `count` is a routine of this program that stays valid.
        unsafe { nt_queue_apc_thread(CURRENT_THREAD_HANDLE, count as *const () as u64, 0, 0, 0) }
    };
    let accepted = (0..MAXIMUM_QUEUED_USER_APCS)
        .filter(|_| queue_count() == NtStatus::SUCCESS)
        .count();
    t.value(
        "1024 APCs are queued",
        accepted as u64,
        u64::from(MAXIMUM_QUEUED_USER_APCS),
    );
    t.status(
        "the 1025th is refused",
        queue_count(),
        NtStatus::INSUFFICIENT_RESOURCES,
    );
    // SAFETY: no arguments; the APCs run here.
    unsafe { nt_test_alert() };
    t.value(
        "all 1024 ran",
        u64::from(COUNTED.load(Ordering::Relaxed)),
        u64::from(MAXIMUM_QUEUED_USER_APCS),
    );
}

/// A timer set with an APC routine queues it to the setter at expiration.
fn timer_apc(t: &mut Tally) {
    let mut timer = 0;
    // SAFETY: the handle is a local.
    unsafe {
        nt_create_timer(
            &mut timer,
            TIMER_ALL_ACCESS,
            core::ptr::null(),
            SYNCHRONIZATION_TIMER,
        )
    };
    LOG.clear();
    let due = -20 * MS;
    // SAFETY: the due time is a local; `record` stays valid.
    let status = unsafe {
        nt_set_timer(
            timer,
            &due,
            record as *const () as u64,
            0x90,
            0,
            0,
            core::ptr::null_mut(),
        )
    };
    t.status("set a timer with an APC routine", status, NtStatus::SUCCESS);
    t.status(
        "it fires while this thread waits alertably",
        delay(true, -5000 * MS),
        NtStatus::USER_APC,
    );
    let log = LOG.snapshot();
    t.check(
        "the timer's APC ran with its context",
        log.1 == 1 && log.0[0] == 0x90,
        &LogDisplay(log),
    );
    let time = LAST_ARGUMENTS[0].load(Ordering::Relaxed)
        | (LAST_ARGUMENTS[1].load(Ordering::Relaxed) << 32);
    t.check("and the expiration time", time > 0, &ExpectedValue(time, 1));
    t.status(
        "the timer was signaled too",
        wait(timer, Some(0)),
        NtStatus::SUCCESS,
    );
    close(timer);
}

fn alerts(t: &mut Tally, event: u64) {
    WORKER_STATUS.store(0, Ordering::Relaxed);
    let Ok(worker) = create_thread(alertable_worker, event, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    super::objects::let_others_run();
    // SAFETY: the worker is this program's thread.
    t.status(
        "alert a waiting thread",
        unsafe { nt_alert_thread(worker) },
        NtStatus::SUCCESS,
    );
    wait(worker, None);
    t.value(
        "its alertable wait ends with STATUS_ALERTED",
        u64::from(WORKER_STATUS.load(Ordering::Relaxed)),
        u64::from(NtStatus::ALERTED.0),
    );
    close(worker);
    let me = CURRENT_THREAD_HANDLE;
    // SAFETY: alerts this thread.
    unsafe { nt_alert_thread(me) };
    t.status(
        "a non-alertable wait ignores an alert",
        wait(event, Some(0)),
        NtStatus::TIMEOUT,
    );
    // SAFETY: no arguments.
    t.status(
        "NtTestAlert reports it",
        unsafe { nt_test_alert() },
        NtStatus::ALERTED,
    );
    // SAFETY: as above.
    t.status(
        "and consumes it",
        unsafe { nt_test_alert() },
        NtStatus::SUCCESS,
    );
    // SAFETY: alerts this thread.
    unsafe { nt_alert_thread(me) };
    t.status(
        "an alert ends the next alertable delay",
        delay(true, -5000 * MS),
        NtStatus::ALERTED,
    );
}

fn bad_inputs(t: &mut Tally) {
    let me = CURRENT_THREAD_HANDLE;
    LOG.clear();
    // SAFETY: the kernel must refuse these routines before anything runs them.
    unsafe {
        t.status(
            "a NULL routine",
            nt_queue_apc_thread(me, 0, 0, 0, 0),
            NtStatus::INVALID_PARAMETER,
        );
        t.status(
            "a kernel routine",
            nt_queue_apc_thread(me, KERNEL_ADDRESS, 0, 0, 0),
            NtStatus::INVALID_PARAMETER,
        );
    }
    t.status(
        "queue to a bogus handle",
        queue(BOGUS_HANDLE, 1),
        NtStatus::INVALID_HANDLE,
    );
    let event = create_event(NOTIFICATION_EVENT, false);
    t.status(
        "queue to an event",
        queue(event, 1),
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    // SAFETY: as above.
    t.status(
        "alert an event",
        unsafe { nt_alert_thread(event) },
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    close(event);
    let mut query_only = 0;
    // SAFETY: the target handle is a local.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            me,
            CURRENT_PROCESS_HANDLE,
            &mut query_only,
            THREAD_QUERY_INFORMATION,
            0,
            0,
        )
    };
    t.status(
        "queue without THREAD_SET_CONTEXT",
        queue(query_only, 1),
        NtStatus::ACCESS_DENIED,
    );
    // SAFETY: as above.
    t.status(
        "alert without THREAD_ALERT",
        unsafe { nt_alert_thread(query_only) },
        NtStatus::ACCESS_DENIED,
    );
    close(query_only);
    // SAFETY: no arguments; anything queued would run here.
    unsafe { nt_test_alert() };
    t.value("no refused APC was queued", LOG.count(), 0);

    let mut context = Context::ZERO;
    // SAFETY: a misaligned pointer; the kernel must refuse it before using it.
    let status = unsafe { nt_continue((&raw const context).cast::<u8>().add(8).cast(), 0) };
    t.status(
        "NtContinue with a misaligned context",
        status,
        NtStatus::DATATYPE_MISALIGNMENT,
    );
    // SAFETY: the kernel must refuse the kernel address.
    let status = unsafe { nt_continue(KERNEL_ADDRESS as *const Context, 0) };
    t.status(
        "NtContinue with a kernel context",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    context.context_flags = abi::dispatcher::CONTEXT_CONTROL;
    context.rip = KERNEL_ADDRESS;
    context.rsp = 0x1000;
    // SAFETY: the context sends user mode to a kernel address: the kernel must refuse it.
    let status = unsafe { nt_continue(&context, 0) };
    t.status(
        "NtContinue to a kernel rip",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    let bad_dispatcher = KERNEL_ADDRESS;
    // SAFETY: the value is a local of the size given.
    let status = unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_USER_APC_DISPATCHER_CLASS,
            (&raw const bad_dispatcher).cast(),
            8,
        )
    };
    t.status(
        "a kernel APC dispatcher",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    t.value(
        "the thread is still fine",
        basic_information(me).map_or(0, |info| u64::from(info.exit_status)),
        u64::from(NtStatus::PENDING.0),
    );
}
