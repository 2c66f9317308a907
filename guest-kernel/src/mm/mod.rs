//! The memory manager: the PFN database, kernel pool, user address spaces (VADs, page
//! faults, the virtual-memory services' rules), image mapping and the probing of user
//! buffers.

pub mod address_space;
mod flush;
pub mod image;
mod page_tables;
mod pfn;
mod pool;
pub mod probe;
pub mod section;
mod shared_data;
pub mod vad;
mod zero_page;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::boot::{BootInfo, MemoryKind, PhysRange};
use abi::layout::{PAGE_SIZE, USER_END, phys_to_virt};
use spin::Mutex;

pub use self::address_space::Resolution;
pub use self::flush::release_flushed;
pub use self::page_tables::system_root;
pub use self::pfn::PfnCounters;
use self::pfn::{PfnDatabase, PfnEntry};
pub use self::pool::{PoolCounters, ensure_headroom as ensure_pool_headroom};
use self::vad::Access;
pub use self::zero_page::zero_page_thread;
use crate::ke::bugcheck::{BugCheck, bugcheck};

/// A process's user address space, over the hardware page tables.
pub type AddressSpace = address_space::AddressSpace<page_tables::HardwarePageTables>;

/// The PFN database (`MmPfnDatabase`), over entries carved out of usable RAM at boot.
static PFN_DATABASE: Mutex<Option<PfnDatabase<'static>>> = Mutex::new(None);

/// Page faults taken on user addresses, and those resolved with a zero-filled page.
static PAGE_FAULT_COUNT: AtomicU32 = AtomicU32::new(0);
static DEMAND_ZERO_COUNT: AtomicU32 = AtomicU32::new(0);

/// Private pages committed in every address space (`MmTotalCommittedPages`), and how many
/// may be (`MmTotalCommitLimit`): there is no page file, so RAM less what the kernel keeps
/// for page tables, image pages and its own needs.
static COMMITTED_PAGES: AtomicU64 = AtomicU64::new(0);
static COMMIT_LIMIT: AtomicU64 = AtomicU64::new(0);
/// The part of RAM the commit limit leaves out: an eighth, at least 16 MiB.
const UNCOMMITTABLE_MIN_PAGES: u64 = 4096;

/// Takes over the usable RAM the BootInfo lists and creates the shared user data page.
pub fn init(boot_info: &BootInfo) {
    init_pfn_database(boot_info);
    let total = pfn_counters().total;
    COMMIT_LIMIT.store(
        total.saturating_sub((total / 8).max(UNCOMMITTABLE_MIN_PAGES)),
        Ordering::Relaxed,
    );
    page_tables::init();
    shared_data::init(crate::arch::system_calls_use_int_2e());
}

/// MiInitializePfnDatabase: the entries go at the start of the first usable range large
/// enough to hold them; every other usable frame is then managed by the database. Fresh
/// RAM is zero-filled, which is what an entry of a never-used frame holds.
fn init_pfn_database(boot_info: &BootInfo) {
    let mut ranges = [(0u64, 0u64); abi::boot::MAX_MEMORY_REGIONS];
    let mut count = 0;
    for region in boot_info
        .memory_map()
        .iter()
        .filter(|region| region.kind() == Some(MemoryKind::Usable))
    {
        ranges[count] = (region.range.start, region.range.len);
        count += 1;
    }
    let ranges = &mut ranges[..count];
    let bytes = (PfnDatabase::entries_needed(ranges) * size_of::<PfnEntry>()) as u64;
    let Some(home) = ranges
        .iter_mut()
        .find(|range| range.1 >= bytes + 2 * PAGE_SIZE)
    else {
        bugcheck(BugCheck::NO_PAGES_AVAILABLE, [bytes, 0, 0, 0]);
    };
    let start = home.0.next_multiple_of(PAGE_SIZE);
    let end = (start + bytes).next_multiple_of(PAGE_SIZE);
    home.1 -= end - home.0;
    home.0 = end;
    let entries = bytes as usize / size_of::<PfnEntry>();
    // SAFETY: `[start, end)` is usable RAM the VMM zero-filled, taken out of the ranges the
    // database manages, so nothing else ever uses it; all-zero bytes are
    // `PfnEntry::FRESH`, and the direct map covers all RAM.
    let entries =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(start) as *mut PfnEntry, entries) };
    *PFN_DATABASE.lock() = Some(PfnDatabase::new(entries, ranges));
}

fn with_pfn_database<R>(f: impl FnOnce(&mut PfnDatabase<'static>) -> R) -> R {
    f(PFN_DATABASE
        .lock()
        .as_mut()
        .expect("the PFN database is built in phase 0"))
}

/// A zero-filled frame, or `None` when physical memory is exhausted. The emptied page
/// tables kept for reuse come last.
pub fn allocate_zeroed_frame() -> Option<u64> {
    let allocate = || with_pfn_database(|database| database.allocate_zeroed(zero_free_frame));
    allocate()
        .or_else(|| {
            flush::release_flushed();
            allocate()
        })
        .or_else(page_tables::take_spare_table)
}

/// Zeroes up to `limit` frames of the free list onto the zeroed list; returns how many.
fn zero_free_frames(limit: usize) -> usize {
    with_pfn_database(|database| database.zero_free_frames(limit, zero_free_frame))
}

/// Fills `frame`, taken off the free list, with zeros.
fn zero_free_frame(frame: u64) {
    // SAFETY: the frame is free (the PFN database just took it off the free list), so
    // nothing else uses it; the direct map covers it.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, PAGE_SIZE as usize) };
}

/// Returns `frame`, in use, to the free list; it is zeroed when handed out again.
pub fn free_frame(frame: u64) {
    if let Err(error) = with_pfn_database(|database| database.free(frame)) {
        bugcheck(BugCheck::PFN_LIST_CORRUPT, [0x99, error.0, 0, 0]);
    }
    zero_page::frame_freed();
}

/// Adds a reference to `frame` for one more mapping of it. Frames the PFN database does
/// not manage (the boot image's) need none: they are never released.
pub fn reference_frame(frame: u64) -> Result<(), NtStatus> {
    with_pfn_database(|database| {
        if !database.manages(frame) {
            return Ok(());
        }
        database
            .reference(frame)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)
    })
}

