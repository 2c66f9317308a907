//! `vmtest`: exercises the virtual-memory services (NtAllocateVirtualMemory,
//! NtFreeVirtualMemory, NtProtectVirtualMemory, NtQueryVirtualMemory, NtReadVirtualMemory,
//! NtWriteVirtualMemory) and the memory counters of NtQuerySystemInformation.
//!
//! Without arguments it runs every check that leaves the process alive, printing one
//! `ok:` or `WRONG:` line each, and exits 0 only when all were right. With a `fault-*`
//! argument it sets up one access that must end the process, and makes it:
//!
//! | argument | ends with |
//! |---|---|
//! | `fault-readonly` | a write to a page protected read-only: STATUS_ACCESS_VIOLATION |
//! | `fault-guard` | the first touch of a guard page: STATUS_GUARD_PAGE_VIOLATION |
//! | `fault-decommitted` | a read of a decommitted page: STATUS_ACCESS_VIOLATION |
//! | `fault-released` | a read of a released page: STATUS_ACCESS_VIOLATION |
//! | `fault-noaccess` | a read of a PAGE_NOACCESS page: STATUS_ACCESS_VIOLATION |
//! | `fault-execute` | a call into a read-write (no-execute) page: STATUS_ACCESS_VIOLATION |
#![no_std]
#![no_main]

use core::fmt;

use abi::memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_FREE, MEM_IMAGE, MEM_PRIVATE, MEM_RELEASE, MEM_RESERVE,
    MEM_RESET, MEM_TOP_DOWN, MEMORY_BASIC_INFORMATION_CLASS, MM_HIGHEST_USER_ADDRESS,
    MM_HIGHEST_VAD_ADDRESS, MM_LOWEST_USER_ADDRESS, MemoryBasicInformation, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
    PAGE_WRITECOPY,
};
use abi::nt::KUSER_SHARED_DATA_ADDRESS;
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use abi::system_information::{
    SYSTEM_BASIC_INFORMATION_CLASS, SYSTEM_MEMORY_LIST_INFORMATION_CLASS,
    SYSTEM_PERFORMANCE_INFORMATION_CLASS, SystemBasicInformation, SystemMemoryListInformation,
    SystemPerformanceInformation,
};
use rt::process::query_system;
use rt::syscall::{
    nt_allocate_virtual_memory, nt_delay_execution, nt_free_virtual_memory,
    nt_protect_virtual_memory, nt_query_system_information, nt_query_virtual_memory,
    nt_read_virtual_memory, nt_write_virtual_memory, query_virtual_memory,
};
use rt::{Args, NtStatus, println};

mod bad_input;
mod faults;

use bad_input::{bad_allocations, bad_frees, bad_protections, bad_queries, bad_transfers};
use faults::{
    fault_decommitted, fault_execute, fault_guard, fault_noaccess, fault_readonly, fault_released,
};

rt::entry!(main);

const PROCESS: u64 = CURRENT_PROCESS_HANDLE;
const PAGE: u64 = 0x1000;
const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
/// A user address nothing is allocated at.
const UNALLOCATED: u64 = 0x0000_0300_0000_0000;
/// Where the explicit-address reservations go: a PML4 slot of their own.
const FIXED_BASE: u64 = 0x0000_0100_0000_0000;

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        None => run_checks(),
        Some("fault-readonly") => fault_readonly(),
        Some("fault-guard") => fault_guard(),
        Some("fault-decommitted") => fault_decommitted(),
        Some("fault-released") => fault_released(),
        Some("fault-noaccess") => fault_noaccess(),
        Some("fault-execute") => fault_execute(),
        Some(other) => {
            println!("vmtest: unknown mode '{other}'; modes: fault-readonly, fault-guard,");
            println!("  fault-decommitted, fault-released, fault-noaccess, fault-execute");
            NtStatus::INVALID_PARAMETER
        }
    }
}

// The services, on this process, with locals for their in-out arguments.

/// NtAllocateVirtualMemory: (status, base, size).
fn allocate(base: u64, size: u64, allocation_type: u32, protect: u32) -> (NtStatus, u64, u64) {
    allocate_with_zero_bits(base, size, 0, allocation_type, protect)
}

