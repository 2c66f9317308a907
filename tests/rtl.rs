//! ntdll.dll's runtime library, natively: `hello`, `exit`, `tlist` and `spawn` running on
//! ntdll's exports; spawn's two creation paths (RtlCreateUserProcess, the classic one, and
//! NtCreateUserProcess) giving `params` children that see the same PEB, process
//! parameters, environment and exit status, and leaking nothing; spawn's bad input; and
//! `rtltest`'s cases: the process heap (reuse, zeroing, reallocation, refused bad frees,
//! threads sharing it), RtlCreateUserThread, the string helpers, and the process
//! services' bad input.

mod common;

use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program};
use vmm::{PvmMode, RunOutcome};

const TIMEOUT: Duration = Duration::from_secs(60);

fn boot(program: &[&str]) -> RunOutcome {
    boot_program(program, PvmMode::Native, TIMEOUT)
}

/// The lines of `console` that start with `prefix`.
fn lines_with<'a>(console: &'a str, prefix: &str) -> Vec<&'a str> {
    console
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect()
}

#[test]
fn hello_and_exit_run_on_ntdll() {
    let outcome = boot(&["hello"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    assert_eq!(outcome.console_text(), "hello from user mode\n");
    let outcome = boot(&["exit", "0xC0000005"]);
    assert_exited(&outcome, NtStatus::ACCESS_VIOLATION);
    let outcome = boot(&["exit", "many", "words"]);
    assert_exited(&outcome, NtStatus::INVALID_PARAMETER);
    assert!(outcome.console_text().starts_with("usage: exit STATUS"));
}

#[test]
fn tlist_on_ntdll_lists_the_tree() {
    let outcome = boot(&["tlist"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let images: Vec<&str> = console
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(3))
        .collect();
    assert_eq!(images, ["System", "smss.exe", "tlist.exe"], "{console}");
}

/// The `params:` lines a child printed, and spawn's line for it, for `spawn OPTIONS 1
/// params ARGS`.
fn spawn_params(options: &[&str]) -> (Vec<String>, String) {
    let mut program = vec!["spawn"];
    program.extend_from_slice(options);
    program.extend_from_slice(&["--env", "PATH=\\SystemRoot", "--env", "EMPTY="]);
    program.extend_from_slice(&["1", "params", "one", "two words"]);
    let outcome = boot(&program);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(
        console.contains("spawn: counters back to where they started"),
        "{console}"
    );
    let child = lines_with(&console, "spawn: child 1: ");
    assert_eq!(child.len(), 1, "{console}");
    // The PIDs are the same on both paths too, but say nothing about the process.
    let status = child[0].split(", exit status ").nth(1).unwrap().to_string();
    let params = lines_with(&console, "params: ")
        .into_iter()
        .map(String::from)
        .collect();
    (params, status)
}

#[test]
fn both_creation_paths_give_the_same_process() {
    let (classic, classic_status) = spawn_params(&[]);
    let (native, native_status) = spawn_params(&["--nt"]);
    assert_eq!(
        classic, native,
        "RtlCreateUserProcess and NtCreateUserProcess"
    );
    // The exit status is the number of environment strings the child found.
    assert_eq!(classic_status, "0x00000002");
    assert_eq!(native_status, classic_status);
    assert_eq!(
        classic,
        [
            "params: image base 0x140000000, loader data set, process heap set",
            // 0x88 for the structure, 0x40 for the image path and 0x2A for the command
            // line, each with its NUL; the environment 8-byte aligned after them.
            "params: length 0xf2 maximum 0xf2 flags 0x1, environment at 0xf8",
            "params: image path \\SystemRoot\\System32\\params.exe",
            "params: command line params one two words",
            "params: environment PATH=\\SystemRoot",
            "params: environment EMPTY=",
        ]
    );
}

#[test]
fn children_without_an_environment_get_none_on_both_paths() {
    for options in [&[][..], &["--nt"][..]] {
        let mut program = vec!["spawn"];
        program.extend_from_slice(options);
        program.extend_from_slice(&["1", "params"]);
        let outcome = boot(&program);
        assert_exited(&outcome, NtStatus::SUCCESS);
        let console = outcome.console_text();
        assert!(
            console.contains("environment at 0x0\n"),
            "{options:?}: {console}"
        );
        assert!(
            console.contains("exit status 0x00000000"),
            "{options:?}: {console}"
        );
    }
}

#[test]
fn both_creation_paths_leak_nothing() {
    for options in [&[][..], &["--nt"][..]] {
        let mut program = vec!["spawn"];
        program.extend_from_slice(options);
        program.extend_from_slice(&["50", "exit", "3"]);
        let outcome = boot(&program);
        assert_exited(&outcome, NtStatus::SUCCESS);
        let console = outcome.console_text();
        for line in [
            "spawn: 50 children of exit: 50 exited with 0x00000003",
            "spawn: process-notify routine: 50 created, 50 exited",
            "spawn: counters back to where they started",
        ] {
            assert!(console.contains(line), "{options:?}: {line}:\n{console}");
        }
    }
}

#[test]
fn spawn_refuses_bad_input() {
    let outcome = boot(&["spawn", "--env"]);
    assert_exited(&outcome, NtStatus::INVALID_PARAMETER);
    assert!(outcome.console_text().starts_with("usage: spawn"));
    let outcome = boot(&["spawn", "x", "hello"]);
    assert_exited(&outcome, NtStatus::INVALID_PARAMETER);
    for options in [&[][..], &["--nt"][..]] {
        let mut program = vec!["spawn"];
        program.extend_from_slice(options);
        program.extend_from_slice(&["1", "missing"]);
        let outcome = boot(&program);
        assert_exited(&outcome, NtStatus::OBJECT_NAME_NOT_FOUND);
        let console = outcome.console_text();
        assert!(
            console.contains("spawn: failed: 0xc0000034"),
            "{options:?}: {console}"
        );
    }
}

#[test]
fn rtltest_answers_every_case_right() {
    let outcome = boot(&["rtltest"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    for case in [
        "ok: the freed block is given out again",
        "ok: HEAP_ZERO_MEMORY zeroes a reused block",
        "ok: RtlReAllocateHeap keeps the contents and zeroes the rest",
        "ok: a thousand blocks of 200 bytes, each keeping its own contents",
        "ok: RtlFreeHeap of a stack address is refused",
        "ok: RtlFreeHeap of a block's middle is refused",
        "ok: and refused the second time",
        "ok: the heap still works after the refusals",
        "ok: RtlCreateUserThread: the routine's return is the exit status",
        "ok: RtlCreateUserThread gives the thread's client ID",
        "ok: resumed, it runs and exits with success",
        "ok: three threads using the heap at once each keep their blocks",
        "ok: RtlCreateUserThread in a process that is not one",
        "ok: RtlAppendUnicodeToString appends, and refuses what does not fit",
        "ok: a classic-path child's loader refuses a missing export",
        "ok: RtlCreateUserProcess of a missing file",
        "ok: RtlCreateUserProcess of a text file",
        "ok: RtlCreateUserProcess with an odd command-line length",
        "ok: NtCreateUserProcess with an environment at a kernel address",
        "ok: NtCreateUserProcess with a good environment",
        "ok: RtlDestroyProcessParameters twice",
        "ok: the counters are back where they started",
        "ok: 1 MiB blocks until the heap has no more room: then NULL",
        "ok: all of them freed, a 1 MiB block comes again",
        "ok: RtlExitUserThread's status is the thread's",
        "ok: a routine NtCreateThreadEx starts returns into RtlUserThreadStart, which ends the thread with its return",
        "ok: RtlCreateUserProcess with a parent that is not a process",
        "ok: ThreadAmILastThread with a second thread",
        "ok: ThreadAmILastThread once it is gone",
        "ok: ThreadAmILastThread into 8 bytes",
        "ok: ThreadAmILastThread into a kernel address",
        "rtltest: 57 cases, 0 wrong",
    ] {
        assert!(console.contains(case), "{case}:\n{console}");
    }
    assert_exited(&outcome, NtStatus::SUCCESS);
}
