//! Semaphores, mutants, abandonment, opening by name, and signal-and-wait.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::access::{
    EVENT_ALL_ACCESS, MUTANT_ALL_ACCESS, OBJ_OPENIF, SEMAPHORE_ALL_ACCESS, SEMAPHORE_QUERY_STATE,
    SYNCHRONIZE,
};
use abi::dispatcher::{
    MUTANT_BASIC_INFORMATION_CLASS, MutantBasicInformation, NOTIFICATION_EVENT,
    SEMAPHORE_BASIC_INFORMATION_CLASS, SYNCHRONIZATION_EVENT, SemaphoreBasicInformation, WAIT_ALL,
    WAIT_ANY,
};
use abi::nt::ObjectAttributes;
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::NtStatus;
use rt::syscall::{
    exit_thread, nt_create_event, nt_create_mutant, nt_create_semaphore, nt_duplicate_object,
    nt_open_event, nt_open_mutant, nt_open_semaphore, nt_query_mutant, nt_query_semaphore,
    nt_release_mutant, nt_release_semaphore, nt_set_event, nt_signal_and_wait_for_single_object,
    nt_terminate_thread,
};
use rt::tally::Tally;
use rt::thread::create_thread;

use super::{
    BOGUS_HANDLE, KERNEL_ADDRESS, MS, Name, POLL, close, create_event, object_attributes, wait,
    wait_multiple,
};

fn create_semaphore(initial: i32, maximum: i32) -> (NtStatus, u64) {
    create_named_semaphore(None, initial, maximum)
}

fn create_named_semaphore(
    attributes: Option<&ObjectAttributes>,
    initial: i32,
    maximum: i32,
) -> (NtStatus, u64) {
    let mut handle = 0;
    let attributes = attributes.map_or(core::ptr::null(), |a| a as *const ObjectAttributes);
    // SAFETY: the handle is a local; the attributes are null or a caller's local.
    let status = unsafe {
        nt_create_semaphore(
            &mut handle,
            SEMAPHORE_ALL_ACCESS,
            attributes,
            initial,
            maximum,
        )
    };
    (status, handle)
}

fn release_semaphore(handle: u64, count: i32) -> (NtStatus, i32) {
    let mut previous = -99;
    // SAFETY: the previous count is a local.
    let status = unsafe { nt_release_semaphore(handle, count, &mut previous) };
    (status, previous)
}

