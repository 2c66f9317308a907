//! Per-processor blocks: GDT, TSS and the KPCR that `gs` points at in kernel mode.

use ::x86_64::PrivilegeLevel;
use ::x86_64::VirtAddr;
use ::x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use ::x86_64::instructions::tables::load_tss;
use ::x86_64::registers::model_specific::{GsBase, KernelGsBase};
use ::x86_64::structures::gdt::{
    Descriptor, DescriptorFlags, GlobalDescriptorTable, SegmentSelector,
};
use ::x86_64::structures::tss::TaskStateSegment;
use alloc::boxed::Box;

/// Selectors at NT's positions in the x64 GDT (KGDT64_R0_CODE, KGDT64_R0_DATA,
/// KGDT64_R3_CMCODE, KGDT64_R3_DATA, KGDT64_R3_CODE), which are also the order SYSCALL and
/// SYSRET expect. A kvm-pvm host running the kernel natively requires exactly these user
/// selectors: they are the host's own.
pub const KERNEL_CS: SegmentSelector = SegmentSelector::new(2, PrivilegeLevel::Ring0);
pub const KERNEL_DS: SegmentSelector = SegmentSelector::new(3, PrivilegeLevel::Ring0);
pub const USER_CS32: SegmentSelector = SegmentSelector::new(4, PrivilegeLevel::Ring3);
pub const USER_DS: SegmentSelector = SegmentSelector::new(5, PrivilegeLevel::Ring3);
pub const USER_CS: SegmentSelector = SegmentSelector::new(6, PrivilegeLevel::Ring3);

/// IST slot (1-based in hardware, 0-based here) of the double-fault stack.
pub const DOUBLE_FAULT_IST: u16 = 0;
const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;
/// IST slot of the entry stack every other vector arrives on. The entry code moves the
/// frame to the thread's kernel stack (or the interrupted kernel stack) at once, so the
/// entry stack only ever holds one frame. A kvm-pvm host running the kernel natively
/// does not deliver user-mode exceptions through TSS.RSP0, but does through the IST.
pub const ENTRY_IST: u16 = 1;
/// Room for one hardware frame with an error code, the vector and two scratch registers.
const ENTRY_STACK_SIZE: usize = 256;

/// The part of a processor block that entry code reaches through `gs`. Offsets are fixed
/// because the system-call entry stub addresses them directly.
#[repr(C)]
pub struct Kpcr {
    /// `gs:[0x00]`: the block's own address.
    self_pointer: u64,
    /// `gs:[0x08]`: user `rsp` parked by the system-call entry.
    pub user_rsp: u64,
    /// `gs:[0x10]`: top of the current thread's kernel stack.
    pub kernel_rsp: u64,
    pub processor_index: u32,
}

pub const KPCR_USER_RSP: usize = core::mem::offset_of!(Kpcr, user_rsp);
pub const KPCR_KERNEL_RSP: usize = core::mem::offset_of!(Kpcr, kernel_rsp);

#[repr(C, align(16))]
struct ProcessorBlock {
    kpcr: Kpcr,
    gdt: GlobalDescriptorTable<10>,
    tss: TaskStateSegment,
    double_fault_stack: [u8; DOUBLE_FAULT_STACK_SIZE],
    entry_stack: [u8; ENTRY_STACK_SIZE],
}

/// Builds and loads the processor block of processor `index`: GDT with TSS, segment
/// registers, and `gs` pointing at its KPCR.
pub fn init_processor(index: u32) {
    let block: &'static mut ProcessorBlock = Box::leak(Box::new(ProcessorBlock {
        kpcr: Kpcr {
            self_pointer: 0,
            user_rsp: 0,
            kernel_rsp: 0,
            processor_index: index,
        },
        gdt: GlobalDescriptorTable::empty(),
        tss: TaskStateSegment::new(),
        double_fault_stack: [0; DOUBLE_FAULT_STACK_SIZE],
        entry_stack: [0; ENTRY_STACK_SIZE],
    }));
    let kpcr_address = &raw const block.kpcr as u64;
    block.kpcr.self_pointer = kpcr_address;
    let stack_top = block.double_fault_stack.as_ptr_range().end as u64;
    block.tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = VirtAddr::new(stack_top);
    let entry_stack_top = block.entry_stack.as_ptr_range().end as u64;
    block.tss.interrupt_stack_table[usize::from(ENTRY_IST)] = VirtAddr::new(entry_stack_top);

    let ProcessorBlock { gdt, tss, .. } = block;
    let tss: &'static TaskStateSegment = tss;
    // Slot 1 is unused in NT's layout.
    gdt.append(Descriptor::UserSegment(0));
    assert_eq!(gdt.append(Descriptor::kernel_code_segment()), KERNEL_CS);
    assert_eq!(gdt.append(Descriptor::kernel_data_segment()), KERNEL_DS);
    assert_eq!(
        gdt.append(Descriptor::UserSegment(DescriptorFlags::USER_CODE32.bits())),
        USER_CS32
    );
    assert_eq!(gdt.append(Descriptor::user_data_segment()), USER_DS);
    assert_eq!(gdt.append(Descriptor::user_code_segment()), USER_CS);
    let tss_selector = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable<10> = gdt;
    gdt.load();
    // SAFETY: the selectors name the descriptors just appended to the GDT now loaded, and
    // the TSS descriptor is not yet marked busy.
    unsafe {
        CS::set_reg(KERNEL_CS);
        SS::set_reg(KERNEL_DS);
        DS::set_reg(KERNEL_DS);
        ES::set_reg(KERNEL_DS);
        load_tss(tss_selector);
    }
    GsBase::write(VirtAddr::new(kpcr_address));
    KernelGsBase::write(VirtAddr::zero());
}

/// Makes `top` the kernel stack that traps and system calls from user mode land on.
pub fn set_kernel_stack(top: u64) {
    let block = current_block();
    block.kpcr.kernel_rsp = top;
    block.tss.privilege_stack_table[0] = VirtAddr::new(top);
}

/// The index of the processor running this code.
pub fn current_processor() -> u32 {
    current_block().kpcr.processor_index
}

fn current_block() -> &'static mut ProcessorBlock {
    let address = GsBase::read().as_u64();
    // SAFETY: in kernel mode `gs` holds the address of this processor's leaked block,
    // whose first field is the KPCR; only this processor uses its block, with interrupts
    // disabled while the kernel changes it.
    unsafe { &mut *(address as *mut ProcessorBlock) }
}
