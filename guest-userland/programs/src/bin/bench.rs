//! `bench ITERATIONS [METRIC...]`: the guest side of `vmm bench`. Times system calls, thread
//! and process switches, yields, and thread and process creation with the TSC, one sample
//! per operation (or round trip), after a warm-up, and reports the raw cycle counts to the
//! VMM on the console.
//!
//! Protocol (one line each; the VMM parses them, see vmm/src/bench/mod.rs):
//! - `bench-begin NAME` before the warm-up and `bench-end NAME` right after the measured
//!   loop: each is one console exit, and the VMM counts every other exit between the two;
//! - then `bench NAME N C1 ... CN`: the N samples in TSC cycles, printed after the loop so
//!   the printing perturbs nothing that is measured;
//! - `bench-error NAME STATUS` when a service failed; the program then exits unsuccessfully.
//!
//! Metrics (all run on the calling thread, which is the one that measures):
//! - `null_syscall`: `NtYieldExecution` with no other thread ready. The kernel has no
//!   service that does nothing; this one enters the kernel, finds nothing to switch to and
//!   returns `STATUS_NO_YIELD_PERFORMED`, the nearest thing to a null call.
//! - `thread_switch`: a ping-pong on two synchronization events with a second thread; one
//!   sample is a round trip (two switches).
//! - `yield`: `NtYieldExecution` with a second thread that yields back; one sample is a
//!   round trip (two yields, two switches).
//! - `process_switch`: the same ping-pong with a child process (`bench pong PING PONG
//!   ROUNDS`, created with NtCreateUserProcess, which inherits both events), so every switch
//!   also changes address space.
//! - `thread_create_exit`: `NtCreateThreadEx` of a thread that exits at once, a wait for
//!   it and the close of its handle.
//! - `process_create_exit`: `NtCreateUserProcess` of `nop`, which exits at once, and a
//!   wait for it (its exit status is checked and its handles closed outside the sample).
//!
//! `bench pong PING PONG ROUNDS` is the child side of `process_switch`: it answers ROUNDS
//! pings on the inherited event handles and prints nothing (a console line is a VM exit).
//!
//! `bench floors` prints the platform's costs that the VMM builds each metric's floor from,
//! in TSC cycles: `bench-floors round_trip=C user_gs_base_load=C fpu_save_restore=C
//! cr3_switch=C pcids=0|1` (the last whether CR3 loads keep translations, not a cost).
//! `round_trip` is the median user/supervisor round trip through the
//! smallest path the kernel has: a system service number it does not know, refused after
//! the entry stub and one table lookup. The rest the kernel measures of its own primitives
//! (`NtQueryArchitectureTimings`).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use abi::diagnostics::ArchitectureTimings;
use abi::dispatcher::SYNCHRONIZATION_EVENT;
use abi::process::PROCESS_CREATE_FLAGS_INHERIT_HANDLES;
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::console::Console;
use rt::process::{create_user_process, query_basic_information};
use rt::syscall::{
    exit_thread, nt_close, nt_query_architecture_timings, nt_set_event, nt_wait_for_single_object,
    nt_yield_execution, raw_system_service,
};
use rt::text::TextBuffer;
use rt::thread::create_thread;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// Most samples per metric.
const MAX_SAMPLES: usize = 100_000;

/// The metrics in the order they run.
const METRICS: [(&str, Bench); 6] = [
    ("null_syscall", null_syscall),
    ("thread_switch", thread_switch),
    ("process_switch", process_switch),
    ("yield", yield_round_trips),
    ("thread_create_exit", thread_create_exit),
    ("process_create_exit", process_create_exit),
];

