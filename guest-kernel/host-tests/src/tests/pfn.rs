//! The PFN database: every frame accounted for, never-used frames handed out without
//! zeroing, released frames reused (zeroed first unless known to be zero), bad releases
//! refused.

use std::cell::Cell;

use crate::mm::pfn::{NotInUse, PfnCounters, PfnDatabase, PfnEntry};

const PAGE: u64 = 0x1000;

/// Entries for a database over `ranges`, leaked: the kernel's live as long as it does.
fn entries(ranges: &[(u64, u64)]) -> &'static mut [PfnEntry] {
    let count = PfnDatabase::entries_needed(ranges);
    Vec::leak(vec![PfnEntry::FRESH; count])
}

fn database(ranges: &[(u64, u64)]) -> PfnDatabase<'static> {
    PfnDatabase::new(entries(ranges), ranges)
}

/// Allocates a frame, counting the zeroings asked for.
fn allocate(database: &mut PfnDatabase<'_>, zeroings: &Cell<u32>) -> Option<u64> {
    database.allocate_zeroed(|_| zeroings.set(zeroings.get() + 1))
}

fn assert_balanced(counters: PfnCounters) {
    assert_eq!(
        counters.zeroed + counters.free + counters.active,
        counters.total,
        "{counters:?}"
    );
}

#[test]
fn ranges_are_trimmed_to_whole_frames_and_counted() {
    // 2.5 frames starting mid-frame, then 3 whole frames.
    let ranges = [(0x1_0800, 0x2800), (0x10_0000, 3 * PAGE)];
    assert_eq!(PfnDatabase::entries_needed(&ranges), 2 + 3);
    let database = database(&ranges);
    let counters = database.counters();
    assert_eq!(counters.total, 5);
    assert_eq!(counters.zeroed, 5, "never-used frames are zero-filled");
    assert_eq!((counters.free, counters.active), (0, 0));
    assert_eq!(counters.lowest_frame, 0x11);
    assert_eq!(counters.highest_frame, 0x102);
}

#[test]
fn never_used_frames_come_in_order_without_zeroing() {
    let mut database = database(&[(0x1000, 2 * PAGE), (0x8000, PAGE)]);
    let zeroings = Cell::new(0);
    let frames: Vec<u64> = (0..3)
        .map(|_| allocate(&mut database, &zeroings).unwrap())
        .collect();
    assert_eq!(frames, [0x1000, 0x2000, 0x8000]);
    assert_eq!(zeroings.get(), 0);
    assert_eq!(allocate(&mut database, &zeroings), None, "all in use");
    let counters = database.counters();
    assert_eq!((counters.active, counters.zeroed, counters.free), (3, 0, 0));
    assert_balanced(counters);
}

#[test]
fn released_frames_are_zeroed_before_reuse() {
    let mut database = database(&[(0x1000, 2 * PAGE)]);
    let zeroings = Cell::new(0);
    let first = allocate(&mut database, &zeroings).unwrap();
    let second = allocate(&mut database, &zeroings).unwrap();
    database.free(first).unwrap();
    database.free(second).unwrap();
    let counters = database.counters();
    assert_eq!((counters.free, counters.zeroed, counters.active), (2, 0, 0));
    // Most recently released first, each zeroed on the way out.
    let mut zeroed = Vec::new();
    let again = database
        .allocate_zeroed(|frame| zeroed.push(frame))
        .unwrap();
    assert_eq!((again, zeroed.as_slice()), (second, [second].as_slice()));
    assert_balanced(database.counters());
}

#[test]
fn frames_released_zero_filled_go_first_then_released_ones_then_never_used_ones() {
    let mut database = database(&[(0x1000, 4 * PAGE)]);
    let zeroings = Cell::new(0);
    let dirty = allocate(&mut database, &zeroings).unwrap();
    let table = allocate(&mut database, &zeroings).unwrap();
    database.free(dirty).unwrap();
    database.free_zeroed(table).unwrap();
    let counters = database.counters();
    assert_eq!((counters.zeroed, counters.free), (3, 1));
    assert_eq!(allocate(&mut database, &zeroings), Some(table));
    assert_eq!(zeroings.get(), 0);
    // Then the dirty one, zeroed, before any never-used one: memory the host has never
    // backed costs it a fault to touch.
    assert_eq!(allocate(&mut database, &zeroings), Some(dirty));
    assert_eq!(zeroings.get(), 1);
    assert_eq!(allocate(&mut database, &zeroings), Some(0x3000));
    assert_eq!(allocate(&mut database, &zeroings), Some(0x4000));
    assert_eq!(zeroings.get(), 1);
    assert_balanced(database.counters());
}

