//! Virtual address descriptors (`MMVAD`, the VAD tree of `EPROCESS.VadRoot`): the
//! allocations of one user address space, and inside each the runs of pages that share a
//! state (reserved, or committed with one protection).
//!
//! NT keeps the per-page state in PTEs and scans them to answer queries; here each VAD
//! keeps its runs, split and merged as pages are committed, decommitted, protected and
//! released, so a query is a lookup and the logic needs no page tables. The page tables
//! follow the changes each operation reports ([`Change`]).
//!
//! Pure data structure: no hardware, so it is unit-tested on the host.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{
    MEM_COMMIT, MEM_FREE, MEM_IMAGE, MEM_MAPPED, MEM_PRIVATE, MEM_RESERVE,
    MM_ALLOCATION_GRANULARITY, MemoryBasicInformation, PAGE_EXECUTE, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_NOCACHE,
    PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOMBINE, PAGE_WRITECOPY,
};

/// What backs an allocation (NT's `VadType` and `PrivateMemory` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadKind {
    /// Private memory: NtAllocateVirtualMemory, stacks, PEB, TEB (`MEM_PRIVATE`).
    Private,
    /// A view of an image (`MEM_IMAGE`); the services cannot free it.
    Image,
    /// A view of a page-file-backed section (`MEM_MAPPED`), its pages shared with every
    /// other view of the section; the services cannot free it.
    Mapped,
    /// KUSER_SHARED_DATA: `MEM_PRIVATE`, committed read-only, its protection and existence
    /// fixed (a `NoChange` VAD). Its frame belongs to the system, not the address space.
    SharedUserData,
}

impl VadKind {
    /// The `Type` NtQueryVirtualMemory reports.
    pub fn memory_type(self) -> u32 {
        match self {
            Self::Private | Self::SharedUserData => MEM_PRIVATE,
            Self::Image => MEM_IMAGE,
            Self::Mapped => MEM_MAPPED,
        }
    }
}

/// The state of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    Reserved,
    /// Committed with a `PAGE_*` protection (modifiers included).
    Committed(u32),
}

/// A range of pages whose state an operation changed, with the state it had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub start: u64,
    pub end: u64,
    pub old: PageState,
}

/// What a caller needs to know about one VAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VadInfo {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    pub allocation_protect: u32,
    pub kind: VadKind,
}

/// A run of pages in one state.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: u64,
    end: u64,
    state: PageState,
}

impl Run {
    /// The part of the run inside `[start, end)`, as a change from its state.
    fn clipped(&self, start: u64, end: u64) -> Change {
        Change {
            start: self.start.max(start),
            end: self.end.min(end),
            old: self.state,
        }
    }
}

#[derive(Debug)]
struct Vad {
    end: u64,
    allocation_protect: u32,
    kind: VadKind,
    /// Sorted, covering the VAD without gaps; neighbours always differ in state.
    runs: Vec<Run>,
}

impl Vad {
    fn info(&self, start: u64) -> VadInfo {
        VadInfo {
            start,
            end: self.end,
            allocation_protect: self.allocation_protect,
            kind: self.kind,
        }
    }

    /// The run containing `address`, which must be inside the VAD.
    fn run_index(&self, address: u64) -> usize {
        self.runs.partition_point(|run| run.end <= address)
    }
}

/// The VADs of one address space, keyed by start address; ranges are page-aligned and
/// never overlap.
#[derive(Debug, Default)]
pub struct VadTree {
    vads: BTreeMap<u64, Vad>,
}

