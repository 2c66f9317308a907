//! `ntdll.dll`, the system DLL mapped into every process: the system service stubs
//! ([`services`]), the user-mode loader that binds a program's imports before its entry
//! point runs and lists the process's modules in `PEB.Ldr` ([`ldr`]) and a few runtime-library helpers ([`rtl`]).
//!
//! It is a `no_std` cdylib with no imports and no entry point; the kernel maps it at its
//! preferred base (`build.rs`) in every new process. Its exports are the `#[no_mangle]`
//! functions of these modules; `scripts/check-pe.sh` checks that every service has its
//! `Nt*` and `Zw*` export.
// Built for the guest only: the host unit-test build of the workspace (scripts/test.sh)
// compiles it empty.
#![cfg(not(test))]
#![no_std]

mod apc;
mod calls;
pub mod ldr;
// The routines the compiler calls, shared with rt (exported, as NT's ntdll exports them).
#[path = "../../rt/src/mem.rs"]
mod mem;
mod modules;
mod native;
pub mod rtl;
pub mod services;

/// A panic in ntdll ends the process with STATUS_ASSERTION_FAILURE: there is no console
/// formatting here to print it with.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    calls::terminate_current_process(abi::NtStatus::ASSERTION_FAILURE)
}

// The DLL loader: PE reading, the services it calls, its lock, LdrLoadDll and friends, and
// TLS.
mod image;
mod ldr_calls;
mod ldr_lock;
mod load;
mod tls;
mod tls_threads;
