//! `stress SECONDS [SEED]`: for SECONDS of TSC time, four worker threads each run a mix of
//! operations drawn from a xorshift64 generator seeded with SEED (default 1) and the
//! worker's index, so a seed always gives the same sequence per worker (the interleaving is
//! the scheduler's):
//! - processes: `exit N` run to its end, or created suspended and resumed (half of them
//!   with NtCreateUserProcess, half the classic way: NtCreateSection, NtCreateProcessEx,
//!   NtCreateThread); children terminated while suspended, while running and blocked
//!   (`stress child`), or wherever their four chaos threads are (`stress chaos`);
//! - threads woken from a wait on a notification event, a synchronization event or a
//!   semaphore; event ping-pongs (NtSetEvent or NtSignalAndWaitForSingleObject); a
//!   semaphore stream from the worker to a consumer;
//! - a thread suspended (once or twice) while it waits, signaled, shown not to run, resumed;
//! - threads terminated from outside while running, blocked, suspended at creation,
//!   suspended while blocked, or owning a mutant (whose next owner must see it abandoned);
//!   chaos threads (random waits, WaitAll, mutants, timers with APCs, APCs to themselves)
//!   suspended, sent APCs and alerts, then terminated wherever they are;
//! - user APCs queued to the worker itself (run by NtTestAlert) and to a thread in
//!   alertable waits or delays; alerts ending an alertable wait;
//! - threads contending for a mutant around an unprotected read-yield-write.
//!
//! Every wait has a 10 s safety timeout, so a lost wakeup is a wrong answer, not a hang.
//! Each kind keeps two counts that must come out equal (created and waited for with the
//! expected exit status, signals sent and received, APCs queued and run, ...). At the end
//! everything is waited for and closed, and the thread, process, handle, pool and frame
//! counters must be back where they started (the pool's pages to within one). A first
//! round of every operation runs before the counters are taken, so first-touch faults of
//! code and data do not count. Prints a line per kind and `stress: N operations, M wrong`,
//! and exits 0 only when nothing was wrong (STATUS_UNSUCCESSFUL otherwise,
//! STATUS_INVALID_PARAMETER for bad arguments).
//!
//! The children it runs: `stress child EVENT` sets the inherited event EVENT, then blocks
//! until it is terminated (or 60 s pass); `stress chaos SEED TSC_KHZ` runs chaos threads
//! until it is terminated.
#![no_std]
#![no_main]

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{MUTANT_ALL_ACCESS, SEMAPHORE_ALL_ACCESS, TIMER_ALL_ACCESS};
use abi::diagnostics::ArchitectureTimings;
use abi::dispatcher::{
    NOTIFICATION_EVENT, NOTIFICATION_TIMER, SYNCHRONIZATION_EVENT, SYNCHRONIZATION_TIMER,
    THREAD_BASIC_INFORMATION_CLASS, THREAD_CREATE_FLAGS_CREATE_SUSPENDED, ThreadBasicInformation,
    WAIT_ALL,
};
use abi::process::PROCESS_CREATE_FLAGS_INHERIT_HANDLES;
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::counters::{Counters, counters, live_threads, settle};
use rt::process::{Child, create_user_process, query_basic_information};
use rt::syscall::{
    exit_thread, nt_alert_thread, nt_close, nt_create_mutant, nt_create_semaphore, nt_create_timer,
    nt_delay_execution, nt_query_architecture_timings, nt_query_information_thread,
    nt_queue_apc_thread, nt_release_mutant, nt_release_semaphore, nt_resume_thread, nt_set_event,
    nt_set_timer, nt_signal_and_wait_for_single_object, nt_suspend_thread, nt_terminate_process,
    nt_terminate_thread, nt_test_alert, nt_wait_for_multiple_objects, nt_wait_for_single_object,
    nt_yield_execution,
};
use rt::text::TextBuffer;
use rt::thread::create_thread;
use rt::{Args, NtStatus, println};

