//! `archtimings`: what the kernel's primitives cost on this machine, in TSC cycles and
//! nanoseconds: a kernel-mode loop, a CR3 switch, timer-interrupt delivery, a load of the
//! user `gs` base register and an FPU save and restore (measured by the kernel,
//! `NtQueryArchitectureTimings`), and a null system call round trip (measured here:
//! `NtYieldExecution` with no other thread ready).
#![no_std]
#![no_main]

use abi::diagnostics::ArchitectureTimings;
use rt::syscall::{nt_query_architecture_timings, nt_yield_execution};
use rt::{Args, NtStatus, println};

rt::entry!(main);

const SYSTEM_CALLS: usize = 1000;
const RUNS: usize = 15;

fn read_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The median over runs of the cycles one null system call takes.
fn null_system_call_cycles() -> u64 {
    let mut runs = [0u64; RUNS];
    for run in &mut runs {
        let start = read_tsc();
        for _ in 0..SYSTEM_CALLS {
            // SAFETY: NtYieldExecution takes no arguments.
            unsafe { nt_yield_execution() };
        }
        *run = (read_tsc() - start) / SYSTEM_CALLS as u64;
    }
    runs.sort_unstable();
    runs[RUNS / 2]
}

fn main(_args: &Args) -> NtStatus {
    let mut timings = ArchitectureTimings::default();
    // SAFETY: `timings` is a local of the right type and alignment.
    let status = unsafe { nt_query_architecture_timings(&mut timings) };
    if !status.is_success() {
        println!("archtimings: NtQueryArchitectureTimings failed: {status}");
        return status;
    }
    let system_call = null_system_call_cycles();
    let nanoseconds = |cycles: u64| cycles * 1_000_000 / timings.tsc_khz.max(1);
    let picoseconds = |cycles: u64| cycles * 1_000_000_000 / timings.tsc_khz.max(1);
    let loop_cycles = timings.kernel_loop_1000_cycles;
    println!("archtimings: tsc {} kHz", timings.tsc_khz);
    println!(
        "archtimings: kernel loop iteration: {}.{:03} cycles, {} ps",
        loop_cycles / 1000,
        loop_cycles % 1000,
        picoseconds(loop_cycles) / 1000
    );
    let report = |what: &str, cycles: u64| {
        println!(
            "archtimings: {what}: {cycles} cycles, {} ns",
            nanoseconds(cycles)
        );
    };
    report("cr3 switch", timings.cr3_switch_cycles);
    report("timer interrupt delivery", timings.timer_delivery_cycles);
    report("user gs base load", timings.user_gs_base_load_cycles);
    report("fpu save and restore", timings.fpu_save_restore_cycles);
    report("null system call round trip", system_call);
    NtStatus::SUCCESS
}
