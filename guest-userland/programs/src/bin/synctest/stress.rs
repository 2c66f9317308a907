//! Stress: an event ping-pong between two threads that must lose no wakeup, and a storm of
//! threads waking and waiting at random on events, semaphores and mutants that must end
//! with every thread accounted for.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{EVENT_ALL_ACCESS, MUTANT_ALL_ACCESS, SEMAPHORE_ALL_ACCESS};
use abi::dispatcher::{SYNCHRONIZATION_EVENT, WAIT_ALL, WAIT_ANY};
use rt::NtStatus;
use rt::syscall::{
    exit_thread, nt_create_event, nt_create_mutant, nt_create_semaphore, nt_release_mutant,
    nt_release_semaphore, nt_set_event, nt_yield_execution,
};
use rt::tally::Tally;
use rt::thread::create_thread;

use super::processors::start_pinned;
use super::{MS, basic_information, close, create_event, wait, wait_multiple};

/// Event signals of the ping-pong (each thread sets its peer's event half of them), unless
/// the command line gives another count.
static PING_PONG_SIGNALS: AtomicU32 = AtomicU32::new(100_000);
/// Threads in the storm, and the actions each takes.
const STORM_THREADS: usize = 256;
const STORM_ACTIONS: u32 = 200;
/// Objects the storm's threads share.
const STORM_EVENTS: usize = 8;
const STORM_SEMAPHORES: usize = 4;
const STORM_MUTANTS: usize = 4;
const STORM_OBJECTS: usize = STORM_EVENTS + STORM_SEMAPHORES + STORM_MUTANTS;
/// A storm thread's exit status: this plus its index.
const STORM_EXIT_BASE: u32 = 0x1000;
/// The longest any wait for the whole storm or ping-pong may take before it counts as
/// lost (a broken kernel must not hang the program).
const SAFETY: Option<i64> = Some(-60_000 * MS);

static PING: AtomicU64 = AtomicU64::new(0);
static PONG: AtomicU64 = AtomicU64::new(0);
static PINGS_SEEN: AtomicU32 = AtomicU32::new(0);
static PONGS_SEEN: AtomicU32 = AtomicU32::new(0);

fn set(event: u64) {
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(event, core::ptr::null_mut()) };
}

/// Sets the ping-pong's signal count (even: each thread sends half).
pub fn set_ping_pong_signals(signals: u32) {
    PING_PONG_SIGNALS.store(signals & !1, Ordering::Relaxed);
}

