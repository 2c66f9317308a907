//! Priorities: strict priority order and preemption, base priorities and process priority
//! classes, affinity, wait-completion boosts and their decay, and the bad inputs.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{SEMAPHORE_ALL_ACCESS, THREAD_QUERY_INFORMATION};
use abi::dispatcher::{
    NOTIFICATION_EVENT, PROCESS_BASE_PRIORITY_CLASS, PROCESS_PRIORITY_CLASS_ABOVE_NORMAL,
    PROCESS_PRIORITY_CLASS_BELOW_NORMAL, PROCESS_PRIORITY_CLASS_HIGH, PROCESS_PRIORITY_CLASS_IDLE,
    PROCESS_PRIORITY_CLASS_INFORMATION_CLASS, PROCESS_PRIORITY_CLASS_NORMAL,
    PROCESS_PRIORITY_CLASS_REALTIME, ProcessPriorityClass, SYNCHRONIZATION_EVENT,
    THREAD_AFFINITY_MASK_CLASS, THREAD_BASE_PRIORITY_CLASS, THREAD_BASE_PRIORITY_IDLE,
    THREAD_BASE_PRIORITY_LOWRT, THREAD_CREATE_FLAGS_CREATE_SUSPENDED, THREAD_PRIORITY_CLASS,
    WAIT_ALL,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::NtStatus;
use rt::syscall::{
    exit_thread, nt_create_semaphore, nt_duplicate_object, nt_release_semaphore, nt_resume_thread,
    nt_set_event, nt_set_information_process, nt_set_information_thread,
};
use rt::tally::{ExpectedValue, Tally};
use rt::thread::{StartRoutine, create_thread};

use super::log::OrderLog;
use super::{
    BOGUS_HANDLE, KERNEL_ADDRESS, MS, basic_information, close, create_event, wait, wait_multiple,
};

/// The (priority, base priority) of a thread, or (0, 0) when the query fails.
fn priorities(thread: u64) -> (i32, i32) {
    basic_information(thread).map_or((0, 0), |info| (info.priority, info.base_priority))
}

pub(super) fn set_thread_value<T>(thread: u64, class: u32, value: &T) -> NtStatus {
    // SAFETY: `value` is a caller's local of the size given.
    unsafe {
        nt_set_information_thread(
            thread,
            class,
            (value as *const T).cast(),
            size_of::<T>() as u32,
        )
    }
}

pub(super) fn set_priority(thread: u64, priority: i32) -> NtStatus {
    set_thread_value(thread, THREAD_PRIORITY_CLASS, &priority)
}

fn set_base_priority(thread: u64, increment: i32) -> NtStatus {
    set_thread_value(thread, THREAD_BASE_PRIORITY_CLASS, &increment)
}

fn set_priority_class(priority_class: u8) -> NtStatus {
    let value = ProcessPriorityClass {
        foreground: 0,
        priority_class,
    };
    // SAFETY: `value` is a local of the size given.
    unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_PRIORITY_CLASS_INFORMATION_CLASS,
            (&raw const value).cast(),
            size_of::<ProcessPriorityClass>() as u32,
        )
    }
}

fn set_process_base_priority(base: i32) -> NtStatus {
    // SAFETY: `base` is a local of the size given.
    unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_BASE_PRIORITY_CLASS,
            (&raw const base).cast(),
            4,
        )
    }
}

pub(super) fn resume(thread: u64) -> NtStatus {
    // SAFETY: no previous-count pointer.
    unsafe { nt_resume_thread(thread, core::ptr::null_mut()) }
}

/// Creates a suspended thread at `priority` running `start(argument)`.
fn create_at(start: StartRoutine, argument: u64, priority: i32) -> Option<u64> {
    let thread = create_thread(start, argument, THREAD_CREATE_FLAGS_CREATE_SUSPENDED).ok()?;
    (set_priority(thread, priority) == NtStatus::SUCCESS).then_some(thread)
}

static FLAG: AtomicU32 = AtomicU32::new(0);