impl VadTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no VAD touches `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        let below = self.vads.range(..end).next_back();
        below.is_none_or(|(_, vad)| vad.end <= start)
    }

    /// Inserts a VAD over `[start, end)` with all its pages in `state` (MiInsertVad), or
    /// STATUS_CONFLICTING_ADDRESSES when it would overlap another.
    pub fn insert(
        &mut self,
        start: u64,
        end: u64,
        allocation_protect: u32,
        kind: VadKind,
        state: PageState,
    ) -> Result<(), NtStatus> {
        debug_assert!(start < end && is_page_aligned(start) && is_page_aligned(end));
        if !self.is_free(start, end) {
            return Err(NtStatus::CONFLICTING_ADDRESSES);
        }
        let vad = Vad {
            end,
            allocation_protect,
            kind,
            runs: alloc::vec![Run { start, end, state }],
        };
        self.vads.insert(start, vad);
        Ok(())
    }

    /// The VAD containing `address` (MiLocateAddress).
    pub fn find(&self, address: u64) -> Option<VadInfo> {
        let (&start, vad) = self.vads.range(..=address).next_back()?;
        (address < vad.end).then(|| vad.info(start))
    }

    /// The VAD containing all of `[start, end)`, if one does.
    pub fn find_containing(&self, start: u64, end: u64) -> Option<VadInfo> {
        self.find(start).filter(|vad| end <= vad.end)
    }

    /// The lowest (or with `top_down`, highest) 64 KiB-aligned start of `size` free bytes
    /// between `lowest` and `end` (exclusive), as MiFindEmptyAddressRange finds it.
    pub fn find_free(&self, size: u64, lowest: u64, end: u64, top_down: bool) -> Option<u64> {
        let fits =
            |start: u64| start >= lowest && start.checked_add(size).is_some_and(|e| e <= end);
        if top_down {
            let mut candidate = end.checked_sub(size)? & !(MM_ALLOCATION_GRANULARITY - 1);
            for (&start, vad) in self.vads.range(..end).rev() {
                if vad.end <= candidate {
                    break;
                }
                if start < candidate + size {
                    candidate = start.checked_sub(size)? & !(MM_ALLOCATION_GRANULARITY - 1);
                }
            }
            fits(candidate).then_some(candidate)
        } else {
            let mut candidate = lowest.checked_next_multiple_of(MM_ALLOCATION_GRANULARITY)?;
            for (&start, vad) in &self.vads {
                if vad.end <= candidate {
                    continue;
                }
                if start >= candidate.checked_add(size)? {
                    break;
                }
                candidate = vad
                    .end
                    .checked_next_multiple_of(MM_ALLOCATION_GRANULARITY)?;
            }
            fits(candidate).then_some(candidate)
        }
    }

    /// The state of the page at `address`, with its VAD.
    pub fn page_state(&self, address: u64) -> Option<(VadInfo, PageState)> {
        let info = self.find(address)?;
        let vad = &self.vads[&info.start];
        Some((info, vad.runs[vad.run_index(address)].state))
    }

    /// How many pages of `[start, end)`, inside VAD `vad_start`, are committed.
    pub fn committed_pages(&self, vad_start: u64, start: u64, end: u64) -> u64 {
        let vad = &self.vads[&vad_start];
        vad.runs[vad.run_index(start)..]
            .iter()
            .take_while(|run| run.start < end)
            .filter(|run| matches!(run.state, PageState::Committed(_)))
            .map(|run| {
                let (clipped_start, clipped_end) = (run.start.max(start), run.end.min(end));
                (clipped_end - clipped_start) / PAGE_SIZE
            })
            .sum()
    }

    /// Whether every page of `[start, end)`, inside VAD `vad_start`, is committed.
    pub fn is_committed(&self, vad_start: u64, start: u64, end: u64) -> bool {
        let vad = &self.vads[&vad_start];
        vad.runs[vad.run_index(start)..]
            .iter()
            .take_while(|run| run.start < end)
            .all(|run| matches!(run.state, PageState::Committed(_)))
    }

    /// Puts the pages of `[start, end)`, inside VAD `vad_start`, in `state`, calling
    /// `changed` with each range whose state changes and its old state. Allocates nothing
    /// unless the VAD gains runs beyond its vector's capacity.
    pub fn set_state(
        &mut self,
        vad_start: u64,
        start: u64,
        end: u64,
        state: PageState,
        mut changed: impl FnMut(Change),
    ) {
        let vad = self
            .vads
            .get_mut(&vad_start)
            .expect("the caller found the VAD");
        debug_assert!(vad_start <= start && start < end && end <= vad.end);
        let first = vad.run_index(start);
        let last = vad.run_index(end - 1);
        let runs = &mut vad.runs;
        for run in runs[first..=last].iter().filter(|run| run.state != state) {
            changed(run.clipped(start, end));
        }
        // Runs `[low, high)` become at most three: what is left of the first and of the
        // last in their old states, around the new run merged with neighbours in `state`.
        let (head, tail) = (runs[first], runs[last]);
        let (mut low, mut high) = (first, last + 1);
        let mut new = Run { start, end, state };
        let mut before = None;
        let mut after = None;
        if head.start < start {
            if head.state == state {
                new.start = head.start;
            } else {
                before = Some(Run { end: start, ..head });
            }
        } else if low > 0 && runs[low - 1].state == state {
            low -= 1;
            new.start = runs[low].start;
        }
        if tail.end > end {
            if tail.state == state {
                new.end = tail.end;
            } else {
                after = Some(Run { start: end, ..tail });
            }
        } else if high < runs.len() && runs[high].state == state {
            new.end = runs[high].end;
            high += 1;
        }
        runs.splice(low..high, [before, Some(new), after].into_iter().flatten());
    }

    /// Releases the pages of `[start, end)` from VAD `vad_start`, trimming it, splitting it
    /// in two, or removing it when nothing is left (NtFreeVirtualMemory's cases A to D);
    /// calls `released` with each range released and its old state.
    pub fn release(
        &mut self,
        vad_start: u64,
        start: u64,
        end: u64,
        mut released: impl FnMut(Change),
    ) {
        let vad = self
            .vads
            .remove(&vad_start)
            .expect("the caller found the VAD");
        debug_assert!(vad_start <= start && start < end && end <= vad.end);
        let mut head = Vec::new();
        let mut tail = Vec::new();
        for run in &vad.runs {
            if run.start < end && start < run.end {
                released(run.clipped(start, end));
            }
            if run.start < start {
                head.push(Run {
                    end: run.end.min(start),
                    ..*run
                });
            }
            if run.end > end {
                tail.push(Run {
                    start: run.start.max(end),
                    ..*run
                });
            }
        }
        let part = |runs: Vec<Run>, end: u64| Vad {
            end,
            allocation_protect: vad.allocation_protect,
            kind: vad.kind,
            runs,
        };
        if !head.is_empty() {
            self.vads.insert(vad_start, part(head, start));
        }
        if !tail.is_empty() {
            self.vads.insert(end, part(tail, vad.end));
        }
    }

    /// `MEMORY_BASIC_INFORMATION` for the page at `address` (below
    /// `MM_HIGHEST_VAD_ADDRESS`): its run inside its VAD, or the free range around it up
    /// to the next VAD or `free_end`.
    pub fn query(&self, address: u64, free_end: u64) -> MemoryBasicInformation {
        let page = address & !(PAGE_SIZE - 1);
        let Some(info) = self.find(page) else {
            let next = self
                .vads
                .range(page..)
                .next()
                .map_or(free_end, |(&start, _)| start);
            return MemoryBasicInformation {
                base_address: page,
                region_size: next.max(page) - page,
                state: MEM_FREE,
                protect: PAGE_NOACCESS,
                ..MemoryBasicInformation::default()
            };
        };
        let vad = &self.vads[&info.start];
        let run = vad.runs[vad.run_index(page)];
        let (state, protect) = match run.state {
            PageState::Reserved => (MEM_RESERVE, 0),
            PageState::Committed(protect) => (MEM_COMMIT, protect),
        };
        MemoryBasicInformation {
            base_address: page,
            allocation_base: info.start,
            allocation_protect: info.allocation_protect,
            region_size: run.end - page,
            state,
            protect,
            kind: info.kind.memory_type(),
            ..MemoryBasicInformation::default()
        }
    }

    /// Every committed run: `(start, end, kind)`.
    pub fn committed_runs(&self) -> impl Iterator<Item = (u64, u64, VadKind)> + '_ {
        self.vads.values().flat_map(|vad| {
            vad.runs.iter().filter_map(move |run| match run.state {
                PageState::Committed(_) => Some((run.start, run.end, vad.kind)),
                PageState::Reserved => None,
            })
        })
    }
}

fn is_page_aligned(address: u64) -> bool {
    address.is_multiple_of(PAGE_SIZE)
}

/// What the hardware allows on a committed page (NT's protection mask reduced to what
/// x86-64 page tables express: no execute-only, no write-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAccess {
    /// Not present, but the frame stays: `PAGE_NOACCESS` and guard pages.
    NoAccess,
    ReadOnly,
    ReadWrite,
    ExecuteRead,
    ExecuteReadWrite,
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl PageAccess {
    /// The hardware access for a valid protection (see [`validate_protection`]). Copy-on-
    /// write pages are private copies already, so they are writable.
    pub fn from_protect(protect: u32) -> Self {
        if protect & PAGE_GUARD != 0 {
            return Self::NoAccess;
        }
        match protect & 0xFF {
            PAGE_READONLY => Self::ReadOnly,
            PAGE_READWRITE | PAGE_WRITECOPY => Self::ReadWrite,
            PAGE_EXECUTE | PAGE_EXECUTE_READ => Self::ExecuteRead,
            PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY => Self::ExecuteReadWrite,
            _ => Self::NoAccess,
        }
    }

    /// The same access without write: what a copy-on-write page still sharing its frame
    /// gets, so that the first write faults.
    pub fn without_write(self) -> Self {
        match self {
            Self::ReadWrite => Self::ReadOnly,
            Self::ExecuteReadWrite => Self::ExecuteRead,
            other => other,
        }
    }

    /// Whether `access` is allowed.
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => self != Self::NoAccess,
            Access::Write => matches!(self, Self::ReadWrite | Self::ExecuteReadWrite),
            Access::Execute => matches!(self, Self::ExecuteRead | Self::ExecuteReadWrite),
        }
    }
}

/// Checks a `PAGE_*` protection as MiMakeProtectionMask does: exactly one base protection,
/// at most one of `PAGE_GUARD`, `PAGE_NOCACHE`, `PAGE_WRITECOMBINE`, and no modifier on
/// `PAGE_NOACCESS`. STATUS_INVALID_PAGE_PROTECTION otherwise.
pub fn validate_protection(protect: u32) -> Result<(), NtStatus> {
    let base = protect & 0xFF;
    let modifiers = protect & !0xFF;
    let valid = base.is_power_of_two()
        && modifiers & !(PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE) == 0
        && (modifiers == 0 || (modifiers.is_power_of_two() && base != PAGE_NOACCESS));
    if valid {
        Ok(())
    } else {
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    }
}

/// Whether a protection asks for copy-on-write, which private memory cannot have.
pub fn is_write_copy(protect: u32) -> bool {
    protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY) != 0
}
