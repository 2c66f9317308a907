//! Which processors may still translate with an address space's entries: the address space
//! each has loaded, the CR3 loads each has begun, the flushes asked of each, and with PCIDs
//! the address spaces each keeps tagged. Bookkeeping only; `paging` makes the CR3 loads it
//! decides and sends the interrupts.
//!
//! The protocol, for a change to an address space's entries made on processor `this`:
//! the change writes the entries, then marks every tag of the address space stale and
//! reads which processors have it loaded. A processor loading it publishes that first and
//! reads its tag after. So either the change sees the processor in the address space (and
//! asks it to flush), or the processor sees its tag stale (and flushes as it loads).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use super::pcid::ProcessorTags;

/// CR3 bit 63 with PCIDs on: keep the translations cached behind the PCID loaded.
pub const CR3_KEEP_TRANSLATIONS: u64 = 1 << 63;

/// Whether a CR3 load may keep what the processor cached behind the address space's PCID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cr3Load {
    KeepWhatIsValid,
    Flush,
}

/// The bookkeeping for `N` processors.
#[derive(Debug)]
pub struct Translations<const N: usize> {
    /// The root each processor has loaded.
    loaded_root: [AtomicU64; N],
    /// CR3 loads each processor has begun. A processor that loads CR3 no longer translates
    /// with what an address space it had loaded cached before: the load flushes it, or,
    /// with PCIDs, parks it behind a tag that the change marked stale first. So a change
    /// that found a processor in its address space waits for this count to move before it
    /// reuses the frames it unmapped.
    cr3_loads: [AtomicU64; N],
    /// CR3 loads that kept the translations of the address space loaded (a valid tag).
    loads_keeping_translations: [AtomicU64; N],
    /// Set for a processor asked to flush its TLB.
    flush_asked: [AtomicBool; N],
    /// Each processor's PCID tags.
    tags: [ProcessorTags; N],
    /// Whether the processors tag translations with PCIDs (CR4.PCIDE).
    pcids_in_use: AtomicBool,
    /// One more than the highest index of a processor started so far.
    processors_started: AtomicU64,
}

impl<const N: usize> Translations<N> {
    pub const fn new() -> Self {
        Self {
            loaded_root: [const { AtomicU64::new(0) }; N],
            cr3_loads: [const { AtomicU64::new(0) }; N],
            loads_keeping_translations: [const { AtomicU64::new(0) }; N],
            flush_asked: [const { AtomicBool::new(false) }; N],
            tags: [const { ProcessorTags::new() }; N],
            pcids_in_use: AtomicBool::new(false),
            processors_started: AtomicU64::new(0),
        }
    }

    /// Records the root processor `index` starts on (its CR3 holds PCID 0).
    pub fn processor_started(&self, index: usize, root: u64) {
        self.loaded_root[index].store(root, Ordering::SeqCst);
        self.processors_started
            .fetch_max(index as u64 + 1, Ordering::SeqCst);
    }

    /// Tags translations with PCIDs from now on.
    pub fn use_pcids(&self) {
        self.pcids_in_use.store(true, Ordering::SeqCst);
    }

    pub fn pcids_in_use(&self) -> bool {
        self.pcids_in_use.load(Ordering::Relaxed)
    }

    fn started_processors(&self) -> impl Iterator<Item = usize> + use<N> {
        0..self.processors_started.load(Ordering::SeqCst) as usize
    }

    /// CR3 loads on every processor so far, and how many of them kept the translations the
    /// address space loaded had cached.
    pub fn load_counts(&self) -> (u64, u64) {
        let started = self.processors_started.load(Ordering::SeqCst) as usize;
        let sum = |counts: &[AtomicU64]| {
            counts[..started]
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .sum()
        };
        (sum(&self.cr3_loads), sum(&self.loads_keeping_translations))
    }

    /// The CR3 loads processor `index` has begun so far.
    pub fn cr3_loads(&self, index: usize) -> u64 {
        self.cr3_loads[index].load(Ordering::SeqCst)
    }

