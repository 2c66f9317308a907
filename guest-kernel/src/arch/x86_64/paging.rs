//! Page tables: the kernel's half (built by the VMM, shared by every address space), user
//! halves, and the fixed map of device pages such as the hypercall doorbells.

use core::alloc::Layout;
use core::cell::UnsafeCell;

use ::x86_64::registers::control::{Cr3, Cr3Flags};
use ::x86_64::structures::paging::{
    FrameAllocator, FrameDeallocator, PageTable, PageTableFlags, PhysFrame, Size4KiB,
};
use ::x86_64::{PhysAddr, VirtAddr};
use abi::layout::{KERNEL_BASE, PAGE_SIZE, USER_END, phys_to_virt};

use super::translations::{Cr3Load, Translations};

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
    super::gdt::address_space_root()
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
        // CR3 itself: the first hypercall maps its doorbell before the KPCR exists.
        let pml4 = &mut *table_at(Cr3::read().0.start_address().as_u64());
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

/// Where a user PML4 is: 4 KiB above its kernel PML4. The pair is 8 KiB aligned, so a
/// kernel PML4 never has CR3 bit 12 set and one with it set is always a user PML4 (the
/// entry code relies on that).
const USER_ROOT_OFFSET: u64 = PAGE_SIZE;
const ROOT_PAIR: Layout =
    match Layout::from_size_align(2 * PAGE_SIZE as usize, 2 * PAGE_SIZE as usize) {
        Ok(layout) => layout,
        Err(_) => panic!("a PML4 pair is a valid layout"),
    };

/// A PML4 pair for a new address space (MmCreateProcessAddressSpace's page directory),
/// from the kernel pool, which lies in the kernel image and so is physically contiguous:
/// the kernel PML4 (empty user half, kernel half shared with the current one) and, 4 KiB
/// above it, the PML4 that user mode runs on when the kernel runs natively on kvm-pvm (the
/// same user half and only the entry area of the kernel). Returns the kernel PML4.
///
/// Only the entries that differ from what the pair must hold are written. The pool mostly
/// hands back the pair of the last address space freed, which is what it must hold already
/// and which a kvm-pvm host still shadows as page tables: zeroing it (a `rep stos`) would
/// be trapped and emulated one element at a time, hundreds of microseconds.
pub fn allocate_root() -> Option<u64> {
    // SAFETY: the layout has a non-zero size.
    let pair = unsafe { alloc::alloc::alloc(ROOT_PAIR) };
    if pair.is_null() {
        return None;
    }
    let root = pair as u64 - KERNEL_BASE;
    let window = super::pvm_native().then(super::entry_area::user_kernel_window_entry);
    // SAFETY: the pair is a fresh, exclusively owned pool block; the current PML4 is live
    // and its kernel half never changes after boot.
    unsafe {
        let current = &*(phys_to_virt(current_root()) as *const [u64; ENTRIES]);
        let kernel = entries(root);
        let user = entries(root + USER_ROOT_OFFSET);
        for slot in 0..ENTRIES {
            let kernel_entry = if slot >= KERNEL_HALF_FIRST_SLOT {
                current[slot]
            } else {
                0
            };
            let user_entry = match window {
                Some(entry) if slot == super::entry_area::KERNEL_WINDOW_SLOT => entry,
                _ => 0,
            };
            if kernel[slot] != kernel_entry {
                kernel[slot] = kernel_entry;
            }
            if user[slot] != user_entry {
                user[slot] = user_entry;
            }
        }
    }
    Some(root)
}

/// Gives back a PML4 pair from [`allocate_root`] whose user half is empty again, and which
/// no processor has loaded. The next address space rooted there must not find the
/// translations of this one behind a PCID tag.
pub fn free_root(root: u64) {
    mark_cached_translations_stale(root);
    // SAFETY: `root` came from `allocate_root`, which allocated the pair with this layout
    // in the pool at `KERNEL_BASE + root`.
    unsafe { alloc::alloc::dealloc((root + KERNEL_BASE) as *mut u8, ROOT_PAIR) };
}

