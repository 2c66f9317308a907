//! ntdll.dll, natively: the DLL's headers and exports (scripts/check-pe.sh, and its
//! refusal of a file that is not such a DLL), the kernel mapping it at the same base in
//! every process, its loader binding `args`'s imports before the entry point runs (the
//! command line then printed through them, quoting kept, an import by ordinal, and the
//! module list in `PEB.Ldr`), the loader refusing a missing export or ordinal
//! (STATUS_ENTRYPOINT_NOT_FOUND) and a missing DLL (STATUS_DLL_NOT_FOUND) with the parent
//! seeing that status, and boot images without a usable ntdll.dll still running programs
//! that import nothing. Then its DLL loader on testdll.dll: `dlltest` loading it
//! dynamically (relocated, exports by name and ordinal, the module lists, DllMain's process
//! and thread notifications in order, reference-counted unloads, the bad names' statuses,
//! tlsdll's TLS given to a DLL loaded after process start: blocks in the main thread, a
//! thread that waited through the load and a later one, its callback before its DllMain),
//! a DllMain that refuses (STATUS_DLL_INIT_FAILED, dynamically and statically),
//! `dllstatic`'s static import of it, and check-pe.sh's checks of it.

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
            "environment: none",
            NTDLL_LINE,
            "ordinal 1 is LdrInitializeThunk",
            EXECUTABLE_MODULE,
            NTDLL_MODULE,
        ],
        "{console}"
    );
}

#[test]
fn args_prints_the_environment_its_creator_gave() {
    let outcome = boot(&[
        "spawn",
        "--env",
        "FIRST=1",
        "--env",
        "SECOND=two words",
        "1",
        "args",
        "child",
    ]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(
        console.contains("args child\nenvironment: FIRST=1\nenvironment: SECOND=two words\n"),
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

/// What testdll's and chaindll's DllMains print during `dlltest`, in order: the
/// classic-path child's static load and its exit, then dlltest's own dynamic load, the thread's attach
/// and detach, the last unload; chaindll's load (testdll, its dependency, first) and
/// unload (chaindll first); the load before exit and the process-exit detach from
/// LdrShutdownProcess.
const DLLTEST_NOTIFICATIONS: [&str; 18] = [
    "testdll: DLL_PROCESS_ATTACH static",
    "testdll: DLL_PROCESS_DETACH process exit",
    "testdll: DLL_PROCESS_ATTACH dynamic",
    "testdll: DLL_THREAD_ATTACH",
    "testdll: DLL_THREAD_DETACH",
    "testdll: DLL_PROCESS_DETACH unload",
    "testdll: DLL_PROCESS_ATTACH dynamic",
    "chaindll: DLL_PROCESS_ATTACH",
    "chaindll: DLL_PROCESS_DETACH",
    "testdll: DLL_PROCESS_DETACH unload",
    // Loaded for the dynamic TLS checks: the thread that waits through tlsdll's load, and
    // the one created after it, which ends first.
    "testdll: DLL_PROCESS_ATTACH dynamic",
    "testdll: DLL_THREAD_ATTACH",
    "testdll: DLL_THREAD_ATTACH",
    "testdll: DLL_THREAD_DETACH",
    "testdll: DLL_THREAD_DETACH",
    "testdll: DLL_PROCESS_DETACH unload",
    "testdll: DLL_PROCESS_ATTACH dynamic",
    "testdll: DLL_PROCESS_DETACH process exit",
];

/// The lines of `console` that start with `prefix`.
fn lines_starting<'a>(console: &'a str, prefix: &str) -> Vec<&'a str> {
    console
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect()
}

/// The value of `0x...` after `key` in `line`.
fn hex_after(line: &str, key: &str) -> u64 {
    let start = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
    let digits: String = line[start..]
        .trim_start_matches("0x")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&digits, 16).unwrap_or_else(|_| panic!("{key} in {line}"))
}

