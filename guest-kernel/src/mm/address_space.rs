//! User address spaces (`MMSUPPORT` and `EPROCESS.VadRoot`): the VADs and the page tables
//! that follow them. Here are the virtual-memory services' rules once their arguments are
//! captured (MiAllocateVirtualMemory, NtFreeVirtualMemory, MiProtectVirtualMemory,
//! MiQueryMemoryBasicInformation, MmCopyVirtualMemory), page-fault resolution
//! (MmAccessFault: demand-zero pages, guard pages, copy-on-write, protection), the
//! kernel's own writes
//! into a process, views of sections (MiMapViewOfSection's VAD and PTE work,
//! MiUnmapViewOfSection), and teardown (MmDeleteProcessAddressSpace).
//!
//! The page tables are reached only through [`PageTables`], so this is pure logic,
//! unit-tested on the host against a simulated MMU.

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_PRIVATE, MEM_RELEASE, MEM_RESERVE, MEM_RESET, MEM_TOP_DOWN,
    MM_ALLOCATION_GRANULARITY, MM_HIGHEST_USER_ADDRESS, MM_HIGHEST_VAD_ADDRESS,
    MM_LOWEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, MemoryBasicInformation, PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
    PAGE_WRITECOPY,
};

use super::vad::{
    Access, Change, PageAccess, PageState, VadKind, VadTree, is_write_copy, validate_protection,
};

/// The hardware side of an address space: its page tables and the frames they map.
pub trait PageTables {
    /// Maps a zero-filled frame, which the address space then owns, at user page `page`;
    /// returns the frame.
    fn map_zeroed(&mut self, page: u64, access: PageAccess) -> Result<u64, NtStatus>;
    /// Maps `frame`, which stays the system's, at user page `page`.
    fn map_frame(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus>;
    /// Maps `frame`, shared with its other holders, at user page `page`; the mapping holds
    /// a reference to it, which unmapping it as owned drops.
    fn map_shared(&mut self, page: u64, frame: u64, access: PageAccess) -> Result<(), NtStatus>;
    /// Whether `frame` has holders other than one mapping (a section's page).
    fn is_shared(&self, frame: u64) -> bool;
    /// The frame mapped at user page `page`, and its access.
    fn translate(&self, page: u64) -> Option<(u64, PageAccess)>;
    /// Gives every mapped page of `[start, end)` the access `access`.
    fn protect(&mut self, start: u64, end: u64, access: PageAccess);
    /// Removes every mapping of `[start, end)`, releasing the frames when `owned`, and the
    /// page tables left empty.
    fn unmap(&mut self, start: u64, end: u64, owned: bool);
    /// Removes every mapping of the user half and every user page table in one pass,
    /// releasing every frame but `system_frame` (one the system lends, as the shared user
    /// data page).
    fn unmap_all(&mut self, system_frame: Option<u64>);
    /// Copies `bytes` into `frame` at `offset`.
    fn write_frame(&mut self, frame: u64, offset: usize, bytes: &[u8]);
    /// Copies `buffer.len()` bytes out of `frame` from `offset`.
    fn read_frame(&self, frame: u64, offset: usize, buffer: &mut [u8]);
    /// Charges `pages` newly committed private pages against the system's commit limit
    /// (MiChargeCommitment): STATUS_COMMITMENT_LIMIT when they do not fit.
    fn charge_commit(&mut self, pages: u64) -> Result<(), NtStatus>;
    /// Gives back the charge of `pages` private pages decommitted or released.
    fn return_commit(&mut self, pages: u64);
}

/// What backs a page of a view: a frame shared with the section, a private copy of these
/// bytes (at most a page; the rest reads as zeros), or nothing until the first touch
/// gives it a zero-filled frame.
#[derive(Clone, Copy, Debug)]
pub enum ViewPage<'a> {
    Shared(u64),
    Private(&'a [u8]),
    DemandZero,
}

/// How a page fault was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A committed page touched for the first time got a zero-filled frame.
    DemandZero,
    /// The page was mapped already: its PTE was rewritten (a stale TLB entry).
    Refreshed,
    /// A write to a copy-on-write page got the page a private copy of its shared frame.
    CopyOnWrite,
}

