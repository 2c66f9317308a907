//! NtQuerySystemInformation: the classes the kernel answers, each with its NT structure.
//! Memory counters come from the PFN database and the pool.

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{MM_ALLOCATION_GRANULARITY, MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS};
use abi::system_information::{
    SYSTEM_BASIC_INFORMATION_CLASS, SYSTEM_MEMORY_LIST_INFORMATION_CLASS,
    SYSTEM_PERFORMANCE_INFORMATION_CLASS, SystemBasicInformation, SystemMemoryListInformation,
    SystemPerformanceInformation,
};

use super::user_args::{bytes_of, probe_for_write, write_bytes};
use crate::arch::TrapFrame;
use crate::ke::clock::CLOCK_INTERVAL_MS;
use crate::mm::{self, probe::Plain};

// SAFETY: seven u32, a u32 of padding spelled out, three u64, an i8 and seven bytes: no
// padding (size 0x40, pinned by `abi::system_information`'s assertions).
unsafe impl Plain for SystemBasicInformation {}
// SAFETY: four i64 then u32s only: no padding (size 0x138).
unsafe impl Plain for SystemPerformanceInformation {}
// SAFETY: u64s only (size 0xB0).
unsafe impl Plain for SystemMemoryListInformation {}

/// Counters reported in NT's 32-bit fields, saturated.
fn ulong(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// `NtQuerySystemInformation(SystemInformationClass, SystemInformation,
/// SystemInformationLength, PULONG ReturnLength)`. The size a class needs goes to
/// ReturnLength, also when the buffer is too small (STATUS_INFO_LENGTH_MISMATCH).
pub fn nt_query_system_information(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let (class, buffer, length, return_length) =
        (frame.r10 as u32, frame.rdx, frame.r8 as u32, frame.r9);
    let length = length as usize;
    probe_for_write(buffer, length, size_of::<u32>() as u64)?;
    if return_length != 0 {
        probe_for_write(return_length, size_of::<u32>(), size_of::<u32>() as u64)?;
    }
    let (needed, fits) = match class {
        SYSTEM_BASIC_INFORMATION_CLASS => {
            let needed = size_of::<SystemBasicInformation>();
            (needed, length == needed)
        }
        SYSTEM_PERFORMANCE_INFORMATION_CLASS => {
            let needed = size_of::<SystemPerformanceInformation>();
            (needed, length >= needed)
        }
        SYSTEM_MEMORY_LIST_INFORMATION_CLASS => {
            let needed = size_of::<SystemMemoryListInformation>();
            (needed, length >= needed)
        }
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    if return_length != 0 {
        write_bytes(return_length, &(needed as u32).to_le_bytes())?;
    }
    if !fits {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    match class {
        SYSTEM_BASIC_INFORMATION_CLASS => write_bytes(buffer, bytes_of(&basic_information()))?,
        SYSTEM_PERFORMANCE_INFORMATION_CLASS => {
            write_bytes(buffer, bytes_of(&performance_information()))?;
        }
        _ => write_bytes(buffer, bytes_of(&memory_list_information()))?,
    }
    Ok(NtStatus::SUCCESS)
}

/// `SystemBasicInformation`: page size, the frames the PFN database manages, the user
/// address range, one processor.
fn basic_information() -> SystemBasicInformation {
    let frames = mm::pfn_counters();
    SystemBasicInformation {
        timer_resolution: (CLOCK_INTERVAL_MS * 10_000) as u32,
        page_size: PAGE_SIZE as u32,
        number_of_physical_pages: ulong(frames.total),
        lowest_physical_page_number: ulong(frames.lowest_frame),
        highest_physical_page_number: ulong(frames.highest_frame),
        allocation_granularity: MM_ALLOCATION_GRANULARITY as u32,
        minimum_user_mode_address: MM_LOWEST_USER_ADDRESS,
        maximum_user_mode_address: MM_HIGHEST_USER_ADDRESS,
        active_processors_affinity_mask: 1,
        number_of_processors: 1,
        ..SystemBasicInformation::default()
    }
}

/// `SystemPerformanceInformation`: available frames, page faults, pool use.
fn performance_information() -> SystemPerformanceInformation {
    let frames = mm::pfn_counters();
    let pool = mm::pool_counters();
    let (page_faults, demand_zero) = mm::fault_counters();
    SystemPerformanceInformation {
        available_pages: ulong(frames.zeroed + frames.free),
        page_fault_count: page_faults,
        demand_zero_count: demand_zero,
        non_paged_pool_pages: ulong(pool.bytes_in_use.div_ceil(PAGE_SIZE)),
        non_paged_pool_allocs: ulong(pool.allocations),
        non_paged_pool_frees: ulong(pool.frees),
        ..SystemPerformanceInformation::default()
    }
}

/// `SystemMemoryListInformation`: free frames by list.
fn memory_list_information() -> SystemMemoryListInformation {
    let frames = mm::pfn_counters();
    SystemMemoryListInformation {
        zero_page_count: frames.zeroed,
        free_page_count: frames.free,
        ..SystemMemoryListInformation::default()
    }
}