extern "system" fn raise_flag(value: u64) -> ! {
    FLAG.store(value as u32, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// Where each thread of the ordering test writes what it is, in the order they run.
static LOG: OrderLog = OrderLog::new();

extern "system" fn log_self(value: u64) -> ! {
    LOG.append(value);
    exit_thread(NtStatus::SUCCESS)
}

/// Strict priority order, preemption, base priorities, classes, affinity, bad inputs.
pub fn priority(t: &mut Tally) {
    super::processors::keep_to_first_processor(t);
    let (priority, base) = priorities(CURRENT_THREAD_HANDLE);
    t.check(
        "a new thread runs at Normal's 8",
        (priority, base) == (8, 8),
        &priority,
    );
    t.value(
        "its affinity is the active processor",
        basic_information(CURRENT_THREAD_HANDLE).map_or(0, |info| info.affinity_mask),
        1,
    );

    // A thread readied above the running one preempts it at once; one below waits.
    FLAG.store(0, Ordering::Relaxed);
    let Some(higher) = create_at(raise_flag, 1, 12) else {
        t.check("create a thread at 12", false, &"failed");
        return;
    };
    t.value(
        "a suspended thread has not run",
        u64::from(FLAG.load(Ordering::Relaxed)),
        0,
    );
    resume(higher);
    t.value(
        "a thread resumed at 12 ran before the resume returned",
        u64::from(FLAG.load(Ordering::Relaxed)),
        1,
    );
    let Some(lower) = create_at(raise_flag, 2, 6) else {
        t.check("create a thread at 6", false, &"failed");
        return;
    };
    resume(lower);
    t.value(
        "a thread resumed at 6 has not run while the creator runs",
        u64::from(FLAG.load(Ordering::Relaxed)),
        1,
    );
    wait(lower, None);
    t.value(
        "it ran when the creator waited",
        u64::from(FLAG.load(Ordering::Relaxed)),
        2,
    );
    close(higher);
    close(lower);

    // Threads readied while a higher one runs run highest first, FIFO within a level.
    t.status(
        "raise this thread's base to the top of its class",
        set_base_priority(CURRENT_THREAD_HANDLE, THREAD_BASE_PRIORITY_LOWRT),
        NtStatus::SUCCESS,
    );
    t.check(
        "base 15",
        priorities(CURRENT_THREAD_HANDLE) == (15, 15),
        &"priorities",
    );
    LOG.clear();
    let order = [5, 11, 3, 13, 9, 7];
    let threads = order.map(|priority| create_at(log_self, priority as u64, priority).unwrap_or(0));
    threads.iter().for_each(|&thread| {
        resume(thread);
    });
    t.value("none ran below the creator", LOG.count(), 0);
    wait_multiple(&threads, WAIT_ALL, None);
    let (log, length) = LOG.snapshot();
    t.check(
        "they ran in priority order",
        length == 6 && log[..6] == [13, 11, 9, 7, 5, 3],
        &LogDisplay(log, length),
    );
    threads.into_iter().for_each(close);
    LOG.clear();
    let peers = [0x10, 0x11, 0x12].map(|tag| create_at(log_self, tag, 10).unwrap_or(0));
    peers.iter().for_each(|&thread| {
        resume(thread);
    });
    wait_multiple(&peers, WAIT_ALL, None);
    let (log, length) = LOG.snapshot();
    t.check(
        "equal priorities run in the order readied",
        length == 3 && log[..3] == [0x10, 0x11, 0x12],
        &LogDisplay(log, length),
    );
    peers.into_iter().for_each(close);
    t.status(
        "lower this thread's base back",
        set_base_priority(CURRENT_THREAD_HANDLE, 0),
        NtStatus::SUCCESS,
    );
    t.check(
        "back at 8",
        priorities(CURRENT_THREAD_HANDLE) == (8, 8),
        &"priorities",
    );

    base_priorities_and_classes(t);
    affinity(t);
    bad_inputs(t);
}

struct LogDisplay([u64; 8], usize);

impl core::fmt::Display for LogDisplay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} entries: {:?}", self.1, &self.0[..self.1.min(8)])
    }
}

