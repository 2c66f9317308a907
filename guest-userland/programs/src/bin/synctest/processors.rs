//! Processors: how many the system runs on, affinity honoured for threads and for a whole
//! process, threads running on several processors at once, and a real-time thread
//! spinning for ever on one processor while the others go on and can still end it, in
//! this process and in a child.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::dispatcher::{
    PROCESS_AFFINITY_MASK_CLASS, THREAD_AFFINITY_MASK_CLASS, THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    THREAD_IDEAL_PROCESSOR_CLASS,
};
use abi::memory::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::NtStatus;
use rt::process::{active_processors, create_user_process, query_basic_information, set_affinity};
use rt::syscall::{
    exit_thread, nt_allocate_virtual_memory, nt_delay_execution, nt_free_virtual_memory,
    nt_get_current_processor_number, nt_set_information_process, nt_terminate_process,
    nt_terminate_thread, nt_yield_execution,
};
use rt::tally::Tally;
use rt::text::TextBuffer;
use rt::thread::{StartRoutine, create_thread};

use super::priority::{resume, set_priority, set_thread_value};
use super::{MS, basic_information, close, wait, wait_multiple};

/// How long a check may wait for another processor before it counts as wrong.
const PATIENCE_MS: i64 = 10_000;
/// The real-time spinner's priority: the highest there is.
const SPINNER_PRIORITY: i32 = 31;
/// Exit statuses the spinners are terminated with.
const SPINNER_THREAD_STATUS: u32 = 0x5151;
const SPINNER_PROCESS_STATUS: u32 = 0x5152;

/// The processor the calling thread runs on.
fn current_processor() -> u32 {
    // SAFETY: no arguments.
    unsafe { nt_get_current_processor_number() }.0
}

pub(super) fn delay_ms(milliseconds: i64) {
    let interval = -milliseconds * MS;
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(0, &interval) };
}

/// Starts `start(argument)` on a thread that may only run on the processors of `mask`, at
/// `priority`.
pub(super) fn start_pinned(
    start: StartRoutine,
    argument: u64,
    mask: u64,
    priority: i32,
) -> Option<u64> {
    let thread = create_thread(start, argument, THREAD_CREATE_FLAGS_CREATE_SUSPENDED).ok()?;
    let pinned = set_thread_value(thread, THREAD_AFFINITY_MASK_CLASS, &mask).is_success()
        && set_priority(thread, priority).is_success()
        && resume(thread).is_success();
    if pinned {
        Some(thread)
    } else {
        close(thread);
        None
    }
}

/// The processors each sampling thread saw itself on, by the processor it was pinned to.
static SEEN: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Notes, 200 times with yields between, the processor it runs on.
extern "system" fn sample_processor(slot: u64) -> ! {
    for _ in 0..200 {
        SEEN[slot as usize].fetch_or(1 << current_processor(), Ordering::Relaxed);
        // SAFETY: no arguments.
        unsafe { nt_yield_execution() };
    }
    exit_thread(NtStatus::SUCCESS)
}

/// Threads that have reached the rendezvous, and those that saw every other one there.
static ARRIVED: AtomicU32 = AtomicU32::new(0);
static MET: AtomicU32 = AtomicU32::new(0);

/// Arrives, then spins without yielding until `count` threads have: only processors
/// running them at the same time get every one there. Gives up after about ten seconds.
extern "system" fn rendezvous(count: u64) -> ! {
    ARRIVED.fetch_add(1, Ordering::SeqCst);
    let deadline = rt::rdtsc() + 30_000_000_000;
    loop {
        if u64::from(ARRIVED.load(Ordering::SeqCst)) >= count {
            MET.fetch_add(1, Ordering::SeqCst);
            exit_thread(NtStatus::SUCCESS);
        }
        if rt::rdtsc() > deadline {
            exit_thread(NtStatus::TIMEOUT);
        }
        core::hint::spin_loop();
    }
}

/// The processor a thread first found itself on, plus one (0 until it ran).
static FIRST_PROCESSOR: AtomicU32 = AtomicU32::new(0);

