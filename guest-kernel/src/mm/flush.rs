//! Frames unmapped from an address space that other processors may still translate to
//! (they have it loaded, or with PCIDs keep its translations behind a tag) go back only
//! once none can (the multiprocessor half of `MiFlushTbAndCapture`): their tags are marked
//! stale, and those running in it are asked to flush with the dispatch interrupt and never
//! waited for: a processor spinning for another's flush with a lock held could wait for
//! ever on one spinning for that lock.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::arch::paging;

/// Frames released by one change to an address space, held until no other processor can
/// translate to them.
#[derive(Default)]
pub struct DeferredRelease {
    root: u64,
    /// Frames whose mapping reference is dropped (`release_frame`).
    pages: Vec<u64>,
    /// Emptied page tables.
    tables: Vec<u64>,
    /// Whether some processor could still translate to one of them when it was unmapped.
    held: bool,
}

/// Releases waiting for flushes: the frames, and the CR3 load count each processor must
/// pass.
struct Pending {
    pages: Vec<u64>,
    tables: Vec<u64>,
    generations: Vec<(u32, u64)>,
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
/// PML4 pairs of deleted address spaces that another processor still had loaded: a thread
/// of the process on its way out there, which has yet to switch away.
static PENDING_ROOTS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// Whether `PENDING` holds anything: the clock asks on every tick.
static ANY_PENDING: AtomicBool = AtomicBool::new(false);

impl DeferredRelease {
    /// Releases for a change to the address space rooted at `root`. Its PCID tags are
    /// marked stale first, so that processors that only keep its translations behind one
    /// hold up no frame (see `finish` for those that take a tag again meanwhile).
    pub fn new(root: u64) -> Self {
        paging::mark_cached_translations_stale(root);
        Self {
            root,
            ..Self::default()
        }
    }

    /// Drops the mapping reference to `frame`, whose entry is cleared already: now, unless
    /// a processor may still translate to it.
    pub fn release_page(&mut self, frame: u64) {
        match paging::processors_caching(self.root) {
            0 => super::release_frame(frame),
            _ => {
                self.pages.push(frame);
                self.held = true;
            }
        }
    }

    /// Frees the emptied page table `frame`, no longer referenced by its parent: now,
    /// unless a processor may still translate through it (its paging-structure
    /// caches may hold it).
    pub fn release_table(&mut self, frame: u64) {
        match paging::processors_caching(self.root) {
            0 => super::page_tables::free_table_frame(frame),
            _ => {
                self.tables.push(frame);
                self.held = true;
            }
        }
    }

    /// Marks the address space's PCID tags stale, asks the processors that have it loaded
    /// to flush, and queues what waits for them; a processor that only kept translations
    /// behind a tag flushes them before it loads the address space again, so what waits
    /// for no other goes back now.
    pub fn finish(self) {
        if !self.held {
            return;
        }
        let loaded = paging::invalidate_cached_translations(self.root);
        if loaded == 0 {
            self.pages.into_iter().for_each(super::release_frame);
            self.tables
                .into_iter()
                .for_each(super::page_tables::free_table_frame);
            return;
        }
        let generations = (0..crate::arch::MAX_PROCESSORS as u32)
            .filter(|&index| loaded & 1 << index != 0)
            .map(|index| (index, paging::cr3_loads(index)))
            .collect();
        paging::ask_tlb_flush(loaded);
        PENDING.lock().push(Pending {
            pages: self.pages,
            tables: self.tables,
            generations,
        });
        ANY_PENDING.store(true, Ordering::SeqCst);
    }
}

/// Frees the PML4 pair `root` of a deleted address space: now, unless a processor still
/// has it loaded.
pub fn free_root(root: u64) {
    if paging::processors_in(root) == 0 {
        paging::free_root(root);
        return;
    }
    PENDING_ROOTS.lock().push(root);
    ANY_PENDING.store(true, Ordering::SeqCst);
}

/// Releases the frames whose processors have all flushed since they were unmapped, and
/// the PML4 pairs no processor has loaded any longer.
pub fn release_flushed() {
    if !ANY_PENDING.load(Ordering::SeqCst) {
        return;
    }
    let unloaded: Vec<u64> = {
        let mut roots = PENDING_ROOTS.lock();
        let (unloaded, loaded) = core::mem::take(&mut *roots)
            .into_iter()
            .partition(|&root| paging::processors_in(root) == 0);
        *roots = loaded;
        unloaded
    };
    unloaded.into_iter().for_each(paging::free_root);
    let flushed: Vec<Pending> = {
        let mut pending = PENDING.lock();
        let (flushed, waiting) = core::mem::take(&mut *pending)
            .into_iter()
            .partition(|batch| {
                batch
                    .generations
                    .iter()
                    .all(|&(index, generation)| paging::cr3_loads(index) > generation)
            });
        *pending = waiting;
        ANY_PENDING.store(
            !pending.is_empty() || !PENDING_ROOTS.lock().is_empty(),
            Ordering::SeqCst,
        );
        flushed
    };
    for batch in flushed {
        batch.pages.into_iter().for_each(super::release_frame);
        batch
            .tables
            .into_iter()
            .for_each(super::page_tables::free_table_frame);
    }
}