/// Copies the user half of the kernel PML4 `root` into its user PML4, when user mode runs
/// on one. Only the entries that differ are written: the host shadows the user PML4 and
/// traps every write to it, and after a few in a row it drops its shadow, to build it again
/// on the next use.
fn mirror_user_half(root: u64) {
    if super::pvm_native() {
        // SAFETY: `root` is the kernel PML4 of a pair from `allocate_root`, owned by the
        // caller's address space.
        unsafe {
            let kernel = entries(root);
            let user = entries(root + USER_ROOT_OFFSET);
            for slot in 0..KERNEL_HALF_FIRST_SLOT {
                if user[slot] != kernel[slot] {
                    user[slot] = kernel[slot];
                }
            }
        }
    }
}

/// Which processors may still translate with which address space's entries.
static TRANSLATIONS: Translations<{ super::MAX_PROCESSORS }> = Translations::new();

fn this_processor() -> usize {
    super::current_processor() as usize
}

/// Records the PML4 a processor starts on (the one the VMM built, the System process's).
pub fn processor_started(index: u32) {
    TRANSLATIONS.processor_started(index as usize, current_root());
}

/// Tags translations with PCIDs from now on; each processor sets CR4.PCIDE first, while
/// CR3 still holds PCID 0.
pub(super) fn use_pcids() {
    TRANSLATIONS.use_pcids();
}

/// Whether translations are tagged with PCIDs.
pub fn pcids_in_use() -> bool {
    TRANSLATIONS.pcids_in_use()
}

/// CR3 loads on every processor since boot, and how many of them kept the translations
/// the address space loaded had cached.
pub fn cr3_load_counts() -> (u64, u64) {
    TRANSLATIONS.load_counts()
}

/// The processors that may still translate with entries of the address space rooted at
/// `root` cached before now, as a mask (this one among them when it keeps them behind a
/// PCID without having the address space loaded). Called after changing its entries.
pub fn processors_caching(root: u64) -> u64 {
    TRANSLATIONS.processors_caching(this_processor(), root)
}

/// Marks every processor's PCID tag of the address space rooted at `root` stale, so that
/// none keeps translations of it cached before now across its next CR3 load.
pub fn mark_cached_translations_stale(root: u64) {
    TRANSLATIONS.mark_stale(this_processor(), root);
}

/// After a change to the address space rooted at `root`: marks its tags stale, then
/// returns the other processors that have it loaded, which must flush.
pub fn invalidate_cached_translations(root: u64) -> u64 {
    TRANSLATIONS.invalidate(this_processor(), root)
}

/// The processors that have the address space rooted at `root` loaded, as a mask.
pub fn processors_in(root: u64) -> u64 {
    TRANSLATIONS.processors_in(root)
}

/// The CR3 loads `processor` has begun so far.
pub fn cr3_loads(processor: u32) -> u64 {
    TRANSLATIONS.cr3_loads(processor as usize)
}

/// Asks each processor of `processors` to flush its TLB, with the dispatch interrupt
/// (`KeFlushMultipleTb`, without the wait: callers that free what was unmapped wait for
/// the CR3 load counts instead, so no processor ever spins on another with locks held).
pub fn ask_tlb_flush(processors: u64) {
    let to_interrupt = TRANSLATIONS.ask_flush(processors);
    for index in (0..super::MAX_PROCESSORS).filter(|index| to_interrupt & 1 << index != 0) {
        super::request_dispatch_interrupt(index as u32);
    }
}

/// Flushes this processor's TLB if another processor asked it to.
pub fn flush_if_asked() {
    if TRANSLATIONS.take_flush_request(this_processor()) {
        load_address_space(current_root(), Cr3Load::Flush);
    }
}

/// Makes the address space rooted at `root` the current one. Without PCIDs this flushes
/// the TLB; with them, the translations the address space left on this processor are kept
/// unless another processor changed it since.
pub fn switch_address_space(root: u64) {
    load_address_space(root, Cr3Load::KeepWhatIsValid);
}

