//! `rtltest`: ntdll.dll's runtime library, case by case, printing `ok:`/`WRONG:` per case
//! and exiting with 0 when every answer is right: the process heap (allocation, reuse of
//! freed blocks, zeroing, reallocation, growth past a segment, refused bad frees, two
//! threads at once), RtlCreateUserThread (exit status from the routine's return, client
//! ID, suspension, a bad process handle), a raw NtCreateThreadEx routine returning into
//! RtlUserThreadStart, ThreadAmILastThread, the UNICODE_STRING helpers, and
//! RtlCreateProcessParameters and RtlCreateUserProcess with bad input, each leaving the
//! system's counters where they were.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use abi::access::{PROCESS_ALL_ACCESS, THREAD_ALL_ACCESS};
use abi::dispatcher::{
    THREAD_AM_I_LAST_THREAD_CLASS, THREAD_BASIC_INFORMATION_CLASS, ThreadBasicInformation,
};
use abi::nt::{ClientId, RtlUserProcessParameters, UnicodeString};
use abi::process::{PROCESS_BASIC_INFORMATION_CLASS, ProcessBasicInformation};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use abi::user_process::RtlUserProcessInformation;
use rt::counters::counters_with;
use rt::ntdll::{
    NtClose, NtCreateThreadEx, NtCreateUserProcess, NtQueryInformationProcess,
    NtQueryInformationThread, NtQuerySystemInformation, NtResumeThread, NtWaitForSingleObject,
    RtlAllocateHeap, RtlAppendUnicodeToString, RtlCopyUnicodeString, RtlCreateProcessParameters,
    RtlCreateUserProcess, RtlCreateUserThread, RtlDestroyProcessParameters, RtlEqualUnicodeString,
    RtlExitUserThread, RtlFreeHeap, RtlGetCurrentPeb, RtlInitUnicodeString, RtlReAllocateHeap,
    RtlSizeHeap,
};
use rt::tally::Tally;
use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

/// `HEAP_ZERO_MEMORY`.
const HEAP_ZERO_MEMORY: u32 = 0x8;
/// What RtlSizeHeap answers for an address that is not a block.
const NOT_A_BLOCK: usize = usize::MAX;
/// A thread routine's exit status, to tell it from any other.
const THREAD_STATUS: u32 = 0x0BAD_CAFE;
/// Allocations in a row that need more than the first 64 KiB segment.
const MANY_BLOCKS: usize = 1000;
/// More 1 MiB blocks than the heap takes segments for.
const MAX_LARGE_BLOCKS: usize = 128;
/// Rounds of allocate, fill, check and free each of two threads makes at once.
const CONCURRENT_ROUNDS: u64 = 2000;