/// One process's user address space.
#[derive(Debug)]
pub struct AddressSpace<T: PageTables> {
    tables: T,
    vads: VadTree,
}

impl<T: PageTables> AddressSpace<T> {
    /// An empty address space over `tables`.
    pub fn with_tables(tables: T) -> Self {
        Self {
            tables,
            vads: VadTree::new(),
        }
    }

    pub fn tables(&self) -> &T {
        &self.tables
    }

    /// Maps KUSER_SHARED_DATA's `frame` read-only at `address`, in a VAD nothing can
    /// change or free (MiInsertSharedUserPageVad).
    pub fn map_shared_user_data(&mut self, address: u64, frame: u64) -> Result<(), NtStatus> {
        let state = PageState::Committed(PAGE_READONLY);
        self.vads.insert(
            address,
            address + PAGE_SIZE,
            PAGE_READONLY,
            VadKind::SharedUserData,
            state,
        )?;
        self.tables.map_frame(address, frame, PageAccess::ReadOnly)
    }

    /// Reserves and commits `[base, base + size)`, rounded out to pages, as private memory
    /// whose pages are zero-filled on first touch (for the PEB, TEBs and stacks).
    pub fn allocate(&mut self, base: u64, size: u64, protect: u32) -> Result<(), NtStatus> {
        let (start, end) = page_range(base, size)?;
        self.insert_private(start, end, protect, PageState::Committed(protect))
    }

    /// A new private VAD `[start, end)` whose pages are in `state`, its commitment charged.
    fn insert_private(
        &mut self,
        start: u64,
        end: u64,
        protect: u32,
        state: PageState,
    ) -> Result<(), NtStatus> {
        let pages = match state {
            PageState::Committed(_) => (end - start) / PAGE_SIZE,
            PageState::Reserved => 0,
        };
        self.tables.charge_commit(pages)?;
        self.vads
            .insert(start, end, protect, VadKind::Private, state)
            .inspect_err(|_| self.tables.return_commit(pages))
    }

    /// Gives the committed pages of `[start, start + size)` that have no frame yet their
    /// zero-filled frames now rather than on first touch (the top of a new thread's stack,
    /// so its first use takes no fault). STATUS_NOT_COMMITTED if a page is not committed.
    pub fn make_resident(&mut self, start: u64, size: u64) -> Result<(), NtStatus> {
        let (start, end) = page_range(start, size)?;
        for page in (start..end).step_by(PAGE_SIZE as usize) {
            let (frame, protect) = self
                .page_for_copy(page, None)
                .map_err(|()| NtStatus::NOT_COMMITTED)?;
            if frame.is_none() {
                self.tables
                    .map_zeroed(page, PageAccess::from_protect(protect))?;
            }
        }
        Ok(())
    }

    /// Reserves `size` bytes (a multiple of pages) for a view of a section of `kind`: at
    /// `base` (64 KiB-aligned) when given, else at the lowest (or with `top_down`, highest)
    /// free 64 KiB-aligned range. STATUS_CONFLICTING_ADDRESSES when `base` is taken,
    /// STATUS_NO_MEMORY when no range is free.
    pub fn reserve_view(
        &mut self,
        base: Option<u64>,
        size: u64,
        top_down: bool,
        kind: VadKind,
        allocation_protect: u32,
    ) -> Result<u64, NtStatus> {
        let start = match base {
            Some(base) => base,
            None => self
                .vads
                .find_free(
                    size,
                    MM_LOWEST_USER_ADDRESS,
                    MM_HIGHEST_VAD_ADDRESS + 1,
                    top_down,
                )
                .ok_or(NtStatus::NO_MEMORY)?,
        };
        let (start, end) = page_range(start, size).map_err(|_| NtStatus::CONFLICTING_ADDRESSES)?;
        self.vads
            .insert(start, end, allocation_protect, kind, PageState::Reserved)?;
        Ok(start)
    }