/// Waits for `mine`, sets `peer`, `PING_PONG_SIGNALS / 2` times; the first thread starts.
extern "system" fn ping_ponger(first: u64) -> ! {
    let (mine, peer, seen) = if first != 0 {
        (
            PING.load(Ordering::Relaxed),
            PONG.load(Ordering::Relaxed),
            &PINGS_SEEN,
        )
    } else {
        (
            PONG.load(Ordering::Relaxed),
            PING.load(Ordering::Relaxed),
            &PONGS_SEEN,
        )
    };
    for round in 0..PING_PONG_SIGNALS.load(Ordering::Relaxed) / 2 {
        if first != 0 && round == 0 {
            set(peer);
            continue;
        }
        if wait(mine, SAFETY) != NtStatus::SUCCESS {
            exit_thread(NtStatus::TIMEOUT);
        }
        seen.fetch_add(1, Ordering::Relaxed);
        set(peer);
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Two threads hand two synchronization events back and forth; every signal must wake
/// the peer. With several processors the threads keep to processors 0 and 1, so every
/// wakeup crosses from one to the other.
pub fn ping_pong(t: &mut Tally) {
    let signals = PING_PONG_SIGNALS.load(Ordering::Relaxed);
    let several = rt::process::active_processors().is_ok_and(|active| active.count_ones() >= 2);
    let (first_mask, second_mask) = if several { (1, 2) } else { (1, 1) };
    PING.store(
        create_event(SYNCHRONIZATION_EVENT, false),
        Ordering::Relaxed,
    );
    PONG.store(
        create_event(SYNCHRONIZATION_EVENT, false),
        Ordering::Relaxed,
    );
    let (Some(first), Some(second)) = (
        start_pinned(ping_ponger, 1, first_mask, 8),
        start_pinned(ping_ponger, 0, second_mask, 8),
    ) else {
        t.check("create the ping-pong threads", false, &"failed");
        return;
    };
    // A minute, or a tenth of a millisecond a signal when that is longer (a million
    // across processors on a loaded host).
    let whole_run = SAFETY.map(|safety| safety.min(-i64::from(signals) * MS / 10));
    t.status(
        "both threads finish",
        wait_multiple(&[first, second], WAIT_ALL, whole_run),
        NtStatus::SUCCESS,
    );
    for (name, thread) in [("the first thread", first), ("the second thread", second)] {
        let status = basic_information(thread).map_or(u32::MAX, |info| info.exit_status);
        t.value(name, u64::from(status), 0);
        close(thread);
    }
    // The first thread's opening set is not a wakeup of its own: it sees one fewer.
    let seen = PINGS_SEEN.load(Ordering::Relaxed) + PONGS_SEEN.load(Ordering::Relaxed);
    t.value("no wakeup lost", u64::from(seen), u64::from(signals - 1));
    let across = if several {
        " across two processors"
    } else {
        ""
    };
    rt::println!("ping-pong: {signals} signals{across}, {seen} wakeups");
    close(PING.load(Ordering::Relaxed));
    close(PONG.load(Ordering::Relaxed));
}

/// The storm's objects: events, then semaphores, then mutants.
static OBJECTS: [AtomicU64; STORM_OBJECTS] = [const { AtomicU64::new(0) }; STORM_OBJECTS];
static FINISHED: AtomicU32 = AtomicU32::new(0);
static MUTANTS_HELD: AtomicU32 = AtomicU32::new(0);
/// Seconds the storm lasts at least (each thread goes on past its actions until then),
/// from the command line; its end as a TSC value, and the actions taken.
static STORM_SECONDS: AtomicU32 = AtomicU32::new(0);
static STORM_UNTIL: AtomicU64 = AtomicU64::new(0);
static STORM_ACTIONS_TAKEN: AtomicU64 = AtomicU64::new(0);

/// Makes the storm last at least `seconds`.
pub fn set_storm_seconds(seconds: u32) {
    STORM_SECONDS.store(seconds, Ordering::Relaxed);
}

/// xorshift64: the storm's randomness, seeded per thread.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn object(index: usize) -> u64 {
    OBJECTS[index].load(Ordering::Relaxed)
}

/// After a wait on the storm's object `index` succeeded: gives a mutant back.
fn release_if_mutant(index: usize) {
    if index >= STORM_EVENTS + STORM_SEMAPHORES {
        // SAFETY: no previous-count pointer.
        let status = unsafe { nt_release_mutant(object(index), core::ptr::null_mut()) };
        if status == NtStatus::SUCCESS {
            MUTANTS_HELD.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Signals, waits (each with a short timeout), yields and sleeps at random; exits with
/// STORM_EXIT_BASE + its index.
extern "system" fn storm_thread(index: u64) -> ! {
    let mut state = 0x9E37_79B9_7F4A_7C15 ^ (index + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut taken = 0;
    while taken < STORM_ACTIONS || rt::rdtsc() < STORM_UNTIL.load(Ordering::Relaxed) {
        taken += 1;
        let choice = next(&mut state);
        let target = (choice >> 8) as usize % STORM_OBJECTS;
        let timeout = Some(-(((choice >> 20) % 5 + 1) as i64) * MS);
        match choice % 6 {
            0 => set(object((choice >> 8) as usize % STORM_EVENTS)),
            1 => {
                let semaphore = object(STORM_EVENTS + (choice >> 8) as usize % STORM_SEMAPHORES);
                // SAFETY: no previous-count pointer; past the limit is refused, not harmful.
                unsafe { nt_release_semaphore(semaphore, 1, core::ptr::null_mut()) };
            }
            2 => {
                if wait(object(target), timeout) == NtStatus::SUCCESS {
                    release_if_mutant(target);
                }
            }
            3 => {
                let picks = [
                    target,
                    (target + 5) % STORM_OBJECTS,
                    (target + 11) % STORM_OBJECTS,
                ];
                let handles = picks.map(object);
                let status = wait_multiple(&handles, WAIT_ANY, timeout);
                if status.0 < 3 {
                    release_if_mutant(picks[status.0 as usize]);
                }
            }
            4 => {
                // SAFETY: no arguments.
                unsafe { nt_yield_execution() };
            }
            _ => {
                let interval = -MS;
                // SAFETY: the interval is a local.
                unsafe { rt::syscall::nt_delay_execution(0, &interval) };
            }
        }
    }
    STORM_ACTIONS_TAKEN.fetch_add(u64::from(taken), Ordering::Relaxed);
    FINISHED.fetch_add(1, Ordering::Relaxed);
    exit_thread(NtStatus(STORM_EXIT_BASE + index as u32))
}

/// STORM_THREADS threads wake and wait at random; every one must finish with its own
/// exit status.
pub fn storm(t: &mut Tally) {
    for (index, slot) in OBJECTS.iter().enumerate() {
        let mut handle = 0;
        // SAFETY: the handle is a local; no attributes.
        let status = unsafe {
            if index < STORM_EVENTS {
                nt_create_event(
                    &mut handle,
                    EVENT_ALL_ACCESS,
                    core::ptr::null(),
                    SYNCHRONIZATION_EVENT,
                    0,
                )
            } else if index < STORM_EVENTS + STORM_SEMAPHORES {
                nt_create_semaphore(
                    &mut handle,
                    SEMAPHORE_ALL_ACCESS,
                    core::ptr::null(),
                    0,
                    1000,
                )
            } else {
                nt_create_mutant(&mut handle, MUTANT_ALL_ACCESS, core::ptr::null(), 0)
            }
        };
        if status != NtStatus::SUCCESS {
            t.status("create the storm's objects", status, NtStatus::SUCCESS);
            return;
        }
        slot.store(handle, Ordering::Relaxed);
    }
    let mut timings = abi::diagnostics::ArchitectureTimings::default();
    // SAFETY: a local of the right type.
    unsafe { rt::syscall::nt_query_architecture_timings(&mut timings) };
    let seconds = STORM_SECONDS.load(Ordering::Relaxed);
    let start = rt::rdtsc();
    STORM_UNTIL.store(
        start + u64::from(seconds) * 1000 * timings.tsc_khz,
        Ordering::Relaxed,
    );
    let mut threads = [0u64; STORM_THREADS];
    for (index, thread) in threads.iter_mut().enumerate() {
        match create_thread(storm_thread, index as u64, 0) {
            Ok(handle) => *thread = handle,
            Err(status) => {
                t.status("create the storm's threads", status, NtStatus::SUCCESS);
                return;
            }
        }
    }
    let whole_storm = SAFETY.map(|safety| safety - i64::from(seconds) * 1000 * MS);
    let ended = threads
        .chunks(abi::dispatcher::MAXIMUM_WAIT_OBJECTS)
        .all(|chunk| wait_multiple(chunk, WAIT_ALL, whole_storm) == NtStatus::SUCCESS);
    t.check("every storm thread ended", ended, &"a wait timed out");
    let elapsed_ms = (rt::rdtsc() - start) / timings.tsc_khz.max(1);
    rt::println!(
        "storm: {} actions by {STORM_THREADS} threads in {elapsed_ms} ms",
        STORM_ACTIONS_TAKEN.load(Ordering::Relaxed)
    );
    t.value(
        "every storm thread finished its actions",
        u64::from(FINISHED.load(Ordering::Relaxed)),
        STORM_THREADS as u64,
    );
    let right_statuses = threads.iter().enumerate().filter(|&(index, &thread)| {
        basic_information(thread)
            .is_ok_and(|info| info.exit_status == STORM_EXIT_BASE + index as u32)
    });
    t.value(
        "every storm thread exited with its own status",
        right_statuses.count() as u64,
        STORM_THREADS as u64,
    );
    t.check(
        "mutants were acquired and released",
        MUTANTS_HELD.load(Ordering::Relaxed) > 0,
        &"none",
    );
    rt::println!(
        "storm: {STORM_THREADS} threads, {} mutant acquisitions released",
        MUTANTS_HELD.load(Ordering::Relaxed)
    );
    threads.into_iter().for_each(close);
    OBJECTS
        .iter()
        .for_each(|slot| close(slot.load(Ordering::Relaxed)));
}
