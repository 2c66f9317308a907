//! Boots the real guest.img (kernel + user programs, built by scripts/build.sh) in-process
//! and checks what each program prints and how it exits.

mod common;

use std::process::Command;
use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program, guest_image};
use vmm::{KernelBackend, PvmMode, RunConfig, RunOutcome};

fn boot(program: &[&str]) -> RunOutcome {
    boot_with(program, RunConfig::new(guest_image()).pvm_mode)
}

fn boot_with(program: &[&str], pvm_mode: PvmMode) -> RunOutcome {
    boot_program(program, pvm_mode, Duration::from_secs(60))
}

#[track_caller]
fn assert_exit(outcome: &RunOutcome, status: u32) {
    assert_exited(outcome, NtStatus(status));
}

#[test]
fn hello_prints_from_user_mode() {
    let outcome = boot(&["hello"]);
    assert_exit(&outcome, 0);
    assert!(outcome.console_text().contains("hello from user mode"));
    assert_eq!(outcome.exit_code(), 0);
    assert!(outcome.stats.kernel_entered.is_some());
    assert!(outcome.stats.user_mode_entered.is_some());
}

#[test]
fn default_program_is_hello() {
    let outcome = boot(&[]);
    assert_exit(&outcome, 0);
    assert!(outcome.console_text().contains("hello from user mode"));
}

#[test]
fn exit_42() {
    let outcome = boot(&["exit", "42"]);
    assert_exit(&outcome, 42);
    assert_eq!(outcome.exit_code(), 42);
}

#[test]
fn exit_hex_status_above_255() {
    let outcome = boot(&["exit", "0x1234"]);
    assert_exit(&outcome, 0x1234);
    assert_eq!(outcome.exit_code(), 1);
}

#[test]
fn privileged_instruction_ends_the_program() {
    let outcome = boot(&["privileged"]);
    assert_exit(&outcome, NtStatus::PRIVILEGED_INSTRUCTION.0);
}

#[test]
fn kernel_address_write_is_an_access_violation() {
    let outcome = boot(&["fault"]);
    assert_exit(&outcome, NtStatus::ACCESS_VIOLATION.0);
}