/// Runs one metric: `warm_up` untimed rounds then one sample per slot of `samples`.
type Bench = fn(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus>;

/// The sample buffer, in .bss: only the main thread touches it.
struct Samples(UnsafeCell<[u32; MAX_SAMPLES]>);

// SAFETY: only the main thread ever reaches the buffer (every metric measures on it).
unsafe impl Sync for Samples {}

static SAMPLES: Samples = Samples(UnsafeCell::new([0; MAX_SAMPLES]));

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        Some("pong") => return pong_process(args),
        Some("floors") if args.len() == 2 => return floors(),
        _ => {}
    }
    let Some(iterations) = args.get(1).and_then(rt::parse_u32) else {
        return usage();
    };
    let count = iterations as usize;
    if count == 0 || count > MAX_SAMPLES {
        return usage();
    }
    for name in args.iter().skip(2) {
        if !METRICS.iter().any(|(known, _)| *known == name) {
            println!("bench: unknown metric '{name}'");
            return usage();
        }
    }
    // Every metric runs on processor 0 (a switch's two sides on one processor, as the
    // host's baselines are pinned); children inherit the affinity.
    if rt::process::active_processors().is_ok_and(|active| active != 1) {
        let status = rt::process::set_affinity(CURRENT_PROCESS_HANDLE, 1);
        if !status.is_success() {
            println!("bench: ProcessAffinityMask: {status}");
            return status;
        }
    }
    // SAFETY: the only reference to the buffer, on the main thread.
    let buffer: &mut [u32; MAX_SAMPLES] = unsafe { &mut *SAMPLES.0.get() };
    let samples = &mut buffer[..count];
    let warm_up = iterations / 10 + 10;
    let mut result = NtStatus::SUCCESS;
    for (name, bench) in METRICS {
        if args.len() > 2 && !args.iter().skip(2).any(|n| n == name) {
            continue;
        }
        // Touch every page of the buffer first: no demand-zero fault in the measured loop.
        samples.fill(0);
        println!("bench-begin {name}");
        let outcome = bench(warm_up, samples);
        println!("bench-end {name}");
        match outcome {
            Ok(()) => report(name, samples),
            Err(status) => {
                println!("bench-error {name} {:#010x}", status.0);
                result = NtStatus::UNSUCCESSFUL;
            }
        }
    }
    result
}

fn usage() -> NtStatus {
    println!("usage: bench ITERATIONS [METRIC...]   (ITERATIONS 1..={MAX_SAMPLES})");
    println!("       bench pong PING PONG ROUNDS   (process_switch's child)");
    println!("       bench floors   (the platform's costs, for the floors)");
    NtStatus::INVALID_PARAMETER
}

/// Prints `bench NAME N C1 ... CN` (the console flushes a line per kernel buffer).
fn report(name: &str, samples: &[u32]) {
    let mut console = Console::new();
    let _ = write!(console, "bench {name} {}", samples.len());
    for sample in samples {
        let _ = write!(console, " {sample}");
    }
    let _ = console.write_str("\n");
}

/// Cycles since `start`, saturated to 32 bits.
fn since(start: u64) -> u32 {
    u32::try_from(rt::rdtsc().wrapping_sub(start)).unwrap_or(u32::MAX)
}

fn check(status: NtStatus) -> Result<(), NtStatus> {
    if status == NtStatus::SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}

fn yield_execution() -> NtStatus {
    // SAFETY: no arguments.
    unsafe { nt_yield_execution() }
}

fn wait(handle: u64) -> NtStatus {
    // SAFETY: no timeout pointer.
    unsafe { nt_wait_for_single_object(handle, 0, core::ptr::null()) }
}

fn set_event(handle: u64) -> NtStatus {
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(handle, core::ptr::null_mut()) }
}

fn close(handle: u64) {
    // SAFETY: the handles closed here are this program's own, no longer used.
    unsafe { nt_close(handle) };
}

/// A synchronization event; `inherit` marks its handle for children created with
/// PROCESS_CREATE_FLAGS_INHERIT_HANDLES.
fn create_event(inherit: bool) -> Result<u64, NtStatus> {
    rt::event::create_event(SYNCHRONIZATION_EVENT, false, inherit)
}

fn null_syscall(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    let expect_alone = |status| match status {
        NtStatus::NO_YIELD_PERFORMED => Ok(()),
        // Another thread was ready: this would not be a null call.
        other => Err(other),
    };
    for _ in 0..warm_up {
        expect_alone(yield_execution())?;
    }
    let mut last = NtStatus::NO_YIELD_PERFORMED;
    for sample in samples.iter_mut() {
        let start = rt::rdtsc();
        let status = yield_execution();
        *sample = since(start);
        if status != NtStatus::NO_YIELD_PERFORMED {
            last = status;
        }
    }
    expect_alone(last)
}

