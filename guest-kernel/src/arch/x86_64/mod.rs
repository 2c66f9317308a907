//! Plain x86-64 backend: GDT/TSS/IDT, trap and system-call entry, x2APIC, paging, user copy.
//!
//! Every privileged instruction the kernel executes is issued from this module tree.

mod apic;
mod context;
mod entry;
mod entry_area;
mod gdt;
mod idt;
pub mod paging;
mod pcid;
mod pvm;
mod syscall;
mod translations;
pub mod trap;
pub mod user;

pub use apic::{arm_timer, request_dispatch_interrupt};
pub use context::{
    SwitchContextCell, current_processor, save_and_restore_fpu_state, set_user_gs_base_register,
    swap_context, user_gs_base_register,
};
pub use entry::start_processor;
pub use trap::TrapFrame;

use core::sync::atomic::{AtomicBool, Ordering};

use ::x86_64::instructions::interrupts;

/// The most processors the kernel runs on: affinity masks are 64 bits wide.
pub const MAX_PROCESSORS: usize = 64;

/// Set on a kvm-pvm host.
static ON_PVM_HOST: AtomicBool = AtomicBool::new(false);
/// Set on a kvm-pvm host when the kernel runs natively (its VIF page is registered) rather
/// than in the host's bootstrap mode.
pub(super) static PVM_NATIVE: AtomicBool = AtomicBool::new(false);

/// Brings the boot processor to the point where traps, system calls and the timer work:
/// its processor block (GDT, TSS, KPCR), the shared IDT and the entry code in the entry
/// area, the system-call MSRs and the local APIC. Interrupts stay disabled.
/// `platform_flags` come from the BootInfo.
pub fn init_boot_processor(platform_flags: u32) {
    let on_pvm_host = platform_flags & abi::boot::PLATFORM_KVM_PVM != 0;
    ON_PVM_HOST.store(on_pvm_host, Ordering::Relaxed);
    PVM_NATIVE.store(
        on_pvm_host && platform_flags & abi::boot::PLATFORM_PVM_NATIVE != 0,
        Ordering::Relaxed,
    );
    let idt = init_processor(0);
    if pvm_native() {
        unsafe extern "C" {
            static __trap_entry_start: u8;
            static __trap_entry_end: u8;
        }
        let (code_start, code_end) = (
            &raw const __trap_entry_start as u64,
            &raw const __trap_entry_end as u64,
        );
        let idt_size = size_of::<::x86_64::structures::idt::InterruptDescriptorTable>();
        entry_area::map(
            code_start,
            (code_end - code_start) as usize,
            entry_area::Access::Code,
        );
        entry_area::map(idt, idt_size, entry_area::Access::ReadOnly);
    }
}

/// Brings application processor `index` to the same point as the boot processor, on the
/// IDT and entry code the boot processor set up.
pub fn init_application_processor(index: u32) {
    init_processor(index);
}

/// What every processor sets up for itself: its processor block (mapped into the entry
/// area when user mode runs on its own page tables), the IDT, the system-call MSRs, the
/// protection features and the local APIC. Returns the IDT's address.
fn init_processor(index: u32) -> u64 {
    let entry_area = gdt::init_processor(index);
    let idt = idt::load();
    if pvm_native() {
        let (tables, tables_size) = entry_area.tables;
        entry_area::map(tables, tables_size, entry_area::Access::ReadOnly);
        let (stacks, stacks_size) = entry_area.stacks;
        entry_area::map(stacks, stacks_size, entry_area::Access::ReadWrite);
    }
    syscall::init();
    // On a kvm-pvm host a kernel running natively executes CPUID on the host's processor,
    // whose features are not the VM's, and the host refuses CR4.PCIDE even when the VMM
    // offers PCIDs: enable nothing optional there.
    if !ON_PVM_HOST.load(Ordering::Relaxed) {
        enable_optional_features();
    }
    apic::init();
    paging::processor_started(index);
    idt
}

/// Whether user mode must enter system services with `int 2Eh`: a kvm-pvm host in
/// bootstrap mode delivers a user-mode `syscall` as an event the kernel cannot take.
pub fn system_calls_use_int_2e() -> bool {
    ON_PVM_HOST.load(Ordering::Relaxed) && !pvm_native()
}

/// Whether the kernel runs natively on a kvm-pvm host (see `abi::boot::PLATFORM_PVM_NATIVE`).
pub fn pvm_native() -> bool {
    PVM_NATIVE.load(Ordering::Relaxed)
}

/// Turns on what the CPU offers of SMEP and SMAP, so the kernel can neither run user code
/// nor touch user memory outside [`user::copy_from_user`], and of PCIDs, so a switch
/// between processes keeps what the TLB holds of each.
fn enable_optional_features() {
    use ::x86_64::registers::control::{Cr4, Cr4Flags};
    let leaf1 = core::arch::x86_64::__cpuid(1);
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    let mut flags = Cr4::read();
    // CR3 holds PCID 0 here (the VMM's page tables), as setting CR4.PCIDE requires.
    if leaf1.ecx & (1 << 17) != 0 {
        flags |= Cr4Flags::PCID;
        paging::use_pcids();
    }
    if leaf7.ebx & (1 << 7) != 0 {
        flags |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if leaf7.ebx & (1 << 20) != 0 {
        flags |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
        user::SMAP_ENABLED.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    // SAFETY: only adds bits the CPU reports. The kernel never executes or touches user
    // pages except through the user-copy routine, which handles SMAP; CR3's PCID is 0,
    // and from here on every CR3 load goes through `paging`, which tags it.
    unsafe { Cr4::write(flags) };
}

/// Disables interrupts on this processor (raises to HIGH_LEVEL in NT terms).
pub fn disable_interrupts() {
    if pvm_native() {
        pvm::disable_interrupts(current_processor());
    } else {
        interrupts::disable();
    }
}

/// Enables interrupts on this processor (lowers to PASSIVE_LEVEL in NT terms).
pub fn enable_interrupts() {
    if pvm_native() {
        pvm::enable_interrupts(current_processor());
    } else {
        interrupts::enable();
    }
}

/// Enables interrupts and halts until one arrives (`sti; hlt`, whose interrupt shadow
/// lets no interrupt in between): the idle loop's wait. On a kvm-pvm host running the
/// kernel natively the VIF byte is the interrupt flag instead of RFLAGS.IF. Returns with
/// interrupts enabled, after the interrupt was handled.
pub fn wait_for_interrupt() {
    if pvm_native() {
        pvm::enable_interrupts_and_halt(current_processor());
    } else {
        // SAFETY: enabling interrupts is what the caller asks for; HLT resumes at the next
        // interrupt, whose handler returns here.
        unsafe { core::arch::asm!("sti", "hlt", options(nomem, nostack)) };
    }
}

/// The linear address of the page fault being handled.
pub fn page_fault_address() -> u64 {
    if pvm_native() {
        pvm::page_fault_address(current_processor())
    } else {
        ::x86_64::registers::control::Cr2::read_raw()
    }
}

/// Stops this processor for good: interrupts off, halted.
pub fn halt_forever() -> ! {
    disable_interrupts();
    loop {
        ::x86_64::instructions::hlt();
    }
}

/// The time-stamp counter.
pub fn read_tsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear, so it cannot fault.
    unsafe { core::arch::x86_64::_rdtsc() }
}
