//! The dispatcher (Ki): dispatcher headers and their wait lists, the dispatcher database
//! under its lock (`KiDispatcherLock`) with each processor's ready queues and deferred
//! ready list (the dispatcher's part of KPRCB), readying threads (`KiReadyThread`),
//! choosing and switching to the next one (`KiSwapThread`, `KiSwapContext`), the idle
//! loop (`KiIdleLoop`), quantum end and preemption on the way back to user mode
//! (`KiExitDispatcher`, `KiQuantumEnd`), and the start of new threads (`KiThreadStartup`).
//!
//! Kernel code is not preemptible: it runs with interrupts disabled (as NT does at
//! DISPATCH_LEVEL), so a thread only gives up the processor when it waits, yields or
//! exits, or at the safe point before returning to user mode. The processor blocks are
//! per processor; one processor runs them for now.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use spin::{Mutex, MutexGuard, Once};

use super::ready_queue::ReadyQueues;
use super::thread::{Scheduling, THREAD_QUANTUM, ThreadState, WaitReason};
use super::{clock, priority};
use crate::arch::{self, SwitchContextCell};
use crate::ob::{Object, ObjectBody};
use crate::ps::{self, Thread};

/// Processors the dispatcher has blocks for.
const MAX_PROCESSORS: usize = 1;

/// A thread waiting on an object (a `KWAIT_BLOCK` in the object's wait list): the wait is
/// satisfied by this object with STATUS_WAIT_0 + `key` for WaitAny.
#[derive(Clone)]
pub struct WaitEntry {
    pub thread: Arc<Object<Thread>>,
    pub key: u32,
}

/// `DISPATCHER_HEADER`: the signal state and the threads waiting for it. The signal state
/// is a count: 0 or 1 for events, the count of a semaphore, 1 minus the recursion count of
/// a mutant; the object is signaled while it is above 0.
pub struct DispatcherHeader {
    /// Synchronization objects (auto-reset events, semaphores, mutants) give up one unit of
    /// their signal state to each wait they satisfy; notification objects stay signaled.
    synchronization: bool,
    signal_state: AtomicI32,
    wait_list: Mutex<Vec<WaitEntry>>,
}

impl DispatcherHeader {
    pub fn new(synchronization: bool, signaled: bool) -> Self {
        Self::with_signal_state(synchronization, i32::from(signaled))
    }

    /// A header whose signal state starts at `signal_state` (a semaphore's count).
    pub fn with_signal_state(synchronization: bool, signal_state: i32) -> Self {
        Self {
            synchronization,
            signal_state: AtomicI32::new(signal_state),
            wait_list: Mutex::new(Vec::new()),
        }
    }

    pub fn is_signaled(&self) -> bool {
        self.signal_state() > 0
    }

    pub fn signal_state(&self) -> i32 {
        self.signal_state.load(Ordering::Relaxed)
    }

    /// Sets the signal state, returning the previous one.
    pub fn set_signal_state(&self, signaled: bool) -> bool {
        self.signal_state
            .swap(i32::from(signaled), Ordering::Relaxed)
            > 0
    }

    /// Adds `delta` to the signal state (a semaphore released, a mutant acquired or
    /// released), returning the previous one. Callers hold the dispatcher lock.
    pub fn add_signal_state(&self, delta: i32) -> i32 {
        self.signal_state.fetch_add(delta, Ordering::Relaxed)
    }

    /// `KiWaitSatisfyOther`: a satisfied wait takes one unit from a synchronization object.
    pub fn satisfy_wait(&self) {
        if self.synchronization {
            self.signal_state.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The wait list. Taken only briefly, under the dispatcher lock, never with another.
    pub fn wait_list(&self) -> MutexGuard<'_, Vec<WaitEntry>> {
        self.wait_list.lock()
    }
}

impl core::fmt::Debug for DispatcherHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DispatcherHeader")
            .field("signal_state", &self.signal_state)
            .field("waiters", &self.wait_list.lock().len())
            .finish()
    }
}

/// An object that starts with a dispatcher header: threads, processes, events, semaphores,
/// mutants and timers can be waited on. Mutants override what signaled means (their owner
/// may acquire them again) and what a satisfied wait does (it takes ownership). Every
/// method runs under the dispatcher lock.
pub trait DispatcherObject: Send + Sync {
    fn dispatcher_header(&self) -> &DispatcherHeader;

    /// Whether a wait of `thread` would be satisfied by this object now.
    fn is_signaled_for(&self, _thread: &Arc<Object<Thread>>) -> bool {
        self.dispatcher_header().is_signaled()
    }