    /// Commits `page` of the view reserved at `view_base` with `protect` and maps it now
    /// (a frame of the section, or a private frame holding a copy) or, for a page the file
    /// holds nothing of, on first touch. A copy-on-write page
    /// mapping a shared frame is mapped without write access until its first write.
    pub fn map_view_page(
        &mut self,
        view_base: u64,
        page: u64,
        protect: u32,
        contents: ViewPage<'_>,
    ) -> Result<(), NtStatus> {
        let vad = self
            .vads
            .find(page)
            .filter(|vad| vad.start == view_base)
            .ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
        let access = PageAccess::from_protect(protect);
        match contents {
            ViewPage::Shared(frame) if is_write_copy(protect) => {
                self.tables
                    .map_shared(page, frame, access.without_write())?;
            }
            ViewPage::Shared(frame) => self.tables.map_shared(page, frame, access)?,
            ViewPage::Private(bytes) => {
                let frame = self.tables.map_zeroed(page, access)?;
                let bytes = &bytes[..bytes.len().min(PAGE_SIZE as usize)];
                self.tables.write_frame(frame, 0, bytes);
            }
            ViewPage::DemandZero => {}
        }
        let state = PageState::Committed(protect);
        self.vads
            .set_state(vad.start, page, page + PAGE_SIZE, state, |_| {});
        Ok(())
    }

    /// Unmaps the whole view containing `address` (MiUnmapViewOfSection): its VAD goes,
    /// and with its pages the references they held. Returns the view's base and size;
    /// STATUS_NOT_MAPPED_VIEW when `address` is in no view.
    pub fn unmap_view(&mut self, address: u64) -> Result<(u64, u64), NtStatus> {
        let vad = self
            .vads
            .find(address)
            .filter(|vad| matches!(vad.kind, VadKind::Image | VadKind::Mapped))
            .ok_or(NtStatus::NOT_MAPPED_VIEW)?;
        let Self { tables, vads } = self;
        vads.release(vad.start, vad.start, vad.end, |change| {
            if let PageState::Committed(_) = change.old {
                tables.unmap(change.start, change.end, true);
            }
        });
        Ok((vad.start, vad.end - vad.start))
    }

