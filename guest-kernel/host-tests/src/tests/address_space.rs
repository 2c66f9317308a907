//! Address spaces over a simulated MMU whose frames and page tables come from a real PFN
//! database: the services' rules and statuses, demand-zero and guard-page faults, copies,
//! and teardown returning every frame, page tables included.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use abi::NtStatus;
use abi::layout::USER_END;
use abi::memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_FREE, MEM_IMAGE, MEM_PRIVATE, MEM_RELEASE, MEM_RESERVE,
    MEM_RESET, MEM_TOP_DOWN, MM_HIGHEST_USER_ADDRESS, MM_HIGHEST_VAD_ADDRESS, PAGE_EXECUTE,
    PAGE_EXECUTE_READ, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_READONLY,
    PAGE_READWRITE, PAGE_WRITECOPY,
};

use crate::mm::address_space::{
    AddressSpace, PageTables, Resolution, ViewPage, check_allocation_range, check_allocation_type,
    check_free_range, check_free_type, check_protect_range,
};
use crate::mm::pfn::{PfnCounters, PfnDatabase, PfnEntry};
use crate::mm::vad::{Access, PageAccess, VadKind};

const PAGE: u64 = 0x1000;
/// The simulated machine's RAM: 1024 frames from 1 MiB.
const RAM: (u64, u64) = (0x10_0000, 1024 * PAGE);
const SHARED_USER_DATA: u64 = 0x7FFE_0000;

/// Physical memory: the PFN database and the bytes of the frames written so far.
struct Machine {
    pfn: PfnDatabase<'static>,
    memory: HashMap<u64, Vec<u8>>,
    zeroings: u32,
    /// Committed private pages charged, and how many may be.
    committed: u64,
    commit_limit: u64,
}

impl Machine {
    fn new() -> Rc<RefCell<Self>> {
        Self::with_ram(RAM)
    }

    fn with_ram(ram: (u64, u64)) -> Rc<RefCell<Self>> {
        let entries = Vec::leak(vec![PfnEntry::FRESH; PfnDatabase::entries_needed(&[ram])]);
        Rc::new(RefCell::new(Self {
            pfn: PfnDatabase::new(entries, &[ram]),
            memory: HashMap::new(),
            zeroings: 0,
            committed: 0,
            commit_limit: u64::MAX,
        }))
    }

    fn allocate(&mut self) -> Option<u64> {
        let Self {
            pfn,
            memory,
            zeroings,
            ..
        } = self;
        pfn.allocate_zeroed(|frame| {
            *zeroings += 1;
            memory.remove(&frame);
        })
    }

    fn counters(&self) -> PfnCounters {
        self.pfn.counters()
    }
}

/// A page table of the simulated MMU: its frame and how many entries it uses.
struct Table {
    frame: u64,
    used: u64,
}

/// Page tables as the hardware walker keeps them: a PML4, tables allocated on the way to
/// a page and freed when their last entry goes, PTEs holding a frame and an access.
struct SimulatedTables {
    machine: Rc<RefCell<Machine>>,
    root: u64,
    /// Tables by (level, index of the span they map): level 2 PDPTs, 1 PDs, 0 PTs.
    tables: BTreeMap<(u32, u64), Table>,
    /// PTEs: frame, access, and whether the frame is the address space's.
    pages: BTreeMap<u64, (u64, PageAccess, bool)>,
}

impl SimulatedTables {
    fn new(machine: &Rc<RefCell<Machine>>) -> Self {
        let root = machine
            .borrow_mut()
            .allocate()
            .expect("a frame for the PML4");
        Self {
            machine: machine.clone(),
            root,
            tables: BTreeMap::new(),
            pages: BTreeMap::new(),
        }
    }

    /// Unmaps every page of `range`, releasing the frames `owned` says are the address
    /// space's (and checking that they were mapped as such), and the tables left empty.
    fn unmap_where(&mut self, range: core::ops::Range<u64>, owned: impl Fn(u64) -> bool) {
        let pages: Vec<u64> = self.pages.range(range).map(|(&page, _)| page).collect();
        let mut machine = self.machine.borrow_mut();
        for page in pages {
            let (frame, _, page_owned) = self.pages.remove(&page).unwrap();
            assert_eq!(page_owned, owned(frame), "unmapping {page:#x}");
            if page_owned {
                machine.pfn.free(frame).unwrap();
            }
            for level in 0..=2 {
                let key = Self::table_key(level, page);
                let table = self.tables.get_mut(&key).unwrap();
                table.used -= 1;
                if table.used > 0 {
                    break;
                }
                let frame = self.tables.remove(&key).unwrap().frame;
                machine.pfn.free_zeroed(frame).unwrap();
            }
        }
    }

