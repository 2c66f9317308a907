//! Measurements the kernel takes of its own primitives, for `vmm bench` and the README's
//! figures. Project-specific: NT has no such service.

/// What `NtQueryArchitectureTimings` returns, all in TSC cycles (medians of several runs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchitectureTimings {
    /// The TSC frequency, to turn cycles into time.
    pub tsc_khz: u64,
    /// 1000 iterations of a dependent add loop in kernel mode.
    pub kernel_loop_1000_cycles: u64,
    /// Loading the current PML4 into CR3 again, as a switch between processes does: a
    /// flushing load, or with PCIDs one that keeps the translations.
    pub cr3_switch_cycles: u64,
    /// From a local-APIC timer deadline to the first instruction of the kernel's clock
    /// interrupt handler, with the processor spinning in kernel mode; 0 with several
    /// processors, where the kernel does not measure it.
    pub timer_delivery_cycles: u64,
    /// Loading the user `gs` base register (KERNEL_GS_BASE) as a thread switch does for
    /// the incoming thread, with the value it holds.
    pub user_gs_base_load_cycles: u64,
    /// Saving the x87/SSE state and loading it back (FXSAVE64 + FXRSTOR64), as a switch
    /// between two user threads does.
    pub fpu_save_restore_cycles: u64,
}

const _: () = assert!(size_of::<ArchitectureTimings>() == 48);
