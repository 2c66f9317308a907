//! Stress on the real guest.img: `stress SECONDS SEED` runs four worker threads that mix
//! process and thread creation, waits, event ping-pongs, semaphores, mutants, user APCs,
//! alerts, suspension and termination (of threads and processes, wherever they are) for a
//! fixed time. Every kind must come out even (created = waited for with the expected exit
//! status, signals sent = received, APCs queued = run, ...), nothing may be wrong, and
//! the thread, process, handle, pool and frame counters must be back where they started.
//!
//! The kernel's dispatcher runs on one processor for now (the others stay parked), so
//! `--cpus 4` boots four vCPUs of which one schedules; the run becomes a real SMP stress
//! when the dispatcher runs on all of them. `STRESS_SECONDS` sets the length of each run
//! (default below).

mod common;

use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program, boot_program_on_cpus};
use vmm::PvmMode;

/// Seconds per run unless `STRESS_SECONDS` says otherwise.
const DEFAULT_SECONDS: u64 = 5;
/// What the watchdog allows beyond the run itself: boot, the final waits and checks.
const SLACK: Duration = Duration::from_secs(90);

/// Each kind's summary line: its name and the two counts that must be equal.
const KINDS: [(&str, &str, &str); 9] = [
    ("processes", "created", "waited"),
    ("threads", "created", "waited"),
    ("wakeups", "sent", "received"),
    ("suspensions", "suspended", "lifted"),
    ("terminations", "requested", "seen"),
    ("apcs", "queued", "run"),
    ("alerts", "sent", "seen"),
    ("mutants", "acquired", "released"),
    ("abandonments", "owners terminated", "abandoned waits"),
];

fn seconds() -> u64 {
    std::env::var("STRESS_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_SECONDS)
}

/// The numbers of `stress: KIND: A FIRST, B SECOND, W wrong`, checking the labels.
fn kind_counts(console: &str, kind: &str, first: &str, second: &str) -> (u64, u64, u64) {
    let prefix = format!("stress: {kind}: ");
    let line = console
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no summary line for {kind}:\n{console}"));
    let parts: Vec<&str> = line.split(", ").collect();
    let number = |part: &str, label: &str| -> u64 {
        let (count, rest) = part
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad summary part '{part}' for {kind}"));
        assert_eq!(rest, label, "summary line for {kind}: {line}");
        count
            .parse()
            .unwrap_or_else(|_| panic!("bad count '{count}' for {kind}"))
    };
    assert_eq!(parts.len(), 3, "summary line for {kind}: {line}");
    (
        number(parts[0], first),
        number(parts[1], second),
        number(parts[2], "wrong"),
    )
}

/// The line `stress: counters WHEN: ...` without its pool page count (`in N pages`),
/// which may move by one.
fn counters_without_pool_pages(console: &str, when: &str) -> String {
    let prefix = format!("stress: counters {when}: ");
    let line = console
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no counters {when}:\n{console}"));
    line.split(", ")
        .map(|part| part.split(" in ").next().unwrap_or(part))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `stress SECONDS SEED` on `cpus` vCPUs and checks its whole account.
fn stress_run_accounts_for_everything(cpus: u32, seed: u32) {
    let _machine = common::machine_to_itself();
    let seconds = seconds();
    let seconds_text = seconds.to_string();
    let seed_text = seed.to_string();
    let outcome = boot_program_on_cpus(
        &["stress", &seconds_text, &seed_text],
        PvmMode::Native,
        cpus,
        Duration::from_secs(seconds) + SLACK,
    );
    let console = outcome.console_text();
    assert!(
        console.contains(&format!("stress: 4 workers, seed {seed}, {seconds} s")),
        "{console}"
    );
    assert!(!console.contains("WRONG"), "{console}");
    for (kind, first, second) in KINDS {
        let (first_count, second_count, wrong) = kind_counts(&console, kind, first, second);
        assert!(first_count > 0, "no {kind} {first}:\n{console}");
        assert_eq!(first_count, second_count, "{kind}:\n{console}");
        assert_eq!(wrong, 0, "{kind}:\n{console}");
    }
    assert!(console.contains("stress: counters restored"), "{console}");
    assert_eq!(
        counters_without_pool_pages(&console, "before"),
        counters_without_pool_pages(&console, "after"),
        "{console}"
    );
    let operations = console
        .lines()
        .find_map(|line| {
            line.strip_prefix("stress: ")?
                .strip_suffix(" operations, 0 wrong")
        })
        .unwrap_or_else(|| panic!("no final line with 0 wrong:\n{console}"));
    let operations: u64 = operations.parse().expect("a count of operations");
    assert!(operations > 0, "{console}");
    assert_exited(&outcome, NtStatus::SUCCESS);
}

#[test]
fn stress_on_four_vcpus_accounts_for_every_object() {
    stress_run_accounts_for_everything(4, 7);
}

#[test]
fn stress_on_one_vcpu_with_another_seed_accounts_for_every_object() {
    stress_run_accounts_for_everything(1, 1234);
}

#[test]
fn bad_arguments_get_usage_and_invalid_parameter() {
    for arguments in [
        &["stress"][..],
        &["stress", "five"],
        &["stress", "5", "-1"],
        &["stress", "5", "1", "extra"],
        &["stress", "child"],
        &["stress", "chaos", "1"],
    ] {
        let outcome = boot_program(arguments, PvmMode::Native, Duration::from_secs(30));
        assert!(
            outcome.console_text().contains("usage: stress"),
            "{arguments:?}: {}",
            outcome.console_text()
        );
        assert_exited(&outcome, NtStatus::INVALID_PARAMETER);
    }
}
