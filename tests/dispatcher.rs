//! Boots the real guest.img running `synctest` (natively: it makes many system calls) and
//! checks the dispatcher objects and scheduling services: semaphores, mutants and their
//! abandonment, opening by name, signal-and-wait, priorities (strict order, preemption,
//! classes, boosts, decay and the starvation boost), timers, user APCs and alerts, each
//! bad input's status, and two stress runs (an event ping-pong and a storm of 256
//! threads); then every subcommand again on two and four processors, a million-signal
//! ping-pong on one, two and four, and `synctest processors` (affinity, threads running at
//! once, a priority-31 spinner that leaves the other processors running and still ends),
//! and `synctest switches` (PCIDs where the processor has them, and a switched-out
//! process's unmapped page faulting when it comes back).

mod common;

use std::time::Duration;

use abi::NtStatus;
use common::guest_image;
use vmm::{ConsoleSink, GuestExit, KernelBackend, PvmMode, RunConfig, RunOutcome};

fn boot(program: &[&str]) -> RunOutcome {
    boot_on(1, program)
}

fn boot_on(cpus: u32, program: &[&str]) -> RunOutcome {
    let config = RunConfig {
        program: Some(program.iter().map(|s| s.to_string()).collect()),
        console: ConsoleSink::Capture,
        timeout: Duration::from_secs(180),
        pvm_mode: PvmMode::Native,
        cpus,
        ..RunConfig::new(guest_image())
    };
    let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
    eprintln!("console of {program:?}:\n{}", outcome.console_text());
    outcome
}

/// Runs `synctest SUBCOMMAND`: every case right, each of `expected` among them, the
/// summary line printed and exit status 0.
#[track_caller]
fn assert_synctest(subcommand: &str, expected: &[&str]) -> String {
    assert_synctest_on(1, &[subcommand], expected)
}

/// [`assert_synctest`] on `cpus` processors, with the subcommand's arguments.
#[track_caller]
fn assert_synctest_on(cpus: u32, arguments: &[&str], expected: &[&str]) -> String {
    let subcommand = arguments[0];
    let program: Vec<&str> = ["synctest"].iter().chain(arguments).copied().collect();
    let outcome = boot_on(cpus, &program);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    for line in expected {
        assert!(
            console.contains(&format!("ok: {line}\n")),
            "missing `ok: {line}`:\n{console}"
        );
    }
    assert!(
        console.contains(&format!("synctest {subcommand}: "))
            && console.contains(" cases, 0 wrong"),
        "{console}"
    );
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(NtStatus::SUCCESS),
        "{console}"
    );
    console
}

#[test]
fn semaphores_count_wake_waiters_and_refuse_bad_counts() {
    assert_synctest(
        "semaphore",
        &[
            "third poll times out",
            "release past the maximum",
            "count unchanged by a refused release",
            "release 0",
            "release -1",
            "create with a negative count",
            "create with the count above the maximum",
            "create with maximum 0",
            "release 2 woke two waiters",
            "release 1 woke the third",
            "a failed WaitAll takes nothing",
            "WaitAll took the unit",
            "release an event",
            "previous count at a kernel address",
            "misaligned previous count",
            "query an unknown class",
            "query with a short buffer",
        ],
    );
}

#[test]
fn mutants_are_owned_recursive_and_only_released_by_their_owner() {
    assert_synctest(
        "mutant",
        &[
            "acquire again (recursion)",
            "owned twice",
            "first release: previous count",
            "release a free mutant",
            "another thread's poll times out",
            "another thread's release is not owned",
            "the waiter got it when released",
            "a failed WaitAll does not acquire",
            "InitialOwner owns it",
            "release an event",
        ],
    );
}

#[test]
fn a_mutant_whose_owner_dies_is_abandoned() {
    assert_synctest(
        "abandon",
        &[
            "the mutant is abandoned",
            "acquiring it says abandoned",
            "the new owner owns it, no longer abandoned",
            "the waiter gets STATUS_ABANDONED_WAIT_0 + 1",
            "the waiter owned it, then died: abandoned again",
        ],
    );
}

#[test]
fn events_semaphores_and_mutants_open_by_name() {
    assert_synctest(
        "named",
        &[
            "a release through the opened handle shows",
            "release without SEMAPHORE_MODIFY_STATE",
            "open the semaphore as a mutant",
            "create it with OBJ_OPENIF",
            "the opened handle names the owned mutant",
            "a set through the opened handle shows",
            "open a name gone with its last handle",
        ],
    );
}

