//! The calling process's PEB.

use abi::nt::Peb;

/// `RtlGetCurrentPeb()`: `NtCurrentTeb()->ProcessEnvironmentBlock`.
#[unsafe(no_mangle)]
pub extern "system" fn RtlGetCurrentPeb() -> *mut Peb {
    let peb: *mut Peb;
    // SAFETY: gs:[0x60] is TEB.ProcessEnvironmentBlock; the kernel bases `gs` at the TEB
    // of every user thread, and the read has no other effect.
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[0x60]",
            out(reg) peb,
            options(nostack, readonly, preserves_flags),
        )
    };
    peb
}
