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
pub use startup::command_line;
pub use syscall::{display_string, terminate_process};

/// Names the program's main function, `fn(&rt::Args) -> rt::NtStatus`. Its return value
/// becomes the process exit status. Use it exactly once, in the binary crate.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// Called by `rt`'s entry point with the parsed command line.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        fn __rt_main(args: &$crate::Args) -> $crate::NtStatus {
            let main: fn(&$crate::Args) -> $crate::NtStatus = $main;
            main(args)
        }
    };
}

// Appended after the macro so parallel branches adding modules merge cleanly.
pub mod text;