#[test]
fn signal_and_wait_signals_one_object_and_waits_for_another() {
    assert_synctest(
        "signalwait",
        &[
            "signal an event and wait for the answer",
            "the mutant was released",
            "release a semaphore and wait for it",
            "the second answer",
            "release a mutant not owned",
            "release a full semaphore",
            "signal a thread",
            "nothing was signaled before the refusal",
            "an event handle without EVENT_MODIFY_STATE",
            "a timeout at a kernel address",
        ],
    );
}

#[test]
fn the_highest_priority_thread_runs_and_priorities_follow_classes() {
    assert_synctest(
        "priority",
        &[
            "a new thread runs at Normal's 8",
            "a thread resumed at 12 ran before the resume returned",
            "a thread resumed at 6 has not run while the creator runs",
            "it ran when the creator waited",
            "none ran below the creator",
            "they ran in priority order",
            "equal priorities run in the order readied",
            "class High is 13",
            "class Idle is 4",
            "class BelowNormal is 6",
            "class AboveNormal is 10",
            "class Realtime is 24",
            "LOWRT under Realtime is 31",
            "threads follow it",
            "affinity 0",
            "affinity of an inactive processor",
            "priority 0",
            "priority 32",
            "base +3",
            "priority with a length of 8",
            "an unknown thread class",
            "priority at a kernel address",
            "misaligned priority",
            "a handle without THREAD_SET_INFORMATION",
            "priority class 0",
            "priority class 7",
            "process base 32",
            "a thread as a process",
        ],
    );
}

#[test]
fn waits_boost_dynamic_threads_and_the_boost_decays() {
    assert_synctest(
        "boost",
        &[
            "a thread woken by an event is boosted to 9",
            "the boosted thread ran before the set returned",
            "its boost decays back to its base 8",
            "a thread woken by a semaphore is boosted to 9",
            "a thread based at 10 is boosted to 11",
            "a boost stops at 15",
            "a real-time thread gets no boost",
            "nor any decay",
            "a timeout gives no boost",
        ],
    );
}

#[test]
fn a_starved_thread_gets_the_starvation_boost() {
    assert_synctest(
        "starvation",
        &[
            "neither ran while this thread outranks them",
            "the starved thread ran while the hog spun",
            "boosted to 15",
            "its base stayed 6",
        ],
    );
}

#[test]
fn timers_fire_once_or_periodically_and_refuse_bad_input() {
    assert_synctest(
        "timer",
        &[
            "a new timer is not signaled",
            "an armed timer has time remaining",
            "it fires",
            "a notification timer stays signaled",
            "the previous state was signaled",
            "setting resets it",
            "a cancelled timer does not fire",
            "two waiters on a notification timer",
            "a synchronization timer fires",
            "and resets",
            "two waiters on a synchronization timer",
            "a periodic timer fires again and again",
            "a cancelled periodic timer stops",
            "WaitAny names the timer",
            "signals the timer at once",
            "an absolute time far ahead",
            "open it by name for query",
            "set without TIMER_MODIFY_STATE",
            "create type 2",
            "period -1",
            "a NULL due time",
            "a due time at a kernel address",
            "ResumeTimer is ignored",
            "a kernel APC routine",
            "an APC routine, for ntdll's dispatcher",
            "cancelled before it is due",
            "set an event",
            "query with a short buffer",
            "a closed armed timer is gone",
        ],
    );
}

#[test]
fn user_apcs_run_in_order_at_alertable_waits() {
    assert_synctest(
        "apc",
        &[
            "queue with ntdll's dispatcher",
            "through KiUserApcDispatcher",
            "queued APCs do not run by themselves",
            "a non-alertable wait ignores them",
            "an alertable delay returns STATUS_USER_APC",
            "the APCs ran in the order queued",
            "with their arguments",
            "on this thread",
            "an alertable wait returns STATUS_USER_APC",
            "runs the queued APC",
            "an alertable wait with nothing queued times out",
            "its wait ended with STATUS_USER_APC",
            "the APC ran on that thread",
            "queue to a thread that has exited",
            "it fires while this thread waits alertably",
            "the timer's APC ran with its context",
            "1024 APCs are queued",
            "the 1025th is refused",
            "all 1024 ran",
            "its alertable wait ends with STATUS_ALERTED",
            "a non-alertable wait ignores an alert",
            "NtTestAlert reports it",
            "and consumes it",
            "an alert ends the next alertable delay",
            "a NULL routine",
            "a kernel routine",
            "queue without THREAD_SET_CONTEXT",
            "alert without THREAD_ALERT",
            "no refused APC was queued",
            "NtContinue with a misaligned context",
            "NtContinue with a kernel context",
            "NtContinue to a kernel rip",
            "a kernel APC dispatcher",
        ],
    );
}