mod chaos;
mod objects;
mod processes;
mod threads;

rt::entry!(main);

const WORKERS: usize = 4;
/// 100 ns units per millisecond, for timeouts.
const MS: i64 = 10_000;
/// The longest any one wait may take before it counts as lost: far beyond what any
/// operation needs, even on a loaded machine.
const SAFETY_MS: i64 = 10_000;
/// How long the workers may overrun the run's end before the run counts as hung.
const OVERRUN_MS: i64 = 60_000;
const DEFAULT_SEED: u32 = 1;
/// Exit statuses: a thread's is THREAD_EXIT + its tag, a termination's TERMINATED + a tag.
const THREAD_EXIT: u32 = 0x0057_0000;
const TERMINATED: u32 = 0x0058_0000;
/// A worker's exit status: this plus its index.
const WORKER_EXIT: u32 = 0x0059_0000;
/// At most this many WRONG lines are printed; the rest are only counted.
const MAX_WRONG_LINES: u64 = 32;

/// What one kind of operation counted: two quantities that must come out equal, and the
/// wrong answers seen.
struct Kind {
    name: &'static str,
    labels: [&'static str; 2],
    counts: [AtomicU64; 2],
    wrong: AtomicU64,
}

impl Kind {
    const fn new(name: &'static str, first: &'static str, second: &'static str) -> Self {
        Self {
            name,
            labels: [first, second],
            counts: [AtomicU64::new(0), AtomicU64::new(0)],
            wrong: AtomicU64::new(0),
        }
    }

    fn first(&self) {
        self.counts[0].fetch_add(1, Ordering::Relaxed);
    }

    fn second(&self) {
        self.counts[1].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, which: usize) -> u64 {
        self.counts[which].load(Ordering::Relaxed)
    }

    /// Records a wrong answer, printed while few have been.
    fn wrong(&self, what: core::fmt::Arguments<'_>) {
        self.wrong.fetch_add(1, Ordering::Relaxed);
        if WRONG_LINES.fetch_add(1, Ordering::Relaxed) < MAX_WRONG_LINES {
            println!("stress: WRONG: {}: {what}", self.name);
        }
    }

    /// A status that must be `expected`.
    fn expect(&self, what: &str, got: NtStatus, expected: NtStatus) -> bool {
        if got != expected {
            self.wrong(format_args!("{what}: {got} (expected {expected})"));
        }
        got == expected
    }
}

static WRONG_LINES: AtomicU64 = AtomicU64::new(0);

static PROCESSES: Kind = Kind::new("processes", "created", "waited");
static THREADS: Kind = Kind::new("threads", "created", "waited");
static WAKEUPS: Kind = Kind::new("wakeups", "sent", "received");
static SUSPENSIONS: Kind = Kind::new("suspensions", "suspended", "lifted");
static TERMINATIONS: Kind = Kind::new("terminations", "requested", "seen");
static APCS: Kind = Kind::new("apcs", "queued", "run");
static ALERTS: Kind = Kind::new("alerts", "sent", "seen");
static MUTANTS: Kind = Kind::new("mutants", "acquired", "released");
static ABANDONMENTS: Kind = Kind::new("abandonments", "owners terminated", "abandoned waits");
static KINDS: [&Kind; 9] = [
    &PROCESSES,
    &THREADS,
    &WAKEUPS,
    &SUSPENSIONS,
    &TERMINATIONS,
    &APCS,
    &ALERTS,
    &MUTANTS,
    &ABANDONMENTS,
];
/// The final check of the counters: a kind of its own, so its wrong answers are counted.
static COUNTERS: Kind = Kind::new("counters", "before", "after");

/// The TSC frequency the kernel reports, and the TSC at which the workers stop.
static TSC_KHZ: AtomicU64 = AtomicU64::new(1);
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static OPERATIONS: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// What a worker shares with the threads of its current operation: the handles they use,
/// how far they are to go and how far they got. One per worker, reused by each operation
/// once the previous one's threads have ended; static, so no thread outlives what it uses.
struct Job {
    objects: [AtomicU64; 3],
    rounds: AtomicU32,
    progress: AtomicU32,
    /// The cell the mutant contenders update with an unprotected read-yield-write.
    cell: AtomicU64,
}

static JOBS: [Job; WORKERS] = [const {
    Job {
        objects: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        rounds: AtomicU32::new(0),
        progress: AtomicU32::new(0),
        cell: AtomicU64::new(0),
    }
}; WORKERS];

/// xorshift64, seeded through splitmix64 so that nearby seeds and workers diverge at once.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut z = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(stream.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u32) -> u32 {
        (self.next() % u64::from(bound)) as u32
    }
}