    /// Copies what `address` holds into `buffer` for the kernel (relocating an image): the
    /// pages must be committed, whatever their protection.
    pub fn read(&mut self, address: u64, buffer: &mut [u8]) -> Result<(), NtStatus> {
        let mut done = 0;
        while done < buffer.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(NtStatus::ACCESS_VIOLATION)?;
            let offset = (at % PAGE_SIZE) as usize;
            let count = (PAGE_SIZE as usize - offset).min(buffer.len() - done);
            let piece = &mut buffer[done..done + count];
            match self.page_for_copy(at - offset as u64, None) {
                Ok((Some(frame), _)) => self.tables.read_frame(frame, offset, piece),
                Ok((None, _)) => piece.fill(0),
                Err(()) => return Err(NtStatus::ACCESS_VIOLATION),
            }
            done += count;
        }
        Ok(())
    }

    /// Gives the mapped pages of `[start, end)` (in an image view) that share a frame with
    /// the image private copies, so they can be written (the copy that copy-on-write makes
    /// on the first write, made when the page becomes writable).
    fn make_private(&mut self, start: u64, end: u64) -> Result<(), NtStatus> {
        for page in (start..end).step_by(PAGE_SIZE as usize) {
            let Some((frame, access)) = self.tables.translate(page) else {
                continue;
            };
            if self.tables.is_shared(frame) {
                self.copy_on_write(page, frame, access)?;
            }
        }
        Ok(())
    }

    /// Replaces the shared `frame` mapped at `page` by a private copy mapped with `access`
    /// (MiCopyOnWrite); returns the copy. The shared frame has other holders, so it
    /// outlives the mapping dropped here; when no frame is left for the copy, the page
    /// maps it again, as it was.
    fn copy_on_write(
        &mut self,
        page: u64,
        frame: u64,
        access: PageAccess,
    ) -> Result<u64, NtStatus> {
        let mut copy = alloc::vec::Vec::new();
        copy.try_reserve_exact(PAGE_SIZE as usize)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        copy.resize(PAGE_SIZE as usize, 0);
        self.tables.read_frame(frame, 0, &mut copy);
        let (_, old_access) = self.tables.translate(page).unwrap_or((frame, access));
        self.tables.unmap(page, page + PAGE_SIZE, true);
        match self.tables.map_zeroed(page, access) {
            Ok(private) => {
                self.tables.write_frame(private, 0, &copy);
                self.mark_written(page);
                Ok(private)
            }
            Err(status) => {
                let _ = self.tables.map_shared(page, frame, old_access);
                Err(status)
            }
        }
    }

    /// A copy-on-write page that has its private copy is a read-write page from then on,
    /// as NtQueryVirtualMemory then reports it (PAGE_WRITECOPY becomes PAGE_READWRITE,
    /// PAGE_EXECUTE_WRITECOPY PAGE_EXECUTE_READWRITE; modifiers stay).
    fn mark_written(&mut self, page: u64) {
        let Some((vad, PageState::Committed(protect))) = self.vads.page_state(page) else {
            return;
        };
        let written = match protect & 0xFF {
            PAGE_WRITECOPY => PAGE_READWRITE,
            PAGE_EXECUTE_WRITECOPY => PAGE_EXECUTE_READWRITE,
            _ => return,
        };
        let state = PageState::Committed(protect & !0xFF | written);
        self.vads
            .set_state(vad.start, page, page + PAGE_SIZE, state, |_| {});
    }

    /// Whether a write to `page` (committed with `protect`, mapping `frame`) must first
    /// give it a private copy: a copy-on-write page, or any page of an image view, whose
    /// frame is shared. Writes to a shared view of a page-file-backed section go to the
    /// shared frame.
    fn needs_private_copy(&self, page: u64, protect: u32, frame: u64) -> bool {
        let in_image = self
            .vads
            .find(page)
            .is_some_and(|vad| vad.kind == VadKind::Image);
        (is_write_copy(protect) || in_image) && self.tables.is_shared(frame)
    }

    /// Copies `bytes` to `address` for the kernel (building a PEB, loading an image): the
    /// pages must be committed, whatever their protection.
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
        self.copy_out(address, bytes, None)
            .map_err(|_| NtStatus::ACCESS_VIOLATION)
    }

    /// Copies `bytes` to `address` as user mode could (NtWriteVirtualMemory's target side):
    /// on failure, the number of bytes copied.
    pub fn write_memory(&mut self, address: u64, bytes: &[u8]) -> Result<(), usize> {
        self.copy_out(address, bytes, Some(Access::Write))
    }

    /// Fills `buffer` from `address` as user mode could read it (NtReadVirtualMemory's
    /// target side): on failure, the number of bytes copied. A committed page never
    /// touched reads as zeros without getting a frame.
    pub fn read_memory(&mut self, address: u64, buffer: &mut [u8]) -> Result<(), usize> {
        let mut done = 0;
        while done < buffer.len() {
            let at = address.checked_add(done as u64).ok_or(done)?;
            let offset = (at % PAGE_SIZE) as usize;
            let count = (PAGE_SIZE as usize - offset).min(buffer.len() - done);
            let piece = &mut buffer[done..done + count];
            match self.page_for_copy(at - offset as u64, Some(Access::Read)) {
                Ok((Some(frame), _)) => self.tables.read_frame(frame, offset, piece),
                Ok((None, _)) => piece.fill(0),
                Err(()) => return Err(done),
            }
            done += count;
        }
        Ok(())
    }

    fn copy_out(&mut self, address: u64, bytes: &[u8], check: Option<Access>) -> Result<(), usize> {
        let mut done = 0;
        while done < bytes.len() {
            let at = address.checked_add(done as u64).ok_or(done)?;
            let offset = (at % PAGE_SIZE) as usize;
            let count = (PAGE_SIZE as usize - offset).min(bytes.len() - done);
            let page = at - offset as u64;
            let frame = match self.page_for_copy(page, check) {
                Ok((Some(frame), protect)) if self.needs_private_copy(page, protect, frame) => {
                    let access = PageAccess::from_protect(protect);
                    self.copy_on_write(page, frame, access).map_err(|_| done)?
                }
                Ok((Some(frame), _)) => frame,
                Ok((None, protect)) => self
                    .tables
                    .map_zeroed(page, PageAccess::from_protect(protect))
                    .map_err(|_| done)?,
                Err(()) => return Err(done),
            };
            self.tables
                .write_frame(frame, offset, &bytes[done..done + count]);
            done += count;
        }
        Ok(())
    }

    /// The frame behind committed `page` for a copy (`None` if it has none yet) and the
    /// page's protection. With `check`, the protection must allow that access, and a guard
    /// page fails (losing its guard, as a touch would).
    fn page_for_copy(
        &mut self,
        page: u64,
        check: Option<Access>,
    ) -> Result<(Option<u64>, u32), ()> {
        let Some((vad, PageState::Committed(protect))) = self.vads.page_state(page) else {
            return Err(());
        };
        if let Some(access) = check {
            if protect & PAGE_GUARD != 0 {
                self.clear_guard(vad.start, page, protect);
                return Err(());
            }
            if !PageAccess::from_protect(protect).allows(access) {
                return Err(());
            }
        }
        Ok((self.tables.translate(page).map(|(frame, _)| frame), protect))
    }

    fn clear_guard(&mut self, vad_start: u64, page: u64, protect: u32) {
        let protect = protect & !PAGE_GUARD;
        let end = page + PAGE_SIZE;
        let state = PageState::Committed(protect);
        self.vads.set_state(vad_start, page, end, state, |_| {});
        self.tables
            .protect(page, end, PageAccess::from_protect(protect));
    }

    /// Resolves a fault on user `address` (MmAccessFault): a committed page whose
    /// protection allows `access` gets its frame; the first touch of a guard page clears
    /// the guard and fails with STATUS_GUARD_PAGE_VIOLATION; anything else is
    /// STATUS_ACCESS_VIOLATION.
    pub fn access_fault(&mut self, address: u64, access: Access) -> Result<Resolution, NtStatus> {
        let page = address & !(PAGE_SIZE - 1);
        let Some((vad, PageState::Committed(protect))) = self.vads.page_state(page) else {
            return Err(NtStatus::ACCESS_VIOLATION);
        };
        if protect & PAGE_GUARD != 0 {
            self.clear_guard(vad.start, page, protect);
            return Err(NtStatus::GUARD_PAGE_VIOLATION);
        }
        let wanted = PageAccess::from_protect(protect);
        if !wanted.allows(access) {
            return Err(NtStatus::ACCESS_VIOLATION);
        }
        if let Some((frame, _)) = self.tables.translate(page) {
            if is_write_copy(protect) && self.tables.is_shared(frame) {
                if access == Access::Write {
                    self.copy_on_write(page, frame, wanted)?;
                    return Ok(Resolution::CopyOnWrite);
                }
                self.tables
                    .protect(page, page + PAGE_SIZE, wanted.without_write());
                return Ok(Resolution::Refreshed);
            }
            self.tables.protect(page, page + PAGE_SIZE, wanted);
            return Ok(Resolution::Refreshed);
        }
        self.tables.map_zeroed(page, wanted)?;
        Ok(Resolution::DemandZero)
    }

    /// MiAllocateVirtualMemory, after [`check_allocation_type`] and
    /// [`check_allocation_range`]: reserves (64 KiB-aligned; anywhere free when `base` is
    /// 0) and/or commits. Returns the base and size of what it did.
    pub fn allocate_virtual_memory(
        &mut self,
        base: u64,
        size: u64,
        zero_bits: u64,
        allocation_type: u32,
        protect: u32,
    ) -> Result<(u64, u64), NtStatus> {
        if allocation_type == MEM_RESET {
            // The contents may be discarded; keeping them is what this kernel does.
            let (start, end) = rounded_range(base, size);
            self.vads
                .find_containing(start, end)
                .ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
            return Ok((start, end - start));
        }
        if base == 0 || allocation_type & MEM_RESERVE != 0 {
            if is_write_copy(protect) {
                return Err(NtStatus::INVALID_PAGE_PROTECTION);
            }
            let (start, size) = if base == 0 {
                let size = size.next_multiple_of(PAGE_SIZE);
                let end = highest_address(zero_bits)? + 1;
                let top_down = allocation_type & MEM_TOP_DOWN != 0;
                let start = self
                    .vads
                    .find_free(size, MM_LOWEST_USER_ADDRESS, end, top_down)
                    .ok_or(NtStatus::NO_MEMORY)?;
                (start, size)
            } else {
                let start = base & !(MM_ALLOCATION_GRANULARITY - 1);
                (start, rounded_range(base, size).1 - start)
            };
            let state = match allocation_type & MEM_COMMIT {
                0 => PageState::Reserved,
                _ => PageState::Committed(protect),
            };
            self.insert_private(start, start + size, protect, state)?;
            return Ok((start, size));
        }
        let (start, end) = rounded_range(base, size);
        let vad = self
            .vads
            .find_containing(start, end)
            .filter(|vad| vad.kind == VadKind::Private)
            .ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
        if is_write_copy(protect) {
            return Err(NtStatus::INVALID_PAGE_PROTECTION);
        }
        let access = PageAccess::from_protect(protect);
        let newly_committed =
            (end - start) / PAGE_SIZE - self.vads.committed_pages(vad.start, start, end);
        self.tables.charge_commit(newly_committed)?;
        let Self { tables, vads } = self;
        vads.set_state(
            vad.start,
            start,
            end,
            PageState::Committed(protect),
            |change| {
                // Committed pages keep their contents and take the new protection.
                if let PageState::Committed(_) = change.old {
                    tables.protect(change.start, change.end, access);
                }
            },
        );
        Ok((start, end - start))
    }

    /// NtFreeVirtualMemory, after [`check_free_type`] and [`check_free_range`]: decommits
    /// or releases pages of one private allocation; a zero `size` means the whole
    /// allocation, named by its base. Returns the base and size of what it freed.
    pub fn free_virtual_memory(
        &mut self,
        base: u64,
        size: u64,
        free_type: u32,
    ) -> Result<(u64, u64), NtStatus> {
        let (mut start, mut end) = rounded_range(base, size);
        let vad = self
            .vads
            .find(start)
            .ok_or(NtStatus::MEMORY_NOT_ALLOCATED)?;
        if size != 0 && end > vad.end {
            return Err(NtStatus::UNABLE_TO_FREE_VM);
        }
        match vad.kind {
            VadKind::Private => {}
            VadKind::Image | VadKind::Mapped => return Err(NtStatus::UNABLE_TO_DELETE_SECTION),
            VadKind::SharedUserData => return Err(NtStatus::INVALID_PAGE_PROTECTION),
        }
        if size == 0 {
            if start != vad.start {
                return Err(NtStatus::FREE_VM_NOT_AT_BASE);
            }
            (start, end) = (vad.start, vad.end);
        }
        let Self { tables, vads } = self;
        let mut uncommitted = 0;
        let unmap = |change: Change| {
            if let PageState::Committed(_) = change.old {
                tables.unmap(change.start, change.end, true);
                uncommitted += (change.end - change.start) / PAGE_SIZE;
            }
        };
        match free_type {
            MEM_RELEASE => vads.release(vad.start, start, end, unmap),
            _ => vads.set_state(vad.start, start, end, PageState::Reserved, unmap),
        }
        tables.return_commit(uncommitted);
        Ok((start, end - start))
    }

    /// MiProtectVirtualMemory, after [`validate_protection`] and [`check_protect_range`]:
    /// every page of the range must be committed, inside one allocation. Returns the base
    /// and size it changed and the old protection of the first page.
    pub fn protect_virtual_memory(
        &mut self,
        base: u64,
        size: u64,
        protect: u32,
    ) -> Result<(u64, u64, u32), NtStatus> {
        let (start, end) = rounded_range(base, size);
        let vad = self
            .vads
            .find_containing(start, end)
            .ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
        match vad.kind {
            VadKind::SharedUserData => return Err(NtStatus::INVALID_PAGE_PROTECTION),
            VadKind::Private if is_write_copy(protect) => {
                return Err(NtStatus::INVALID_PARAMETER_4);
            }
            VadKind::Mapped if is_write_copy(protect) => {
                return Err(NtStatus::INVALID_PAGE_PROTECTION);
            }
            // A view of a section never becomes writable when the view was not.
            VadKind::Mapped
                if PageAccess::from_protect(protect).allows(Access::Write)
                    && !PageAccess::from_protect(vad.allocation_protect).allows(Access::Write) =>
            {
                return Err(NtStatus::SECTION_PROTECTION);
            }
            VadKind::Private | VadKind::Image | VadKind::Mapped => {}
        }
        let Some((_, PageState::Committed(old))) = self.vads.page_state(start) else {
            return Err(NtStatus::NOT_COMMITTED);
        };
        if !self.vads.is_committed(vad.start, start, end) {
            return Err(NtStatus::NOT_COMMITTED);
        }
        let access = PageAccess::from_protect(protect);
        if vad.kind == VadKind::Image && access.allows(Access::Write) {
            self.make_private(start, end)?;
        }
        let Self { tables, vads } = self;
        vads.set_state(
            vad.start,
            start,
            end,
            PageState::Committed(protect),
            |change| {
                tables.protect(change.start, change.end, access);
            },
        );
        Ok((start, end - start, old))
    }

    /// MiQueryMemoryBasicInformation for a user `address` (at most
    /// `MM_HIGHEST_USER_ADDRESS`). The 64 KiB no allocation may use at the top of the user
    /// half reads as one reserved region, as NT reports it.
    pub fn query_virtual_memory(&self, address: u64) -> MemoryBasicInformation {
        if address > MM_HIGHEST_VAD_ADDRESS {
            let page = address & !(PAGE_SIZE - 1);
            return MemoryBasicInformation {
                base_address: page,
                allocation_base: MM_HIGHEST_VAD_ADDRESS + 1,
                allocation_protect: PAGE_READONLY,
                region_size: MM_HIGHEST_USER_ADDRESS + 1 - page,
                state: MEM_RESERVE,
                protect: PAGE_NOACCESS,
                kind: MEM_PRIVATE,
                ..MemoryBasicInformation::default()
            };
        }
        self.vads.query(address, MM_HIGHEST_VAD_ADDRESS + 1)
    }
}

