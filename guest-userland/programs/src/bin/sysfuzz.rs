//! `sysfuzz N SEED [THREADS]`: makes N system calls with random service numbers and random
//! arguments, from THREADS threads (default 1), and prints how many calls returned each
//! status. The kernel must answer every one with a status and survive; afterwards the
//! program lists the processes (NtQuerySystemInformation) and creates one, to show the
//! kernel still works.
//!
//! What it throws:
//! - **Service numbers**: mostly the services in `abi::service::SystemService::ALL`, the
//!   rest random numbers (near the real ones, in the gaps, far beyond).
//! - **Arguments**: pointers into a scratch arena (a page of 256-byte slots refilled with
//!   random words and structure-shaped data before every call, a page that is decommitted
//!   and re-protected while calls use it, read-only, guard and no-access pages, reserved
//!   but uncommitted pages), misaligned pointers, pages straddling the user/kernel
//!   boundary, kernel and non-canonical addresses, KUSER_SHARED_DATA; lengths and sizes
//!   that are zero, huge, negative or wrap; handles that are valid ones of every type the
//!   program made (events, a directory, its own process and thread), pseudo-handles,
//!   tagged, freed, out-of-range and kernel handles.
//! - **Threads**: with THREADS > 1 each thread fuzzes with its own generator and one more
//!   thread decommits and re-protects the flapping page all along. With one thread the
//!   program makes the same changes itself every few calls and lets every other ready
//!   thread run after each call, so the same SEED gives the same calls and the same status
//!   counts.
//! - **A victim**: `sysfuzz victim READY`, a child whose three threads wait for ever. Its
//!   process and thread handles are among the valid ones, so calls read, write, allocate
//!   in, duplicate from, create threads in, and (single-threaded) suspend and end it. At
//!   the end sysfuzz ends it if no call did, and termination must complete.
//!
//! What it keeps out, so that it does not kill or wedge itself rather than the kernel:
//! NtTerminateProcess, NtTerminateThread and NtSuspendThread only get handles that name
//! nothing or, checked right before the call, the victim (a real one could name this
//! process or one of its threads); every wait and delay gets a zero or 100 ns timeout, or a
//! bad timeout pointer; NtCreateThreadEx always starts [`benign_thread`], never suspended;
//! NtDisplayString only gets bad strings; and no pointer or size it makes up lies where its
//! own image, stacks, PEB or TEBs are. Services sysfuzz does not know yet (added to the ABI
//! after it) are not called.
//!
//! The arena is refilled with NtWriteVirtualMemory, not plain stores: a call may have
//! decommitted, released or protected it, and the kernel answers that with a status where
//! a store would fault.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use abi::access::{DUPLICATE_SAME_ACCESS, EVENT_ALL_ACCESS, OBJ_INHERIT, PROCESS_ALL_ACCESS};
use abi::dispatcher::{
    NOTIFICATION_EVENT, SYNCHRONIZATION_EVENT, THREAD_BASIC_INFORMATION_CLASS,
    THREAD_CREATE_FLAGS_CREATE_SUSPENDED, TIMEOUT_UNITS_PER_SECOND, ThreadBasicInformation,
};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, PAGE_SIZE, USER_END};
use abi::memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, MM_USER_PROBE_ADDRESS, PAGE_GUARD,
    PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
};
use abi::nt::{
    ClientId, KUSER_SHARED_DATA_ADDRESS, KUSER_SHARED_DATA_SYSTEM_CALL, ObjectAttributes,
    SYSTEM_CALL_INT_2E,
};
use abi::process::PROCESS_CREATE_FLAGS_INHERIT_HANDLES;
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE, SystemService};
use rt::process::{Child, create_user_process, for_each_process, query_basic_information};
use rt::syscall::{
    exit_thread, nt_allocate_virtual_memory, nt_close, nt_create_directory_object, nt_create_event,
    nt_delay_execution, nt_duplicate_object, nt_open_process, nt_protect_virtual_memory,
    nt_query_information_thread, nt_set_event, nt_terminate_process, nt_wait_for_single_object,
    nt_write_virtual_memory, nt_yield_execution,
};
use rt::text::TextBuffer;
use rt::thread::create_thread;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// The scratch arena: one 64 KiB reservation far from everything the kernel places itself
/// (images at `IMAGE_BASE`, stacks, PEB and TEBs near the top of the user half).
const ARENA: u64 = 0x3000_0000_0000;
const ARENA_SIZE: u64 = 0x1_0000;
/// Page 0: the slots, refilled before every call.
const SLOTS: u64 = ARENA;
const SLOT_SIZE: u64 = 256;
const SLOT_COUNT: u64 = PAGE_SIZE / SLOT_SIZE;
/// Page 1: decommitted, recommitted and re-protected while calls use it.
const FLAPPING: u64 = ARENA + PAGE_SIZE;
/// Page 2: read-only, page 3: guard, page 4: no access; pages 5.. reserved only.
const READ_ONLY: u64 = ARENA + 2 * PAGE_SIZE;
const GUARD: u64 = ARENA + 3 * PAGE_SIZE;
const NO_ACCESS: u64 = ARENA + 4 * PAGE_SIZE;
const RESERVED: u64 = ARENA + 5 * PAGE_SIZE;
/// Pages refilled before every call: the guard page is left alone (a refill would use up
/// its guard).
const REFILLED: [u64; 4] = [SLOTS, FLAPPING, READ_ONLY, NO_ACCESS];
/// Where made-up user addresses fall: nothing but the fuzzer's own allocations lives there.
const WILD_USER: u64 = 0x2000_0000_0000;
/// Single-threaded, the flapping page changes every this many calls.
const FLAP_PERIOD: u64 = 8;
/// Most fuzzing threads.
const MAX_THREADS: u32 = 8;
/// Most distinct statuses counted one by one; the rest are counted together.
const MAX_STATUSES: usize = 96;
/// Valid handles the program opens before fuzzing, of every type it can make.
const OWN_HANDLES: usize = 8;
/// Where the victim's process and thread handles are among them.
const VICTIM_PROCESS: usize = 6;
const VICTIM_THREAD: usize = 7;
/// How long the program waits for the victim to get ready or to end.
const PATIENCE: i64 = -10 * TIMEOUT_UNITS_PER_SECOND;

