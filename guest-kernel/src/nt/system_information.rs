//! NtQuerySystemInformation: the classes the kernel answers, each with its NT structure.
//! Memory counters come from the PFN database and the pool, the process list from
//! `PsActiveProcessHead`.

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{MM_ALLOCATION_GRANULARITY, MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS};
use abi::nt::UnicodeString;
use abi::system_information::{
    SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS, SYSTEM_BASIC_INFORMATION_CLASS,
    SYSTEM_MEMORY_LIST_INFORMATION_CLASS, SYSTEM_PERFORMANCE_INFORMATION_CLASS,
    SystemAddressSpaceSwitchInformation, SystemBasicInformation, SystemMemoryListInformation,
    SystemPerformanceInformation,
};

use abi::process::{
    SYSTEM_PROCESS_INFORMATION_CLASS, SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS,
    SystemProcessInformation, SystemProcessNotifyCounters, SystemThreadInformation,
};
use alloc::vec::Vec;

use super::user_args::{bytes_of, probe_for_write, write_bytes};
use crate::arch::TrapFrame;
use crate::ke::clock::CLOCK_INTERVAL_MS;
use crate::ke::dispatcher::active_processors;
use crate::ke::thread::{ThreadState, WaitReason};
use crate::mm::{self, probe::Plain};
use crate::ps;

// SAFETY: seven u32, a u32 of padding spelled out, three u64, an i8 and seven bytes: no
// padding (size 0x40, pinned by `abi::system_information`'s assertions).
unsafe impl Plain for SystemBasicInformation {}
// SAFETY: four i64 then u32s only: no padding (size 0x138).
unsafe impl Plain for SystemPerformanceInformation {}
// SAFETY: u64s only (size 0xB0).
unsafe impl Plain for SystemMemoryListInformation {}
// SAFETY: u32, i64 and u64 fields, a UNICODE_STRING, every padding spelled out as a field
// (size 0x100, pinned by `abi::process`'s assertions).
unsafe impl Plain for SystemProcessInformation {}
// SAFETY: i64s, u32s and i32s in pairs, a u64 and a CLIENT_ID: no padding (size 0x50).
unsafe impl Plain for SystemThreadInformation {}
// SAFETY: two u64.
unsafe impl Plain for SystemProcessNotifyCounters {}
// SAFETY: two u32 then two u64: no padding (size 0x18).
unsafe impl Plain for SystemAddressSpaceSwitchInformation {}

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
    // SystemProcessInformation's records are built first: their size is what it needs.
    let processes =
        (class == SYSTEM_PROCESS_INFORMATION_CLASS).then(|| process_information(buffer));
    let (needed, fits) = match class {
        SYSTEM_PROCESS_INFORMATION_CLASS => {
            let needed = processes.as_ref().map_or(0, Vec::len);
            (needed, length >= needed)
        }
        SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS => {
            let needed = size_of::<SystemProcessNotifyCounters>();
            (needed, length >= needed)
        }
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
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS => {
            let needed = size_of::<SystemAddressSpaceSwitchInformation>();
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
        SYSTEM_PROCESS_INFORMATION_CLASS => {
            write_bytes(buffer, processes.as_deref().unwrap_or_default())?;
        }
        SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS => {
            write_bytes(buffer, bytes_of(&ps::notify_counters()))?;
        }
        SYSTEM_BASIC_INFORMATION_CLASS => write_bytes(buffer, bytes_of(&basic_information()))?,
        SYSTEM_PERFORMANCE_INFORMATION_CLASS => {
            write_bytes(buffer, bytes_of(&performance_information()))?;
        }
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS => {
            write_bytes(buffer, bytes_of(&address_space_switch_information()))?;
        }
        _ => write_bytes(buffer, bytes_of(&memory_list_information()))?,
    }
    Ok(NtStatus::SUCCESS)
}

/// `SystemBasicInformation`: page size, the frames the PFN database manages, the user
/// address range, the active processors.
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
        active_processors_affinity_mask: active_processors(),
        number_of_processors: active_processors().count_ones() as i8,
        ..SystemBasicInformation::default()
    }
}