/// MmDeleteProcessAddressSpace: every committed page goes back, with the page tables
/// that mapped it; the shared user data page stays the system's.
///
/// The user half goes in one walk, not run by run: each run's walk rewrote the entries of
/// the upper tables above it (their use counts), and on kvm-pvm the host traps and
/// emulates every write to a live upper table (6-13 us each). One walk writes each entry
/// once.
impl<T: PageTables> Drop for AddressSpace<T> {
    fn drop(&mut self) {
        let Self { tables, vads } = self;
        let mut private_pages = 0;
        let mut system_frame = None;
        for (start, end, kind) in vads.committed_runs() {
            match kind {
                VadKind::SharedUserData => system_frame = tables.translate(start).map(|m| m.0),
                VadKind::Private => private_pages += (end - start) / PAGE_SIZE,
                VadKind::Image | VadKind::Mapped => {}
            }
        }
        tables.unmap_all(system_frame);
        tables.return_commit(private_pages);
    }
}

/// The page-aligned range covering `[base, base + size)`; `base + size` must not overflow
/// (the range checks guarantee it).
fn rounded_range(base: u64, size: u64) -> (u64, u64) {
    let start = base & !(PAGE_SIZE - 1);
    let end = ((base + size.max(1) - 1) | (PAGE_SIZE - 1)) + 1;
    (start, end)
}

