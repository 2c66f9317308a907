//! Priorities and affinity: setting a thread's priority (`KeSetPriorityThread`), its base
//! priority relative to its process's (`KeSetBasePriorityThread`), its affinity
//! (`KeSetAffinityThread`) and a process's base priority (`KeSetPriorityProcess`); the
//! boost a thread gets when its wait is satisfied (`KiUnwaitThread`'s priority increment)
//! and its decay back to the base at quantum end (`KiComputeNewPriority`), and the
//! starvation boost of the balance set manager (`KiScanReadyQueues`): a dynamic thread
//! ready for 4 seconds without running runs one quantum at 15. Threads at real-time
//! priorities (16-31) get none of these.

use alloc::sync::Arc;

use abi::dispatcher::{
    LOW_REALTIME_PRIORITY, THREAD_BASE_PRIORITY_IDLE, THREAD_BASE_PRIORITY_LOWRT,
};

use super::clock;
use super::dispatcher::{
    DispatcherDatabase, interrupt_processor, interrupt_thread, lock, ready_thread,
};
use super::thread::{Scheduling, THREAD_QUANTUM, ThreadState};
use crate::ob::Object;
use crate::ps::{Process, Thread};

/// The boosts of the objects whose signal ends a wait (`EVENT_INCREMENT`,
/// `SEMAPHORE_INCREMENT`, `MUTANT_INCREMENT`); timeouts, resumption and termination give
/// none.
pub const EVENT_INCREMENT: u8 = 1;
pub const SEMAPHORE_INCREMENT: u8 = 1;
pub const MUTANT_INCREMENT: u8 = 1;

/// The base priority of a thread whose process has base `process_base` and whose own
/// base is `increment` from it, kept inside the class's range: 1-15 for the dynamic
/// classes, 16-31 for Realtime. The saturating increments pin it to an end of the range.
pub fn thread_base_priority(process_base: u8, increment: i8) -> u8 {
    let (lowest, highest) = if process_base >= LOW_REALTIME_PRIORITY {
        (LOW_REALTIME_PRIORITY, abi::dispatcher::HIGH_PRIORITY)
    } else {
        (1, LOW_REALTIME_PRIORITY - 1)
    };
    match i32::from(increment) {
        THREAD_BASE_PRIORITY_LOWRT => highest,
        THREAD_BASE_PRIORITY_IDLE => lowest,
        increment => {
            (i32::from(process_base) + increment).clamp(i32::from(lowest), i32::from(highest)) as u8
        }
    }
}

/// `KiSetPriorityThread`: gives `thread` priority `priority`, moving it to that ready list
/// if it is ready. A running thread that now ranks below a ready one is preempted before it
/// returns to user mode, a ready thread that now outranks the running one preempts it there.
fn set_priority(db: &mut DispatcherDatabase, thread: &Arc<Object<Thread>>, priority: u8) {
    let (previous, ready, processor) = {
        let mut scheduling = thread.tcb.scheduling();
        let previous = core::mem::replace(&mut scheduling.priority, priority);
        (
            previous,
            scheduling.state == ThreadState::Ready,
            scheduling.processor,
        )
    };
    if previous == priority {
        return;
    }
    if ready {
        let queues = db.ready_queues(processor);
        if let Some(queued) = queues.remove(previous, |queued| Arc::ptr_eq(queued, thread)) {
            queues.insert(priority, queued, false);
        }
        interrupt_processor(processor);
    } else {
        interrupt_thread(thread);
    }
}

/// `KeSetPriorityThread`: sets the current priority of `thread` (1-31); a dynamic
/// thread's decays back to its base from there.
pub fn set_priority_thread(thread: &Arc<Object<Thread>>, priority: u8) {
    let mut db = lock();
    set_priority(&mut db, thread, priority);
}

/// `KeSetBasePriorityThread`: sets the base priority of `thread` `increment` from its
/// process's (see [`thread_base_priority`]); the current priority drops any boost and
/// becomes the new base.
pub fn set_base_priority_thread(thread: &Arc<Object<Thread>>, increment: i8) {
    let process_base = thread.process().pcb.base_priority();
    let mut db = lock();
    let base = {
        let mut scheduling = thread.tcb.scheduling();
        scheduling.base_increment = increment;
        scheduling.base_priority = thread_base_priority(process_base, increment);
        scheduling.base_priority
    };
    set_priority(&mut db, thread, base);
}