fn load_address_space(root: u64, load: Cr3Load) {
    let value = TRANSLATIONS.begin_load(this_processor(), root, load);
    if super::pvm_native() {
        // SAFETY: as for the `mov cr3` below; the host's CR3 hypercall costs about half of
        // a trapped `mov cr3` and, like it, flushes the TLB.
        unsafe { super::pvm::hypercall(super::pvm::HC_SET_CR3, root, 0) };
    } else if pcids_in_use() {
        // SAFETY: as for the `mov cr3` below; CR4.PCIDE is set on this processor and the
        // value carries one of its tags' PCIDs, whose translations are the address space's
        // and valid when bit 63 keeps them, and flushed otherwise.
        unsafe {
            core::arch::asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags));
        }
    } else {
        let frame = PhysFrame::containing_address(PhysAddr::new(root));
        // SAFETY: `root` is a PML4 built by `allocate_root`, whose kernel half matches
        // the current one, so the kernel keeps running across the switch.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    }
    super::gdt::set_address_space_root(root);
}

// User page tables entry by entry: what MiMakePdeExistAndMakeValid, MiDeletePte and
// MiFlushTbAndCapture do to the hardware structures. Entries are plain u64s reached
// through the direct map; the address space that owns the tables serialises all changes.

/// Bits of an entry holding the frame or table it references.
const ENTRY_FRAME: u64 = 0x000F_FFFF_FFFF_F000;
const ENTRY_PRESENT: u64 = 1 << 0;
const ENTRY_WRITABLE: u64 = 1 << 1;
const ENTRY_USER: u64 = 1 << 2;
const ENTRY_NO_EXECUTE: u64 = 1 << 63;
/// Software bit (the MMU ignores it) of a not-present user PTE that keeps its frame: a
/// no-access or guard page.
const ENTRY_RETAINED: u64 = 1 << 9;
/// Bits 52..=61 of an entry referencing a table count the table's non-zero entries (NT's
/// UsedPageTableEntries); the MMU ignores them. A table whose count drops to 0 is freed.
const USE_COUNT_SHIFT: u32 = 52;
const USE_COUNT_MASK: u64 = 0x3FF << USE_COUNT_SHIFT;
/// How a user table is referenced: user code may go through it, each PTE decides.
const TABLE_ENTRY: u64 = ENTRY_PRESENT | ENTRY_WRITABLE | ENTRY_USER;
const ENTRIES: usize = 512;
/// Level of the PML4 (the PT is level 0).
const ROOT_LEVEL: u32 = 3;

/// What a user PTE maps: a frame, and its access (`None`: not present, frame kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserMapping {
    pub frame: u64,
    pub access: Option<UserAccess>,
}

/// The entries of the page table in frame `phys`.
///
/// # Safety
/// `phys` must be a table of a user address space (or its PML4), reachable through the
/// direct map, and no other reference to its entries may be live.
unsafe fn entries<'a>(phys: u64) -> &'a mut [u64; ENTRIES] {
    // SAFETY: as the caller promises.
    unsafe { &mut *(phys_to_virt(phys) as *mut [u64; ENTRIES]) }
}

fn level_shift(level: u32) -> u32 {
    12 + 9 * level
}

fn entry_index(va: u64, level: u32) -> usize {
    (va >> level_shift(level)) as usize & (ENTRIES - 1)
}

fn use_count(entry: u64) -> u64 {
    (entry & USE_COUNT_MASK) >> USE_COUNT_SHIFT
}

fn leaf_entry(frame: u64, access: Option<UserAccess>) -> u64 {
    let Some(access) = access else {
        return frame | ENTRY_RETAINED;
    };
    let mut entry = frame | ENTRY_PRESENT | ENTRY_USER;
    if access.write {
        entry |= ENTRY_WRITABLE;
    }
    if !access.execute {
        entry |= ENTRY_NO_EXECUTE;
    }
    entry
}

fn leaf_mapping(entry: u64) -> Option<UserMapping> {
    if entry & (ENTRY_PRESENT | ENTRY_RETAINED) == 0 {
        return None;
    }
    let access = (entry & ENTRY_PRESENT != 0).then_some(UserAccess {
        write: entry & ENTRY_WRITABLE != 0,
        execute: entry & ENTRY_NO_EXECUTE == 0,
    });
    Some(UserMapping {
        frame: entry & ENTRY_FRAME,
        access,
    })
}

