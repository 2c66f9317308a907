//! The cost of the kernel's own primitives on this machine, measured with the TSC:
//! `vmm bench` builds its platform floors from them, and the README reports them for each
//! kernel backend.

use abi::diagnostics::ArchitectureTimings;

use super::clock;
use crate::arch;

/// Runs of each measurement; the median is reported.
const RUNS: usize = 15;
/// How far ahead the timer is armed when its delivery is measured: 50 us.
const TIMER_LEAD_KHZ_DIVISOR: u64 = 20;

/// Measures the primitives. Runs with interrupts disabled, enabling them only while it
/// waits for the timer, which it does with one processor only (0 otherwise).
pub fn measure() -> ArchitectureTimings {
    ArchitectureTimings {
        tsc_khz: clock::tsc_khz(),
        kernel_loop_1000_cycles: median(|| {
            let start = arch::read_tsc();
            let mut sum = 0u64;
            for i in 0..1000u64 {
                sum = core::hint::black_box(sum.wrapping_add(i));
            }
            arch::read_tsc() - start
        }),
        cr3_switch_cycles: median(|| {
            let root = arch::paging::current_root();
            let start = arch::read_tsc();
            arch::paging::switch_address_space(root);
            arch::read_tsc() - start
        }),
        // Measured with one processor only: enabling interrupts inside a system call, which
        // nothing else does, ended in kernel-mode returns to garbage under `sysfuzz` with
        // several threads on several processors (cause not found; see the session notes).
        timer_delivery_cycles: if super::dispatcher::active_processors() == 1 {
            median(timer_delivery)
        } else {
            0
        },
        user_gs_base_load_cycles: {
            let teb = arch::user_gs_base_register();
            median(|| {
                let start = arch::read_tsc();
                arch::set_user_gs_base_register(teb);
                arch::read_tsc() - start
            })
        },
        fpu_save_restore_cycles: median(|| {
            let start = arch::read_tsc();
            arch::save_and_restore_fpu_state();
            arch::read_tsc() - start
        }),
    }
}

/// From a timer deadline to the clock interrupt handler, spinning in kernel mode. The
/// handler re-arms the periodic tick, so the clock carries on as before.
fn timer_delivery() -> u64 {
    let previous = clock::last_interrupt_tsc();
    let deadline = arch::read_tsc() + clock::tsc_khz() / TIMER_LEAD_KHZ_DIVISOR;
    arch::arm_timer(deadline);
    arch::enable_interrupts();
    while clock::last_interrupt_tsc() == previous {
        core::hint::spin_loop();
    }
    arch::disable_interrupts();
    clock::last_interrupt_tsc().saturating_sub(deadline)
}

fn median(mut sample: impl FnMut() -> u64) -> u64 {
    let mut samples = [0u64; RUNS];
    for slot in &mut samples {
        *slot = sample();
    }
    samples.sort_unstable();
    samples[RUNS / 2]
}
