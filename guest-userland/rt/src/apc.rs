//! User APCs: the user-mode APC dispatcher, which the kernel sends a thread to when it
//! delivers a user APC (ntdll's `KiUserApcDispatcher` on NT), and its registration with
//! the kernel (a project-specific process information class, since there is no ntdll).

use abi::dispatcher::PROCESS_USER_APC_DISPATCHER_CLASS;
use abi::service::CURRENT_PROCESS_HANDLE;

use crate::NtStatus;
use crate::syscall::{nt_continue, nt_set_information_process, nt_terminate_process};

/// `abi::user_apc_dispatcher_body!` over rt's own stubs.
#[unsafe(naked)]
unsafe extern "C" fn user_apc_dispatcher() -> ! {
    abi::user_apc_dispatcher_body!(nt_continue, nt_terminate_process)
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
