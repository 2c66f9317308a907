//! Chaos: threads doing random waits, mutants, timers and APCs, terminated wherever they
//! are, in the worker's process or in a `stress chaos` child.

use super::*;

/// Whether this process is a `stress chaos` child, whose chaos threads also create threads
/// (in the parent, a thread terminated between creating one and closing its handle would
/// leave the handle behind).
static CHAOS_CHILD: AtomicU32 = AtomicU32::new(0);

/// A user APC that does nothing: what a chaos thread queues to itself.
pub(super) extern "system" fn nothing_apc(_: u64, _: u64, _: u64) {}

/// A user APC queued to a chaos thread: counts itself in the job of the worker whose
/// index is `worker` (it may never run: the thread is terminated at some point).
pub(super) extern "system" fn chaos_apc(worker: u64, _: u64, _: u64) {
    JOBS[worker as usize]
        .progress
        .fetch_add(1, Ordering::Relaxed);
}

pub(super) extern "system" fn exit_at_once(_: u64) -> ! {
    exit_thread(NtStatus::SUCCESS)
}

/// Until terminated (or the safety timeout): random waits (alertable or not, with short
/// timeouts, WaitAll too) on the synchronization event `objects[0]`, the mutant
/// `objects[1]` (held across a yield when it gets it) and the timer `objects[2]`; sets of
/// the event; the timer set, one-shot or periodic, with an APC to this thread; user APCs
/// to itself; yields, spins and short delays; in a `stress chaos` child, threads created
/// and waited for.
pub(super) extern "system" fn chaos_thread(argument: u64) -> ! {
    let (job, tag) = unpack(argument);
    let mut rng = Rng::new(SEED.load(Ordering::Relaxed), u64::from(tag));
    let event = job.objects[0].load(Ordering::Relaxed);
    let mutant = job.objects[1].load(Ordering::Relaxed);
    let timer = job.objects[2].load(Ordering::Relaxed);
    let tsc_khz = TSC_KHZ.load(Ordering::Relaxed);
    let until = rt::rdtsc() + SAFETY_MS as u64 * tsc_khz;
    while rt::rdtsc() < until {
        let timeout = -i64::from(rng.below(3)) * MS;
        match rng.below(9) {
            0 => {
                let object = if rng.below(2) == 0 { event } else { timer };
                wait_timeout(object, rng.below(2) == 0, timeout);
            }
            1 => {
                let status = wait_timeout(mutant, false, timeout);
                if status == NtStatus::SUCCESS || status == NtStatus::ABANDONED_WAIT_0 {
                    yield_execution();
                    release_mutant(mutant);
                }
            }
            2 => {
                let both = [event, mutant];
                // SAFETY: the handles and the timeout are locals.
                let status = unsafe {
                    nt_wait_for_multiple_objects(2, both.as_ptr(), WAIT_ALL, 1, &timeout)
                };
                if status == NtStatus::SUCCESS || status == NtStatus::ABANDONED_WAIT_0 {
                    release_mutant(mutant);
                }
            }
            3 => {
                // SAFETY: `nothing_apc` is a routine of this program that stays valid.
                unsafe {
                    nt_queue_apc_thread(
                        CURRENT_THREAD_HANDLE,
                        nothing_apc as *const () as u64,
                        0,
                        0,
                        0,
                    )
                };
                if rng.below(2) == 0 {
                    delay(true, 0);
                } else {
                    // SAFETY: the APCs run here.
                    unsafe { nt_test_alert() };
                }
            }
            4 => {
                set_event(event);
            }
            5 => yield_execution(),
            8 => {
                let due = -i64::from(rng.below(3)) * MS;
                let period = rng.below(2) as i32;
                // SAFETY: the due time is a local; `nothing_apc` stays valid.
                unsafe {
                    nt_set_timer(
                        timer,
                        &due,
                        nothing_apc as *const () as u64,
                        0,
                        0,
                        period,
                        core::ptr::null_mut(),
                    )
                };
            }
            6 => {
                let until = rt::rdtsc() + u64::from(rng.below(100)) * tsc_khz / 1000;
                while rt::rdtsc() < until {
                    core::hint::spin_loop();
                }
            }
            _ if CHAOS_CHILD.load(Ordering::Relaxed) != 0 => {
                if let Ok(thread) = create_thread(exit_at_once, 0, 0) {
                    wait(thread);
                    close(thread);
                }
            }
            _ => {
                delay(rng.below(2) == 0, timeout);
            }
        }
    }
    exit_thread(NtStatus::TIMEOUT)
}

