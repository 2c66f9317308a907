//! Stress operations on dispatcher objects and APCs: abandoned mutants, user APCs, alerts
//! and mutant contention.

use super::*;

/// Acquires the mutant `objects[0]`, signals `objects[1]`, then blocks until terminated.
pub(super) extern "system" fn owner(argument: u64) -> ! {
    let (job, _) = unpack(argument);
    let mutant = job.objects[0].load(Ordering::Relaxed);
    let acquired = wait(mutant);
    if acquired != NtStatus::SUCCESS {
        exit_thread(acquired);
    }
    MUTANTS.first();
    signal(job.objects[1].load(Ordering::Relaxed));
    delay(false, -SAFETY_MS * MS);
    exit_thread(NtStatus::TIMEOUT)
}

/// Terminates a thread that owns a mutant: the worker's wait for the mutant must then
/// end with STATUS_ABANDONED_WAIT_0, and the worker owns it.
pub(super) fn abandoned_mutant(worker: &mut Worker) {
    let tag = worker.tag();
    let (Ok(mutant), Ok(acquired)) = (create_mutant(), create_event(SYNCHRONIZATION_EVENT, false))
    else {
        ABANDONMENTS.wrong(format_args!("creating the objects"));
        return;
    };
    let job = worker.job();
    job.objects[0].store(mutant, Ordering::Relaxed);
    job.objects[1].store(acquired, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(owner, tag, false) {
        WAKEUPS.expect(
            "the owner acquired it",
            wait_for_signal(acquired, false),
            NtStatus::SUCCESS,
        );
        worker.maybe_pause();
        let status = terminate(thread, tag);
        ABANDONMENTS.first();
        // The owner never released it: its acquisition counts as released by abandonment.
        MUTANTS.second();
        if reap_thread(thread, status) {
            TERMINATIONS.second();
        }
        if ABANDONMENTS.expect(
            "wait for an abandoned mutant",
            wait(mutant),
            NtStatus::ABANDONED_WAIT_0,
        ) {
            ABANDONMENTS.second();
            MUTANTS.first();
            if MUTANTS.expect(
                "release the abandoned mutant",
                release_mutant(mutant),
                NtStatus::SUCCESS,
            ) {
                MUTANTS.second();
            }
        }
    }
    close(mutant);
    close(acquired);
}

/// A user APC: counts itself in the job of the worker whose index is `worker`.
pub(super) extern "system" fn count_apc(worker: u64, _: u64, _: u64) {
    JOBS[worker as usize]
        .progress
        .fetch_add(1, Ordering::Relaxed);
    APCS.second();
}

pub(super) fn queue_apc(thread: u64, worker: usize) {
    // SAFETY: `count_apc` is a routine of this program that stays valid.
    let status =
        unsafe { nt_queue_apc_thread(thread, count_apc as *const () as u64, worker as u64, 0, 0) };
    if APCS.expect("NtQueueApcThread", status, NtStatus::SUCCESS) {
        APCS.first();
    }
}

/// Waits (or delays) alertably until `rounds` APCs have run on it; every wait must end
/// with STATUS_USER_APC.
pub(super) extern "system" fn apc_waiter(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let rounds = job.rounds.load(Ordering::Relaxed);
    while job.progress.load(Ordering::Relaxed) < rounds {
        let status = if tag & 1 == 0 {
            wait_timeout(
                job.objects[0].load(Ordering::Relaxed),
                true,
                -SAFETY_MS * MS,
            )
        } else {
            delay(true, -SAFETY_MS * MS)
        };
        if status != NtStatus::USER_APC {
            exit_thread(status);
        }
    }
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// User APCs to the worker itself, run by NtTestAlert, or to a thread in alertable waits.
pub(super) fn apcs(worker: &mut Worker) {
    let count = 1 + worker.rng.below(16);
    let job = worker.job();
    job.progress.store(0, Ordering::Relaxed);
    job.rounds.store(count, Ordering::Relaxed);
    if worker.rng.below(3) == 0 {
        for _ in 0..count {
            queue_apc(CURRENT_THREAD_HANDLE, worker.index);
        }
        // SAFETY: the APCs run here.
        let status = unsafe { nt_test_alert() };
        APCS.expect("NtTestAlert", status, NtStatus::SUCCESS);
        let ran = job.progress.load(Ordering::Relaxed);
        if ran != count {
            APCS.wrong(format_args!("{ran} of {count} APCs ran at NtTestAlert"));
        }
        return;
    }
    let tag = worker.tag();
    let never = match create_event(NOTIFICATION_EVENT, false) {
        Ok(event) => event,
        Err(status) => {
            APCS.wrong(format_args!("NtCreateEvent: {status}"));
            return;
        }
    };
    job.objects[0].store(never, Ordering::Relaxed);
    if let Some(thread) = worker.spawn(apc_waiter, tag, false) {
        for _ in 0..count {
            worker.maybe_pause();
            queue_apc(thread, worker.index);
        }
        reap_thread(thread, THREAD_EXIT + tag);
        let ran = job.progress.load(Ordering::Relaxed);
        if ran != count {
            APCS.wrong(format_args!("{ran} of {count} APCs ran on the thread"));
        }
    }
    close(never);
}

/// Says it has started (`progress`), then waits alertably on `objects[0]`, which nobody
/// sets; must end with STATUS_ALERTED.
pub(super) extern "system" fn alert_waiter(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    job.progress.store(1, Ordering::SeqCst);
    let status = wait_timeout(
        job.objects[0].load(Ordering::Relaxed),
        true,
        -SAFETY_MS * MS,
    );
    if status != NtStatus::ALERTED {
        exit_thread(status);
    }
    ALERTS.second();
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// Alerts a thread before or while it waits alertably, once it has started: as on NT, a
/// new thread's first user APC (the loader's) ends with NtContinue(TestAlert = TRUE),
/// which takes an alert that came before.
pub(super) fn alert(worker: &mut Worker) {
    let tag = worker.tag();
    let never = match create_event(NOTIFICATION_EVENT, false) {
        Ok(event) => event,
        Err(status) => {
            ALERTS.wrong(format_args!("NtCreateEvent: {status}"));
            return;
        }
    };
    worker.job().objects[0].store(never, Ordering::Relaxed);
    worker.job().progress.store(0, Ordering::SeqCst);
    if let Some(thread) = worker.spawn(alert_waiter, tag, false) {
        let mut waited_ms = 0;
        while worker.job().progress.load(Ordering::SeqCst) == 0 && waited_ms < SAFETY_MS {
            delay(false, -MS);
            waited_ms += 1;
        }
        worker.maybe_pause();
        // SAFETY: this program's own thread.
        let status = unsafe { nt_alert_thread(thread) };
        if ALERTS.expect("NtAlertThread", status, NtStatus::SUCCESS) {
            ALERTS.first();
        }
        reap_thread(thread, THREAD_EXIT + tag);
    }
    close(never);
}

/// `rounds` times: acquires the mutant `objects[0]`, reads the cell, yields, writes it
/// back plus one, releases the mutant.
pub(super) extern "system" fn contender(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let mutant = job.objects[0].load(Ordering::Relaxed);
    for _ in 0..job.rounds.load(Ordering::Relaxed) {
        let status = wait(mutant);
        if status != NtStatus::SUCCESS {
            exit_thread(status);
        }
        MUTANTS.first();
        let value = job.cell.load(Ordering::Relaxed);
        yield_execution();
        job.cell.store(value + 1, Ordering::Relaxed);
        let released = release_mutant(mutant);
        if released != NtStatus::SUCCESS {
            exit_thread(released);
        }
        MUTANTS.second();
    }
    exit_thread(NtStatus(THREAD_EXIT + tag))
}

/// Two to four threads update one cell under a mutant; no update may be lost.
pub(super) fn mutant_contention(worker: &mut Worker) {
    let threads = 2 + worker.rng.below(3) as usize;
    let rounds = 4 + worker.rng.below(13);
    let mutant = match create_mutant() {
        Ok(mutant) => mutant,
        Err(status) => {
            MUTANTS.wrong(format_args!("NtCreateMutant: {status}"));
            return;
        }
    };
    let job = worker.job();
    job.objects[0].store(mutant, Ordering::Relaxed);
    job.rounds.store(rounds, Ordering::Relaxed);
    job.cell.store(0, Ordering::Relaxed);
    let mut handles = [(0u64, 0u32); 4];
    let mut spawned = 0;
    for slot in handles.iter_mut().take(threads) {
        let tag = worker.tag();
        if let Some(thread) = worker.spawn(contender, tag, false) {
            *slot = (thread, tag);
            spawned += 1;
        }
    }
    let all_ended = handles[..spawned].iter().fold(true, |all, &(thread, tag)| {
        reap_thread(thread, THREAD_EXIT + tag) && all
    });
    let cell = job.cell.load(Ordering::Relaxed);
    let expected = spawned as u64 * u64::from(rounds);
    if all_ended && cell != expected {
        MUTANTS.wrong(format_args!("the cell holds {cell}, expected {expected}"));
    }
    close(mutant);
}