fn allocate_with_zero_bits(
    base: u64,
    size: u64,
    zero_bits: u64,
    allocation_type: u32,
    protect: u32,
) -> (NtStatus, u64, u64) {
    let (mut base, mut size) = (base, size);
    // SAFETY: both pointers are to locals; a new allocation touches nothing in use.
    let status = unsafe {
        nt_allocate_virtual_memory(
            PROCESS,
            &mut base,
            zero_bits,
            &mut size,
            allocation_type,
            protect,
        )
    };
    (status, base, size)
}

/// NtFreeVirtualMemory: (status, base, size).
fn free(base: u64, size: u64, free_type: u32) -> (NtStatus, u64, u64) {
    let (mut base, mut size) = (base, size);
    // SAFETY: both pointers are to locals; this program frees only memory it allocated
    // and holds no reference into.
    let status = unsafe { nt_free_virtual_memory(PROCESS, &mut base, &mut size, free_type) };
    (status, base, size)
}

/// NtProtectVirtualMemory: (status, old protection, base, size).
fn protect(base: u64, size: u64, new_protect: u32) -> (NtStatus, u32, u64, u64) {
    let (mut base, mut size, mut old) = (base, size, 0);
    // SAFETY: all pointers are to locals; this program touches the pages it protects only
    // as the new protection allows.
    let status =
        unsafe { nt_protect_virtual_memory(PROCESS, &mut base, &mut size, new_protect, &mut old) };
    (status, old, base, size)
}

/// NtReadVirtualMemory into `buffer`: (status, bytes read).
fn read(address: u64, buffer: &mut [u8]) -> (NtStatus, u64) {
    let mut done = u64::MAX;
    // SAFETY: `buffer` is writable for its length; the count is a local.
    let status = unsafe {
        nt_read_virtual_memory(
            PROCESS,
            address,
            buffer.as_mut_ptr(),
            buffer.len() as u64,
            &mut done,
        )
    };
    (status, done)
}

/// NtWriteVirtualMemory from `bytes`: (status, bytes written).
fn write(address: u64, bytes: &[u8]) -> (NtStatus, u64) {
    let mut done = u64::MAX;
    // SAFETY: `bytes` is readable for its length; the count is a local; the target is
    // memory this program allocated for the test.
    let status = unsafe {
        nt_write_virtual_memory(
            PROCESS,
            address,
            bytes.as_ptr(),
            bytes.len() as u64,
            &mut done,
        )
    };
    (status, done)
}

/// Frame counters from NtQuerySystemInformation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counters {
    total: u64,
    zeroed: u64,
    free: u64,
    in_use: u64,
    demand_zero: u32,
    pool_pages: u32,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames {} total, {} zeroed, {} free, {} in use; {} demand-zero faults; {} pool pages",
            self.total, self.zeroed, self.free, self.in_use, self.demand_zero, self.pool_pages
        )
    }
}

fn counters() -> Counters {
    let (_, basic, _) = query_system(
        SYSTEM_BASIC_INFORMATION_CLASS,
        SystemBasicInformation::default(),
    );
    let (_, lists, _) = query_system(
        SYSTEM_MEMORY_LIST_INFORMATION_CLASS,
        SystemMemoryListInformation::default(),
    );
    let (_, performance, _) = query_system(
        SYSTEM_PERFORMANCE_INFORMATION_CLASS,
        SystemPerformanceInformation::default(),
    );
    let total = u64::from(basic.number_of_physical_pages);
    Counters {
        total,
        zeroed: lists.zero_page_count,
        free: lists.free_page_count,
        in_use: total - u64::from(performance.available_pages),
        demand_zero: performance.demand_zero_count,
        pool_pages: performance.non_paged_pool_pages,
    }
}

/// Reads the `u64` at `address`.
///
/// # Safety
/// `address` must be readable and aligned.
unsafe fn peek(address: u64) -> u64 {
    // SAFETY: as the caller promises.
    unsafe { (address as *const u64).read_volatile() }
}

/// Writes `value` to the `u64` at `address`.
///
/// # Safety
/// `address` must be writable and aligned, in memory this program allocated.
unsafe fn poke(address: u64, value: u64) {
    // SAFETY: as the caller promises.
    unsafe { (address as *mut u64).write_volatile(value) }
}

