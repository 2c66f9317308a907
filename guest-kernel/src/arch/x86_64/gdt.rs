//! Per-processor blocks that `gs` points at in kernel mode: the entry area (GDT, TSS,
//! entry stacks) and the KPCR.

use ::x86_64::PrivilegeLevel;
use ::x86_64::VirtAddr;
use ::x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use ::x86_64::instructions::tables::load_tss;
use ::x86_64::registers::control::Cr3;
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
const DOUBLE_FAULT_STACK_SIZE: usize = 8 * 1024;
/// IST slot of the entry stack every other vector arrives on. The entry code moves the
/// frame to the thread's kernel stack (or the interrupted kernel stack) at once, so the
/// entry stack only ever holds one frame. A kvm-pvm host running the kernel natively
/// does not deliver user-mode exceptions through TSS.RSP0, but does through the IST.
pub const ENTRY_IST: u16 = 1;
/// Room for one hardware frame with an error code, the vector and two scratch registers.
const ENTRY_STACK_SIZE: usize = 256;

/// The pages of a processor block that entry from user mode touches before the kernel's
/// page tables are current: the only kernel data user page tables map (see
/// `entry_area`). The descriptor tables are read-only there, so user code cannot redirect
/// entry; the stacks are writable, and nothing on them is trusted after entry.
#[repr(C, align(4096))]
struct EntryArea {
    tables: EntryTables,
    stacks: EntryStacks,
}

#[repr(C, align(4096))]
struct EntryTables {
    gdt: GlobalDescriptorTable<10>,
    tss: TaskStateSegment,
}

#[repr(C, align(4096))]
struct EntryStacks {
    /// User `rsp` parked by the system-call entry.
    user_rsp: u64,
    entry_stack: [u8; ENTRY_STACK_SIZE],
    double_fault_stack: [u8; DOUBLE_FAULT_STACK_SIZE],
}

/// The kernel-only part of a processor block, on the page after the entry area, so entry
/// code reaches it `gs`-relative once the kernel's page tables are current.
#[repr(C)]
pub struct Kpcr {
    /// Top of the current thread's kernel stack.
    pub kernel_rsp: u64,
    /// The processor block's own address: reading it through `gs` costs nothing, reading
    /// the GS base MSR costs an exit on a kvm-pvm host.
    block_address: u64,
    /// The PML4 in CR3, for the same reason.
    address_space_root: u64,
    pub processor_index: u32,
}

/// `gs` offset of the parked user `rsp` (in the entry area).
pub const ENTRY_USER_RSP: usize =
    core::mem::offset_of!(EntryArea, stacks) + core::mem::offset_of!(EntryStacks, user_rsp);
/// `gs` offset of the KPCR's kernel stack top.
pub const KPCR_KERNEL_RSP: usize =
    core::mem::offset_of!(ProcessorBlock, kpcr) + core::mem::offset_of!(Kpcr, kernel_rsp);
/// `gs` offset of the KPCR's processor index.
pub const KPCR_PROCESSOR_INDEX: usize =
    core::mem::offset_of!(ProcessorBlock, kpcr) + core::mem::offset_of!(Kpcr, processor_index);

#[repr(C, align(4096))]
struct ProcessorBlock {
    entry: EntryArea,
    kpcr: Kpcr,
}

/// The entry area of a processor block, as user page tables map it.
#[derive(Clone, Copy, Debug)]
pub struct EntryAreaPages {
    /// GDT and TSS: read-only in user page tables.
    pub tables: (u64, usize),
    /// Entry stacks: writable.
    pub stacks: (u64, usize),
}

/// Builds and loads the processor block of processor `index`: GDT with TSS, segment
/// registers, and `gs` pointing at the block. Returns its entry area.
pub fn init_processor(index: u32) -> EntryAreaPages {
    let block: &'static mut ProcessorBlock = Box::leak(Box::new(ProcessorBlock {
        entry: EntryArea {
            tables: EntryTables {
                gdt: GlobalDescriptorTable::empty(),
                tss: TaskStateSegment::new(),
            },
            stacks: EntryStacks {
                user_rsp: 0,
                entry_stack: [0; ENTRY_STACK_SIZE],
                double_fault_stack: [0; DOUBLE_FAULT_STACK_SIZE],
            },
        },
        kpcr: Kpcr {
            kernel_rsp: 0,
            block_address: 0,
            address_space_root: Cr3::read().0.start_address().as_u64(),
            processor_index: index,
        },
    }));
    let block_address = &raw const *block as u64;
    block.kpcr.block_address = block_address;
    let pages = EntryAreaPages {
        tables: (
            &raw const block.entry.tables as u64,
            size_of::<EntryTables>(),
        ),
        stacks: (
            &raw const block.entry.stacks as u64,
            size_of::<EntryStacks>(),
        ),
    };
    let stack_top = |stack: &[u8]| VirtAddr::new(stack.as_ptr_range().end as u64 & !0xF);
    let double_fault_top = stack_top(&block.entry.stacks.double_fault_stack);
    let entry_top = stack_top(&block.entry.stacks.entry_stack);
    let tss = &mut block.entry.tables.tss;
    tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = double_fault_top;
    tss.interrupt_stack_table[usize::from(ENTRY_IST)] = entry_top;

    let EntryTables { gdt, tss } = &mut block.entry.tables;
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
    GsBase::write(VirtAddr::new(block_address));
    KernelGsBase::write(VirtAddr::zero());
    pages
}

/// Makes `top` the kernel stack that traps and system calls from user mode land on.
pub fn set_kernel_stack(top: u64) {
    let block = current_block();
    block.kpcr.kernel_rsp = top;
    block.entry.tables.tss.privilege_stack_table[0] = VirtAddr::new(top);
}

/// The PML4 loaded on this processor.
pub fn address_space_root() -> u64 {
    current_block().kpcr.address_space_root
}

/// Records that this processor loaded `root` into CR3.
pub fn set_address_space_root(root: u64) {
    current_block().kpcr.address_space_root = root;
}

fn current_block() -> &'static mut ProcessorBlock {
    let address: u64;
    // SAFETY: in kernel mode `gs` is based at this processor's block, whose KPCR holds the
    // block's address at this offset; the read has no other effect.
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[{offset}]",
            out(reg) address,
            offset = const core::mem::offset_of!(ProcessorBlock, kpcr)
                + core::mem::offset_of!(Kpcr, block_address),
            options(nostack, readonly, preserves_flags),
        );
    }
    // SAFETY: the address is this processor's leaked block; only this processor uses its
    // block, with interrupts disabled while the kernel changes it.
    unsafe { &mut *(address as *mut ProcessorBlock) }
}
