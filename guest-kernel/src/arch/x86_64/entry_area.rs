//! The entry area: the kernel pages that user page tables map when user mode runs on its
//! own PML4 (kvm-pvm's KPTI mode), at their usual kernel addresses: the entry code, the
//! IDT and each processor's GDT, TSS and entry stacks. Everything else of the kernel is
//! absent from user page tables, so user code cannot reach it even though kvm-pvm
//! requires the user bit on every mapping.

use core::cell::UnsafeCell;

use ::x86_64::PhysAddr;
use ::x86_64::structures::paging::{PageTable, PageTableFlags};
use abi::layout::{KERNEL_BASE, PAGE_SIZE};
use spin::Mutex;

/// The PML4 slot of the kernel window, where all these pages are.
pub const KERNEL_WINDOW_SLOT: usize = 511;
/// Page tables for up to this many 2 MiB regions of the kernel window.
const PAGE_TABLES: usize = 8;

struct Tables {
    pdpt: PageTable,
    pd: PageTable,
    pts: [PageTable; PAGE_TABLES],
}

#[repr(transparent)]
struct SharedTables(UnsafeCell<Tables>);

// SAFETY: the tables are changed only through `map`, under `USED_PAGE_TABLES`.
unsafe impl Sync for SharedTables {}

static TABLES: SharedTables = SharedTables(UnsafeCell::new(Tables {
    pdpt: PageTable::new(),
    pd: PageTable::new(),
    pts: [const { PageTable::new() }; PAGE_TABLES],
}));
/// Page tables handed out so far; also serialises changes.
static USED_PAGE_TABLES: Mutex<usize> = Mutex::new(0);

fn phys<T>(table: *const T) -> u64 {
    table as u64 - KERNEL_BASE
}

/// How user page tables map an entry-area page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Entry code: read and execute.
    Code,
    /// Descriptor tables: read only.
    ReadOnly,
    /// Entry stacks: read and write.
    ReadWrite,
}

/// Maps the kernel pages covering `[start, start + len)` into the entry area.
pub fn map(start: u64, len: usize, access: Access) {
    let user_table =
        PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::USER_ACCESSIBLE;
    let mut leaf = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
    match access {
        Access::Code => {}
        Access::ReadOnly => leaf |= PageTableFlags::NO_EXECUTE,
        Access::ReadWrite => leaf |= PageTableFlags::NO_EXECUTE | PageTableFlags::WRITABLE,
    }
    let mut used = USED_PAGE_TABLES.lock();
    // SAFETY: `USED_PAGE_TABLES` is held, so nothing else changes the tables; the MMU only
    // reads them.
    let tables = unsafe { &mut *TABLES.0.get() };
    let pd_phys = phys(&raw const tables.pd);
    let pts_phys = phys(&raw const tables.pts);
    let mut page = start & !(PAGE_SIZE - 1);
    while page < start + len as u64 {
        let pdpt_index = (page >> 30) as usize & 0x1ff;
        let pd_index = (page >> 21) as usize & 0x1ff;
        let pt_index = (page >> 12) as usize & 0x1ff;
        assert!(
            pdpt_index == 510,
            "entry-area pages are in the kernel window"
        );
        tables.pdpt[pdpt_index].set_addr(PhysAddr::new(pd_phys), user_table);
        if tables.pd[pd_index].is_unused() {
            assert!(*used < PAGE_TABLES, "entry area page tables exhausted");
            let pt_phys = pts_phys + (*used as u64) * PAGE_SIZE;
            *used += 1;
            tables.pd[pd_index].set_addr(PhysAddr::new(pt_phys), user_table);
        }
        let pt = ((tables.pd[pd_index].addr().as_u64() - pts_phys) / PAGE_SIZE) as usize;
        // Every page mapped is a kernel-window page, at `KERNEL_BASE + physical`.
        tables.pts[pt][pt_index].set_addr(PhysAddr::new(page - KERNEL_BASE), leaf);
        page += PAGE_SIZE;
    }
}

/// The PML4 entry of the kernel window in a user PML4: the entry area alone.
pub fn user_kernel_window_entry() -> u64 {
    let flags =
        PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::USER_ACCESSIBLE;
    // SAFETY: only the address of the static's field is taken.
    let pdpt = unsafe { &raw const (*TABLES.0.get()).pdpt };
    phys(pdpt) | flags.bits()
}
