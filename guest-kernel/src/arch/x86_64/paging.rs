//! Page tables: the kernel's half (built by the VMM, shared by every address space), user
//! halves, and the fixed map of device pages such as the hypercall doorbells.

use core::cell::UnsafeCell;

use ::x86_64::registers::control::{Cr3, Cr3Flags};
use ::x86_64::structures::paging::mapper::{MapToError, Mapper, OffsetPageTable};
use ::x86_64::structures::paging::{
    FrameAllocator, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
};
use ::x86_64::{PhysAddr, VirtAddr};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, PAGE_SIZE, USER_END, phys_to_virt};

/// First PML4 slot of the kernel half.
const KERNEL_HALF_FIRST_SLOT: usize = 256;
/// Virtual base of the fixed map: the last GiB of the address space, just above the kernel
/// window, under PML4 and PDPT slot 511.
const FIXMAP_BASE: u64 = 0xFFFF_FFFF_C000_0000;
const FIXMAP_SLOTS: usize = 512;

/// A page table that lives in the kernel image, for mappings needed before any allocator.
#[repr(transparent)]
struct StaticTable(UnsafeCell<PageTable>);

// SAFETY: the fixed-map tables are written only by `map_device_page` on the boot processor
// before other processors run; after that they are only read by the MMU.
unsafe impl Sync for StaticTable {}

impl StaticTable {
    const fn new() -> Self {
        Self(UnsafeCell::new(PageTable::new()))
    }

    fn phys(&self) -> u64 {
        self.0.get() as u64 - KERNEL_BASE
    }
}

static FIXMAP_PD: StaticTable = StaticTable::new();
static FIXMAP_PT: StaticTable = StaticTable::new();

fn table_at(phys: u64) -> *mut PageTable {
    phys_to_virt(phys) as *mut PageTable
}

/// Flags every kernel page-table entry carries: a kvm-pvm host running the kernel natively
/// requires the user bit at every level, kernel mappings included.
fn kernel_entry_flags() -> PageTableFlags {
    if super::pvm_native() {
        PageTableFlags::USER_ACCESSIBLE
    } else {
        PageTableFlags::empty()
    }
}

/// Physical address of the active PML4.
pub fn current_root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Maps the device page at `phys` into fixed-map slot `slot` (uncached, no execute) and
/// returns its virtual address. Works before any allocator exists.
pub fn map_device_page(slot: usize, phys: u64) -> u64 {
    assert!(slot < FIXMAP_SLOTS && phys.is_multiple_of(PAGE_SIZE));
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE
        | kernel_entry_flags();
    let table_flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | kernel_entry_flags();
    // SAFETY: CR3 holds the kernel PML4 the VMM built, reachable through the direct map;
    // its slot 511 holds the PDPT of the kernel window, whose slot 511 (the fixed map) the
    // VMM leaves empty. The static tables are only reached through this function.
    unsafe {
        let pml4 = &mut *table_at(current_root());
        let pdpt = &mut *table_at(pml4[511].addr().as_u64());
        let pd = &mut *FIXMAP_PD.0.get();
        let pt = &mut *FIXMAP_PT.0.get();
        if pdpt[511].is_unused() {
            pdpt[511].set_addr(PhysAddr::new(FIXMAP_PD.phys()), table_flags);
            pd[0].set_addr(PhysAddr::new(FIXMAP_PT.phys()), table_flags);
        }
        pt[slot].set_addr(PhysAddr::new(phys), flags);
    }
    let address = FIXMAP_BASE + slot as u64 * PAGE_SIZE;
    ::x86_64::instructions::tlb::flush(VirtAddr::new(address));
    address
}

/// How a user page may be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAccess {
    pub write: bool,
    pub execute: bool,
}

/// Why a user mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate page table.
    OutOfFrames,
    /// Something is mapped there already, or the address is not a user address.
    BadAddress,
}

/// Creates a PML4 for a new address space in `frame` (zero-filled): empty user half,
/// kernel half shared with the current one.
pub fn init_user_root(frame: u64) {
    // SAFETY: `frame` is a fresh, exclusively owned page; the current PML4 is live and
    // its kernel half never changes after boot.
    unsafe {
        let new = &mut *table_at(frame);
        let current = &*table_at(current_root());
        for slot in KERNEL_HALF_FIRST_SLOT..512 {
            new[slot] = current[slot].clone();
        }
    }
}

/// Maps user page `va` to `frame` in the address space rooted at `root`.
pub fn map_user_page(
    root: u64,
    va: u64,
    frame: u64,
    access: UserAccess,
    frames: &mut impl FrameAllocator<Size4KiB>,
) -> Result<(), MapError> {
    if va >= USER_END || !va.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::BadAddress);
    }
    let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
    if access.write {
        flags |= PageTableFlags::WRITABLE;
    }
    if !access.execute {
        flags |= PageTableFlags::NO_EXECUTE;
    }
    let parent_flags =
        PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::USER_ACCESSIBLE;
    let page = Page::<Size4KiB>::from_start_address(VirtAddr::new(va))
        .map_err(|_| MapError::BadAddress)?;
    let frame = PhysFrame::<Size4KiB>::from_start_address(PhysAddr::new(frame))
        .map_err(|_| MapError::BadAddress)?;
    // SAFETY: `root` is a PML4 created by `init_user_root`, reachable through the direct
    // map; the user half is only changed through this function, under the owning
    // address space's lock, and `frame` belongs to that address space.
    let result = unsafe {
        let mut mapper = OffsetPageTable::new(&mut *table_at(root), VirtAddr::new(DIRECT_MAP_BASE));
        mapper.map_to_with_table_flags(page, frame, flags, parent_flags, frames)
    };
    match result {
        // The address space may not be active; callers switch to it before running it.
        Ok(flush) => {
            flush.ignore();
            Ok(())
        }
        Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
        Err(_) => Err(MapError::BadAddress),
    }
}

/// Makes the address space rooted at `root` the current one.
pub fn switch_address_space(root: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(root));
    // SAFETY: `root` is a PML4 built by `init_user_root`, whose kernel half matches the
    // current one, so the kernel keeps running across the switch.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}