/// One to three chaos threads, suspended and resumed, sent APCs and alerts at random
/// moments, then terminated wherever they are (some while suspended). The mutant they
/// share must then be free or abandoned, and no more APCs may have run than were queued.
pub(super) fn thread_chaos(worker: &mut Worker) {
    let (Ok(event), Ok(mutant), Ok(timer)) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_mutant(),
        create_timer(worker.rng.below(2) == 0),
    ) else {
        TERMINATIONS.wrong(format_args!("creating the objects"));
        return;
    };
    let job = worker.job();
    job.objects[0].store(event, Ordering::Relaxed);
    job.objects[1].store(mutant, Ordering::Relaxed);
    job.objects[2].store(timer, Ordering::Relaxed);
    job.progress.store(0, Ordering::Relaxed);
    let mut threads = [(0u64, 0u32); 3];
    let mut spawned = 0;
    for slot in threads.iter_mut().take(1 + worker.rng.below(3) as usize) {
        let tag = worker.tag();
        if let Some(thread) = worker.spawn(chaos_thread, tag, false) {
            *slot = (thread, tag);
            spawned += 1;
        }
    }
    let threads = &threads[..spawned];
    let mut queued = 0;
    for _ in 0..worker.rng.below(8) {
        let Some(&(thread, _)) = threads.get(worker.rng.below(3) as usize) else {
            continue;
        };
        match worker.rng.below(4) {
            0 => {
                suspend(thread, 0);
                worker.maybe_pause();
                resume(thread, 1);
            }
            1 => {
                // SAFETY: `chaos_apc` is a routine of this program that stays valid.
                let status = unsafe {
                    nt_queue_apc_thread(
                        thread,
                        chaos_apc as *const () as u64,
                        worker.index as u64,
                        0,
                        0,
                    )
                };
                if APCS.expect("NtQueueApcThread", status, NtStatus::SUCCESS) {
                    queued += 1;
                }
            }
            2 => {
                // SAFETY: this program's own thread.
                let status = unsafe { nt_alert_thread(thread) };
                ALERTS.expect("NtAlertThread", status, NtStatus::SUCCESS);
            }
            _ => worker.maybe_pause(),
        }
    }
    for &(thread, tag) in threads {
        let suspended = worker.rng.below(4) == 0;
        if suspended {
            suspend(thread, 0);
        }
        let status = terminate(thread, tag);
        if suspended {
            // Termination lifts the suspension.
            SUSPENSIONS.second();
        }
        if reap_thread(thread, status) {
            TERMINATIONS.second();
        }
    }
    let ran = job.progress.load(Ordering::Relaxed);
    if ran > queued {
        APCS.wrong(format_args!(
            "{ran} APCs ran on chaos threads, {queued} queued"
        ));
    }
    let status = wait(mutant);
    if status == NtStatus::SUCCESS || status == NtStatus::ABANDONED_WAIT_0 {
        MUTANTS.expect(
            "release the mutant",
            release_mutant(mutant),
            NtStatus::SUCCESS,
        );
    } else {
        MUTANTS.wrong(format_args!("the chaos threads' mutant: {status}"));
    }
    close(event);
    close(mutant);
    // Perhaps still armed, periodic, with an APC for a thread that has gone: closing its
    // last handle must delete it all the same.
    close(timer);
}

/// Runs `stress chaos SEED` for a random moment, then terminates it wherever its threads
/// are.
pub(super) fn process_chaos(worker: &mut Worker) {
    let tag = worker.tag();
    let mut command = TextBuffer::<32>::new();
    let _ = write!(
        command,
        "stress chaos {} {}",
        worker.rng.next() as u32,
        TSC_KHZ.load(Ordering::Relaxed)
    );
    match create_user_process("stress", command.as_str(), 0, 0) {
        Ok(child) => {
            PROCESSES.first();
            delay(false, -i64::from(worker.rng.below(4)) * MS);
            terminate_and_reap_process(child, tag);
        }
        Err(status) => PROCESSES.wrong(format_args!("NtCreateUserProcess: {status}")),
    }
}

/// `stress chaos SEED TSC_KHZ`: four chaos threads (this one among them) on a shared event,
/// mutant and timer, creating threads too, until terminated. The parent passes the TSC
/// frequency, which the child need not measure again.
pub(super) fn chaos_child(seed: Option<u32>, tsc_khz: Option<u32>) -> NtStatus {
    let (Some(seed), Some(tsc_khz)) = (seed, tsc_khz) else {
        println!("usage: stress chaos SEED TSC_KHZ");
        return NtStatus::INVALID_PARAMETER;
    };
    SEED.store(u64::from(seed), Ordering::Relaxed);
    CHAOS_CHILD.store(1, Ordering::Relaxed);
    TSC_KHZ.store(u64::from(tsc_khz.max(1)), Ordering::Relaxed);
    let status = rt::apc::register_dispatcher();
    if !status.is_success() {
        return status;
    }
    let (Ok(event), Ok(mutant), Ok(timer)) = (
        create_event(SYNCHRONIZATION_EVENT, false),
        create_mutant(),
        create_timer(seed & 1 == 0),
    ) else {
        return NtStatus::UNSUCCESSFUL;
    };
    JOBS[0].objects[0].store(event, Ordering::Relaxed);
    JOBS[0].objects[1].store(mutant, Ordering::Relaxed);
    JOBS[0].objects[2].store(timer, Ordering::Relaxed);
    for tag in 1..4u64 {
        if let Err(status) = create_thread(chaos_thread, tag << 8, 0) {
            return status;
        }
    }
    chaos_thread(0)
}