    /// `KiWaitSatisfyAny`/`All` for this object: a wait of `thread` was satisfied by it
    /// (`this` is the object itself). Returns true when that acquired an abandoned mutant.
    fn satisfy_wait_for(
        &self,
        _this: &Arc<dyn DispatcherObject>,
        _thread: &Arc<Object<Thread>>,
    ) -> bool {
        self.dispatcher_header().satisfy_wait();
        false
    }

    /// Abandons this object, owned by a thread that is terminating (mutants only).
    fn abandon(&self, _db: &mut DispatcherDatabase) {}
}

impl<T: ObjectBody + DispatcherObject> DispatcherObject for Object<T> {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        (**self).dispatcher_header()
    }

    fn is_signaled_for(&self, thread: &Arc<Object<Thread>>) -> bool {
        (**self).is_signaled_for(thread)
    }

    fn satisfy_wait_for(
        &self,
        this: &Arc<dyn DispatcherObject>,
        thread: &Arc<Object<Thread>>,
    ) -> bool {
        (**self).satisfy_wait_for(this, thread)
    }

    fn abandon(&self, db: &mut DispatcherDatabase) {
        (**self).abandon(db);
    }
}

/// A timed wait (the thread's `KTIMER` in the timer table): `thread` is woken with
/// STATUS_TIMEOUT when the TSC reaches `deadline`.
pub struct WaitTimer {
    pub deadline: u64,
    pub thread: Arc<Object<Thread>>,
}

/// The dispatcher's part of a processor block (KPRCB).
pub struct Prcb {
    /// `DispatcherReadyListHead` and `ReadySummary`.
    pub ready_queues: ReadyQueues<Arc<Object<Thread>>>,
    /// `DeferredReadyListHead`: threads readied since the dispatcher last looked.
    deferred_ready: Vec<Arc<Object<Thread>>>,
    /// The idle thread's context (`IdleThread`); set when the dispatcher starts.
    idle_context: Option<&'static SwitchContextCell>,
    /// A terminated thread the processor just left: its stack and context stay until the
    /// next thread runs, which drops this reference.
    dead_thread: Option<Arc<Object<Thread>>>,
    /// `QuantumEnd`: the running thread used its quantum up.
    quantum_end: bool,
}

/// The dispatcher database that `KiDispatcherLock` guards.
pub struct DispatcherDatabase {
    processors: [Prcb; MAX_PROCESSORS],
    /// Timed waits in progress.
    pub timers: Vec<WaitTimer>,
}

impl DispatcherDatabase {
    /// The block of the processor running this code.
    pub fn prcb(&mut self) -> &mut Prcb {
        &mut self.processors[arch::current_processor() as usize]
    }
}

/// `KiDispatcherLock`.
static DISPATCHER: Mutex<DispatcherDatabase> = Mutex::new(DispatcherDatabase {
    processors: [const {
        Prcb {
            ready_queues: ReadyQueues::new(),
            deferred_ready: Vec::new(),
            idle_context: None,
            dead_thread: None,
            quantum_end: false,
        }
    }; MAX_PROCESSORS],
    timers: Vec::new(),
});

/// `KPRCB.CurrentThread` of each processor: `None` while its idle thread runs. Written
/// only by its processor, under the dispatcher lock; read without it.
static CURRENT_THREAD: [Mutex<Option<Arc<Object<Thread>>>>; MAX_PROCESSORS] =
    [const { Mutex::new(None) }; MAX_PROCESSORS];

/// Takes the dispatcher lock. Kernel code runs with interrupts disabled, so holding it
/// also keeps the processor.
pub fn lock() -> MutexGuard<'static, DispatcherDatabase> {
    DISPATCHER.lock()
}

/// The thread running on this processor (`KeGetCurrentThread`), or `None` in the idle
/// thread.
pub fn current_thread() -> Option<Arc<Object<Thread>>> {
    CURRENT_THREAD[arch::current_processor() as usize]
        .lock()
        .clone()
}

fn set_current_thread(thread: Option<Arc<Object<Thread>>>) {
    *CURRENT_THREAD[arch::current_processor() as usize].lock() = thread;
}

/// `KiReadyThread`: makes `thread` ready to run. It goes on this processor's deferred
/// ready list; the dispatcher queues it (and decides on preemption) at its next look.
pub fn ready_thread(db: &mut DispatcherDatabase, thread: Arc<Object<Thread>>) {
    thread.tcb.scheduling().state = ThreadState::DeferredReady;
    db.prcb().deferred_ready.push(thread);
}

