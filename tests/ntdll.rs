//! ntdll.dll, natively: the DLL's headers and exports (scripts/check-pe.sh, and its
//! refusal of a file that is not such a DLL), the kernel mapping it at the same base in
//! every process, its loader binding `args`'s imports before the entry point runs (the
//! command line then printed through them, quoting kept, an import by ordinal, and the
//! module list in `PEB.Ldr`), the loader refusing a missing export or ordinal
//! (STATUS_ENTRYPOINT_NOT_FOUND) and a missing DLL (STATUS_DLL_NOT_FOUND) with the parent
//! seeing that status, and boot images without a usable ntdll.dll still running programs
//! that import nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program, guest_image, temp_dir};
use vmm::{ConsoleSink, PvmMode, RunConfig, RunOutcome};

const TIMEOUT: Duration = Duration::from_secs(60);
/// ntdll's preferred base (guest-userland/ntdll/build.rs), where every process has it.
const NTDLL_LINE: &str = "ntdll.dll: MEM_IMAGE view at 0x7ff000000000";
/// `PEB.Ldr`'s load-order list as `args` prints it: the executable, then ntdll.
const EXECUTABLE_MODULE: &str = "module: 0x140000000 args.exe \\SystemRoot\\System32\\args.exe";
const NTDLL_MODULE: &str = "module: 0x7ff000000000 ntdll.dll \\SystemRoot\\System32\\ntdll.dll";