/// A million event signals between two threads on `cpus` processors (two different ones
/// when there are several), every one a wakeup.
fn ping_pong_of_a_million_signals(cpus: u32) {
    let _machine = common::machine_to_itself();
    let console = assert_synctest_on(
        cpus,
        &["pingpong", "1000000"],
        &["both threads finish", "no wakeup lost"],
    );
    let across = if cpus > 1 {
        " across two processors"
    } else {
        ""
    };
    assert!(
        console.contains(&format!(
            "ping-pong: 1000000 signals{across}, 999999 wakeups"
        )),
        "{console}"
    );
}

#[test]
fn an_event_ping_pong_loses_no_wakeup_on_one_processor() {
    ping_pong_of_a_million_signals(1);
}

#[test]
fn an_event_ping_pong_across_processors_loses_no_wakeup_on_two() {
    ping_pong_of_a_million_signals(2);
}

#[test]
fn an_event_ping_pong_across_processors_loses_no_wakeup_on_four() {
    ping_pong_of_a_million_signals(4);
}

#[test]
fn the_default_ping_pong_and_a_bad_signal_count() {
    let console = assert_synctest("pingpong", &["no wakeup lost"]);
    assert!(
        console.contains("ping-pong: 100000 signals, 99999 wakeups"),
        "{console}"
    );
    for count in ["1", "many"] {
        let outcome = boot(&["synctest", "pingpong", count]);
        assert!(
            outcome.console_text().contains("usage: synctest pingpong"),
            "{}",
            outcome.console_text()
        );
        assert_eq!(outcome.exit, GuestExit::Exited(NtStatus::INVALID_PARAMETER));
    }
}

/// Every subcommand but the ping-pong (which has tests of its own) on `cpus` processors:
/// the objects and waits work across processors, and the single-processor checks (strict
/// priority order, boosts, starvation) keep to processor 0 and still hold.
fn every_subcommand_passes_on(cpus: u32) {
    let _machine = common::machine_to_itself();
    for subcommand in [
        "semaphore",
        "mutant",
        "abandon",
        "named",
        "signalwait",
        "priority",
        "boost",
        "starvation",
        "timer",
        "apc",
        "storm",
    ] {
        let console = assert_synctest_on(cpus, &[subcommand], &[]);
        if ["priority", "boost", "starvation"].contains(&subcommand) {
            assert!(
                console.contains("ok: the process keeps to processor 0\n"),
                "{console}"
            );
        }
    }
}

#[test]
fn every_subcommand_passes_on_two_processors() {
    every_subcommand_passes_on(2);
}

#[test]
fn every_subcommand_passes_on_four_processors() {
    every_subcommand_passes_on(4);
}

/// `synctest processors` on `cpus` processors: the count, and the checks that need more
/// than one.
fn processors(cpus: u32) -> String {
    let _machine = common::machine_to_itself();
    let console = assert_synctest_on(
        cpus,
        &["processors"],
        &[
            "the active processors are numbered from 0",
            "each pinned thread ran only on its processor",
            "ProcessAffinityMask 0",
            "ProcessAffinityMask of 4 bytes",
            "ProcessAffinityMask from a kernel address",
        ],
    );
    assert!(
        console.contains(&format!("processors: {cpus}\n")),
        "{console}"
    );
    console
}

#[test]
fn one_processor_has_affinity_checks_only() {
    let console = processors(1);
    assert!(!console.contains("priority-31"), "{console}");
}

/// With several processors: threads pinned to each run at once, the process's affinity
/// moves its threads, and a thread (then a child process) spinning at priority 31 on the
/// last processor leaves the others running and ends when terminated from one of them.
fn processors_run_at_once_and_a_spinner_does_not_wedge_them(cpus: u32) {
    let console = processors(cpus);
    for line in [
        "every processor ran its spinning thread at the same time",
        "this thread moved to the last processor",
        "a priority-31 thread spins on the last processor",
        "priority-8 threads on the other processors run meanwhile",
        "the spinner ends, terminated from another processor",
        "a child process spins at priority 31",
        "the spinning child ends, terminated from another processor",
        "ProcessAffinityMask with an inactive processor",
        "a page freed on one processor faults at once on another that reads it",
    ] {
        assert!(
            console.contains(&format!("ok: {line}\n")),
            "missing `ok: {line}`:\n{console}"
        );
    }
}

#[test]
fn two_processors_run_threads_at_once_and_survive_a_real_time_spinner() {
    processors_run_at_once_and_a_spinner_does_not_wedge_them(2);
}

