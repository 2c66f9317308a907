//! The user-mode runtime every program links: image entry point, command line, console
//! output, system service stubs, panic handler and the routines the compiler calls
//! (`memcpy` and friends, `__chkstk`, `_fltused`).
//!
//! A program is a `#![no_std] #![no_main]` binary that names its main function with
//! [`entry!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! rt::entry!(main);
//! fn main(args: &rt::Args) -> rt::NtStatus {
//!     rt::println!("hello");
//!     rt::NtStatus::SUCCESS
//! }
//! ```
//!
//! The image entry point is `NtProcessStartup` (`/ENTRY:NtProcessStartup`). It reads the
//! command line from `PEB.ProcessParameters`, splits it like `CommandLineToArgvW` (so
//! `args.get(0)` is the program name), calls main and ends the process with
//! `NtTerminateProcess(NtCurrentProcess(), status)`.
//!
//! The pure parts ([`args`], [`num`]) build and are unit-tested on the host too.
#![cfg_attr(not(test), no_std)]

#[cfg(not(test))]
pub mod apc;
pub mod args;
pub mod console;
#[cfg(not(test))]
pub mod counters;
#[cfg(not(test))]
pub mod event;
#[cfg(not(test))]
mod mem;
#[cfg(not(test))]
pub mod name;
pub mod num;
#[cfg(not(test))]
mod panic;
#[cfg(not(test))]
pub mod process;
#[cfg(not(test))]
mod startup;
pub mod syscall;
pub mod tally;
pub mod thread;
#[cfg(not(test))]
pub mod wait;

pub use abi::NtStatus;
pub use args::Args;
pub use num::parse_u32;
#[cfg(not(test))]
pub use startup::{command_line, current_peb, for_each_environment_string};
pub use syscall::{display_string, terminate_process};

/// The time-stamp counter, which user mode reads without the kernel (CR4.TSD is clear).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Names the program's main function, `fn(&rt::Args) -> rt::NtStatus`. Its return value
/// becomes the process exit status. Use it exactly once, in the binary crate.
///
/// `rt::entry!(main)` gives the runtime's console and exit rt's own system service stubs;
/// `rt::entry!(main, ntdll)` makes the program one on ntdll.dll: they go through ntdll's
/// `NtDisplayString` and `RtlExitUserProcess` (see [`ntdll`]).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!(@define $main, $crate::syscall::display_string, $crate::terminate_process);
    };
    ($main:path, ntdll) => {
        $crate::entry!(@define $main, $crate::ntdll::display_string, $crate::ntdll::exit_process);
    };
    (@define $main:path, $display:path, $exit:path) => {
        /// Called by `rt`'s entry point with the parsed command line.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        fn __rt_main(args: &$crate::Args) -> $crate::NtStatus {
            let main: fn(&$crate::Args) -> $crate::NtStatus = $main;
            main(args)
        }

        /// The console the runtime writes to.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        fn __rt_display_string(text: &[u16]) -> $crate::NtStatus {
            $display(text)
        }

        /// How the runtime ends the process.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        fn __rt_exit_process(status: $crate::NtStatus) -> ! {
            $exit(status)
        }
    };
}

// Appended after the macro so parallel branches adding modules merge cleanly.
#[cfg(not(test))]
pub mod ntdll;
pub mod text;
