//! The hardware side of an address space: its PML4 and the arch layer's user page-table
//! walker, fed with frames from the PFN database (MmCreateProcessAddressSpace and the
//! PTE-level work of the Mi routines).

use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering};

use ::x86_64::PhysAddr;
use ::x86_64::structures::paging::{FrameAllocator, FrameDeallocator, PhysFrame, Size4KiB};
use abi::NtStatus;
use abi::layout::{PAGE_SIZE, USER_END, phys_to_virt};
use abi::nt::KUSER_SHARED_DATA_ADDRESS;
use spin::Mutex;

use super::address_space::PageTables;
use super::flush::DeferredRelease;
use super::vad::PageAccess;
use super::{
    AddressSpace, allocate_zeroed_frame, frame_is_shared, free_zeroed_frame, reference_frame,
    release_frame, shared_data,
};
use crate::arch::paging::{self, MapError, UserAccess};

/// The PML4 the kernel booted on: the address space of the System process, current when
/// no user address space is.
static SYSTEM_ROOT: AtomicU64 = AtomicU64::new(0);

pub fn init() {
    SYSTEM_ROOT.store(paging::current_root(), Ordering::Relaxed);
}

/// The PML4 the kernel booted on, the System process's `DirectoryTableBase`.
pub fn system_root() -> u64 {
    SYSTEM_ROOT.load(Ordering::Relaxed)
}

/// Page-table pages for the arch walker: zero-filled frames in, emptied (so zero-filled)
/// frames back to the zeroed list.
struct TableFrames;

// SAFETY: `allocate_zeroed_frame` returns distinct, zero-filled, otherwise unused frames,
// and so does the spare list, which only holds emptied tables nothing references.
unsafe impl FrameAllocator<Size4KiB> for TableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        SPARE_TABLES
            .lock()
            .pop()
            .or_else(allocate_zeroed_frame)
            .map(|frame| PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}

/// Takes back an emptied page table that nothing references: kept for the next table, or
/// returned to the zeroed list.
pub(super) fn free_table_frame(frame: u64) {
    if !SPARE_TABLES.lock().push(frame) {
        free_zeroed_frame(frame);
    }
}

/// The page tables an unmap empties, released with its frames.
struct UnmappedTables<'a>(&'a RefCell<DeferredRelease>);

impl FrameDeallocator<Size4KiB> for UnmappedTables<'_> {
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame<Size4KiB>) {
        self.0
            .borrow_mut()
            .release_table(frame.start_address().as_u64());
    }
}

/// Emptied page tables kept for the next ones: in use for the PFN database, but counted
/// as zeroed memory ([`super::pfn_counters`]) and handed out for data when nothing else is
/// left ([`super::allocate_zeroed_frame`]). A kvm-pvm host running the kernel natively
/// goes on shadowing a frame it saw as a page table, and traps and emulates every write to
/// it until it drops the shadow: reused for data, such a frame's first fill (a `rep stos`,
/// emulated one element at a time) costs hundreds of microseconds; reused as a table,
/// nothing.
static SPARE_TABLES: Mutex<SpareTables> = Mutex::new(SpareTables {
    frames: [0; SPARE_TABLE_LIMIT],
    count: 0,
});
/// Most page-table frames kept: the tables of a few small processes.
const SPARE_TABLE_LIMIT: usize = 64;

struct SpareTables {
    frames: [u64; SPARE_TABLE_LIMIT],
    count: usize,
}

/// How many emptied page tables are kept for reuse.
pub(super) fn spare_table_count() -> u64 {
    SPARE_TABLES.lock().count as u64
}

/// One of the emptied page tables kept for reuse (zero-filled), for other use.
pub(super) fn take_spare_table() -> Option<u64> {
    SPARE_TABLES.lock().pop()
}

impl SpareTables {
    fn pop(&mut self) -> Option<u64> {
        self.count = self.count.checked_sub(1)?;
        Some(self.frames[self.count])
    }

    /// Keeps `frame`; false when full.
    fn push(&mut self, frame: u64) -> bool {
        let Some(slot) = self.frames.get_mut(self.count) else {
            return false;
        };
        *slot = frame;
        self.count += 1;
        true
    }
}

fn user_access(access: PageAccess) -> Option<UserAccess> {
    let (write, execute) = match access {
        PageAccess::NoAccess => return None,
        PageAccess::ReadOnly => (false, false),
        PageAccess::ReadWrite => (true, false),
        PageAccess::ExecuteRead => (false, true),
        PageAccess::ExecuteReadWrite => (true, true),
    };
    Some(UserAccess { write, execute })
}

fn page_access(access: Option<UserAccess>) -> PageAccess {
    match access {
        None => PageAccess::NoAccess,
        Some(UserAccess {
            write: false,
            execute: false,
        }) => PageAccess::ReadOnly,
        Some(UserAccess {
            write: true,
            execute: false,
        }) => PageAccess::ReadWrite,
        Some(UserAccess {
            write: false,
            execute: true,
        }) => PageAccess::ExecuteRead,
        Some(UserAccess {
            write: true,
            execute: true,
        }) => PageAccess::ExecuteReadWrite,
    }
}