fn main(_args: &Args) -> NtStatus {
    let mut tally = Tally::default();
    heap(&mut tally);
    bad_frees(&mut tally);
    threads(&mut tally);
    strings(&mut tally);
    processes(&mut tally);
    println!("rtltest: {} cases, {} wrong", tally.cases, tally.wrong);
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

fn process_heap() -> u64 {
    // SAFETY: the PEB is mapped for the life of the process.
    unsafe { (*RtlGetCurrentPeb()).process_heap }
}

fn allocate(flags: u32, size: usize) -> u64 {
    // SAFETY: the process heap's handle; no pointer arguments.
    unsafe { RtlAllocateHeap(process_heap(), flags, size) }
}

fn free(address: u64) -> bool {
    // SAFETY: the heap checks the address before touching anything.
    unsafe { RtlFreeHeap(process_heap(), 0, address) != 0 }
}

fn size(address: u64) -> usize {
    // SAFETY: as for `free`.
    unsafe { RtlSizeHeap(process_heap(), 0, address) }
}

/// Fills `size` bytes at `address` with `byte`.
fn fill(address: u64, size: usize, byte: u8) {
    // SAFETY: the callers pass blocks of at least `size` bytes they own.
    unsafe { core::ptr::write_bytes(address as *mut u8, byte, size) };
}

/// Whether `size` bytes at `address` all hold `byte`.
fn holds(address: u64, size: usize, byte: u8) -> bool {
    // SAFETY: as for `fill`.
    let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    bytes.iter().all(|b| *b == byte)
}

fn heap(tally: &mut Tally) {
    tally.check(
        "PEB.ProcessHeap is set",
        process_heap() != 0,
        &process_heap(),
    );
    let first = allocate(0, 100);
    tally.check(
        "RtlAllocateHeap gives a 16-byte aligned block",
        first != 0 && first.is_multiple_of(16),
        &first,
    );
    tally.value("RtlSizeHeap of it", size(first) as u64, 100);
    fill(first, 100, 0xA5);
    tally.check("RtlFreeHeap of it", free(first), &"FALSE");
    let again = allocate(HEAP_ZERO_MEMORY, 100);
    tally.value("the freed block is given out again", again, first);
    tally.check(
        "HEAP_ZERO_MEMORY zeroes a reused block",
        holds(again, 100, 0),
        &"non-zero bytes",
    );
    fill(again, 100, 0x5A);
    // SAFETY: a block of the heap.
    let grown = unsafe { RtlReAllocateHeap(process_heap(), HEAP_ZERO_MEMORY, again, 5000) };
    tally.check(
        "RtlReAllocateHeap keeps the contents and zeroes the rest",
        grown != 0 && holds(grown, 100, 0x5A) && holds(grown + 100, 4900, 0),
        &grown,
    );
    tally.value("RtlSizeHeap of the grown block", size(grown) as u64, 5000);
    // SAFETY: a block of the heap.
    let shrunk = unsafe { RtlReAllocateHeap(process_heap(), 0, grown, 10) };
    tally.check(
        "RtlReAllocateHeap shrinks a block, keeping its start",
        shrunk != 0 && holds(shrunk, 10, 0x5A) && size(shrunk) == 10,
        &shrunk,
    );
    tally.check("freeing the reallocated block", free(shrunk), &"FALSE");

    // Past the first segment, then all of it given back and taken again.
    let mut blocks = [0u64; MANY_BLOCKS];
    for (index, block) in blocks.iter_mut().enumerate() {
        *block = allocate(0, 200);
        if *block != 0 {
            fill(*block, 200, index as u8);
        }
    }
    let intact = blocks
        .iter()
        .enumerate()
        .all(|(index, block)| *block != 0 && holds(*block, 200, index as u8));
    tally.check(
        "a thousand blocks of 200 bytes, each keeping its own contents",
        intact,
        &"a block lost or overwritten",
    );
    let freed = blocks.iter().all(|block| free(*block));
    tally.check("all of them freed", freed, &"FALSE");
    let big = allocate(0, 1 << 20);
    tally.check(
        "a 1 MiB block after them",
        big != 0 && size(big) == 1 << 20,
        &big,
    );
    tally.check("freeing it", free(big), &"FALSE");
    tally.value("an impossible size gets NULL", allocate(0, 1 << 50), 0);

    // Until the heap can take no more segments (or memory runs out): NULL, then all of it
    // given back and usable again.
    let mut large = [0u64; MAX_LARGE_BLOCKS];
    let mut taken = 0;
    while taken < MAX_LARGE_BLOCKS {
        large[taken] = allocate(0, 1 << 20);
        if large[taken] == 0 {
            break;
        }
        taken += 1;
    }
    tally.check(
        "1 MiB blocks until the heap has no more room: then NULL",
        (1..MAX_LARGE_BLOCKS).contains(&taken),
        &taken,
    );
    let freed = large[..taken].iter().all(|block| free(*block));
    let again = allocate(0, 1 << 20);
    tally.check(
        "all of them freed, a 1 MiB block comes again",
        freed && again != 0 && free(again),
        &again,
    );
}

fn bad_frees(tally: &mut Tally) {
    let block = allocate(0, 64);
    let local = 0u64;
    let stack_address = &raw const local as u64;
    tally.check("RtlFreeHeap(NULL) succeeds", free(0), &"FALSE");
    tally.check(
        "RtlFreeHeap of a stack address is refused",
        !free(stack_address),
        &"TRUE",
    );
    tally.check(
        "RtlFreeHeap of a block's middle is refused",
        !free(block + 8) && !free(block + 16),
        &"TRUE",
    );
    tally.check(
        "RtlFreeHeap of a kernel address is refused",
        !free(0xFFFF_8000_0000_0000),
        &"TRUE",
    );
    // SAFETY: a handle that is not a heap: refused before anything is touched.
    let other_heap = unsafe { RtlFreeHeap(process_heap() + 16, 0, block) };
    tally.value(
        "RtlFreeHeap on a heap that is not one",
        u64::from(other_heap),
        0,
    );
    tally.check("the block is freed once", free(block), &"FALSE");
    tally.check("and refused the second time", !free(block), &"TRUE");
    tally.value(
        "RtlSizeHeap of a freed block",
        size(block) as u64,
        NOT_A_BLOCK as u64,
    );
    // SAFETY: refused before anything is touched.
    let reallocated = unsafe { RtlReAllocateHeap(process_heap(), 0, block, 10) };
    tally.value("RtlReAllocateHeap of a freed block", reallocated, 0);
    let after = allocate(0, 64);
    tally.check(
        "the heap still works after the refusals",
        after != 0 && free(after),
        &after,
    );
}

/// Set by [`mark_ran`].
static RAN: AtomicU32 = AtomicU32::new(0);

extern "system" fn return_parameter(parameter: u64) -> NtStatus {
    NtStatus(parameter as u32)
}

extern "system" fn exit_explicitly(parameter: u64) -> NtStatus {
    // SAFETY: ends this thread, which holds nothing.
    unsafe { RtlExitUserThread(NtStatus(parameter as u32 + 1)) }
}

extern "system" fn mark_ran(_parameter: u64) -> NtStatus {
    RAN.fetch_add(1, Ordering::SeqCst);
    NtStatus::SUCCESS
}

/// Allocates, fills, checks and frees blocks of sizes that vary with `seed`; UNSUCCESSFUL
/// when a block did not keep its contents.
extern "system" fn churn_heap(seed: u64) -> NtStatus {
    for round in 0..CONCURRENT_ROUNDS {
        let size = 16 + ((seed * 7919 + round * 104_729) % 700) as usize;
        let block = allocate(0, size);
        if block == 0 {
            return NtStatus::NO_MEMORY;
        }
        let byte = (seed + round) as u8;
        fill(block, size, byte);
        if !holds(block, size, byte) || !free(block) {
            return NtStatus::UNSUCCESSFUL;
        }
    }
    NtStatus::SUCCESS
}

/// Creates a thread of this process running `routine(parameter)`: its handle and client
/// ID, or the status.
fn create_thread(
    routine: extern "system" fn(u64) -> NtStatus,
    parameter: u64,
    suspended: bool,
) -> Result<(u64, ClientId), NtStatus> {
    let mut handle = 0;
    let mut client_id = ClientId::default();
    // SAFETY: the routine is this image's; the out pointers are locals.
    let status = unsafe {
        RtlCreateUserThread(
            CURRENT_PROCESS_HANDLE,
            0,
            u8::from(suspended),
            0,
            0,
            0,
            routine,
            parameter,
            &mut handle,
            &mut client_id,
        )
    };
    if status.is_success() {
        Ok((handle, client_id))
    } else {
        Err(status)
    }
}

/// NtQueryInformationThread(ThreadAmILastThread) of this thread (`u32::MAX` when refused).
fn am_i_last_thread() -> u32 {
    let mut last = 0u32;
    let status = query_am_i_last_thread((&raw mut last).cast(), size_of::<u32>() as u32);
    if status.is_success() { last } else { u32::MAX }
}

/// NtQueryInformationThread(ThreadAmILastThread) of this thread into `length` bytes at
/// `buffer`.
fn query_am_i_last_thread(buffer: *mut u8, length: u32) -> NtStatus {
    // SAFETY: the kernel probes the buffer; the callers pass a local or a kernel address.
    unsafe {
        NtQueryInformationThread(
            CURRENT_THREAD_HANDLE,
            THREAD_AM_I_LAST_THREAD_CLASS,
            buffer,
            length,
            core::ptr::null_mut(),
        )
    }
}

/// ThreadAmILastThread's bad input: a buffer of the wrong length, one in the kernel.
fn am_i_last_thread_bad_input(tally: &mut Tally) {
    let mut wide = 0u64;
    tally.status(
        "ThreadAmILastThread into 8 bytes",
        query_am_i_last_thread((&raw mut wide).cast(), 8),
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    tally.status(
        "ThreadAmILastThread into a kernel address",
        query_am_i_last_thread(0xFFFF_8000_0000_0000 as *mut u8, 4),
        NtStatus::ACCESS_VIOLATION,
    );
}

/// Waits for the thread and closes it: its basic information then.
fn join(handle: u64) -> ThreadBasicInformation {
    let mut information = ThreadBasicInformation::default();
    // SAFETY: the handle is the caller's; a local of the size passed.
    unsafe {
        NtWaitForSingleObject(handle, 0, core::ptr::null());
        NtQueryInformationThread(
            handle,
            THREAD_BASIC_INFORMATION_CLASS,
            (&raw mut information).cast(),
            size_of::<ThreadBasicInformation>() as u32,
            core::ptr::null_mut(),
        );
        NtClose(handle);
    }
    information
}

fn threads(tally: &mut Tally) {
    match create_thread(return_parameter, u64::from(THREAD_STATUS), false) {
        Ok((handle, client_id)) => {
            let information = join(handle);
            tally.value(
                "RtlCreateUserThread: the routine's return is the exit status",
                u64::from(information.exit_status),
                u64::from(THREAD_STATUS),
            );
            tally.check(
                "RtlCreateUserThread gives the thread's client ID",
                client_id == information.client_id && client_id.unique_thread != 0,
                &client_id.unique_thread,
            );
        }
        Err(status) => tally.status("RtlCreateUserThread", status, NtStatus::SUCCESS),
    }
    let mut handle = 0;
    // SAFETY: the routine is this image's; the handle a local.
    let status = unsafe {
        NtCreateThreadEx(
            &mut handle,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            CURRENT_PROCESS_HANDLE,
            return_parameter,
            u64::from(THREAD_STATUS),
            0,
            0,
            0,
            0,
            0,
        )
    };
    if status.is_success() {
        tally.value(
            "a routine NtCreateThreadEx starts returns into RtlUserThreadStart, which ends \
             the thread with its return",
            u64::from(join(handle).exit_status),
            u64::from(THREAD_STATUS),
        );
    } else {
        tally.status("NtCreateThreadEx", status, NtStatus::SUCCESS);
    }
    match create_thread(exit_explicitly, u64::from(THREAD_STATUS), false) {
        Ok((handle, _)) => tally.value(
            "RtlExitUserThread's status is the thread's",
            u64::from(join(handle).exit_status),
            u64::from(THREAD_STATUS + 1),
        ),
        Err(status) => tally.status("RtlCreateUserThread", status, NtStatus::SUCCESS),
    }
    match create_thread(mark_ran, 0, true) {
        Ok((handle, _)) => {
            tally.value(
                "a suspended thread has not run",
                u64::from(RAN.load(Ordering::SeqCst)),
                0,
            );
            tally.value(
                "ThreadAmILastThread with a second thread",
                u64::from(am_i_last_thread()),
                0,
            );
            // SAFETY: the thread is this function's.
            unsafe { NtResumeThread(handle, core::ptr::null_mut()) };
            let information = join(handle);
            tally.check(
                "resumed, it runs and exits with success",
                RAN.load(Ordering::SeqCst) == 1 && information.exit_status == 0,
                &information.exit_status,
            );
            tally.value(
                "ThreadAmILastThread once it is gone",
                u64::from(am_i_last_thread()),
                1,
            );
            am_i_last_thread_bad_input(tally);
        }
        Err(status) => tally.status("RtlCreateUserThread suspended", status, NtStatus::SUCCESS),
    }
    let churners = [
        create_thread(churn_heap, 1, false),
        create_thread(churn_heap, 2, false),
    ];
    let own = churn_heap(3);
    let statuses = churners.map(|thread| thread.map(|(handle, _)| join(handle).exit_status));
    tally.check(
        "three threads using the heap at once each keep their blocks",
        own == NtStatus::SUCCESS && statuses == [Ok(0), Ok(0)],
        &"a thread failed",
    );
    let mut handle = 0;
    // SAFETY: a handle value that names nothing; the out pointer is a local.
    let status = unsafe {
        RtlCreateUserThread(
            0x1234,
            0,
            0,
            0,
            0,
            0,
            return_parameter,
            0,
            &mut handle,
            core::ptr::null_mut(),
        )
    };
    tally.status(
        "RtlCreateUserThread in a process that is not one",
        status,
        NtStatus::INVALID_HANDLE,
    );
}

/// `text` (ASCII) as UTF-16 with a NUL, in `buffer`.
fn wide<'a>(text: &str, buffer: &'a mut [u16]) -> &'a [u16] {
    for (unit, byte) in buffer.iter_mut().zip(text.bytes().chain([0])) {
        *unit = u16::from(byte);
    }
    &buffer[..text.len() + 1]
}

