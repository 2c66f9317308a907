//! The kernel against hostile programs, on the real guest.img: `sysfuzz` throws random
//! system calls at it from several threads, on one vCPU and on four (natively: bootstrap
//! mode is far too slow for thousands of calls), and `fault isolation` ends children in every way a program can
//! fault while a sibling and the parent run on. The kernel must answer every call with a
//! status, end only the faulting process, and keep working.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program, boot_program_on_cpus};
use vmm::{PvmMode, RunOutcome};

fn boot_with(program: &[&str], pvm_mode: PvmMode) -> RunOutcome {
    boot_program(program, pvm_mode, Duration::from_secs(120))
}

#[track_caller]
fn assert_exit(outcome: &RunOutcome, status: NtStatus) {
    assert_exited(outcome, status);
}

/// The `sysfuzz: status 0x...: COUNT` lines: count per status.
fn histogram(console: &str) -> BTreeMap<u32, u64> {
    console
        .lines()
        .filter_map(|line| line.strip_prefix("sysfuzz: status 0x"))
        .map(|rest| {
            let (status, count) = rest.rsplit_once(": ").expect("no count");
            let status = &status[..8];
            (
                u32::from_str_radix(status, 16).expect("bad status"),
                count.parse().expect("bad count"),
            )
        })
        .collect()
}

/// Runs `sysfuzz CALLS SEED [THREADS]` natively; checks it ended normally and its totals.
fn sysfuzz(calls: u64, seed: u64, threads: Option<u32>) -> BTreeMap<u32, u64> {
    sysfuzz_on(1, calls, seed, threads)
}

/// [`sysfuzz`] on `cpus` vCPUs.
fn sysfuzz_on(cpus: u32, calls: u64, seed: u64, threads: Option<u32>) -> BTreeMap<u32, u64> {
    let (calls_text, seed_text) = (calls.to_string(), seed.to_string());
    let threads_text = threads.map(|t| t.to_string());
    let mut program = vec!["sysfuzz", &calls_text, &seed_text];
    program.extend(threads_text.as_deref());
    let outcome = boot_program_on_cpus(&program, PvmMode::Native, cpus, Duration::from_secs(120));
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let counts = histogram(&console);
    assert_eq!(counts.values().sum::<u64>(), calls, "{console}");
    assert!(
        console.contains(&format!(
            "sysfuzz: total {calls} calls, {} distinct",
            counts.len()
        )),
        "{console}"
    );
    assert!(!console.contains("other statuses"), "{console}");
    assert!(
        console.contains("sysfuzz: the victim ended with")
            || console.contains("the victim has ended and is gone"),
        "{console}"
    );
    assert!(
        console.contains("sysfuzz: kernel alive: ") && console.contains("a new process ran"),
        "{console}"
    );
    counts
}

/// Calls of the four-thread run: `SYSFUZZ_CALLS` in the environment, else 20,000 (about
/// 4 s here). Larger runs: `SYSFUZZ_CALLS=1000000 cargo test --release --test hostile_kernel`.
fn four_thread_calls() -> u64 {
    std::env::var("SYSFUZZ_CALLS").map_or(20_000, |calls| {
        calls
            .parse()
            .unwrap_or_else(|_| panic!("SYSFUZZ_CALLS={calls}: not a number"))
    })
}

/// Four fuzzing threads on four vCPUs: calls on one processor change what the others run
/// with (their address space under a flapping page, their priorities and affinities, the
/// handles they use), and the kernel survives it.
#[test]
fn sysfuzz_from_four_threads_on_four_processors_leaves_the_kernel_working() {
    let _machine = common::machine_to_itself();
    let counts = sysfuzz_on(4, four_thread_calls(), 11, Some(4));
    assert!(counts.len() >= 8, "{counts:?}");
    assert!(
        counts.get(&NtStatus::SUCCESS.0).is_some_and(|&n| n > 0),
        "{counts:?}"
    );
}

