//! The VAD tree: inserting and finding allocations, runs split and merged by state
//! changes, releases trimming and splitting VADs, queries, free-space search, and the
//! protection rules.

use abi::NtStatus;
use abi::memory::{
    MEM_COMMIT, MEM_FREE, MEM_IMAGE, MEM_PRIVATE, MEM_RESERVE, PAGE_EXECUTE, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_NOCACHE,
    PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOMBINE, PAGE_WRITECOPY,
};

use crate::mm::vad::{
    Access, Change, PageAccess, PageState, VadKind, VadTree, validate_protection,
};

const PAGE: u64 = 0x1000;
const BASE: u64 = 0x10_0000;
const END_OF_SPACE: u64 = 0x7FFF_FFFE_0000;

/// `VadTree::set_state`, collecting the changes.
fn set_state(tree: &mut VadTree, vad: u64, start: u64, end: u64, state: PageState) -> Vec<Change> {
    let mut changes = Vec::new();
    tree.set_state(vad, start, end, state, |change| changes.push(change));
    changes
}

/// `VadTree::release`, collecting the ranges released.
fn release(tree: &mut VadTree, vad: u64, start: u64, end: u64) -> Vec<Change> {
    let mut released = Vec::new();
    tree.release(vad, start, end, |change| released.push(change));
    released
}

fn tree_with_reservation() -> VadTree {
    let mut tree = VadTree::new();
    tree.insert(
        BASE,
        BASE + 16 * PAGE,
        PAGE_READWRITE,
        VadKind::Private,
        PageState::Reserved,
    )
    .unwrap();
    tree
}

/// The (start, end, state) of each run of the VAD at `start`, through queries.
fn runs(tree: &VadTree, start: u64) -> Vec<(u64, u64, u32, u32)> {
    let vad = tree.find(start).unwrap();
    let mut runs = Vec::new();
    let mut at = vad.start;
    while at < vad.end {
        let info = tree.query(at, END_OF_SPACE);
        runs.push((at, at + info.region_size, info.state, info.protect));
        at += info.region_size;
    }
    runs
}

#[test]
fn overlapping_inserts_conflict() {
    let mut tree = tree_with_reservation();
    for (start, end) in [
        (BASE, BASE + PAGE),
        (BASE - PAGE, BASE + PAGE),
        (BASE + 15 * PAGE, BASE + 17 * PAGE),
        (BASE - PAGE, BASE + 17 * PAGE),
    ] {
        assert_eq!(
            tree.insert(
                start,
                end,
                PAGE_READONLY,
                VadKind::Private,
                PageState::Reserved
            ),
            Err(NtStatus::CONFLICTING_ADDRESSES),
            "{start:#x}..{end:#x}"
        );
    }
    tree.insert(
        BASE - PAGE,
        BASE,
        PAGE_READONLY,
        VadKind::Private,
        PageState::Reserved,
    )
    .unwrap();
    tree.insert(
        BASE + 16 * PAGE,
        BASE + 17 * PAGE,
        PAGE_READONLY,
        VadKind::Image,
        PageState::Reserved,
    )
    .unwrap();
    assert!(!tree.is_free(BASE - PAGE, BASE + 17 * PAGE));
    assert!(tree.is_free(BASE + 17 * PAGE, BASE + 18 * PAGE));
}

#[test]
fn find_and_find_containing() {
    let tree = tree_with_reservation();
    assert_eq!(tree.find(BASE - 1), None);
    assert_eq!(tree.find(BASE + 16 * PAGE), None);
    let vad = tree.find(BASE + 5 * PAGE + 7).unwrap();
    assert_eq!(
        (vad.start, vad.end, vad.kind),
        (BASE, BASE + 16 * PAGE, VadKind::Private)
    );
    assert_eq!(vad.allocation_protect, PAGE_READWRITE);
    assert!(
        tree.find_containing(BASE + PAGE, BASE + 16 * PAGE)
            .is_some()
    );
    assert!(
        tree.find_containing(BASE + PAGE, BASE + 17 * PAGE)
            .is_none()
    );
}