/// Maps `frame` at user page `va` in the address space rooted at `root` (a PML4 from
/// `allocate_root`), with `access` (`None`: not present, frame kept). Missing tables come
/// from `frames`, zero-filled. Fails with `BadAddress` when `va` is not a user page or is
/// mapped already. No TLB flush is needed: the page was not mapped.
pub fn map_user_frame(
    root: u64,
    va: u64,
    frame: u64,
    access: Option<UserAccess>,
    frames: &mut impl FrameAllocator<Size4KiB>,
) -> Result<(), MapError> {
    if va >= USER_END || !va.is_multiple_of(PAGE_SIZE) || frame & !ENTRY_FRAME != 0 {
        return Err(MapError::BadAddress);
    }
    let mut table = root;
    // The entry that counts `table`'s entries; the PML4's are not counted.
    let mut counter: Option<*mut u64> = None;
    for level in (0..=ROOT_LEVEL).rev() {
        // SAFETY: `table` is `root` or a table reached from it; only this walk touches it.
        let slot: *mut u64 = unsafe { &mut entries(table)[entry_index(va, level)] };
        // SAFETY: `slot` points into that table, and `counter` into the one above it.
        unsafe {
            if level == 0 {
                if *slot != 0 {
                    return Err(MapError::BadAddress);
                }
                *slot = leaf_entry(frame, access);
            } else if *slot & ENTRY_PRESENT == 0 {
                let new = frames.allocate_frame().ok_or(MapError::OutOfFrames)?;
                *slot = new.start_address().as_u64() | TABLE_ENTRY;
            } else {
                counter = Some(slot);
                table = *slot & ENTRY_FRAME;
                continue;
            }
            if let Some(counter) = counter {
                *counter += 1 << USE_COUNT_SHIFT;
            }
            counter = Some(slot);
            table = *slot & ENTRY_FRAME;
        }
    }
    mirror_user_half(root);
    Ok(())
}

/// The mapping of user page `va` in the address space rooted at `root`.
pub fn translate_user_page(root: u64, va: u64) -> Option<UserMapping> {
    if va >= USER_END {
        return None;
    }
    let mut table = root;
    for level in (1..=ROOT_LEVEL).rev() {
        // SAFETY: `table` is `root` or a table reached from it; the reference is dropped
        // before the next level.
        let entry = unsafe { entries(table)[entry_index(va, level)] };
        if entry & ENTRY_PRESENT == 0 {
            return None;
        }
        table = entry & ENTRY_FRAME;
    }
    // SAFETY: as above, for the page table.
    leaf_mapping(unsafe { entries(table)[entry_index(va, 0)] })
}

/// Gives every mapped page of `[start, end)` in the address space rooted at `root` the
/// access `access` (`None`: not present, frames kept), flushing the TLB as needed.
pub fn protect_user_range(root: u64, start: u64, end: u64, access: Option<UserAccess>) {
    let current = is_current_root(root);
    let end = end.min(USER_END);
    let mut protect_leaf = |slot: &mut u64, va: u64| {
        let Some(mapping) = leaf_mapping(*slot) else {
            return;
        };
        let entry = leaf_entry(mapping.frame, access);
        if entry != *slot {
            let was_present = *slot & ENTRY_PRESENT != 0;
            *slot = entry;
            if current && was_present {
                flush_tlb_page(va);
            }
        }
    };
    // SAFETY: `root` is a user PML4; only this walk touches its tables.
    unsafe { walk_leaves(root, ROOT_LEVEL, start, end, &mut protect_leaf) };
}

/// Calls `visit` on each PTE mapping `[start, end)` under `table` (at `level`), skipping
/// the spans of missing tables.
///
/// # Safety
/// `table` must be a user page table (or PML4) that nothing else touches meanwhile.
unsafe fn walk_leaves(
    table: u64,
    level: u32,
    start: u64,
    end: u64,
    visit: &mut impl FnMut(&mut u64, u64),
) {
    let shift = level_shift(level);
    let mut va = start;
    while va < end {
        let next = ((va >> shift) + 1) << shift;
        // SAFETY: as the caller promises; the reference ends before the recursion.
        let slot = unsafe { &mut entries(table)[entry_index(va, level)] };
        if level == 0 {
            visit(slot, va);
        } else if *slot & ENTRY_PRESENT != 0 {
            let child = *slot & ENTRY_FRAME;
            // SAFETY: a present entry of a user table references a user table.
            unsafe { walk_leaves(child, level - 1, va, end.min(next), visit) };
        }
        va = next;
    }
}