extern "system" fn never_runs(_: u64) -> ! {
    exit_thread(NtStatus::UNSUCCESSFUL)
}

/// Relative base priorities, their saturation, and the process priority classes.
fn base_priorities_and_classes(t: &mut Tally) {
    let Ok(other) = create_thread(never_runs, 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    for (increment, expected) in [
        (2, 10),
        (-2, 6),
        (THREAD_BASE_PRIORITY_LOWRT, 15),
        (THREAD_BASE_PRIORITY_IDLE, 1),
        (1, 9),
    ] {
        set_base_priority(other, increment);
        t.check(
            "relative base priority",
            priorities(other) == (expected, expected),
            &ExpectedValue(priorities(other).1 as u64, expected as u64),
        );
    }
    for (name, class, base) in [
        ("class High is 13", PROCESS_PRIORITY_CLASS_HIGH, 13),
        ("class Idle is 4", PROCESS_PRIORITY_CLASS_IDLE, 4),
        (
            "class BelowNormal is 6",
            PROCESS_PRIORITY_CLASS_BELOW_NORMAL,
            6,
        ),
        (
            "class AboveNormal is 10",
            PROCESS_PRIORITY_CLASS_ABOVE_NORMAL,
            10,
        ),
        ("class Realtime is 24", PROCESS_PRIORITY_CLASS_REALTIME, 24),
        ("class Normal is 8", PROCESS_PRIORITY_CLASS_NORMAL, 8),
    ] {
        t.status(name, set_priority_class(class), NtStatus::SUCCESS);
        let process_base = rt::process::query_basic_information(CURRENT_PROCESS_HANDLE)
            .map_or(0, |info| info.base_priority);
        let right = process_base == base
            && priorities(CURRENT_THREAD_HANDLE) == (base, base)
            && priorities(other) == (base + 1, base + 1);
        t.check(
            name,
            right,
            &ExpectedValue(process_base as u64, base as u64),
        );
    }
    set_base_priority(other, THREAD_BASE_PRIORITY_LOWRT);
    set_priority_class(PROCESS_PRIORITY_CLASS_REALTIME);
    t.check(
        "LOWRT under Realtime is 31",
        priorities(other).1 == 31,
        &priorities(other).1,
    );
    set_priority_class(PROCESS_PRIORITY_CLASS_NORMAL);
    t.status(
        "process base priority 12",
        set_process_base_priority(12),
        NtStatus::SUCCESS,
    );
    t.check(
        "threads follow it",
        priorities(CURRENT_THREAD_HANDLE) == (12, 12),
        &"priorities",
    );
    set_priority_class(PROCESS_PRIORITY_CLASS_NORMAL);
    t.check(
        "Normal again",
        priorities(CURRENT_THREAD_HANDLE) == (8, 8),
        &"priorities",
    );
    // SAFETY: the thread is this program's, suspended; it never ran.
    unsafe { rt::syscall::nt_terminate_thread(other, NtStatus::SUCCESS) };
    close(other);
}

fn affinity(t: &mut Tally) {
    t.status(
        "affinity 1",
        set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &1u64),
        NtStatus::SUCCESS,
    );
    let active = rt::process::active_processors().unwrap_or(1);
    for (name, mask) in [
        ("affinity 0", 0u64),
        ("affinity of an inactive processor", active + 1),
        ("affinity of every processor", u64::MAX),
    ] {
        t.status(
            name,
            set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &mask),
            NtStatus::INVALID_PARAMETER,
        );
    }
}