fn wait_timeout(handle: u64, alertable: bool, timeout: i64) -> NtStatus {
    // SAFETY: the timeout is a local.
    unsafe { nt_wait_for_single_object(handle, u32::from(alertable), &timeout) }
}

/// Waits for `handle`, at most the safety timeout.
fn wait(handle: u64) -> NtStatus {
    wait_timeout(handle, false, -SAFETY_MS * MS)
}

fn set_event(handle: u64) -> NtStatus {
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(handle, core::ptr::null_mut()) }
}

fn close(handle: u64) {
    // SAFETY: the handles closed here are this program's own, no longer used.
    unsafe { nt_close(handle) };
}

fn delay(alertable: bool, timeout: i64) -> NtStatus {
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(u32::from(alertable), &timeout) }
}

fn yield_execution() {
    // SAFETY: no arguments.
    unsafe { nt_yield_execution() };
}

fn create_event(event_type: u32, inherit: bool) -> Result<u64, NtStatus> {
    rt::event::create_event(event_type, false, inherit)
}

fn create_semaphore(limit: i32) -> Result<u64, NtStatus> {
    let mut handle = 0;
    // SAFETY: the handle is a local; no attributes.
    let status = unsafe {
        nt_create_semaphore(
            &mut handle,
            SEMAPHORE_ALL_ACCESS,
            core::ptr::null(),
            0,
            limit,
        )
    };
    if status.is_success() {
        Ok(handle)
    } else {
        Err(status)
    }
}

fn create_mutant() -> Result<u64, NtStatus> {
    let mut handle = 0;
    // SAFETY: the handle is a local; no attributes; not owned at creation.
    let status = unsafe { nt_create_mutant(&mut handle, MUTANT_ALL_ACCESS, core::ptr::null(), 0) };
    if status.is_success() {
        Ok(handle)
    } else {
        Err(status)
    }
}

/// A notification or synchronization timer.
fn create_timer(synchronization: bool) -> Result<u64, NtStatus> {
    let timer_type = if synchronization {
        SYNCHRONIZATION_TIMER
    } else {
        NOTIFICATION_TIMER
    };
    let mut handle = 0;
    // SAFETY: the handle is a local; no attributes.
    let status =
        unsafe { nt_create_timer(&mut handle, TIMER_ALL_ACCESS, core::ptr::null(), timer_type) };
    if status.is_success() {
        Ok(handle)
    } else {
        Err(status)
    }
}

fn release_mutant(handle: u64) -> NtStatus {
    // SAFETY: no previous-count pointer.
    unsafe { nt_release_mutant(handle, core::ptr::null_mut()) }
}