    /// Processor `this` begins loading the address space rooted at `root`: returns the value
    /// to write to CR3 (with PCIDs, the tag's PCID and, when its translations are valid and
    /// `load` keeps them, bit 63).
    pub fn begin_load(&self, this: usize, root: u64, load: Cr3Load) -> u64 {
        self.loaded_root[this].store(root, Ordering::SeqCst);
        // Counted before the load: a processor that reads the count as it was before it
        // saw this increment knows the load comes after its own changes.
        self.cr3_loads[this].fetch_add(1, Ordering::SeqCst);
        if !self.pcids_in_use() {
            return root;
        }
        // Read after the root is published (see the module's protocol).
        let tag = self.tags[this].tag_for(root);
        let keep = tag.keeps_translations && load == Cr3Load::KeepWhatIsValid;
        if keep {
            self.loads_keeping_translations[this].fetch_add(1, Ordering::Relaxed);
        }
        root | tag.pcid | if keep { CR3_KEEP_TRANSLATIONS } else { 0 }
    }

    fn is_loaded_on(&self, index: usize, root: u64) -> bool {
        self.loaded_root[index].load(Ordering::SeqCst) == root
    }

    /// The processors that have the address space rooted at `root` loaded, as a mask.
    pub fn processors_in(&self, root: u64) -> u64 {
        fence(Ordering::SeqCst);
        self.started_processors()
            .filter(|&index| self.is_loaded_on(index, root))
            .fold(0, |mask, index| mask | 1 << index)
    }

    /// The processors other than `this` that have the address space rooted at `root`
    /// loaded, as a mask.
    pub fn other_processors_in(&self, this: usize, root: u64) -> u64 {
        self.processors_in(root) & !(1 << this)
    }

    /// The processors that may still translate with entries of the address space rooted
    /// at `root` cached before now, as a mask: the others that have it loaded, and with
    /// PCIDs any that keeps valid translations of it behind a tag (`this` too, unless it
    /// has it loaded: a change there flushes its own TLB). Called on `this` after changing
    /// the entries: a processor that loads it later sees the change.
    pub fn processors_caching(&self, this: usize, root: u64) -> u64 {
        let loaded = self.other_processors_in(this, root);
        if !self.pcids_in_use() {
            return loaded;
        }
        self.started_processors()
            .filter(|&index| !(index == this && self.is_loaded_on(this, root)))
            .filter(|&index| self.tags[index].holds_valid(root))
            .fold(loaded, |mask, index| mask | 1 << index)
    }

    /// Marks every tag of the address space rooted at `root` stale (but that of `this`
    /// while it has it loaded: a change there flushes what it changed itself), so that no
    /// processor keeps translations of it cached before now across its next CR3 load.
    pub fn mark_stale(&self, this: usize, root: u64) {
        if self.pcids_in_use() {
            for index in self.started_processors() {
                if !(index == this && self.is_loaded_on(this, root)) {
                    self.tags[index].invalidate(root);
                }
            }
        }
    }

    /// After a change on `this` to the address space rooted at `root`: marks its tags
    /// stale, then returns the other processors that have it loaded, which must flush.
    pub fn invalidate(&self, this: usize, root: u64) -> u64 {
        self.mark_stale(this, root);
        self.other_processors_in(this, root)
    }

    /// Asks each processor of `processors` to flush; returns those not asked already,
    /// which need an interrupt (one asked already flushes for this change too).
    pub fn ask_flush(&self, processors: u64) -> u64 {
        (0..N)
            .filter(|&index| processors & 1 << index != 0)
            .filter(|&index| !self.flush_asked[index].swap(true, Ordering::SeqCst))
            .fold(0, |mask, index| mask | 1 << index)
    }

    /// Whether processor `this` was asked to flush since it last looked; clears the request.
    pub fn take_flush_request(&self, this: usize) -> bool {
        self.flush_asked[this].swap(false, Ordering::SeqCst)
    }
}

