//! The dispatcher (Ki): dispatcher headers and their wait lists, the dispatcher database
//! under its lock (`KiDispatcherLock`) with each processor's ready queues and deferred
//! ready list (the dispatcher's part of KPRCB), readying threads (`KiReadyThread`),
//! choosing and switching to the next one (`KiSwapThread`, `KiSwapContext`), the idle
//! loop (`KiIdleLoop`), quantum end and preemption on the way back to user mode
//! (`KiExitDispatcher`, `KiQuantumEnd`), and the start of new threads (`KiThreadStartup`).
//!
//! Kernel code is not preemptible: it runs with interrupts disabled (as NT does at
//! DISPATCH_LEVEL), so a thread only gives up the processor when it waits, yields or
//! exits, or at the safe point before returning to user mode. Each processor has its own
//! ready queues; a readied thread goes to an idle processor it may run on, or preempts the
//! lowest-priority thread running where it may, with the dispatch interrupt when that is
//! another processor (`KiDeferredReadyThread`); a processor with nothing ready takes work
//! from the others. One lock guards it all, as `KiDispatcherLock` did before Windows
//! Server 2003: a switch holds it until the next thread runs, so no processor picks up a
//! thread whose context is still being saved.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use spin::{Mutex, MutexGuard, Once};

use super::ready_queue::ReadyQueues;
use super::thread::{Scheduling, THREAD_QUANTUM, ThreadState};
use super::{apc, clock, priority};
use crate::arch::{self, MAX_PROCESSORS, SwitchContextCell};
use crate::ob::{Object, ObjectBody};
use crate::ps::{self, Thread};

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

    /// The ready queues of `processor`: where a ready thread whose `processor` it is waits.
    pub fn ready_queues(&mut self, processor: u32) -> &mut ReadyQueues<Arc<Object<Thread>>> {
        &mut self.processors[processor as usize].ready_queues
    }

    /// The ready queues of every active processor, by index.
    pub fn all_ready_queues(
        &mut self,
    ) -> impl Iterator<Item = (u32, &mut ReadyQueues<Arc<Object<Thread>>>)> {
        let active = active_processors();
        self.processors
            .iter_mut()
            .enumerate()
            .filter(move |(index, _)| active & 1 << index != 0)
            .map(|(index, prcb)| (index as u32, &mut prcb.ready_queues))
    }
}

/// `KiDispatcherLock`.
static DISPATCHER: Mutex<DispatcherDatabase> = Mutex::new(DispatcherDatabase {
    processors: [const {
        Prcb {
            ready_queues: ReadyQueues::new(),
            deferred_ready: Vec::new(),
            idle_context: None,
            quantum_end: false,
        }
    }; MAX_PROCESSORS],
    timers: Vec::new(),
});

/// `KPRCB.CurrentThread` of each processor: `None` while its idle thread runs. Written
/// only by its processor, under the dispatcher lock; read without it.
static CURRENT_THREAD: [Mutex<Option<Arc<Object<Thread>>>>; MAX_PROCESSORS] =
    [const { Mutex::new(None) }; MAX_PROCESSORS];

/// A terminated thread each processor just left: its stack and context stay until the next
/// thread runs there, which drops this reference. Only its processor touches it.
static DEAD_THREAD: [Mutex<Option<Arc<Object<Thread>>>>; MAX_PROCESSORS] =
    [const { Mutex::new(None) }; MAX_PROCESSORS];

/// `KeActiveProcessors`: the processors the dispatcher runs on, fixed once the boot
/// processor starts the others.
static ACTIVE_PROCESSORS: AtomicU64 = AtomicU64::new(1);

/// The processors threads may run on, as an affinity mask.
pub fn active_processors() -> u64 {
    ACTIVE_PROCESSORS.load(Ordering::Relaxed)
}

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
/// ready list; the dispatcher places it (and decides on preemption) at its next look.
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

