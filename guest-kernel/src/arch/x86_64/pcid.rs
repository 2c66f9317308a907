//! Process-context identifiers: which address spaces a processor keeps translations for,
//! each behind its own PCID, so that a CR3 load need not flush what the next address space
//! cached when it last ran there.
//!
//! Each processor tags up to [`TAGS_PER_PROCESSOR`] address spaces (PCIDs 1 and up; PCID 0
//! is the boot page tables', never loaded again). A tag is the address space's root, and it
//! goes stale when another processor changes that address space's mappings while this one
//! is not running it: the change cannot reach translations behind a PCID that is not
//! loaded, so the next load of a stale tag flushes them instead. Only the owning processor
//! makes a tag valid, always before the flushing load, so a change that marks it stale
//! afterwards is never lost.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many address spaces a processor keeps tagged (Linux keeps 6).
pub const TAGS_PER_PROCESSOR: usize = 8;

/// Set in a tag whose translations may be out of date. Roots are page aligned, so the bit is
/// free.
const STALE: u64 = 1;

/// How to load an address space on the processor that owns the tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaggedLoad {
    /// The PCID to load it with (CR3 bits 0..=11).
    pub pcid: u64,
    /// Whether the translations behind that PCID are the address space's and up to date,
    /// so the load may keep them (CR3 bit 63).
    pub keeps_translations: bool,
}

/// One processor's tags. The owning processor picks tags with interrupts disabled; any
/// processor may mark one stale.
#[derive(Debug)]
pub struct ProcessorTags {
    /// The root each PCID tags (0: none), with [`STALE`] once its translations may be out
    /// of date; PCID `i + 1` for entry `i`.
    tags: [AtomicU64; TAGS_PER_PROCESSOR],
    /// The entry the next address space without a tag takes (round robin).
    next_victim: AtomicUsize,
}

impl ProcessorTags {
    pub const fn new() -> Self {
        Self {
            tags: [const { AtomicU64::new(0) }; TAGS_PER_PROCESSOR],
            next_victim: AtomicUsize::new(0),
        }
    }

    /// On the owning processor, about to load the address space rooted at `root`: its PCID,
    /// and whether what the processor cached behind it may be kept. An address space
    /// without a tag takes the oldest one, whose translations the load must flush.
    pub fn tag_for(&self, root: u64) -> TaggedLoad {
        for (entry, tag) in (1..).zip(&self.tags) {
            let value = tag.load(Ordering::SeqCst);
            if value & !STALE == root {
                if value & STALE != 0 {
                    // Valid again before the flushing load: a change marking it stale from
                    // here on made its page-table writes before the flush.
                    tag.store(root, Ordering::SeqCst);
                }
                return TaggedLoad {
                    pcid: entry,
                    keeps_translations: value & STALE == 0,
                };
            }
        }
        let victim = self.next_victim.load(Ordering::Relaxed);
        self.next_victim
            .store((victim + 1) % TAGS_PER_PROCESSOR, Ordering::Relaxed);
        self.tags[victim].store(root, Ordering::SeqCst);
        TaggedLoad {
            pcid: victim as u64 + 1,
            keeps_translations: false,
        }
    }

    /// Marks the tag of the address space rooted at `root`, if this processor has one,
    /// stale: its next load flushes. Returns whether the tag was valid.
    pub fn invalidate(&self, root: u64) -> bool {
        self.tags.iter().any(|tag| {
            tag.compare_exchange(root, root | STALE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
    }

    /// Whether this processor holds valid translations of the address space rooted at
    /// `root` behind a PCID.
    pub fn holds_valid(&self, root: u64) -> bool {
        self.tags
            .iter()
            .any(|tag| tag.load(Ordering::SeqCst) == root)
    }
}

impl Default for ProcessorTags {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 0x10_0000;
    const B: u64 = 0x10_2000;

    #[test]
    fn an_address_space_keeps_its_pcid_and_its_translations_from_one_load_to_the_next() {
        let tags = ProcessorTags::new();
        let first = tags.tag_for(A);
        assert!(!first.keeps_translations);
        let other = tags.tag_for(B);
        assert_ne!(other.pcid, first.pcid);
        assert_eq!(
            tags.tag_for(A),
            TaggedLoad {
                pcid: first.pcid,
                keeps_translations: true
            }
        );
    }

    #[test]
    fn pcids_are_1_up_to_the_tag_count_and_never_0() {
        let tags = ProcessorTags::new();
        let pcids: Vec<u64> = (0..TAGS_PER_PROCESSOR as u64)
            .map(|space| tags.tag_for(A + space * 0x2000).pcid)
            .collect();
        assert_eq!(pcids, (1..=TAGS_PER_PROCESSOR as u64).collect::<Vec<_>>());
    }

    #[test]
    fn a_stale_tag_flushes_once_and_is_valid_after() {
        let tags = ProcessorTags::new();
        let pcid = tags.tag_for(A).pcid;
        assert!(tags.invalidate(A));
        assert!(!tags.holds_valid(A));
        assert!(!tags.invalidate(A), "already stale");
        assert_eq!(
            tags.tag_for(A),
            TaggedLoad {
                pcid,
                keeps_translations: false
            }
        );
        assert!(tags.holds_valid(A));
        assert!(tags.tag_for(A).keeps_translations);
    }

    #[test]
    fn invalidating_an_untagged_address_space_changes_nothing() {
        let tags = ProcessorTags::new();
        tags.tag_for(A);
        assert!(!tags.invalidate(B));
        assert!(tags.holds_valid(A));
        assert!(tags.tag_for(A).keeps_translations);
    }

    #[test]
    fn the_oldest_tag_goes_to_a_new_address_space_and_its_owner_flushes_on_return() {
        let tags = ProcessorTags::new();
        let first = tags.tag_for(A);
        for space in 1..TAGS_PER_PROCESSOR as u64 {
            tags.tag_for(A + space * 0x2000);
        }
        let newcomer = tags.tag_for(B + 0x100_0000);
        assert_eq!(newcomer.pcid, first.pcid);
        assert!(!newcomer.keeps_translations);
        assert!(!tags.holds_valid(A));
        let back = tags.tag_for(A);
        assert!(!back.keeps_translations);
        assert_ne!(back.pcid, first.pcid);
    }

    #[test]
    fn a_stale_tag_for_a_reused_root_never_keeps_the_old_translations() {
        // A freed root's tags are marked stale; the next address space at that root starts
        // from a flush.
        let tags = ProcessorTags::new();
        tags.tag_for(A);
        tags.tag_for(B);
        tags.invalidate(A);
        assert!(!tags.tag_for(A).keeps_translations);
    }
}