static PING: AtomicU64 = AtomicU64::new(0);
static PONG: AtomicU64 = AtomicU64::new(0);

/// Answers `rounds` pings on `ping` with a pong on `pong`.
fn answer_pings(ping: u64, pong: u64, rounds: u64) -> NtStatus {
    for _ in 0..rounds {
        let waited = wait(ping);
        if waited != NtStatus::SUCCESS {
            return waited;
        }
        set_event(pong);
    }
    NtStatus::SUCCESS
}

/// The thread side of `thread_switch`.
extern "system" fn ponger(rounds: u64) -> ! {
    let (ping, pong) = (PING.load(Ordering::Relaxed), PONG.load(Ordering::Relaxed));
    exit_thread(answer_pings(ping, pong, rounds))
}

/// `bench pong PING PONG ROUNDS`: the process side of `process_switch`.
fn pong_process(args: &Args) -> NtStatus {
    let number = |index| args.get(index).and_then(rt::parse_u32).map(u64::from);
    match (number(2), number(3), number(4)) {
        (Some(ping), Some(pong), Some(rounds)) if args.len() == 5 => {
            answer_pings(ping, pong, rounds)
        }
        _ => usage(),
    }
}

/// Pings `ping` and waits for the pong, `warm_up` times untimed, then once per sample;
/// `partner` is the thread or process answering, waited for at the end.
fn ping_pong(
    ping: u64,
    pong: u64,
    partner: u64,
    warm_up: u32,
    samples: &mut [u32],
) -> Result<(), NtStatus> {
    let round_trip = || {
        check(set_event(ping))?;
        check(wait(pong))
    };
    let mut result = (0..warm_up).try_for_each(|_| round_trip());
    if result.is_ok() {
        for sample in samples.iter_mut() {
            let start = rt::rdtsc();
            let status = round_trip();
            *sample = since(start);
            if status.is_err() {
                result = status;
                break;
            }
        }
    }
    // The partner has answered every round (or the run fails anyway).
    if result.is_ok() {
        check(wait(partner))
    } else {
        result
    }
}

/// Rounds of a ping-pong: warm-up and samples.
fn rounds(warm_up: u32, samples: &[u32]) -> u64 {
    u64::from(warm_up) + samples.len() as u64
}

fn thread_switch(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    let ping = create_event(false)?;
    let pong = create_event(false)?;
    PING.store(ping, Ordering::Relaxed);
    PONG.store(pong, Ordering::Relaxed);
    let result = create_thread(ponger, rounds(warm_up, samples), 0).and_then(|thread| {
        let result = ping_pong(ping, pong, thread, warm_up, samples);
        close(thread);
        result
    });
    close(ping);
    close(pong);
    result
}

fn process_switch(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    let ping = create_event(true)?;
    let pong = create_event(true)?;
    let mut command = TextBuffer::<96>::new();
    let written = write!(
        command,
        "bench pong {ping} {pong} {}",
        rounds(warm_up, samples)
    );
    let result = written
        .map_err(|_| NtStatus::INVALID_PARAMETER)
        .and_then(|()| {
            create_user_process(
                "bench",
                command.as_str(),
                PROCESS_CREATE_FLAGS_INHERIT_HANDLES,
                0,
            )
        })
        .and_then(|child| {
            let result = ping_pong(ping, pong, child.process, warm_up, samples)
                .and_then(|()| exited_successfully(child.process));
            child.close();
            result
        });
    close(ping);
    close(pong);
    result
}

/// Ok when the ended process's exit status is STATUS_SUCCESS, else that status.
fn exited_successfully(process: u64) -> Result<(), NtStatus> {
    let status = NtStatus(query_basic_information(process)?.exit_status);
    check(status)
}

static STOP_YIELDING: AtomicBool = AtomicBool::new(false);