fn boot(program: &[&str]) -> RunOutcome {
    boot_program(program, PvmMode::Native, TIMEOUT)
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn args_prints_its_command_line_through_ntdll_imports() {
    let outcome = boot(&["args", "two words", "a\"quote", "", "back\\slash", "x"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let lines: Vec<&str> = console.lines().collect();
    assert_eq!(
        lines,
        [
            r#"args "two words" "a\"quote" "" back\slash x"#,
            NTDLL_LINE,
            "ordinal 1 is LdrInitializeThunk",
            EXECUTABLE_MODULE,
            NTDLL_MODULE,
        ],
        "{console}"
    );
}

#[test]
fn ntdll_is_mapped_at_the_same_base_in_every_process() {
    // Three children of spawn (NtCreateUserProcess), each finding ntdll's view.
    let outcome = boot(&["spawn", "3", "args", "child"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert_eq!(console.matches("args child\n").count(), 3, "{console}");
    let views: Vec<&str> = console
        .lines()
        .filter(|line| line.starts_with("ntdll.dll:"))
        .collect();
    assert_eq!(views, [NTDLL_LINE; 3], "{console}");
    assert_eq!(console.matches(NTDLL_MODULE).count(), 3, "{console}");
    assert!(
        console.contains("spawn: 3 children of args: 3 exited with 0x00000000"),
        "{console}"
    );
}

#[test]
fn a_missing_export_ends_the_process_with_entrypoint_not_found() {
    let outcome = boot(&["badimport"]);
    assert_exited(&outcome, NtStatus::ENTRYPOINT_NOT_FOUND);
    assert!(
        outcome
            .console_text()
            .contains("ldr: entry point not found in ntdll.dll: NtDoesNotExist\n"),
        "{}",
        outcome.console_text()
    );
}

#[test]
fn a_missing_ordinal_ends_the_process_with_entrypoint_not_found() {
    let outcome = boot(&["badordinal"]);
    assert_exited(&outcome, NtStatus::ENTRYPOINT_NOT_FOUND);
    assert!(
        outcome
            .console_text()
            .contains("ldr: ordinal not found in ntdll.dll: 04000\n"),
        "{}",
        outcome.console_text()
    );
}

#[test]
fn the_parent_sees_the_loaders_status() {
    let outcome = boot(&["spawn", "2", "badimport"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(
        console.contains("spawn: 2 children of badimport: 2 exited with 0xc0000139"),
        "{console}"
    );
    assert!(
        console.contains("spawn: counters back to where they started"),
        "{console}"
    );
}

#[test]
fn a_missing_dll_ends_the_process_with_dll_not_found() {
    let outcome = boot(&["nodll"]);
    assert_exited(&outcome, NtStatus::DLL_NOT_FOUND);
    assert!(
        outcome
            .console_text()
            .contains("ldr: DLL not found: nosuch.dll\n"),
        "{}",
        outcome.console_text()
    );
}

/// The real boot image with System32/ntdll.dll replaced by `ntdll` (left out for None).
fn image_with_ntdll(name: &str, ntdll: Option<&[u8]>) -> PathBuf {
    let bytes = std::fs::read(guest_image()).unwrap();
    let entries = vmm::image::read_entries(&bytes).unwrap();
    let mut writer = vmm::image::ImageWriter::new();
    let mut replaced = false;
    for entry in &entries {
        let mut data = &bytes[entry.offset..entry.offset + entry.size];
        if entry.name.eq_ignore_ascii_case("System32/ntdll.dll") {
            replaced = true;
            match ntdll {
                Some(ntdll) => data = ntdll,
                None => continue,
            }
        }
        writer.add(&entry.name, data).unwrap();
    }
    assert!(replaced, "the boot image has no System32/ntdll.dll");
    let path = temp_dir(name).join("guest.img");
    std::fs::write(&path, writer.finish().unwrap()).unwrap();
    path
}

fn boot_image(image: &Path, program: &[&str]) -> RunOutcome {
    let config = RunConfig {
        program: Some(program.iter().map(|s| s.to_string()).collect()),
        console: ConsoleSink::Capture,
        timeout: TIMEOUT,
        pvm_mode: PvmMode::Native,
        ..RunConfig::new(image.to_path_buf())
    };
    let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
    eprintln!("console of {program:?}:\n{}", outcome.console_text());
    outcome
}

/// A program of rt's alone (no imports), which runs whether or not there is an ntdll.dll:
/// hello, exit, tlist and spawn are on ntdll now.
const PROGRAM_WITHOUT_IMPORTS: &str = "nop";

#[test]
fn programs_run_without_ntdll_in_the_boot_image() {
    let image = image_with_ntdll("ntdll-missing", None);
    let outcome = boot_image(&image, &[PROGRAM_WITHOUT_IMPORTS]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    assert_eq!(outcome.console_text(), "");
}

#[test]
fn an_unusable_ntdll_is_reported_and_programs_run_without_it() {
    let hello = {
        let bytes = std::fs::read(guest_image()).unwrap();
        let entries = vmm::image::read_entries(&bytes).unwrap();
        let entry = entries
            .iter()
            .find(|entry| entry.name.eq_ignore_ascii_case("System32/hello.exe"))
            .unwrap();
        bytes[entry.offset..entry.offset + entry.size].to_vec()
    };
    for (name, ntdll, status) in [
        ("ntdll-text", &b"not a DLL at all"[..], "0xc000012f"),
        // A valid image without LdrInitializeThunk (no exports at all).
        ("ntdll-no-exports", &hello[..], "0xc0000139"),
    ] {
        let image = image_with_ntdll(name, Some(ntdll));
        let outcome = boot_image(&image, &[PROGRAM_WITHOUT_IMPORTS]);
        assert_exited(&outcome, NtStatus::SUCCESS);
        let console = outcome.console_text();
        assert!(
            console.contains(&format!("\\SystemRoot\\System32\\ntdll.dll: {status}")),
            "{name}: {console}"
        );
    }
}

#[test]
fn check_pe_accepts_the_built_ntdll() {
    let output = Command::new("bash")
        .arg("scripts/check-pe.sh")
        .env("QUIET", "0")
        .current_dir(repository_root())
        .output()
        .unwrap();
    // The script reports on stderr, each checked image on a line of its own.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("==> ntdll.dll: PE32+ x86-64 DLL, no imports"),
        "{stderr}"
    );
    assert!(!stderr.contains("error:"), "{stderr}");
}

#[test]
fn check_pe_refuses_an_ntdll_that_is_not_the_dll() {
    let built = repository_root().join("guest-userland/target/x86_64-pc-windows-msvc/release");
    let dir = temp_dir("ntdll-check-pe");
    std::fs::copy(built.join("hello.exe"), dir.join("hello.exe")).unwrap();
    std::fs::copy(built.join("hello.exe"), dir.join("ntdll.dll")).unwrap();
    let output = Command::new("bash")
        .arg("scripts/check-pe.sh")
        .env("PE_DIR", &dir)
        .env("QUIET", "0")
        .current_dir(repository_root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for problem in [
        "error: ntdll.dll: characteristics",
        "lack DLL and EXECUTABLE_IMAGE",
        "error: ntdll.dll: no export NtClose",
        "error: ntdll.dll: no export ZwClose",
        "error: ntdll.dll: no export LdrInitializeThunk",
    ] {
        assert!(stderr.contains(problem), "{problem}: {stderr}");
    }
}
