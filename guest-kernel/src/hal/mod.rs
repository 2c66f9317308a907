//! The hardware abstraction layer: the hypercall client (console, shutdown, boot markers).
//!
//! Request blocks live on the caller's kernel stack or in the kernel image; the VMM reads
//! them by guest-physical address, so nothing here allocates.

mod console;

pub use console::{flush_console, write_console};

use abi::hypercall::{
    BootMarker, BootProgress, Call, HypercallStatus, RequestHeader, Shutdown, ShutdownKind,
};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;

/// Fixed-map slot of the doorbell page.
const DOORBELL_FIXMAP_SLOT: usize = 0;

/// Virtual address of doorbell 0, once mapped.
static DOORBELL: AtomicU64 = AtomicU64::new(0);

fn doorbell_base() -> u64 {
    match DOORBELL.load(Ordering::Acquire) {
        0 => {
            let base = abi::hypercall::DOORBELL_BASE;
            let page = arch::paging::map_device_page(DOORBELL_FIXMAP_SLOT, base & !(PAGE_SIZE - 1));
            let address = page + (base & (PAGE_SIZE - 1));
            DOORBELL.store(address, Ordering::Release);
            address
        }
        address => address,
    }
}

/// Guest-physical address of a kernel object in the kernel image or the direct map.
fn kernel_virt_to_phys(address: u64) -> u64 {
    if address >= KERNEL_BASE {
        address - KERNEL_BASE
    } else {
        address - DIRECT_MAP_BASE
    }
}

/// Rings `call`'s doorbell with `request`, whose first field is a [`RequestHeader`], and
/// returns the status the VMM wrote back.
fn hypercall<T>(call: Call, request: &mut T) -> HypercallStatus {
    debug_assert_eq!(size_of::<T>(), call.request_size());
    let address = request as *mut T as u64;
    let doorbell = doorbell_base() + 8 * call as u64;
    // SAFETY: the doorbell is an MMIO page mapped by `doorbell_base`; the 8-byte store is
    // the whole protocol. The VMM reads and writes the request block synchronously during
    // the store, so the volatile read below sees its answer.
    let status = unsafe {
        core::ptr::write_volatile(doorbell as *mut u64, kernel_virt_to_phys(address));
        core::ptr::read_volatile(&raw const (*(address as *const RequestHeader)).status)
    };
    HypercallStatus::from_raw(status).unwrap_or(HypercallStatus::BadArgument)
}

/// Tells the VMM the kernel reached `marker`.
pub fn boot_progress(marker: BootMarker) {
    let mut request = BootProgress {
        header: RequestHeader::new(),
        marker: marker as u32,
        reserved: 0,
        tsc: arch::read_tsc(),
    };
    hypercall(Call::BootProgress, &mut request);
}

/// Ends the VM. The console is flushed first.
pub fn shutdown(kind: ShutdownKind, code: u32, parameters: [u64; 4]) -> ! {
    flush_console();
    let mut request = Shutdown {
        header: RequestHeader::new(),
        kind: kind as u32,
        code,
        parameters,
    };
    hypercall(Call::Shutdown, &mut request);
    // The VMM stops every vCPU on shutdown; if it did not, stay halted.
    arch::halt_forever()
}

/// Sends `bytes` to the console in one call.
fn console_hypercall(bytes: &[u8]) {
    let mut request = abi::hypercall::ConsoleWrite {
        header: RequestHeader::new(),
        buffer: kernel_virt_to_phys(bytes.as_ptr() as u64),
        len: bytes.len() as u64,
    };
    hypercall(Call::ConsoleWrite, &mut request);
}

/// `print!` to the kernel console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::hal::write_console_fmt(format_args!($($arg)*)) };
}

/// `println!` to the kernel console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => { $crate::hal::write_console_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

pub fn write_console_fmt(args: core::fmt::Arguments<'_>) {
    struct Console;
    impl core::fmt::Write for Console {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            write_console(s.as_bytes());
            Ok(())
        }
    }
    let _ = core::fmt::Write::write_fmt(&mut Console, args);
}
