//! The PFN database, reduced to what the kernel needs so far: it hands out zero-filled
//! frames from the usable RAM in the memory map.
//!
//! The VMM hands RAM over zero-filled, so a frame that was never used needs no clearing:
//! frames come from a cursor over the usable regions. (Freed frames, with the zeroing
//! they need, come with address-space teardown.)

use abi::boot::{MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion, PhysRange};
use abi::layout::PAGE_SIZE;
use spin::Mutex;

struct FrameAllocator {
    regions: [PhysRange; MAX_MEMORY_REGIONS],
    region_count: usize,
    /// Index of the region the cursor is in.
    current: usize,
    /// Next never-used frame in `regions[current]`.
    cursor: u64,
}

static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator {
    regions: [PhysRange::new(0, 0); MAX_MEMORY_REGIONS],
    region_count: 0,
    current: 0,
    cursor: 0,
});

pub fn init(memory_map: &[MemoryRegion]) {
    let mut frames = FRAMES.lock();
    for region in memory_map
        .iter()
        .filter(|r| r.kind() == Some(MemoryKind::Usable))
    {
        let start = region.range.start.next_multiple_of(PAGE_SIZE);
        let Some(end) = region.range.end() else {
            continue;
        };
        let end = end & !(PAGE_SIZE - 1);
        if end <= start || frames.region_count == MAX_MEMORY_REGIONS {
            continue;
        }
        let index = frames.region_count;
        frames.regions[index] = PhysRange::new(start, end - start);
        frames.region_count += 1;
    }
    frames.cursor = frames.regions[0].start;
}

/// A zero-filled frame, or `None` when physical memory is exhausted.
pub fn allocate_frame() -> Option<u64> {
    let mut frames = FRAMES.lock();
    while frames.current < frames.region_count {
        let region = frames.regions[frames.current];
        if frames.cursor + PAGE_SIZE <= region.start + region.len {
            let frame = frames.cursor;
            frames.cursor += PAGE_SIZE;
            return Some(frame);
        }
        frames.current += 1;
        if let Some(next) = frames.regions.get(frames.current) {
            frames.cursor = next.start;
        }
    }
    None
}