/// Counts and prints verdicts.
#[derive(Default)]
struct Checks {
    wrong: u32,
}

impl Checks {
    fn verdict(&mut self, right: bool, detail: fmt::Arguments<'_>) -> bool {
        if !right {
            self.wrong += 1;
        }
        println!("{}: {detail}", if right { "ok" } else { "WRONG" });
        right
    }

    fn status(&mut self, name: &str, got: NtStatus, expected: NtStatus) -> bool {
        self.verdict(
            got == expected,
            format_args!("{name}: {got} (expected {expected})"),
        )
    }

    /// A query's state, protection, type and region size.
    fn region(
        &mut self,
        name: &str,
        address: u64,
        state: u32,
        protect: u32,
        kind: u32,
        size: u64,
    ) -> MemoryBasicInformation {
        let (status, info) = query_virtual_memory(address);
        self.verdict(
            status == NtStatus::SUCCESS
                && info.base_address == address & !(PAGE - 1)
                && info.state == state
                && info.protect == protect
                && info.kind == kind
                && info.region_size == size,
            format_args!(
                "{name}: {status}, base {:#x} state {:#x} protect {:#x} type {:#x} size {:#x} \
                 (expected state {state:#x} protect {protect:#x} type {kind:#x} size {size:#x})",
                info.base_address, info.state, info.protect, info.kind, info.region_size
            ),
        );
        info
    }
}