/// `KiProcessDeferredReadyList`: places the threads readied since the last look
/// (`KiDeferredReadyThread`), each at the tail of its priority's list on the processor
/// chosen for it, and interrupts the other processors that must look at theirs.
pub fn process_deferred_ready_list(db: &mut DispatcherDatabase) {
    let this = arch::current_processor();
    let mut to_interrupt = 0u64;
    for thread in core::mem::take(&mut db.prcb().deferred_ready) {
        let (priority, affinity, ideal, last) = {
            let mut scheduling = thread.tcb.scheduling();
            mark_ready(&mut scheduling);
            (
                scheduling.priority,
                scheduling.affinity,
                scheduling.ideal_processor,
                scheduling.processor,
            )
        };
        let (target, interrupt) = choose_processor(db, priority, affinity, [ideal, last, this]);
        thread.tcb.scheduling().processor = target;
        db.ready_queues(target).insert(priority, thread, false);
        if target != this {
            PLACED_HERE[target as usize].fetch_add(1, Ordering::SeqCst);
        }
        if interrupt && target != this && needs_interrupt(target) {
            to_interrupt |= 1 << target;
        }
    }
    for processor in (0..MAX_PROCESSORS as u32).filter(|index| to_interrupt & 1 << index != 0) {
        arch::request_dispatch_interrupt(processor);
    }
}

/// Set while a processor's idle loop is about to halt or halted, until the first
/// dispatch interrupt sent to wake it: a processor idling awake finds what was queued for
/// it by itself, and one being woken needs no second interrupt. Interrupting a vCPU that
/// is not halted is what the kvm-pvm host handles worst (see `arch::pvm`), so only these
/// wake-ups, preemptions and requests to a running thread interrupt another processor.
static HALTING: [AtomicBool; MAX_PROCESSORS] = [const { AtomicBool::new(false) }; MAX_PROCESSORS];

/// Whether `processor`, chosen for a thread, must be interrupted to run it: it is running
/// a thread (which the new one preempts), or halting and not yet being woken.
fn needs_interrupt(processor: u32) -> bool {
    running_priority(processor).is_some()
        || HALTING[processor as usize].swap(false, Ordering::SeqCst)
}

/// The priority of the thread running on `processor`, `None` while it idles.
fn running_priority(processor: u32) -> Option<u8> {
    CURRENT_THREAD[processor as usize]
        .lock()
        .as_ref()
        .map(|thread| thread.tcb.scheduling().priority)
}

/// Whether `processor` idles with nothing queued (`KiIdleSummary`).
fn is_idle(db: &mut DispatcherDatabase, processor: u32) -> bool {
    running_priority(processor).is_none() && db.ready_queues(processor).highest_priority().is_none()
}

/// Where a thread readied at `priority` goes, among the active processors of `affinity`,
/// trying `preferred` (its ideal processor, the one it last ran on, this one) first: an
/// idle one; else the one running the lowest priority below its own, which it preempts;
/// else the first preferred it may run on. Returns the processor and whether it must be
/// interrupted to look at its queues.
fn choose_processor(
    db: &mut DispatcherDatabase,
    priority: u8,
    affinity: u64,
    preferred: [u32; 3],
) -> (u32, bool) {
    let candidates = affinity & active_processors();
    if candidates.is_power_of_two() {
        // One processor it may run on (one processor in all, most often).
        let only = candidates.trailing_zeros();
        let interrupt =
            is_idle(db, only) || running_priority(only).is_some_and(|running| running < priority);
        return (only, interrupt);
    }
    let allowed = |processor: u32| candidates & 1 << processor != 0;
    let in_order = preferred
        .into_iter()
        .chain(0..MAX_PROCESSORS as u32)
        .filter(move |&processor| allowed(processor));
    if let Some(idle) = in_order.clone().find(|&processor| is_idle(db, processor)) {
        return (idle, true);
    }
    let lowest = in_order
        .clone()
        .filter_map(|processor| Some((processor, running_priority(processor)?)))
        .min_by_key(|&(_, running)| running);
    match lowest {
        Some((processor, running)) if running < priority => (processor, true),
        _ => (in_order.clone().next().unwrap_or(preferred[2]), false),
    }
}