/// Bounds on a wait: a zero and a 100 ns relative timeout.
static TIMEOUTS: [i64; 2] = [0, -1];

/// Calls service `number` with eleven arguments, NT's way: the first four in `r10`, `rdx`,
/// `r8`, `r9`, the rest on the stack from `[rsp + 0x28]`, where the caller put them; the
/// number is the twelfth argument, at `[rsp + 0x60]`.
///
/// # Safety
/// The service may do anything its number and arguments ask for.
#[unsafe(naked)]
unsafe extern "system" fn call_service(
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    a7: u64,
    a8: u64,
    a9: u64,
    a10: u64,
    a11: u64,
    number: u64,
) -> NtStatus {
    core::arch::naked_asm!(
        "mov r10, rcx",
        "mov eax, dword ptr [rsp + 0x60]",
        "test byte ptr ds:[{system_call}], {int_2e}",
        "jnz 2f",
        "syscall",
        "ret",
        "2:",
        "int 0x2e",
        "ret",
        system_call = const KUSER_SHARED_DATA_ADDRESS + KUSER_SHARED_DATA_SYSTEM_CALL,
        int_2e = const SYSTEM_CALL_INT_2E,
    )
}

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    /// A generator for `seed` and stream `stream` (one per thread); never all zeroes.
    fn new(seed: u64, stream: u64) -> Self {
        // splitmix64 of the pair spreads close seeds apart.
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The shape letters every call keeps (see [`shape`]).
const KEPT: &[u8] = b"DTSFB";

/// The kinds of a service's arguments, one letter each: `H` handle, `P` pointer, `N` number
/// (sizes, flags, classes, access masks), and pointers to shaped slots: `U` a
/// UNICODE_STRING, `O` OBJECT_ATTRIBUTES, `A` a handle array, `C` a CLIENT_ID, `R` process
/// parameters; `o` OBJECT_ATTRIBUTES or NULL, `z` usually NULL, `f` small flags (these
/// three let NtCreateUserProcess get as far as creating processes). Three calls in four
/// follow them, the fourth gets any kind in any place: the kernel must not trust the types
/// either. The [`KEPT`] letters hold in every call, because the fuzzer depends on them:
/// - `D`: a handle that names nothing, or the victim (NtTerminateProcess(0) ends every
///   other thread, and a real handle may name this process or one of its threads);
/// - `T`: a timeout pointer to 0 or -100 ns, or a bad one: no wait is unbounded;
/// - `S`: NtCreateThreadEx's start routine, always [`benign_thread`];
/// - `F`: NtCreateThreadEx's flags, never CREATE_SUSPENDED (nothing would resume it);
/// - `B`: a string the kernel cannot read (no console spam).
///
/// `None`: not called: a service added after sysfuzz, whose dangers it does not know.
fn shape(service: SystemService) -> Option<&'static [u8]> {
    use SystemService as S;
    Some(match service {
        S::NtTerminateProcess | S::NtTerminateThread => b"DN",
        S::NtSuspendThread => b"DP",
        S::NtDisplayString => b"B",
        S::NtClose => b"H",
        S::NtDuplicateObject => b"HHHPNNN",
        S::NtOpenProcess | S::NtOpenThread => b"PNOC",
        S::NtQueryObject | S::NtQueryInformationThread | S::NtQueryInformationProcess => b"HNPNP",
        S::NtCreateDirectoryObject | S::NtOpenDirectoryObject => b"PNO",
        S::NtAllocateVirtualMemory => b"HPNPNN",
        S::NtFreeVirtualMemory => b"HPPN",
        S::NtProtectVirtualMemory | S::NtReadVirtualMemory | S::NtWriteVirtualMemory => b"HPPNP",
        S::NtQueryVirtualMemory => b"HPNPNP",
        S::NtQuerySystemInformation => b"NPNP",
        S::NtCreateThreadEx => b"PNOHSNFNNNP",
        S::NtResumeThread | S::NtSetEvent | S::NtResetEvent | S::NtPulseEvent => b"HP",
        S::NtWaitForSingleObject => b"HNT",
        S::NtWaitForMultipleObjects => b"NANNT",
        S::NtDelayExecution => b"NT",
        S::NtYieldExecution => b"",
        S::NtCreateEvent => b"PNONN",
        S::NtCreateUserProcess => b"PPNNooffRzz",
        S::NtQueryArchitectureTimings => b"P",
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The start routine of every thread a fuzzed NtCreateThreadEx makes: it ends at once.
extern "system" fn benign_thread(_: u64) -> ! {
    exit_thread(NtStatus::SUCCESS)
}

/// Counts per status.
struct Histogram {
    statuses: [(u32, u64); MAX_STATUSES],
    len: usize,
    /// Calls whose status did not fit in `statuses`.
    others: u64,
    total: u64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            statuses: [(0, 0); MAX_STATUSES],
            len: 0,
            others: 0,
            total: 0,
        }
    }

    fn add(&mut self, status: u32, count: u64) {
        self.total += count;
        if let Some(entry) = self.statuses[..self.len]
            .iter_mut()
            .find(|(s, _)| *s == status)
        {
            entry.1 += count;
        } else if self.len < MAX_STATUSES {
            self.statuses[self.len] = (status, count);
            self.len += 1;
        } else {
            self.others += count;
        }
    }

    fn merge(&mut self, other: &Self) {
        for &(status, count) in &other.statuses[..other.len] {
            self.add(status, count);
        }
        self.others += other.others;
        self.total += other.others;
    }
}

/// What every fuzzing thread shares.
struct Plan {
    seed: u64,
    /// Handles made before fuzzing: valid ones of each type.
    own_handles: [u64; OWN_HANDLES],
    /// Whether the fuzzing thread flaps the flapping page itself, lets every other ready
    /// thread run after each call (the victim's, the ones calls created), and lets the
    /// calls that could end or suspend a thread name the victim's after checking the
    /// handle still names it: single-threaded runs, where nothing can change the handle
    /// between the check and the call, and where this keeps the run deterministic.
    single: bool,
    /// The victim's process ID.
    victim_id: u64,
}

/// One fuzzing thread's work and result.
struct Job {
    plan: Plan,
    stream: u64,
    calls: u64,
    histogram: Histogram,
    /// Calls to a number that is no service.
    unknown_numbers: u64,
}

/// The jobs, one per fuzzing thread, in .bss: each thread touches only its own until it
/// says it is done.
struct Jobs(UnsafeCell<[Option<Job>; MAX_THREADS as usize]>);

// SAFETY: job `i` belongs to fuzzing thread `i` until it bumps FINISHED; the main thread
// reads the jobs only after every thread has (Acquire on FINISHED).
unsafe impl Sync for Jobs {}

static JOBS: Jobs = Jobs(UnsafeCell::new([const { None }; MAX_THREADS as usize]));
static FINISHED: AtomicU32 = AtomicU32::new(0);
static STOP_FLAPPING: AtomicBool = AtomicBool::new(false);
static FLAPPER_DONE: AtomicBool = AtomicBool::new(false);

fn main(args: &Args) -> NtStatus {
    let number = |index| args.get(index).and_then(rt::parse_u32);
    if args.get(1) == Some("victim") {
        return match (number(2), args.len()) {
            (Some(ready), 3) => victim(u64::from(ready)),
            _ => usage(),
        };
    }
    let (Some(calls), Some(seed)) = (number(1), number(2)) else {
        return usage();
    };
    let threads = match args.get(3) {
        None => 1,
        Some(_) => match number(3) {
            Some(threads @ 1..=MAX_THREADS) => threads,
            _ => return usage(),
        },
    };
    if args.len() > 4 {
        return usage();
    }
    println!("sysfuzz: {calls} calls, seed {seed}, {threads} thread(s)");
    if let Err(status) = set_up_arena() {
        println!("sysfuzz: cannot set up the arena: {status}");
        return status;
    }
    let (own_handles, victim_id) = match open_own_handles() {
        Ok(opened) => opened,
        Err(status) => {
            println!("sysfuzz: cannot open the handles to fuzz with: {status}");
            return status;
        }
    };
    let single = threads == 1;
    let plan = || Plan {
        seed: u64::from(seed),
        own_handles,
        single,
        victim_id,
    };
    // SAFETY: no fuzzing thread runs yet: the main thread is the only one at the jobs.
    let jobs = unsafe { &mut *JOBS.0.get() };
    for (index, job) in jobs.iter_mut().take(threads as usize).enumerate() {
        let share = u64::from(calls / threads) + u64::from((index as u32) < calls % threads);
        *job = Some(Job {
            plan: plan(),
            stream: index as u64,
            calls: share,
            histogram: Histogram::new(),
            unknown_numbers: 0,
        });
    }
    if single {
        if let Some(job) = jobs[0].as_mut() {
            fuzz(job);
        }
    } else if let Err(status) = run_threads(threads) {
        println!("sysfuzz: cannot start the threads: {status}");
        return status;
    }
    // SAFETY: every fuzzing thread has finished with its job (FINISHED, Acquire).
    let jobs = unsafe { &*JOBS.0.get() };
    report(jobs.iter().flatten(), &plan())
}

/// `sysfuzz victim READY`: the process the fuzzed calls may end, suspend and poke at. Three
/// threads wait on a private event for ever; READY (inherited) is set once they exist.
fn victim(ready: u64) -> NtStatus {
    let mut event = 0;
    // SAFETY: the handle is a local; no attributes.
    let created = check(unsafe {
        nt_create_event(
            &mut event,
            EVENT_ALL_ACCESS,
            core::ptr::null(),
            SYNCHRONIZATION_EVENT,
            0,
        )
    });
    if let Err(status) = created {
        return status;
    }
    for _ in 0..2 {
        match create_thread(victim_thread, event, 0) {
            Ok(thread) => close(thread),
            Err(status) => return status,
        }
    }
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(ready, core::ptr::null_mut()) };
    wait_for_ever(event)
}