fn run_checks() -> NtStatus {
    let mut checks = Checks::default();
    let start = counters();
    println!("vmtest: at start: {start}");
    system_information(&mut checks);
    let base = reserve_commit_touch(&mut checks);
    read_write(&mut checks, base);
    protection(&mut checks, base);
    decommit_release(&mut checks, base);
    placement(&mut checks);
    queries(&mut checks);
    bad_allocations(&mut checks);
    bad_frees(&mut checks);
    bad_protections(&mut checks);
    bad_queries(&mut checks);
    bad_transfers(&mut checks);
    frames_come_back(&mut checks);
    background_zeroing(&mut checks);
    println!("vmtest: at end: {}", counters());
    println!("vmtest: {} wrong", checks.wrong);
    if checks.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

fn system_information(checks: &mut Checks) {
    let (status, basic, returned) = query_system(
        SYSTEM_BASIC_INFORMATION_CLASS,
        SystemBasicInformation::default(),
    );
    checks.verdict(
        status == NtStatus::SUCCESS
            && returned == 0x40
            && basic.page_size == 0x1000
            && basic.allocation_granularity == 0x1_0000
            && basic.number_of_physical_pages > 0
            && basic.lowest_physical_page_number <= basic.highest_physical_page_number
            && basic.minimum_user_mode_address == MM_LOWEST_USER_ADDRESS
            && basic.maximum_user_mode_address == MM_HIGHEST_USER_ADDRESS
            && basic.number_of_processors >= 1,
        format_args!(
            "SystemBasicInformation: {status}, {} pages ({:#x}..={:#x}), page {:#x}, \
             granularity {:#x}, user {:#x}..={:#x}",
            basic.number_of_physical_pages,
            basic.lowest_physical_page_number,
            basic.highest_physical_page_number,
            basic.page_size,
            basic.allocation_granularity,
            basic.minimum_user_mode_address,
            basic.maximum_user_mode_address
        ),
    );
    let (status, lists, returned) = query_system(
        SYSTEM_MEMORY_LIST_INFORMATION_CLASS,
        SystemMemoryListInformation::default(),
    );
    let (_, performance, _) = query_system(
        SYSTEM_PERFORMANCE_INFORMATION_CLASS,
        SystemPerformanceInformation::default(),
    );
    checks.verdict(
        status == NtStatus::SUCCESS
            && returned == 0xB0
            && lists.zero_page_count + lists.free_page_count
                == u64::from(performance.available_pages)
            && u64::from(performance.available_pages) < u64::from(basic.number_of_physical_pages),
        format_args!(
            "SystemMemoryListInformation: {status}, {} zeroed + {} free = {} available",
            lists.zero_page_count, lists.free_page_count, performance.available_pages
        ),
    );
    checks.verdict(
        performance.non_paged_pool_pages > 0
            && performance.non_paged_pool_allocs >= performance.non_paged_pool_frees,
        format_args!(
            "SystemPerformanceInformation pool: {} pages, {} allocations, {} frees",
            performance.non_paged_pool_pages,
            performance.non_paged_pool_allocs,
            performance.non_paged_pool_frees
        ),
    );
}

/// Reserves 1 MiB, commits three pages of it, touches them; returns the base.
fn reserve_commit_touch(checks: &mut Checks) -> u64 {
    let (status, base, size) = allocate(0, 0x10_0000, MEM_RESERVE, PAGE_READWRITE);
    checks.verdict(
        status == NtStatus::SUCCESS && base != 0 && base % 0x1_0000 == 0 && size == 0x10_0000,
        format_args!("reserve 1 MiB anywhere: {status} at {base:#x}, size {size:#x}"),
    );
    let info = checks.region(
        "query the reservation",
        base,
        MEM_RESERVE,
        0,
        MEM_PRIVATE,
        0x10_0000,
    );
    checks.verdict(
        info.allocation_base == base && info.allocation_protect == PAGE_READWRITE,
        format_args!(
            "reservation's allocation base {:#x}, protect {:#x}",
            info.allocation_base, info.allocation_protect
        ),
    );
    // An unaligned base and size round out to whole pages: [base + 0x10000, + 0x3000).
    let (status, committed, size) = allocate(base + 0x1_0800, 0x2000, MEM_COMMIT, PAGE_READWRITE);
    checks.verdict(
        status == NtStatus::SUCCESS && committed == base + 0x1_0000 && size == 0x3000,
        format_args!(
            "commit 3 pages (unaligned request): {status} at {committed:#x}, size {size:#x}"
        ),
    );
    checks.region(
        "pages below the commit",
        base,
        MEM_RESERVE,
        0,
        MEM_PRIVATE,
        0x1_0000,
    );
    let area = base + 0x1_0000;
    checks.region(
        "committed pages",
        area,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        0x3000,
    );
    checks.region(
        "pages above the commit",
        area + 0x3000,
        MEM_RESERVE,
        0,
        MEM_PRIVATE,
        0x10_0000 - 0x1_3000,
    );
    let before = counters();
    // SAFETY: the three pages are committed read-write.
    let zeros = (0..3).all(|page| unsafe { peek(area + page * PAGE + 0x18) } == 0);
    checks.verdict(zeros, format_args!("committed pages read as zeros"));
    for page in 0..3 {
        // SAFETY: as above.
        unsafe { poke(area + page * PAGE, 0x1111 * (page + 1)) };
    }
    // SAFETY: as above.
    let back = (0..3).all(|page| unsafe { peek(area + page * PAGE) } == 0x1111 * (page + 1));
    checks.verdict(back, format_args!("values written read back"));
    let after = counters();
    checks.verdict(
        after.in_use >= before.in_use + 3 && after.demand_zero >= before.demand_zero + 3,
        format_args!("touching took frames: before {before}; after {after}"),
    );
    // Committing committed pages again keeps their contents.
    let (status, _, _) = allocate(area, 0x3000, MEM_COMMIT, PAGE_READWRITE);
    checks.status("commit again", status, NtStatus::SUCCESS);
    // SAFETY: as above.
    let kept = unsafe { peek(area + PAGE) } == 0x2222;
    checks.verdict(kept, format_args!("contents survive a second commit"));
    let (status, _, _) = allocate(area, PAGE, MEM_RESET, PAGE_READWRITE);
    checks.status("MEM_RESET of committed pages", status, NtStatus::SUCCESS);
    base
}

fn read_write(checks: &mut Checks, base: u64) {
    let area = base + 0x1_0000;
    let mut buffer = [0u8; 0x3000];
    let (status, done) = read(area, &mut buffer);
    let first = u64::from_le_bytes(buffer[..8].try_into().unwrap_or_default());
    checks.verdict(
        status == NtStatus::SUCCESS && done == 0x3000 && first == 0x1111,
        format_args!("NtReadVirtualMemory 3 pages: {status}, {done:#x} bytes, first {first:#x}"),
    );
    let pattern = [0xA5u8; 0x180];
    let (status, done) = write(area + 0xF80, &pattern);
    // SAFETY: both pages are committed read-write.
    let (low, high) = unsafe { (peek(area + 0xFF8), peek(area + 0x1000)) };
    checks.verdict(
        status == NtStatus::SUCCESS
            && done == 0x180
            && low == 0xA5A5_A5A5_A5A5_A5A5
            && high == 0xA5A5_A5A5_A5A5_A5A5,
        format_args!("NtWriteVirtualMemory across a page boundary: {status}, {done:#x} bytes"),
    );
    let mut buffer = [0u8; 0x100];
    let (status, done) = read(area + 0x3000 - 0x80, &mut buffer);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0x80,
        format_args!("NtReadVirtualMemory into reserved pages: {status}, {done:#x} bytes (expected partial copy of 0x80)"),
    );
    let (status, done) = write(area + 0x3000 - 0x40, &pattern);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0x40,
        format_args!("NtWriteVirtualMemory into reserved pages: {status}, {done:#x} bytes (expected partial copy of 0x40)"),
    );
    let (status, done) = read(area, &mut []);
    checks.verdict(
        status == NtStatus::SUCCESS && done == 0,
        format_args!("NtReadVirtualMemory of 0 bytes: {status}, {done} bytes"),
    );
}

