//! Stress operations on child processes: run to their end, resumed, terminated while
//! suspended or blocked, and the blocking child (`stress child`).

use super::*;

/// Creates `exit N`, suspended or not, with NtCreateUserProcess or the classic way
/// (NtCreateSection, NtCreateProcessEx, NtCreateThread); returns the child and N.
pub(super) fn create_exit_child(worker: &mut Worker, suspended: bool) -> Option<(Child, u32)> {
    let code = worker.rng.below(256);
    let mut command = TextBuffer::<16>::new();
    let _ = write!(command, "exit {code}");
    let classic = worker.rng.below(2) == 0;
    let created = if classic {
        rt::process::create_process_classic("exit", command.as_str(), 0, suspended)
    } else {
        let thread_flags = if suspended {
            THREAD_CREATE_FLAGS_CREATE_SUSPENDED
        } else {
            0
        };
        create_user_process("exit", command.as_str(), 0, thread_flags)
    };
    match created {
        Ok(child) => {
            PROCESSES.first();
            Some((child, code))
        }
        Err(status) => {
            let way = if classic {
                "classic"
            } else {
                "NtCreateUserProcess"
            };
            PROCESSES.wrong(format_args!("creating a process ({way}): {status}"));
            None
        }
    }
}

/// Runs `exit N` to its end.
pub(super) fn process_exit(worker: &mut Worker) {
    if let Some((child, code)) = create_exit_child(worker, false) {
        reap_process(child, code);
    }
}

/// Creates `exit N` with its thread suspended, checks it does not end, resumes it.
pub(super) fn process_resumed(worker: &mut Worker) {
    if let Some((child, code)) = create_exit_child(worker, true) {
        SUSPENSIONS.first();
        worker.maybe_pause();
        PROCESSES.expect(
            "a suspended child runs",
            wait_timeout(child.process, false, 0),
            NtStatus::TIMEOUT,
        );
        resume(child.thread, 1);
        reap_process(child, code);
    }
}

/// Terminates a child created suspended, or one that runs and waits (`stress child`).
pub(super) fn process_terminated(worker: &mut Worker) {
    let tag = worker.tag();
    let running = worker.rng.below(2) == 0;
    let ready = if running {
        match create_event(SYNCHRONIZATION_EVENT, true) {
            Ok(event) => Some(event),
            Err(status) => {
                PROCESSES.wrong(format_args!("NtCreateEvent: {status}"));
                return;
            }
        }
    } else {
        None
    };
    let mut command = TextBuffer::<32>::new();
    let created = match ready {
        Some(event) => {
            let _ = write!(command, "stress child {event}");
            create_user_process(
                "stress",
                command.as_str(),
                PROCESS_CREATE_FLAGS_INHERIT_HANDLES,
                0,
            )
        }
        None => create_user_process("nop", "nop", 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED),
    };
    match created {
        Ok(child) => {
            PROCESSES.first();
            if let Some(event) = ready {
                // The child's set is a signal this wait must see.
                WAKEUPS.first();
                WAKEUPS.expect(
                    "the child is ready",
                    wait_for_signal(event, false),
                    NtStatus::SUCCESS,
                );
                worker.maybe_pause();
            } else {
                SUSPENSIONS.first();
                // Termination lifts the suspension.
                SUSPENSIONS.second();
            }
            terminate_and_reap_process(child, tag);
        }
        Err(status) => PROCESSES.wrong(format_args!("NtCreateUserProcess: {status}")),
    }
    if let Some(event) = ready {
        close(event);
    }
}

/// `stress child EVENT`: sets the inherited EVENT, then waits until terminated.
pub(super) fn child(event: Option<u32>) -> NtStatus {
    let Some(event) = event else {
        println!("usage: stress child EVENT");
        return NtStatus::INVALID_PARAMETER;
    };
    let status = set_event(u64::from(event));
    if !status.is_success() {
        return status;
    }
    match create_event(NOTIFICATION_EVENT, false) {
        // Never set: only termination ends this wait.
        Ok(never) => wait_timeout(never, false, -60_000 * MS),
        Err(status) => status,
    }
}