#[test]
fn four_processors_run_threads_at_once_and_survive_a_real_time_spinner() {
    processors_run_at_once_and_a_spinner_does_not_wedge_them(4);
}

/// Whether the kernel should tag translations with PCIDs on this machine: only the plain
/// backend does (a kvm-pvm host refuses CR4.PCIDE), on a processor that offers them.
fn pcids_expected(outcome: &RunOutcome) -> bool {
    let leaf1 = std::arch::x86_64::__cpuid(1);
    outcome.stats.backend == Some(KernelBackend::Plain) && leaf1.ecx & (1 << 17) != 0
}

/// `synctest switches` on `cpus` processors: the kernel reports PCIDs exactly where they
/// are to be had, and a child's page freed or made read-only while the child is switched
/// out faults on its next write, on the parent's processor and (with several) another.
fn address_space_switches(cpus: u32) {
    let _machine = common::machine_to_itself();
    let outcome = boot_on(cpus, &["synctest", "switches"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    let expected = if pcids_expected(&outcome) {
        "address-space switches: PCIDs in use\n"
    } else {
        "address-space switches: PCIDs not in use\n"
    };
    assert!(
        console.contains(expected),
        "missing `{expected}`:\n{console}"
    );
    let mut places = vec!["on this processor"];
    if cpus > 1 {
        places.push("on another processor");
    }
    for place in places {
        for change in ["freed", "made read-only"] {
            let line =
                format!("ok: a page {change} while its process was switched out faults {place}\n");
            assert!(console.contains(&line), "missing `{line}`:\n{console}");
        }
    }
    for line in [
        "the short buffer's ReturnLength is the size needed",
        "the CR3 loads are counted",
    ] {
        assert!(
            console.contains(&format!("ok: {line}\n")),
            "missing `ok: {line}`:\n{console}"
        );
    }
    assert!(console.contains("synctest switches: "), "{console}");
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(NtStatus::SUCCESS),
        "{console}"
    );
}

#[test]
fn a_process_switched_out_loses_what_was_unmapped_on_one_processor() {
    address_space_switches(1);
}

#[test]
fn a_process_switched_out_loses_what_was_unmapped_on_two_processors() {
    address_space_switches(2);
}

/// 256 threads waking and waiting at random for three seconds on `cpus` processors.
fn a_storm_of_three_seconds(cpus: u32) {
    let _machine = common::machine_to_itself();
    let console = assert_synctest_on(
        cpus,
        &["storm", "3"],
        &[
            "every storm thread ended",
            "every storm thread finished its actions",
            "every storm thread exited with its own status",
            "mutants were acquired and released",
        ],
    );
    let elapsed_ms: u64 = console
        .lines()
        .find_map(|line| {
            line.strip_prefix("storm: ")?
                .split(" threads in ")
                .nth(1)?
                .strip_suffix(" ms")
        })
        .unwrap_or_else(|| panic!("no storm summary:\n{console}"))
        .parse()
        .expect("milliseconds");
    assert!(elapsed_ms >= 3000, "{console}");
}

#[test]
fn a_storm_of_threads_ends_with_every_thread_accounted_for() {
    a_storm_of_three_seconds(1);
}

#[test]
fn a_storm_of_threads_on_four_processors_ends_with_every_thread_accounted_for() {
    a_storm_of_three_seconds(4);
}

#[test]
fn the_processor_childrens_bad_arguments_are_refused() {
    for arguments in [
        &["synctest", "reader"][..],
        &["synctest", "reader", "64"],
        // One processor: no other to read from.
        &["synctest", "reader", "0"],
        &["synctest", "spin"],
    ] {
        let outcome = boot(arguments);
        assert_eq!(
            outcome.exit,
            GuestExit::Exited(NtStatus::INVALID_PARAMETER),
            "{arguments:?}:\n{}",
            outcome.console_text()
        );
    }
}

#[test]
fn a_storm_of_too_many_seconds_is_refused() {
    let outcome = boot(&["synctest", "storm", "601"]);
    assert!(
        outcome.console_text().contains("usage: synctest storm"),
        "{}",
        outcome.console_text()
    );
    assert_eq!(outcome.exit, GuestExit::Exited(NtStatus::INVALID_PARAMETER));
}

#[test]
fn synctest_without_a_subcommand_prints_its_usage() {
    let outcome = boot(&["synctest"]);
    assert!(
        outcome.console_text().contains("usage: synctest"),
        "{}",
        outcome.console_text()
    );
    assert_eq!(outcome.exit, GuestExit::Exited(NtStatus::INVALID_PARAMETER));
}
