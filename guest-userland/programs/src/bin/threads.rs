//! `threads`: exercises the dispatcher through its services. Creates threads that count
//! with atomics and exit with distinct statuses, waits for each and reads its exit status
//! back; ping-pongs between two threads on two synchronization events; creates a thread
//! suspended and resumes it; checks that delays end in deadline order, that a spinning
//! thread is preempted at quantum end, timeouts, WaitAny and WaitAll, event semantics and
//! termination of a blocked thread; and passes bad handles, wrong object types, too many
//! handles and bad pointers, each with its status. Prints one `ok:` or `WRONG:` line per
//! case (and the measured cost of a switch) and exits 0 only when every answer was right.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{EVENT_ALL_ACCESS, THREAD_ALL_ACCESS};
use abi::dispatcher::{
    MAXIMUM_WAIT_OBJECTS, NORMAL_BASE_PRIORITY, NOTIFICATION_EVENT, SYNCHRONIZATION_EVENT,
    THREAD_BASIC_INFORMATION_CLASS, THREAD_CREATE_FLAGS_CREATE_SUSPENDED, THREAD_PRIORITY_CLASS,
    ThreadBasicInformation, WAIT_ALL, WAIT_ANY,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::syscall::{
    exit_thread, nt_close, nt_create_event, nt_create_thread_ex, nt_delay_execution,
    nt_pulse_event, nt_query_information_thread, nt_reset_event, nt_resume_thread, nt_set_event,
    nt_set_information_thread, nt_suspend_thread, nt_terminate_thread,
    nt_wait_for_multiple_objects, nt_wait_for_single_object, nt_yield_execution,
};
use rt::thread::create_thread;
use rt::{Args, NtStatus, println};

use rt::tally::{ExpectedValue, Tally};
use rt::wait::wait_for as wait;
use rt::wait::wait_for_multiple as wait_multiple;

rt::entry!(main);

const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
const UNMAPPED_ADDRESS: u64 = 0x0000_0000_1000_0000;
const BOGUS_HANDLE: u64 = 0x1234_5678;
/// 100 ns units per millisecond, for timeouts.
const MS: i64 = 10_000;

const COUNTING_THREADS: u32 = 4;
const INCREMENTS: u32 = 200;
const PING_PONGS: u32 = 200;
const YIELDS: u32 = 200;

fn create_event(event_type: u32, signaled: bool) -> u64 {
    rt::event::create_event(event_type, signaled, false)
        .unwrap_or_else(|status| panic!("NtCreateEvent: {status}"))
}

fn delay(interval: i64) -> NtStatus {
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(0, &interval) }
}

fn set_event(handle: u64) -> NtStatus {
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(handle, core::ptr::null_mut()) }
}

fn close(handle: u64) {
    // SAFETY: the handles closed here are this program's own, no longer used.
    unsafe { nt_close(handle) };
}

fn basic_information(handle: u64) -> Result<ThreadBasicInformation, NtStatus> {
    let mut info = ThreadBasicInformation::default();
    let mut length = 0u32;
    // SAFETY: the buffer and length are locals of the sizes given.
    let status = unsafe {
        nt_query_information_thread(
            handle,
            THREAD_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<ThreadBasicInformation>() as u32,
            &mut length,
        )
    };
    if status == NtStatus::SUCCESS {
        Ok(info)
    } else {
        Err(status)
    }
}