extern "system" fn victim_thread(event: u64) -> ! {
    wait_for_ever(event)
}

/// Waits on `event` again whenever it is set, and sleeps an hour at a time once the event
/// is gone (a fuzzed NtDuplicateObject may close it from outside).
fn wait_for_ever(event: u64) -> ! {
    loop {
        if rt::process::wait(event) != NtStatus::SUCCESS {
            let hour: i64 = -3600 * TIMEOUT_UNITS_PER_SECOND;
            // SAFETY: the interval is a local.
            unsafe { nt_delay_execution(0, &hour) };
        }
    }
}

fn usage() -> NtStatus {
    println!("usage: sysfuzz N SEED [THREADS]   (THREADS 1..={MAX_THREADS}, default 1)");
    NtStatus::INVALID_PARAMETER
}

/// Starts a fuzzing thread per job and the flapper, and waits until they are done.
fn run_threads(threads: u32) -> Result<(), NtStatus> {
    let flapper = create_thread(flapper_thread, 0, 0)?;
    close(flapper);
    let mut started = 0;
    let mut failed = None;
    for index in 0..threads {
        match create_thread(fuzzing_thread, u64::from(index), 0) {
            Ok(thread) => {
                // Completion is counted in FINISHED: the handle is not needed, and a fuzzed
                // NtClose could take it anyway.
                close(thread);
                started += 1;
            }
            Err(status) => {
                failed = Some(status);
                break;
            }
        }
    }
    while FINISHED.load(Ordering::Acquire) < started {
        sleep_a_moment();
    }
    STOP_FLAPPING.store(true, Ordering::Relaxed);
    while !FLAPPER_DONE.load(Ordering::Acquire) {
        sleep_a_moment();
    }
    failed.map_or(Ok(()), Err)
}

