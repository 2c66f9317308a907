//! `KiUserApcDispatcher`: where the kernel sends a thread of a process with ntdll to run a
//! user APC, its first one (`LdrInitializeThunk`) included.

use core::mem::offset_of;

use abi::dispatcher::Context;
use abi::service::CURRENT_PROCESS_HANDLE;

use crate::native::{nt_continue, nt_terminate_process};

/// `abi::user_apc_dispatcher_body!` over ntdll's own exports. The kernel registers it as
/// the user APC dispatcher of every process it maps ntdll into.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KiUserApcDispatcher() -> ! {
    core::arch::naked_asm!(
        abi::user_apc_dispatcher_body!(),
        p1 = const offset_of!(Context, p1_home),
        p2 = const offset_of!(Context, p2_home),
        p3 = const offset_of!(Context, p3_home),
        p4 = const offset_of!(Context, p4_home),
        current_process = const CURRENT_PROCESS_HANDLE as i64,
        nt_continue = sym nt_continue,
        nt_terminate_process = sym nt_terminate_process,
    )
}
