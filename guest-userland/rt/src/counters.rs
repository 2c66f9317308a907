//! The system-wide counters a program reads to prove it gave back what it took: available
//! frames, pool, processes and handles, from NtQuerySystemInformation.

use abi::process::SystemProcessInformation;
use abi::system_information::{SYSTEM_PERFORMANCE_INFORMATION_CLASS, SystemPerformanceInformation};

use crate::NtStatus;
use crate::process::{QuerySystemInformation, for_each_process_with};
use crate::syscall::{nt_delay_execution, nt_query_system_information};

/// What must come back to where it started once a program's work is undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub available_pages: u32,
    /// Private pages committed in every process.
    pub committed_pages: u32,
    /// Live pool allocations (made minus freed).
    pub pool_allocations: u32,
    pub pool_pages: u32,
    pub processes: u32,
    pub handles: u32,
}

impl core::fmt::Display for Counters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} available pages, {} committed, {} pool allocations in {} pages, {} processes, {} \
             handles",
            self.available_pages,
            self.committed_pages,
            self.pool_allocations,
            self.pool_pages,
            self.processes,
            self.handles
        )
    }
}

/// The counters now: SystemPerformanceInformation, and SystemProcessInformation summed.
pub fn counters() -> Result<Counters, NtStatus> {
    counters_with(nt_query_system_information)
}

/// How often, 10 ms apart, [`settle`] reads again.
const SETTLE_READINGS: u32 = 100;

/// Reads with `read` until `settled` accepts the reading, for up to a second, and returns
/// the last one: with several processors, a process whose end a program just waited for
/// may still be leaving another processor (its last thread's object and kernel stack go
/// once that processor has switched away), and what it held comes back a moment later.
pub fn settle<T>(
    mut read: impl FnMut() -> Result<T, NtStatus>,
    mut settled: impl FnMut(&T) -> bool,
) -> Result<T, NtStatus> {
    for _ in 1..SETTLE_READINGS {
        let reading = read()?;
        if settled(&reading) {
            return Ok(reading);
        }
        let interval = -100_000i64;
        // SAFETY: the interval is a local.
        unsafe { nt_delay_execution(0, &interval) };
    }
    read()
}

/// [`counters`] through `query`.
pub fn counters_with(query: QuerySystemInformation) -> Result<Counters, NtStatus> {
    // SAFETY: integers only: all zeroes is a value.
    let mut performance: SystemPerformanceInformation = unsafe { core::mem::zeroed() };
    // SAFETY: a local of the size passed.
    let status = unsafe {
        query(
            SYSTEM_PERFORMANCE_INFORMATION_CLASS,
            (&raw mut performance).cast(),
            size_of::<SystemPerformanceInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if !status.is_success() {
        return Err(status);
    }
    let mut buffer = [0u64; 2048];
    let (mut processes, mut handles) = (0, 0);
    for_each_process_with(
        query,
        &mut buffer,
        |process: &SystemProcessInformation, _| {
            processes += 1;
            handles += process.handle_count;
        },
    )?;
    Ok(Counters {
        available_pages: performance.available_pages,
        committed_pages: performance.committed_pages,
        pool_allocations: performance
            .non_paged_pool_allocs
            .wrapping_sub(performance.non_paged_pool_frees),
        pool_pages: performance.non_paged_pool_pages,
        processes,
        handles,
    })
}

/// The threads alive in the whole system: SystemProcessInformation's thread counts summed.
/// [`Counters`] leaves them out; a program that creates and ends threads checks them too.
pub fn live_threads() -> Result<u32, NtStatus> {
    let mut buffer = [0u64; 2048];
    let mut threads = 0;
    for_each_process_with(
        nt_query_system_information,
        &mut buffer,
        |process: &SystemProcessInformation, _| {
            threads += process.number_of_threads;
        },
    )?;
    Ok(threads)
}