fn sleep_a_moment() {
    let interval: i64 = -10_000; // 1 ms, relative
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(0, &interval) };
}

extern "system" fn fuzzing_thread(index: u64) -> ! {
    // SAFETY: job `index` belongs to this thread until it bumps FINISHED.
    let job = unsafe { (*JOBS.0.get())[index as usize].as_mut() };
    if let Some(job) = job {
        fuzz(job);
    }
    FINISHED.fetch_add(1, Ordering::Release);
    exit_thread(NtStatus::SUCCESS)
}

extern "system" fn flapper_thread(_: u64) -> ! {
    let mut step = 0;
    while !STOP_FLAPPING.load(Ordering::Relaxed) {
        flap(step);
        step += 1;
        // SAFETY: no arguments.
        unsafe { nt_yield_execution() };
    }
    FLAPPER_DONE.store(true, Ordering::Release);
    exit_thread(NtStatus::SUCCESS)
}

/// Step `step` of the flapping page's life: decommitted, committed, no access, guarded,
/// read-only; and the guard page's guard set again.
fn flap(step: u64) {
    match step % 6 {
        0 => {
            let _ = free_pages(FLAPPING, PAGE_SIZE, MEM_DECOMMIT);
        }
        1 => {
            let _ = commit(FLAPPING, PAGE_SIZE, PAGE_READWRITE);
        }
        2 => {
            let _ = protect(FLAPPING, PAGE_SIZE, PAGE_NOACCESS);
        }
        3 => {
            let _ = protect(FLAPPING, PAGE_SIZE, PAGE_READWRITE | PAGE_GUARD);
        }
        4 => {
            let _ = protect(FLAPPING, PAGE_SIZE, PAGE_READONLY);
        }
        _ => {
            let _ = protect(FLAPPING, PAGE_SIZE, PAGE_READWRITE);
            let _ = protect(GUARD, PAGE_SIZE, PAGE_READWRITE | PAGE_GUARD);
        }
    }
}

fn close(handle: u64) {
    // SAFETY: the handles closed here are the program's own, no longer used.
    unsafe { nt_close(handle) };
}

fn check(status: NtStatus) -> Result<(), NtStatus> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}

fn commit(base: u64, size: u64, protection: u32) -> Result<(), NtStatus> {
    allocate(base, size, MEM_COMMIT, protection)
}

fn allocate(base: u64, size: u64, allocation_type: u32, protection: u32) -> Result<(), NtStatus> {
    let (mut base, mut size) = (base, size);
    // SAFETY: base and size are locals; the range is the arena, which only sysfuzz's
    // fuzzed calls use.
    check(unsafe {
        nt_allocate_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            0,
            &mut size,
            allocation_type,
            protection,
        )
    })
}

fn protect(base: u64, size: u64, protection: u32) -> Result<(), NtStatus> {
    let (mut base, mut size, mut old) = (base, size, 0);
    // SAFETY: locals; the range is the arena.
    check(unsafe {
        nt_protect_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            &mut size,
            protection,
            &mut old,
        )
    })
}

fn free_pages(base: u64, size: u64, free_type: u32) -> Result<(), NtStatus> {
    let (mut base, mut size) = (base, size);
    // SAFETY: locals; the range is the arena, which nothing but fuzzed calls reads.
    check(unsafe {
        rt::syscall::nt_free_virtual_memory(CURRENT_PROCESS_HANDLE, &mut base, &mut size, free_type)
    })
}

/// Reserves the arena and gives each page its part (see [`ARENA`]).
fn set_up_arena() -> Result<(), NtStatus> {
    allocate(ARENA, ARENA_SIZE, MEM_RESERVE, PAGE_READWRITE)?;
    commit(ARENA, RESERVED - ARENA, PAGE_READWRITE)?;
    protect(READ_ONLY, PAGE_SIZE, PAGE_READONLY)?;
    protect(GUARD, PAGE_SIZE, PAGE_READWRITE | PAGE_GUARD)?;
    protect(NO_ACCESS, PAGE_SIZE, PAGE_NOACCESS)
}

/// Gives the slot page back after a fuzzed call took it: commits it read-write, after
/// reserving the arena again if it was released.
fn restore_slots() {
    if commit(SLOTS, PAGE_SIZE, PAGE_READWRITE).is_err() {
        let _ = allocate(ARENA, ARENA_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    }
    let _ = protect(SLOTS, PAGE_SIZE, PAGE_READWRITE);
}

/// Valid handles of every type the program can make: two events, a directory, this
/// process (opened by client ID) and this thread (duplicated), a thread that has ended, and
/// the victim's process and first thread; and the victim's process ID.
fn open_own_handles() -> Result<([u64; OWN_HANDLES], u64), NtStatus> {
    let mut handles = [0; OWN_HANDLES];
    for (event_type, handle) in [SYNCHRONIZATION_EVENT, 0].into_iter().zip(&mut handles) {
        // SAFETY: the handle is a local; no attributes.
        check(unsafe {
            nt_create_event(handle, EVENT_ALL_ACCESS, core::ptr::null(), event_type, 0)
        })?;
    }
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        ..ObjectAttributes::default()
    };
    // SAFETY: the handle and the attributes (no name) are locals.
    check(unsafe {
        nt_create_directory_object(
            &mut handles[2],
            abi::access::DIRECTORY_ALL_ACCESS,
            &attributes,
        )
    })?;
    let own = query_basic_information(CURRENT_PROCESS_HANDLE)?;
    let client_id = ClientId {
        unique_process: own.unique_process_id,
        unique_thread: 0,
    };
    // SAFETY: locals.
    check(unsafe {
        nt_open_process(
            &mut handles[3],
            abi::access::PROCESS_QUERY_INFORMATION,
            &attributes,
            &client_id,
        )
    })?;
    // SAFETY: the target handle is a local.
    check(unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            CURRENT_THREAD_HANDLE,
            CURRENT_PROCESS_HANDLE,
            &mut handles[4],
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    })?;
    handles[5] = create_thread(benign_thread, 0, 0)?;
    rt::process::wait(handles[5]);
    let victim = spawn_victim()?;
    handles[VICTIM_PROCESS] = victim.process;
    handles[VICTIM_THREAD] = victim.thread;
    let victim_id = query_basic_information(victim.process)?.unique_process_id;
    Ok((handles, victim_id))
}