/// Picks the thread to run next on this processor (`KiSelectNextThread`): the first of
/// its highest-priority ready list or, with none, the highest-priority thread ready on
/// another processor that may run here (`KiFindReadyThread`'s search of the other
/// processors); it is now on standby (`KPRCB.NextThread`).
fn select_next_thread(db: &mut DispatcherDatabase) -> Option<Arc<Object<Thread>>> {
    process_deferred_ready_list(db);
    let this = arch::current_processor();
    let next = match db.prcb().ready_queues.pop_highest() {
        Some((_, next)) => next,
        None => take_ready_thread_elsewhere(db, this)?,
    };
    {
        let mut scheduling = next.tcb.scheduling();
        scheduling.state = ThreadState::Standby;
        scheduling.processor = this;
    }
    Some(next)
}

/// Takes, from another processor's queues, the highest-priority ready thread that may run
/// on `this`.
fn take_ready_thread_elsewhere(
    db: &mut DispatcherDatabase,
    this: u32,
) -> Option<Arc<Object<Thread>>> {
    let runs_here =
        |thread: &Arc<Object<Thread>>| thread.tcb.scheduling().affinity & 1 << this != 0;
    let (processor, priority) = db
        .all_ready_queues()
        .filter(|&(processor, _)| processor != this)
        .flat_map(|(processor, queues)| {
            (1..=abi::dispatcher::HIGH_PRIORITY)
                .rev()
                .find(|&priority| queues.items(priority).any(runs_here))
                .map(|priority| (processor, priority))
        })
        .max_by_key(|&(_, priority)| priority)?;
    db.ready_queues(processor).remove(priority, runs_here)
}

/// Makes `thread`'s processor look at its queues soon, when that is another processor and
/// the thread runs there: after a change of its priority or affinity, or a termination or
/// suspension asked of it (NT's APC interrupt).
pub fn interrupt_thread(thread: &Arc<Object<Thread>>) {
    let (state, processor) = {
        let scheduling = thread.tcb.scheduling();
        (scheduling.state, scheduling.processor)
    };
    if state == ThreadState::Running {
        interrupt_processor(processor);
    }
}

/// Makes `processor` look at its queues soon, when it is another processor.
pub fn interrupt_processor(processor: u32) {
    if processor != arch::current_processor() {
        arch::request_dispatch_interrupt(processor);
    }
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
        *DEAD_THREAD[arch::current_processor() as usize].lock() = Some(current);
        None
    } else {
        Some(current)
    };
    switch_to(db, old_context, next);
    drop(keep_alive);
}

/// `KiSwapContext`: switches from the flow whose context is `old_context` to `next` (the
/// idle thread when `None`), making it current, loading its process's address space if
/// another is loaded (the idle thread runs in the System process's, so that no processor
/// idles in an address space that may be torn down). The dispatcher lock stays held across
/// the switch and the flow switched to releases it: until then no other processor can
/// pick up the old thread, whose context is being saved. Returns when the old flow is
/// switched back to.
fn switch_to(
    mut db: MutexGuard<'_, DispatcherDatabase>,
    old_context: *const SwitchContextCell,
    next: Option<Arc<Object<Thread>>>,
) {
    let new_context = context_of(&mut db, next.as_ref());
    let root = next.as_ref().map_or_else(crate::mm::system_root, |next| {
        next.process().pcb.directory_table_base
    });
    let address_space = (arch::paging::current_root() != root).then_some(root);
    if let Some(next) = &next {
        let mut scheduling = next.tcb.scheduling();
        scheduling.state = ThreadState::Running;
        scheduling.processor = arch::current_processor();
        if scheduling.quantum <= 0 {
            scheduling.quantum = THREAD_QUANTUM;
        }
    }
    db.prcb().quantum_end = false;
    set_current_thread(next);
    // Handed over to the flow switched to, which releases it in `finish_switch`.
    core::mem::forget(db);
    // SAFETY: interrupts are disabled; `old_context` is the running flow's (kept alive by
    // the caller or by `dead_thread`), `new_context` belongs to the thread just made
    // current (kept alive by CURRENT_THREAD) or to the idle thread (leaked); the lock held
    // keeps every other processor off both. Roots are process PML4s, which share the
    // kernel half.
    unsafe { arch::swap_context(&*old_context, &*new_context, address_space) };
    finish_switch();
}