#[test]
fn dlltest_loads_relocates_notifies_and_unloads_testdll() {
    let outcome = boot(&["dlltest"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    assert!(console.contains("checks, 0 wrong\n"), "{console}");
    let notifications: Vec<&str> = console
        .lines()
        .filter(|line| line.starts_with("testdll: ") || line.starts_with("chaindll: "))
        .collect();
    assert_eq!(notifications, DLLTEST_NOTIFICATIONS, "{console}");
    // DLL_THREAD_ATTACH runs before the thread's start routine, which then finds the
    // attach and the thread attach in the log.
    let attach = console.find("testdll: DLL_THREAD_ATTACH\n").unwrap();
    let start_routine = console
        .find("thread: 2 notifications when the start routine runs\n")
        .unwrap_or_else(|| panic!("{console}"));
    assert!(attach < start_routine, "{console}");

    // Relocated: not at its preferred base, and the pointer in its data fixed up.
    let relocated = lines_starting(&console, "relocated: ");
    assert_eq!(relocated.len(), 1, "{console}");
    let line = relocated[0];
    assert_eq!(hex_after(line, "preferred base "), 0x1_4000_0000, "{line}");
    assert_ne!(hex_after(line, "loaded at "), 0x1_4000_0000, "{line}");
    assert_eq!(
        hex_after(line, "TestDllMarkerPointer "),
        hex_after(line, "TestDllMarker at "),
        "{line}"
    );
    let base = hex_after(line, "loaded at ");

    // PEB.Ldr: the program, ntdll and testdll in load order; the DLLs in initialization
    // order.
    assert_eq!(
        lines_starting(&console, "module: "),
        [
            "module: 0x140000000 dlltest.exe \\SystemRoot\\System32\\dlltest.exe".to_string(),
            NTDLL_MODULE.to_string(),
            format!("module: {base:#x} testdll.dll \\SystemRoot\\System32\\testdll.dll"),
        ],
        "{console}"
    );
    assert!(
        console.contains("initialization order: ntdll.dll testdll.dll\n"),
        "{console}"
    );
    for line in [
        "TestDllAdd(2, 3) = 5",
        "LdrGetProcedureAddress(TestDllMissing): 0xc000007a (STATUS_PROCEDURE_NOT_FOUND)",
        "LdrGetProcedureAddress(ordinal 1): 0xc0000138 (STATUS_ORDINAL_NOT_FOUND)",
        "dlltest: LdrLoadDll(nosuch.dll): 0xc0000135 (STATUS_DLL_NOT_FOUND)",
        "LdrGetProcedureAddress(TestDllForwardedMissing): 0xc0000135 (STATUS_DLL_NOT_FOUND)",
        "ok: TestDllForwarded is ntdll's RtlInitUnicodeString",
        "ok: TestDllForwardedOrdinal is ntdll's ordinal 1",
        "ok: no thread notifications once disabled",
        "ok: ChainDllAdd3(1, 2, 3) through testdll",
        "ok: testdll is initialized before chaindll",
        "ok: testdll went with chaindll",
        "ldr: entry point not found in ntdll.dll: NtDoesNotExist",
        "dlltest: LdrLoadDll(baddll.dll): 0xc0000139 (STATUS_ENTRYPOINT_NOT_FOUND)",
        "dlltest: LdrLoadDll(tlsdll.dll) after process start: 0x00000000 (STATUS_SUCCESS)",
        "ok: the main thread's tlsdll block holds its template",
        "ok: a waiting thread's tlsdll block holds its template",
        "ok: a later thread's tlsdll block holds its template",
        "ok: each thread has its own tlsdll block",
        "ok: tlsdll's TLS callback ran with DLL_PROCESS_ATTACH",
        "ok: then its DllMain",
        "ok: the main thread's tlsdll block is gone with it",
        "ok: modules in load order after the failed load",
        "dlltest: classic-path dllstatic exited with 0x00000000 (STATUS_SUCCESS)",
        "ok: the view is gone",
        "ok: a file that is not an image",
    ] {
        assert!(console.contains(&format!("{line}\n")), "{line}: {console}");
    }
}

#[test]
fn a_dll_whose_entry_point_refuses_is_not_loaded() {
    let outcome = boot(&["dlltest", "initfail"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    assert_eq!(
        lines_starting(&console, "testdll: "),
        [
            "testdll: DLL_PROCESS_ATTACH dynamic (refused)",
            "testdll: DLL_PROCESS_DETACH unload",
        ],
        "{console}"
    );
    assert!(
        console.contains("dlltest: LdrLoadDll(testdll.dll): 0xc0000142 (STATUS_DLL_INIT_FAILED)\n"),
        "{console}"
    );
    assert!(console.contains("checks, 0 wrong\n"), "{console}");
}

#[test]
fn a_static_import_of_testdll_is_loaded_before_the_entry_point() {
    let outcome = boot(&["dllstatic"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let lines: Vec<&str> = console.lines().collect();
    assert_eq!(lines.len(), 6, "{console}");
    assert_eq!(
        lines[..4],
        [
            "testdll: DLL_PROCESS_ATTACH static",
            "dllstatic: TestDllAdd(2, 3) = 5 by name, (40, 2) = 42 by ordinal",
            "dllstatic: ordinal 7 is TestDllAdd: true",
            // Forwarded by testdll to ntdll's RtlInitUnicodeString: "hello" is 10 bytes.
            "dllstatic: TestDllForwarded (RtlInitUnicodeString) gave length 10",
        ],
        "{console}"
    );
    assert!(
        lines[4].starts_with(
            "dllstatic: LdrGetDllHandle(testdll): 0x00000000 (STATUS_SUCCESS), base 0x"
        ),
        "{console}"
    );
    assert_ne!(hex_after(lines[4], "base "), 0x1_4000_0000, "{console}");
    assert_eq!(
        lines[5], "testdll: DLL_PROCESS_DETACH process exit",
        "{console}"
    );
}

#[test]
fn a_static_dll_that_refuses_ends_the_process_with_dll_init_failed() {
    let outcome = boot(&["dllstatic", "initfail"]);
    assert_exited(&outcome, NtStatus::DLL_INIT_FAILED);
    let console = outcome.console_text();
    assert!(
        console.contains("testdll: DLL_PROCESS_ATTACH static (refused)\n"),
        "{console}"
    );
    assert!(
        console.contains("ldr: DLL_PROCESS_ATTACH failed: testdll.dll\n"),
        "{console}"
    );
    assert!(!console.contains("dllstatic: "), "{console}");
    // The parent's wait sees the status too.
    let outcome = boot(&["spawn", "1", "dllstatic", "initfail"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(
        console.contains("spawn: 1 children of dllstatic: 1 exited with 0xc0000142"),
        "{console}"
    );
}

#[test]
fn the_parent_sees_a_missing_dll() {
    let outcome = boot(&["spawn", "1", "nodll"]);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(
        console.contains("ldr: DLL not found: nosuch.dll\n"),
        "{console}"
    );
    assert!(
        console.contains("spawn: 1 children of nodll: 1 exited with 0xc0000135"),
        "{console}"
    );
}

#[test]
fn check_pe_checks_testdll() {
    let built = repository_root().join("guest-userland/target/x86_64-pc-windows-msvc/release");
    let check = |dir: &Path| {
        let output = Command::new("bash")
            .arg("scripts/check-pe.sh")
            .env("PE_DIR", dir)
            .env("QUIET", "0")
            .current_dir(repository_root())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (success, stderr) = check(&built);
    assert!(success, "{stderr}");
    assert!(
        stderr.contains("==> testdll.dll: PE32+ x86-64 DLL, entry RVA"),
        "{stderr}"
    );
    // ntdll.dll as testdll.dll: no entry point, no import from ntdll, no TestDllAdd.
    let dir = temp_dir("testdll-check-pe");
    for name in ["hello.exe", "ntdll.dll"] {
        std::fs::copy(built.join(name), dir.join(name)).unwrap();
    }
    std::fs::copy(built.join("ntdll.dll"), dir.join("testdll.dll")).unwrap();
    let (success, stderr) = check(&dir);
    assert!(!success, "{stderr}");
    for problem in [
        "error: testdll.dll: no entry point",
        "error: testdll.dll: the ordinal base is not 7",
        "error: testdll.dll: no export TestDllAdd",
    ] {
        assert!(stderr.contains(problem), "{problem}: {stderr}");
    }
}