fn main(_args: &Args) -> NtStatus {
    let mut tally = Tally { cases: 0, wrong: 0 };
    counting_threads(&mut tally);
    ping_pong(&mut tally);
    yield_switches(&mut tally);
    teb_follows_its_thread(&mut tally);
    suspended_creation(&mut tally);
    delay_ordering(&mut tally);
    quantum_preemption(&mut tally);
    timeouts(&mut tally);
    events(&mut tally);
    wait_any_and_all(&mut tally);
    terminate_blocked_thread(&mut tally);
    bad_inputs(&mut tally);
    leave_threads_behind(&mut tally);
    println!("threads: {} cases, {} wrong", tally.cases, tally.wrong);
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

extern "system" fn counting_thread(index: u64) -> ! {
    for _ in 0..INCREMENTS {
        COUNTER.fetch_add(1, Ordering::Relaxed);
    }
    exit_thread(NtStatus(0x100 + index as u32))
}

/// N threads count together and exit with 0x100 + their index; each is waited for and its
/// exit status read back.
fn counting_threads(tally: &mut Tally) {
    let mut handles = [0u64; COUNTING_THREADS as usize];
    for (index, handle) in handles.iter_mut().enumerate() {
        match create_thread(counting_thread, index as u64, 0) {
            Ok(created) => *handle = created,
            Err(status) => tally.status("create counting thread", status, NtStatus::SUCCESS),
        }
    }
    for (index, &handle) in handles.iter().enumerate() {
        tally.status(
            "wait for counting thread",
            wait(handle, None),
            NtStatus::SUCCESS,
        );
        let exit_status = basic_information(handle).map_or(0, |info| info.exit_status);
        tally.value(
            "counting thread exit status",
            u64::from(exit_status),
            0x100 + index as u64,
        );
        close(handle);
    }
    tally.value(
        "shared counter",
        u64::from(COUNTER.load(Ordering::Relaxed)),
        u64::from(COUNTING_THREADS * INCREMENTS),
    );
}

static PING: AtomicU64 = AtomicU64::new(0);
static PONG: AtomicU64 = AtomicU64::new(0);
static ROUND_TRIPS: AtomicU32 = AtomicU32::new(0);

extern "system" fn ponger(_: u64) -> ! {
    let (ping, pong) = (PING.load(Ordering::Relaxed), PONG.load(Ordering::Relaxed));
    for _ in 0..PING_PONGS {
        if wait(ping, None) != NtStatus::SUCCESS {
            exit_thread(NtStatus::UNSUCCESSFUL);
        }
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        set_event(pong);
    }
    exit_thread(NtStatus::SUCCESS)
}

extern "system" fn pinger(_: u64) -> ! {
    let (ping, pong) = (PING.load(Ordering::Relaxed), PONG.load(Ordering::Relaxed));
    for _ in 0..PING_PONGS {
        set_event(ping);
        if wait(pong, None) != NtStatus::SUCCESS {
            exit_thread(NtStatus::UNSUCCESSFUL);
        }
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Two threads hand control back and forth through two synchronization events.
fn ping_pong(tally: &mut Tally) {
    PING.store(
        create_event(SYNCHRONIZATION_EVENT, false),
        Ordering::Relaxed,
    );
    PONG.store(
        create_event(SYNCHRONIZATION_EVENT, false),
        Ordering::Relaxed,
    );
    let start = rt::rdtsc();
    let threads = [create_thread(ponger, 0, 0), create_thread(pinger, 0, 0)];
    let [Ok(a), Ok(b)] = threads else {
        tally.check("create ping-pong threads", false, &"failed");
        return;
    };
    tally.status(
        "ping-pong threads end",
        wait_multiple(&[a, b], WAIT_ALL, None),
        NtStatus::SUCCESS,
    );
    let cycles = rt::rdtsc() - start;
    tally.value(
        "ping-pong round trips",
        u64::from(ROUND_TRIPS.load(Ordering::Relaxed)),
        u64::from(PING_PONGS),
    );
    for handle in [a, b] {
        let exit_status = basic_information(handle).map_or(1, |info| info.exit_status);
        tally.value("ping-pong thread status", u64::from(exit_status), 0);
        close(handle);
    }
    close(PING.load(Ordering::Relaxed));
    close(PONG.load(Ordering::Relaxed));
    println!(
        "ping-pong: {} round trips, {} TSC cycles each (2 switches, 2 sets, 2 waits)",
        PING_PONGS,
        cycles / u64::from(PING_PONGS)
    );
}

static YIELD_SWITCHES: AtomicU32 = AtomicU32::new(0);
/// Yielders still in their loop, and the yields that found no thread to go to while the
/// other one was still in its loop (so ready: on one processor it can be nothing else).
static YIELDERS_LOOPING: AtomicU32 = AtomicU32::new(2);
static YIELDS_MISSED: AtomicU32 = AtomicU32::new(0);

extern "system" fn yielder(gate: u64) -> ! {
    wait(gate, None);
    // The gate's set boosted this thread one level (until a quantum end); a yield only goes
    // to a thread of equal or higher priority, so both yielders drop back to their base.
    let base: i32 = NORMAL_BASE_PRIORITY.into();
    // SAFETY: `base` is a local of the size given.
    unsafe {
        nt_set_information_thread(
            CURRENT_THREAD_HANDLE,
            THREAD_PRIORITY_CLASS,
            (&raw const base).cast(),
            4,
        )
    };
    for _ in 0..YIELDS {
        // SAFETY: no arguments.
        if unsafe { nt_yield_execution() } == NtStatus::SUCCESS {
            YIELD_SWITCHES.fetch_add(1, Ordering::Relaxed);
        } else if YIELDERS_LOOPING.load(Ordering::Relaxed) == 2 {
            YIELDS_MISSED.fetch_add(1, Ordering::Relaxed);
        }
    }
    YIELDERS_LOOPING.fetch_sub(1, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// Two threads yield to each other: each yield is one system call and one switch. With
/// several processors the process keeps to processor 0 meanwhile, where its threads yield
/// to each other.
fn yield_switches(tally: &mut Tally) {
    let active = rt::process::active_processors().unwrap_or(1);
    if active != 1 {
        tally.status(
            "keep to processor 0",
            rt::process::set_affinity(CURRENT_PROCESS_HANDLE, 1),
            NtStatus::SUCCESS,
        );
    }
    let start = rt::rdtsc();
    let mut alone = NtStatus::SUCCESS;
    for _ in 0..YIELDS {
        // SAFETY: no arguments.
        alone = unsafe { nt_yield_execution() };
    }
    let cycles = rt::rdtsc() - start;
    tally.status(
        "yield with no other thread ready",
        alone,
        NtStatus::NO_YIELD_PERFORMED,
    );
    println!(
        "yield: {} TSC cycles per yield without a switch",
        cycles / u64::from(YIELDS)
    );
    let gate = create_event(NOTIFICATION_EVENT, false);
    let (Ok(a), Ok(b)) = (
        create_thread(yielder, gate, 0),
        create_thread(yielder, gate, 0),
    ) else {
        tally.check("create yielding threads", false, &"failed");
        return;
    };
    let start = rt::rdtsc();
    set_event(gate);
    tally.status(
        "yielding threads end",
        wait_multiple(&[a, b], WAIT_ALL, None),
        NtStatus::SUCCESS,
    );
    let cycles = rt::rdtsc() - start;
    let switches = YIELD_SWITCHES.load(Ordering::Relaxed);
    // A clock tick may end a quantum between yields, so the two loops need not end
    // together: the last yields of one find no peer. Any other yield must switch.
    tally.value(
        "no yield missed the other ready thread",
        u64::from(YIELDS_MISSED.load(Ordering::Relaxed)),
        0,
    );
    tally.check(
        "most yields switched threads",
        switches >= YIELDS,
        &ExpectedValue(u64::from(switches), u64::from(2 * YIELDS)),
    );
    if active != 1 {
        tally.status(
            "every processor again",
            rt::process::set_affinity(CURRENT_PROCESS_HANDLE, active),
            NtStatus::SUCCESS,
        );
    }
    println!(
        "yield: {} switches, {} TSC cycles per yield and switch",
        switches,
        cycles / u64::from(switches.max(1))
    );
    for handle in [a, b, gate] {
        close(handle);
    }
}

const TEB_THREADS: u64 = 3;
const TEB_ROUNDS: u32 = 300;
static TEB_MISMATCHES: AtomicU32 = AtomicU32::new(0);
static TEB_BASES: [AtomicU64; TEB_THREADS as usize] =
    [const { AtomicU64::new(0) }; TEB_THREADS as usize];

/// `gs`-relative TEB fields: `NtTib.Self` and `ClientId.UniqueThread`.
fn teb_self_and_thread_id() -> (u64, u64) {
    let (teb, thread_id): (u64, u64);
    // SAFETY: user `gs` is based at the TEB, whose Self and ClientId are always readable.
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[0x30]",
            "mov {}, gs:[0x48]",
            out(reg) teb,
            out(reg) thread_id,
            options(nostack, readonly, preserves_flags),
        );
    }
    (teb, thread_id)
}

extern "system" fn teb_checker(index: u64) -> ! {
    let start = teb_self_and_thread_id();
    TEB_BASES[index as usize].store(start.0, Ordering::Relaxed);
    for round in 0..TEB_ROUNDS {
        // Every way back to user mode: after a switch by yield, after a wait that blocked,
        // and after a timer interrupt during a short spin.
        if round % 3 == 0 {
            // SAFETY: no arguments.
            unsafe { nt_yield_execution() };
        } else if round % 3 == 1 {
            delay(-1);
        } else {
            let until = rt::rdtsc() + 20_000;
            while rt::rdtsc() < until {
                core::hint::spin_loop();
            }
        }
        if teb_self_and_thread_id() != start {
            TEB_MISMATCHES.fetch_add(1, Ordering::Relaxed);
        }
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Each thread's `gs` stays based at its own TEB, whatever path took it through the
/// kernel and whichever thread ran meanwhile.
fn teb_follows_its_thread(tally: &mut Tally) {
    let mut handles = [0u64; TEB_THREADS as usize];
    for (index, handle) in handles.iter_mut().enumerate() {
        *handle = create_thread(teb_checker, index as u64, 0).unwrap_or(0);
    }
    tally.status(
        "TEB threads end",
        wait_multiple(&handles, WAIT_ALL, None),
        NtStatus::SUCCESS,
    );
    let mismatches = TEB_MISMATCHES.load(Ordering::Relaxed);
    tally.check(
        "gs stays at the thread's own TEB",
        mismatches == 0,
        &ExpectedValue(u64::from(mismatches), 0),
    );
    let bases = TEB_BASES
        .each_ref()
        .map(|base| base.load(Ordering::Relaxed));
    tally.check(
        "every thread has its own TEB",
        bases[0] != 0 && bases[0] != bases[1] && bases[1] != bases[2] && bases[0] != bases[2],
        &ExpectedValue(bases[1], bases[0]),
    );
    for handle in handles {
        close(handle);
    }
}

static RAN: AtomicU32 = AtomicU32::new(0);

extern "system" fn mark_ran(value: u64) -> ! {
    RAN.store(value as u32, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// A thread created suspended does not run until resumed; suspend counts nest.
fn suspended_creation(tally: &mut Tally) {
    let Ok(thread) = create_thread(mark_ran, 7, THREAD_CREATE_FLAGS_CREATE_SUSPENDED) else {
        tally.check("create suspended thread", false, &"failed");
        return;
    };
    tally.status("delay 20 ms", delay(-20 * MS), NtStatus::SUCCESS);
    tally.value(
        "suspended thread did not run",
        u64::from(RAN.load(Ordering::Relaxed)),
        0,
    );
    tally.status(
        "suspended thread not signaled",
        wait(thread, Some(0)),
        NtStatus::TIMEOUT,
    );
    let exit_status = basic_information(thread).map_or(0, |info| info.exit_status);
    tally.value(
        "running thread's exit status is STATUS_PENDING",
        u64::from(exit_status),
        u64::from(NtStatus::PENDING.0),
    );
    let mut previous = 99;
    // SAFETY: `previous` is a local.
    let status = unsafe { nt_suspend_thread(thread, &mut previous) };
    tally.status("suspend again", status, NtStatus::SUCCESS);
    tally.value("previous suspend count 1", u64::from(previous), 1);
    for expected in [2, 1] {
        // SAFETY: `previous` is a local.
        let status = unsafe { nt_resume_thread(thread, &mut previous) };
        tally.status("resume", status, NtStatus::SUCCESS);
        tally.value("previous suspend count", u64::from(previous), expected);
    }
    tally.status(
        "resumed thread ends",
        wait(thread, Some(-1000 * MS)),
        NtStatus::SUCCESS,
    );
    tally.value(
        "resumed thread ran",
        u64::from(RAN.load(Ordering::Relaxed)),
        7,
    );
    // SAFETY: `previous` is a local.
    let status = unsafe { nt_resume_thread(thread, &mut previous) };
    tally.status("resume an exited thread", status, NtStatus::SUCCESS);
    tally.value("its suspend count was 0", u64::from(previous), 0);
    // SAFETY: as above.
    let status = unsafe { nt_suspend_thread(thread, &mut previous) };
    tally.status(
        "suspend an exited thread",
        status,
        NtStatus::THREAD_IS_TERMINATING,
    );
    close(thread);
}

static WAKE_ORDER: AtomicU64 = AtomicU64::new(0);
static START_SLEEPING: AtomicU64 = AtomicU64::new(0);
/// Delays differ by more than a thread takes to start (milliseconds in emulated kernels).
const SLEEP_STEP_MS: u64 = 50;

extern "system" fn sleeper(milliseconds: u64) -> ! {
    wait(START_SLEEPING.load(Ordering::Relaxed), None);
    delay(-(milliseconds as i64) * MS);
    // Appends this sleeper's delay (in steps) as one hex digit.
    let digit = milliseconds / SLEEP_STEP_MS;
    let _ = WAKE_ORDER.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |order| {
        Some(order << 4 | digit)
    });
    exit_thread(NtStatus::SUCCESS)
}

/// Threads delaying 3, 1 and 2 steps, released together, wake in deadline order.
fn delay_ordering(tally: &mut Tally) {
    let gate = create_event(NOTIFICATION_EVENT, false);
    START_SLEEPING.store(gate, Ordering::Relaxed);
    let mut handles = [0; 3];
    for (handle, steps) in handles.iter_mut().zip([3, 1, 2]) {
        *handle = create_thread(sleeper, steps * SLEEP_STEP_MS, 0).unwrap_or(0);
    }
    set_event(gate);
    tally.status(
        "sleepers end",
        wait_multiple(&handles, WAIT_ALL, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    tally.value(
        "sleepers woke in deadline order",
        WAKE_ORDER.load(Ordering::Relaxed),
        0x123,
    );
    for handle in handles.into_iter().chain([gate]) {
        close(handle);
    }
}

static STOP_SPINNING: AtomicU32 = AtomicU32::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);

extern "system" fn spinner(_: u64) -> ! {
    while STOP_SPINNING.load(Ordering::Relaxed) == 0 {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Two threads spinning in user mode never give the processor up themselves: the main
/// thread's delay still ends (the clock readies it, the spinner's quantum ends), and both
/// spinners make progress (round robin within their priority).
fn quantum_preemption(tally: &mut Tally) {
    let (Ok(a), Ok(b)) = (create_thread(spinner, 0, 0), create_thread(spinner, 1, 0)) else {
        tally.check("create spinners", false, &"failed");
        return;
    };
    tally.status(
        "delay while threads spin",
        delay(-50 * MS),
        NtStatus::SUCCESS,
    );
    let spins = SPINS.load(Ordering::Relaxed);
    STOP_SPINNING.store(1, Ordering::Relaxed);
    tally.status(
        "spinners end",
        wait_multiple(&[a, b], WAIT_ALL, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    tally.check("spinners ran", spins > 0, &ExpectedValue(spins, 1));
    close(a);
    close(b);
}

/// Relative, zero and absolute timeouts on an event nobody sets.
fn timeouts(tally: &mut Tally) {
    let event = create_event(NOTIFICATION_EVENT, false);
    let start = rt::rdtsc();
    tally.status(
        "wait 20 ms times out",
        wait(event, Some(-20 * MS)),
        NtStatus::TIMEOUT,
    );
    let elapsed = rt::rdtsc() - start;
    tally.check(
        "the timeout took time",
        elapsed > 1_000_000,
        &ExpectedValue(elapsed, 1_000_000),
    );
    tally.status(
        "zero timeout polls",
        wait(event, Some(0)),
        NtStatus::TIMEOUT,
    );
    tally.status(
        "absolute time in the past",
        wait(event, Some(1)),
        NtStatus::TIMEOUT,
    );
    tally.status(
        "WaitAny times out",
        wait_multiple(&[event, event], WAIT_ANY, Some(-10 * MS)),
        NtStatus::TIMEOUT,
    );
    close(event);
}

/// Notification events stay signaled, synchronization events reset on a satisfied wait,
/// pulses release nobody when nobody waits, previous states are reported.
fn events(tally: &mut Tally) {
    let notification = create_event(NOTIFICATION_EVENT, true);
    tally.status(
        "signaled notification event",
        wait(notification, Some(0)),
        NtStatus::SUCCESS,
    );
    tally.status(
        "stays signaled",
        wait(notification, Some(0)),
        NtStatus::SUCCESS,
    );
    let mut previous = 7;
    // SAFETY: `previous` is a local.
    let status = unsafe { nt_reset_event(notification, &mut previous) };
    tally.status("reset", status, NtStatus::SUCCESS);
    tally.value("reset: previous state 1", previous as u64, 1);
    tally.status(
        "reset event not signaled",
        wait(notification, Some(0)),
        NtStatus::TIMEOUT,
    );
    // SAFETY: as above.
    let status = unsafe { nt_pulse_event(notification, &mut previous) };
    tally.status("pulse", status, NtStatus::SUCCESS);
    tally.value("pulse: previous state 0", previous as u64, 0);
    tally.status(
        "pulsed event not signaled",
        wait(notification, Some(0)),
        NtStatus::TIMEOUT,
    );

    let synchronization = create_event(SYNCHRONIZATION_EVENT, false);
    // SAFETY: as above.
    let status = unsafe { nt_set_event(synchronization, &mut previous) };
    tally.status("set", status, NtStatus::SUCCESS);
    tally.value("set: previous state 0", previous as u64, 0);
    tally.status(
        "set synchronization event",
        wait(synchronization, Some(0)),
        NtStatus::SUCCESS,
    );
    tally.status(
        "synchronization event reset by the wait",
        wait(synchronization, Some(0)),
        NtStatus::TIMEOUT,
    );
    close(notification);
    close(synchronization);
}

static SIGNAL_LATER: AtomicU64 = AtomicU64::new(0);

extern "system" fn set_after_delay(milliseconds: u64) -> ! {
    delay(-(milliseconds as i64) * MS);
    set_event(SIGNAL_LATER.load(Ordering::Relaxed));
    exit_thread(NtStatus::SUCCESS)
}

/// WaitAny returns the index of the signaled object; WaitAll needs them all.
fn wait_any_and_all(tally: &mut Tally) {
    let unset = create_event(NOTIFICATION_EVENT, false);
    let set = create_event(NOTIFICATION_EVENT, true);
    tally.status(
        "WaitAny returns the signaled index",
        wait_multiple(&[unset, set], WAIT_ANY, Some(0)),
        NtStatus(1),
    );
    tally.status(
        "WaitAll with one unsignaled",
        wait_multiple(&[unset, set], WAIT_ALL, Some(-10 * MS)),
        NtStatus::TIMEOUT,
    );
    SIGNAL_LATER.store(unset, Ordering::Relaxed);
    let thread = create_thread(set_after_delay, 10, 0).unwrap_or(0);
    tally.status(
        "WaitAll ends when the last is set",
        wait_multiple(&[set, unset], WAIT_ALL, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    let waiter = create_event(SYNCHRONIZATION_EVENT, false);
    tally.status(
        "WaitAny on an event and an exited thread",
        wait_multiple(&[waiter, thread], WAIT_ANY, Some(-2000 * MS)),
        NtStatus(1),
    );
    for handle in [unset, set, thread, waiter] {
        close(handle);
    }
}

extern "system" fn wait_for_ever(event: u64) -> ! {
    wait(event, None);
    exit_thread(NtStatus::SUCCESS)
}

/// A thread blocked in a wait is terminated from outside with its status.
fn terminate_blocked_thread(tally: &mut Tally) {
    let never = create_event(NOTIFICATION_EVENT, false);
    let Ok(thread) = create_thread(wait_for_ever, never, 0) else {
        tally.check("create blocked thread", false, &"failed");
        return;
    };
    tally.status("let it block", delay(-10 * MS), NtStatus::SUCCESS);
    // SAFETY: the thread is this program's own.
    let status = unsafe { nt_terminate_thread(thread, NtStatus(0x77)) };
    tally.status("terminate blocked thread", status, NtStatus::SUCCESS);
    tally.status(
        "terminated thread signaled",
        wait(thread, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    let exit_status = basic_information(thread).map_or(0, |info| info.exit_status);
    tally.value(
        "terminated thread's exit status",
        u64::from(exit_status),
        0x77,
    );
    // SAFETY: as above.
    let status = unsafe { nt_terminate_thread(thread, NtStatus(0x78)) };
    tally.status(
        "terminate it again",
        status,
        NtStatus::THREAD_IS_TERMINATING,
    );
    close(thread);
    close(never);
}

/// Bad handles, wrong object types, bad counts and bad pointers.
fn bad_inputs(tally: &mut Tally) {
    let event = create_event(NOTIFICATION_EVENT, false);
    tally.status(
        "wait on a bad handle",
        wait(BOGUS_HANDLE, Some(0)),
        NtStatus::INVALID_HANDLE,
    );
    tally.status(
        "set a thread as an event",
        set_event(CURRENT_THREAD_HANDLE),
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    // SAFETY: no output pointer.
    let status = unsafe { nt_suspend_thread(event, core::ptr::null_mut()) };
    tally.status("suspend an event", status, NtStatus::OBJECT_TYPE_MISMATCH);
    // SAFETY: a bogus handle names nothing.
    let status = unsafe { nt_terminate_thread(BOGUS_HANDLE, NtStatus::SUCCESS) };
    tally.status("terminate a bad handle", status, NtStatus::INVALID_HANDLE);

    let many = [event; MAXIMUM_WAIT_OBJECTS + 1];
    tally.status(
        "65 handles",
        wait_multiple(&many, WAIT_ANY, Some(0)),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "64 handles",
        wait_multiple(&many[..MAXIMUM_WAIT_OBJECTS], WAIT_ANY, Some(0)),
        NtStatus::TIMEOUT,
    );
    tally.status(
        "no handles",
        wait_multiple(&[], WAIT_ANY, Some(0)),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "bad wait type",
        wait_multiple(&[event], 2, Some(0)),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "WaitAll naming an object twice",
        wait_multiple(&[event, event], WAIT_ALL, Some(0)),
        NtStatus::INVALID_PARAMETER_MIX,
    );
    // SAFETY: the kernel must refuse the kernel-space handle array.
    let status = unsafe {
        nt_wait_for_multiple_objects(
            2,
            KERNEL_ADDRESS as *const u64,
            WAIT_ANY,
            0,
            core::ptr::null(),
        )
    };
    tally.status(
        "handle array in kernel space",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: the kernel must refuse the unmapped timeout.
    let status = unsafe { nt_wait_for_single_object(event, 0, UNMAPPED_ADDRESS as *const i64) };
    tally.status("unmapped timeout", status, NtStatus::ACCESS_VIOLATION);
    // SAFETY: as above.
    let status = unsafe { nt_delay_execution(0, core::ptr::null()) };
    tally.status(
        "delay without an interval",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: the kernel must refuse the kernel-space output pointer.
    let status = unsafe {
        nt_create_event(
            KERNEL_ADDRESS as *mut u64,
            EVENT_ALL_ACCESS,
            core::ptr::null(),
            0,
            0,
        )
    };
    tally.status(
        "event handle in kernel space",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let mut handle = 0;
    // SAFETY: `handle` is a local.
    let status = unsafe { nt_create_event(&mut handle, EVENT_ALL_ACCESS, core::ptr::null(), 2, 0) };
    tally.status("bad event type", status, NtStatus::INVALID_PARAMETER);
    // SAFETY: the kernel must refuse the misaligned output pointer.
    let status = unsafe { nt_set_event(event, 0x1001 as *mut i32) };
    tally.status(
        "misaligned previous state",
        status,
        NtStatus::DATATYPE_MISALIGNMENT,
    );

    let mut info = ThreadBasicInformation::default();
    let query = |class: u32, buffer: *mut u8, length: u32| {
        // SAFETY: the buffers are locals or addresses the kernel must refuse.
        unsafe {
            nt_query_information_thread(
                CURRENT_THREAD_HANDLE,
                class,
                buffer,
                length,
                core::ptr::null_mut(),
            )
        }
    };
    let size = size_of::<ThreadBasicInformation>() as u32;
    tally.status(
        "query: bad class",
        query(99, (&raw mut info).cast(), size),
        NtStatus::INVALID_INFO_CLASS,
    );
    tally.status(
        "query: short buffer",
        query(
            THREAD_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size - 8,
        ),
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    tally.status(
        "query: buffer in kernel space",
        query(
            THREAD_BASIC_INFORMATION_CLASS,
            KERNEL_ADDRESS as *mut u8,
            size,
        ),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "query: current thread",
        query(THREAD_BASIC_INFORMATION_CLASS, (&raw mut info).cast(), size),
        NtStatus::SUCCESS,
    );
    // The current priority may carry a wait boost (NT's: an event set by another thread
    // raises its waiter one level until its quantum ends); the base is the class's.
    tally.value("query: base priority 8", info.base_priority as u64, 8);
    tally.value(
        "query: running",
        u64::from(info.exit_status),
        u64::from(NtStatus::PENDING.0),
    );

    let mut thread = 0;
    let create = |thread: &mut u64, start: u64, flags: u32| {
        // SAFETY: `thread` is a local; the start routines are refused before any thread runs.
        unsafe {
            nt_create_thread_ex(
                thread,
                THREAD_ALL_ACCESS,
                core::ptr::null(),
                CURRENT_PROCESS_HANDLE,
                start,
                0,
                flags,
                0,
                0,
                0,
                0,
            )
        }
    };
    tally.status(
        "create: undefined flag",
        create(&mut thread, mark_ran as *const () as u64, 0x100),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "create: kernel start routine",
        create(&mut thread, KERNEL_ADDRESS, 0),
        NtStatus::INVALID_PARAMETER,
    );
    // SAFETY: the kernel must refuse the kernel-space handle pointer before creating.
    let status = unsafe {
        nt_create_thread_ex(
            KERNEL_ADDRESS as *mut u64,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            CURRENT_PROCESS_HANDLE,
            mark_ran as *const () as u64,
            0,
            0,
            0,
            0,
            0,
            0,
        )
    };
    tally.status(
        "create: handle in kernel space",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: an event handle is not a process handle; nothing is created.
    let status = unsafe {
        nt_create_thread_ex(
            &mut thread,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            event,
            mark_ran as *const () as u64,
            0,
            0,
            0,
            0,
            0,
            0,
        )
    };
    tally.status(
        "create: event as process",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    // SAFETY: NULL names the caller, the process's last thread here.
    let status = unsafe { nt_terminate_thread(0, NtStatus::SUCCESS) };
    tally.status(
        "terminate NULL as the last thread",
        status,
        NtStatus::CANT_TERMINATE_SELF,
    );
    close(event);
}

/// Threads still blocked, suspended and ready when main returns: ending the process ends
/// them all first, and the process exits with main's status.
fn leave_threads_behind(tally: &mut Tally) {
    let never = create_event(NOTIFICATION_EVENT, false);
    STOP_SPINNING.store(0, Ordering::Relaxed);
    let blocked = create_thread(wait_for_ever, never, 0);
    let suspended = create_thread(mark_ran, 9, THREAD_CREATE_FLAGS_CREATE_SUSPENDED);
    let spinning = create_thread(spinner, 0, 0);
    tally.check(
        "threads left running at exit",
        blocked.is_ok() && suspended.is_ok() && spinning.is_ok(),
        &"not created",
    );
}
