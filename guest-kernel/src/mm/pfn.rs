//! The PFN database (`MmPfnDatabase`): one entry per usable frame saying where the frame
//! is (never used, on the zeroed list, on the free list, in use), the two free lists, and
//! the counters NtQuerySystemInformation reports.
//!
//! The VMM hands RAM over zero-filled, so a frame that was never used needs no clearing:
//! such frames come from a cursor over the usable ranges, and an all-zero entry means
//! "never used". A released frame goes to the free list and is zeroed when it is handed
//! out again (`MiZeroPhysicalPage`); one released already zero-filled (an emptied page
//! table) goes to the zeroed list and is handed out first. Never-used frames come last:
//! the host backs guest RAM only when it is first touched, a fault per page or, with
//! huge pages, a 2 MiB page to find and clear (measured on kvm-pvm: about 5 ms, so a
//! process created every 19th time paid it while never-used frames came before released
//! ones), where zeroing a released frame costs about a microsecond.
//!
//! A frame in use can have more than one reference (NT's `ShareCount`): a section's
//! prototype holds one and every view mapping it another. Releasing a frame drops one
//! reference; the last one puts it on a free list.
//!
//! Pure data structure: the frames' memory is reached only through the `zero` callback,
//! so it is unit-tested on the host.

use abi::boot::MAX_MEMORY_REGIONS;
use abi::layout::PAGE_SIZE;

/// No next entry.
const LIST_END: u32 = u32::MAX;

/// Where a frame is (`MMLISTS` / `PageLocation`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageLocation {
    /// Never handed out: zero-filled by the VMM, above its range's cursor.
    #[allow(dead_code, reason = "made by the VMM's zero-filled RAM, not by code")]
    Fresh = 0,
    /// On the zeroed list.
    Zeroed = 1,
    /// On the free list: must be zeroed before reuse.
    Free = 2,
    /// In use.
    Active = 3,
}

/// One frame's entry (`MMPFN`): 8 bytes, all-zero for a frame never used.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PfnEntry {
    /// Index of the next entry on the same list.
    next: u32,
    location: PageLocation,
    reserved: u8,
    /// References to a frame in use beyond the first (0: one holder).
    extra_references: u16,
}

const _: () = assert!(size_of::<PfnEntry>() == 8);

impl PfnEntry {
    /// The entry of a frame that was never used (the kernel's are zero-filled RAM).
    #[cfg(test)]
    pub const FRESH: Self = Self {
        next: 0,
        location: PageLocation::Fresh,
        reserved: 0,
        extra_references: 0,
    };
}

/// A range of usable frames and where its entries start.
#[derive(Clone, Copy, Debug, Default)]
struct Range {
    first_frame: u64,
    frames: u64,
    first_entry: u32,
}

/// Frames by state. `zeroed + free + active == total` at all times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PfnCounters {
    /// Every frame the database manages.
    pub total: u64,
    /// Free frames known to be zero-filled: never used, or on the zeroed list.
    pub zeroed: u64,
    /// Free frames that need zeroing before use.
    pub free: u64,
    /// Frames in use.
    pub active: u64,
    /// Lowest and highest frame number managed.
    pub lowest_frame: u64,
    pub highest_frame: u64,
}

/// Why a frame could not be released: it is not one the database handed out
/// (`PFN_LIST_CORRUPT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotInUse(pub u64);

/// The PFN database over `entries`, which must hold one [`PfnEntry::FRESH`] per frame of
/// the ranges it is built over.
#[derive(Debug)]
pub struct PfnDatabase<'a> {
    entries: &'a mut [PfnEntry],
    ranges: [Range; MAX_MEMORY_REGIONS],
    range_count: usize,
    /// The range the never-used cursor is in, and the next never-used frame there.
    fresh_range: usize,
    fresh_next: u64,
    zeroed_list: u32,
    free_list: u32,
    counters: PfnCounters,
}