/// Starts `sysfuzz victim` and waits until its threads are all waiting.
fn spawn_victim() -> Result<Child, NtStatus> {
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        attributes: OBJ_INHERIT,
        ..ObjectAttributes::default()
    };
    let mut ready = 0;
    // SAFETY: the handle and the attributes are locals.
    check(unsafe {
        nt_create_event(
            &mut ready,
            EVENT_ALL_ACCESS,
            &attributes,
            NOTIFICATION_EVENT,
            0,
        )
    })?;
    let mut command = TextBuffer::<48>::new();
    let victim = write!(command, "sysfuzz victim {ready}")
        .map_err(|_| NtStatus::INVALID_PARAMETER)
        .and_then(|()| {
            create_user_process(
                "sysfuzz",
                command.as_str(),
                PROCESS_CREATE_FLAGS_INHERIT_HANDLES,
                0,
            )
        });
    // SAFETY: the timeout is a local.
    let waited = victim.map(|_| unsafe { nt_wait_for_single_object(ready, 0, &PATIENCE) });
    close(ready);
    match waited? {
        NtStatus::SUCCESS => {}
        status => return Err(status),
    }
    drain_ready_threads();
    victim
}

/// For a call that could end or suspend a thread or process: the victim's process or
/// thread handle, one time in four in single-threaded runs and when it still names the
/// victim; else a handle that names nothing.
fn victim_or_dead_handle(rng: &mut Rng, plan: &Plan, service: u32) -> u64 {
    if !plan.single || rng.below(4) != 0 {
        return dead_handle(rng);
    }
    let names_victim = if service == SystemService::NtTerminateProcess as u32 {
        let handle = plan.own_handles[VICTIM_PROCESS];
        query_basic_information(handle)
            .is_ok_and(|b| b.unique_process_id == plan.victim_id)
            .then_some(handle)
    } else {
        let handle = plan.own_handles[VICTIM_THREAD];
        let mut information = ThreadBasicInformation::default();
        // SAFETY: a local of the size passed; no return length.
        let status = unsafe {
            nt_query_information_thread(
                handle,
                THREAD_BASIC_INFORMATION_CLASS,
                (&raw mut information).cast(),
                size_of::<ThreadBasicInformation>() as u32,
                core::ptr::null_mut(),
            )
        };
        (status.is_success() && information.client_id.unique_process == plan.victim_id)
            .then_some(handle)
    };
    names_victim.unwrap_or_else(|| dead_handle(rng))
}

/// A pointer argument: mostly into the arena, else somewhere the kernel must refuse.
fn pointer(rng: &mut Rng) -> u64 {
    match rng.below(32) {
        0..=11 => SLOTS + rng.below(SLOT_COUNT) * SLOT_SIZE,
        12 => SLOTS + rng.below(SLOT_COUNT) * SLOT_SIZE + rng.below(7) + 1,
        // Straddles the slot page and the flapping page.
        13 => FLAPPING - rng.pick(&[1, 2, 4, 8, 16, 24]),
        14..=16 => FLAPPING + rng.below(PAGE_SIZE / 8) * 8,
        17 => READ_ONLY + rng.below(PAGE_SIZE / 8) * 8,
        18 => GUARD + rng.below(PAGE_SIZE / 8) * 8,
        19 => NO_ACCESS + rng.below(PAGE_SIZE / 8) * 8,
        20 => RESERVED + rng.below(ARENA + ARENA_SIZE - RESERVED),
        21 => 0,
        22 => rng.pick(&[
            KERNEL_BASE,
            KERNEL_BASE + 0x20_0000,
            DIRECT_MAP_BASE,
            u64::MAX - 7,
        ]),
        // The last user page and the boundary.
        23 => rng.pick(&[
            MM_USER_PROBE_ADDRESS - 8,
            MM_USER_PROBE_ADDRESS,
            USER_END - 8,
            USER_END - 4,
            USER_END,
        ]),
        24 => rng.pick(&[
            0x8000_0000_0000_0000,
            0x0000_8000_0000_1000,
            0x1234_5678_9ABC_DEF0,
        ]),
        25 => KUSER_SHARED_DATA_ADDRESS + rng.below(PAGE_SIZE / 8) * 8,
        26 => rng.pick(&[1, 8, 0x1000, 0xFFFF]),
        27..=28 => WILD_USER + rng.below(1 << 32) * 8,
        _ => SLOTS + rng.below(PAGE_SIZE / 8) * 8,
    }
}

