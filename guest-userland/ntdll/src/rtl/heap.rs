//! The process heap: `RtlAllocateHeap`, `RtlFreeHeap`, `RtlReAllocateHeap` and
//! `RtlSizeHeap` on the heap `PEB.ProcessHeap` names. The allocator is `talc`; its memory
//! comes in segments of whole allocation-granularity units from NtAllocateVirtualMemory,
//! taken when it runs out and kept for the life of the process (the first on the first
//! allocation, so a process that never allocates commits nothing).
//!
//! Each block carries a 16-byte header: its size, and a cookie made from its address that
//! a free clears. A pointer the heap did not hand out (outside every segment, misaligned,
//! or without its cookie, as after a first free) is refused with FALSE, NULL or -1, as
//! NT's heap refuses it, and the heap is left untouched.

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::nt::Peb;
use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;
use talc::{TalcLock, lock_api};

use crate::calls;
use crate::native::nt_yield_execution;

/// `HEAP_ZERO_MEMORY`: the new block (or a reallocation's new part) is zero-filled.
pub const HEAP_ZERO_MEMORY: u32 = 0x0000_0008;
/// Segments are whole allocation-granularity units.
const SEGMENT_GRANULARITY: usize = 0x1_0000;
/// Room in a segment for talc's own bookkeeping (its free-list heads in the first one).
const SEGMENT_OVERHEAD: usize = 0x1000;
/// The most segments a heap takes; past them allocations fail.
const MAX_SEGMENTS: usize = 64;
/// Blocks are 16-byte aligned, as NT's x64 heap gives them.
const BLOCK_ALIGNMENT: usize = 16;
/// The largest block asked for that is considered at all.
const MAX_BLOCK_SIZE: usize = 1 << 40;
/// Mixed with a block's address to make its header's cookie.
const COOKIE_KEY: u64 = 0x4E54_444C_4C48_4550;

/// A block's header, just below the address the caller gets.
#[repr(C)]
struct BlockHeader {
    /// The size the caller asked for.
    size: u64,
    /// `address ^ COOKIE_KEY` while the block is allocated, 0 once freed.
    cookie: u64,
}

const HEADER_SIZE: usize = size_of::<BlockHeader>();
const _: () = assert!(HEADER_SIZE == BLOCK_ALIGNMENT);

/// The memory the heap took: talc's source, which takes a segment when talc runs out.
#[derive(Debug)]
struct Segments {
    /// Base and size of each segment, the first `count` in use.
    ranges: [(usize, usize); MAX_SEGMENTS],
    count: usize,
}

impl Segments {
    const fn new() -> Self {
        Self {
            ranges: [(0, 0); MAX_SEGMENTS],
            count: 0,
        }
    }

    /// Whether `length` bytes at `address` lie inside one segment.
    fn contain(&self, address: usize, length: usize) -> bool {
        let Some(end) = address.checked_add(length) else {
            return false;
        };
        self.ranges[..self.count]
            .iter()
            .any(|&(base, size)| address >= base && end <= base + size)
    }
}

// SAFETY: `acquire` only claims memory it just allocated for this heap and never touches
// the heap's lock; heaps are never truncated or resized (TRACK_HEAP_END stays false).
unsafe impl Source for Segments {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if talc.source.count == MAX_SEGMENTS {
            return Err(());
        }
        let size = layout
            .size()
            .checked_add(layout.align() + SEGMENT_OVERHEAD)
            .ok_or(())?
            .next_multiple_of(SEGMENT_GRANULARITY);
        let base = calls::allocate_own_memory(size as u64).map_err(|_| ())? as usize;
        // SAFETY: the segment was just committed for this heap alone and stays so for the
        // life of the process.
        unsafe { talc.claim(base as *mut u8, size) }.ok_or(())?;
        let index = talc.source.count;
        talc.source.ranges[index] = (base, size);
        talc.source.count += 1;
        Ok(())
    }
}

/// The heap's lock: a spin lock that yields the processor while another thread holds it.
struct HeapLock(AtomicBool);