impl<'a> PfnDatabase<'a> {
    /// Bytes of entries a database over `ranges` (physical start, length) needs; ranges
    /// are trimmed to whole frames and at most [`MAX_MEMORY_REGIONS`] are used.
    pub fn entries_needed(ranges: &[(u64, u64)]) -> usize {
        ranges
            .iter()
            .take(MAX_MEMORY_REGIONS)
            .map(|&range| whole_frames(range).1 as usize)
            .sum()
    }

    /// A database over `ranges` (physical start, length), trimmed to whole frames, with every
    /// frame never used. `entries` must hold at least [`Self::entries_needed`] entries, all
    /// [`PfnEntry::FRESH`] (MiInitializePfnDatabase).
    pub fn new(entries: &'a mut [PfnEntry], ranges: &[(u64, u64)]) -> Self {
        let mut database = Self {
            entries,
            ranges: [Range::default(); MAX_MEMORY_REGIONS],
            range_count: 0,
            fresh_range: 0,
            fresh_next: 0,
            zeroed_list: LIST_END,
            free_list: LIST_END,
            counters: PfnCounters::default(),
        };
        let mut next_entry = 0u64;
        for &range in ranges.iter().take(MAX_MEMORY_REGIONS) {
            let (first_frame, frames) = whole_frames(range);
            if frames == 0 {
                continue;
            }
            database.ranges[database.range_count] = Range {
                first_frame,
                frames,
                first_entry: next_entry as u32,
            };
            database.range_count += 1;
            next_entry += frames;
            let counters = &mut database.counters;
            counters.lowest_frame = match counters.total {
                0 => first_frame,
                _ => counters.lowest_frame.min(first_frame),
            };
            counters.highest_frame = counters.highest_frame.max(first_frame + frames - 1);
            counters.total += frames;
        }
        assert!(database.entries.len() as u64 >= next_entry && next_entry < u64::from(LIST_END));
        database.counters.zeroed = database.counters.total;
        database.fresh_next = database.ranges[0].first_frame;
        database
    }

    /// The counters.
    pub fn counters(&self) -> PfnCounters {
        self.counters
    }

    /// A zero-filled frame (physical address), or `None` when every frame is in use
    /// (MiRemoveZeroPage). Zeroed frames go first, then frames from the free list, cleared
    /// with `zero(physical address)` first, then never-used ones.
    pub fn allocate_zeroed(&mut self, zero: impl FnOnce(u64)) -> Option<u64> {
        let frame = if let Some(frame) = self.pop(PageLocation::Zeroed) {
            frame
        } else if let Some(frame) = self.pop(PageLocation::Free) {
            zero(frame);
            frame
        } else {
            self.take_fresh()?
        };
        self.counters.active += 1;
        Some(frame)
    }

    /// Drops one reference to frame `frame` (physical address), in use; the last one puts
    /// it on the free list (MiDecrementShareCount, MiInsertPageInFreeList).
    pub fn free(&mut self, frame: u64) -> Result<(), NotInUse> {
        let index = self.index_of(frame).ok_or(NotInUse(frame))?;
        let entry = &mut self.entries[index as usize];
        if entry.location == PageLocation::Active && entry.extra_references > 0 {
            entry.extra_references -= 1;
            return Ok(());
        }
        self.release(frame, PageLocation::Free)
    }

    /// Adds a reference to frame `frame`, in use (MiIncrementShareCount): one more
    /// [`Self::free`] is needed to release it. Fails for a frame not in use, or one with
    /// `u16::MAX` references already.
    pub fn reference(&mut self, frame: u64) -> Result<(), NotInUse> {
        let index = self.index_of(frame).ok_or(NotInUse(frame))?;
        let entry = &mut self.entries[index as usize];
        if entry.location != PageLocation::Active {
            return Err(NotInUse(frame));
        }
        entry.extra_references = entry
            .extra_references
            .checked_add(1)
            .ok_or(NotInUse(frame))?;
        Ok(())
    }

    /// Whether `frame` is one of the frames the database manages (RAM, not the boot
    /// image or a device).
    pub fn manages(&self, frame: u64) -> bool {
        self.index_of(frame).is_some()
    }

    /// Whether `frame`, in use, has more than one reference.
    pub fn is_shared(&self, frame: u64) -> bool {
        self.index_of(frame)
            .is_some_and(|index| self.entries[index as usize].extra_references > 0)
    }