#[test]
fn only_frames_in_use_can_be_released() {
    let mut database = database(&[(0x1000, 2 * PAGE)]);
    let zeroings = Cell::new(0);
    let frame = allocate(&mut database, &zeroings).unwrap();
    assert_eq!(database.free(0x2000), Err(NotInUse(0x2000)), "never used");
    assert_eq!(database.free(0x9000), Err(NotInUse(0x9000)), "not managed");
    assert_eq!(
        database.free(frame + 8),
        Err(NotInUse(frame + 8)),
        "not a frame"
    );
    database.free(frame).unwrap();
    assert_eq!(database.free(frame), Err(NotInUse(frame)), "released twice");
    assert_eq!(database.free_zeroed(frame), Err(NotInUse(frame)));
    let counters = database.counters();
    assert_eq!((counters.free, counters.active), (1, 0));
    assert_balanced(counters);
}

#[test]
fn many_cycles_keep_the_counts() {
    let mut database = database(&[(0x10_0000, 64 * PAGE), (0x100_0000, 64 * PAGE)]);
    let start = database.counters();
    let zeroings = Cell::new(0);
    for round in 0..10 {
        let frames: Vec<u64> = (0..100)
            .map(|_| allocate(&mut database, &zeroings).unwrap())
            .collect();
        assert_eq!(database.counters().active, 100);
        for (i, frame) in frames.into_iter().enumerate() {
            if (i + round) % 3 == 0 {
                database.free_zeroed(frame).unwrap();
            } else {
                database.free(frame).unwrap();
            }
        }
        let counters = database.counters();
        assert_eq!(counters.active, 0);
        assert_eq!(counters.zeroed + counters.free, start.total);
        assert_balanced(counters);
    }
}

#[test]
fn shared_frames_are_released_by_their_last_reference() {
    let mut database = database(&[(0x1000, 4 * PAGE)]);
    let zeroings = Cell::new(0);
    let frame = allocate(&mut database, &zeroings).unwrap();
    assert!(database.manages(frame) && !database.manages(0x10_0000));
    assert!(!database.is_shared(frame));
    database.reference(frame).unwrap();
    database.reference(frame).unwrap();
    assert!(database.is_shared(frame));
    database.free(frame).unwrap();
    database.free(frame).unwrap();
    assert_eq!(database.counters().active, 1, "one reference is left");
    assert!(!database.is_shared(frame));
    database.free(frame).unwrap();
    assert_eq!(database.counters().active, 0);
    assert_eq!(database.free(frame), Err(NotInUse(frame)));
    assert_eq!(
        database.reference(frame),
        Err(NotInUse(frame)),
        "a free frame"
    );
    assert_eq!(database.free_zeroed(frame), Err(NotInUse(frame)));
    assert_balanced(database.counters());
}

#[test]
fn zeroing_moves_free_frames_to_the_zeroed_list() {
    let mut database = database(&[(0x10_0000, 8 * PAGE)]);
    let zeroings = Cell::new(0);
    let frames: Vec<u64> = (0..8)
        .map(|_| allocate(&mut database, &zeroings).unwrap())
        .collect();
    for &frame in &frames[..5] {
        database.free(frame).unwrap();
    }
    let mut zeroed = Vec::new();
    assert_eq!(database.zero_free_frames(3, |frame| zeroed.push(frame)), 3);
    let counters = database.counters();
    assert_eq!((counters.zeroed, counters.free, counters.active), (3, 2, 3));
    assert_balanced(counters);
    assert_eq!(database.zero_free_frames(10, |frame| zeroed.push(frame)), 2);
    assert_eq!(database.zero_free_frames(10, |frame| zeroed.push(frame)), 0);
    zeroed.sort_unstable();
    assert_eq!(zeroed, frames[..5], "each freed frame zeroed once");
    // Zeroed frames are handed out again without another zeroing.
    let before = zeroings.get();
    for _ in 0..5 {
        allocate(&mut database, &zeroings).unwrap();
    }
    assert_eq!(zeroings.get(), before);
    assert_eq!(database.counters().active, 8);
}