fn bad_inputs(t: &mut Tally) {
    for (name, priority) in [("priority 0", 0), ("priority 32", 32), ("priority -1", -1)] {
        t.status(
            name,
            set_priority(CURRENT_THREAD_HANDLE, priority),
            NtStatus::INVALID_PARAMETER,
        );
    }
    for (name, increment) in [("base +3", 3), ("base -3", -3), ("base +16", 16)] {
        t.status(
            name,
            set_base_priority(CURRENT_THREAD_HANDLE, increment),
            NtStatus::INVALID_PARAMETER,
        );
    }
    t.status(
        "priority with a length of 8",
        set_thread_value(CURRENT_THREAD_HANDLE, THREAD_PRIORITY_CLASS, &8u64),
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    t.status(
        "an unknown thread class",
        set_thread_value(CURRENT_THREAD_HANDLE, 99, &8u32),
        NtStatus::INVALID_INFO_CLASS,
    );
    // SAFETY: the kernel must refuse the kernel address before touching it.
    let status = unsafe {
        nt_set_information_thread(
            CURRENT_THREAD_HANDLE,
            THREAD_PRIORITY_CLASS,
            KERNEL_ADDRESS as *const u8,
            4,
        )
    };
    t.status(
        "priority at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let buffer = [8u32; 2];
    // SAFETY: a misaligned pointer into a local; the kernel must refuse it.
    let status = unsafe {
        nt_set_information_thread(
            CURRENT_THREAD_HANDLE,
            THREAD_PRIORITY_CLASS,
            buffer.as_ptr().cast::<u8>().add(1),
            4,
        )
    };
    t.status(
        "misaligned priority",
        status,
        NtStatus::DATATYPE_MISALIGNMENT,
    );
    let mut query_only = 0;
    // SAFETY: the target handle is a local.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            CURRENT_THREAD_HANDLE,
            CURRENT_PROCESS_HANDLE,
            &mut query_only,
            THREAD_QUERY_INFORMATION,
            0,
            0,
        )
    };
    t.status(
        "a handle without THREAD_SET_INFORMATION",
        set_priority(query_only, 9),
        NtStatus::ACCESS_DENIED,
    );
    close(query_only);
    t.status(
        "a bogus thread handle",
        set_priority(BOGUS_HANDLE, 9),
        NtStatus::INVALID_HANDLE,
    );
    let event = create_event(NOTIFICATION_EVENT, false);
    t.status(
        "an event as a thread",
        set_priority(event, 9),
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    close(event);

    for (name, class) in [("priority class 0", 0), ("priority class 7", 7)] {
        t.status(name, set_priority_class(class), NtStatus::INVALID_PARAMETER);
    }
    for (name, base) in [("process base 0", 0), ("process base 32", 32)] {
        t.status(
            name,
            set_process_base_priority(base),
            NtStatus::INVALID_PARAMETER,
        );
    }
    // SAFETY: a local of the size given; the length is wrong.
    let status = unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_PRIORITY_CLASS_INFORMATION_CLASS,
            buffer.as_ptr().cast(),
            4,
        )
    };
    t.status(
        "priority class with a length of 4",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    // SAFETY: as above; the class is unknown.
    let status = unsafe {
        nt_set_information_process(CURRENT_PROCESS_HANDLE, 99, buffer.as_ptr().cast(), 4)
    };
    t.status(
        "an unknown process class",
        status,
        NtStatus::INVALID_INFO_CLASS,
    );
    // SAFETY: as above; a thread handle is no process handle.
    let status = unsafe {
        nt_set_information_process(
            CURRENT_THREAD_HANDLE,
            PROCESS_BASE_PRIORITY_CLASS,
            buffer.as_ptr().cast(),
            4,
        )
    };
    t.status(
        "a thread as a process",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    t.check(
        "still Normal",
        priorities(CURRENT_THREAD_HANDLE) == (8, 8),
        &"priorities",
    );
}

/// What a woken thread saw: its priority right after the wait, then whether it decayed.
static WOKE_AT: AtomicU32 = AtomicU32::new(0);
static DECAYED_TO: AtomicU32 = AtomicU32::new(0);
static OBJECT: AtomicU64 = AtomicU64::new(0);
/// The watch of a woken thread's priority: slices of user-mode spinning (where clock
/// ticks charge its quantum), a query after each. 100 slices of 10M TSC cycles span many
/// 20 ms quanta at any TSC rate up to 10 GHz.
const WATCH_SLICE_CYCLES: u64 = 10_000_000;
const WATCH_SLICES: u32 = 100;

fn spin_cycles(cycles: u64) {
    let start = rt::rdtsc();
    while rt::rdtsc() - start < cycles {
        core::hint::spin_loop();
    }
}

/// Waits on the shared object and records its priority; then spins in user mode, a slice
/// at a time, recording the lowest priority it sees: until a dynamic priority is back at
/// its base, or for the whole watch at a real-time one.
extern "system" fn wait_and_watch(timeout_ms: u64) -> ! {
    let timeout = (timeout_ms != 0).then(|| -(timeout_ms as i64) * MS);
    wait(OBJECT.load(Ordering::Relaxed), timeout);
    let (priority, base) = priorities(CURRENT_THREAD_HANDLE);
    WOKE_AT.store(priority as u32, Ordering::Relaxed);
    let mut lowest = priority;
    for _ in 0..WATCH_SLICES {
        if priority < 16 && lowest <= base {
            break;
        }
        spin_cycles(WATCH_SLICE_CYCLES);
        lowest = lowest.min(priorities(CURRENT_THREAD_HANDLE).0);
    }
    DECAYED_TO.store(lowest as u32, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// Runs `wait_and_watch` at `setup`'s priority on `object`, signals it with `signal`, and
/// returns (priority when woken, priority it decayed to).
fn watch_wake(object: u64, setup: impl Fn(u64), timeout_ms: u64, signal: impl Fn()) -> (u32, u32) {
    OBJECT.store(object, Ordering::Relaxed);
    WOKE_AT.store(0, Ordering::Relaxed);
    DECAYED_TO.store(0, Ordering::Relaxed);
    let Ok(thread) = create_thread(
        wait_and_watch,
        timeout_ms,
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    ) else {
        return (0, 0);
    };
    setup(thread);
    resume(thread);
    // Let it reach its wait.
    let pause = -10 * MS;
    // SAFETY: the interval is a local.
    unsafe { rt::syscall::nt_delay_execution(0, &pause) };
    signal();
    wait(thread, None);
    close(thread);
    (
        WOKE_AT.load(Ordering::Relaxed),
        DECAYED_TO.load(Ordering::Relaxed),
    )
}

/// Wait-completion boosts, their decay, and their absence for real-time threads and
/// timeouts.
pub fn boost(t: &mut Tally) {
    super::processors::keep_to_first_processor(t);
    let event = create_event(SYNCHRONIZATION_EVENT, false);
    let set = || {
        // SAFETY: no previous-state pointer.
        unsafe { nt_set_event(event, core::ptr::null_mut()) };
    };
    let (woke, decayed) = watch_wake(
        event,
        |_| {},
        0,
        || {
            set();
            // The woken thread ran first: it has recorded its priority already.
            FLAG.store(WOKE_AT.load(Ordering::Relaxed), Ordering::Relaxed);
        },
    );
    t.value(
        "a thread woken by an event is boosted to 9",
        u64::from(woke),
        9,
    );
    t.value(
        "the boosted thread ran before the set returned",
        u64::from(FLAG.load(Ordering::Relaxed)),
        9,
    );
    t.value("its boost decays back to its base 8", u64::from(decayed), 8);

    let mut semaphore = 0;
    // SAFETY: the handle is a local.
    unsafe {
        nt_create_semaphore(
            &mut semaphore,
            SEMAPHORE_ALL_ACCESS,
            core::ptr::null(),
            0,
            1,
        )
    };
    let (woke, decayed) = watch_wake(
        semaphore,
        |_| {},
        0,
        || {
            // SAFETY: no previous-count pointer.
            unsafe { nt_release_semaphore(semaphore, 1, core::ptr::null_mut()) };
        },
    );
    t.value(
        "a thread woken by a semaphore is boosted to 9",
        u64::from(woke),
        9,
    );
    t.value("and decays back to 8", u64::from(decayed), 8);
    close(semaphore);

    let (woke, _) = watch_wake(
        event,
        |thread| {
            set_base_priority(thread, 2);
        },
        0,
        set,
    );
    t.value("a thread based at 10 is boosted to 11", u64::from(woke), 11);
    let (woke, _) = watch_wake(
        event,
        |thread| {
            set_base_priority(thread, THREAD_BASE_PRIORITY_LOWRT);
        },
        0,
        set,
    );
    t.value("a boost stops at 15", u64::from(woke), 15);
    let (woke, decayed) = watch_wake(
        event,
        |thread| {
            set_priority(thread, 16);
        },
        0,
        set,
    );
    t.value("a real-time thread gets no boost", u64::from(woke), 16);
    t.value("nor any decay", u64::from(decayed), 16);
    let never = create_event(NOTIFICATION_EVENT, false);
    let (woke, _) = watch_wake(never, |_| {}, 20, || {});
    t.value("a timeout gives no boost", u64::from(woke), 8);
    close(never);
    close(event);
}

/// Set by the starved thread when it finally runs; the hog spins until then.
static STARVED_RAN: AtomicU32 = AtomicU32::new(0);
/// The starved thread's priority while it ran.
static STARVED_PRIORITY: AtomicU32 = AtomicU32::new(0);
/// How long the hog spins at most (TSC cycles, about 40 s at 2.6 GHz): a kernel without
/// the starvation boost must not hang the program.
const HOG_LIMIT_CYCLES: u64 = 100_000_000_000;

/// Spins in user mode, never waiting, until the starved thread has run; exits with
/// STATUS_SUCCESS then, STATUS_TIMEOUT if it never did.
extern "system" fn hog(_: u64) -> ! {
    let start = rt::rdtsc();
    while STARVED_RAN.load(Ordering::Relaxed) == 0 {
        if rt::rdtsc() - start > HOG_LIMIT_CYCLES {
            exit_thread(NtStatus::TIMEOUT);
        }
        core::hint::spin_loop();
    }
    exit_thread(NtStatus::SUCCESS)
}

extern "system" fn starved(_: u64) -> ! {
    STARVED_PRIORITY.store(
        priorities(CURRENT_THREAD_HANDLE).0 as u32,
        Ordering::Relaxed,
    );
    STARVED_RAN.store(1, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// A thread kept from running by a higher one that never waits gets the starvation boost
/// (after about 4 s) and runs at 15 while the hog still spins.
pub fn starvation(t: &mut Tally) {
    super::processors::keep_to_first_processor(t);
    set_base_priority(CURRENT_THREAD_HANDLE, THREAD_BASE_PRIORITY_LOWRT);
    let (Ok(hog), Ok(starved)) = (
        create_thread(hog, 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED),
        create_thread(starved, 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED),
    ) else {
        t.check("create the threads", false, &"failed");
        return;
    };
    set_base_priority(hog, 1);
    set_base_priority(starved, -2);
    resume(hog);
    resume(starved);
    t.check(
        "neither ran while this thread outranks them",
        priorities(hog) == (9, 9) && STARVED_RAN.load(Ordering::Relaxed) == 0,
        &"state",
    );
    // This thread now waits: the hog runs and spins, the starved thread only runs boosted.
    let both = wait_multiple(&[hog, starved], WAIT_ALL, Some(-120_000 * MS));
    t.status("both threads end", both, NtStatus::SUCCESS);
    let hog_status = basic_information(hog).map_or(0, |info| info.exit_status);
    t.value(
        "the starved thread ran while the hog spun",
        u64::from(hog_status),
        0,
    );
    t.value(
        "boosted to 15",
        u64::from(STARVED_PRIORITY.load(Ordering::Relaxed)),
        15,
    );
    t.check(
        "its base stayed 6",
        priorities(starved).1 == 6,
        &ExpectedValue(priorities(starved).1 as u64, 6),
    );
    close(hog);
    close(starved);
    set_base_priority(CURRENT_THREAD_HANDLE, 0);
}