    /// Puts frame `frame`, in use and known to be zero-filled, on the zeroed list.
    pub fn free_zeroed(&mut self, frame: u64) -> Result<(), NotInUse> {
        self.release(frame, PageLocation::Zeroed)
    }

    /// Zeroes up to `limit` frames of the free list with `zero(physical address)` and moves
    /// them to the zeroed list, as the zero page thread does (MiZeroPageThread); returns
    /// how many it moved.
    pub fn zero_free_frames(&mut self, limit: usize, mut zero: impl FnMut(u64)) -> usize {
        let mut moved = 0;
        while moved < limit {
            let Some(frame) = self.pop(PageLocation::Free) else {
                break;
            };
            zero(frame);
            self.counters.active += 1;
            self.release(frame, PageLocation::Zeroed)
                .expect("a frame just taken off the free list is in use");
            moved += 1;
        }
        moved
    }

    fn release(&mut self, frame: u64, list: PageLocation) -> Result<(), NotInUse> {
        let index = self.index_of(frame).ok_or(NotInUse(frame))?;
        let entry = &mut self.entries[index as usize];
        if entry.location != PageLocation::Active || entry.extra_references != 0 {
            return Err(NotInUse(frame));
        }
        entry.location = list;
        let head = match list {
            PageLocation::Zeroed => {
                self.counters.zeroed += 1;
                &mut self.zeroed_list
            }
            _ => {
                self.counters.free += 1;
                &mut self.free_list
            }
        };
        entry.next = *head;
        *head = index;
        self.counters.active -= 1;
        Ok(())
    }

    /// Takes the first frame of `list`, marking it in use.
    fn pop(&mut self, list: PageLocation) -> Option<u64> {
        let head = match list {
            PageLocation::Zeroed => &mut self.zeroed_list,
            _ => &mut self.free_list,
        };
        if *head == LIST_END {
            return None;
        }
        let index = *head;
        let entry = &mut self.entries[index as usize];
        *head = entry.next;
        entry.location = PageLocation::Active;
        match list {
            PageLocation::Zeroed => self.counters.zeroed -= 1,
            _ => self.counters.free -= 1,
        }
        Some(self.frame_of(index))
    }

    /// Takes the next never-used frame, marking it in use.
    fn take_fresh(&mut self) -> Option<u64> {
        while self.fresh_range < self.range_count {
            let range = self.ranges[self.fresh_range];
            if self.fresh_next < range.first_frame + range.frames {
                let frame = self.fresh_next;
                self.fresh_next += 1;
                let index = range.first_entry as u64 + (frame - range.first_frame);
                self.entries[index as usize].location = PageLocation::Active;
                self.counters.zeroed -= 1;
                return Some(frame * PAGE_SIZE);
            }
            self.fresh_range += 1;
            if self.fresh_range < self.range_count {
                self.fresh_next = self.ranges[self.fresh_range].first_frame;
            }
        }
        None
    }

    /// The entry index of the frame at physical address `frame`.
    fn index_of(&self, frame: u64) -> Option<u32> {
        if !frame.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let number = frame / PAGE_SIZE;
        self.ranges[..self.range_count]
            .iter()
            .find(|range| number >= range.first_frame && number - range.first_frame < range.frames)
            .map(|range| range.first_entry + (number - range.first_frame) as u32)
    }

    /// The physical address of entry `index`'s frame.
    fn frame_of(&self, index: u32) -> u64 {
        let range = self.ranges[..self.range_count]
            .iter()
            .rev()
            .find(|range| range.first_entry <= index)
            .expect("entry indices start at 0");
        (range.first_frame + u64::from(index - range.first_entry)) * PAGE_SIZE
    }
}

/// The first frame number and frame count of the whole frames in `(start, length)`.
fn whole_frames((start, length): (u64, u64)) -> (u64, u64) {
    let first = start.div_ceil(PAGE_SIZE);
    let end = start.saturating_add(length) / PAGE_SIZE;
    (first, end.saturating_sub(first))
}