#[test]
fn sysfuzz_from_four_threads_leaves_the_kernel_working() {
    let counts = sysfuzz(four_thread_calls(), 7, Some(4));
    assert!(counts.len() >= 8, "{counts:?}");
    // Unknown numbers, bad pointers and bad handles are all among the answers, and some
    // calls got through.
    for status in [
        NtStatus::INVALID_SYSTEM_SERVICE,
        NtStatus::ACCESS_VIOLATION,
        NtStatus::INVALID_HANDLE,
        NtStatus::SUCCESS,
    ] {
        assert!(
            counts.get(&status.0).is_some_and(|&n| n > 0),
            "{status}: {counts:?}"
        );
    }
}

#[test]
fn sysfuzz_with_one_thread_gives_the_same_statuses_for_the_same_seed() {
    let first = sysfuzz(3_000, 42, None);
    let again = sysfuzz(3_000, 42, Some(1));
    assert_eq!(first, again);
    assert!(first.len() >= 8, "{first:?}");
    let other_seed = sysfuzz(3_000, 43, None);
    assert_ne!(first, other_seed);
}

#[test]
fn sysfuzz_rejects_bad_arguments() {
    for program in [
        &["sysfuzz"][..],
        &["sysfuzz", "10"],
        &["sysfuzz", "ten", "1"],
        &["sysfuzz", "10", "1", "0"],
        &["sysfuzz", "10", "1", "9"],
        &["sysfuzz", "10", "1", "2", "extra"],
        &["sysfuzz", "victim"],
        &["sysfuzz", "victim", "4", "8"],
    ] {
        let outcome = boot_with(program, PvmMode::Native);
        assert_exit(&outcome, NtStatus::INVALID_PARAMETER);
        assert!(
            outcome
                .console_text()
                .contains("usage: sysfuzz N SEED [THREADS]"),
            "{program:?}"
        );
    }
}

/// The modes of `fault` and the status each must end its process with.
const FAULTS: [(&str, NtStatus); 7] = [
    ("kernel-write", NtStatus::ACCESS_VIOLATION),
    ("null-read", NtStatus::ACCESS_VIOLATION),
    ("privileged", NtStatus::PRIVILEGED_INSTRUCTION),
    ("illegal", NtStatus::ILLEGAL_INSTRUCTION),
    ("divide", NtStatus::INTEGER_DIVIDE_BY_ZERO),
    ("stack-overflow", NtStatus::STACK_OVERFLOW),
    ("general-protection", NtStatus::ACCESS_VIOLATION),
];

#[test]
fn faults_end_only_the_faulting_process() {
    let outcome = boot_with(&["fault", "isolation"], PvmMode::Native);
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    for (mode, _) in FAULTS {
        assert!(
            console.contains(&format!("ok: {mode} ends the child")),
            "{mode}"
        );
        assert!(
            console.contains(&format!("ok: the sibling runs on after {mode}")),
            "{mode}"
        );
    }
    assert!(
        console.contains("ok: the sibling exits normally"),
        "{console}"
    );
    assert!(!console.contains("WRONG"), "{console}");
    assert!(
        console.contains("fault: isolation: 15 checks, all ok"),
        "{console}"
    );
}

#[test]
fn each_fault_ends_its_process_with_its_status() {
    for (mode, status) in FAULTS {
        let outcome = boot_with(&["fault", mode], PvmMode::Native);
        assert_exit(&outcome, status);
        assert!(
            outcome
                .console_text()
                .contains("fault.exe: unhandled exception"),
            "{mode}"
        );
    }
}

#[test]
fn fault_rejects_unknown_modes() {
    for program in [
        &["fault", "warp"][..],
        &["fault", "divide", "twice"],
        &["fault", "sibling", "4", "8"],
        &["fault", "isolation", "now"],
        &["fault", "0x1000", "write"],
    ] {
        let outcome = boot_with(program, PvmMode::Bootstrap);
        assert_exit(&outcome, NtStatus::INVALID_PARAMETER);
        assert!(
            outcome.console_text().contains("usage: fault"),
            "{program:?}"
        );
    }
}
