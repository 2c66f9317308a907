//! The kernel pool (nonpaged pool): the Rust global allocator, a talc heap over an arena
//! in the kernel image, and its counters.

use talc::TalcLock;
use talc::source::Claim;

const POOL_SIZE: usize = 8 * 1024 * 1024;
/// Pool that services creating objects on a caller's behalf leave to the kernel, so the
/// allocations a service makes on its way (a kernel stack, a PML4 pair, the records it
/// builds) never find the pool empty: those are infallible, and their failure would stop
/// the system.
const POOL_RESERVE: usize = 1024 * 1024;

#[global_allocator]
static POOL: TalcLock<spin::Mutex<()>, Claim> = TalcLock::new({
    static mut ARENA: [u8; POOL_SIZE] = [0; POOL_SIZE];
    // SAFETY: the arena is used by nothing but this allocator, which owns it from here on.
    unsafe { Claim::array(&raw mut ARENA) }
});

/// What the pool has handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounters {
    /// Bytes in live allocations.
    pub bytes_in_use: u64,
    /// Allocations made and freed since boot.
    pub allocations: u64,
    pub frees: u64,
}

/// STATUS_INSUFFICIENT_RESOURCES once no more than [`POOL_RESERVE`] is left: what a failed
/// pool allocation (ExAllocatePoolWithTag) means for the caller of a service.
pub fn ensure_headroom() -> Result<(), abi::NtStatus> {
    let in_use = POOL.lock().counters().allocated_bytes;
    if in_use + POOL_RESERVE <= POOL_SIZE {
        Ok(())
    } else {
        Err(abi::NtStatus::INSUFFICIENT_RESOURCES)
    }
}

pub fn counters() -> PoolCounters {
    let counters = *POOL.lock().counters();
    let live = counters.allocation_count as u64;
    PoolCounters {
        bytes_in_use: counters.allocated_bytes as u64,
        allocations: counters.total_allocation_count,
        frees: counters.total_allocation_count - live,
    }
}