/// Puts a thread in the Ready state as of now (`ReadyTime`, which the starvation scan
/// reads); the caller queues it.
pub fn mark_ready(scheduling: &mut Scheduling) {
    scheduling.state = ThreadState::Ready;
    scheduling.ready_since = clock::now();
}

/// `KiProcessDeferredReadyList`: queues the threads readied since the last look
/// (`KiDeferredReadyThread`), each at the tail of its priority's list.
pub fn process_deferred_ready_list(db: &mut DispatcherDatabase) {
    let prcb = db.prcb();
    for thread in core::mem::take(&mut prcb.deferred_ready) {
        let priority = {
            let mut scheduling = thread.tcb.scheduling();
            mark_ready(&mut scheduling);
            scheduling.priority
        };
        prcb.ready_queues.insert(priority, thread, false);
    }
}

/// Picks the thread to run next on this processor (`KiSelectNextThread`): the first of
/// the highest-priority ready list, now on standby (`KPRCB.NextThread`).
fn select_next_thread(db: &mut DispatcherDatabase) -> Option<Arc<Object<Thread>>> {
    process_deferred_ready_list(db);
    let (_, next) = db.prcb().ready_queues.pop_highest()?;
    next.tcb.scheduling().state = ThreadState::Standby;
    Some(next)
}

/// The context a thread, or the idle thread (`None`), runs in.
fn context_of(
    db: &mut DispatcherDatabase,
    thread: Option<&Arc<Object<Thread>>>,
) -> *const SwitchContextCell {
    match thread {
        Some(thread) => thread.tcb.context(),
        None => db.prcb().idle_context.expect("the dispatcher has started"),
    }
}

/// `KiSwapThread`: the current thread, already put in its new state (queued as ready,
/// waiting, or terminated), gives the processor to the highest-priority ready thread, or
/// to the idle thread when none is. Returns when the thread runs again; a terminated
/// thread never does, and its reference goes to the next thread to drop.
pub fn swap_thread(mut db: MutexGuard<'_, DispatcherDatabase>, current: Arc<Object<Thread>>) {
    let next = select_next_thread(&mut db);
    if let Some(next) = &next
        && Arc::ptr_eq(next, &current)
    {
        // Requeued by a yield or quantum end with no peer to run: it keeps running.
        current.tcb.scheduling().state = ThreadState::Running;
        return;
    }
    let old_context = context_of(&mut db, Some(&current));
    let terminated = current.tcb.scheduling().state == ThreadState::Terminated;
    // A terminated thread's last reference may be this one: the next thread drops it
    // once this processor is off its stack.
    let keep_alive = if terminated {
        db.prcb().dead_thread = Some(current);
        None
    } else {
        Some(current)
    };
    switch_to(db, old_context, next);
    drop(keep_alive);
}

/// `KiSwapContext`: switches from the flow whose context is `old_context` to `next` (the
/// idle thread when `None`), making it current, loading its process's address space if
/// another is loaded. Returns when the old flow is switched back to.
fn switch_to(
    mut db: MutexGuard<'_, DispatcherDatabase>,
    old_context: *const SwitchContextCell,
    next: Option<Arc<Object<Thread>>>,
) {
    let new_context = context_of(&mut db, next.as_ref());
    let address_space = next.as_ref().and_then(|next| {
        let root = next.process().pcb.directory_table_base;
        (arch::paging::current_root() != root).then_some(root)
    });
    if let Some(next) = &next {
        let mut scheduling = next.tcb.scheduling();
        scheduling.state = ThreadState::Running;
        if scheduling.quantum <= 0 {
            scheduling.quantum = THREAD_QUANTUM;
        }
    }
    db.prcb().quantum_end = false;
    set_current_thread(next);
    drop(db);
    // SAFETY: interrupts are disabled; `old_context` is the running flow's (kept alive by
    // the caller or by `dead_thread`), `new_context` belongs to the thread just made
    // current (kept alive by CURRENT_THREAD) or to the idle thread (leaked); neither runs
    // anywhere else. Roots are process PML4s, which share the kernel half.
    unsafe { arch::swap_context(&*old_context, &*new_context, address_space) };
    finish_switch();
}

/// After a switch, on the new thread: drops the reference to a terminated thread the
/// processor left (the deferred dereference of `KiSwapContext`).
fn finish_switch() {
    let dead = lock().prcb().dead_thread.take();
    drop(dead);
}

