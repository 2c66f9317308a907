//! The clock: a periodic tick from the local APIC timer, armed against the TSC, which
//! drives timeouts (`KeUpdateSystemTime`) and quantum accounting (`KeUpdateRunTime`), and
//! stops while the processor idles. Time here is the TSC; NT's 100 ns timeouts convert to
//! it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use abi::dispatcher::TIMEOUT_UNITS_PER_SECOND;

use super::{dispatcher, priority, wait};
use crate::arch::{self, MAX_PROCESSORS};

/// Milliseconds between clock interrupts.
pub const CLOCK_INTERVAL_MS: u64 = 10;

/// Quantum units a clock tick charges the running thread (`CLOCK_QUANTUM_DECREMENT`).
const CLOCK_QUANTUM_DECREMENT: i8 = 3;

/// Milliseconds between scans for starved threads.
const READY_SCAN_INTERVAL_MS: u64 = 1000;

/// The TSC at which the next scan for starved threads is due, on whichever processor's
/// clock interrupt comes first.
static NEXT_READY_SCAN: AtomicU64 = AtomicU64::new(0);
/// Set for a processor whose idle loop stopped its tick.
static TICK_STOPPED: [AtomicBool; MAX_PROCESSORS] =
    [const { AtomicBool::new(false) }; MAX_PROCESSORS];
/// TSC ticks between clock interrupts.
static INTERVAL_TSC: AtomicU64 = AtomicU64::new(0);
/// TSC ticks per millisecond.
static TSC_KHZ: AtomicU64 = AtomicU64::new(1);
/// The TSC at boot: system time 0 (there is no real-time clock yet).
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
/// The TSC when the last clock interrupt reached its handler.
static LAST_INTERRUPT_TSC: AtomicU64 = AtomicU64::new(0);

/// Derives the interval from the TSC frequency the VMM measured.
pub fn init(tsc_khz: u64) {
    TSC_KHZ.store(tsc_khz.max(1), Ordering::Relaxed);
    INTERVAL_TSC.store(tsc_khz.max(1) * CLOCK_INTERVAL_MS, Ordering::Relaxed);
    BOOT_TSC.store(arch::read_tsc(), Ordering::Relaxed);
    NEXT_READY_SCAN.store(
        arch::read_tsc() + READY_SCAN_INTERVAL_MS * tsc_khz,
        Ordering::Relaxed,
    );
}

/// Arms the first tick.
pub fn start() {
    arm_next_tick();
}

fn arm_next_tick() {
    arch::arm_timer(arch::read_tsc() + INTERVAL_TSC.load(Ordering::Relaxed));
}

/// Stops the periodic tick while the processor idles: the next clock interrupt comes at
/// `deadline`, or, with none, not until something else wakes the processor. The interrupt
/// that ends the idle re-arms the tick.
pub fn idle_until(deadline: Option<u64>) {
    TICK_STOPPED[arch::current_processor() as usize].store(true, Ordering::Relaxed);
    // A TSC deadline of 0 disarms the timer.
    arch::arm_timer(deadline.map_or(0, |deadline| deadline.max(1)));
}

/// Restarts the tick when the idle loop stopped it and something other than the clock
/// (another processor's dispatch interrupt) ended the idle.
pub fn resume_tick() {
    if TICK_STOPPED[arch::current_processor() as usize].swap(false, Ordering::Relaxed) {
        arm_next_tick();
    }
}

/// The TSC when the last clock interrupt reached its handler.
pub fn last_interrupt_tsc() -> u64 {
    LAST_INTERRUPT_TSC.load(Ordering::Relaxed)
}

/// The TSC frequency in kHz.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// The current TSC.
pub fn now() -> u64 {
    arch::read_tsc()
}

/// The TSC deadline of an NT timeout (`LARGE_INTEGER`, 100 ns units): negative is relative
/// to now, positive an absolute system time (counted from boot), zero now (a poll).
pub fn timeout_deadline(timeout: i64) -> u64 {
    let to_tsc = |units: u64| {
        let ticks = u128::from(units) * u128::from(TSC_KHZ.load(Ordering::Relaxed)) * 1000
            / TIMEOUT_UNITS_PER_SECOND as u128;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    };
    if timeout < 0 {
        now().saturating_add(to_tsc(timeout.unsigned_abs()))
    } else {
        BOOT_TSC
            .load(Ordering::Relaxed)
            .saturating_add(to_tsc(timeout as u64))
    }
}

/// The system time: 100 ns units since boot (there is no real-time clock yet).
pub fn system_time() -> u64 {
    let ticks = now().saturating_sub(BOOT_TSC.load(Ordering::Relaxed));
    let units = u128::from(ticks) * TIMEOUT_UNITS_PER_SECOND as u128
        / (u128::from(TSC_KHZ.load(Ordering::Relaxed)) * 1000);
    u64::try_from(units).unwrap_or(u64::MAX)
}

/// The time from now until TSC `deadline`, in 100 ns units (0 once it has passed).
pub fn units_until(deadline: u64) -> i64 {
    let ticks = deadline.saturating_sub(now());
    let units = u128::from(ticks) * TIMEOUT_UNITS_PER_SECOND as u128
        / (u128::from(TSC_KHZ.load(Ordering::Relaxed)) * 1000);
    i64::try_from(units).unwrap_or(i64::MAX)
}

/// The clock interrupt: re-arms the timer, ends the timed waits that are due, charges
/// the running thread's quantum, and once a second looks for starved threads.
pub fn clock_interrupt() {
    LAST_INTERRUPT_TSC.store(arch::read_tsc(), Ordering::Relaxed);
    TICK_STOPPED[arch::current_processor() as usize].store(false, Ordering::Relaxed);
    arm_next_tick();
    let now = now();
    wait::expire_timers(now);
    dispatcher::charge_quantum(CLOCK_QUANTUM_DECREMENT);
    crate::mm::release_flushed();
    let scan_due = NEXT_READY_SCAN.load(Ordering::Relaxed);
    let next_scan = now + READY_SCAN_INTERVAL_MS * tsc_khz();
    if now >= scan_due
        && NEXT_READY_SCAN
            .compare_exchange(scan_due, next_scan, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        priority::boost_starved_threads(now);
    }
}