extern "system" fn note_first_processor(_: u64) -> ! {
    FIRST_PROCESSOR.store(current_processor() + 1, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// Turns of the real-time spinner, which never ends by itself.
static SPINS: AtomicU64 = AtomicU64::new(0);

extern "system" fn spin_forever(_: u64) -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads of the page the reader of `synctest reader` reads without end.
static READS: AtomicU64 = AtomicU64::new(0);

extern "system" fn read_forever(page: u64) -> ! {
    loop {
        // SAFETY: the page is this process's until the main thread frees it; the read
        // after that must fault, which is what `synctest reader` checks.
        unsafe { (page as *const u64).read_volatile() };
        READS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Work the ordinary threads do while the spinner spins.
static ORDINARY_DONE: AtomicU32 = AtomicU32::new(0);

extern "system" fn ordinary_work(_: u64) -> ! {
    for _ in 0..100 {
        // SAFETY: no arguments.
        unsafe { nt_yield_execution() };
    }
    ORDINARY_DONE.fetch_add(1, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// Keeps the calling thread to the processors of `mask`, a case named `name`.
pub(super) fn keep_this_thread_to(t: &mut Tally, name: &str, mask: u64) {
    t.status(
        name,
        set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &mask),
        NtStatus::SUCCESS,
    );
}

/// Keeps the process on processor 0 when there are several, for a check of what one
/// processor does (strict priority order, boosts, starvation).
pub(super) fn keep_to_first_processor(t: &mut Tally) {
    if active_processors().is_ok_and(|active| active.count_ones() > 1) {
        t.status(
            "the process keeps to processor 0",
            set_affinity(CURRENT_PROCESS_HANDLE, 1),
            NtStatus::SUCCESS,
        );
        // SAFETY: no arguments.
        unsafe { nt_yield_execution() };
    }
}

/// `synctest processors`.
pub fn processors(t: &mut Tally) {
    let active = match active_processors() {
        Ok(active) => active,
        Err(status) => {
            t.status("SystemBasicInformation", status, NtStatus::SUCCESS);
            return;
        }
    };
    let count = active.count_ones();
    rt::println!("processors: {count}");
    t.check(
        "the active processors are numbered from 0",
        active == u64::MAX >> (64 - count),
        &active,
    );
    t.check(
        "the current processor is an active one",
        active & 1 << current_processor() != 0,
        &current_processor(),
    );
    pinned_threads_run_only_where_pinned(t, count);
    if count >= 2 {
        ideal_processor(t, active, count);
        processors_run_threads_at_once(t, count);
        process_affinity(t, active, count);
        real_time_spinner(t, active, count);
        freed_page_faults_elsewhere(t, count);
    }
    bad_affinities(t, active);
}

/// A thread pinned to each of the `count` processors, running `start(argument(processor))`
/// at priority 8; 0 where one could not be started.
fn one_per_processor(start: StartRoutine, count: u32, argument: impl Fn(u32) -> u64) -> [u64; 64] {
    let mut threads = [0u64; 64];
    for processor in 0..count {
        threads[processor as usize] =
            start_pinned(start, argument(processor), 1 << processor, 8).unwrap_or(0);
    }
    threads
}

fn pinned_threads_run_only_where_pinned(t: &mut Tally, count: u32) {
    let threads = one_per_processor(sample_processor, count, u64::from);
    let threads = &threads[..count as usize];
    t.check(
        "a sampling thread pinned to each processor",
        threads.iter().all(|&thread| thread != 0),
        &"not created",
    );
    t.status(
        "the pinned threads end",
        wait_multiple(threads, abi::dispatcher::WAIT_ALL, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    let wrong = (0..count)
        .filter(|&processor| SEEN[processor as usize].load(Ordering::Relaxed) != 1 << processor)
        .count();
    t.value(
        "each pinned thread ran only on its processor",
        wrong as u64,
        0,
    );
    threads.iter().for_each(|&thread| close(thread));
}

/// ThreadIdealProcessor answers with the previous ideal processor and takes an active one.
fn ideal_processor(t: &mut Tally, active: u64, count: u32) {
    let last = count - 1;
    let others = active & !(1 << last);
    keep_this_thread_to(t, "this thread keeps off the last processor", others);
    let Ok(thread) = create_thread(
        note_first_processor,
        0,
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    ) else {
        t.check("a thread for the ideal processor", false, &"not created");
        return;
    };
    let previous = set_thread_value(thread, THREAD_IDEAL_PROCESSOR_CLASS, &last).0;
    t.check(
        "ThreadIdealProcessor answers with the previous ideal processor",
        previous < count,
        &previous,
    );
    t.value(
        "and then with the new one",
        u64::from(set_thread_value(thread, THREAD_IDEAL_PROCESSOR_CLASS, &last).0),
        u64::from(last),
    );
    resume(thread);
    t.status(
        "the thread ends",
        wait(thread, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    // The ideal processor is where the thread is placed; an idle processor that looks
    // for work first may take it.
    let first = FIRST_PROCESSOR.load(Ordering::Relaxed);
    t.check(
        "the thread ran",
        first != 0 && active & 1 << (first - 1) != 0,
        &first,
    );
    close(thread);
    t.status(
        "this thread may run anywhere again",
        set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &active),
        NtStatus::SUCCESS,
    );
}

fn processors_run_threads_at_once(t: &mut Tally, count: u32) {
    let threads = one_per_processor(rendezvous, count, |_| u64::from(count));
    let threads = &threads[..count as usize];
    t.status(
        "spinning threads on every processor end",
        wait_multiple(threads, abi::dispatcher::WAIT_ALL, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    t.value(
        "every processor ran its spinning thread at the same time",
        u64::from(MET.load(Ordering::SeqCst)),
        u64::from(count),
    );
    threads.iter().for_each(|&thread| close(thread));
}

fn process_affinity(t: &mut Tally, active: u64, count: u32) {
    let last = count - 1;
    t.status(
        "ProcessAffinityMask of the last processor",
        set_affinity(CURRENT_PROCESS_HANDLE, 1 << last),
        NtStatus::SUCCESS,
    );
    let affinity =
        query_basic_information(CURRENT_PROCESS_HANDLE).map_or(0, |info| info.affinity_mask);
    t.value("the process's affinity mask", affinity, 1 << last);
    // SAFETY: no arguments.
    unsafe { nt_yield_execution() };
    t.value(
        "this thread moved to the last processor",
        u64::from(current_processor()),
        u64::from(last),
    );
    let thread_affinity =
        basic_information(CURRENT_THREAD_HANDLE).map_or(0, |info| info.affinity_mask);
    t.value("its affinity mask", thread_affinity, 1 << last);
    t.status(
        "ProcessAffinityMask of every processor again",
        set_affinity(CURRENT_PROCESS_HANDLE, active),
        NtStatus::SUCCESS,
    );
}

fn real_time_spinner(t: &mut Tally, active: u64, count: u32) {
    let last = count - 1;
    let others = active & !(1 << last);
    keep_this_thread_to(t, "this thread keeps off the last processor", others);
    let Some(spinner) = start_pinned(spin_forever, 0, 1 << last, SPINNER_PRIORITY) else {
        t.check(
            "a priority-31 spinner on the last processor",
            false,
            &"not created",
        );
        return;
    };
    let mut waited = 0;
    while SPINS.load(Ordering::Relaxed) == 0 && waited < PATIENCE_MS {
        delay_ms(1);
        waited += 1;
    }
    t.check(
        "a priority-31 thread spins on the last processor",
        SPINS.load(Ordering::Relaxed) != 0,
        &"it never ran",
    );
    let priority = basic_information(spinner).map_or(0, |info| info.priority);
    t.value(
        "the spinner's priority",
        priority as u64,
        SPINNER_PRIORITY as u64,
    );

    let mut workers = [0u64; 16];
    for worker in &mut workers {
        *worker = start_pinned(ordinary_work, 0, others, 8).unwrap_or(0);
    }
    t.status(
        "priority-8 threads on the other processors run meanwhile",
        wait_multiple(&workers, abi::dispatcher::WAIT_ALL, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    t.value(
        "each of them finished its work",
        u64::from(ORDINARY_DONE.load(Ordering::Relaxed)),
        workers.len() as u64,
    );
    workers.iter().for_each(|&worker| close(worker));

    // SAFETY: this program's own thread.
    let terminated = unsafe { nt_terminate_thread(spinner, NtStatus(SPINNER_THREAD_STATUS)) };
    t.status(
        "NtTerminateThread of the spinner",
        terminated,
        NtStatus::SUCCESS,
    );
    t.status(
        "the spinner ends, terminated from another processor",
        wait(spinner, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    let status = basic_information(spinner).map_or(0, |info| info.exit_status);
    t.value(
        "with the status it was given",
        u64::from(status),
        u64::from(SPINNER_THREAD_STATUS),
    );
    close(spinner);
    spinning_child(t, last);
    t.status(
        "this thread may run anywhere again",
        set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &active),
        NtStatus::SUCCESS,
    );
}

/// A child process spinning at priority 31 on the last processor ends when terminated.
fn spinning_child(t: &mut Tally, last: u32) {
    let mut command = TextBuffer::<48>::new();
    let _ =
        core::fmt::Write::write_fmt(&mut command, format_args!("synctest spin {}", 1u64 << last));
    let child = match create_user_process("synctest", command.as_str(), 0, 0) {
        Ok(child) => child,
        Err(status) => {
            t.status("a spinning child process", status, NtStatus::SUCCESS);
            return;
        }
    };
    let mut waited = 0;
    while basic_information(child.thread).map_or(0, |info| info.priority) != SPINNER_PRIORITY
        && waited < PATIENCE_MS
    {
        delay_ms(1);
        waited += 1;
    }
    let priority = basic_information(child.thread).map_or(0, |info| info.priority);
    t.value(
        "a child process spins at priority 31",
        priority as u64,
        SPINNER_PRIORITY as u64,
    );
    // SAFETY: this program's own child.
    let terminated =
        unsafe { nt_terminate_process(child.process, NtStatus(SPINNER_PROCESS_STATUS)) };
    t.status(
        "NtTerminateProcess of the child",
        terminated,
        NtStatus::SUCCESS,
    );
    t.status(
        "the spinning child ends, terminated from another processor",
        wait(child.process, Some(-PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    let status = query_basic_information(child.process).map_or(0, |info| info.exit_status);
    t.value(
        "with the status it was given",
        u64::from(status),
        u64::from(SPINNER_PROCESS_STATUS),
    );
    child.close();
}

/// A child (`synctest reader`) frees a page on one processor while a thread of it reads
/// the page without end on another: the reader's processor must lose the page at once, so
/// the child ends with STATUS_ACCESS_VIOLATION. On hardware KVM only the kernel's TLB
/// shootdown makes that happen; on kvm-pvm the host's shadow paging drops the translation
/// of a guest entry it sees cleared as well (the case passes there with the shootdown's
/// interrupt disabled, tried on this host).
fn freed_page_faults_elsewhere(t: &mut Tally, count: u32) {
    let mut command = TextBuffer::<48>::new();
    let _ =
        core::fmt::Write::write_fmt(&mut command, format_args!("synctest reader {}", count - 1));
    let child = match create_user_process("synctest", command.as_str(), 0, 0) {
        Ok(child) => child,
        Err(status) => {
            t.status("a reading child process", status, NtStatus::SUCCESS);
            return;
        }
    };
    t.status(
        "the reading child ends",
        wait(child.process, Some(-3 * PATIENCE_MS * MS)),
        NtStatus::SUCCESS,
    );
    let status = query_basic_information(child.process).map_or(0, |info| info.exit_status);
    t.value(
        "a page freed on one processor faults at once on another that reads it",
        u64::from(status),
        u64::from(NtStatus::ACCESS_VIOLATION.0),
    );
    child.close();
}

fn bad_affinities(t: &mut Tally, active: u64) {
    t.status(
        "ProcessAffinityMask 0",
        set_affinity(CURRENT_PROCESS_HANDLE, 0),
        NtStatus::INVALID_PARAMETER,
    );
    if active != u64::MAX {
        t.status(
            "ProcessAffinityMask with an inactive processor",
            set_affinity(CURRENT_PROCESS_HANDLE, active << 1 | 1),
            NtStatus::INVALID_PARAMETER,
        );
        t.status(
            "thread affinity with an inactive processor",
            set_thread_value(
                CURRENT_THREAD_HANDLE,
                THREAD_AFFINITY_MASK_CLASS,
                &(active + 1),
            ),
            NtStatus::INVALID_PARAMETER,
        );
    }
    t.status(
        "ThreadIdealProcessor of an inactive processor",
        set_thread_value(
            CURRENT_THREAD_HANDLE,
            THREAD_IDEAL_PROCESSOR_CLASS,
            &active.count_ones(),
        ),
        NtStatus::INVALID_PARAMETER,
    );
    let short = 1u32;
    // SAFETY: a local of the (wrong) size passed.
    let status = unsafe {
        nt_set_information_process(
            CURRENT_PROCESS_HANDLE,
            PROCESS_AFFINITY_MASK_CLASS,
            (&raw const short).cast(),
            4,
        )
    };
    t.status(
        "ProcessAffinityMask of 4 bytes",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    t.status(
        "ProcessAffinityMask from a kernel address",
        // SAFETY: the kernel must refuse the address; nothing is read here.
        unsafe {
            nt_set_information_process(
                CURRENT_PROCESS_HANDLE,
                PROCESS_AFFINITY_MASK_CLASS,
                super::KERNEL_ADDRESS as *const u8,
                8,
            )
        },
        NtStatus::ACCESS_VIOLATION,
    );
}

/// `synctest reader PROCESSOR`: the child of the shootdown case. Commits a page, reads it
/// without end from a thread on PROCESSOR, frees it from another processor once the reads
/// run, and waits: the read after the free must end the process with
/// STATUS_ACCESS_VIOLATION; the process exits with STATUS_UNSUCCESSFUL if it is still
/// alive after the patience.
pub fn reader(processor: Option<u32>) -> NtStatus {
    let Some(processor) = processor.filter(|&processor| processor < 64) else {
        rt::println!("usage: synctest reader PROCESSOR");
        return NtStatus::INVALID_PARAMETER;
    };
    let active = active_processors().unwrap_or(1);
    let others = active & !(1 << processor);
    if active & 1 << processor == 0 || others == 0 {
        return NtStatus::INVALID_PARAMETER;
    }
    let pinned = set_thread_value(CURRENT_THREAD_HANDLE, THREAD_AFFINITY_MASK_CLASS, &others);
    if !pinned.is_success() {
        return pinned;
    }
    let mut page = match commit_page(0) {
        Ok(page) => page,
        Err(status) => return status,
    };
    if start_pinned(read_forever, page, 1 << processor, 8).is_none() {
        return NtStatus::UNSUCCESSFUL;
    }
    let mut waited = 0;
    while READS.load(Ordering::Relaxed) < 1000 && waited < PATIENCE_MS {
        delay_ms(1);
        waited += 1;
    }
    let mut size = 0;
    // SAFETY: the base and size are locals; the page is this process's.
    let status = unsafe {
        nt_free_virtual_memory(CURRENT_PROCESS_HANDLE, &mut page, &mut size, MEM_RELEASE)
    };
    if !status.is_success() {
        return status;
    }
    delay_ms(PATIENCE_MS);
    NtStatus::UNSUCCESSFUL
}

/// Commits a read-write page in this process, at `base` (0: where the kernel chooses), and
/// returns its address.
pub(super) fn commit_page(base: u64) -> Result<u64, NtStatus> {
    let (mut page, mut size) = (base, 0x1000u64);
    // SAFETY: the base and size are locals.
    let status = unsafe {
        nt_allocate_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut page,
            0,
            &mut size,
            MEM_COMMIT | MEM_RESERVE,
            PAGE_READWRITE,
        )
    };
    if status.is_success() {
        Ok(page)
    } else {
        Err(status)
    }
}

/// `synctest spin MASK`: the child of the real-time spinner case; pins itself to MASK,
/// raises itself to priority 31 and spins until terminated.
pub fn spin(mask: Option<u32>) -> NtStatus {
    let Some(mask) = mask else {
        rt::println!("usage: synctest spin MASK");
        return NtStatus::INVALID_PARAMETER;
    };
    let pinned = set_thread_value(
        CURRENT_THREAD_HANDLE,
        THREAD_AFFINITY_MASK_CLASS,
        &u64::from(mask),
    );
    if !pinned.is_success() {
        return pinned;
    }
    let raised = set_priority(CURRENT_THREAD_HANDLE, SPINNER_PRIORITY);
    if !raised.is_success() {
        return raised;
    }
    spin_forever(0)
}