/// `KiThreadStartup`: where a new thread's first switch lands. Finishes the switch, then
/// runs the thread's system routine, `PspUserThreadStartup`, which enters user mode.
pub extern "C" fn thread_startup() -> ! {
    finish_switch();
    ps::user_thread_startup()
}

/// Starts dispatching on the boot processor with `first` ready, and turns the boot flow
/// into this processor's idle thread (`KiIdleLoop`).
pub fn start(first: Arc<Object<Thread>>) -> ! {
    {
        let mut db = lock();
        let idle: &'static SwitchContextCell =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(SwitchContextCell::for_idle_thread()));
        db.prcb().idle_context = Some(idle);
        ready_thread(&mut db, first);
    }
    idle_loop()
}

/// `KiIdleLoop`: runs the highest-priority ready thread whenever there is one, and halts
/// with interrupts enabled until the next interrupt otherwise.
fn idle_loop() -> ! {
    loop {
        arch::disable_interrupts();
        if let Some(work) = IDLE_WORK.get() {
            work();
        }
        let mut db = lock();
        match select_next_thread(&mut db) {
            Some(next) => {
                let idle = context_of(&mut db, None);
                switch_to(db, idle, Some(next));
            }
            None => {
                // Tickless idle: no clock interrupt until the first timed wait or timer is
                // due, and none at all when nothing is; the tick resumes with the
                // interrupt that ends the idle.
                let next_expiry = super::wait::next_expiry(&db);
                drop(db);
                super::clock::idle_until(next_expiry);
                arch::wait_for_interrupt();
            }
        }
    }
}

/// What the idle loop runs each time round before it looks for a thread: a component's
/// way to wake its own thread when the processor has nothing else to do, without the
/// dispatcher knowing the component.
static IDLE_WORK: Once<fn()> = Once::new();

/// Registers the idle loop's work (once, at boot).
pub fn set_idle_work(work: fn()) {
    IDLE_WORK.call_once(|| work);
}

/// The clock's charge against the running thread (`KeUpdateRunTime`): `units` of quantum.
/// At quantum end the thread yields to its peers at the next safe point.
pub fn charge_quantum(units: i8) {
    let Some(current) = current_thread() else {
        return;
    };
    let mut db = lock();
    let mut scheduling = current.tcb.scheduling();
    scheduling.quantum = scheduling.quantum.saturating_sub(units);
    if scheduling.quantum <= 0 {
        drop(scheduling);
        db.prcb().quantum_end = true;
    }
}

/// `KiExitDispatcher` and the pending work of a return to user mode: called before a
/// system call or interrupt returns to the context it interrupted. Only a return to user
/// mode is a safe point. There, a thread asked to terminate exits, a suspended thread
/// waits until resumed, a higher-priority ready thread preempts the current one (which
/// goes back to the head of its ready list), and a thread whose quantum ended has its
/// boost decay a step and yields to a ready thread of its priority (going to the tail of
/// its list).
pub fn exit_dispatch(user_mode: bool) {
    if !user_mode {
        return;
    }
    while let Some(current) = current_thread() {
        let mut db = lock();
        let (terminate, suspended) = {
            let scheduling = current.tcb.scheduling();
            (scheduling.terminate.is_some(), scheduling.suspend_count > 0)
        };
        if terminate {
            drop(db);
            ps::exit_current_thread(current);
        }
        if suspended {
            {
                let mut scheduling = current.tcb.scheduling();
                scheduling.state = ThreadState::Waiting;
                scheduling.wait_reason = Some(WaitReason::Suspended);
            }
            swap_thread(db, current);
            continue;
        }
        process_deferred_ready_list(&mut db);
        let highest = db.prcb().ready_queues.highest_priority();
        let quantum_end = core::mem::take(&mut db.prcb().quantum_end);
        let mut scheduling = current.tcb.scheduling();
        if quantum_end {
            scheduling.quantum = THREAD_QUANTUM;
            priority::decay_at_quantum_end(&mut scheduling);
        }
        let priority = scheduling.priority;
        let preempted = highest.is_some_and(|highest| highest > priority);
        let yields_to_peer = quantum_end && highest == Some(priority);
        if !preempted && !yields_to_peer {
            return;
        }
        mark_ready(&mut scheduling);
        drop(scheduling);
        db.prcb()
            .ready_queues
            .insert(priority, current.clone(), preempted);
        swap_thread(db, current);
    }
}