/// `KeSetAffinityThread`: the processors `thread` may run on, a non-empty part of the
/// active processors (callers check). A ready thread queued on a processor outside it is
/// placed again; a running one moves at its next return to user mode.
pub fn set_affinity_thread(thread: &Arc<Object<Thread>>, affinity: u64) {
    let mut db = lock();
    let (ready_on, priority) = {
        let mut scheduling = thread.tcb.scheduling();
        scheduling.affinity = affinity;
        let outside = affinity & 1 << scheduling.processor == 0;
        (
            (outside && scheduling.state == ThreadState::Ready).then_some(scheduling.processor),
            scheduling.priority,
        )
    };
    if let Some(processor) = ready_on {
        if let Some(queued) = db
            .ready_queues(processor)
            .remove(priority, |queued| Arc::ptr_eq(queued, thread))
        {
            ready_thread(&mut db, queued);
        }
    } else {
        interrupt_thread(thread);
    }
}

/// `KeSetAffinityProcess`: the processors `process`'s threads may run on, a non-empty part
/// of the active processors (callers check); every thread takes it, and so do new ones.
pub fn set_affinity_process(process: &Arc<Object<Process>>, affinity: u64) {
    process.pcb.set_affinity(affinity);
    for thread in &process.threads() {
        set_affinity_thread(thread, affinity);
    }
}

/// `KeSetPriorityProcess`: gives `process` base priority `base`; each of its threads keeps
/// its relative base, and its priority becomes that new base.
pub fn set_priority_process(process: &Arc<Object<Process>>, base: u8) {
    let threads = process.threads();
    let mut db = lock();
    process.pcb.set_base_priority(base);
    for thread in &threads {
        let thread_base = {
            let mut scheduling = thread.tcb.scheduling();
            scheduling.base_priority = thread_base_priority(base, scheduling.base_increment);
            scheduling.base_priority
        };
        set_priority(&mut db, thread, thread_base);
    }
}

/// The boost of a dynamic thread whose wait an object's signal satisfied: its priority
/// rises to its base plus `increment` (never into the real-time range, never down), with a
/// fresh quantum.
pub fn boost_on_unwait(scheduling: &mut Scheduling, increment: u8) {
    if increment == 0 || scheduling.priority >= LOW_REALTIME_PRIORITY {
        return;
    }
    let boosted = (scheduling.base_priority + increment).min(LOW_REALTIME_PRIORITY - 1);
    if boosted > scheduling.priority {
        scheduling.priority = boosted;
        scheduling.quantum = THREAD_QUANTUM;
    }
}

/// `KiComputeNewPriority` at quantum end: a dynamic thread's priority falls one step back
/// towards its base, and a starvation boost all the way back.
pub fn decay_at_quantum_end(scheduling: &mut Scheduling) {
    if scheduling.priority < LOW_REALTIME_PRIORITY {
        let decrement = 1 + core::mem::take(&mut scheduling.priority_decrement);
        scheduling.priority = scheduling
            .priority
            .saturating_sub(decrement)
            .max(scheduling.base_priority);
    }
}

/// How long a dynamic thread may stay ready without running before the starvation boost.
const STARVATION_MS: u64 = 4000;
/// The most threads one scan boosts (`KiReadyScanLast`'s bound).
const STARVATION_BOOSTS_PER_SCAN: usize = 16;

/// `KiScanReadyQueues`, from the clock once a second: every dynamic thread ready for
/// [`STARVATION_MS`] or longer moves to priority 15 with a fresh quantum, so a thread that
/// higher ones keep from running still makes progress (priority inversion included); its
/// next quantum end takes the boost back.
pub fn boost_starved_threads(now: u64) {
    let threshold = STARVATION_MS * clock::tsc_khz();
    let mut db = lock();
    let starved: alloc::vec::Vec<(u32, u8, Arc<Object<Thread>>)> = db
        .all_ready_queues()
        .flat_map(|(processor, queues)| {
            let queues = &*queues;
            (1..LOW_REALTIME_PRIORITY - 1).flat_map(move |priority| {
                queues
                    .items(priority)
                    .map(move |thread| (processor, priority, thread))
            })
        })
        .filter(|(_, _, thread)| {
            now.saturating_sub(thread.tcb.scheduling().ready_since) >= threshold
        })
        .take(STARVATION_BOOSTS_PER_SCAN)
        .map(|(processor, priority, thread)| (processor, priority, thread.clone()))
        .collect();
    for (processor, priority, thread) in starved {
        let queues = db.ready_queues(processor);
        let Some(thread) = queues.remove(priority, |queued| Arc::ptr_eq(queued, &thread)) else {
            continue;
        };
        {
            let mut scheduling = thread.tcb.scheduling();
            scheduling.priority_decrement = LOW_REALTIME_PRIORITY - 1 - priority;
            scheduling.priority = LOW_REALTIME_PRIORITY - 1;
            scheduling.quantum = THREAD_QUANTUM;
            scheduling.ready_since = now;
        }
        queues.insert(LOW_REALTIME_PRIORITY - 1, thread, false);
        interrupt_processor(processor);
    }
}