/// A number argument: sizes, lengths, flags and classes, ordinary and hostile.
fn number(rng: &mut Rng) -> u64 {
    match rng.below(16) {
        0 => 0,
        1 => rng.below(8),
        2 => rng.below(0x100),
        3 => rng.pick(&[
            0x10, 0x30, 0x40, 0x68, 0x100, 0x200, 0x1000, 0x2000, 0x1_0000,
        ]),
        4 => rng.pick(&[
            u64::from(MEM_COMMIT),
            u64::from(MEM_RESERVE),
            u64::from(MEM_COMMIT | MEM_RESERVE),
            u64::from(MEM_DECOMMIT),
            u64::from(MEM_RELEASE),
        ]),
        5 => rng.pick(&[
            u64::from(PAGE_NOACCESS),
            u64::from(PAGE_READONLY),
            u64::from(PAGE_READWRITE),
            0x40,
            u64::from(PAGE_READWRITE | PAGE_GUARD),
        ]),
        6 => rng.pick(&[u64::MAX, u64::MAX - 0xFFF, i64::MIN as u64, 1 << 63 | 1]),
        7 => rng.pick(&[0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_F000]),
        8 => 1 << rng.below(64),
        9 => (1 << rng.below(64)) - 1,
        10 => 0u64.wrapping_sub(rng.below(0x1_0000)),
        11 => rng.next() & 0xFFFF_FFFF,
        12 => rng.next(),
        13 => rng.pick(&[0x1F_0003, 0x1F_FFFF, 0x0010_0000, 0x8000_0000, 0x0200_0000]),
        _ => rng.below(0x4_0000),
    }
}

/// A handle argument: valid ones of each type, pseudo-handles and ones that name nothing.
fn handle(rng: &mut Rng, plan: &Plan) -> u64 {
    match rng.below(12) {
        0..=3 => rng.pick(&plan.own_handles),
        4 => rng.pick(&plan.own_handles) | rng.below(4),
        5 => CURRENT_PROCESS_HANDLE,
        6 => CURRENT_THREAD_HANDLE,
        7 => 0,
        8 => (rng.below(64) + 1) * 4,
        _ => dead_handle(rng),
    }
}

/// A handle value that names nothing whatever the program has opened: beyond any handle
/// table, a kernel handle, or a pseudo-handle other than the process's and thread's.
fn dead_handle(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => 0x1000_0000 + rng.below(1 << 20) * 4,
        1 => 0xFFFF_FFFF_8000_0000 | (rng.below(1 << 20) * 4),
        2 => u64::MAX - 2 - rng.below(8),
        _ => rng.below(1 << 40) << 24,
    }
}

/// A word for the slots: a pointer, a number or a handle.
fn word(rng: &mut Rng, plan: &Plan) -> u64 {
    match rng.below(8) {
        0..=2 => pointer(rng),
        3..=5 => number(rng),
        _ => handle(rng, plan),
    }
}

/// Object names for the UNICODE_STRINGs in the slots: real directories, paths through
/// them, and malformed ones.
const NAMES: [&str; 12] = [
    "\\BaseNamedObjects",
    "\\BaseNamedObjects\\sysfuzz",
    "\\BaseNamedObjects\\sysfuzz\\deeper",
    "\\",
    "sysfuzz",
    "\\\\",
    "\\BaseNamedObjects\\",
    "\\BaseNamedObjects\\..\\.",
    "\\ObjectTypes",
    "\\ObjectTypes\\Event",
    "\\a\\b\\c\\d\\e\\f\\g",
    "\\BaseNamedObjects\\\u{0}\u{FFFF}\u{10FFFF}",
];

/// Writes `name` as UTF-16 into `words` (zero-padded); its length in bytes.
fn put_name(name: &str, words: &mut [u64]) -> u64 {
    words.fill(0);
    let mut length = 0;
    for (index, unit) in name.encode_utf16().take(words.len() * 4).enumerate() {
        words[index / 4] |= u64::from(unit) << (16 * (index % 4));
        length += 2;
    }
    length
}

/// A UNICODE_STRING's first word: Length and MaximumLength, usually right, sometimes odd,
/// too long or inconsistent.
fn lengths(rng: &mut Rng, length: u64) -> u64 {
    let length = match rng.below(8) {
        0 => rng.pick(&[0, 1, 7, 0x100, 0xFFFE, 0xFFFF]),
        _ => length,
    };
    let maximum = match rng.below(8) {
        0 => rng.pick(&[0, length.saturating_sub(2), 0xFFFF]),
        _ => length,
    };
    length | maximum << 16
}

/// Fills `slot` (32 words, at user address `address`) with one structure shape or with
/// random words: the first [`SHAPED_SLOTS`] slots of the slot page always have shape
/// number = their index, for the shape letters that point at them. The strings and
/// attributes usually point inside the slot itself, so the kernel gets far enough to parse
/// the name.
fn fill_slot(rng: &mut Rng, plan: &Plan, slot: &mut [u64], address: u64) {
    for word_slot in slot.iter_mut() {
        *word_slot = word(rng, plan);
    }
    let shape = match (address - ARENA) / SLOT_SIZE {
        index @ 0..SHAPED_SLOTS => index,
        _ => rng.below(8),
    };
    match shape {
        // UNICODE_STRING: Length, MaximumLength, Buffer, then the text.
        0 => {
            let length = put_name(rng.pick(&NAMES), &mut slot[2..]);
            slot[0] = lengths(rng, length);
            slot[1] = if rng.below(4) == 0 {
                pointer(rng)
            } else {
                address + 0x10
            };
        }
        // OBJECT_ATTRIBUTES: Length, RootDirectory, ObjectName, Attributes, ...; then its
        // UNICODE_STRING at 0x30 and the text at 0x40.
        1 => {
            slot[0] = rng.pick(&[size_of::<ObjectAttributes>() as u64, 0, 0x28, 0x31]);
            let (root, attributes) = (handle(rng, plan), rng.below(0x2000));
            slot[1] = rng.pick(&[0, 0, root]);
            slot[2] = if rng.below(4) == 0 {
                pointer(rng)
            } else {
                address + 0x30
            };
            slot[3] = rng.pick(&[0, 0x40, 0x10, 0x2, 0x200, 0x80, attributes]);
            let (descriptor, quality) = (pointer(rng), pointer(rng));
            slot[4] = rng.pick(&[0, 0, descriptor]);
            slot[5] = rng.pick(&[0, 0, quality]);
            let length = put_name(rng.pick(&NAMES), &mut slot[8..]);
            slot[6] = lengths(rng, length);
            slot[7] = address + 0x40;
        }
        // A handle array.
        2 => {
            for value in slot.iter_mut() {
                *value = handle(rng, plan);
            }
        }
        // CLIENT_ID: small process and thread IDs.
        3 => {
            slot[0] = rng.below(0x40) * 4;
            slot[1] = rng.below(0x40) * 4;
        }
        // All zero: empty structures, NULL base addresses, zero sizes.
        4 => slot.fill(0),
        5 => fill_process_parameters(rng, slot, address),
        _ => {}
    }
}

