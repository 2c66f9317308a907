//! The clock: a periodic tick from the local APIC timer, armed against the TSC.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;

/// Milliseconds between clock interrupts.
pub const CLOCK_INTERVAL_MS: u64 = 10;

/// TSC ticks between clock interrupts.
static INTERVAL_TSC: AtomicU64 = AtomicU64::new(0);

/// Derives the interval from the TSC frequency the VMM measured.
pub fn init(tsc_khz: u64) {
    INTERVAL_TSC.store(tsc_khz.max(1) * CLOCK_INTERVAL_MS, Ordering::Relaxed);
}

/// Arms the first tick.
pub fn start() {
    arm_next_tick();
}

fn arm_next_tick() {
    arch::arm_timer(arch::read_tsc() + INTERVAL_TSC.load(Ordering::Relaxed));
}

/// The clock interrupt (KeUpdateSystemTime). Quantum accounting joins it with the dispatcher.
pub fn clock_interrupt() {
    arm_next_tick();
}