/// The semaphore's (current, maximum) count, or (-1, -1) when the query fails.
fn semaphore_count(handle: u64) -> (i32, i32) {
    let mut info = SemaphoreBasicInformation::default();
    // SAFETY: the buffer is a local of the size given.
    let status = unsafe {
        nt_query_semaphore(
            handle,
            SEMAPHORE_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<SemaphoreBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status == NtStatus::SUCCESS {
        (info.current_count, info.maximum_count)
    } else {
        (-1, -1)
    }
}

fn create_mutant(attributes: Option<&ObjectAttributes>, initial_owner: bool) -> (NtStatus, u64) {
    let mut handle = 0;
    let attributes = attributes.map_or(core::ptr::null(), |a| a as *const ObjectAttributes);
    // SAFETY: the handle is a local; the attributes are null or a caller's local.
    let status = unsafe {
        nt_create_mutant(
            &mut handle,
            MUTANT_ALL_ACCESS,
            attributes,
            u32::from(initial_owner),
        )
    };
    (status, handle)
}

fn release_mutant(handle: u64) -> (NtStatus, i32) {
    let mut previous = -99;
    // SAFETY: the previous count is a local.
    let status = unsafe { nt_release_mutant(handle, &mut previous) };
    (status, previous)
}

fn mutant_state(handle: u64) -> Result<MutantBasicInformation, NtStatus> {
    let mut info = MutantBasicInformation::default();
    // SAFETY: the buffer is a local of the size given.
    let status = unsafe {
        nt_query_mutant(
            handle,
            MUTANT_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<MutantBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status == NtStatus::SUCCESS {
        Ok(info)
    } else {
        Err(status)
    }
}

/// Lets every ready thread of this priority run until it blocks or exits: the caller
/// sleeps a little (one processor).
pub fn let_others_run() {
    let interval = -20 * MS;
    // SAFETY: the interval is a local.
    unsafe { rt::syscall::nt_delay_execution(0, &interval) };
}

/// The object a helper thread works on, and what it saw.
static SHARED: AtomicU64 = AtomicU64::new(0);
static WOKEN: AtomicU32 = AtomicU32::new(0);
static SEEN: AtomicU32 = AtomicU32::new(0);

extern "system" fn wait_then_count(_: u64) -> ! {
    let status = wait(SHARED.load(Ordering::Relaxed), None);
    if status == NtStatus::SUCCESS {
        WOKEN.fetch_add(1, Ordering::Relaxed);
    }
    exit_thread(status)
}

/// Counts, waits, releases, the limit, WaitAll and the bad inputs of semaphores.
pub fn semaphore(t: &mut Tally) {
    let (status, sem) = create_semaphore(2, 3);
    t.status("create semaphore 2 of 3", status, NtStatus::SUCCESS);
    t.status(
        "first poll takes a unit",
        wait(sem, POLL),
        NtStatus::SUCCESS,
    );
    t.status(
        "second poll takes a unit",
        wait(sem, POLL),
        NtStatus::SUCCESS,
    );
    t.status("third poll times out", wait(sem, POLL), NtStatus::TIMEOUT);
    let (status, previous) = release_semaphore(sem, 2);
    t.status("release 2", status, NtStatus::SUCCESS);
    t.value("release 2: previous count", previous as u64, 0);
    t.check(
        "count after release",
        semaphore_count(sem) == (2, 3),
        &"(2, 3)",
    );
    let (status, _) = release_semaphore(sem, 2);
    t.status(
        "release past the maximum",
        status,
        NtStatus::SEMAPHORE_LIMIT_EXCEEDED,
    );
    t.check(
        "count unchanged by a refused release",
        semaphore_count(sem) == (2, 3),
        &"(2, 3)",
    );
    t.status(
        "release 0",
        release_semaphore(sem, 0).0,
        NtStatus::INVALID_PARAMETER,
    );
    t.status(
        "release -1",
        release_semaphore(sem, -1).0,
        NtStatus::INVALID_PARAMETER,
    );
    let (status, previous) = release_semaphore(sem, 1);
    t.status("release up to the maximum", status, NtStatus::SUCCESS);
    t.value("previous count", previous as u64, 2);
    close(sem);

    for (name, initial, maximum) in [
        ("create with a negative count", -1, 3),
        ("create with the count above the maximum", 4, 3),
        ("create with maximum 0", 0, 0),
        ("create with a negative maximum", 0, -5),
    ] {
        t.status(
            name,
            create_semaphore(initial, maximum).0,
            NtStatus::INVALID_PARAMETER,
        );
    }

    // Three waiters; each release wakes as many as it adds.
    let (_, sem) = create_semaphore(0, 10);
    SHARED.store(sem, Ordering::Relaxed);
    WOKEN.store(0, Ordering::Relaxed);
    let waiters = [0u64; 3].map(|_| create_thread(wait_then_count, 0, 0).unwrap_or(0));
    let_others_run();
    t.value(
        "no waiter woke before a release",
        u64::from(WOKEN.load(Ordering::Relaxed)),
        0,
    );
    release_semaphore(sem, 2);
    let_others_run();
    t.value(
        "release 2 woke two waiters",
        u64::from(WOKEN.load(Ordering::Relaxed)),
        2,
    );
    t.check(
        "their units are taken",
        semaphore_count(sem) == (0, 10),
        &"(0, 10)",
    );
    release_semaphore(sem, 1);
    t.status(
        "the last waiter ends",
        wait_multiple(&waiters, WAIT_ALL, None),
        NtStatus::SUCCESS,
    );
    t.value(
        "release 1 woke the third",
        u64::from(WOKEN.load(Ordering::Relaxed)),
        3,
    );
    waiters.into_iter().for_each(close);

    // WaitAll takes a unit only when every object is signaled.
    let event = create_event(NOTIFICATION_EVENT, false);
    release_semaphore(sem, 1);
    t.status(
        "WaitAll with the event clear",
        wait_multiple(&[sem, event], WAIT_ALL, POLL),
        NtStatus::TIMEOUT,
    );
    t.check(
        "a failed WaitAll takes nothing",
        semaphore_count(sem) == (1, 10),
        &"(1, 10)",
    );
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(event, core::ptr::null_mut()) };
    t.status(
        "WaitAll with both signaled",
        wait_multiple(&[sem, event], WAIT_ALL, POLL),
        NtStatus::SUCCESS,
    );
    t.check(
        "WaitAll took the unit",
        semaphore_count(sem) == (0, 10),
        &"(0, 10)",
    );
    t.status(
        "WaitAny names the signaled one",
        wait_multiple(&[sem, event], WAIT_ANY, POLL),
        NtStatus(1),
    );

    // Bad handles, types, pointers and classes.
    t.status(
        "release a bogus handle",
        release_semaphore(BOGUS_HANDLE, 1).0,
        NtStatus::INVALID_HANDLE,
    );
    t.status(
        "release an event",
        release_semaphore(event, 1).0,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    // SAFETY: the kernel must refuse the kernel address before touching it.
    let status = unsafe { nt_release_semaphore(sem, 1, KERNEL_ADDRESS as *mut i32) };
    t.status(
        "previous count at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let mut buffer = [0i32; 4];
    // SAFETY: a misaligned pointer into a local; the kernel must refuse it.
    let status =
        unsafe { nt_release_semaphore(sem, 1, buffer.as_mut_ptr().cast::<u8>().add(1).cast()) };
    t.status(
        "misaligned previous count",
        status,
        NtStatus::DATATYPE_MISALIGNMENT,
    );
    // SAFETY: the buffer is a local; the class or length is wrong.
    let status =
        unsafe { nt_query_semaphore(sem, 1, buffer.as_mut_ptr().cast(), 8, core::ptr::null_mut()) };
    t.status(
        "query an unknown class",
        status,
        NtStatus::INVALID_INFO_CLASS,
    );
    // SAFETY: as above.
    let status =
        unsafe { nt_query_semaphore(sem, 0, buffer.as_mut_ptr().cast(), 4, core::ptr::null_mut()) };
    t.status(
        "query with a short buffer",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    let mut handle = 0;
    // SAFETY: the handle is a local; the semaphore count is bad.
    let status = unsafe {
        nt_create_semaphore(
            KERNEL_ADDRESS as *mut u64,
            SEMAPHORE_ALL_ACCESS,
            core::ptr::null(),
            0,
            1,
        )
    };
    t.status(
        "create into a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: the handle is a local.
    let status = unsafe {
        nt_create_semaphore(
            &mut handle,
            SEMAPHORE_ALL_ACCESS,
            KERNEL_ADDRESS as *const ObjectAttributes,
            0,
            1,
        )
    };
    t.status(
        "attributes at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    close(sem);
    close(event);
}

extern "system" fn try_foreign_mutant(_: u64) -> ! {
    let mutant = SHARED.load(Ordering::Relaxed);
    let polled = wait(mutant, POLL);
    let released = release_mutant(mutant).0;
    SEEN.store(
        u32::from(polled == NtStatus::TIMEOUT)
            + 2 * u32::from(released == NtStatus::MUTANT_NOT_OWNED),
        Ordering::Relaxed,
    );
    // Blocks until the owner lets go, then owns it itself.
    let acquired = wait(mutant, None);
    let state = mutant_state(mutant);
    let owned = state.is_ok_and(|s| s.owned_by_caller == 1 && s.current_count == 0);
    let (released, previous) = release_mutant(mutant);
    let right =
        acquired == NtStatus::SUCCESS && owned && released == NtStatus::SUCCESS && previous == 0;
    exit_thread(if right {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    })
}

/// Ownership, recursion, STATUS_MUTANT_NOT_OWNED and hand-over to a waiter.
pub fn mutant(t: &mut Tally) {
    let (status, mutant) = create_mutant(None, false);
    t.status("create a free mutant", status, NtStatus::SUCCESS);
    t.check(
        "a new mutant is free",
        mutant_state(mutant).is_ok_and(|s| s.current_count == 1 && s.owned_by_caller == 0),
        &"state",
    );
    t.status("acquire", wait(mutant, POLL), NtStatus::SUCCESS);
    t.status(
        "acquire again (recursion)",
        wait(mutant, POLL),
        NtStatus::SUCCESS,
    );
    t.check(
        "owned twice",
        mutant_state(mutant).is_ok_and(|s| s.current_count == -1 && s.owned_by_caller == 1),
        &"state",
    );
    let (status, previous) = release_mutant(mutant);
    t.status("first release", status, NtStatus::SUCCESS);
    t.value(
        "first release: previous count",
        previous as u64,
        -1i64 as u64,
    );
    let (status, previous) = release_mutant(mutant);
    t.status("second release", status, NtStatus::SUCCESS);
    t.value("second release: previous count", previous as u64, 0);
    t.status(
        "release a free mutant",
        release_mutant(mutant).0,
        NtStatus::MUTANT_NOT_OWNED,
    );

    // Another thread may neither take nor release it while this one owns it.
    wait(mutant, POLL);
    SHARED.store(mutant, Ordering::Relaxed);
    let Ok(other) = create_thread(try_foreign_mutant, 0, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    let_others_run();
    let seen = SEEN.load(Ordering::Relaxed);
    t.check("another thread's poll times out", seen & 1 != 0, &seen);
    t.check(
        "another thread's release is not owned",
        seen & 2 != 0,
        &seen,
    );
    release_mutant(mutant);
    t.status(
        "the waiter got it when released",
        wait(other, None),
        NtStatus::SUCCESS,
    );
    close(other);
    t.check(
        "free again",
        mutant_state(mutant).is_ok_and(|s| s.current_count == 1),
        &"state",
    );

    // WaitAll with a mutant and a semaphore.
    let (_, sem) = create_semaphore(1, 1);
    t.status(
        "WaitAll mutant and semaphore",
        wait_multiple(&[mutant, sem], WAIT_ALL, POLL),
        NtStatus::SUCCESS,
    );
    t.check(
        "WaitAll acquired the mutant",
        mutant_state(mutant).is_ok_and(|s| s.owned_by_caller == 1),
        &"state",
    );
    t.status(
        "WaitAll with the semaphore empty",
        wait_multiple(&[mutant, sem], WAIT_ALL, POLL),
        NtStatus::TIMEOUT,
    );
    t.check(
        "a failed WaitAll does not acquire",
        mutant_state(mutant).is_ok_and(|s| s.current_count == 0),
        &"state",
    );
    release_mutant(mutant);
    close(sem);
    close(mutant);

    let (status, owned) = create_mutant(None, true);
    t.status("create owned", status, NtStatus::SUCCESS);
    t.check(
        "InitialOwner owns it",
        mutant_state(owned).is_ok_and(|s| s.current_count == 0 && s.owned_by_caller == 1),
        &"state",
    );
    t.status(
        "release the initial ownership",
        release_mutant(owned).0,
        NtStatus::SUCCESS,
    );
    close(owned);

    t.status(
        "release a bogus handle",
        release_mutant(BOGUS_HANDLE).0,
        NtStatus::INVALID_HANDLE,
    );
    let event = create_event(NOTIFICATION_EVENT, false);
    t.status(
        "release an event",
        release_mutant(event).0,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    close(event);
    // SAFETY: the kernel must refuse the kernel address before touching it.
    let status = unsafe {
        nt_create_mutant(
            KERNEL_ADDRESS as *mut u64,
            MUTANT_ALL_ACCESS,
            core::ptr::null(),
            0,
        )
    };
    t.status(
        "create into a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
}

static READY: AtomicU64 = AtomicU64::new(0);

/// Acquires the shared mutant, says so, and exits (or blocks for ever, to be terminated)
/// without releasing it.
extern "system" fn acquire_and_die(block: u64) -> ! {
    let status = wait(SHARED.load(Ordering::Relaxed), None);
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(READY.load(Ordering::Relaxed), core::ptr::null_mut()) };
    if block != 0 {
        let never = create_event(NOTIFICATION_EVENT, false);
        wait(never, None);
    }
    exit_thread(status)
}

static WAIT_STATUS: AtomicU32 = AtomicU32::new(0);

extern "system" fn wait_on_pair(other: u64) -> ! {
    let status = wait_multiple(&[other, SHARED.load(Ordering::Relaxed)], WAIT_ANY, None);
    WAIT_STATUS.store(status.0, Ordering::Relaxed);
    exit_thread(NtStatus::SUCCESS)
}

/// A mutant whose owner dies is abandoned: the next thread to acquire it, already waiting
/// or not, gets STATUS_ABANDONED_WAIT_0 + its index.
pub fn abandon(t: &mut Tally) {
    let (_, mutant) = create_mutant(None, false);
    SHARED.store(mutant, Ordering::Relaxed);
    READY.store(
        create_event(SYNCHRONIZATION_EVENT, false),
        Ordering::Relaxed,
    );
    let Ok(owner) = create_thread(acquire_and_die, 0, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    t.status("the owner exits", wait(owner, None), NtStatus::SUCCESS);
    close(owner);
    // Its READY too: left set, the next owner's would seem to come before that owner
    // acquired the mutant (a race with several processors).
    t.status(
        "it said ready",
        wait(READY.load(Ordering::Relaxed), POLL),
        NtStatus::SUCCESS,
    );
    t.check(
        "the mutant is abandoned",
        mutant_state(mutant).is_ok_and(|s| s.abandoned_state == 1 && s.current_count == 1),
        &"state",
    );
    t.status(
        "acquiring it says abandoned",
        wait(mutant, POLL),
        NtStatus::ABANDONED_WAIT_0,
    );
    t.check(
        "the new owner owns it, no longer abandoned",
        mutant_state(mutant).is_ok_and(|s| s.abandoned_state == 0 && s.owned_by_caller == 1),
        &"state",
    );
    t.status(
        "the new owner releases it",
        release_mutant(mutant).0,
        NtStatus::SUCCESS,
    );

    // A waiter blocked on the mutant (index 1 of its WaitAny) when its owner is terminated.
    let Ok(owner) = create_thread(acquire_and_die, 1, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    wait(READY.load(Ordering::Relaxed), None);
    let never = create_event(NOTIFICATION_EVENT, false);
    let Ok(waiter) = create_thread(wait_on_pair, never, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    let_others_run();
    t.value(
        "the waiter still waits",
        u64::from(WAIT_STATUS.load(Ordering::Relaxed)),
        0,
    );
    // SAFETY: the owner thread is this program's, blocked for ever.
    let status = unsafe { nt_terminate_thread(owner, NtStatus(0x55)) };
    t.status("terminate the owner", status, NtStatus::SUCCESS);
    wait(waiter, None);
    t.value(
        "the waiter gets STATUS_ABANDONED_WAIT_0 + 1",
        u64::from(WAIT_STATUS.load(Ordering::Relaxed)),
        u64::from(NtStatus::ABANDONED_WAIT_0.0 + 1),
    );
    t.check(
        "the waiter owned it, then died: abandoned again",
        mutant_state(mutant).is_ok_and(|s| s.abandoned_state == 1),
        &"state",
    );
    for handle in [owner, waiter, never, mutant, READY.load(Ordering::Relaxed)] {
        close(handle);
    }
}

/// Events, semaphores and mutants opened by name; a name of another type; OBJ_OPENIF.
pub fn named(t: &mut Tally) {
    let sem_name = Name::new("\\BaseNamedObjects\\SyncTestSemaphore");
    let sem_string = sem_name.string();
    let sem_attributes = object_attributes(&sem_string, 0);
    let (status, sem) = create_named_semaphore(Some(&sem_attributes), 0, 5);
    t.status("create a named semaphore", status, NtStatus::SUCCESS);
    let mut opened = 0;
    // SAFETY: the handle and attributes are locals.
    let status = unsafe { nt_open_semaphore(&mut opened, SEMAPHORE_ALL_ACCESS, &sem_attributes) };
    t.status("open it by name", status, NtStatus::SUCCESS);
    release_semaphore(opened, 3);
    t.check(
        "a release through the opened handle shows",
        semaphore_count(sem) == (3, 5),
        &"(3, 5)",
    );
    close(opened);
    // SAFETY: as above.
    let status = unsafe {
        nt_open_semaphore(
            &mut opened,
            SEMAPHORE_QUERY_STATE | SYNCHRONIZE,
            &sem_attributes,
        )
    };
    t.status("open it for query only", status, NtStatus::SUCCESS);
    t.status(
        "release without SEMAPHORE_MODIFY_STATE",
        release_semaphore(opened, 1).0,
        NtStatus::ACCESS_DENIED,
    );
    t.status(
        "but it can be waited on",
        wait(opened, POLL),
        NtStatus::SUCCESS,
    );
    close(opened);
    // SAFETY: as above.
    let status = unsafe { nt_open_mutant(&mut opened, MUTANT_ALL_ACCESS, &sem_attributes) };
    t.status(
        "open the semaphore as a mutant",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    t.status(
        "create the same name again",
        create_named_semaphore(Some(&sem_attributes), 0, 5).0,
        NtStatus::OBJECT_NAME_COLLISION,
    );
    let openif = object_attributes(&sem_string, OBJ_OPENIF);
    let (status, again) = create_named_semaphore(Some(&openif), 0, 5);
    t.status(
        "create it with OBJ_OPENIF",
        status,
        NtStatus::OBJECT_NAME_EXISTS,
    );
    t.check(
        "OBJ_OPENIF opened the same semaphore",
        semaphore_count(again) == (2, 5),
        &"(2, 5)",
    );
    close(again);

    let mutant_name = Name::new("\\BaseNamedObjects\\SyncTestMutant");
    let mutant_string = mutant_name.string();
    let mutant_attributes = object_attributes(&mutant_string, 0);
    let (status, mutant) = create_mutant(Some(&mutant_attributes), true);
    t.status("create a named mutant", status, NtStatus::SUCCESS);
    // SAFETY: as above.
    let status = unsafe { nt_open_mutant(&mut opened, MUTANT_ALL_ACCESS, &mutant_attributes) };
    t.status("open it by name", status, NtStatus::SUCCESS);
    t.check(
        "the opened handle names the owned mutant",
        mutant_state(opened).is_ok_and(|s| s.owned_by_caller == 1),
        &"state",
    );
    t.status(
        "release through the opened handle",
        release_mutant(opened).0,
        NtStatus::SUCCESS,
    );
    close(opened);
    close(mutant);

    let event_name = Name::new("\\BaseNamedObjects\\SyncTestEvent");
    let event_string = event_name.string();
    let event_attributes = object_attributes(&event_string, 0);
    let mut event = 0;
    // SAFETY: the handle and attributes are locals.
    let status = unsafe {
        nt_create_event(
            &mut event,
            EVENT_ALL_ACCESS,
            &event_attributes,
            NOTIFICATION_EVENT,
            0,
        )
    };
    t.status("create a named event", status, NtStatus::SUCCESS);
    // SAFETY: as above.
    let status = unsafe { nt_open_event(&mut opened, EVENT_ALL_ACCESS, &event_attributes) };
    t.status("open it by name", status, NtStatus::SUCCESS);
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(opened, core::ptr::null_mut()) };
    t.status(
        "a set through the opened handle shows",
        wait(event, POLL),
        NtStatus::SUCCESS,
    );
    close(opened);
    close(event);
    // SAFETY: as above; the last handle is gone, and with it the temporary name.
    let status = unsafe { nt_open_event(&mut opened, EVENT_ALL_ACCESS, &event_attributes) };
    t.status(
        "open a name gone with its last handle",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );
    // SAFETY: the kernel must refuse the kernel address before touching it.
    let status = unsafe {
        nt_open_event(
            &mut opened,
            EVENT_ALL_ACCESS,
            KERNEL_ADDRESS as *const ObjectAttributes,
        )
    };
    t.status(
        "open with attributes at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    close(sem);
}

fn signal_and_wait(signal: u64, wait: u64, timeout: Option<i64>) -> NtStatus {
    let timeout = timeout
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const i64);
    // SAFETY: `timeout` is null or points to a local.
    unsafe { nt_signal_and_wait_for_single_object(signal, wait, 0, timeout) }
}

/// Answers each set of `SHARED` by setting `READY`, twice.
extern "system" fn answer(_: u64) -> ! {
    for _ in 0..2 {
        wait(SHARED.load(Ordering::Relaxed), None);
        // SAFETY: no previous-state pointer.
        unsafe { nt_set_event(READY.load(Ordering::Relaxed), core::ptr::null_mut()) };
    }
    exit_thread(NtStatus::SUCCESS)
}

/// NtSignalAndWaitForSingleObject with each kind of object to signal, and its bad inputs.
pub fn signal_wait(t: &mut Tally) {
    let (request, reply) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_event(SYNCHRONIZATION_EVENT, false),
    );
    SHARED.store(request, Ordering::Relaxed);
    READY.store(reply, Ordering::Relaxed);
    let Ok(helper) = create_thread(answer, 0, 0) else {
        t.check("create a thread", false, &"failed");
        return;
    };
    t.status(
        "signal an event and wait for the answer",
        signal_and_wait(request, reply, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    let (_, sem) = create_semaphore(0, 1);
    let (_, mutant) = create_mutant(None, true);
    t.status(
        "release a mutant and wait",
        signal_and_wait(mutant, sem, POLL),
        NtStatus::TIMEOUT,
    );
    t.check(
        "the mutant was released",
        mutant_state(mutant).is_ok_and(|s| s.current_count == 1),
        &"state",
    );
    t.status(
        "release a semaphore and wait for it",
        signal_and_wait(sem, sem, POLL),
        NtStatus::SUCCESS,
    );
    t.status(
        "the second answer",
        signal_and_wait(request, reply, Some(-2000 * MS)),
        NtStatus::SUCCESS,
    );
    wait(helper, None);
    close(helper);

    t.status(
        "release a mutant not owned",
        signal_and_wait(mutant, sem, POLL),
        NtStatus::MUTANT_NOT_OWNED,
    );
    release_semaphore(sem, 1);
    t.status(
        "release a full semaphore",
        signal_and_wait(sem, request, POLL),
        NtStatus::SEMAPHORE_LIMIT_EXCEEDED,
    );
    t.status(
        "signal a thread",
        signal_and_wait(CURRENT_THREAD_HANDLE, sem, POLL),
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    t.status(
        "wait on a bogus handle",
        signal_and_wait(request, BOGUS_HANDLE, POLL),
        NtStatus::INVALID_HANDLE,
    );
    t.status(
        "nothing was signaled before the refusal",
        wait(request, POLL),
        NtStatus::TIMEOUT,
    );
    t.status(
        "signal a bogus handle",
        signal_and_wait(BOGUS_HANDLE, request, POLL),
        NtStatus::INVALID_HANDLE,
    );
    let mut query_only = 0;
    // SAFETY: the target handle is a local.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            request,
            CURRENT_PROCESS_HANDLE,
            &mut query_only,
            SYNCHRONIZE,
            0,
            0,
        )
    };
    t.status(
        "an event handle without EVENT_MODIFY_STATE",
        signal_and_wait(query_only, sem, POLL),
        NtStatus::ACCESS_DENIED,
    );
    close(query_only);
    // SAFETY: the kernel must refuse the timeout at a kernel address.
    let status = unsafe {
        nt_signal_and_wait_for_single_object(request, sem, 0, KERNEL_ADDRESS as *const i64)
    };
    t.status(
        "a timeout at a kernel address",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    for handle in [request, reply, sem, mutant] {
        close(handle);
    }
}