#[test]
fn state_changes_split_and_merge_runs() {
    let mut tree = tree_with_reservation();
    let changes = set_state(
        &mut tree,
        BASE,
        BASE + 4 * PAGE,
        BASE + 8 * PAGE,
        PageState::Committed(PAGE_READWRITE),
    );
    assert_eq!(
        changes,
        [Change {
            start: BASE + 4 * PAGE,
            end: BASE + 8 * PAGE,
            old: PageState::Reserved
        }]
    );
    assert_eq!(
        runs(&tree, BASE),
        [
            (BASE, BASE + 4 * PAGE, MEM_RESERVE, 0),
            (BASE + 4 * PAGE, BASE + 8 * PAGE, MEM_COMMIT, PAGE_READWRITE),
            (BASE + 8 * PAGE, BASE + 16 * PAGE, MEM_RESERVE, 0),
        ]
    );
    // A protection change in the middle of the committed run splits it in three.
    set_state(
        &mut tree,
        BASE,
        BASE + 5 * PAGE,
        BASE + 6 * PAGE,
        PageState::Committed(PAGE_READONLY),
    );
    assert_eq!(runs(&tree, BASE).len(), 5);
    // Changing it back merges the three again; pages already in the state are no change.
    set_state(
        &mut tree,
        BASE,
        BASE + 5 * PAGE,
        BASE + 6 * PAGE,
        PageState::Committed(PAGE_READWRITE),
    );
    assert_eq!(runs(&tree, BASE).len(), 3);
    let changes = set_state(
        &mut tree,
        BASE,
        BASE + 2 * PAGE,
        BASE + 10 * PAGE,
        PageState::Committed(PAGE_READWRITE),
    );
    assert_eq!(
        changes,
        [
            Change {
                start: BASE + 2 * PAGE,
                end: BASE + 4 * PAGE,
                old: PageState::Reserved
            },
            Change {
                start: BASE + 8 * PAGE,
                end: BASE + 10 * PAGE,
                old: PageState::Reserved
            },
        ]
    );
    assert!(tree.is_committed(BASE, BASE + 2 * PAGE, BASE + 10 * PAGE));
    assert!(!tree.is_committed(BASE, BASE + PAGE, BASE + 10 * PAGE));
    assert!(!tree.is_committed(BASE, BASE + 9 * PAGE, BASE + 11 * PAGE));
    // Decommitting everything leaves one reserved run.
    set_state(&mut tree, BASE, BASE, BASE + 16 * PAGE, PageState::Reserved);
    assert_eq!(
        runs(&tree, BASE),
        [(BASE, BASE + 16 * PAGE, MEM_RESERVE, 0)]
    );
}

#[test]
fn releases_trim_split_and_remove_vads() {
    let mut tree = tree_with_reservation();
    set_state(
        &mut tree,
        BASE,
        BASE + 2 * PAGE,
        BASE + 14 * PAGE,
        PageState::Committed(PAGE_READWRITE),
    );
    // Case A: the start.
    let changes = release(&mut tree, BASE, BASE, BASE + 3 * PAGE);
    assert_eq!(
        changes,
        [
            Change {
                start: BASE,
                end: BASE + 2 * PAGE,
                old: PageState::Reserved
            },
            Change {
                start: BASE + 2 * PAGE,
                end: BASE + 3 * PAGE,
                old: PageState::Committed(PAGE_READWRITE)
            },
        ]
    );
    let vad = tree.find(BASE + 3 * PAGE).unwrap();
    assert_eq!((vad.start, vad.end), (BASE + 3 * PAGE, BASE + 16 * PAGE));
    assert_eq!(tree.find(BASE), None);
    // Case C: the end.
    release(&mut tree, vad.start, BASE + 15 * PAGE, BASE + 16 * PAGE);
    assert_eq!(tree.find(BASE + 3 * PAGE).unwrap().end, BASE + 15 * PAGE);
    // Case B: the middle, leaving two allocations.
    release(&mut tree, BASE + 3 * PAGE, BASE + 6 * PAGE, BASE + 8 * PAGE);
    let low = tree.find(BASE + 5 * PAGE).unwrap();
    let high = tree.find(BASE + 8 * PAGE).unwrap();
    assert_eq!((low.start, low.end), (BASE + 3 * PAGE, BASE + 6 * PAGE));
    assert_eq!((high.start, high.end), (BASE + 8 * PAGE, BASE + 15 * PAGE));
    assert_eq!(high.allocation_protect, PAGE_READWRITE);
    assert_eq!(
        tree.query(BASE + 9 * PAGE, END_OF_SPACE).allocation_base,
        BASE + 8 * PAGE
    );
    assert!(tree.is_free(BASE + 6 * PAGE, BASE + 8 * PAGE));
    // Case D: all of it.
    release(&mut tree, high.start, high.start, high.end);
    assert_eq!(tree.find(BASE + 8 * PAGE), None);
    assert_eq!(
        tree.committed_runs().collect::<Vec<_>>(),
        [(BASE + 3 * PAGE, BASE + 6 * PAGE, VadKind::Private)]
    );
}

