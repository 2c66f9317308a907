//! `exhaust [RESOURCE...]`: runs, for each resource (`handles`, `threads`, `processes`,
//! `memory`; all four by default), a child `exhaust take RESOURCE` that creates that
//! resource until the kernel refuses, prints how many it got and the refusal, and exits
//! with the refusal's status. The parent checks that each child ended with a refusal the
//! kernel documents rather than a crash, that the frame, pool-allocation, process and
//! handle counters are back where they were before the child (pool bytes to within a page),
//! and that a process can still be created afterwards. Exits 0 when all of that holds, STATUS_UNSUCCESSFUL otherwise.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use abi::dispatcher::NOTIFICATION_EVENT;
use abi::memory::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE};
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::counters::{Counters, counters, settle};
use rt::event::create_event;
use rt::process::{create_user_process, query_basic_information, wait};
use rt::syscall::{
    exit_thread, nt_allocate_virtual_memory, nt_close, nt_free_virtual_memory, nt_set_event,
    nt_terminate_process, nt_wait_for_single_object,
};
use rt::thread::create_thread;
use rt::{Args, NtStatus, println};

rt::entry!(main);

const RESOURCES: [&str; 4] = ["handles", "threads", "processes", "memory"];
/// THREAD_CREATE_FLAGS_CREATE_SUSPENDED / PROCESS_CREATE_FLAGS_* for NtCreateUserProcess.
const CREATE_SUSPENDED: u32 = 1;
/// More than any resource can yield before the kernel refuses: reaching it is a failure.
const MAX_OBJECTS: usize = 1 << 20;
/// Committed memory taken per allocation.
const MEMORY_CHUNK: u64 = 1 << 20;
const PAGE: u64 = 0x1000;

/// The refusals the kernel may answer a request for more with.
const REFUSALS: [NtStatus; 5] = [
    NtStatus::NO_MEMORY,
    NtStatus::INSUFFICIENT_RESOURCES,
    NtStatus::QUOTA_EXCEEDED,
    NtStatus::COMMITMENT_LIMIT,
    NtStatus::TOO_MANY_THREADS,
];

fn main(args: &Args) -> NtStatus {
    let mut words = args.iter().skip(1);
    match words.next() {
        Some("take") => take(words.next().unwrap_or("")),
        Some(first) => run(core::iter::once(first).chain(words)),
        None => run(RESOURCES.into_iter()),
    }
}

/// Parent side: one child per resource.
fn run<'a>(resources: impl Iterator<Item = &'a str>) -> NtStatus {
    let mut wrong = 0;
    for resource in resources {
        if !RESOURCES.contains(&resource) {
            println!("exhaust: unknown resource '{resource}'");
            return NtStatus::INVALID_PARAMETER;
        }
        let before = counters();
        let status = run_child(resource);
        let after = settle(counters, |after| {
            before.as_ref().is_ok_and(|before| restored(before, after))
        });
        let refused = REFUSALS.contains(&status);
        let restored =
            matches!((before, after), (Ok(before), Ok(after)) if restored(&before, &after));
        let still_creates = run_child_status("nop") == Ok(NtStatus::SUCCESS);
        println!(
            "exhaust: {resource}: child ended with {status}; counters {}; processes {}",
            if restored { "restored" } else { "CHANGED" },
            if still_creates {
                "still created"
            } else {
                "NOT created"
            },
        );
        if let (Ok(before), Ok(after)) = (before, after) {
            println!("exhaust: {resource}: before {before}");
            println!("exhaust: {resource}: after  {after}");
        }
        if !(refused && restored && still_creates) {
            wrong += 1;
        }
    }
    println!("exhaust: {wrong} wrong");
    if wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

fn run_child(resource: &str) -> NtStatus {
    let mut command = rt::text::TextBuffer::<64>::new();
    let _ = core::fmt::write(&mut command, format_args!("exhaust take {resource}"));
    match create_user_process("exhaust", command.as_str(), 0, 0) {
        Ok(child) => {
            wait(child.process);
            let status = query_basic_information(child.process)
                .map_or(NtStatus::UNSUCCESSFUL, |info| NtStatus(info.exit_status));
            child.close();
            status
        }
        Err(status) => status,
    }
}

fn run_child_status(program: &str) -> Result<NtStatus, NtStatus> {
    let child = create_user_process(program, program, 0, 0)?;
    wait(child.process);
    let status = query_basic_information(child.process).map(|info| NtStatus(info.exit_status));
    child.close();
    status
}

/// Whether `after` is back where `before` was: everything exactly, except that the pool
/// may hold up to a page more or less, the capacity lists that grew with the burst keep.
fn restored(before: &Counters, after: &Counters) -> bool {
    let same_but_pool = Counters {
        pool_pages: before.pool_pages,
        ..*after
    };
    same_but_pool == *before && before.pool_pages.abs_diff(after.pool_pages) <= 1
}

/// Child side: takes `resource` until refused, prints the count, gives everything back and
/// exits with the refusal.
fn take(resource: &str) -> NtStatus {
    let Some(handles) = HandleList::new() else {
        return NtStatus::UNSUCCESSFUL;
    };
    let refusal = match resource {
        "handles" => take_handles(&handles),
        "threads" => take_threads(&handles),
        "processes" => take_processes(&handles),
        "memory" => take_memory(&handles),
        _ => NtStatus::INVALID_PARAMETER,
    };
    println!(
        "exhaust: took {} {resource} before {refusal}",
        TAKEN.load(Ordering::Relaxed)
    );
    handles.close_all();
    refusal
}

/// Handles (or, for memory, allocation bases) kept in committed memory of the child's
/// own; the count is in [`COUNT`], where the threads that wait at the gate see it too.
struct HandleList {
    base: *mut u64,
}

impl HandleList {
    fn new() -> Option<Self> {
        let base = allocate((MAX_OBJECTS * 8) as u64).ok()?;
        Some(Self {
            base: base as *mut u64,
        })
    }

    /// Keeps `value`; false when the list is full.
    fn push(&self, value: u64) -> bool {
        let count = COUNT.load(Ordering::Relaxed) as usize;
        if count == MAX_OBJECTS {
            return false;
        }
        // SAFETY: the list's memory is committed read-write for MAX_OBJECTS entries.
        unsafe { self.base.add(count).write(value) };
        COUNT.store(count as u64 + 1, Ordering::Relaxed);
        TAKEN.store(count as u64 + 1, Ordering::Relaxed);
        true
    }

    fn close_all(&self) {
        let count = COUNT.load(Ordering::Relaxed) as usize;
        for index in 0..count {
            // SAFETY: entries below the count were written by `push`.
            let value = unsafe { self.base.add(index).read() };
            // SAFETY: a handle this process opened, closed once.
            unsafe { nt_close(value) };
        }
    }
}

/// Reserves and commits `size` bytes of this process's memory; returns the base.
fn allocate(size: u64) -> Result<u64, NtStatus> {
    let (mut base, mut size) = (0u64, size);
    // SAFETY: the pointers are locals.
    let status = unsafe {
        nt_allocate_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            0,
            &mut size,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE,
        )
    };
    if status.is_success() {
        Ok(base)
    } else {
        Err(status)
    }
}