fn thread_exit_status(handle: u64) -> Result<u32, NtStatus> {
    let mut info = ThreadBasicInformation::default();
    // SAFETY: the buffer is a local of the size given; no return length.
    let status = unsafe {
        nt_query_information_thread(
            handle,
            THREAD_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<ThreadBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() {
        Ok(info.exit_status)
    } else {
        Err(status)
    }
}

/// Ends the run at once: something the program cannot account for (a thread that stays
/// alive past termination) would make every later count meaningless.
fn give_up(what: &str) -> ! {
    println!("stress: WRONG: {what}; giving up");
    // SAFETY: ends this process.
    unsafe { nt_terminate_process(CURRENT_PROCESS_HANDLE, NtStatus::UNSUCCESSFUL) };
    exit_thread(NtStatus::UNSUCCESSFUL)
}

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        Some("child") => return processes::child(args.get(2).and_then(rt::parse_u32)),
        Some("chaos") => {
            let number = |index| args.get(index).and_then(rt::parse_u32);
            return chaos::chaos_child(number(2), number(3));
        }
        _ => {}
    }
    let seconds = args.get(1).and_then(rt::parse_u32);
    let seed = match args.get(2) {
        None => Some(DEFAULT_SEED),
        Some(text) => rt::parse_u32(text),
    };
    let (Some(seconds), Some(seed)) = (seconds, seed) else {
        println!("usage: stress SECONDS [SEED]");
        return NtStatus::INVALID_PARAMETER;
    };
    if args.len() > 3 {
        println!("usage: stress SECONDS [SEED]");
        return NtStatus::INVALID_PARAMETER;
    }
    SEED.store(u64::from(seed), Ordering::Relaxed);
    let status = rt::apc::register_dispatcher();
    if !status.is_success() {
        println!("stress: registering the APC dispatcher: {status}");
        return NtStatus::UNSUCCESSFUL;
    }
    let mut timings = ArchitectureTimings::default();
    // SAFETY: a local of the right type and alignment.
    let status = unsafe { nt_query_architecture_timings(&mut timings) };
    if !status.is_success() {
        println!("stress: NtQueryArchitectureTimings: {status}");
        return NtStatus::UNSUCCESSFUL;
    }
    TSC_KHZ.store(timings.tsc_khz.max(1), Ordering::Relaxed);
    println!("stress: {WORKERS} workers, seed {seed}, {seconds} s");

    // One operation of each kind first, so first-touch faults are not counted as leaks.
    let mut warm_up = Worker::new(0, seed);
    for operation in OPERATIONS_TABLE {
        operation(&mut warm_up);
    }
    let warm_up_wrong: u64 = KINDS
        .iter()
        .map(|kind| kind.wrong.load(Ordering::Relaxed))
        .sum();
    for kind in KINDS {
        kind.counts
            .iter()
            .for_each(|count| count.store(0, Ordering::Relaxed));
    }

    let before = steady_snapshot();
    let run = u64::from(seconds) * 1000 * TSC_KHZ.load(Ordering::Relaxed);
    DEADLINE.store(rt::rdtsc() + run, Ordering::Relaxed);
    let mut workers = [0u64; WORKERS];
    for (index, worker) in workers.iter_mut().enumerate() {
        match create_thread(worker_thread, index as u64, 0) {
            Ok(handle) => *worker = handle,
            Err(status) => {
                give_up(format_line(format_args!("creating worker {index}: {status}")).as_str())
            }
        }
    }
    let limit = -(i64::from(seconds) * 1000 + OVERRUN_MS) * MS;
    // SAFETY: the handles and the timeout are locals.
    let ended = unsafe {
        nt_wait_for_multiple_objects(WORKERS as u32, workers.as_ptr(), WAIT_ALL, 0, &limit)
    };
    if ended != NtStatus::SUCCESS {
        give_up(format_line(format_args!("the workers did not end: {ended}")).as_str());
    }
    for (index, worker) in workers.into_iter().enumerate() {
        let expected = WORKER_EXIT + index as u32;
        THREADS.expect(
            "worker exit status",
            NtStatus(thread_exit_status(worker).unwrap_or(0)),
            NtStatus(expected),
        );
        close(worker);
    }
    let after = settle(
        || snapshot().ok_or(NtStatus::UNSUCCESSFUL),
        |after| before.is_some_and(|before| differences(&before, after).next().is_none()),
    )
    .ok();
    check_counters(&before, &after);

    let operations = OPERATIONS.load(Ordering::Relaxed);
    let mut wrong = warm_up_wrong + COUNTERS.wrong.load(Ordering::Relaxed);
    for kind in KINDS {
        let (first, second) = (kind.count(0), kind.count(1));
        if first != second {
            kind.wrong(format_args!(
                "{first} {} but {second} {}",
                kind.labels[0], kind.labels[1]
            ));
        }
        let kind_wrong = kind.wrong.load(Ordering::Relaxed);
        wrong += kind_wrong;
        println!(
            "stress: {}: {first} {}, {second} {}, {kind_wrong} wrong",
            kind.name, kind.labels[0], kind.labels[1]
        );
    }
    println!("stress: {operations} operations, {wrong} wrong");
    if wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

/// A short line of text, for [`give_up`].
fn format_line(args: core::fmt::Arguments<'_>) -> TextBuffer<128> {
    let mut line = TextBuffer::new();
    let _ = line.write_fmt(args);
    line
}

/// The counters a run must leave as it found them.
#[derive(Clone, Copy)]
struct Snapshot {
    counters: Counters,
    threads: u32,
}

/// The counters once the last timers closed are gone: the timer table lets go of a
/// deleted timer (and its own storage, once empty) at the clock's next tick, 10 ms on, so
/// two ticks pass first.
fn snapshot() -> Option<Snapshot> {
    delay(false, -20 * MS);
    Some(Snapshot {
        counters: counters().ok()?,
        threads: live_threads().ok()?,
    })
}

/// A snapshot that two readings in a row agree on: the warm-up's last children may still
/// be leaving other processors.
fn steady_snapshot() -> Option<Snapshot> {
    let mut last = snapshot()?;
    settle(
        || snapshot().ok_or(NtStatus::UNSUCCESSFUL),
        |next| {
            let steady = differences(&last, next).next().is_none();
            last = *next;
            steady
        },
    )
    .ok()
}

/// What differs between two snapshots: threads, processes, handles, pool allocations and
/// available frames at all, pool pages by more than one (lists that grew with the run may
/// keep their capacity).
fn differences(
    before: &Snapshot,
    after: &Snapshot,
) -> impl Iterator<Item = (&'static str, u32, u32)> {
    let (b, a) = (&before.counters, &after.counters);
    [
        ("threads", before.threads, after.threads),
        ("processes", b.processes, a.processes),
        ("handles", b.handles, a.handles),
        ("pool allocations", b.pool_allocations, a.pool_allocations),
        ("available pages", b.available_pages, a.available_pages),
        ("pool pages", b.pool_pages, a.pool_pages),
    ]
    .into_iter()
    .filter(|&(name, was, is)| {
        if name == "pool pages" {
            was.abs_diff(is) > 1
        } else {
            was != is
        }
    })
}

/// Checks that the counters came back (see [`differences`]).
fn check_counters(before: &Option<Snapshot>, after: &Option<Snapshot>) {
    let (Some(before), Some(after)) = (before, after) else {
        COUNTERS.wrong(format_args!("NtQuerySystemInformation failed"));
        return;
    };
    for (name, was, is) in differences(before, after) {
        COUNTERS.wrong(format_args!("{name}: {was} before, {is} after"));
    }
    for (when, snapshot) in [("before", before), ("after", after)] {
        println!(
            "stress: counters {when}: {} threads, {}",
            snapshot.threads, snapshot.counters
        );
    }
    let restored = COUNTERS.wrong.load(Ordering::Relaxed) == 0;
    println!(
        "stress: counters {}",
        if restored { "restored" } else { "CHANGED" }
    );
}

/// A worker's state: its generator, its job slot and the tags it gives its threads.
struct Worker {
    index: usize,
    rng: Rng,
    next_tag: u32,
}

impl Worker {
    fn new(index: usize, seed: u32) -> Self {
        Self {
            index,
            rng: Rng::new(u64::from(seed), index as u64),
            next_tag: 0,
        }
    }

    fn job(&self) -> &'static Job {
        &JOBS[self.index]
    }

    /// A fresh tag: the worker's index above 12 bits of sequence, so exit statuses differ.
    fn tag(&mut self) -> u32 {
        self.next_tag = (self.next_tag + 1) & 0xFFF;
        ((self.index as u32) << 12) | self.next_tag
    }

    /// Starts `routine` on a thread of this process with this worker's index and `tag` as
    /// its argument, suspended if asked; None (and a wrong answer) if that fails.
    fn spawn(
        &mut self,
        routine: rt::thread::StartRoutine,
        tag: u32,
        suspended: bool,
    ) -> Option<u64> {
        let flags = if suspended {
            THREAD_CREATE_FLAGS_CREATE_SUSPENDED
        } else {
            0
        };
        let argument = self.index as u64 | (u64::from(tag) << 8);
        match create_thread(routine, argument, flags) {
            Ok(handle) => {
                THREADS.first();
                Some(handle)
            }
            Err(status) => {
                THREADS.wrong(format_args!("NtCreateThreadEx: {status}"));
                None
            }
        }
    }

    /// A short pause that lets the operation's threads get ahead, or not: nothing, a
    /// yield, or a 1 ms delay.
    fn maybe_pause(&mut self) {
        match self.rng.below(3) {
            0 => {}
            1 => yield_execution(),
            _ => {
                delay(false, -MS);
            }
        }
    }
}