impl<const N: usize> Default for Translations<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    //! A model of processors with TLBs, address spaces and frames, driven by random steps
    //! through this bookkeeping as `paging` and `mm::flush` drive it: a processor must
    //! never translate to a frame that went back to the free list, or that now belongs
    //! to another page.

    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    const PROCESSORS: usize = 2;
    /// The roots address spaces get; a destroyed space's root goes to the next one made in
    /// its slot.
    const ROOTS: [u64; 2] = [0x10_0000, 0x10_2000];
    /// The System process's root: never freed, nothing mapped.
    const SYSTEM_ROOT: u64 = 0x1000;
    const PAGES: u64 = 2;

    #[derive(Clone, Debug)]
    enum Step {
        /// A processor switches to the space in a slot (made there if none), or to the
        /// System space for `ROOTS.len()`.
        Switch {
            processor: usize,
            slot: usize,
        },
        /// User code on a processor touches a page of the space it runs.
        Touch {
            processor: usize,
            page: u64,
        },
        Map {
            slot: usize,
            page: u64,
        },
        /// A processor begins to unmap a page of a space, its own or another's; other
        /// processors may go on before it clears the entry and ends the change.
        BeginUnmap {
            processor: usize,
            slot: usize,
            page: u64,
        },
        /// The processor clears the entry and releases the frame, or queues it.
        EndUnmap {
            processor: usize,
        },
        /// A processor takes the dispatch interrupt.
        Interrupt {
            processor: usize,
        },
        /// The clock releases what the flushes since allow.
        ReleaseFlushed,
        /// A processor deletes a space: unmaps everything, leaves it, frees its root once
        /// no processor has it loaded.
        Destroy {
            processor: usize,
            slot: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        let processor = 0..PROCESSORS;
        let slot = 0..ROOTS.len();
        let page = 0..PAGES;
        prop_oneof![
            (processor.clone(), 0..=ROOTS.len())
                .prop_map(|(processor, slot)| Step::Switch { processor, slot }),
            (processor.clone(), page.clone())
                .prop_map(|(processor, page)| Step::Touch { processor, page }),
            (slot.clone(), page.clone()).prop_map(|(slot, page)| Step::Map { slot, page }),
            (processor.clone(), slot.clone(), page).prop_map(|(processor, slot, page)| {
                Step::BeginUnmap {
                    processor,
                    slot,
                    page,
                }
            }),
            processor
                .clone()
                .prop_map(|processor| Step::EndUnmap { processor }),
            processor
                .clone()
                .prop_map(|processor| Step::Interrupt { processor }),
            Just(Step::ReleaseFlushed),
            (processor, slot).prop_map(|(processor, slot)| Step::Destroy { processor, slot }),
        ]
    }

    /// Frames, and the CR3 load count each processor must pass before they go back.
    type Pending = (Vec<u64>, Vec<(usize, u64)>);

    struct Space {
        id: u64,
        pages: HashMap<u64, u64>,
        dying: bool,
    }

    #[derive(Default)]
    struct Model {
        translations: Translations<PROCESSORS>,
        pcids: bool,
        spaces: [Option<Space>; ROOTS.len()],
        next_space_id: u64,
        /// Frames in use: the space and page each belongs to until it goes back.
        owners: HashMap<u64, (u64, u64)>,
        free_frames: Vec<u64>,
        next_frame: u64,
        /// Releases waiting for processors' CR3 loads.
        pending: Vec<Pending>,
        /// Each processor's TLB, by PCID (0 without PCIDs): page to frame.
        tlbs: [HashMap<u64, HashMap<u64, u64>>; PROCESSORS],
        /// Each processor's root and PCID loaded.
        current: [(u64, u64); PROCESSORS],
        /// Each processor's change under way: the space's slot, and the pages it unmaps.
        changes: [Option<(usize, Vec<u64>)>; PROCESSORS],
    }

    impl Model {
        fn new(pcids: bool) -> Self {
            let model = Self {
                pcids,
                current: [(SYSTEM_ROOT, 0); PROCESSORS],
                ..Self::default()
            };
            for processor in 0..PROCESSORS {
                model.translations.processor_started(processor, SYSTEM_ROOT);
            }
            if pcids {
                model.translations.use_pcids();
            }
            model
        }

        fn space(&mut self, slot: usize) -> &mut Space {
            let id = &mut self.next_space_id;
            self.spaces[slot].get_or_insert_with(|| {
                *id += 1;
                Space {
                    id: *id,
                    pages: HashMap::new(),
                    dying: false,
                }
            })
        }

        fn load(&mut self, processor: usize, root: u64, load: Cr3Load) {
            let value = self.translations.begin_load(processor, root, load);
            let pcid = value & 0xFFF;
            assert_eq!(value & !CR3_KEEP_TRANSLATIONS & !0xFFF, root);
            let keeps = value & CR3_KEEP_TRANSLATIONS != 0;
            assert!(self.pcids || (pcid == 0 && !keeps));
            if !keeps {
                self.tlbs[processor].entry(pcid).or_default().clear();
            }
            self.current[processor] = (root, pcid);
        }

        fn release(&mut self, frame: u64) {
            self.owners.remove(&frame).expect("a frame in use");
            self.free_frames.push(frame);
        }

        /// Unmaps `pages` of the space in `slot` on `processor`, as one change.
        fn unmap(&mut self, processor: usize, slot: usize, pages: &[u64]) {
            self.begin_unmap(processor, slot, pages);
            self.end_unmap(processor);
        }

        /// `DeferredRelease::new`: marks the space's tags stale before the walk.
        fn begin_unmap(&mut self, processor: usize, slot: usize, pages: &[u64]) {
            self.translations.mark_stale(processor, ROOTS[slot]);
            self.changes[processor] = Some((slot, pages.to_vec()));
        }

        /// The walk (each entry cleared, flushed here when the space is loaded here, its
        /// frame released or held), then `DeferredRelease::finish`.
        fn end_unmap(&mut self, processor: usize) {
            let Some((slot, pages)) = self.changes[processor].take() else {
                return;
            };
            let root = ROOTS[slot];
            let (current_root, pcid) = self.current[processor];
            let (mut waiting, mut caching) = (Vec::new(), 0);
            for page in pages {
                let space = self.spaces[slot].as_mut().expect("a space");
                let Some(frame) = space.pages.remove(&page) else {
                    continue;
                };
                if current_root == root {
                    // The local INVLPG.
                    self.tlbs[processor].entry(pcid).or_default().remove(&page);
                }
                match self.translations.processors_caching(processor, root) {
                    0 => self.release(frame),
                    others => {
                        waiting.push(frame);
                        caching |= others;
                    }
                }
            }
            if caching == 0 {
                return;
            }
            let loaded = self.translations.invalidate(processor, root);
            if loaded == 0 {
                waiting.into_iter().for_each(|frame| self.release(frame));
                return;
            }
            let counts = (0..PROCESSORS)
                .filter(|&index| loaded & 1 << index != 0)
                .map(|index| (index, self.translations.cr3_loads(index)))
                .collect();
            self.translations.ask_flush(loaded);
            self.pending.push((waiting, counts));
        }

        fn free_root(&mut self, slot: usize) {
            // `paging::free_root`, run on processor 0 here.
            self.translations.mark_stale(0, ROOTS[slot]);
            self.spaces[slot] = None;
        }

        fn run(&mut self, step: Step) {
            // A processor in the middle of a change runs kernel code with interrupts off:
            // nothing else happens there until the change ends.
            let busy = |processor: usize| self.changes[processor].is_some();
            // The address space's lock keeps a second change to it waiting.
            let changing = |slot: usize| {
                self.changes
                    .iter()
                    .flatten()
                    .any(|&(changed, _)| changed == slot)
            };
            match step {
                Step::Switch { processor, .. }
                | Step::Touch { processor, .. }
                | Step::Interrupt { processor } => {
                    if busy(processor) {
                        return;
                    }
                }
                Step::BeginUnmap {
                    processor, slot, ..
                }
                | Step::Destroy { processor, slot } => {
                    if busy(processor) || changing(slot) {
                        return;
                    }
                }
                Step::Map { slot, .. } => {
                    if changing(slot) {
                        return;
                    }
                }
                Step::EndUnmap { .. } | Step::ReleaseFlushed => {}
            }
            match step {
                Step::Switch { processor, slot } => {
                    if slot == ROOTS.len() {
                        self.load(processor, SYSTEM_ROOT, Cr3Load::KeepWhatIsValid);
                    } else if !self.space(slot).dying && self.current[processor].0 != ROOTS[slot] {
                        self.load(processor, ROOTS[slot], Cr3Load::KeepWhatIsValid);
                    }
                }
                Step::Touch { processor, page } => {
                    let (root, pcid) = self.current[processor];
                    let Some(slot) = ROOTS.iter().position(|&each| each == root) else {
                        return;
                    };
                    let space = self.spaces[slot].as_ref().expect("a loaded space");
                    if space.dying {
                        return;
                    }
                    let (id, mapped) = (space.id, space.pages.get(&page).copied());
                    let tlb = self.tlbs[processor].entry(pcid).or_default();
                    if let Some(&frame) = tlb.get(&page) {
                        assert_eq!(
                            self.owners.get(&frame),
                            Some(&(id, page)),
                            "processor {processor} translated page {page} of space {id} to \
                             frame {frame}, which went back"
                        );
                    } else if let Some(frame) = mapped {
                        tlb.insert(page, frame);
                    }
                }
                Step::Map { slot, page } => {
                    let frame = self.free_frames.pop().unwrap_or_else(|| {
                        self.next_frame += 1;
                        self.next_frame
                    });
                    let space = self.space(slot);
                    if space.dying || space.pages.contains_key(&page) {
                        self.free_frames.push(frame);
                        return;
                    }
                    space.pages.insert(page, frame);
                    let id = space.id;
                    self.owners.insert(frame, (id, page));
                }
                Step::BeginUnmap {
                    processor,
                    slot,
                    page,
                } => {
                    if self.spaces[slot].as_ref().is_some_and(|space| !space.dying) {
                        self.begin_unmap(processor, slot, &[page]);
                    }
                }
                Step::EndUnmap { processor } => self.end_unmap(processor),
                Step::Interrupt { processor } => {
                    if self.translations.take_flush_request(processor) {
                        self.load(processor, self.current[processor].0, Cr3Load::Flush);
                    }
                }
                Step::ReleaseFlushed => {
                    let pending = core::mem::take(&mut self.pending);
                    for (frames, counts) in pending {
                        if counts
                            .iter()
                            .all(|&(index, count)| self.translations.cr3_loads(index) > count)
                        {
                            frames.into_iter().for_each(|frame| self.release(frame));
                        } else {
                            self.pending.push((frames, counts));
                        }
                    }
                    for (slot, root) in ROOTS.into_iter().enumerate() {
                        if self.spaces[slot].as_ref().is_some_and(|space| space.dying)
                            && self.translations.processors_in(root) == 0
                        {
                            self.free_root(slot);
                        }
                    }
                }
                Step::Destroy { processor, slot } => {
                    if self.spaces[slot].as_ref().is_none_or(|space| space.dying) {
                        return;
                    }
                    self.unmap(processor, slot, &(0..PAGES).collect::<Vec<_>>());
                    if self.current[processor].0 == ROOTS[slot] {
                        self.load(processor, SYSTEM_ROOT, Cr3Load::KeepWhatIsValid);
                    }
                    if self.translations.processors_in(ROOTS[slot]) == 0 {
                        self.free_root(slot);
                    } else {
                        self.spaces[slot].as_mut().expect("a space").dying = true;
                    }
                }
            }
        }
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 400,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn with_pcids_no_processor_translates_to_a_frame_that_went_back(
            steps in proptest::collection::vec(step(), 1..400)
        ) {
            let mut model = Model::new(true);
            steps.into_iter().for_each(|step| model.run(step));
        }

        #[test]
        fn without_pcids_no_processor_translates_to_a_frame_that_went_back(
            steps in proptest::collection::vec(step(), 1..400)
        ) {
            let mut model = Model::new(false);
            steps.into_iter().for_each(|step| model.run(step));
        }
    }

    #[test]
    fn switching_back_keeps_translations_only_with_pcids() {
        for pcids in [false, true] {
            let mut model = Model::new(pcids);
            model.run(Step::Switch {
                processor: 0,
                slot: 0,
            });
            model.run(Step::Switch {
                processor: 0,
                slot: 1,
            });
            model.run(Step::Switch {
                processor: 0,
                slot: 0,
            });
            assert_eq!(model.translations.load_counts(), (3, u64::from(pcids)));
        }
    }
}
