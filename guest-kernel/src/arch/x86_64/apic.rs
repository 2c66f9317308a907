//! The local APIC in x2APIC mode (MSR access only) and its timer in TSC-deadline mode.

use ::x86_64::registers::model_specific::Msr;

use super::trap::{DISPATCH_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR};

const IA32_APIC_BASE: u32 = 0x1B;
const IA32_TSC_DEADLINE: u32 = 0x6E0;
const X2APIC_EOI: u32 = 0x80B;
const X2APIC_SPURIOUS: u32 = 0x80F;
const X2APIC_LVT_TIMER: u32 = 0x832;
const X2APIC_ICR: u32 = 0x830;

const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const SPURIOUS_APIC_ENABLE: u64 = 1 << 8;
const LVT_TIMER_TSC_DEADLINE: u64 = 0b10 << 17;
/// ICR: fixed delivery to one physical APIC id, asserted.
const ICR_FIXED_ASSERT: u64 = 1 << 14;

/// Switches the local APIC to x2APIC mode, enables it and points its timer at
/// [`TIMER_VECTOR`] in TSC-deadline mode. The timer stays disarmed until [`arm_timer`].
pub fn init() {
    let leaf1 = core::arch::x86_64::__cpuid(1);
    let has_x2apic = leaf1.ecx & (1 << 21) != 0;
    let has_tsc_deadline = leaf1.ecx & (1 << 24) != 0;
    if !has_x2apic || !has_tsc_deadline {
        crate::ke::bugcheck::bugcheck(
            abi::bugcheck::BugCheck::PHASE0_INITIALIZATION_FAILED,
            [u64::from(leaf1.ecx), 0, 0, 0],
        );
    }
    // SAFETY: the CPU reports x2APIC and TSC-deadline support, so these MSRs exist; the
    // APIC is enabled before its registers are programmed, and interrupts are disabled.
    unsafe {
        let mut base = Msr::new(IA32_APIC_BASE);
        let value = base.read();
        base.write(value | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
        Msr::new(X2APIC_SPURIOUS).write(SPURIOUS_APIC_ENABLE | u64::from(SPURIOUS_VECTOR));
        Msr::new(X2APIC_LVT_TIMER).write(LVT_TIMER_TSC_DEADLINE | u64::from(TIMER_VECTOR));
    }
}

/// Raises the timer interrupt when the TSC reaches `deadline`.
pub fn arm_timer(deadline: u64) {
    // SAFETY: `init` put the timer in TSC-deadline mode; writing the deadline only arms it.
    unsafe { Msr::new(IA32_TSC_DEADLINE).write(deadline) };
}

/// Acknowledges the interrupt being serviced.
pub fn end_of_interrupt() {
    // SAFETY: writing zero to the x2APIC EOI register is the defined acknowledgement.
    unsafe { Msr::new(X2APIC_EOI).write(0) };
}

/// Interrupts processor `processor` (whose x2APIC id is its index, as the VMM numbers
/// them) with the dispatch vector: it looks at its ready threads, and at the TLB flush
/// asked of it, before it goes back to what it ran (NT's `KiIpiSend` of an IPI_DPC).
/// Natively on kvm-pvm through the host's WRMSR hypercall, which skips decoding the
/// trapped `wrmsr`.
pub fn request_dispatch_interrupt(processor: u32) {
    let command = (u64::from(processor) << 32) | ICR_FIXED_ASSERT | u64::from(DISPATCH_VECTOR);
    if super::pvm_native() {
        // SAFETY: the kernel runs natively on kvm-pvm; an IPI to a processor of this VM
        // only makes it take the dispatch interrupt.
        let failed =
            unsafe { super::pvm::hypercall(super::pvm::HC_WRMSR, u64::from(X2APIC_ICR), command) };
        if failed == 0 {
            return;
        }
    }
    // SAFETY: `init` put the APIC in x2APIC mode, where the ICR is this MSR; the IPI only
    // makes the target take the dispatch interrupt.
    unsafe { Msr::new(X2APIC_ICR).write(command) };
}