fn protection(checks: &mut Checks, base: u64) {
    let area = base + 0x1_0000;
    let (status, old, at, size) = protect(area + PAGE + 0x10, 0x10, PAGE_READONLY);
    checks.verdict(
        status == NtStatus::SUCCESS && old == PAGE_READWRITE && at == area + PAGE && size == PAGE,
        format_args!("protect page 1 read-only: {status}, old {old:#x}, {at:#x} size {size:#x}"),
    );
    checks.region(
        "page 0 stays read-write",
        area,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        PAGE,
    );
    checks.region(
        "page 1 is read-only",
        area + PAGE,
        MEM_COMMIT,
        PAGE_READONLY,
        MEM_PRIVATE,
        PAGE,
    );
    // SAFETY: page 1 is readable.
    let value = unsafe { peek(area + PAGE) };
    checks.verdict(
        value == 0xA5A5_A5A5_A5A5_A5A5,
        format_args!("read-only page keeps its contents: {value:#x}"),
    );
    let (status, done) = write(area + PAGE, &[1, 2, 3]);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0,
        format_args!("NtWriteVirtualMemory to a read-only page: {status}, {done} bytes"),
    );
    let (status, old, _, _) = protect(area + PAGE, PAGE, PAGE_READWRITE);
    checks.verdict(
        status == NtStatus::SUCCESS && old == PAGE_READONLY,
        format_args!("protect page 1 back to read-write: {status}, old {old:#x}"),
    );
    checks.region(
        "pages merge again",
        area,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        0x3000,
    );

    // PAGE_NOACCESS keeps the page's contents for when it is accessible again.
    let (status, _, _, _) = protect(area + 2 * PAGE, PAGE, PAGE_NOACCESS);
    checks.status("protect page 2 no-access", status, NtStatus::SUCCESS);
    let mut buffer = [0u8; 8];
    let (status, done) = read(area + 2 * PAGE, &mut buffer);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0,
        format_args!("NtReadVirtualMemory of a no-access page: {status}, {done} bytes"),
    );
    let (status, old, _, _) = protect(area + 2 * PAGE, PAGE, PAGE_READWRITE);
    // SAFETY: page 2 is read-write again.
    let value = unsafe { peek(area + 2 * PAGE) };
    checks.verdict(
        status == NtStatus::SUCCESS && old == PAGE_NOACCESS && value == 0x3333,
        format_args!("no-access page back to read-write: {status}, old {old:#x}, value {value:#x}"),
    );

    // A guard page fails the first access once and loses its guard.
    let (status, _, _, _) = protect(area + 2 * PAGE, PAGE, PAGE_READWRITE | PAGE_GUARD);
    checks.status("protect page 2 guard", status, NtStatus::SUCCESS);
    checks.region(
        "guard page",
        area + 2 * PAGE,
        MEM_COMMIT,
        PAGE_READWRITE | PAGE_GUARD,
        MEM_PRIVATE,
        PAGE,
    );
    let (status, done) = read(area + 2 * PAGE, &mut buffer);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0,
        format_args!("first access to the guard page: {status}, {done} bytes"),
    );
    checks.region(
        "guard is gone after the first access",
        area + 2 * PAGE,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        PAGE,
    );
    let (status, done) = read(area + 2 * PAGE, &mut buffer);
    checks.verdict(
        status == NtStatus::SUCCESS && done == 8 && u64::from_le_bytes(buffer) == 0x3333,
        format_args!("second access to the former guard page: {status}, {done} bytes"),
    );

    let (status, _, _, _) = protect(base, PAGE, PAGE_READONLY);
    checks.status("protect reserved pages", status, NtStatus::NOT_COMMITTED);
    let (status, _, _, _) = protect(area + 0x2000, 0x2000, PAGE_READONLY);
    checks.status(
        "protect committed and reserved pages",
        status,
        NtStatus::NOT_COMMITTED,
    );
    let (status, _, _, _) = protect(base + 0x10_0000 - PAGE, 2 * PAGE, PAGE_READONLY);
    checks.status(
        "protect past the end of the allocation",
        status,
        NtStatus::CONFLICTING_ADDRESSES,
    );
}

