//! `KiUserApcDispatcher`: where the kernel sends a thread of a process with ntdll to run a
//! user APC, its first one (`LdrInitializeThunk`) included.

use crate::native::{nt_continue, nt_terminate_process};

/// `abi::user_apc_dispatcher_body!` over ntdll's own exports. The kernel registers it as
/// the user APC dispatcher of every process it maps ntdll into.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KiUserApcDispatcher() -> ! {
    abi::user_apc_dispatcher_body!(nt_continue, nt_terminate_process)
}