#[test]
fn queries_describe_allocations_and_free_space() {
    let mut tree = tree_with_reservation();
    tree.insert(
        BASE + 32 * PAGE,
        BASE + 34 * PAGE,
        PAGE_EXECUTE_WRITECOPY,
        VadKind::Image,
        PageState::Committed(PAGE_EXECUTE_READ),
    )
    .unwrap();
    let free = tree.query(0, END_OF_SPACE);
    assert_eq!(
        (free.base_address, free.region_size, free.state),
        (0, BASE, MEM_FREE)
    );
    assert_eq!(
        (free.protect, free.allocation_base, free.kind),
        (PAGE_NOACCESS, 0, 0)
    );
    let gap = tree.query(BASE + 20 * PAGE + 5, END_OF_SPACE);
    assert_eq!(
        (gap.base_address, gap.region_size),
        (BASE + 20 * PAGE, 12 * PAGE)
    );
    let image = tree.query(BASE + 33 * PAGE, END_OF_SPACE);
    assert_eq!(
        (
            image.state,
            image.protect,
            image.kind,
            image.allocation_protect
        ),
        (
            MEM_COMMIT,
            PAGE_EXECUTE_READ,
            MEM_IMAGE,
            PAGE_EXECUTE_WRITECOPY
        )
    );
    assert_eq!(
        (image.allocation_base, image.region_size),
        (BASE + 32 * PAGE, PAGE)
    );
    let top = tree.query(BASE + 40 * PAGE, END_OF_SPACE);
    assert_eq!(top.region_size, END_OF_SPACE - (BASE + 40 * PAGE));
    let private = tree.query(BASE, END_OF_SPACE);
    assert_eq!(
        (private.kind, private.state, private.protect),
        (MEM_PRIVATE, MEM_RESERVE, 0)
    );
    assert_eq!(
        tree.page_state(BASE + 33 * PAGE)
            .map(|(vad, state)| (vad.kind, state)),
        Some((VadKind::Image, PageState::Committed(PAGE_EXECUTE_READ)))
    );
}

#[test]
fn free_space_is_found_on_64k_boundaries_from_either_end() {
    let mut tree = VadTree::new();
    let lowest = 0x1_0000;
    assert_eq!(
        tree.find_free(PAGE, lowest, END_OF_SPACE, false),
        Some(lowest)
    );
    tree.insert(
        0x1_0000,
        0x1_1000,
        PAGE_READWRITE,
        VadKind::Private,
        PageState::Reserved,
    )
    .unwrap();
    tree.insert(
        0x3_0000,
        0x5_0000,
        PAGE_READWRITE,
        VadKind::Private,
        PageState::Reserved,
    )
    .unwrap();
    // The page after the first allocation is free but off the granularity.
    assert_eq!(
        tree.find_free(PAGE, lowest, END_OF_SPACE, false),
        Some(0x2_0000)
    );
    assert_eq!(
        tree.find_free(0x2_0000, lowest, END_OF_SPACE, false),
        Some(0x5_0000)
    );
    assert_eq!(
        tree.find_free(PAGE, lowest, END_OF_SPACE, true),
        Some(END_OF_SPACE - 0x1_0000)
    );
    tree.insert(
        END_OF_SPACE - 0x1_0000,
        END_OF_SPACE,
        PAGE_READWRITE,
        VadKind::Private,
        PageState::Reserved,
    )
    .unwrap();
    assert_eq!(
        tree.find_free(0x1_8000, lowest, END_OF_SPACE, true),
        Some(END_OF_SPACE - 0x3_0000)
    );
    // Nothing fits: too big, or nothing below the limit.
    assert_eq!(
        tree.find_free(END_OF_SPACE, lowest, END_OF_SPACE, false),
        None
    );
    assert_eq!(tree.find_free(0x2_0000, lowest, 0x5_0000, false), None);
    assert_eq!(tree.find_free(0x2_0000, lowest, 0x5_0000, true), None);
    assert_eq!(tree.find_free(PAGE, lowest, 0x3_0000, true), Some(0x2_0000));
}

#[test]
fn protections_are_validated_as_nt_does() {
    for valid in [
        PAGE_NOACCESS,
        PAGE_READONLY,
        PAGE_READWRITE,
        PAGE_WRITECOPY,
        PAGE_EXECUTE,
        PAGE_EXECUTE_READ,
        PAGE_EXECUTE_READWRITE,
        PAGE_EXECUTE_WRITECOPY,
        PAGE_READWRITE | PAGE_GUARD,
        PAGE_READONLY | PAGE_NOCACHE,
        PAGE_EXECUTE_READ | PAGE_WRITECOMBINE,
    ] {
        assert_eq!(validate_protection(valid), Ok(()), "{valid:#x}");
    }
    for invalid in [
        0,
        PAGE_READONLY | PAGE_READWRITE,
        PAGE_GUARD,
        PAGE_NOACCESS | PAGE_GUARD,
        PAGE_NOACCESS | PAGE_NOCACHE,
        PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE,
        PAGE_READWRITE | PAGE_NOCACHE | PAGE_WRITECOMBINE,
        PAGE_READWRITE | 0x800,
        0x8000_0004,
    ] {
        assert_eq!(
            validate_protection(invalid),
            Err(NtStatus::INVALID_PAGE_PROTECTION),
            "{invalid:#x}"
        );
    }
}

