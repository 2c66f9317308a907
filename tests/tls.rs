//! ntdll's static TLS, natively: `tlstest` (its own TLS directory defined by hand, as
//! MSVC's tlssup does, and `tlsdll.dll`'s, which it imports) finding the templates and
//! their zero fill in the main thread's blocks and fresh copies in a second thread's, and
//! the TLS callbacks and tlsdll's DllMain called in NT's order (tlsdll's callback, its
//! DllMain, the program's callback) for DLL_PROCESS_ATTACH before main, DLL_THREAD_ATTACH
//! and DLL_THREAD_DETACH for the thread and DLL_PROCESS_DETACH after main (which ends with
//! RtlExitUserThread: as the last thread, it ends the process); on one vCPU and on two.
//! (`dlltest`, in tests/ntdll.rs, loads tlsdll after process start.) Then
//! `badtls`, whose TLS directory's raw data ends before it starts, refused at process
//! start with STATUS_INVALID_IMAGE_FORMAT.

mod common;

use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program_on_cpus};
use vmm::PvmMode;

const TIMEOUT: Duration = Duration::from_secs(60);

fn tlstest_passes_on(cpus: u32) {
    let outcome = boot_program_on_cpus(&["tlstest"], PvmMode::Native, cpus, TIMEOUT);
    assert_exited(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    for line in [
        "ok: the program's TLS index",
        "ok: tlsdll's TLS index",
        "ok: DLL_PROCESS_ATTACH before main: tlsdll's callback, its DllMain, the program's callback",
        "ok: the main thread's block is the template and its zero fill",
        "ok: the main thread's tlsdll block is tlsdll's template and its zero fill",
        "ok: the thread's blocks are fresh copies after main changed its own",
        "ok: the thread's block is not main's",
        "ok: the thread's tlsdll block is neither main's nor its own program block",
        "ok: main's blocks keep main's writes, not the thread's",
        "ok: the thread's attach and detach: tlsdll's callback, its DllMain, the program's callback",
        "ok: every attach callback found the thread's fresh block",
    ] {
        assert!(console.contains(&format!("{line}\n")), "{line}: {console}");
    }
    // DLL_PROCESS_DETACH comes from LdrShutdownProcess, after main's summary: tlsdll's
    // callback (0x100), its DllMain (0x200), then the program's callback (0x300).
    assert!(
        console.ends_with(
            "tlstest: 14 checks, 0 wrong\ntlstest: DLL_PROCESS_DETACH events: 0x100 0x200 0x300\n"
        ),
        "{console}"
    );
}

#[test]
fn tlstest_gets_its_blocks_and_callbacks() {
    tlstest_passes_on(1);
}

#[test]
fn tlstest_gets_its_blocks_and_callbacks_on_two_cpus() {
    tlstest_passes_on(2);
}

#[test]
fn a_tls_directory_whose_data_ends_before_it_starts_is_refused() {
    let outcome = boot_program_on_cpus(&["badtls"], PvmMode::Native, 1, TIMEOUT);
    assert_exited(&outcome, NtStatus::INVALID_IMAGE_FORMAT);
    let console = outcome.console_text();
    assert!(
        console.contains("ldr: bad TLS directory: badtls.exe\n"),
        "{console}"
    );
    assert!(!console.contains("badtls: main ran"), "{console}");
}
