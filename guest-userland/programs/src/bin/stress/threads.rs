//! Stress operations on threads: woken from waits, ping-pongs, a semaphore stream,
//! suspension and termination from outside.

use super::*;

/// A thread waits on one object, which the worker signals sooner or later.
pub(super) extern "system" fn woken_thread(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let status = wait_for_signal(job.objects[0].load(Ordering::Relaxed), false);
    if status != NtStatus::SUCCESS {
        exit_thread(status);
    }
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// Wakes a thread from a wait on a notification event, a synchronization event or a
/// semaphore, signaled before or after it waits.
pub(super) fn thread_woken(worker: &mut Worker) {
    let tag = worker.tag();
    let kind = worker.rng.below(3);
    let object = match kind {
        0 => create_event(NOTIFICATION_EVENT, false),
        1 => create_event(SYNCHRONIZATION_EVENT, false),
        _ => create_semaphore(1),
    };
    let object = match object {
        Ok(object) => object,
        Err(status) => {
            WAKEUPS.wrong(format_args!("creating the object: {status}"));
            return;
        }
    };
    worker.job().objects[0].store(object, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(woken_thread, tag, false) {
        worker.maybe_pause();
        if kind == 2 {
            WAKEUPS.first();
            // SAFETY: no previous-count pointer.
            let status = unsafe { nt_release_semaphore(object, 1, core::ptr::null_mut()) };
            WAKEUPS.expect("NtReleaseSemaphore", status, NtStatus::SUCCESS);
        } else {
            signal(object);
        }
        reap_thread(thread, THREAD_EXIT + tag);
    }
    close(object);
}

/// An event ping-pong between the worker and a thread, the worker's side with NtSetEvent
/// and a wait or with NtSignalAndWaitForSingleObject.
pub(super) fn ping_pong(worker: &mut Worker) {
    let tag = worker.tag();
    let rounds = 8 + worker.rng.below(57);
    let signal_and_wait = worker.rng.below(2) == 0;
    let (Ok(ping), Ok(pong)) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_event(SYNCHRONIZATION_EVENT, false),
    ) else {
        WAKEUPS.wrong(format_args!("creating the events"));
        return;
    };
    let job = worker.job();
    job.objects[0].store(ping, Ordering::Relaxed);
    job.objects[1].store(pong, Ordering::Relaxed);
    job.rounds.store(rounds, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(servant, tag, false) {
        for round in 0..rounds {
            let status = if signal_and_wait {
                WAKEUPS.first();
                let timeout = -SAFETY_MS * MS;
                // SAFETY: the timeout is a local.
                let status =
                    unsafe { nt_signal_and_wait_for_single_object(ping, pong, 0, &timeout) };
                if status == NtStatus::SUCCESS {
                    WAKEUPS.second();
                }
                status
            } else {
                signal(ping);
                wait_for_signal(pong, false)
            };
            if status != NtStatus::SUCCESS {
                WAKEUPS.wrong(format_args!("round {round} of {rounds}: {status}"));
                break;
            }
        }
        reap_thread(thread, THREAD_EXIT + tag);
    }
    close(ping);
    close(pong);
}

/// Takes `rounds` units from the semaphore `objects[0]`.
pub(super) extern "system" fn consumer(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let semaphore = job.objects[0].load(Ordering::Relaxed);
    for _ in 0..job.rounds.load(Ordering::Relaxed) {
        let status = wait_for_signal(semaphore, false);
        if status != NtStatus::SUCCESS {
            exit_thread(status);
        }
    }
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// The worker releases a semaphore in batches of one to three; a thread takes every unit.
pub(super) fn semaphore_stream(worker: &mut Worker) {
    let tag = worker.tag();
    let rounds = 8 + worker.rng.below(57);
    // A limit the whole stream fits under, so no release is refused.
    let semaphore = match create_semaphore(rounds as i32) {
        Ok(semaphore) => semaphore,
        Err(status) => {
            WAKEUPS.wrong(format_args!("NtCreateSemaphore: {status}"));
            return;
        }
    };
    let job = worker.job();
    job.objects[0].store(semaphore, Ordering::Relaxed);
    job.rounds.store(rounds, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(consumer, tag, false) {
        let mut left = rounds;
        while left > 0 {
            let batch = (1 + worker.rng.below(3)).min(left);
            // SAFETY: no previous-count pointer.
            let status =
                unsafe { nt_release_semaphore(semaphore, batch as i32, core::ptr::null_mut()) };
            if !WAKEUPS.expect("NtReleaseSemaphore", status, NtStatus::SUCCESS) {
                break;
            }
            WAKEUPS.counts[0].fetch_add(u64::from(batch), Ordering::Relaxed);
            left -= batch;
            worker.maybe_pause();
        }
        reap_thread(thread, THREAD_EXIT + tag);
    }
    close(semaphore);
}

/// Each round: waits for `objects[0]`, counts the round, acknowledges on `objects[1]`
/// (the pong of a ping-pong).
pub(super) extern "system" fn servant(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let go = job.objects[0].load(Ordering::Relaxed);
    let acknowledge = job.objects[1].load(Ordering::Relaxed);
    for _ in 0..job.rounds.load(Ordering::Relaxed) {
        let status = wait_for_signal(go, false);
        if status != NtStatus::SUCCESS {
            exit_thread(status);
        }
        job.progress.fetch_add(1, Ordering::Relaxed);
        signal(acknowledge);
    }
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// Rounds of: suspend the servant zero, one or two times, signal it, check that a
/// suspended servant does not run, resume it and wait for its acknowledgement.
pub(super) fn suspend_and_resume(worker: &mut Worker) {
    let tag = worker.tag();
    let rounds = 2 + worker.rng.below(7);
    let (Ok(go), Ok(acknowledge)) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_event(SYNCHRONIZATION_EVENT, false),
    ) else {
        SUSPENSIONS.wrong(format_args!("creating the events"));
        return;
    };
    let job = worker.job();
    job.objects[0].store(go, Ordering::Relaxed);
    job.objects[1].store(acknowledge, Ordering::Relaxed);
    job.rounds.store(rounds, Ordering::Relaxed);
    job.progress.store(0, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(servant, tag, false) {
        for round in 0..rounds {
            worker.maybe_pause();
            let depth = worker.rng.below(3);
            for previous in 0..depth {
                suspend(thread, previous);
            }
            signal(go);
            if depth > 0 {
                worker.maybe_pause();
                yield_execution();
                let progress = job.progress.load(Ordering::Relaxed);
                if progress != round {
                    SUSPENSIONS.wrong(format_args!(
                        "a suspended thread ran: round {round}, progress {progress}"
                    ));
                }
                for remaining in (1..=depth).rev() {
                    resume(thread, remaining);
                }
            }
            let status = wait_for_signal(acknowledge, false);
            if status != NtStatus::SUCCESS {
                SUSPENSIONS.wrong(format_args!("round {round} not acknowledged: {status}"));
                break;
            }
        }
        reap_thread(thread, THREAD_EXIT + tag);
    }
    close(go);
    close(acknowledge);
}

/// Signals `objects[0]` (it has started), then spins until the safety timeout.
pub(super) extern "system" fn spinner(argument: u64) -> ! {
    let (job, _) = unpack(argument);
    signal(job.objects[0].load(Ordering::Relaxed));
    let until = rt::rdtsc() + SAFETY_MS as u64 * TSC_KHZ.load(Ordering::Relaxed);
    while rt::rdtsc() < until {
        core::hint::spin_loop();
    }
    exit_thread(NtStatus::TIMEOUT)
}

/// Signals `objects[0]` (it has started), then waits on `objects[1]`, which nobody sets,
/// alertably or not.
pub(super) extern "system" fn blocker(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    signal(job.objects[0].load(Ordering::Relaxed));
    let alertable = tag & 1 == 1;
    exit_thread(wait_timeout(
        job.objects[1].load(Ordering::Relaxed),
        alertable,
        -SAFETY_MS * MS,
    ))
}

/// Terminates a thread while it runs (spins), while it is blocked, while it is suspended
/// since its creation, or while it is blocked and suspended.
pub(super) fn thread_terminated(worker: &mut Worker) {
    let tag = worker.tag();
    let variant = worker.rng.below(4);
    let (Ok(started), Ok(never)) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_event(NOTIFICATION_EVENT, false),
    ) else {
        TERMINATIONS.wrong(format_args!("creating the events"));
        return;
    };
    let job = worker.job();
    job.objects[0].store(started, Ordering::Relaxed);
    job.objects[1].store(never, Ordering::Relaxed);
    let (routine, suspended_at_creation): (rt::thread::StartRoutine, bool) = match variant {
        0 => (spinner, false),
        1 | 3 => (blocker, false),
        _ => (spinner, true),
    };
    if let Some(thread) = worker.spawn(routine, tag, suspended_at_creation) {
        if suspended_at_creation {
            SUSPENSIONS.first();
        } else {
            WAKEUPS.expect(
                "the thread started",
                wait_for_signal(started, false),
                NtStatus::SUCCESS,
            );
            worker.maybe_pause();
        }
        if variant == 3 {
            suspend(thread, 0);
        }
        let status = terminate(thread, tag);
        if suspended_at_creation || variant == 3 {
            // Termination lifts the suspension.
            SUSPENSIONS.second();
        }
        if reap_thread(thread, status) {
            TERMINATIONS.second();
        }
    }
    close(started);
    close(never);
}