#[test]
fn bad_service_numbers_pointers_lengths_and_handles_get_their_status() {
    let outcome = boot(&["badcall"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    assert_eq!(
        console
            .lines()
            .filter(|line| line.starts_with("ok: "))
            .count(),
        11,
        "{console}"
    );
    assert!(console.contains("badcall: 0 wrong"), "{console}");
    assert_exit(&outcome, 0);
}

/// Every program behaves the same in both ways a kvm-pvm host can run the kernel, and the
/// run uses the backend asked for (on hardware KVM both are the plain backend).
fn every_program_runs(mode: PvmMode, on_kvm_pvm: KernelBackend) {
    let expected = if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        on_kvm_pvm
    } else {
        KernelBackend::Plain
    };
    let cases: [(&[&str], u32, &str); 8] = [
        (&["hello"], 0, "hello from user mode"),
        (&["badcall"], 0, "badcall: 0 wrong"),
        (&["handles"], 0, ", 0 wrong"),
        (&["threads"], 0, "threads: 93 cases, 0 wrong"),
        (&["vmtest"], 0, "vmtest: 0 wrong"),
        (&["exit", "42"], 42, ""),
        (
            &["privileged"],
            NtStatus::PRIVILEGED_INSTRUCTION.0,
            "unhandled exception",
        ),
        (
            &["fault"],
            NtStatus::ACCESS_VIOLATION.0,
            "unhandled exception",
        ),
    ];
    for (program, status, output) in cases {
        let outcome = boot_with(program, mode);
        assert_eq!(outcome.stats.backend, Some(expected), "{program:?}");
        let console = outcome.console_text();
        assert!(
            console.contains(output) && !console.contains("WRONG"),
            "{program:?}:\n{console}"
        );
        assert_exit(&outcome, status);
    }
}

/// The other tests use the default (native); this one and its bootstrap twin name the mode.
#[test]
fn native_pvm_kernel_runs_every_program() {
    every_program_runs(PvmMode::Native, KernelBackend::PvmNative);
}

#[test]
fn bootstrap_pvm_kernel_runs_every_program() {
    every_program_runs(PvmMode::Bootstrap, KernelBackend::PvmBootstrap);
}

/// Kernel memory is out of reach of user mode in every backend: kernel text, kernel data
/// (the pool), the direct map, and, for writes, the entry code that user page tables map
/// on a kvm-pvm host.
#[test]
fn user_mode_cannot_touch_kernel_memory() {
    let attempts: [&[&str]; 7] = [
        &["fault"],
        &["fault", "0xffffffff80200000", "read"],
        &["fault", "0xffffffff80400000"],
        &["fault", "0xffffffff80400000", "read"],
        &["fault", "0xffff888000001000", "read"],
        &["fault", "0xffff888000001000"],
        &["fault", "0xffffffff80201000"],
    ];
    for mode in [PvmMode::Native, PvmMode::Bootstrap] {
        for attempt in attempts {
            let outcome = boot_with(attempt, mode);
            let console = outcome.console_text();
            assert!(
                !console.contains("did not fault"),
                "{mode:?} {attempt:?}:\n{console}"
            );
            assert_exit(&outcome, NtStatus::ACCESS_VIOLATION.0);
        }
    }
}

#[test]
fn handles_are_opened_duplicated_checked_and_closed() {
    let outcome = boot(&["handles"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    let cases = console
        .lines()
        .filter(|line| line.starts_with("ok: "))
        .count();
    assert!(cases >= 100, "{cases} cases:\n{console}");
    assert!(
        console.contains(&format!("handles: {cases} cases, 0 wrong")),
        "{console}"
    );
    for case in [
        "ok: NtOpenProcess(own CID, PROCESS_QUERY_INFORMATION)",
        "ok: NtDuplicateObject(reduced access)",
        "ok: NtDuplicateObject(DUPLICATE_CLOSE_SOURCE)",
        "ok: NtTerminateProcess(handle without PROCESS_TERMINATE)",
        "ok: NtTerminateProcess(a thread handle)",
        "ok: NtClose(the same handle again)",
        "ok: NtOpenProcess(unmapped handle pointer)",
        "ok: the name goes with the last handle",
        "ok: NtTerminateProcess(System)",
        "ok: NtSuspendThread(a System thread)",
    ] {
        assert!(console.contains(case), "{case} missing:\n{console}");
    }
    assert_exit(&outcome, 0);
}

/// The kernel measures its own primitives in both backends and `archtimings` reports them
/// with the null system call it times itself (figures only: speed is `vmm bench`'s job).
#[test]
fn architecture_timings_are_reported_in_both_backends() {
    for mode in [PvmMode::Native, PvmMode::Bootstrap] {
        let outcome = boot_with(&["archtimings"], mode);
        let console = outcome.console_text();
        for figure in [
            "kernel loop iteration",
            "cr3 switch",
            "timer interrupt delivery",
            "null system call round trip",
        ] {
            let line = console
                .lines()
                .find(|line| line.starts_with(&format!("archtimings: {figure}: ")))
                .unwrap_or_else(|| panic!("{mode:?}: no {figure}:\n{console}"));
            let cycles: f64 = line
                .split(": ")
                .nth(2)
                .and_then(|value| value.split(' ').next())
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{mode:?}: unreadable {line:?}"));
            assert!(cycles > 0.0, "{mode:?}: {line}");
        }
        assert_exit(&outcome, 0);
    }
}

#[test]
fn cli_runs_hello_with_stats() {
    let out = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .args(["run", "--stats"])
        .arg(guest_image())
        .args(["--", "hello"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("hello from user mode"), "{stdout}");
    for line in [
        "stats: vmm start -> first KVM_RUN:",
        "stats: vmm start -> kernel entered:",
        "stats: vmm start -> user mode:",
        "stats: vmm start -> shutdown:",
        "stats: vm exits:",
        "stats: rejected hypercalls:",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in {stderr}");
    }
}

#[test]
fn cli_large_status_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("run")
        .arg(guest_image())
        .args(["--", "exit", "0x1234"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vmm: program exited with status 0x00001234"),
        "{stderr}"
    );
}

#[test]
fn virtual_memory_is_reserved_committed_protected_queried_and_freed() {
    let outcome = boot(&["vmtest"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    let cases = console
        .lines()
        .filter(|line| line.starts_with("ok: "))
        .count();
    assert!(cases >= 130, "{cases} cases:\n{console}");
    for case in [
        "ok: committed pages read as zeros",
        "ok: NtReadVirtualMemory into reserved pages",
        "ok: NtWriteVirtualMemory to a read-only page",
        "ok: no-access page back to read-write",
        "ok: guard is gone after the first access",
        "ok: the part above is an allocation of its own",
        "ok: this code is an image view",
        "ok: NtAllocateVirtualMemory: kernel base",
        "ok: NtFreeVirtualMemory: nothing allocated there",
        "ok: NtProtectVirtualMemory: NULL OldProtect",
        "ok: NtQueryVirtualMemory: short buffer",
        "ok: NtReadVirtualMemory: range wrapping around",
        "ok: released memory returns every frame",
    ] {
        assert!(console.contains(case), "missing {case:?}:\n{console}");
    }
    assert!(console.contains("vmtest: 0 wrong"), "{console}");
    assert!(
        console.contains("ok: the zero page thread zeroes released frames in the background"),
        "{console}"
    );
    assert_exit(&outcome, 0);
}

/// Runs `vmtest MODE`, which must end with `status` from the access it makes.
#[track_caller]
fn assert_vmtest_fault(mode: &str, status: NtStatus) {
    let outcome = boot(&["vmtest", mode]);
    let console = outcome.console_text();
    assert!(!console.contains("did not fault"), "{console}");
    assert!(
        console.contains(&format!("vmtest.exe: unhandled exception {status}")),
        "{console}"
    );
    assert_exit(&outcome, status.0);
}

#[test]
fn write_to_a_read_only_page_is_an_access_violation() {
    assert_vmtest_fault("fault-readonly", NtStatus::ACCESS_VIOLATION);
}

#[test]
fn first_touch_of_a_guard_page_is_a_guard_page_violation() {
    assert_vmtest_fault("fault-guard", NtStatus::GUARD_PAGE_VIOLATION);
}

#[test]
fn read_of_a_decommitted_page_is_an_access_violation() {
    assert_vmtest_fault("fault-decommitted", NtStatus::ACCESS_VIOLATION);
}

#[test]
fn read_of_a_released_page_is_an_access_violation() {
    assert_vmtest_fault("fault-released", NtStatus::ACCESS_VIOLATION);
}

#[test]
fn read_of_a_no_access_page_is_an_access_violation() {
    assert_vmtest_fault("fault-noaccess", NtStatus::ACCESS_VIOLATION);
}

#[test]
fn call_into_a_no_execute_page_is_an_access_violation() {
    assert_vmtest_fault("fault-execute", NtStatus::ACCESS_VIOLATION);
}

#[test]
fn threads_waits_events_and_the_dispatcher_behave_like_nts() {
    let outcome = boot(&["threads"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    assert!(
        console.contains("ok: sleepers woke in deadline order"),
        "{console}"
    );
    assert!(console.contains("ok: spinners end"), "{console}");
    assert!(
        console.contains("ok: gs stays at the thread's own TEB"),
        "{console}"
    );
    assert!(console.contains(", 0 wrong"), "{console}");
    assert_exit(&outcome, 0);
}

#[test]
fn spawn_creates_children_of_the_caller_and_tlist_shows_the_tree() {
    let outcome = boot(&["spawn", "3", "hello"]);
    let console = outcome.console_text();
    assert_eq!(
        console.matches("hello from user mode").count(),
        3,
        "{console}"
    );
    // Every child names the same parent: spawn, itself a child of the session manager.
    let parents: Vec<&str> = (1..=3)
        .map(|child| {
            let prefix = format!("spawn: child {child}: pid ");
            let line = console
                .lines()
                .find(|line| line.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no line for child {child}:\n{console}"));
            line.split(", parent ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap_or("")
        })
        .collect();
    assert!(
        parents.iter().all(|parent| *parent == parents[0]) && !["", "0", "4"].contains(&parents[0]),
        "{parents:?}:\n{console}"
    );
    assert!(console.contains("3 exited with 0x00000000"), "{console}");
    assert!(console.contains("3 created, 3 exited"), "{console}");
    assert_exit(&outcome, 0);

    // tlist run by spawn lists the tree: the System process (PID 4, no parent, its zero page
    // thread), the session manager it started, spawn, and tlist itself.
    let outcome = boot(&["spawn", "1", "tlist"]);
    let console = outcome.console_text();
    let row = |line: &str| -> Vec<String> { line.split_whitespace().map(String::from).collect() };
    let rows: Vec<Vec<String>> = console
        .lines()
        .map(row)
        .filter(|row| row.len() == 4 && row[0].parse::<u64>().is_ok())
        .collect();
    assert_eq!(rows.len(), 4, "{console}");
    assert_eq!(rows[0], ["4", "0", "1", "System"], "{console}");
    assert_eq!(rows[1][1..], ["4", "1", "smss.exe"], "{console}");
    assert_eq!(rows[2][1..], [&rows[1][0], "1", "spawn.exe"], "{console}");
    assert_eq!(rows[3][1..], [&rows[2][0], "1", "tlist.exe"], "{console}");
    assert_exit(&outcome, 0);
}

#[test]
fn exit_status_propagates_to_the_parent() {
    let outcome = boot(&["spawn", "5", "exit", "7"]);
    let console = outcome.console_text();
    assert_eq!(
        console.matches("exit status 0x00000007").count(),
        5,
        "{console}"
    );
    assert!(
        console.contains("5 children of exit: 5 exited with 0x00000007"),
        "{console}"
    );
    assert_exit(&outcome, 0);
}

#[test]
fn processes_are_created_suspended_resumed_terminated_and_waited_for() {
    let outcome = boot(&["proctest"]);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    for case in [
        "ok: NtResumeThread(suspended child)",
        "ok: the resumed child's exit status",
        "ok: the terminated child's exit status: running",
        "ok: the terminated child's exit status: blocked",
        "ok: the terminated child's exit status: created suspended",
        "ok: the terminated child's exit status: suspended while running",
        "ok: WaitAll on three children",
        "ok: with it the child sets the inherited event",
        "ok: every child ran down: as many processes as before",
        "ok: the child's memory holds the write",
        "ok: this process's own PEB is untouched",
        "ok: NtReadVirtualMemory without PROCESS_VM_READ",
        "ok: NtWriteVirtualMemory with PROCESS_VM_READ alone",
        "ok: NtReadVirtualMemory of the kernel through a child's handle",
        "ok: tlist still works afterwards",
    ] {
        assert!(console.contains(case), "{case}:\n{console}");
    }
    assert!(console.contains(", 0 wrong"), "{console}");
    assert_exit(&outcome, 0);
}

#[test]
fn bad_input_to_the_process_services_gets_its_status() {
    let outcome = boot(&["proctest"]);
    let console = outcome.console_text();
    for case in [
        "ok: NtCreateUserProcess(kernel process handle pointer)",
        "ok: NtCreateUserProcess(unmapped parameters)",
        "ok: NtCreateUserProcess(odd image path length)",
        "ok: NtCreateUserProcess(image not in the boot image)",
        "ok: NtCreateUserProcess(unmapped AttributeList)",
        "ok: NtQueryInformationProcess(bogus handle)",
        "ok: NtQueryInformationProcess(thread handle)",
        "ok: NtQueryInformationProcess without PROCESS_QUERY_INFORMATION",
        "ok: NtQueryInformationProcess(short length)",
        "ok: NtQueryInformationProcess(kernel buffer)",
        "ok: SystemProcessInformation into 16 bytes",
        "ok: NtTerminateProcess without PROCESS_TERMINATE",
        "ok: NtTerminateProcess(event handle)",
    ] {
        assert!(console.contains(case), "{case}:\n{console}");
    }
    assert!(!console.contains("WRONG"), "{console}");
    assert_exit(&outcome, 0);
}

#[test]
fn ten_thousand_processes_leak_nothing() {
    // Natively: at about 75 ms a process, bootstrap mode would take over ten minutes.
    let outcome = boot_with(&["spawn", "10000", "exit", "0"], PvmMode::Native);
    let console = outcome.console_text();
    let counters = |prefix: &str| {
        console
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{console}"))
            .to_string()
    };
    assert_eq!(
        counters("spawn: before: "),
        counters("spawn: after: "),
        "{console}"
    );
    assert!(
        console.contains("10000 exited with 0x00000000"),
        "{console}"
    );
    assert!(console.contains("10000 created, 10000 exited"), "{console}");
    assert!(
        console.contains("counters back to where they started"),
        "{console}"
    );
    assert_exit(&outcome, 0);
}

/// Process creation and rundown (which leaves the dying address space first) in bootstrap
/// mode too, where the host emulates kernel code.
#[test]
fn bootstrap_pvm_kernel_creates_and_runs_down_processes() {
    let outcome = boot_with(&["proctest"], PvmMode::Bootstrap);
    let console = outcome.console_text();
    assert!(
        !console.contains("WRONG") && console.contains(", 0 wrong"),
        "{console}"
    );
    assert_exit(&outcome, 0);
    let outcome = boot_with(&["spawn", "10", "exit", "3"], PvmMode::Bootstrap);
    let console = outcome.console_text();
    assert!(console.contains("10 exited with 0x00000003"), "{console}");
    assert!(
        console.contains("counters back to where they started"),
        "{console}"
    );
    assert_exit(&outcome, 0);
}