/// [`rounded_range`] for the kernel's own allocations: a non-empty range of allocatable
/// addresses, or STATUS_INVALID_PARAMETER.
fn page_range(base: u64, size: u64) -> Result<(u64, u64), NtStatus> {
    let last = base
        .checked_add(size)
        .and_then(|end| end.checked_sub(1))
        .filter(|&last| size != 0 && last <= MM_HIGHEST_VAD_ADDRESS)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    Ok((base & !(PAGE_SIZE - 1), (last | (PAGE_SIZE - 1)) + 1))
}

/// The highest address an allocation placed by the system may use with `zero_bits` (a count
/// of high address bits that must be zero, counted from bit 31 as Win64 does, or from 32
/// on a mask of the allowed bits); STATUS_INVALID_PARAMETER_3 for more than 21 of them.
fn highest_address(zero_bits: u64) -> Result<u64, NtStatus> {
    let bits = match zero_bits {
        0 => return Ok(MM_HIGHEST_VAD_ADDRESS),
        1..32 => zero_bits + 32,
        _ => u64::from(zero_bits.leading_zeros()),
    };
    if bits > 53 {
        return Err(NtStatus::INVALID_PARAMETER_3);
    }
    Ok((u64::MAX >> bits).min(MM_HIGHEST_VAD_ADDRESS))
}