fn strings(tally: &mut Tally) {
    let (mut a, mut b) = ([0u16; 16], [0u16; 16]);
    let (hello, shout) = (wide("Hello", &mut a), wide("HELLO", &mut b));
    let (mut first, mut second) = (UnicodeString::default(), UnicodeString::default());
    // SAFETY: the strings are NUL-terminated locals; the results are locals.
    unsafe {
        RtlInitUnicodeString(&mut first, hello.as_ptr());
        RtlInitUnicodeString(&mut second, shout.as_ptr());
    }
    tally.check(
        "RtlInitUnicodeString counts bytes without the NUL",
        first.length == 10 && first.maximum_length == 12,
        &first.length,
    );
    // SAFETY: both describe live locals.
    let (exact, folded) = unsafe {
        (
            RtlEqualUnicodeString(&first, &second, 0),
            RtlEqualUnicodeString(&first, &second, 1),
        )
    };
    tally.check(
        "RtlEqualUnicodeString tells case apart unless asked not to",
        exact == 0 && folded == 1,
        &folded,
    );
    let mut storage = [0u16; 8];
    let mut target = UnicodeString {
        length: 0,
        maximum_length: 8,
        reserved: 0,
        buffer: storage.as_mut_ptr() as u64,
    };
    // SAFETY: the target's buffer holds its maximum length; the source is a live local.
    unsafe { RtlCopyUnicodeString(&mut target, &first) };
    tally.check(
        "RtlCopyUnicodeString copies what fits",
        target.length == 8 && storage[..4] == hello[..4],
        &target.length,
    );
    target.maximum_length = 14;
    target.length = 0;
    let mut c = [0u16; 8];
    // SAFETY: as above, with NUL-terminated sources.
    let (fits, too_long) = unsafe {
        (
            RtlAppendUnicodeToString(&mut target, wide("abc", &mut c).as_ptr()),
            RtlAppendUnicodeToString(&mut target, hello.as_ptr()),
        )
    };
    tally.check(
        "RtlAppendUnicodeToString appends, and refuses what does not fit",
        fits == NtStatus::SUCCESS && too_long == NtStatus::BUFFER_TOO_SMALL && target.length == 6,
        &too_long,
    );
}

