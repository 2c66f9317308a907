//! User address spaces: a PML4 sharing the kernel half, the ranges reserved in it (the
//! seed of the VAD tree) and the frames that back it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use ::x86_64::PhysAddr;
use ::x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};
use abi::NtStatus;
use abi::layout::{PAGE_SIZE, phys_to_virt};
use abi::nt::KUSER_SHARED_DATA_ADDRESS;

use super::{pfn, shared_data};
use crate::arch::paging::{self, MapError, UserAccess};

/// Hands page-table pages to the arch layer from the frame allocator.
struct PageTableFrames;

// SAFETY: `pfn::allocate_frame` returns distinct, zero-filled, otherwise unused frames.
unsafe impl FrameAllocator<Size4KiB> for PageTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        pfn::allocate_frame().map(|frame| PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}

/// A reserved range of user addresses (a VAD): pages in it are committed up front or, when
/// `demand_zero`, on first touch.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    start: u64,
    end: u64,
    access: UserAccess,
    demand_zero: bool,
}

/// One process's user address space.
#[derive(Debug)]
pub struct AddressSpace {
    root: u64,
    reservations: Vec<Reservation>,
    /// Committed user pages and the frames behind them.
    pages: BTreeMap<u64, u64>,
}

impl AddressSpace {
    /// A user half holding only KUSER_SHARED_DATA, over the shared kernel half.
    pub fn new() -> Result<Self, NtStatus> {
        let root = pfn::allocate_frame().ok_or(NtStatus::NO_MEMORY)?;
        paging::init_user_root(root);
        let mut space = Self {
            root,
            reservations: Vec::new(),
            pages: BTreeMap::new(),
        };
        let read_only = UserAccess {
            write: false,
            execute: false,
        };
        space.reserve(KUSER_SHARED_DATA_ADDRESS, PAGE_SIZE, read_only, false)?;
        let frame = shared_data::frame();
        paging::map_user_page(
            root,
            KUSER_SHARED_DATA_ADDRESS,
            frame,
            read_only,
            &mut PageTableFrames,
        )
        .map_err(|_| NtStatus::NO_MEMORY)?;
        Ok(space)
    }

    /// Physical address of the PML4.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Reserves `[start, start + len)` and commits all of it now.
    pub fn commit(&mut self, start: u64, len: u64, access: UserAccess) -> Result<(), NtStatus> {
        let reservation = self.reserve(start, len, access, false)?;
        let mut page = reservation.start;
        while page < reservation.end {
            self.commit_page(page, access)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Reserves `[start, start + len)`; its pages are committed zero-filled on first touch.
    pub fn reserve_demand_zero(
        &mut self,
        start: u64,
        len: u64,
        access: UserAccess,
    ) -> Result<(), NtStatus> {
        self.reserve(start, len, access, true).map(|_| ())
    }

    fn reserve(
        &mut self,
        start: u64,
        len: u64,
        access: UserAccess,
        demand_zero: bool,
    ) -> Result<Reservation, NtStatus> {
        let end = start.checked_add(len).ok_or(NtStatus::INVALID_PARAMETER)?;
        let (start, end) = (start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE));
        if len == 0 || !crate::arch::user::is_user_range(start, end - start) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if self
            .reservations
            .iter()
            .any(|r| r.start < end && start < r.end)
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let reservation = Reservation {
            start,
            end,
            access,
            demand_zero,
        };
        self.reservations.push(reservation);
        Ok(reservation)
    }

    fn commit_page(&mut self, page: u64, access: UserAccess) -> Result<(), NtStatus> {
        let frame = pfn::allocate_frame().ok_or(NtStatus::NO_MEMORY)?;
        paging::map_user_page(self.root, page, frame, access, &mut PageTableFrames).map_err(
            |error| match error {
                MapError::OutOfFrames => NtStatus::NO_MEMORY,
                MapError::BadAddress => NtStatus::INVALID_PARAMETER,
            },
        )?;
        self.pages.insert(page, frame);
        Ok(())
    }

    /// Resolves a user page fault at `address`: true when the page was demand-zero and
    /// is now committed.
    pub fn resolve_fault(&mut self, address: u64) -> bool {
        let page = address & !(PAGE_SIZE - 1);
        if self.pages.contains_key(&page) {
            return false;
        }
        let Some(reservation) = self
            .reservations
            .iter()
            .find(|r| r.demand_zero && r.start <= page && page < r.end)
        else {
            return false;
        };
        self.commit_page(page, reservation.access).is_ok()
    }

    /// Copies `bytes` to user address `address` in this address space, which need not be the
    /// current one: every page must be committed.
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
        let mut done = 0;
        while done < bytes.len() {
            let target = address
                .checked_add(done as u64)
                .ok_or(NtStatus::ACCESS_VIOLATION)?;
            let page = target & !(PAGE_SIZE - 1);
            let offset = (target - page) as usize;
            let frame = *self.pages.get(&page).ok_or(NtStatus::ACCESS_VIOLATION)?;
            let take = (PAGE_SIZE as usize - offset).min(bytes.len() - done);
            // SAFETY: `frame` is a frame this address space owns, reached through the
            // direct map; `offset + take` stays within the page.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes[done..].as_ptr(),
                    (phys_to_virt(frame) as *mut u8).add(offset),
                    take,
                );
            }
            done += take;
        }
        Ok(())
    }
}