/// How the processors switch address spaces: PCIDs or not, and the CR3 loads.
fn address_space_switch_information() -> SystemAddressSpaceSwitchInformation {
    let (loads, loads_keeping_translations) = crate::arch::paging::cr3_load_counts();
    SystemAddressSpaceSwitchInformation {
        process_context_ids: u32::from(crate::arch::paging::pcids_in_use()),
        reserved: 0,
        loads,
        loads_keeping_translations,
    }
}

/// `SystemPerformanceInformation`: available frames, commitment, page faults, pool use.
fn performance_information() -> SystemPerformanceInformation {
    let frames = mm::pfn_counters();
    let pool = mm::pool_counters();
    let (page_faults, demand_zero) = mm::fault_counters();
    let (committed, commit_limit) = mm::commit_counters();
    SystemPerformanceInformation {
        available_pages: ulong(frames.zeroed + frames.free),
        committed_pages: ulong(committed),
        commit_limit: ulong(commit_limit),
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

/// `SystemProcessInformation` (`ExpGetProcessInformation`) as it will sit at user address
/// `buffer`: per process on `PsActiveProcessHead`, a `SYSTEM_PROCESS_INFORMATION`, one
/// `SYSTEM_THREAD_INFORMATION` per thread, then the image name (NUL-terminated, the record
/// padded to 8 bytes), which `ImageName` points at. `NextEntryOffset` links the records;
/// the last one's is 0.
fn process_information(buffer: u64) -> Vec<u8> {
    let mut records = Vec::new();
    let mut last_record = None;
    for process in ps::active_processes() {
        let start = records.len();
        if let Some(last) = last_record {
            let offset = (start - last) as u32;
            records[last..last + 4].copy_from_slice(&offset.to_le_bytes());
        }
        last_record = Some(start);
        let threads = process.threads();
        let name: Vec<u8> = process
            .image_file_name
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let name_offset = size_of::<SystemProcessInformation>()
            + threads.len() * size_of::<SystemThreadInformation>();
        let name_length = u16::try_from(name.len()).unwrap_or(u16::MAX - 1) & !1;
        let record = SystemProcessInformation {
            number_of_threads: threads.len() as u32,
            create_time: process.create_time() as i64,
            image_name: UnicodeString {
                length: name_length,
                maximum_length: name_length + 2,
                reserved: 0,
                buffer: buffer + (start + name_offset) as u64,
            },
            base_priority: i32::from(process.pcb.base_priority()),
            unique_process_id: process.unique_process_id(),
            inherited_from_unique_process_id: process.inherited_from_unique_process_id(),
            handle_count: ulong(process.object_table.handle_count() as u64),
            ..SystemProcessInformation::default()
        };
        records.extend_from_slice(bytes_of(&record));
        for thread in &threads {
            let scheduling = thread.tcb.scheduling();
            let record = SystemThreadInformation {
                client_id: thread.client_id(),
                priority: i32::from(scheduling.priority),
                base_priority: i32::from(scheduling.base_priority),
                thread_state: thread_state(scheduling.state),
                wait_reason: scheduling.wait_reason.map_or(0, wait_reason),
                ..SystemThreadInformation::default()
            };
            drop(scheduling);
            records.extend_from_slice(bytes_of(&record));
        }
        records.extend_from_slice(&name[..usize::from(name_length)]);
        records.extend_from_slice(&[0, 0]);
        records.resize(records.len().next_multiple_of(8), 0);
    }
    records
}

/// `KTHREAD_STATE`.
fn thread_state(state: ThreadState) -> u32 {
    match state {
        ThreadState::Initialized => 0,
        ThreadState::Ready => 1,
        ThreadState::Running => 2,
        ThreadState::Standby => 3,
        ThreadState::Terminated => 4,
        ThreadState::Waiting => 5,
        ThreadState::DeferredReady => 7,
    }
}

/// `KWAIT_REASON`.
fn wait_reason(reason: WaitReason) -> u32 {
    match reason {
        WaitReason::FreePage => 1,
        WaitReason::DelayExecution => 4,
        WaitReason::Suspended => 5,
        WaitReason::UserRequest => 6,
    }
}