/// RtlCreateUserProcess of the NT path `path` with `parameters`: the status, and the
/// child's exit status once it ended (it is resumed and waited for).
fn run_process(path: &str, parameters: *const RtlUserProcessParameters) -> (NtStatus, u32) {
    run_process_of(path, parameters, 0)
}

/// [`run_process`] with `parent` as the new process's parent (0: this process).
fn run_process_of(
    path: &str,
    parameters: *const RtlUserProcessParameters,
    parent: u64,
) -> (NtStatus, u32) {
    let mut buffer = [0u16; 128];
    let units = wide(path, &mut buffer);
    let name = UnicodeString {
        length: ((units.len() - 1) * 2) as u16,
        maximum_length: (units.len() * 2) as u16,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    };
    let mut information = RtlUserProcessInformation::default();
    // SAFETY: every pointer is to a live local or the caller's parameters.
    let status = unsafe {
        RtlCreateUserProcess(
            &name,
            0,
            parameters,
            0,
            0,
            parent,
            0,
            0,
            0,
            &mut information,
        )
    };
    if !status.is_success() {
        return (status, 0);
    }
    let mut basic = ProcessBasicInformation::default();
    // SAFETY: the handles are the new process's; a local of the size passed.
    unsafe {
        NtResumeThread(information.thread, core::ptr::null_mut());
        NtWaitForSingleObject(information.process, 0, core::ptr::null());
        NtQueryInformationProcess(
            information.process,
            PROCESS_BASIC_INFORMATION_CLASS,
            (&raw mut basic).cast(),
            size_of::<ProcessBasicInformation>() as u32,
            core::ptr::null_mut(),
        );
        NtClose(information.thread);
        NtClose(information.process);
    }
    (status, basic.exit_status)
}

