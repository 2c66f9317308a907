//! User APCs: the user-mode APC dispatcher, which the kernel sends a thread to when it
//! delivers a user APC (ntdll's `KiUserApcDispatcher` on NT), and its registration with
//! the kernel (a project-specific process information class, since there is no ntdll).

use core::mem::offset_of;

use abi::dispatcher::{Context, PROCESS_USER_APC_DISPATCHER_CLASS};
use abi::service::CURRENT_PROCESS_HANDLE;

use crate::NtStatus;
use crate::syscall::{nt_continue, nt_set_information_process, nt_terminate_process};

/// Entered with `rsp` at the `CONTEXT` of the interrupted state (16-byte aligned), holding
/// the APC's arguments in `P1Home`-`P3Home` and its routine in `P4Home`: calls the routine,
/// then `NtContinue(Context, TRUE)`, which runs the next queued APC or resumes the
/// interrupted state. Should NtContinue refuse the context, the process ends with its
/// status.
#[unsafe(naked)]
unsafe extern "C" fn user_apc_dispatcher() -> ! {
    core::arch::naked_asm!(
        "mov rcx, [rsp + {p1}]",
        "mov rdx, [rsp + {p2}]",
        "mov r8, [rsp + {p3}]",
        "mov rax, [rsp + {p4}]",
        // rbx is callee-saved: it keeps the context across the routine.
        "mov rbx, rsp",
        "sub rsp, 32",
        "call rax",
        "mov rcx, rbx",
        "mov edx, 1",
        "call {nt_continue}",
        "mov edx, eax",
        "mov rcx, {current_process}",
        "call {nt_terminate_process}",
        "ud2",
        p1 = const offset_of!(Context, p1_home),
        p2 = const offset_of!(Context, p2_home),
        p3 = const offset_of!(Context, p3_home),
        p4 = const offset_of!(Context, p4_home),
        current_process = const CURRENT_PROCESS_HANDLE as i64,
        nt_continue = sym nt_continue,
        nt_terminate_process = sym nt_terminate_process,
    )
}

/// Registers this program's user APC dispatcher with the kernel, so its threads can
/// receive user APCs (NtQueueApcThread is STATUS_NOT_SUPPORTED until then).
pub fn register_dispatcher() -> NtStatus {
    let dispatcher = user_apc_dispatcher as *const () as u64;
    // SAFETY: the value is a local of the size given.
    unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_USER_APC_DISPATCHER_CLASS,
            (&raw const dispatcher).cast(),
            size_of::<u64>() as u32,
        )
    }
}
