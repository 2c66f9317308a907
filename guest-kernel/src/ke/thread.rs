//! KTHREAD and KPROCESS: the scheduling state of thread and process objects (thread state,
//! priorities, quantum, suspend count, the wait in progress), each thread's kernel stack and
//! saved processor context, and the dispatcher header that makes both objects waitable.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::dispatcher::NORMAL_BASE_PRIORITY;
use spin::{Mutex, MutexGuard};

use super::apc::{KernelApc, UserApc};
use super::dispatcher::{DispatcherHeader, DispatcherObject};
use crate::arch::SwitchContextCell;

const KERNEL_STACK_SIZE: usize = 16 * 1024;

/// Quantum units a thread gets each time it is scheduled (`KiThreadQuantum`: two clock
/// ticks, as on NT's client systems).
pub const THREAD_QUANTUM: i8 = 6;

/// `KTHREAD_STATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Created, never readied.
    Initialized,
    /// In a ready queue.
    Ready,
    /// On a processor.
    Running,
    /// Chosen to run next on a processor, not switched to yet.
    Standby,
    /// Exited; never runs again.
    Terminated,
    /// Blocked in a wait (or suspended).
    Waiting,
    /// Readied, on a processor's deferred ready list until the dispatcher queues it.
    DeferredReady,
}

/// `KWAIT_REASON`: why a thread waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// NtWaitForSingleObject, NtWaitForMultipleObjects.
    UserRequest,
    /// NtDelayExecution.
    DelayExecution,
    /// A suspend count above zero.
    Suspended,
    /// The zero page thread, between looks at the free list (`WrFreePage`).
    FreePage,
}

/// `WAIT_TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitType {
    All,
    Any,
}

/// A wait in progress (the thread's `WaitBlockList`): the objects, in the order the
/// caller gave them, and how they combine.
#[derive(Clone)]
pub struct WaitBlocks {
    pub objects: Vec<Arc<dyn DispatcherObject>>,
    pub wait_type: WaitType,
}

/// The scheduling fields of a KTHREAD, changed under the dispatcher lock.
pub struct Scheduling {
    pub state: ThreadState,
    /// `Priority`: the current priority, 1-31: the base, raised by boosts that decay back.
    pub priority: u8,
    /// `BasePriority`: the process's base priority moved by `base_increment`.
    pub base_priority: u8,
    /// The base priority relative to the process's (NtSetInformationThread's
    /// ThreadBasePriority): -2 to 2, or THREAD_BASE_PRIORITY_LOWRT and _IDLE, which pin
    /// the base to the top or the bottom of the class's range.
    pub base_increment: i8,
    /// `Affinity`: the processors the thread may run on.
    pub affinity: u64,
    /// The processor the thread runs on, is queued on, or last ran on (`NextProcessor`).
    pub processor: u32,
    /// `IdealProcessor`: the processor the dispatcher tries first when the thread becomes
    /// ready.
    pub ideal_processor: u32,
    /// `PriorityDecrement`: what a starvation boost added on top of the priority, all
    /// taken back at the thread's next quantum end.
    pub priority_decrement: u8,
    /// `ReadyTime`: the TSC when the thread last became ready.
    pub ready_since: u64,
    /// `Quantum`: units left before the thread yields to its peers.
    pub quantum: i8,
    /// `SuspendCount`.
    pub suspend_count: u32,
    /// Why the thread waits, while it does.
    pub wait_reason: Option<WaitReason>,
    /// The objects of the wait in progress.
    pub wait: Option<WaitBlocks>,
    /// `WaitStatus`: how the last wait ended.
    pub wait_status: NtStatus,
    /// A termination asked for (the status it ends with): its kernel APC is queued, and no
    /// other work is asked of the thread any more.
    pub terminate: Option<NtStatus>,
    /// `ApcState.ApcListHead[KernelMode]`: what other threads asked of this one (its
    /// termination, its suspension), first queued first, carried out by the thread itself
    /// at its next safe point (see `apc::deliver_kernel_apcs`).
    pub kernel_apcs: VecDeque<KernelApc>,
    /// `MutantListHead`: the mutants the thread owns, abandoned if it terminates.
    pub owned_mutants: Vec<Arc<dyn DispatcherObject>>,
    /// The user-mode APC queue (`ApcState.ApcListHead[UserMode]`), first queued first.
    pub user_apcs: VecDeque<UserApc>,
    /// `UserApcPending`: the first queued user APC is delivered on the way back to user
    /// mode (an alertable wait ended for it, or NtTestAlert found it).
    pub user_apc_pending: bool,
    /// `Alerted[UserMode]`: NtAlertThread came while the thread was not in an alertable
    /// wait.
    pub alerted: bool,
    /// `Alertable`: the wait in progress may be ended by a user APC or an alert.
    pub alertable: bool,
}