/// NtCreateUserProcess with `parameters`; a child is waited for and closed.
fn nt_create_user_process(parameters: &RtlUserProcessParameters) -> NtStatus {
    let (mut process, mut thread) = (0, 0);
    // SAFETY: the handles are locals; the parameters the caller's.
    let status = unsafe {
        NtCreateUserProcess(
            &mut process,
            &mut thread,
            PROCESS_ALL_ACCESS,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            core::ptr::null(),
            0,
            0,
            parameters,
            0,
            0,
        )
    };
    if status.is_success() {
        // SAFETY: the handles are the new process's.
        unsafe {
            NtWaitForSingleObject(process, 0, core::ptr::null());
            NtClose(thread);
            NtClose(process);
        }
    }
    status
}

fn processes(tally: &mut Tally) {
    let before = counters_with(NtQuerySystemInformation);
    let mut buffer = [0u16; 64];
    let image = wide("badimport", &mut buffer);
    let mut name = UnicodeString::default();
    let mut parameters = core::ptr::null_mut();
    let null: *const UnicodeString = core::ptr::null();
    let no_environment = core::ptr::null();
    // SAFETY: `image` is NUL-terminated; the out pointers are locals.
    let status = unsafe {
        RtlInitUnicodeString(&mut name, image.as_ptr());
        RtlCreateProcessParameters(
            &mut parameters,
            &name,
            null,
            null,
            null,
            no_environment,
            null,
            null,
            null,
            null,
        )
    };
    tally.status("RtlCreateProcessParameters", status, NtStatus::SUCCESS);
    let (status, exit_status) = run_process("\\SystemRoot\\System32\\badimport.exe", parameters);
    tally.check(
        "a classic-path child's loader refuses a missing export",
        status == NtStatus::SUCCESS && exit_status == NtStatus::ENTRYPOINT_NOT_FOUND.0,
        &NtStatus(exit_status),
    );
    let (status, _) = run_process_of("\\SystemRoot\\System32\\exit.exe", parameters, 0x1234);
    tally.status(
        "RtlCreateUserProcess with a parent that is not a process",
        status,
        NtStatus::INVALID_HANDLE,
    );
    let (status, _) = run_process("\\SystemRoot\\System32\\missing.exe", parameters);
    tally.status(
        "RtlCreateUserProcess of a missing file",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );
    let (status, _) = run_process("\\SystemRoot\\boot.cfg", parameters);
    tally.status(
        "RtlCreateUserProcess of a text file",
        status,
        NtStatus::INVALID_IMAGE_NOT_MZ,
    );
    let (status, _) = run_process("\\SystemRoot\\System32\\exit.exe", core::ptr::null());
    tally.status(
        "RtlCreateUserProcess without parameters",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    // SAFETY: the parameters are RtlCreateProcessParameters's; a copy is changed.
    let mut odd = unsafe { *parameters };
    odd.command_line.length = 3;
    let (status, _) = run_process("\\SystemRoot\\System32\\exit.exe", &odd);
    tally.status(
        "RtlCreateUserProcess with an odd command-line length",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    // The kernel's copy of the environment for NtCreateUserProcess.
    let environment = [u16::from(b'A'), u16::from(b'='), u16::from(b'1'), 0, 0];
    for (name, address, expected) in [
        (
            "NtCreateUserProcess with an environment at an odd address",
            0x11,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "NtCreateUserProcess with an environment at a kernel address",
            0xFFFF_8000_0000_0000,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtCreateUserProcess with a good environment",
            environment.as_ptr() as u64,
            NtStatus::SUCCESS,
        ),
    ] {
        // SAFETY: a copy of RtlCreateProcessParameters's block.
        let mut given = unsafe { *parameters };
        given.environment = address;
        tally.status(name, nt_create_user_process(&given), expected);
    }
    // SAFETY: the block is RtlCreateProcessParameters's.
    let status = unsafe { RtlDestroyProcessParameters(parameters) };
    tally.status("RtlDestroyProcessParameters", status, NtStatus::SUCCESS);
    // SAFETY: refused before anything is touched: the block is freed.
    let status = unsafe { RtlDestroyProcessParameters(parameters) };
    tally.status(
        "RtlDestroyProcessParameters twice",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    // SAFETY: NULL arguments are refused.
    let status = unsafe {
        RtlCreateProcessParameters(
            &mut parameters,
            null,
            null,
            null,
            null,
            no_environment,
            null,
            null,
            null,
            null,
        )
    };
    tally.status(
        "RtlCreateProcessParameters without an image path",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    let after = counters_with(NtQuerySystemInformation);
    tally.check(
        "the counters are back where they started",
        before.is_ok() && before == after,
        &"they differ",
    );
}