    fn table_key(level: u32, page: u64) -> (u32, u64) {
        (level, page >> (12 + 9 * (level + 1)))
    }

    fn map(
        &mut self,
        page: u64,
        frame: u64,
        access: PageAccess,
        owned: bool,
    ) -> Result<(), NtStatus> {
        assert!(page.is_multiple_of(PAGE) && page < 0x8000_0000_0000);
        if self.pages.contains_key(&page) {
            return Err(NtStatus::CONFLICTING_ADDRESSES);
        }
        for level in (0..=2).rev() {
            let key = Self::table_key(level, page);
            if !self.tables.contains_key(&key) {
                let frame = self
                    .machine
                    .borrow_mut()
                    .allocate()
                    .ok_or(NtStatus::NO_MEMORY)?;
                self.tables.insert(key, Table { frame, used: 0 });
                if level < 2 {
                    self.tables
                        .get_mut(&Self::table_key(level + 1, page))
                        .unwrap()
                        .used += 1;
                }
            }
        }
        self.tables.get_mut(&Self::table_key(0, page)).unwrap().used += 1;
        self.pages.insert(page, (frame, access, owned));
        Ok(())
    }
}

/// Reserves a view of an image at 0x1_4000_0000, where programs go.
fn reserve_image_view(space: &mut AddressSpace<SimulatedTables>, size: u64) -> u64 {
    space
        .reserve_view(
            Some(0x1_4000_0000),
            size,
            false,
            VadKind::Image,
            PAGE_EXECUTE_WRITECOPY,
        )
        .unwrap()
}

impl PageTables for SimulatedTables {
    fn map_zeroed(&mut self, page: u64, access: PageAccess) -> Result<u64, NtStatus> {
        let frame = self
            .machine
            .borrow_mut()
            .allocate()
            .ok_or(NtStatus::NO_MEMORY)?;
        self.map(page, frame, access, true).map(|()| frame)
    }