fn map_error(error: MapError) -> NtStatus {
    match error {
        MapError::OutOfFrames => NtStatus::NO_MEMORY,
        MapError::BadAddress => NtStatus::CONFLICTING_ADDRESSES,
    }
}

/// A PML4 whose kernel half is the system's, and the user tables below it.
#[derive(Debug)]
pub struct HardwarePageTables {
    root: u64,
}

impl PageTables for HardwarePageTables {
    fn charge_commit(&mut self, pages: u64) -> Result<(), NtStatus> {
        super::charge_commitment(pages)
    }

    fn return_commit(&mut self, pages: u64) {
        super::return_commitment(pages);
    }

    fn map_zeroed(&mut self, page: u64, access: PageAccess) -> Result<u64, NtStatus> {
        let frame = allocate_zeroed_frame().ok_or(NtStatus::NO_MEMORY)?;
        let mapped = paging::map_user_frame(
            self.root,
            page,
            frame,
            user_access(access),
            &mut TableFrames,
        );
        mapped.map(|()| frame).map_err(|error| {
            free_zeroed_frame(frame);
            map_error(error)
        })
    }

    fn map_frame(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus> {
        paging::map_user_frame(
            self.root,
            page,
            frame,
            user_access(access),
            &mut TableFrames,
        )
        .map_err(map_error)
    }

    fn map_shared(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus> {
        reference_frame(frame)?;
        self.map_frame(page, frame, access).inspect_err(|_| {
            release_frame(frame);
        })
    }

    fn is_shared(&self, frame: u64) -> bool {
        frame_is_shared(frame)
    }

    fn translate(&self, page: u64) -> Option<(u64, PageAccess)> {
        paging::translate_user_page(self.root, page)
            .map(|mapping| (mapping.frame, page_access(mapping.access)))
    }

    fn protect(&mut self, start: u64, end: u64, access: PageAccess) {
        paging::protect_user_range(self.root, start, end, user_access(access));
        // The other processors running the process lose the old access soon, not at once:
        // only a release of frames must wait for them (see `flush`).
        paging::ask_tlb_flush(paging::invalidate_cached_translations(self.root));
    }

    fn unmap(&mut self, start: u64, end: u64, owned: bool) {
        self.unmap_range(start, end, |_| owned);
    }

    fn unmap_all(&mut self, system_frame: Option<u64>) {
        self.unmap_range(0, USER_END, |frame| Some(frame) != system_frame);
    }

    fn write_frame(&mut self, frame: u64, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= PAGE_SIZE as usize);
        // SAFETY: `frame` is a frame this address space maps, reached through the direct
        // map; the copy stays within it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (phys_to_virt(frame) as *mut u8).add(offset),
                bytes.len(),
            );
        }
    }

    fn read_frame(&self, frame: u64, offset: usize, buffer: &mut [u8]) {
        assert!(offset + buffer.len() <= PAGE_SIZE as usize);
        // SAFETY: as in `write_frame`, reading.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (phys_to_virt(frame) as *const u8).add(offset),
                buffer.as_mut_ptr(),
                buffer.len(),
            );
        }
    }
}

impl HardwarePageTables {
    /// Clears every mapping of `[start, end)`, dropping the mapping reference of each frame
    /// `owned` accepts; the frames and emptied tables go back once no other processor can
    /// still translate to them.
    fn unmap_range(&mut self, start: u64, end: u64, owned: impl Fn(u64) -> bool) {
        let released = RefCell::new(DeferredRelease::new(self.root));
        let mut release = |frame: u64| {
            if owned(frame) {
                released.borrow_mut().release_page(frame);
            }
        };
        paging::unmap_user_range(
            self.root,
            start,
            end,
            &mut release,
            &mut UnmappedTables(&released),
        );
        released.into_inner().finish();
    }
}

impl Drop for HardwarePageTables {
    /// The PML4 goes last, after the address space unmapped everything below it. The
    /// processor leaves it first if it is running in it.
    fn drop(&mut self) {
        if paging::current_root() == self.root {
            paging::switch_address_space(SYSTEM_ROOT.load(Ordering::Relaxed));
        }
        super::flush::free_root(self.root);
    }
}

impl AddressSpace {
    /// MmCreateProcessAddressSpace: a PML4 sharing the kernel half, with only
    /// KUSER_SHARED_DATA mapped in the user half.
    pub fn new() -> Result<Self, NtStatus> {
        let root = paging::allocate_root().ok_or(NtStatus::NO_MEMORY)?;
        let mut space = Self::with_tables(HardwarePageTables { root });
        space.map_shared_user_data(KUSER_SHARED_DATA_ADDRESS, shared_data::frame())?;
        Ok(space)
    }

    /// Physical address of the PML4.
    pub fn root(&self) -> u64 {
        self.tables().root
    }
}