/// After a switch, on the new thread: releases the dispatcher lock the switch held, then
/// drops the reference to a terminated thread the processor left (the deferred
/// dereference of `KiSwapContext`).
fn finish_switch() {
    // SAFETY: the switch that brought this flow here holds the lock and left its release
    // to this flow (`switch_to`); nothing else releases it.
    unsafe { DISPATCHER.force_unlock() };
    let dead = DEAD_THREAD[arch::current_processor() as usize]
        .lock()
        .take();
    drop(dead);
}

/// `KiThreadStartup`: where a new thread's first switch lands. Finishes the switch, then
/// runs the thread's system routine, `PspUserThreadStartup`, which enters user mode.
pub extern "C" fn thread_startup() -> ! {
    finish_switch();
    ps::user_thread_startup()
}

/// Timed waits the dispatcher has room for from the start.
const TIMED_WAITS_RESERVED: usize = 16;

/// Size of an application processor's first stack, which its idle thread keeps.
const IDLE_STACK_SIZE: usize = 16 * 1024;

/// Application processors that have reached their idle loop.
static PROCESSORS_ONLINE: AtomicU64 = AtomicU64::new(0);

/// Starts the application processors of a machine with `count` processors (at most
/// [`MAX_PROCESSORS`]), each on a stack of its own, and waits until each runs its idle
/// loop (`KeStartAllProcessors`): what they allocate for themselves is then allocated
/// before any program runs, and no thread waits for a processor still starting.
pub fn start_processors(count: u32) {
    let count = count.clamp(1, MAX_PROCESSORS as u32);
    ACTIVE_PROCESSORS.store(u64::MAX >> (64 - count), Ordering::Relaxed);
    {
        // Storage every run needs, taken now: what the pool holds must not depend on
        // whether a processor or a timed wait has been used yet (programs compare it).
        let mut db = lock();
        for (_, queues) in db.all_ready_queues() {
            queues.reserve();
        }
        db.timers.reserve(TIMED_WAITS_RESERVED);
    }
    let layout = Layout::from_size_align(IDLE_STACK_SIZE, 16).expect("a valid stack layout");
    for index in 1..count {
        // SAFETY: the layout has a non-zero size.
        let stack = unsafe { alloc::alloc::alloc(layout) };
        assert!(!stack.is_null(), "the pool holds the idle stacks");
        arch::start_processor(index, stack as u64 + IDLE_STACK_SIZE as u64);
    }
    while PROCESSORS_ONLINE.load(Ordering::SeqCst) < u64::from(count - 1) {
        core::hint::spin_loop();
    }
}

/// An application processor's way into the dispatcher: its boot flow becomes its idle
/// thread.
pub fn run_processor() -> ! {
    make_idle_thread(&mut lock());
    PROCESSORS_ONLINE.fetch_add(1, Ordering::SeqCst);
    idle_loop()
}

/// Makes the running flow this processor's idle thread.
fn make_idle_thread(db: &mut DispatcherDatabase) {
    let idle: &'static SwitchContextCell =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(SwitchContextCell::for_idle_thread()));
    db.prcb().idle_context = Some(idle);
}