/// NtAllocateVirtualMemory's checks before it touches its pointer arguments: ZeroBits
/// (STATUS_INVALID_PARAMETER_3), AllocationType (_5) and Protect
/// (STATUS_INVALID_PAGE_PROTECTION). `MEM_RESET` goes alone; `MEM_PHYSICAL`,
/// `MEM_WRITE_WATCH` and `MEM_LARGE_PAGES` are not supported.
pub fn check_allocation_type(
    zero_bits: u64,
    allocation_type: u32,
    protect: u32,
) -> Result<(), NtStatus> {
    highest_address(zero_bits)?;
    let known = MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_TOP_DOWN;
    let base_type = allocation_type & (MEM_COMMIT | MEM_RESERVE | MEM_RESET);
    if allocation_type & !known != 0
        || base_type == 0
        || (allocation_type & MEM_RESET != 0 && allocation_type != MEM_RESET)
    {
        return Err(NtStatus::INVALID_PARAMETER_5);
    }
    validate_protection(protect)
}

/// NtAllocateVirtualMemory's checks of the captured base and size: below the highest VAD
/// address (STATUS_INVALID_PARAMETER_2), and a non-zero size that stays there (_4).
pub fn check_allocation_range(base: u64, size: u64) -> Result<(), NtStatus> {
    if base > MM_HIGHEST_VAD_ADDRESS {
        return Err(NtStatus::INVALID_PARAMETER_2);
    }
    if size == 0 || MM_HIGHEST_VAD_ADDRESS + 1 - base < size {
        return Err(NtStatus::INVALID_PARAMETER_4);
    }
    Ok(())
}