static COUNT: AtomicU64 = AtomicU64::new(0);
/// How many the child got before the refusal.
static TAKEN: AtomicU64 = AtomicU64::new(0);
static GATE: AtomicU64 = AtomicU64::new(0);

/// Until refused: one more event and handle each time.
fn take_handles(handles: &HandleList) -> NtStatus {
    loop {
        match create_event(NOTIFICATION_EVENT, false, false) {
            Ok(handle) if handles.push(handle) => {}
            Ok(_) => return NtStatus::UNSUCCESSFUL,
            Err(status) => return status,
        }
    }
}

extern "system" fn wait_at_gate(_: u64) -> ! {
    // SAFETY: no timeout pointer.
    unsafe { nt_wait_for_single_object(GATE.load(Ordering::Relaxed), 0, core::ptr::null()) };
    exit_thread(NtStatus::SUCCESS)
}

/// Until refused: one more thread, blocked on a gate; the gate opens at the end.
fn take_threads(handles: &HandleList) -> NtStatus {
    let Ok(gate) = create_event(NOTIFICATION_EVENT, false, false) else {
        return NtStatus::UNSUCCESSFUL;
    };
    GATE.store(gate, Ordering::Relaxed);
    let refusal = loop {
        match create_thread(wait_at_gate, 0, 0) {
            Ok(handle) if handles.push(handle) => {}
            Ok(_) => break NtStatus::UNSUCCESSFUL,
            Err(status) => break status,
        }
    };
    // SAFETY: the gate is this process's event; no previous-state pointer.
    unsafe { nt_set_event(gate, core::ptr::null_mut()) };
    let count = COUNT.load(Ordering::Relaxed) as usize;
    for index in 0..count {
        // SAFETY: entries below the count were written by `push`.
        wait(unsafe { handles.base.add(index).read() });
    }
    // SAFETY: this process's handle.
    unsafe { nt_close(gate) };
    refusal
}

/// Until refused: one more suspended child; each is terminated at the end.
fn take_processes(handles: &HandleList) -> NtStatus {
    let refusal = loop {
        match create_user_process("nop", "nop", 0, CREATE_SUSPENDED) {
            Ok(child) => {
                // SAFETY: the thread handle is this process's.
                unsafe { nt_close(child.thread) };
                if !handles.push(child.process) {
                    break NtStatus::UNSUCCESSFUL;
                }
            }
            Err(status) => break status,
        }
    };
    let count = COUNT.load(Ordering::Relaxed) as usize;
    for index in 0..count {
        // SAFETY: entries below the count were written by `push`: process handles with
        // every access.
        let process = unsafe { handles.base.add(index).read() };
        // SAFETY: a child of this process.
        unsafe { nt_terminate_process(process, NtStatus::SUCCESS) };
        wait(process);
    }
    refusal
}

/// Until refused: one more committed, touched megabyte. The allocations are kept by base
/// address in the list and released at the end (their "handles" are addresses, so the
/// list is emptied before `close_all`).
fn take_memory(handles: &HandleList) -> NtStatus {
    let refusal = loop {
        let base = match allocate(MEMORY_CHUNK) {
            Ok(base) => base,
            Err(status) => break status,
        };
        if !handles.push(base) {
            break NtStatus::UNSUCCESSFUL;
        }
        for page in (0..MEMORY_CHUNK).step_by(PAGE as usize) {
            // SAFETY: committed read-write just above; a fault the kernel cannot resolve
            // ends this child, which the parent sees.
            unsafe { ((base + page) as *mut u64).write_volatile(page) };
        }
    };
    let count = COUNT.swap(0, Ordering::Relaxed) as usize;
    for index in 0..count {
        // SAFETY: entries below the count were written by `push`.
        let mut base = unsafe { handles.base.add(index).read() };
        let mut size = 0;
        // SAFETY: the pointers are locals; the region is this process's allocation.
        unsafe {
            nt_free_virtual_memory(CURRENT_PROCESS_HANDLE, &mut base, &mut size, MEM_RELEASE)
        };
    }
    refusal
}