/// A thread's kernel stack. Only the processor touches its bytes, while it runs the
/// thread on it; no Rust reference to them is ever made.
#[repr(C, align(16))]
struct KernelStack(UnsafeCell<[u8; KERNEL_STACK_SIZE]>);

// SAFETY: the bytes are reached only as a processor stack by the one processor running the
// owning thread, never through a Rust reference.
unsafe impl Sync for KernelStack {}

impl KernelStack {
    /// A zeroed stack allocated in place, or STATUS_INSUFFICIENT_RESOURCES: user programs
    /// create threads, so running out must be an answer, not the end of the system.
    /// (`Box::new(KernelStack(..))` would build the 16 KiB array on the caller's stack
    /// first, and the caller of NtCreateThreadEx runs on a 16 KiB kernel stack itself.)
    fn allocate() -> Result<Box<Self>, NtStatus> {
        let layout = Layout::new::<Self>();
        // SAFETY: the layout has a non-zero size.
        let stack = unsafe { alloc::alloc::alloc_zeroed(layout) }.cast::<Self>();
        if stack.is_null() {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        // SAFETY: allocated by the global allocator with this type's layout; all-zero bytes
        // are a valid `KernelStack`.
        Ok(unsafe { Box::from_raw(stack) })
    }
}

/// KTHREAD: the kernel's part of a thread object.
pub struct KThread {
    /// Signaled when the thread terminates.
    pub header: DispatcherHeader,
    scheduling: Mutex<Scheduling>,
    kernel_stack: Box<KernelStack>,
    context: SwitchContextCell,
}

impl KThread {
    /// `KeInitThread`: a thread at `base_priority` that may run on the processors of
    /// `affinity`, with its own kernel stack, which starts in `KiThreadStartup` when first
    /// switched to; with a suspend count of 1 when `suspended` (CREATE_SUSPENDED).
    /// STATUS_INSUFFICIENT_RESOURCES when the pool has no room for the stack.
    pub fn new(
        base_priority: u8,
        affinity: u64,
        ideal_processor: u32,
        suspended: bool,
    ) -> Result<Self, NtStatus> {
        let kernel_stack = KernelStack::allocate()?;
        let top = kernel_stack.0.get() as u64 + KERNEL_STACK_SIZE as u64;
        Ok(Self {
            header: DispatcherHeader::new(false, false),
            scheduling: Mutex::new(Scheduling {
                state: ThreadState::Initialized,
                priority: base_priority,
                base_priority,
                base_increment: 0,
                affinity,
                processor: ideal_processor,
                ideal_processor,
                priority_decrement: 0,
                ready_since: 0,
                quantum: THREAD_QUANTUM,
                suspend_count: u32::from(suspended),
                wait_reason: None,
                wait: None,
                wait_status: NtStatus::SUCCESS,
                terminate: None,
                kernel_apcs: if suspended {
                    VecDeque::from([KernelApc::Suspend])
                } else {
                    VecDeque::new()
                },
                owned_mutants: Vec::new(),
                user_apcs: VecDeque::new(),
                user_apc_pending: false,
                alerted: false,
                alertable: false,
            }),
            kernel_stack,
            context: SwitchContextCell::for_new_thread(top, super::dispatcher::thread_startup),
        })
    }