// SAFETY: `try_lock` takes the flag with an acquiring compare-exchange and `unlock`
// releases it, so one holder at a time sees the heap.
unsafe impl lock_api::RawMutex for HeapLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            // SAFETY: no arguments; the holder gets the processor sooner.
            unsafe { nt_yield_execution() };
        }
    }

    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The process heap (each process has its own copy of ntdll's data). It is also the
/// allocator of ntdll's own Rust code, which `talc` requires there to be.
#[global_allocator]
static PROCESS_HEAP: TalcLock<HeapLock, Segments> = TalcLock::new(Segments::new());

type HeapTalc = Talc<Segments, talc::DefaultBinning>;

/// The handle `PEB.ProcessHeap` holds: the heap's address.
pub(crate) fn process_heap_handle() -> u64 {
    &raw const PROCESS_HEAP as u64
}

/// Points `PEB.ProcessHeap` at the process heap; the loader calls it before the entry
/// point runs.
///
/// # Safety
/// `peb` is the process's PEB.
pub unsafe fn initialize_process_heap(peb: *mut Peb) {
    // SAFETY: the caller gives the process's writable PEB.
    unsafe { (&raw mut (*peb).process_heap).write(process_heap_handle()) };
}

/// The layout of a block of `size` bytes with its header.
fn block_layout(size: usize) -> Option<Layout> {
    if size > MAX_BLOCK_SIZE {
        return None;
    }
    Layout::from_size_align(size + HEADER_SIZE, BLOCK_ALIGNMENT).ok()
}

/// A new block of `size` bytes (zero-filled with HEAP_ZERO_MEMORY): its address.
fn allocate(talc: &mut HeapTalc, flags: u32, size: usize) -> Option<usize> {
    let layout = block_layout(size)?;
    // SAFETY: the layout's size includes the header, so it is never zero.
    let header = unsafe { talc.allocate(layout) }?.as_ptr();
    let address = header as usize + HEADER_SIZE;
    // SAFETY: talc gave `layout.size()` bytes at `header`, aligned for the header.
    unsafe {
        header.cast::<BlockHeader>().write(BlockHeader {
            size: size as u64,
            cookie: address as u64 ^ COOKIE_KEY,
        });
        if flags & HEAP_ZERO_MEMORY != 0 {
            core::ptr::write_bytes(address as *mut u8, 0, size);
        }
    }
    Some(address)
}

/// The size of the allocated block at `address`, or None when the heap did not hand it
/// out (or it was freed).
fn block_size(talc: &HeapTalc, address: usize) -> Option<usize> {
    if !address.is_multiple_of(BLOCK_ALIGNMENT) || address < HEADER_SIZE {
        return None;
    }
    let header = address - HEADER_SIZE;
    if !talc.source.contain(header, HEADER_SIZE) {
        return None;
    }
    // SAFETY: the header lies inside a segment of this heap, committed and aligned.
    let header = unsafe { (header as *const BlockHeader).read() };
    let size = usize::try_from(header.size).ok()?;
    let valid = header.cookie == address as u64 ^ COOKIE_KEY && talc.source.contain(address, size);
    valid.then_some(size)
}

/// Frees the block at `address` of `size` bytes (checked by [`block_size`]).
fn free(talc: &mut HeapTalc, address: usize, size: usize) {
    let header = (address - HEADER_SIZE) as *mut BlockHeader;
    // SAFETY: the block is allocated (its cookie checked), so its header is this heap's;
    // clearing the cookie makes a second free of it a refused one.
    unsafe { (&raw mut (*header).cookie).write(0) };
    if let Some(layout) = block_layout(size) {
        // SAFETY: talc allocated the block at `header` with exactly this layout.
        unsafe { talc.deallocate(header.cast(), layout) };
    }
}

/// The process heap, locked, when `heap` is its handle.
fn lock(heap: u64) -> Option<lock_api::MutexGuard<'static, HeapLock, HeapTalc>> {
    (heap == process_heap_handle()).then(|| PROCESS_HEAP.lock())
}

/// `RtlAllocateHeap(HeapHandle, Flags, Size)`: a block of `size` bytes, 16-byte aligned,
/// zero-filled with HEAP_ZERO_MEMORY; NULL when it cannot be had or `heap` is not the
/// process heap.
#[unsafe(no_mangle)]
pub extern "system" fn RtlAllocateHeap(heap: u64, flags: u32, size: usize) -> u64 {
    lock(heap)
        .and_then(|mut talc| allocate(&mut talc, flags, size))
        .map_or(0, |address| address as u64)
}

/// `RtlFreeHeap(HeapHandle, Flags, BaseAddress)`: frees the block at `address` (NULL is
/// nothing to free). FALSE, with the heap untouched, for an address the heap did not
/// hand out or already took back.
#[unsafe(no_mangle)]
pub extern "system" fn RtlFreeHeap(heap: u64, _flags: u32, address: u64) -> u8 {
    let Some(mut talc) = lock(heap) else {
        return 0;
    };
    if address == 0 {
        return 1;
    }
    match block_size(&talc, address as usize) {
        Some(size) => {
            free(&mut talc, address as usize, size);
            1
        }
        None => 0,
    }
}

/// `RtlReAllocateHeap(HeapHandle, Flags, BaseAddress, Size)`: the block at `address` with
/// room for `size` bytes, its contents kept up to the smaller size (the new part
/// zero-filled with HEAP_ZERO_MEMORY); it may move. NULL, with the block untouched, when
/// there is no room or the address is not a block of the heap.
#[unsafe(no_mangle)]
pub extern "system" fn RtlReAllocateHeap(heap: u64, flags: u32, address: u64, size: usize) -> u64 {
    let Some(mut talc) = lock(heap) else {
        return 0;
    };
    let Some(old_size) = block_size(&talc, address as usize) else {
        return 0;
    };
    let Some(new) = allocate(&mut talc, flags & !HEAP_ZERO_MEMORY, size) else {
        return 0;
    };
    let kept = old_size.min(size);
    // SAFETY: both blocks are allocated and distinct, `kept` bytes fit in each.
    unsafe {
        core::ptr::copy_nonoverlapping(address as *const u8, new as *mut u8, kept);
        if flags & HEAP_ZERO_MEMORY != 0 {
            core::ptr::write_bytes((new + kept) as *mut u8, 0, size - kept);
        }
    }
    free(&mut talc, address as usize, old_size);
    new as u64
}

/// `RtlSizeHeap(HeapHandle, Flags, BaseAddress)`: the size asked for the block at
/// `address`, or `(SIZE_T)-1` when it is not a block of the heap.
#[unsafe(no_mangle)]
pub extern "system" fn RtlSizeHeap(heap: u64, _flags: u32, address: u64) -> usize {
    lock(heap)
        .and_then(|talc| block_size(&talc, address as usize))
        .unwrap_or(usize::MAX)
}
