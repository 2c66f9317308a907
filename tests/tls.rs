//! ntdll's static TLS, natively: `tlstest` (its own TLS directory defined by hand, as
//! MSVC's tlssup does) finding its template and zero fill in the main thread's block and
//! a fresh copy in a second thread's, its TLS callback called with DLL_PROCESS_ATTACH
//! before main, DLL_THREAD_ATTACH and DLL_THREAD_DETACH for the thread and
//! DLL_PROCESS_DETACH after main, and LdrLoadDll of a DLL with TLS refused with
//! STATUS_NOT_SUPPORTED; on one vCPU and on two. Then `badtls`, whose TLS directory's raw
//! data ends before it starts, refused at process start with STATUS_INVALID_IMAGE_FORMAT.

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
        "ok: DLL_PROCESS_ATTACH callback before main",
        "ok: the main thread's block is the template and its zero fill",
        "ok: the thread's block is a fresh copy after main changed its own",
        "ok: the thread's block is not main's",
        "ok: main's block keeps main's write, not the thread's",
        "ok: callbacks: PROCESS_ATTACH, THREAD_ATTACH, THREAD_DETACH",
        "ok: every attach callback found the thread's fresh block",
        "ldr: TLS in a DLL loaded after process start: tlsdll.dll",
        "ok: LdrLoadDll of a DLL with TLS",
    ] {
        assert!(console.contains(&format!("{line}\n")), "{line}: {console}");
    }
    // DLL_PROCESS_DETACH comes from LdrShutdownProcess, after main's summary.
    assert!(
        console.ends_with("tlstest: 12 checks, 0 wrong\ntlstest: DLL_PROCESS_DETACH callback\n"),
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