/// Starts dispatching on the boot processor with `first` ready, and turns the boot flow
/// into this processor's idle thread (`KiIdleLoop`).
pub fn start(first: Arc<Object<Thread>>) -> ! {
    {
        let mut db = lock();
        make_idle_thread(&mut db);
        ready_thread(&mut db, first);
    }
    idle_loop()
}

/// `KiIdleLoop`: runs the highest-priority ready thread whenever there is one, and halts
/// with interrupts enabled until the next interrupt otherwise.
fn idle_loop() -> ! {
    let this = arch::current_processor() as usize;
    loop {
        arch::disable_interrupts();
        if let Some(work) = IDLE_WORK.get() {
            work();
        }
        let placed_before = PLACED_HERE[this].load(Ordering::SeqCst);
        let mut db = lock();
        match select_next_thread(&mut db) {
            Some(next) => {
                clock::resume_tick();
                let idle = context_of(&mut db, None);
                switch_to(db, idle, Some(next));
            }
            None => {
                // Tickless idle: no clock interrupt until the first timed wait or timer is
                // due, and none at all when nothing is; the tick resumes when a thread
                // runs again.
                let next_expiry = super::wait::next_expiry(&db);
                drop(db);
                if poll_for_work(this, placed_before) {
                    continue;
                }
                let halting = &HALTING[this];
                halting.store(true, Ordering::SeqCst);
                // A thread queued here before the flag was seen came without an interrupt.
                if !has_ready_threads() {
                    super::clock::idle_until(next_expiry);
                    arch::wait_for_interrupt();
                }
                halting.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// Threads another processor placed on each processor's queues so far.
static PLACED_HERE: [AtomicU64; MAX_PROCESSORS] = [const { AtomicU64::new(0) }; MAX_PROCESSORS];

/// How long an idle processor watches for work before it halts, when others may send it
/// some: waking a halted vCPU takes an interrupt (an exit for the sender) and the host's
/// wake-up, tens of microseconds, where a thread handing work to one on another processor
/// (an event ping-pong) takes a few. Linux's haltpoll does the same.
const IDLE_POLL_MICROSECONDS: u64 = 100;

/// Watches, for [`IDLE_POLL_MICROSECONDS`], whether another processor places a thread on
/// processor `this`'s queues (its count moved from `placed_before`); true when one did.
fn poll_for_work(this: usize, placed_before: u64) -> bool {
    if active_processors().count_ones() < 2 {
        return false;
    }
    let deadline = clock::now() + IDLE_POLL_MICROSECONDS * clock::tsc_khz() / 1000;
    while clock::now() < deadline {
        if PLACED_HERE[this].load(Ordering::SeqCst) != placed_before {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Whether this processor has threads queued or readied.
fn has_ready_threads() -> bool {
    let mut db = lock();
    let prcb = db.prcb();
    prcb.ready_queues.highest_priority().is_some() || !prcb.deferred_ready.is_empty()
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
/// mode is a safe point. There, the thread takes the kernel APCs queued to it (it exits
/// when terminated, waits while suspended), a higher-priority ready thread preempts the
/// current one (which
/// goes back to the head of its ready list), and a thread whose quantum ended has its
/// boost decay a step and yields to a ready thread of its priority (going to the tail of
/// its list).
pub fn exit_dispatch(user_mode: bool) {
    if !user_mode {
        return;
    }
    while let Some(current) = current_thread() {
        let mut db = lock();
        if !current.tcb.scheduling().kernel_apcs.is_empty() {
            drop(db);
            if apc::deliver_kernel_apcs(&current, true) == apc::Delivered::Exit {
                ps::exit_current_thread(current);
            }
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
        if scheduling.affinity & 1 << arch::current_processor() == 0 {
            // Its affinity no longer includes this processor: it moves.
            drop(scheduling);
            ready_thread(&mut db, current.clone());
            swap_thread(db, current);
            continue;
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