/// The job and tag a thread was started with.
fn unpack(argument: u64) -> (&'static Job, u32) {
    (&JOBS[(argument & 0xFF) as usize], (argument >> 8) as u32)
}

/// Waits for a thread to end, checks its exit status and closes its handle. A thread that
/// does not end within the safety timeout is terminated; one that survives that too
/// ends the run.
fn reap_thread(handle: u64, expected: u32) -> bool {
    let ended = wait(handle);
    if ended != NtStatus::SUCCESS {
        THREADS.wrong(format_args!("a thread did not end: {ended}"));
        // SAFETY: this program's own thread.
        unsafe { nt_terminate_thread(handle, NtStatus::UNSUCCESSFUL) };
        if wait(handle) != NtStatus::SUCCESS {
            give_up("a terminated thread did not end");
        }
    }
    let status = thread_exit_status(handle);
    close(handle);
    match status {
        Ok(status) if status == expected => {
            THREADS.second();
            true
        }
        Ok(status) => {
            THREADS.wrong(format_args!(
                "exit status {status:#x} (expected {expected:#x})"
            ));
            false
        }
        Err(status) => {
            THREADS.wrong(format_args!("NtQueryInformationThread: {status}"));
            false
        }
    }
}

/// Terminates a child process with `TERMINATED + tag` and reaps it, counting the
/// termination asked for and the one seen.
fn terminate_and_reap_process(child: Child, tag: u32) {
    let status = TERMINATED + tag;
    // SAFETY: this program's own child.
    let terminated = unsafe { nt_terminate_process(child.process, NtStatus(status)) };
    if TERMINATIONS.expect("NtTerminateProcess", terminated, NtStatus::SUCCESS) {
        TERMINATIONS.first();
    }
    if reap_process(child, status) {
        TERMINATIONS.second();
    }
}