    fn map_frame(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus> {
        self.map(page, frame, access, false)
    }

    fn map_shared(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus> {
        self.machine.borrow_mut().pfn.reference(frame).unwrap();
        self.map(page, frame, access, true)
    }

    fn is_shared(&self, frame: u64) -> bool {
        self.machine.borrow().pfn.is_shared(frame)
    }

    fn translate(&self, page: u64) -> Option<(u64, PageAccess)> {
        self.pages
            .get(&page)
            .map(|&(frame, access, _)| (frame, access))
    }

    fn protect(&mut self, start: u64, end: u64, access: PageAccess) {
        for (_, entry) in self.pages.range_mut(start..end) {
            entry.1 = access;
        }
    }

    fn unmap(&mut self, start: u64, end: u64, owned: bool) {
        self.unmap_where(start..end, |_| owned);
    }

    fn unmap_all(&mut self, system_frame: Option<u64>) {
        self.unmap_where(0..USER_END, |frame| Some(frame) != system_frame);
    }

    fn write_frame(&mut self, frame: u64, offset: usize, bytes: &[u8]) {
        let mut machine = self.machine.borrow_mut();
        let memory = machine
            .memory
            .entry(frame)
            .or_insert_with(|| vec![0; PAGE as usize]);
        memory[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    fn read_frame(&self, frame: u64, offset: usize, buffer: &mut [u8]) {
        let machine = self.machine.borrow();
        match machine.memory.get(&frame) {
            Some(memory) => buffer.copy_from_slice(&memory[offset..offset + buffer.len()]),
            None => buffer.fill(0),
        }
    }

    fn charge_commit(&mut self, pages: u64) -> Result<(), NtStatus> {
        let mut machine = self.machine.borrow_mut();
        let total = machine.committed + pages;
        if total > machine.commit_limit {
            return Err(NtStatus::COMMITMENT_LIMIT);
        }
        machine.committed = total;
        Ok(())
    }

    fn return_commit(&mut self, pages: u64) {
        let mut machine = self.machine.borrow_mut();
        machine.committed = machine
            .committed
            .checked_sub(pages)
            .expect("no more returned than charged");
    }
}

impl Drop for SimulatedTables {
    fn drop(&mut self) {
        assert!(
            self.pages.is_empty(),
            "pages left mapped: {:x?}",
            self.pages.keys()
        );
        assert!(
            self.tables.is_empty(),
            "page tables left: {}",
            self.tables.len()
        );
        self.machine.borrow_mut().pfn.free(self.root).unwrap();
    }
}

type Space = AddressSpace<SimulatedTables>;

impl Space {
    /// Writes `bytes` at the start of `frame`, as a section fills its pages.
    fn tables_write_for_test(&mut self, frame: u64, bytes: &[u8]) {
        let mut machine = self.tables().machine.borrow_mut();
        let memory = machine
            .memory
            .entry(frame)
            .or_insert_with(|| vec![0; PAGE as usize]);
        memory[..bytes.len()].copy_from_slice(bytes);
    }
}

/// A machine with the shared user data frame allocated, and an address space mapping it.
fn setup() -> (Rc<RefCell<Machine>>, Space) {
    setup_with(Machine::new())
}

fn setup_with(machine: Rc<RefCell<Machine>>) -> (Rc<RefCell<Machine>>, Space) {
    let shared = machine.borrow_mut().allocate().unwrap();
    let mut space = Space::with_tables(SimulatedTables::new(&machine));
    space
        .map_shared_user_data(SHARED_USER_DATA, shared)
        .unwrap();
    (machine, space)
}

fn in_use(machine: &Rc<RefCell<Machine>>) -> u64 {
    machine.borrow().counters().active
}

#[test]
fn teardown_returns_every_frame_and_page_table() {
    let machine = Machine::new();
    let shared = machine.borrow_mut().allocate().unwrap();
    let before = machine.borrow().counters();
    let mut space = Space::with_tables(SimulatedTables::new(&machine));
    space
        .map_shared_user_data(SHARED_USER_DATA, shared)
        .unwrap();
    // Private memory in three PML4 slots, an image, touched, some no-access or guarded.
    let (low, _) = space
        .allocate_virtual_memory(0, 64 * PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    let (high, _) = space
        .allocate_virtual_memory(
            0,
            8 * PAGE,
            0,
            MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN,
            PAGE_READWRITE,
        )
        .unwrap();
    let far = 0x0000_0100_0000_0000;
    space
        .allocate_virtual_memory(far, 4 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    space
        .allocate_virtual_memory(far + PAGE, 2 * PAGE, 0, MEM_COMMIT, PAGE_READONLY)
        .unwrap();
    let image = reserve_image_view(&mut space, 4 * PAGE);
    space
        .map_view_page(image, image, PAGE_READONLY, ViewPage::Private(b"MZ"))
        .unwrap();
    for page in 0..64 {
        space
            .access_fault(low + page * PAGE, Access::Write)
            .unwrap();
    }
    space.write_memory(high, &[1; 3 * PAGE as usize]).unwrap();
    space.access_fault(far + PAGE, Access::Read).unwrap();
    space
        .protect_virtual_memory(low, 4 * PAGE, PAGE_NOACCESS)
        .unwrap();
    space
        .protect_virtual_memory(low + 8 * PAGE, PAGE, PAGE_READWRITE | PAGE_GUARD)
        .unwrap();
    let during = machine.borrow().counters();
    // The PML4; 64 + 3 + 1 + 1 pages; tables: a PDPT, PD and PT for the shared page, a PD
    // and PT each for `low` and the image, a PDPT, PD and PT each for `high` and `far`.
    assert_eq!(during.active - before.active, 1 + 69 + (3 + 2 + 2 + 3 + 3));
    drop(space);
    let after = machine.borrow().counters();
    assert_eq!(after.active, before.active, "{before:?} {after:?}");
    assert_eq!(after.zeroed + after.free, before.zeroed + before.free);
    assert_eq!(
        machine.borrow().zeroings,
        0,
        "only never-used frames were handed out"
    );
}

#[test]
fn reused_frames_are_zeroed_but_fresh_ones_are_not() {
    // Nine frames: the shared page, the PML4 and three tables for the shared page, then
    // two pages and their PD and PT fill the machine.
    let (machine, mut space) = setup_with(Machine::with_ram((0x10_0000, 9 * PAGE)));
    let (base, _) = space
        .allocate_virtual_memory(0, 3 * PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    space.write_memory(base, b"keep").unwrap();
    space.write_memory(base + PAGE, b"secret").unwrap();
    assert_eq!(machine.borrow().counters().zeroed, 0, "all in use");
    assert_eq!(
        space.access_fault(base + 2 * PAGE, Access::Read),
        Err(NtStatus::NO_MEMORY)
    );
    assert_eq!(
        machine.borrow().zeroings,
        0,
        "never-used frames need no zeroing"
    );
    space
        .free_virtual_memory(base + PAGE, PAGE, MEM_DECOMMIT)
        .unwrap();
    assert_eq!(machine.borrow().counters().free, 1);
    space
        .allocate_virtual_memory(base + PAGE, PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    assert_eq!(
        space.access_fault(base + PAGE, Access::Read),
        Ok(Resolution::DemandZero)
    );
    assert_eq!(machine.borrow().zeroings, 1, "the reused frame was dirty");
    let mut buffer = [0xFF; 6];
    space.read_memory(base + PAGE, &mut buffer).unwrap();
    assert_eq!(buffer, [0; 6]);
    space.read_memory(base, &mut buffer[..4]).unwrap();
    assert_eq!(&buffer[..4], b"keep");
}

#[test]
fn faults_follow_state_and_protection() {
    let (machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, 4 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    assert_eq!(
        space.access_fault(base, Access::Read),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    space
        .allocate_virtual_memory(base, 3 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    let before = in_use(&machine);
    assert_eq!(
        space.access_fault(base + 8, Access::Write),
        Ok(Resolution::DemandZero)
    );
    assert_eq!(in_use(&machine), before + 3, "the page, its PT and PD");
    assert_eq!(
        space.access_fault(base, Access::Write),
        Ok(Resolution::Refreshed)
    );
    assert_eq!(
        space.access_fault(base, Access::Execute),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    space
        .protect_virtual_memory(base, PAGE, PAGE_READONLY)
        .unwrap();
    assert_eq!(
        space.tables().translate(base).unwrap().1,
        PageAccess::ReadOnly
    );
    assert_eq!(
        space.access_fault(base, Access::Write),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    assert_eq!(
        space.access_fault(base, Access::Read),
        Ok(Resolution::Refreshed)
    );
    space
        .protect_virtual_memory(base + PAGE, PAGE, PAGE_EXECUTE)
        .unwrap();
    assert_eq!(
        space.access_fault(base + PAGE, Access::Execute),
        Ok(Resolution::DemandZero)
    );
    assert_eq!(
        space.access_fault(base + PAGE, Access::Read),
        Ok(Resolution::Refreshed)
    );
    space
        .protect_virtual_memory(base + 2 * PAGE, PAGE, PAGE_NOACCESS)
        .unwrap();
    assert_eq!(
        space.access_fault(base + 2 * PAGE, Access::Read),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    assert_eq!(
        space.access_fault(base + 3 * PAGE, Access::Read),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    assert_eq!(
        space.access_fault(SHARED_USER_DATA, Access::Write),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    assert_eq!(
        space.access_fault(0x1234, Access::Read),
        Err(NtStatus::ACCESS_VIOLATION)
    );
}

#[test]
fn a_guard_page_faults_once() {
    let (_machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(
            0,
            2 * PAGE,
            0,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE | PAGE_GUARD,
        )
        .unwrap();
    assert_eq!(space.query_virtual_memory(base).region_size, 2 * PAGE);
    assert_eq!(
        space.access_fault(base, Access::Read),
        Err(NtStatus::GUARD_PAGE_VIOLATION)
    );
    let info = space.query_virtual_memory(base);
    assert_eq!((info.protect, info.region_size), (PAGE_READWRITE, PAGE));
    assert_eq!(
        space.access_fault(base, Access::Write),
        Ok(Resolution::DemandZero)
    );
    assert_eq!(
        space.query_virtual_memory(base + PAGE).protect,
        PAGE_READWRITE | PAGE_GUARD,
        "only the page touched loses its guard"
    );
    // A copy through a guard page fails and clears it too.
    let mut buffer = [0; 4];
    assert_eq!(space.read_memory(base + PAGE - 2, &mut buffer), Err(2));
    assert_eq!(space.read_memory(base + PAGE - 2, &mut buffer), Ok(()));
}

#[test]
fn no_access_pages_keep_their_frames_and_contents() {
    let (machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    space.write_memory(base + 16, b"kept").unwrap();
    let before = in_use(&machine);
    let (_, _, old) = space
        .protect_virtual_memory(base, PAGE, PAGE_NOACCESS)
        .unwrap();
    assert_eq!(old, PAGE_READWRITE);
    assert_eq!(in_use(&machine), before);
    assert_eq!(
        space.tables().translate(base).unwrap().1,
        PageAccess::NoAccess
    );
    let mut buffer = [0; 4];
    assert_eq!(space.read_memory(base + 16, &mut buffer), Err(0));
    let (_, _, old) = space
        .protect_virtual_memory(base, PAGE, PAGE_READONLY)
        .unwrap();
    assert_eq!(old, PAGE_NOACCESS);
    space.read_memory(base + 16, &mut buffer).unwrap();
    assert_eq!(&buffer, b"kept");
    assert_eq!(space.write_memory(base, b"x"), Err(0), "read-only");
    space.write(base, b"x").unwrap();
}

#[test]
fn allocation_rounds_and_places_as_nt_does() {
    let (_machine, mut space) = setup();
    // An explicit reservation starts on 64 KiB and ends on a page.
    let (base, size) = space
        .allocate_virtual_memory(0x30_1234, 0x1000, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    assert_eq!((base, size), (0x30_0000, 0x3000));
    assert_eq!(
        space.allocate_virtual_memory(0x30_2000, PAGE, 0, MEM_RESERVE, PAGE_READWRITE),
        Err(NtStatus::CONFLICTING_ADDRESSES)
    );
    // A commit rounds to pages inside the reservation.
    let (start, size) = space
        .allocate_virtual_memory(0x30_0FFF, 2, 0, MEM_COMMIT, PAGE_READONLY)
        .unwrap();
    assert_eq!((start, size), (0x30_0000, 0x2000));
    assert_eq!(
        space.allocate_virtual_memory(0x30_2000, 0x2000, 0, MEM_COMMIT, PAGE_READONLY),
        Err(NtStatus::CONFLICTING_ADDRESSES),
        "past the reservation"
    );
    assert_eq!(
        space.allocate_virtual_memory(0x40_0000, PAGE, 0, MEM_COMMIT, PAGE_READONLY),
        Err(NtStatus::CONFLICTING_ADDRESSES),
        "nothing reserved"
    );
    assert_eq!(
        space.allocate_virtual_memory(0x30_0000, PAGE, 0, MEM_COMMIT, PAGE_WRITECOPY),
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    );
    assert_eq!(
        space.allocate_virtual_memory(0, PAGE, 0, MEM_RESERVE, PAGE_EXECUTE_WRITECOPY),
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    );
    assert_eq!(
        space.allocate_virtual_memory(0x30_0000, PAGE, 0, MEM_RESET, PAGE_READWRITE),
        Ok((0x30_0000, PAGE))
    );
    // Anywhere: bottom-up from 64 KiB, top-down from the highest allocation address, or
    // below the limit ZeroBits sets.
    let (low, size) = space
        .allocate_virtual_memory(0, 0x1801, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    assert_eq!((low, size), (0x1_0000, 0x2000));
    let (high, _) = space
        .allocate_virtual_memory(0, PAGE, 0, MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE)
        .unwrap();
    assert_eq!(high, MM_HIGHEST_VAD_ADDRESS + 1 - 0x1_0000);
    let (under_4g, _) = space
        .allocate_virtual_memory(
            0,
            PAGE,
            0xFFFF_FFFF,
            MEM_RESERVE | MEM_TOP_DOWN,
            PAGE_READWRITE,
        )
        .unwrap();
    assert_eq!(under_4g, 0xFFFF_0000, "a ZeroBits mask");
    let (under_2g, _) = space
        .allocate_virtual_memory(0, PAGE, 1, MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE)
        .unwrap();
    assert_eq!(under_2g, 0x7FFF_0000, "a ZeroBits count, from bit 31");
    assert_eq!(
        space.allocate_virtual_memory(0, PAGE, 21, MEM_RESERVE, PAGE_READWRITE),
        Err(NtStatus::NO_MEMORY),
        "no room below 2 KiB"
    );
}

#[test]
fn free_rules_and_statuses() {
    let (_machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, 8 * PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    assert_eq!(
        space.free_virtual_memory(0x5000_0000, 0, MEM_RELEASE),
        Err(NtStatus::MEMORY_NOT_ALLOCATED)
    );
    assert_eq!(
        space.free_virtual_memory(base + PAGE, 0, MEM_RELEASE),
        Err(NtStatus::FREE_VM_NOT_AT_BASE)
    );
    assert_eq!(
        space.free_virtual_memory(base + 7 * PAGE, 2 * PAGE, MEM_DECOMMIT),
        Err(NtStatus::UNABLE_TO_FREE_VM)
    );
    assert_eq!(
        space.free_virtual_memory(SHARED_USER_DATA, 0, MEM_RELEASE),
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    );
    reserve_image_view(&mut space, PAGE);
    assert_eq!(
        space.free_virtual_memory(0x1_4000_0000, 0, MEM_RELEASE),
        Err(NtStatus::UNABLE_TO_DELETE_SECTION)
    );
    // Decommit with size 0 at the base decommits the whole allocation.
    assert_eq!(
        space.free_virtual_memory(base + 5, 0, MEM_DECOMMIT),
        Ok((base, 8 * PAGE))
    );
    let info = space.query_virtual_memory(base);
    assert_eq!((info.state, info.region_size), (MEM_RESERVE, 8 * PAGE));
    assert_eq!(
        space.free_virtual_memory(base + 3 * PAGE + 1, 1, MEM_RELEASE),
        Ok((base + 3 * PAGE, PAGE))
    );
    assert_eq!(space.query_virtual_memory(base + 3 * PAGE).state, MEM_FREE);
    assert_eq!(
        space.query_virtual_memory(base + 4 * PAGE).allocation_base,
        base + 4 * PAGE
    );
    assert_eq!(
        space.free_virtual_memory(base, 0, MEM_RELEASE),
        Ok((base, 3 * PAGE))
    );
}

#[test]
fn protect_rules_and_statuses() {
    let (_machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, 4 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    space
        .allocate_virtual_memory(base, 2 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    assert_eq!(
        space.protect_virtual_memory(base + PAGE, 2 * PAGE, PAGE_READONLY),
        Err(NtStatus::NOT_COMMITTED)
    );
    assert_eq!(
        space.protect_virtual_memory(base + 3 * PAGE, PAGE, PAGE_READONLY),
        Err(NtStatus::NOT_COMMITTED)
    );
    assert_eq!(
        space.protect_virtual_memory(base + 3 * PAGE, 2 * PAGE, PAGE_READONLY),
        Err(NtStatus::CONFLICTING_ADDRESSES)
    );
    assert_eq!(
        space.protect_virtual_memory(base, PAGE, PAGE_WRITECOPY),
        Err(NtStatus::INVALID_PARAMETER_4)
    );
    assert_eq!(
        space.protect_virtual_memory(SHARED_USER_DATA, PAGE, PAGE_READWRITE),
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    );
    assert_eq!(
        space.protect_virtual_memory(base + 0x800, 0x1000, PAGE_EXECUTE_READ),
        Ok((base, 2 * PAGE, PAGE_READWRITE))
    );
    let image = reserve_image_view(&mut space, 2 * PAGE);
    for page in [image, image + PAGE] {
        space
            .map_view_page(image, page, PAGE_EXECUTE_READ, ViewPage::Private(b""))
            .unwrap();
    }
    assert_eq!(
        space.protect_virtual_memory(0x1_4000_1000, 1, PAGE_WRITECOPY),
        Ok((0x1_4000_1000, PAGE, PAGE_EXECUTE_READ)),
        "image views may be copy-on-write"
    );
    let image = space.query_virtual_memory(0x1_4000_0000);
    assert_eq!((image.kind, image.region_size), (MEM_IMAGE, PAGE));
}

#[test]
fn copies_stop_where_access_stops() {
    let (_machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, 3 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    space
        .allocate_virtual_memory(base, 2 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    let data: Vec<u8> = (0..=255).cycle().take(3 * PAGE as usize).collect();
    assert_eq!(
        space.write_memory(base + 0x10, &data),
        Err(2 * PAGE as usize - 0x10)
    );
    let mut back = vec![0; 2 * PAGE as usize];
    space.read_memory(base, &mut back).unwrap();
    assert_eq!(&back[0x10..], &data[..back.len() - 0x10]);
    assert_eq!(
        space.read_memory(base + PAGE, &mut back),
        Err(PAGE as usize)
    );
    space
        .protect_virtual_memory(base + PAGE, PAGE, PAGE_READONLY)
        .unwrap();
    assert_eq!(space.write_memory(base + PAGE - 1, b"ab"), Err(1));
    assert_eq!(
        space.write(base + 2 * PAGE, b"x"),
        Err(NtStatus::ACCESS_VIOLATION),
        "reserved"
    );
    let mut buffer = [0; 4];
    assert_eq!(space.read_memory(0x6000_0000, &mut buffer), Err(0));
}

#[test]
fn queries_report_nt_regions() {
    let (_machine, space) = setup();
    let shared = space.query_virtual_memory(SHARED_USER_DATA + 0x123);
    assert_eq!(
        (
            shared.base_address,
            shared.state,
            shared.protect,
            shared.kind,
            shared.region_size
        ),
        (
            SHARED_USER_DATA,
            MEM_COMMIT,
            PAGE_READONLY,
            MEM_PRIVATE,
            PAGE
        )
    );
    let top = space.query_virtual_memory(MM_HIGHEST_USER_ADDRESS);
    assert_eq!(
        (top.base_address, top.state, top.region_size),
        (MM_HIGHEST_USER_ADDRESS & !(PAGE - 1), MEM_RESERVE, PAGE)
    );
    let above = space.query_virtual_memory(SHARED_USER_DATA + PAGE);
    assert_eq!(
        (above.state, above.region_size),
        (
            MEM_FREE,
            MM_HIGHEST_VAD_ADDRESS + 1 - SHARED_USER_DATA - PAGE
        )
    );
}

#[test]
fn argument_checks_return_nt_statuses() {
    assert_eq!(check_allocation_type(0, MEM_COMMIT, PAGE_READWRITE), Ok(()));
    assert_eq!(
        check_allocation_type(22, MEM_COMMIT, PAGE_READWRITE),
        Err(NtStatus::INVALID_PARAMETER_3)
    );
    assert_eq!(
        check_allocation_type(0x7FFF_FFFF, MEM_COMMIT, PAGE_READWRITE),
        Ok(())
    );
    assert_eq!(
        check_allocation_type(0, MEM_TOP_DOWN, PAGE_READWRITE),
        Err(NtStatus::INVALID_PARAMETER_5)
    );
    assert_eq!(
        check_allocation_type(0, MEM_RESET | MEM_RESERVE, PAGE_READWRITE),
        Err(NtStatus::INVALID_PARAMETER_5)
    );
    assert_eq!(
        check_allocation_type(0, MEM_COMMIT | 0x2000_0000, PAGE_READWRITE),
        Err(NtStatus::INVALID_PARAMETER_5)
    );
    assert_eq!(
        check_allocation_type(0, MEM_COMMIT, PAGE_NOACCESS | PAGE_GUARD),
        Err(NtStatus::INVALID_PAGE_PROTECTION)
    );
    assert_eq!(check_allocation_range(0, PAGE), Ok(()));
    assert_eq!(
        check_allocation_range(MM_HIGHEST_VAD_ADDRESS + 1, PAGE),
        Err(NtStatus::INVALID_PARAMETER_2)
    );
    assert_eq!(
        check_allocation_range(MM_HIGHEST_VAD_ADDRESS, 2),
        Err(NtStatus::INVALID_PARAMETER_4)
    );
    assert_eq!(
        check_allocation_range(0x1_0000, 0),
        Err(NtStatus::INVALID_PARAMETER_4)
    );
    assert_eq!(check_free_type(MEM_RELEASE), Ok(()));
    assert_eq!(
        check_free_type(MEM_RELEASE | MEM_DECOMMIT),
        Err(NtStatus::INVALID_PARAMETER_4)
    );
    assert_eq!(
        check_free_range(MM_HIGHEST_USER_ADDRESS + 1, 0),
        Err(NtStatus::INVALID_PARAMETER_2)
    );
    assert_eq!(
        check_free_range(0x1_0000, u64::MAX),
        Err(NtStatus::INVALID_PARAMETER_3)
    );
    assert_eq!(
        check_protect_range(0x1_0000, 0),
        Err(NtStatus::INVALID_PARAMETER_3)
    );
    assert_eq!(
        check_protect_range(u64::MAX, PAGE),
        Err(NtStatus::INVALID_PARAMETER_2)
    );
    assert_eq!(check_protect_range(0x1_0000, PAGE), Ok(()));
}

#[test]
fn resident_pages_get_frames_without_a_fault() {
    let (machine, mut space) = setup();
    let (base, _) = space
        .allocate_virtual_memory(0, 4 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    space
        .allocate_virtual_memory(base + PAGE, 2 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    space.write_memory(base + PAGE, b"kept").unwrap();
    let before = in_use(&machine);
    space.make_resident(base + PAGE, 2 * PAGE).unwrap();
    assert_eq!(
        in_use(&machine),
        before + 1,
        "only the page without a frame"
    );
    assert_eq!(
        space.access_fault(base + 2 * PAGE, Access::Write),
        Ok(Resolution::Refreshed)
    );
    let mut buffer = [0; 4];
    space.read_memory(base + PAGE, &mut buffer).unwrap();
    assert_eq!(&buffer, b"kept");
    assert_eq!(
        space.make_resident(base, 2 * PAGE),
        Err(NtStatus::NOT_COMMITTED)
    );
}

#[test]
fn views_share_frames_until_written() {
    let (machine, mut first) = setup();
    let (_, mut second) = setup_with(machine.clone());
    // A section's page: the section holds one reference, each view another.
    let frame = machine.borrow_mut().allocate().unwrap();
    first.tables_write_for_test(frame, b"shared");
    let before = machine.borrow().counters();
    let base = 0x1_4000_0000;
    for space in [&mut first, &mut second] {
        space
            .reserve_view(
                Some(base),
                2 * PAGE,
                false,
                VadKind::Image,
                PAGE_EXECUTE_WRITECOPY,
            )
            .unwrap();
        space
            .map_view_page(base, base, PAGE_WRITECOPY, ViewPage::Shared(frame))
            .unwrap();
        space
            .map_view_page(base, base + PAGE, PAGE_READONLY, ViewPage::Shared(frame))
            .unwrap();
    }
    assert_eq!(
        first.tables().translate(base),
        Some((frame, PageAccess::ReadOnly)),
        "copy-on-write pages are read-only while they share their frame"
    );
    assert_eq!(
        first.access_fault(base, Access::Read),
        Ok(Resolution::Refreshed)
    );
    assert_eq!(
        first.tables().translate(base),
        Some((frame, PageAccess::ReadOnly))
    );
    assert_eq!(
        first.access_fault(base + 8, Access::Write),
        Ok(Resolution::CopyOnWrite)
    );
    let (copy, access) = first.tables().translate(base).unwrap();
    assert_ne!(copy, frame);
    assert_eq!(access, PageAccess::ReadWrite);
    assert_eq!(
        first.query_virtual_memory(base).protect,
        PAGE_READWRITE,
        "a written copy-on-write page is read-write from then on"
    );
    assert_eq!(second.query_virtual_memory(base).protect, PAGE_WRITECOPY);
    let mut contents = [0; 6];
    first.read_memory(base, &mut contents).unwrap();
    assert_eq!(&contents, b"shared", "the copy holds what the frame held");
    assert_eq!(
        first.access_fault(base + PAGE, Access::Write),
        Err(NtStatus::ACCESS_VIOLATION),
        "a read-only page of a view"
    );
    // A write as NtWriteVirtualMemory makes it copies too, and leaves the frame alone.
    second.write_memory(base, b"SECOND").unwrap();
    assert_ne!(second.tables().translate(base).unwrap().0, frame);
    let mut shared = [0; 6];
    first.read_memory(base + PAGE, &mut shared).unwrap();
    assert_eq!(&shared, b"shared");
    // Making a shared page writable gives it a copy first.
    first
        .protect_virtual_memory(base + PAGE, PAGE, PAGE_READWRITE)
        .unwrap();
    assert_ne!(first.tables().translate(base + PAGE).unwrap().0, frame);
    assert_eq!(first.unmap_view(base + PAGE), Ok((base, 2 * PAGE)));
    assert_eq!(second.unmap_view(base), Ok((base, 2 * PAGE)));
    assert_eq!(second.unmap_view(base), Err(NtStatus::NOT_MAPPED_VIEW));
    assert_eq!(
        machine.borrow().counters().active,
        before.active,
        "the copies and page tables are back, the section's frame still held"
    );
    machine.borrow_mut().pfn.free(frame).unwrap();
}

#[test]
fn commitment_is_charged_refused_past_the_limit_and_given_back() {
    let (machine, mut space) = setup();
    machine.borrow_mut().commit_limit = 20;
    let committed = || machine.borrow().committed;
    // Reserving charges nothing; committing charges each page once.
    let (base, _) = space
        .allocate_virtual_memory(0, 64 * PAGE, 0, MEM_RESERVE, PAGE_READWRITE)
        .unwrap();
    assert_eq!(committed(), 0);
    space
        .allocate_virtual_memory(base, 8 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    space
        .allocate_virtual_memory(base + 4 * PAGE, 8 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    assert_eq!(committed(), 12, "the overlap is charged once");
    // Past the limit: refused, nothing changed.
    assert_eq!(
        space.allocate_virtual_memory(base + 12 * PAGE, 9 * PAGE, 0, MEM_COMMIT, PAGE_READWRITE),
        Err(NtStatus::COMMITMENT_LIMIT)
    );
    assert_eq!(
        space.allocate_virtual_memory(0, 9 * PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE),
        Err(NtStatus::COMMITMENT_LIMIT)
    );
    assert_eq!(committed(), 12);
    assert_eq!(
        space.query_virtual_memory(base + 12 * PAGE).state,
        MEM_RESERVE
    );
    // Decommitting and releasing give the charge back; teardown gives back the rest.
    space
        .free_virtual_memory(base + 2 * PAGE, 2 * PAGE, MEM_DECOMMIT)
        .unwrap();
    assert_eq!(committed(), 10);
    let (other, _) = space
        .allocate_virtual_memory(0, 3 * PAGE, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
        .unwrap();
    assert_eq!(committed(), 13);
    space.free_virtual_memory(other, 0, MEM_RELEASE).unwrap();
    assert_eq!(committed(), 10);
    drop(space);
    assert_eq!(committed(), 0);
}