/// NtFreeVirtualMemory's FreeType: exactly `MEM_DECOMMIT` or `MEM_RELEASE`
/// (STATUS_INVALID_PARAMETER_4).
pub fn check_free_type(free_type: u32) -> Result<(), NtStatus> {
    match free_type {
        MEM_DECOMMIT | MEM_RELEASE => Ok(()),
        _ => Err(NtStatus::INVALID_PARAMETER_4),
    }
}

/// NtFreeVirtualMemory's checks of the captured base (STATUS_INVALID_PARAMETER_2) and size
/// (_3): user addresses only.
pub fn check_free_range(base: u64, size: u64) -> Result<(), NtStatus> {
    if base > MM_HIGHEST_USER_ADDRESS {
        return Err(NtStatus::INVALID_PARAMETER_2);
    }
    if MM_HIGHEST_USER_ADDRESS - base < size {
        return Err(NtStatus::INVALID_PARAMETER_3);
    }
    Ok(())
}

/// NtProtectVirtualMemory's checks of the captured base (STATUS_INVALID_PARAMETER_2) and
/// size (_3, also when zero).
pub fn check_protect_range(base: u64, size: u64) -> Result<(), NtStatus> {
    if base > MM_HIGHEST_USER_ADDRESS {
        return Err(NtStatus::INVALID_PARAMETER_2);
    }
    if size == 0 || MM_USER_PROBE_ADDRESS - base < size {
        return Err(NtStatus::INVALID_PARAMETER_3);
    }
    Ok(())
}