/// Waits for a child process, checks its exit status and closes both handles; like
/// [`reap_thread`] for a child that does not end.
fn reap_process(child: Child, expected: u32) -> bool {
    let ended = wait(child.process);
    if ended != NtStatus::SUCCESS {
        PROCESSES.wrong(format_args!("a child did not end: {ended}"));
        // SAFETY: this program's own child.
        unsafe { nt_terminate_process(child.process, NtStatus::UNSUCCESSFUL) };
        if wait(child.process) != NtStatus::SUCCESS {
            give_up("a terminated child did not end");
        }
    }
    let status = query_basic_information(child.process).map(|info| info.exit_status);
    child.close();
    match status {
        Ok(status) if status == expected => {
            PROCESSES.second();
            true
        }
        Ok(status) => {
            PROCESSES.wrong(format_args!(
                "exit status {status:#x} (expected {expected:#x})"
            ));
            false
        }
        Err(status) => {
            PROCESSES.wrong(format_args!("NtQueryInformationProcess: {status}"));
            false
        }
    }
}

/// Counts a signal that must wake a waiter, and sends it.
fn signal(handle: u64) {
    WAKEUPS.first();
    WAKEUPS.expect("NtSetEvent", set_event(handle), NtStatus::SUCCESS);
}

/// A wait that a counted signal must end.
fn wait_for_signal(handle: u64, alertable: bool) -> NtStatus {
    let status = wait_timeout(handle, alertable, -SAFETY_MS * MS);
    if status == NtStatus::SUCCESS {
        WAKEUPS.second();
    }
    status
}