fn decommit_release(checks: &mut Checks, base: u64) {
    let area = base + 0x1_0000;
    let (status, at, size) = free(area + PAGE, PAGE, MEM_DECOMMIT);
    checks.verdict(
        status == NtStatus::SUCCESS && at == area + PAGE && size == PAGE,
        format_args!("decommit page 1: {status} at {at:#x}, size {size:#x}"),
    );
    checks.region(
        "decommitted page",
        area + PAGE,
        MEM_RESERVE,
        0,
        MEM_PRIVATE,
        PAGE,
    );
    let mut buffer = [0u8; 8];
    let (status, done) = read(area + PAGE, &mut buffer);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0,
        format_args!("NtReadVirtualMemory of a decommitted page: {status}, {done} bytes"),
    );
    let (status, _, _) = allocate(area + PAGE, PAGE, MEM_COMMIT, PAGE_READWRITE);
    // SAFETY: page 1 is committed read-write again.
    let value = unsafe { peek(area + PAGE) };
    checks.verdict(
        status == NtStatus::SUCCESS && value == 0,
        format_args!("recommitted page is zero-filled: {status}, {value:#x}"),
    );
    let (status, _, _) = allocate(UNALLOCATED, PAGE, MEM_COMMIT, PAGE_READWRITE);
    checks.status(
        "commit where nothing is reserved",
        status,
        NtStatus::CONFLICTING_ADDRESSES,
    );
    let (status, _, _) = allocate(
        base + 0x10_0000 - PAGE,
        2 * PAGE,
        MEM_COMMIT,
        PAGE_READWRITE,
    );
    checks.status(
        "commit past the end of the reservation",
        status,
        NtStatus::CONFLICTING_ADDRESSES,
    );
    let (status, _, _) = free(area, 0, MEM_RELEASE);
    checks.status(
        "release with size 0 off the base",
        status,
        NtStatus::FREE_VM_NOT_AT_BASE,
    );
    let (status, _, _) = free(area, 0, MEM_DECOMMIT);
    checks.status(
        "decommit with size 0 off the base",
        status,
        NtStatus::FREE_VM_NOT_AT_BASE,
    );
    let (status, _, _) = free(base + 0x10_0000 - PAGE, 2 * PAGE, MEM_RELEASE);
    checks.status(
        "release past the end of the allocation",
        status,
        NtStatus::UNABLE_TO_FREE_VM,
    );
    // Releasing the middle splits the allocation in two.
    let (status, at, size) = free(area, 0x3000, MEM_RELEASE);
    checks.verdict(
        status == NtStatus::SUCCESS && at == area && size == 0x3000,
        format_args!("release the middle: {status} at {at:#x}, size {size:#x}"),
    );
    let hole = query_virtual_memory(area).1;
    checks.verdict(
        hole.state == MEM_FREE && hole.region_size == 0x3000,
        format_args!(
            "released middle is free: state {:#x}, size {:#x}",
            hole.state, hole.region_size
        ),
    );
    let tail = query_virtual_memory(area + 0x3000).1;
    checks.verdict(
        tail.state == MEM_RESERVE
            && tail.allocation_base == area + 0x3000
            && tail.region_size == 0x10_0000 - 0x1_3000,
        format_args!(
            "the part above is an allocation of its own: base {:#x}, size {:#x}",
            tail.allocation_base, tail.region_size
        ),
    );
    let (status, _, _) = free(area + 0x3000, 0, MEM_RELEASE);
    checks.status("release the part above", status, NtStatus::SUCCESS);
    let (status, at, size) = free(base, 0, MEM_RELEASE);
    checks.verdict(
        status == NtStatus::SUCCESS && at == base && size == 0x1_0000,
        format_args!("release the part below: {status} at {at:#x}, size {size:#x}"),
    );
    let gone = query_virtual_memory(base).1;
    checks.verdict(
        gone.state == MEM_FREE && gone.allocation_base == 0 && gone.kind == 0,
        format_args!("released memory is free: state {:#x}", gone.state),
    );
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    checks.status("release it again", status, NtStatus::MEMORY_NOT_ALLOCATED);
}