    /// The scheduling fields. The dispatcher changes them under its lock; a thread lock is
    /// never held while taking another.
    pub fn scheduling(&self) -> MutexGuard<'_, Scheduling> {
        self.scheduling.lock()
    }

    /// Top of the kernel stack (`InitialStack`).
    pub fn kernel_stack_top(&self) -> u64 {
        self.kernel_stack.0.get() as u64 + KERNEL_STACK_SIZE as u64
    }

    pub fn context(&self) -> &SwitchContextCell {
        &self.context
    }
}

impl core::fmt::Debug for KThread {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let scheduling = self.scheduling.lock();
        f.debug_struct("KThread")
            .field("state", &scheduling.state)
            .field("priority", &scheduling.priority)
            .finish_non_exhaustive()
    }
}

/// KPROCESS: the kernel's part of a process object.
#[derive(Debug)]
pub struct KProcess {
    /// Signaled when the last thread of the process terminates.
    pub header: DispatcherHeader,
    /// `DirectoryTableBase`: the PML4 the process's threads run in.
    pub directory_table_base: u64,
    /// `BasePriority` at creation: Normal's 8, or the parent's.
    pub base_priority: u8,
    /// `BasePriority` once NtSetInformationProcess changed it; 0 until then.
    changed_base_priority: AtomicU8,
    /// The user address user APCs are delivered through (ntdll's `KiUserApcDispatcher` on
    /// NT); 0 until the process registers one.
    user_apc_dispatcher: AtomicU64,
    /// `Affinity`: the processors its threads may run on, and new ones start with.
    affinity: AtomicU64,
    /// `ThreadSeed`: the ideal processor of the process's next thread; each new thread
    /// takes the next active one, so a process's threads spread over the processors.
    thread_seed: AtomicU32,
}

impl KProcess {
    /// `KeInitializeProcess` for the Normal priority class.
    pub fn new(directory_table_base: u64) -> Self {
        Self {
            header: DispatcherHeader::new(false, false),
            directory_table_base,
            base_priority: NORMAL_BASE_PRIORITY,
            changed_base_priority: AtomicU8::new(0),
            user_apc_dispatcher: AtomicU64::new(0),
            affinity: AtomicU64::new(super::dispatcher::active_processors()),
            thread_seed: AtomicU32::new(0),
        }
    }

    /// The ideal processor of a new thread (`KeInitThread`'s use of `ThreadSeed`): the
    /// next one of the process's affinity, round robin.
    pub fn next_ideal_processor(&self) -> u32 {
        let affinity = self.affinity();
        let count = affinity.count_ones().max(1);
        let turn = self.thread_seed.fetch_add(1, Ordering::Relaxed) % count;
        (0..64)
            .filter(|&processor| affinity & 1 << processor != 0)
            .nth(turn as usize)
            .unwrap_or(0)
    }

    /// `Affinity`.
    pub fn affinity(&self) -> u64 {
        self.affinity.load(Ordering::Relaxed)
    }

    /// Sets `Affinity` (`KeSetAffinityProcess` moves the threads).
    pub fn set_affinity(&self, affinity: u64) {
        self.affinity.store(affinity, Ordering::Relaxed);
    }

    /// The user APC dispatcher, 0 while none is registered.
    pub fn user_apc_dispatcher(&self) -> u64 {
        self.user_apc_dispatcher.load(Ordering::Relaxed)
    }

    /// Registers the user APC dispatcher.
    pub fn set_user_apc_dispatcher(&self, address: u64) {
        self.user_apc_dispatcher.store(address, Ordering::Relaxed);
    }

    /// `BasePriority`: the base its threads' base priorities are relative to.
    pub fn base_priority(&self) -> u8 {
        match self.changed_base_priority.load(Ordering::Relaxed) {
            0 => self.base_priority,
            changed => changed,
        }
    }

    /// Sets `BasePriority` (`KeSetPriorityProcess` moves the threads).
    pub fn set_base_priority(&self, base_priority: u8) {
        self.changed_base_priority
            .store(base_priority, Ordering::Relaxed);
    }
}
