//! Timer objects (`KTIMER`, and the executive's `ExTimerObjectType`): signaled when their
//! due time passes, then again every period for a periodic timer. A notification timer
//! stays signaled (until set again) and releases every waiter; a synchronization timer
//! releases one waiter and resets. The clock expires them (`KiTimerExpiration`) with the
//! timed waits, at its 10 ms resolution. A timer set with an APC routine queues it, as a
//! user APC, to the thread that set it at each expiration (`ExpTimerDpcRoutine`).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use abi::access::{TIMER_ALL_ACCESS, TIMER_GENERIC_MAPPING};
use spin::Mutex;

use super::apc::{self, UserApc};
use super::clock;
use super::dispatcher::{DispatcherDatabase, DispatcherHeader, DispatcherObject, lock};
use super::wait;
use crate::ob::{self, Object, ObjectBody, ObjectType};
use crate::ps::Thread;

/// The timer object type (`ExTimerObjectType`).
pub static TIMER_TYPE: ObjectType =
    ObjectType::new("Timer", TIMER_GENERIC_MAPPING, TIMER_ALL_ACCESS);

/// When an armed timer expires next, and its period (both TSC ticks; a period of 0 makes
/// a one-shot timer).
#[derive(Clone, Copy, Debug)]
struct Due {
    deadline: u64,
    period: u64,
}

/// The APC a timer queues when it expires: `routine(context, time low, time high)` to the
/// thread that set it.
#[derive(Clone, Debug)]
pub struct TimerApc {
    pub thread: Weak<Object<Thread>>,
    pub routine: u64,
    pub context: u64,
}

/// A timer object's body.
#[derive(Debug)]
pub struct Timer {
    header: DispatcherHeader,
    /// Set while the timer is armed (in the timer table).
    due: Mutex<Option<Due>>,
    /// The APC of the last NtSetTimer, if it named one.
    apc: Mutex<Option<TimerApc>>,
}

/// The armed timers (the timer table's timer objects). Weak: closing a timer's last
/// handle deletes it, which takes it out (`ExpDeleteTimer` cancels it). Changed under the
/// dispatcher lock.
static ARMED: Mutex<Vec<Weak<Object<Timer>>>> = Mutex::new(Vec::new());

impl Timer {
    /// `KeInitializeTimerEx`: a notification or synchronization timer, not signaled.
    pub fn new(synchronization: bool) -> Self {
        Self {
            header: DispatcherHeader::new(synchronization, false),
            due: Mutex::new(None),
            apc: Mutex::new(None),
        }
    }

    /// `KeSetTimerEx`: resets `this` and arms it for TSC `deadline`, then every `period`
    /// ticks if not 0, with `apc` to queue at each expiration; a deadline already past
    /// signals it at once. Returns the signal state it had.
    pub fn set(
        this: &Arc<Object<Timer>>,
        deadline: u64,
        period: u64,
        apc: Option<TimerApc>,
    ) -> bool {
        let mut db = lock();
        let previous = this.header.set_signal_state(false);
        *this.due.lock() = Some(Due { deadline, period });
        *this.apc.lock() = apc;
        let mut armed = ARMED.lock();
        if !armed
            .iter()
            .any(|timer| core::ptr::eq(timer.as_ptr(), Arc::as_ptr(this)))
        {
            armed.push(Arc::downgrade(this));
        }
        drop(armed);
        if deadline <= clock::now() {
            expire(&mut db, clock::now());
        }
        previous
    }

    /// `KeCancelTimer`: disarms the timer, leaving its signal state; returns that state.
    pub fn cancel(&self) -> bool {
        let _db = lock();
        *self.due.lock() = None;
        self.header.is_signaled()
    }

    /// The signal state and, while armed, the TSC deadline (`TIMER_BASIC_INFORMATION`).
    pub fn state(&self) -> (bool, Option<u64>) {
        let _db = lock();
        (
            self.header.is_signaled(),
            self.due.lock().map(|due| due.deadline),
        )
    }
}

impl DispatcherObject for Timer {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.header
    }
}

impl ObjectBody for Timer {
    fn object_type() -> &'static ObjectType {
        &TIMER_TYPE
    }
}

/// The deadline of the armed timer due first, if any.
pub fn next_due() -> Option<u64> {
    ARMED
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .filter_map(|timer| timer.due.lock().map(|due| due.deadline))
        .min()
}

/// `KiTimerExpiration` for timer objects: signals every armed timer whose deadline is
/// `now` or past and satisfies its waiters (no boost), re-arming periodic ones one
/// period on (or a period from `now`, when the clock fell behind). Deleted and
/// cancelled timers leave the table.
pub fn expire(db: &mut DispatcherDatabase, now: u64) {
    let armed: Vec<Arc<Object<Timer>>> = {
        let mut armed = ARMED.lock();
        armed.retain(|timer| {
            timer
                .upgrade()
                .is_some_and(|timer| timer.due.lock().is_some())
        });
        if armed.is_empty() {
            // The table gives its storage back once no timer is armed, as the other
            // lists that grow with a burst do: else it stays allocated for good after
            // the first timer, and a program checking the pool counters sees it.
            *armed = Vec::new();
        }
        armed.iter().filter_map(Weak::upgrade).collect()
    };
    for timer in armed {
        let due = {
            let mut due = timer.due.lock();
            match *due {
                Some(current) if current.deadline <= now => {
                    *due = (current.period != 0).then(|| {
                        let next = current.deadline.saturating_add(current.period);
                        Due {
                            deadline: if next > now {
                                next
                            } else {
                                now + current.period
                            },
                            period: current.period,
                        }
                    });
                    true
                }
                _ => false,
            }
        };
        if due {
            timer.header.set_signal_state(true);
            wait::wait_test(db, &*timer, 0);
            queue_timer_apc(db, &timer);
        }
    }
}

/// Queues the APC of an expired timer to the thread that set it, if that thread still
/// runs; the system time of the expiration goes in its second and third arguments.
fn queue_timer_apc(db: &mut DispatcherDatabase, timer: &Timer) {
    let Some(apc) = timer.apc.lock().clone() else {
        return;
    };
    let Some(thread) = apc.thread.upgrade() else {
        return;
    };
    let time = clock::system_time();
    let user_apc = UserApc {
        routine: apc.routine,
        arguments: [apc.context, time & 0xFFFF_FFFF, time >> 32],
    };
    // A thread that is terminating, or whose queue is full, takes no more: the expiration
    // only signals.
    let _ = apc::insert_user_apc(db, &thread, user_apc);
}

/// Registers the timer object type (`ExpTimerInitialization`).
pub fn init() {
    ob::create_object_type(&TIMER_TYPE);
}
