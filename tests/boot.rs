//! Boots the real guest.img (kernel + user programs, built by scripts/build.sh) in-process
//! and checks what each program prints and how it exits.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use abi::NtStatus;
use vmm::{ConsoleSink, GuestExit, KernelBackend, PvmMode, RunConfig, RunOutcome};

/// target/guest.img, or $GUEST_IMAGE.
fn guest_image() -> PathBuf {
    let path = std::env::var_os("GUEST_IMAGE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guest.img"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} does not exist: run scripts/build.sh first (or set GUEST_IMAGE)",
        path.display()
    );
    path
}

fn boot(program: &[&str]) -> RunOutcome {
    let config = RunConfig {
        program: (!program.is_empty()).then(|| program.iter().map(|s| s.to_string()).collect()),
        console: ConsoleSink::Capture,
        timeout: Duration::from_secs(60),
        ..RunConfig::new(guest_image())
    };
    let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
    eprintln!("console of {program:?}:\n{}", outcome.console_text());
    outcome
}

#[track_caller]
fn assert_exit(outcome: &RunOutcome, status: u32) {
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(NtStatus(status)),
        "console:\n{}",
        outcome.console_text()
    );
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

/// On a kvm-pvm host the kernel can run natively (`--pvm native`, experimental): system
/// services work end to end there. User-mode exceptions do not yet, see `vmm::PvmMode`.
#[test]
fn native_pvm_kernel_runs_system_services() {
    let on_kvm_pvm = std::path::Path::new("/sys/module/kvm_pvm").exists();
    for program in [&["hello"][..], &["badcall"], &["exit", "42"]] {
        let config = RunConfig {
            program: Some(program.iter().map(|s| s.to_string()).collect()),
            console: ConsoleSink::Capture,
            timeout: Duration::from_secs(60),
            pvm_mode: PvmMode::Native,
            ..RunConfig::new(guest_image())
        };
        let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
        let expected = if on_kvm_pvm {
            KernelBackend::PvmNative
        } else {
            KernelBackend::Plain
        };
        assert_eq!(outcome.stats.backend, Some(expected));
        assert!(
            !outcome.console_text().contains("WRONG"),
            "{}",
            outcome.console_text()
        );
        assert_exit(&outcome, if program[0] == "exit" { 42 } else { 0 });
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