/// Yields until told to stop.
extern "system" fn yielder(_: u64) -> ! {
    while !STOP_YIELDING.load(Ordering::Relaxed) {
        yield_execution();
    }
    exit_thread(NtStatus::SUCCESS)
}

fn yield_round_trips(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    STOP_YIELDING.store(false, Ordering::Relaxed);
    let thread = create_thread(yielder, 0, 0)?;
    // A yield that found nothing to switch to is still counted: the p99 shows it.
    for _ in 0..warm_up {
        yield_execution();
    }
    for sample in samples.iter_mut() {
        let start = rt::rdtsc();
        yield_execution();
        *sample = since(start);
    }
    STOP_YIELDING.store(true, Ordering::Relaxed);
    let ended = check(wait(thread));
    close(thread);
    ended
}

extern "system" fn exit_at_once(_: u64) -> ! {
    exit_thread(NtStatus::SUCCESS)
}

fn thread_create_exit(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    let once = || {
        let thread = create_thread(exit_at_once, 0, 0)?;
        let waited = check(wait(thread));
        close(thread);
        waited
    };
    for _ in 0..warm_up {
        once()?;
    }
    for sample in samples.iter_mut() {
        let start = rt::rdtsc();
        once()?;
        *sample = since(start);
    }
    Ok(())
}

fn process_create_exit(warm_up: u32, samples: &mut [u32]) -> Result<(), NtStatus> {
    // Returns the cycles from creation to the end of the wait; the exit status check and
    // the handles' close come after.
    let once = || {
        let start = rt::rdtsc();
        let child = create_user_process("nop", "nop", 0, 0)?;
        let waited = check(wait(child.process));
        let cycles = since(start);
        let result = waited.and_then(|()| exited_successfully(child.process));
        child.close();
        result.map(|()| cycles)
    };
    for _ in 0..warm_up {
        once()?;
    }
    for sample in samples.iter_mut() {
        *sample = once()?;
    }
    Ok(())
}

/// A service number the kernel does not know (it has fewer than 0x7FFF services).
const UNKNOWN_SERVICE: u32 = 0x7FFF;
/// Round trips timed for the `round_trip` floor (the median is reported).
const ROUND_TRIPS: usize = 2000;

/// `bench floors`: see the module documentation.
fn floors() -> NtStatus {
    let mut timings = ArchitectureTimings::default();
    // SAFETY: `timings` is a local of the right type and alignment.
    let status = unsafe { nt_query_architecture_timings(&mut timings) };
    if !status.is_success() {
        println!("bench-error floors {:#010x}", status.0);
        return NtStatus::UNSUCCESSFUL;
    }
    // SAFETY: the only reference to the buffer, on the main thread.
    let buffer: &mut [u32; MAX_SAMPLES] = unsafe { &mut *SAMPLES.0.get() };
    let (warm_up, samples) =
        buffer[..ROUND_TRIPS + ROUND_TRIPS / 10].split_at_mut(ROUND_TRIPS / 10);
    for slot in warm_up.iter_mut().chain(samples.iter_mut()) {
        let start = rt::rdtsc();
        // SAFETY: an unknown service touches no memory; the kernel only refuses it.
        let status = unsafe { raw_system_service(UNKNOWN_SERVICE, 0, 0, 0) };
        *slot = since(start);
        if status != NtStatus::INVALID_SYSTEM_SERVICE {
            println!("bench-error floors {:#010x}", status.0);
            return NtStatus::UNSUCCESSFUL;
        }
    }
    samples.sort_unstable();
    let pcids = match rt::process::pcids_in_use() {
        Ok(pcids) => pcids,
        Err(status) => {
            println!("bench-error floors {:#010x}", status.0);
            return NtStatus::UNSUCCESSFUL;
        }
    };
    println!(
        "bench-floors round_trip={} user_gs_base_load={} fpu_save_restore={} cr3_switch={} \
         pcids={}",
        samples[samples.len() / 2],
        timings.user_gs_base_load_cycles,
        timings.fpu_save_restore_cycles,
        timings.cr3_switch_cycles,
        u8::from(pcids)
    );
    NtStatus::SUCCESS
}