/// Programs and command lines for the process parameters: real ones (so processes get
/// created, run and end while calls go on), spellings of them, and missing ones.
const IMAGES: [&str; 7] = [
    "nop",
    "NOP.EXE",
    "exit",
    "fault",
    "\\SystemRoot\\nop.exe",
    "nosuch",
    "",
];
const COMMAND_LINES: [&str; 6] = [
    "nop",
    "exit 7",
    "fault divide",
    "fault null-read",
    "exit",
    "nop \"unterminated",
];

/// RTL_USER_PROCESS_PARAMETERS (0x88 bytes) with the image path text at 0x88 and the
/// command line at 0xC0, usually normalized (pointers), sometimes not (offsets from the
/// structure), with lengths now and then wrong.
fn fill_process_parameters(rng: &mut Rng, slot: &mut [u64], address: u64) {
    const SIZE: u64 = 0x88;
    const IMAGE: usize = 0x88 / 8;
    const COMMAND: usize = 0xC0 / 8;
    slot[0] = match rng.below(8) {
        0 => rng.next(),
        _ => SIZE | SIZE << 32,
    };
    let normalized = rng.below(4) != 0;
    slot[1] = u64::from(normalized);
    // No current directory or DLL path: their strings and handle are empty.
    slot[7..12].fill(0);
    let image_length = put_name(rng.pick(&IMAGES), &mut slot[IMAGE..COMMAND]);
    let command_length = put_name(rng.pick(&COMMAND_LINES), &mut slot[COMMAND..]);
    let base = if normalized { address } else { 0 };
    slot[12] = lengths(rng, image_length);
    slot[13] = base + (IMAGE * 8) as u64;
    slot[14] = lengths(rng, command_length);
    slot[15] = base + (COMMAND * 8) as u64;
    slot[16] = 0;
}

/// Slots 0 to 5 of the slot page hold a UNICODE_STRING, OBJECT_ATTRIBUTES, a handle array,
/// a CLIENT_ID, zeroes and RTL_USER_PROCESS_PARAMETERS.
const SHAPED_SLOTS: u64 = 6;

/// A pointer to slot `shape` of the slot page, three times in four; else any pointer.
fn shaped_pointer(rng: &mut Rng, shape: u64) -> u64 {
    if rng.below(4) == 0 {
        pointer(rng)
    } else {
        SLOTS + shape * SLOT_SIZE
    }
}

/// The refill of one page, built on the stack.
struct Page([u64; (PAGE_SIZE / 8) as usize]);

/// Refills the slot page and the other refilled pages with fresh random contents, so no
/// call sees what an earlier one left there.
fn refill(rng: &mut Rng, plan: &Plan, page: &mut Page) {
    for (index, &address) in REFILLED.iter().enumerate() {
        for (offset, slot) in page.0.chunks_mut((SLOT_SIZE / 8) as usize).enumerate() {
            fill_slot(rng, plan, slot, address + offset as u64 * SLOT_SIZE);
        }
        let written = write_page(address, page);
        if index == 0 && written.is_err() {
            restore_slots();
            let _ = write_page(address, page);
        }
    }
}

fn write_page(address: u64, page: &Page) -> Result<(), NtStatus> {
    // SAFETY: the source is a local of the size passed; the target is the arena, which
    // nothing but fuzzed calls reads.
    check(unsafe {
        nt_write_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            address,
            page.0.as_ptr().cast(),
            PAGE_SIZE,
            core::ptr::null_mut(),
        )
    })
}

/// A service number: mostly a real one, else a number near, between or far from them.
fn service_number(rng: &mut Rng) -> u32 {
    loop {
        let number = if rng.below(8) != 0 {
            rng.pick(&SystemService::ALL) as u32
        } else {
            match rng.below(4) {
                0 => (rng.pick(&SystemService::ALL) as u32).wrapping_add(rng.below(4) as u32),
                1 => rng.below(0x100) as u32,
                2 => rng.pick(&[0x1000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]),
                _ => rng.next() as u32,
            }
        };
        let skipped = SystemService::from_number(number).is_some_and(|s| shape(s).is_none());
        if !skipped {
            return number;
        }
    }
}

/// The arguments for a call of service number `service`: as its [`shape`] says, three calls
/// in four, and always where the fuzzer depends on it.
fn arguments(rng: &mut Rng, plan: &Plan, service: u32) -> [u64; 11] {
    let shape = SystemService::from_number(service)
        .and_then(shape)
        .unwrap_or(b"");
    let typed = rng.below(4) != 0;
    let mut args = [0u64; 11];
    for (index, arg) in args.iter_mut().enumerate() {
        let kind = match shape.get(index) {
            Some(&kind) if typed || KEPT.contains(&kind) => kind,
            _ => rng.pick(b"HPPPNN"),
        };
        *arg = match kind {
            b'H' => handle(rng, plan),
            b'P' => pointer(rng),
            b'U' => shaped_pointer(rng, 0),
            b'O' => shaped_pointer(rng, 1),
            b'A' => shaped_pointer(rng, 2),
            b'C' => shaped_pointer(rng, 3),
            b'R' => shaped_pointer(rng, 5),
            b'o' => match rng.below(2) {
                0 => 0,
                _ => shaped_pointer(rng, 1),
            },
            b'z' => match rng.below(4) {
                0 => pointer(rng),
                _ => 0,
            },
            b'f' => match rng.below(4) {
                0 => number(rng),
                _ => rng.below(8),
            },
            b'D' => victim_or_dead_handle(rng, plan, service),
            b'T' => match rng.below(8) {
                0..=4 => TIMEOUTS.as_ptr() as u64,
                5 => TIMEOUTS.as_ptr() as u64 + 8,
                6 => KERNEL_BASE,
                _ => WILD_USER,
            },
            b'S' => benign_thread as *const () as u64,
            b'F' => number(rng) & !u64::from(THREAD_CREATE_FLAGS_CREATE_SUSPENDED),
            b'B' => rng.pick(&[0, KERNEL_BASE, NO_ACCESS, GUARD, RESERVED, USER_END - 8]),
            _ => number(rng),
        };
    }
    args
}