/// Drops a mapping's reference to `frame`: the last one frees a frame of RAM; frames of
/// the boot image stay where they are.
pub fn release_frame(frame: u64) {
    let managed = with_pfn_database(|database| database.manages(frame));
    if managed {
        free_frame(frame);
    }
}

/// Whether `frame` has holders besides one mapping: a frame of the boot image always has.
pub fn frame_is_shared(frame: u64) -> bool {
    with_pfn_database(|database| !database.manages(frame) || database.is_shared(frame))
}

/// Returns `frame`, in use and zero-filled, to the zeroed list.
pub fn free_zeroed_frame(frame: u64) {
    if let Err(error) = with_pfn_database(|database| database.free_zeroed(frame)) {
        bugcheck(BugCheck::PFN_LIST_CORRUPT, [0x9A, error.0, 0, 0]);
    }
}

/// Charges `pages` committed private pages (MiChargeCommitment): STATUS_COMMITMENT_LIMIT
/// when the total would pass the limit, so a program that commits too much is refused at
/// NtAllocateVirtualMemory rather than at a page fault no frame is left for.
fn charge_commitment(pages: u64) -> Result<(), NtStatus> {
    let limit = COMMIT_LIMIT.load(Ordering::Relaxed);
    COMMITTED_PAGES
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |committed| {
            committed.checked_add(pages).filter(|&total| total <= limit)
        })
        .map(|_| ())
        .map_err(|_| NtStatus::COMMITMENT_LIMIT)
}

fn return_commitment(pages: u64) {
    COMMITTED_PAGES.fetch_sub(pages, Ordering::Relaxed);
}

/// The committed private pages and the commit limit (for NtQuerySystemInformation).
pub fn commit_counters() -> (u64, u64) {
    (
        COMMITTED_PAGES.load(Ordering::Relaxed),
        COMMIT_LIMIT.load(Ordering::Relaxed),
    )
}

/// The frame counters (for NtQuerySystemInformation).
/// The emptied page tables kept for reuse count as zeroed, not in use.
pub fn pfn_counters() -> PfnCounters {
    flush::release_flushed();
    let mut counters = with_pfn_database(|database| database.counters());
    let spare = page_tables::spare_table_count();
    counters.zeroed += spare;
    counters.active -= spare;
    counters
}

/// The kernel pool's counters (for NtQuerySystemInformation).
pub fn pool_counters() -> PoolCounters {
    pool::counters()
}

/// Page faults on user addresses so far, and those that got a zero-filled page.
pub fn fault_counters() -> (u32, u32) {
    (
        PAGE_FAULT_COUNT.load(Ordering::Relaxed),
        DEMAND_ZERO_COUNT.load(Ordering::Relaxed),
    )
}

/// MmAccessFault: resolves a page fault on `address` in `space`. `write` and `execute`
/// say what the access was. STATUS_ACCESS_VIOLATION for addresses outside the user half
/// and pages the access may not touch, STATUS_GUARD_PAGE_VIOLATION on the first touch of
/// a guard page.
pub fn access_fault(
    space: &mut AddressSpace,
    address: u64,
    write: bool,
    execute: bool,
) -> Result<(), NtStatus> {
    if address >= USER_END {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    PAGE_FAULT_COUNT.fetch_add(1, Ordering::Relaxed);
    let access = match (write, execute) {
        (true, _) => Access::Write,
        (false, true) => Access::Execute,
        (false, false) => Access::Read,
    };
    if space.access_fault(address, access)? == Resolution::DemandZero {
        DEMAND_ZERO_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A reference to a `T` at guest-physical `phys`, through the direct map.
pub fn phys_to_ref<T>(phys: u64) -> Option<&'static T> {
    if phys == 0 || !phys.is_multiple_of(align_of::<T>() as u64) {
        return None;
    }
    // SAFETY: the direct map covers all guest RAM and the image for the kernel's lifetime;
    // callers only name ranges the VMM describes in the BootInfo, which nothing writes.
    Some(unsafe { &*(phys_to_virt(phys) as *const T) })
}

/// The bytes of a guest-physical range the VMM described, through the direct map.
pub fn phys_slice(range: PhysRange) -> Option<&'static [u8]> {
    range.end()?;
    if range.len == 0 {
        return Some(&[]);
    }
    // SAFETY: as for `phys_to_ref`: the range is one the VMM described and never changes.
    Some(unsafe {
        core::slice::from_raw_parts(phys_to_virt(range.start) as *const u8, range.len as usize)
    })
}