#[test]
fn protections_map_to_hardware_access() {
    use PageAccess::{ExecuteRead, ExecuteReadWrite, NoAccess, ReadOnly, ReadWrite};
    for (protect, access) in [
        (PAGE_NOACCESS, NoAccess),
        (PAGE_READONLY, ReadOnly),
        (PAGE_READWRITE, ReadWrite),
        (PAGE_WRITECOPY, ReadWrite),
        (PAGE_EXECUTE, ExecuteRead),
        (PAGE_EXECUTE_READ, ExecuteRead),
        (PAGE_EXECUTE_READWRITE, ExecuteReadWrite),
        (PAGE_EXECUTE_WRITECOPY, ExecuteReadWrite),
        (PAGE_EXECUTE_READWRITE | PAGE_GUARD, NoAccess),
        (PAGE_READONLY | PAGE_NOCACHE, ReadOnly),
    ] {
        assert_eq!(PageAccess::from_protect(protect), access, "{protect:#x}");
    }
    assert!(!NoAccess.allows(Access::Read));
    assert!(ReadOnly.allows(Access::Read) && !ReadOnly.allows(Access::Write));
    assert!(!ReadWrite.allows(Access::Execute));
    assert!(ExecuteRead.allows(Access::Execute) && !ExecuteRead.allows(Access::Write));
    assert!(ExecuteReadWrite.allows(Access::Write) && ExecuteReadWrite.allows(Access::Execute));
}

/// Random commits, decommits, protections and releases agree page by page with a plain
/// array model, runs stay merged, and every reported change is a real one.
#[test]
fn random_operations_match_a_page_model() {
    const PAGES: usize = 48;
    let states = [
        PageState::Reserved,
        PageState::Committed(PAGE_READWRITE),
        PageState::Committed(PAGE_READONLY),
        PageState::Committed(PAGE_READWRITE | PAGE_GUARD),
    ];
    let mut seed = 0x1234_5678_u64;
    let mut random = |below: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % below
    };
    for _ in 0..20 {
        let mut tree = VadTree::new();
        tree.insert(
            BASE,
            BASE + PAGES as u64 * PAGE,
            PAGE_READWRITE,
            VadKind::Private,
            PageState::Reserved,
        )
        .unwrap();
        let mut model: Vec<Option<PageState>> = vec![Some(PageState::Reserved); PAGES];
        for _ in 0..60 {
            let first = random(PAGES);
            let last = first + random(PAGES - first);
            let (start, end) = (BASE + first as u64 * PAGE, BASE + (last + 1) as u64 * PAGE);
            let Some(vad) = tree.find_containing(start, end) else {
                continue;
            };
            let releasing = random(8) == 0;
            let state = states[random(states.len())];
            let changes = if releasing {
                release(&mut tree, vad.start, start, end)
            } else {
                set_state(&mut tree, vad.start, start, end, state)
            };
            for change in &changes {
                assert!(start <= change.start && change.end <= end && change.start < change.end);
                for page in (change.start - BASE) / PAGE..(change.end - BASE) / PAGE {
                    assert_eq!(model[page as usize], Some(change.old));
                }
            }
            let reported: u64 = changes.iter().map(|c| (c.end - c.start) / PAGE).sum();
            let expected = model[first..=last]
                .iter()
                .filter(|&&page| releasing || page != Some(state))
                .count() as u64;
            assert_eq!(reported, expected, "changes cover exactly what changed");
            for page in &mut model[first..=last] {
                *page = if releasing { None } else { Some(state) };
            }
            // Compare page by page, and check that neighbouring runs differ.
            let mut at = BASE;
            while at < BASE + PAGES as u64 * PAGE {
                let info = tree.query(at, END_OF_SPACE);
                let page = ((at - BASE) / PAGE) as usize;
                let size = (info.region_size.min(BASE + PAGES as u64 * PAGE - at) / PAGE) as usize;
                for expected in &model[page..page + size] {
                    let got = tree.page_state(at).map(|(_, state)| state);
                    assert_eq!(got.is_some(), expected.is_some());
                    assert_eq!(got.and(*expected), *expected);
                }
                if let (Some(state), Some(next)) =
                    (model[page], model.get(page + size).copied().flatten())
                {
                    let same_vad = tree.find(at).map(|v| v.end) > Some(at + size as u64 * PAGE);
                    assert!(!(same_vad && state == next), "unmerged runs at {at:#x}");
                }
                assert!(model[page..page + size].iter().all(|p| *p == model[page]));
                at += size as u64 * PAGE;
            }
        }
    }
}