fn placement(checks: &mut Checks) {
    let (status, base, size) = allocate(FIXED_BASE + 0x1234, 0x1000, MEM_RESERVE, PAGE_READONLY);
    checks.verdict(
        status == NtStatus::SUCCESS && base == FIXED_BASE && size == 0x3000,
        format_args!("reserve at an unaligned address: {status} at {base:#x}, size {size:#x} (expected {FIXED_BASE:#x}, 0x3000)"),
    );
    let (status, _, _) = allocate(FIXED_BASE + 0x2000, PAGE, MEM_RESERVE, PAGE_READONLY);
    checks.status(
        "reserve over a reservation",
        status,
        NtStatus::CONFLICTING_ADDRESSES,
    );
    let (status, _, _) = free(FIXED_BASE, 0, MEM_RELEASE);
    checks.status("release it", status, NtStatus::SUCCESS);

    let (status, base, size) = allocate(
        0,
        0x2800,
        MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN,
        PAGE_READWRITE,
    );
    checks.verdict(
        status == NtStatus::SUCCESS
            && base > 0x7FFF_0000_0000
            && base % 0x1_0000 == 0
            && size == 0x3000,
        format_args!("reserve and commit top-down: {status} at {base:#x}, size {size:#x}"),
    );
    checks.region(
        "top-down allocation",
        base,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        0x3000,
    );
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    checks.status("release it", status, NtStatus::SUCCESS);

    let (status, base, _) =
        allocate_with_zero_bits(0, PAGE, 1, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    checks.verdict(
        status == NtStatus::SUCCESS && base < 0x8000_0000,
        format_args!("ZeroBits 1 places below 2 GiB: {status} at {base:#x}"),
    );
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    checks.status("release it", status, NtStatus::SUCCESS);
}

fn queries(checks: &mut Checks) {
    let code = queries as *const () as u64;
    let image = query_virtual_memory(code).1;
    checks.verdict(
        image.kind == MEM_IMAGE
            && image.state == MEM_COMMIT
            && image.protect == PAGE_EXECUTE_READ
            && image.allocation_protect == PAGE_EXECUTE_WRITECOPY
            && image.allocation_base != 0
            && image.allocation_base <= code,
        format_args!(
            "this code is an image view: type {:#x} state {:#x} protect {:#x} allocation {:#x} at {:#x}",
            image.kind, image.state, image.protect, image.allocation_protect, image.allocation_base
        ),
    );
    let (status, _, _) = free(image.allocation_base, 0, MEM_RELEASE);
    checks.status(
        "release the image",
        status,
        NtStatus::UNABLE_TO_DELETE_SECTION,
    );
    let (status, _, _, _) = protect(code, 1, PAGE_EXECUTE_WRITECOPY);
    checks.status(
        "image pages may be copy-on-write",
        status,
        NtStatus::SUCCESS,
    );
    let (status, old, _, _) = protect(code, 1, PAGE_EXECUTE_READ);
    checks.verdict(
        status == NtStatus::SUCCESS && old == PAGE_EXECUTE_WRITECOPY,
        format_args!("and back: {status}, old {old:#x}"),
    );
    let (status, _) = write(code, &[0xCC]);
    checks.status(
        "NtWriteVirtualMemory to image code",
        status,
        NtStatus::PARTIAL_COPY,
    );
    checks.region(
        "KUSER_SHARED_DATA",
        KUSER_SHARED_DATA_ADDRESS,
        MEM_COMMIT,
        PAGE_READONLY,
        MEM_PRIVATE,
        PAGE,
    );
    let (status, _, _) = free(KUSER_SHARED_DATA_ADDRESS, 0, MEM_RELEASE);
    checks.status(
        "release KUSER_SHARED_DATA",
        status,
        NtStatus::INVALID_PAGE_PROTECTION,
    );
    let (status, _, _, _) = protect(KUSER_SHARED_DATA_ADDRESS, PAGE, PAGE_READWRITE);
    checks.status(
        "protect KUSER_SHARED_DATA",
        status,
        NtStatus::INVALID_PAGE_PROTECTION,
    );
    let null = query_virtual_memory(0).1;
    checks.verdict(
        null.state == MEM_FREE
            && null.protect == PAGE_NOACCESS
            && null.base_address == 0
            && null.region_size >= MM_LOWEST_USER_ADDRESS,
        format_args!(
            "address 0 is free: state {:#x} size {:#x}",
            null.state, null.region_size
        ),
    );
    checks.region(
        "the top 64 KiB of the user half",
        MM_HIGHEST_VAD_ADDRESS + 1,
        MEM_RESERVE,
        PAGE_NOACCESS,
        MEM_PRIVATE,
        0x1_0000,
    );
}

/// Allocating, touching and releasing memory in new page tables returns every frame: the
/// counters come back exactly. The cycle runs once first, so that this program's own
/// stack and data pages it touches are already in place.
fn frames_come_back(checks: &mut Checks) {
    cycle();
    let before = counters();
    let during = cycle();
    let after = counters();
    checks.verdict(
        during.in_use >= before.in_use + 32 + 5,
        format_args!("32 touched pages and their page tables are in use: {during}"),
    );
    checks.verdict(
        after.in_use == before.in_use && after.zeroed + after.free == before.zeroed + before.free,
        format_args!("released memory returns every frame: before {before}; after {after}"),
    );
}

/// Released frames go to the free list; the System process's zero page thread moves them
/// to the zeroed list while nothing else runs, here while this thread sleeps.
fn background_zeroing(checks: &mut Checks) {
    cycle();
    let released = counters();
    let interval: i64 = -200 * 10_000;
    // SAFETY: the interval is a local.
    let status = unsafe { nt_delay_execution(0, &interval) };
    let later = counters();
    checks.verdict(
        status.is_success()
            && released.free >= 32
            && later.free == 0
            && later.zeroed == released.zeroed + released.free
            && later.in_use == released.in_use,
        format_args!(
            "the zero page thread zeroes released frames in the background: {released}; 200 ms later {later}"
        ),
    );
}

/// Allocates 16 pages top-down and 16 at [`FIXED_BASE`] (new page tables for both),
/// touches them, releases them; returns the counters while they were in use.
fn cycle() -> Counters {
    let (_, high, _) = allocate(
        0,
        16 * PAGE,
        MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN,
        PAGE_READWRITE,
    );
    let (_, low, _) = allocate(
        FIXED_BASE,
        16 * PAGE,
        MEM_RESERVE | MEM_COMMIT,
        PAGE_READWRITE,
    );
    for page in 0..16 {
        // SAFETY: both allocations are committed read-write.
        unsafe {
            poke(high + page * PAGE, page);
            poke(low + page * PAGE, page);
        }
    }
    let during = counters();
    free(high, 0, MEM_RELEASE);
    free(low, 0, MEM_RELEASE);
    during
}

/// `prefix` followed by `name`, in a fixed buffer.
fn concat(prefix: &str, name: &str) -> Name {
    let mut text = Name::default();
    text.push(prefix);
    text.push(name);
    text
}

/// A short piece of text built without an allocator.
struct Name {
    bytes: [u8; 96],
    len: usize,
}

impl Default for Name {
    fn default() -> Self {
        Self {
            bytes: [0; 96],
            len: 0,
        }
    }
}

impl Name {
    fn push(&mut self, text: &str) {
        for &byte in text.as_bytes() {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = byte;
                self.len += 1;
            }
        }
    }
}

impl core::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        // Built from whole `&str`s; a name cut short at a char boundary check falls back.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("(name)")
    }
}

// The fault modes: each ends the process, or reports that it did not.