/// Removes every mapping of `[start, end)` from the address space rooted at `root`:
/// `release` gets the frame of each page that had one; tables left empty go back to
/// `tables` (zero-filled, as all their entries are cleared). Flushes the TLB as needed.
pub fn unmap_user_range(
    root: u64,
    start: u64,
    end: u64,
    release: &mut impl FnMut(u64),
    tables: &mut impl FrameDeallocator<Size4KiB>,
) {
    let mut unmap = Unmap {
        release,
        tables,
        current: is_current_root(root),
        tables_freed: false,
    };
    // SAFETY: `root` is a user PML4; only this walk touches its tables.
    unsafe { unmap.table(root, ROOT_LEVEL, start, end.min(USER_END)) };
    mirror_user_half(root);
    if unmap.current && unmap.tables_freed {
        // One INVLPG drops every cached paging-structure entry, freed tables' included.
        flush_tlb_page(start);
    }
}

/// The state of one [`unmap_user_range`] walk.
struct Unmap<'a, R, D> {
    release: &'a mut R,
    tables: &'a mut D,
    current: bool,
    tables_freed: bool,
}

impl<R: FnMut(u64), D: FrameDeallocator<Size4KiB>> Unmap<'_, R, D> {
    /// Clears the entries of `table` (at `level`) that map `[start, end)`, freeing lower
    /// tables left empty; returns how many of `table`'s entries it cleared.
    ///
    /// # Safety
    /// `table` must be a user page table (or PML4) that nothing else touches meanwhile.
    unsafe fn table(&mut self, table: u64, level: u32, start: u64, end: u64) -> u64 {
        let shift = level_shift(level);
        let mut cleared = 0;
        let mut va = start;
        while va < end {
            let next = ((va >> shift) + 1) << shift;
            // SAFETY: as the caller promises; the reference ends before the recursion.
            let entry = unsafe { entries(table)[entry_index(va, level)] };
            let new = if level == 0 {
                if entry != 0 {
                    // Cleared before the frame goes: whoever checks which processors may
                    // still translate to it must find the entry gone already.
                    // SAFETY: as above.
                    unsafe { entries(table)[entry_index(va, level)] = 0 };
                    if self.current && entry & ENTRY_PRESENT != 0 {
                        flush_tlb_page(va);
                    }
                    if let Some(mapping) = leaf_mapping(entry) {
                        (self.release)(mapping.frame);
                    }
                }
                0
            } else if entry & ENTRY_PRESENT != 0 {
                let child = entry & ENTRY_FRAME;
                // SAFETY: a present entry of a user table references a user table.
                let child_cleared = unsafe { self.table(child, level - 1, va, end.min(next)) };
                let remaining = use_count(entry)
                    .checked_sub(child_cleared)
                    .expect("page-table use counts match the entries");
                if remaining == 0 {
                    // SAFETY: every entry of the child is clear; once this entry is too,
                    // nothing references it.
                    unsafe {
                        entries(table)[entry_index(va, level)] = 0;
                        self.tables
                            .deallocate_frame(PhysFrame::containing_address(PhysAddr::new(child)))
                    };
                    self.tables_freed = true;
                    0
                } else {
                    (entry & !USE_COUNT_MASK) | (remaining << USE_COUNT_SHIFT)
                }
            } else {
                entry
            };
            if new != entry {
                cleared += u64::from(new == 0);
                // SAFETY: as above.
                unsafe { entries(table)[entry_index(va, level)] = new };
            }
            va = next;
        }
        cleared
    }
}

/// Whether `root` is the address space this processor runs in.
fn is_current_root(root: u64) -> bool {
    current_root() == root
}

/// Drops this processor's TLB entry for `va`, and its cached paging-structure entries.
/// Natively on kvm-pvm through the host's INVLPG hypercall, about half a trapped `invlpg`.
fn flush_tlb_page(va: u64) {
    if super::pvm_native() {
        // SAFETY: the kernel runs natively on kvm-pvm; dropping a TLB entry is always safe.
        unsafe { super::pvm::hypercall(super::pvm::HC_INVLPG, va, 0) };
    } else {
        ::x86_64::instructions::tlb::flush(VirtAddr::new(va));
    }
}
