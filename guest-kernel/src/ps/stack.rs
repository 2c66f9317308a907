//! User-mode thread stacks as NT lays them out: a reservation, its top committed, and a
//! guard page below the committed part. A touch of the guard page grows the stack by a
//! page and moves the guard down (MiCheckForUserStackOverflow); when the guard would reach
//! the last page of the reservation the thread gets STATUS_STACK_OVERFLOW instead.

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{MEM_COMMIT, PAGE_GUARD, PAGE_READWRITE};
use core::mem::offset_of;
use core::sync::atomic::Ordering;

use super::Thread;
use crate::mm::AddressSpace;

/// Commits the stack reserved at `[deallocation, deallocation + reserve)`: its top `commit`
/// bytes, resident at once so a new thread's first instructions take no fault, and the
/// guard page below them when the reservation has room for one. Returns the stack base
/// and `StackLimit` (the lowest committed address) for the TEB.
pub fn commit_user_stack(
    space: &mut AddressSpace,
    deallocation: u64,
    reserve: u64,
    commit: u64,
) -> Result<(u64, u64), NtStatus> {
    let base = deallocation + reserve;
    let limit = base - commit;
    space.allocate_virtual_memory(limit, commit, 0, MEM_COMMIT, PAGE_READWRITE)?;
    if let Some(guard) = guard_below(limit, deallocation) {
        space.allocate_virtual_memory(
            guard,
            PAGE_SIZE,
            0,
            MEM_COMMIT,
            PAGE_READWRITE | PAGE_GUARD,
        )?;
    }
    space.make_resident(limit, commit)?;
    Ok((base, limit))
}

/// Where the guard page goes below a committed stack part starting at `limit`: nowhere
/// when that would be the reservation's last page, which stays uncommitted, as on NT.
fn guard_below(limit: u64, deallocation: u64) -> Option<u64> {
    let guard = limit.checked_sub(PAGE_SIZE)?;
    (guard > deallocation).then_some(guard)
}

/// A guard-page fault at `address` on `thread`'s own stack: the page just touched stays
/// committed, the guard moves one page down and the TEB's `StackLimit` follows. Returns
/// STATUS_STACK_OVERFLOW when the reservation has no room left for a guard, and
/// STATUS_GUARD_PAGE_VIOLATION for a guard page that is not the stack's.
pub fn grow_user_stack(
    thread: &Thread,
    space: &mut AddressSpace,
    address: u64,
) -> Result<(), NtStatus> {
    let deallocation = thread.user_stack.load(Ordering::Relaxed);
    let teb = thread.teb();
    let mut stack_base = [0u8; 8];
    if deallocation == 0
        || teb == 0
        || space
            .read(
                teb + offset_of!(abi::nt::Teb, stack_base) as u64,
                &mut stack_base,
            )
            .is_err()
    {
        return Err(NtStatus::GUARD_PAGE_VIOLATION);
    }
    let page = address & !(PAGE_SIZE - 1);
    if !(deallocation..u64::from_le_bytes(stack_base)).contains(&page) {
        return Err(NtStatus::GUARD_PAGE_VIOLATION);
    }
    let guard = guard_below(page, deallocation).ok_or(NtStatus::STACK_OVERFLOW)?;
    space.allocate_virtual_memory(guard, PAGE_SIZE, 0, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)?;
    space.write(
        teb + offset_of!(abi::nt::Teb, stack_limit) as u64,
        &page.to_le_bytes(),
    )
}