/// Makes the job's calls.
fn fuzz(job: &mut Job) {
    let mut rng = Rng::new(job.plan.seed, job.stream);
    let mut page = Page([0; (PAGE_SIZE / 8) as usize]);
    for call in 0..job.calls {
        if job.plan.single && call % FLAP_PERIOD == 0 {
            flap(call / FLAP_PERIOD);
        }
        refill(&mut rng, &job.plan, &mut page);
        let number = service_number(&mut rng);
        let a = arguments(&mut rng, &job.plan, number);
        // SAFETY: the arguments were made safe for this program by `arguments`: no call
        // can end it, suspend its threads, wait without a bound, run code it did not
        // choose, or touch memory outside the arena.
        let status = unsafe {
            call_service(
                a[0],
                a[1],
                a[2],
                a[3],
                a[4],
                a[5],
                a[6],
                a[7],
                a[8],
                a[9],
                a[10],
                u64::from(number),
            )
        };
        job.histogram.add(status.0, 1);
        if SystemService::from_number(number).is_none() {
            job.unknown_numbers += 1;
        }
        if job.plan.single {
            drain_ready_threads();
        }
    }
}

/// Yields until no other thread is ready: a thread a fuzzed call created, woke, suspended,
/// resumed or ended has run as far as it will, so the next calls find the same state
/// every run.
fn drain_ready_threads() {
    for _ in 0..64 {
        // SAFETY: no arguments.
        if unsafe { nt_yield_execution() } == NtStatus::NO_YIELD_PERFORMED {
            return;
        }
    }
}

/// Prints the counts and checks that the kernel still lists and creates processes.
fn report<'a>(jobs: impl Iterator<Item = &'a Job>, plan: &Plan) -> NtStatus {
    let mut histogram = Histogram::new();
    let mut unknown_numbers = 0;
    for job in jobs {
        histogram.merge(&job.histogram);
        unknown_numbers += job.unknown_numbers;
    }
    let statuses = &mut histogram.statuses[..histogram.len];
    statuses.sort_unstable_by_key(|&(status, _)| status);
    for &(status, count) in statuses.iter() {
        println!("sysfuzz: status {}: {count}", NtStatus(status));
    }
    if histogram.others > 0 {
        println!("sysfuzz: other statuses: {}", histogram.others);
    }
    println!(
        "sysfuzz: total {} calls, {} distinct statuses, {unknown_numbers} to numbers that are no service",
        histogram.total, histogram.len
    );
    match end_victim(plan.own_handles[VICTIM_PROCESS], plan.victim_id)
        .and_then(|()| kernel_still_works())
    {
        Ok(processes) => {
            println!("sysfuzz: kernel alive: {processes} processes listed, a new process ran");
            NtStatus::SUCCESS
        }
        Err(status) => {
            println!("sysfuzz: the kernel no longer works: {status}");
            status
        }
    }
}

/// Ends the victim, if a fuzzed call has not, and waits until it has ended: whatever state
/// the calls left its threads in, termination must finish. Uses the victim handle made at
/// the start when it still names the victim (fuzzed calls may have closed it), else opens
/// the victim by its ID.
fn end_victim(kept_handle: u64, victim_id: u64) -> Result<(), NtStatus> {
    let kept = query_basic_information(kept_handle).is_ok_and(|b| b.unique_process_id == victim_id);
    let victim = if kept {
        kept_handle
    } else {
        let client_id = ClientId {
            unique_process: victim_id,
            unique_thread: 0,
        };
        let attributes = ObjectAttributes {
            length: size_of::<ObjectAttributes>() as u32,
            ..ObjectAttributes::default()
        };
        let mut opened = 0;
        // SAFETY: locals.
        let status =
            unsafe { nt_open_process(&mut opened, PROCESS_ALL_ACCESS, &attributes, &client_id) };
        if status == NtStatus::INVALID_CID {
            println!("sysfuzz: the victim has ended and is gone");
            return Ok(());
        }
        check(status)?;
        opened
    };
    // SAFETY: the handle names the victim (checked, or opened by its ID just now).
    let terminated = unsafe { nt_terminate_process(victim, NtStatus(0xDEAD)) };
    // SAFETY: the timeout is a local.
    let waited = unsafe { nt_wait_for_single_object(victim, 0, &PATIENCE) };
    let exit_status = query_basic_information(victim).map(|b| b.exit_status);
    close(victim);
    check(waited)?;
    println!(
        "sysfuzz: the victim ended with {} ({})",
        NtStatus(exit_status?),
        if terminated.is_success() {
            "terminated now"
        } else {
            "a fuzzed call had ended it"
        }
    );
    Ok(())
}

/// Lists the processes (as `tlist` does) and runs `nop` to its end; the process count.
fn kernel_still_works() -> Result<u32, NtStatus> {
    let mut buffer = [0u64; 2048];
    let mut processes = 0;
    for_each_process(&mut buffer, |_, _| processes += 1)?;
    let child = create_user_process("nop", "nop", 0, 0)?;
    let waited = rt::process::wait(child.process);
    let exit_status = query_basic_information(child.process).map(|b| b.exit_status);
    child.close();
    check(waited)?;
    match exit_status? {
        0 => Ok(processes),
        other => Err(NtStatus(other)),
    }
}