fn suspend(thread: u64, expected_previous: u32) {
    let mut previous = u32::MAX;
    // SAFETY: the count is a local.
    let status = unsafe { nt_suspend_thread(thread, &mut previous) };
    if SUSPENSIONS.expect("NtSuspendThread", status, NtStatus::SUCCESS) {
        SUSPENSIONS.first();
        if previous != expected_previous {
            SUSPENSIONS.wrong(format_args!(
                "suspend count {previous} (expected {expected_previous})"
            ));
        }
    }
}

fn resume(thread: u64, expected_previous: u32) {
    let mut previous = u32::MAX;
    // SAFETY: the count is a local.
    let status = unsafe { nt_resume_thread(thread, &mut previous) };
    if SUSPENSIONS.expect("NtResumeThread", status, NtStatus::SUCCESS) {
        SUSPENSIONS.second();
        if previous != expected_previous {
            SUSPENSIONS.wrong(format_args!(
                "suspend count {previous} (expected {expected_previous})"
            ));
        }
    }
}

/// Asks `thread` to end with TERMINATED + `tag`, and returns that status.
fn terminate(thread: u64, tag: u32) -> u32 {
    let status = TERMINATED + tag;
    // SAFETY: this program's own thread.
    let terminated = unsafe { nt_terminate_thread(thread, NtStatus(status)) };
    if TERMINATIONS.expect("NtTerminateThread", terminated, NtStatus::SUCCESS) {
        TERMINATIONS.first();
    }
    status
}

/// An operation, run by a worker.
type Operation = fn(&mut Worker);

/// Every operation a worker picks from, with equal weight.
const OPERATIONS_TABLE: [Operation; 14] = [
    processes::process_exit,
    processes::process_resumed,
    processes::process_terminated,
    chaos::process_chaos,
    threads::thread_woken,
    threads::ping_pong,
    threads::semaphore_stream,
    threads::suspend_and_resume,
    threads::thread_terminated,
    chaos::thread_chaos,
    objects::abandoned_mutant,
    objects::apcs,
    objects::alert,
    objects::mutant_contention,
];

extern "system" fn worker_thread(index: u64) -> ! {
    let mut worker = Worker::new(index as usize, SEED.load(Ordering::Relaxed) as u32);
    let deadline = DEADLINE.load(Ordering::Relaxed);
    while rt::rdtsc() < deadline {
        let pick = worker.rng.below(OPERATIONS_TABLE.len() as u32) as usize;
        OPERATIONS_TABLE[pick](&mut worker);
        OPERATIONS.fetch_add(1, Ordering::Relaxed);
    }
    exit_thread(NtStatus(WORKER_EXIT + index as u32))
}
