//! KeBugCheckEx: stop the system with a code and four parameters, reported to the VMM.

use core::sync::atomic::{AtomicBool, Ordering};

pub use abi::bugcheck::BugCheck;
use abi::hypercall::ShutdownKind;

use crate::{arch, hal, kprintln};

static STOPPING: AtomicBool = AtomicBool::new(false);

/// Stops the system. A bugcheck raised while another is in progress shuts down at once.
pub fn bugcheck(code: BugCheck, parameters: [u64; 4]) -> ! {
    arch::disable_interrupts();
    if !STOPPING.swap(true, Ordering::SeqCst) {
        hal::flush_console();
        let [p1, p2, p3, p4] = parameters;
        kprintln!(
            "\n*** STOP: {:#010X} ({p1:#018x}, {p2:#018x}, {p3:#018x}, {p4:#018x})",
            code.0
        );
        if let Some(name) = code.name() {
            kprintln!("*** {name}");
        }
    }
    hal::shutdown(ShutdownKind::BugCheck, code.0, parameters)
}

/// A Rust panic in the kernel is a bugcheck with the message on the console.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    arch::disable_interrupts();
    if !STOPPING.load(Ordering::SeqCst) {
        hal::flush_console();
        kprintln!("kernel panic: {info}");
    }
    let (line, column) = info.location().map_or((0, 0), |l| (l.line(), l.column()));
    bugcheck(
        BugCheck::KERNEL_PANIC,
        [u64::from(line), u64::from(column), 0, 0],
    )
}
