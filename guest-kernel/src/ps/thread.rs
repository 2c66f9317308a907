//! Threads after the first: creation for NtCreateThreadEx (`PspCreateThread`), the first
//! steps of a new thread (`PspUserThreadStartup`), termination asked by any thread
//! (`PspTerminateThreadByPointer`, `PspTerminateProcess`) and carried out by the thread
//! itself (`PspExitThread`), with the process rundown when its last thread exits
//! (`PspExitProcess`).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::hypercall::ShutdownKind;
use abi::layout::PAGE_SIZE;
use abi::memory::{MEM_RELEASE, MEM_RESERVE, MEM_TOP_DOWN, PAGE_READWRITE};
use spin::Mutex;

use super::{
    CidEntry, INITIAL_STACK_FRAME, MAX_STACK_RESERVE, MIN_STACK_RESERVE, PSP_CID_TABLE, Process,
    Thread, current_thread, environment, notify, stack, system_dll,
};
use crate::arch::user::UserContext;
use crate::ke::thread::KThread;
use crate::ob::Object;
use crate::{arch, hal, ke};

/// The stack a new thread gets when its creator names no size.
const DEFAULT_STACK_RESERVE: u64 = 256 * 1024;
/// How much of the top of a new thread's stack gets its frames at creation, so its first
/// use takes no fault, when its creator names no commit size.
const DEFAULT_STACK_COMMIT: u64 = 16 * 1024;

impl Thread {
    /// A thread object of `process` with its KTHREAD (`KeInitThread`: kernel stack,
    /// priority from the process) and its thread ID from the CID table, no TEB or stack
    /// yet.
    pub(super) fn create(
        process: &Arc<Object<Process>>,
        suspended: bool,
    ) -> Result<Arc<Object<Self>>, NtStatus> {
        let thread = Object::create(Self::new(process, suspended)?);
        let thread_id = PSP_CID_TABLE.allocate(CidEntry::Thread(Arc::downgrade(&thread)))?;
        thread.unique_thread_id.store(thread_id, Ordering::Relaxed);
        Ok(thread)
    }

    fn new(process: &Arc<Object<Process>>, suspended: bool) -> Result<Self, NtStatus> {
        Ok(Self {
            tcb: KThread::new(
                process.pcb.base_priority(),
                process.pcb.affinity(),
                process.pcb.next_ideal_processor(),
                suspended,
            )?,
            unique_thread_id: AtomicU64::new(0),
            process: process.clone(),
            teb: AtomicU64::new(0),
            user_stack: AtomicU64::new(0),
            initial_context: Mutex::new(None),
            system_routine: Mutex::new(None),
            exit_status: AtomicU32::new(NtStatus::PENDING.0),
        })
    }
}

/// What a new thread starts with in user mode.
#[derive(Clone, Copy, Debug)]
pub struct ThreadStart {
    /// `StartRoutine`, entered with `Argument` in `rcx` and `rsp` as a call leaves it.
    pub start_routine: u64,
    pub argument: u64,
    pub suspended: bool,
    /// `StackSize`: bytes at the top of the stack that get frames at once (0: default).
    pub stack_commit: u64,
    /// `MaximumStackSize`: the stack's reservation (0: default).
    pub stack_reserve: u64,
}

/// How a new thread enters user mode proper, once ntdll's loader has run on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserEntry {
    /// `RtlUserThreadStart(StartRoutine, Argument)`, which ends the thread with the
    /// routine's return value: threads of NtCreateThreadEx and a process's first thread.
    ThreadStart,
    /// The creator's context as it is: NtCreateThread's, whose caller picks the entry.
    CreatorContext,
}

/// What a thread created by NtCreateThread starts with: the stack its creator allocated
/// (`INITIAL_TEB`) and the registers of its `CONTEXT`.
#[derive(Clone, Copy, Debug)]
pub struct CallerStart {
    /// `StackBase` (the top, exclusive) and `StackLimit`.
    pub stack_base: u64,
    pub stack_limit: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rcx: u64,
    pub suspended: bool,
}

/// Where a new thread's user stack comes from.
#[derive(Clone, Copy)]
enum UserStack {
    /// Reserved and committed for the thread, released when it exits.
    Allocate { reserve: u64, commit: u64 },
    /// The creator's, left to it.
    Given(CallerStart),
}

/// `PspCreateThread` for a user thread of `process` (NtCreateThreadEx): the thread object
/// (with its kernel stack), the thread ID, the user stack, the TEB, the initial context;
/// then `insert` (the caller's `ObInsertObject`) makes its handle; then the thread is
/// linked to the process and readied (`KeReadyThread`), suspended first if asked. The
/// first thread of a process runs the process-creation callbacks.
pub fn create_thread<R>(
    process: &Arc<Object<Process>>,
    start: ThreadStart,
    insert: impl FnOnce(&Arc<Object<Thread>>) -> Result<R, NtStatus>,
) -> Result<R, NtStatus> {
    let reserve = match start.stack_reserve {
        0 => DEFAULT_STACK_RESERVE,
        size => size.clamp(MIN_STACK_RESERVE, MAX_STACK_RESERVE),
    }
    .next_multiple_of(PAGE_SIZE);
    let commit = match start.stack_commit {
        0 => DEFAULT_STACK_COMMIT,
        size => size.clamp(PAGE_SIZE, reserve),
    }
    .next_multiple_of(PAGE_SIZE);
    let stack = UserStack::Allocate { reserve, commit };
    psp_create_thread(
        process,
        start.suspended,
        stack,
        insert,
        UserEntry::ThreadStart,
        |stack_base| {
            (
                start.start_routine,
                stack_base - INITIAL_STACK_FRAME,
                start.argument,
            )
        },
    )
}

/// `PspCreateThread` for NtCreateThread: as [`create_thread`], on the stack and with the
/// registers the creator gave.
pub fn create_thread_on_stack<R>(
    process: &Arc<Object<Process>>,
    start: CallerStart,
    insert: impl FnOnce(&Arc<Object<Thread>>) -> Result<R, NtStatus>,
) -> Result<R, NtStatus> {
    psp_create_thread(
        process,
        start.suspended,
        UserStack::Given(start),
        insert,
        UserEntry::CreatorContext,
        |_| (start.rip, start.rsp, start.rcx),
    )
}

/// The steps both creations share; `registers` gives the entry, `rsp` and `rcx` from the
/// stack's base, which the thread reaches through `user_entry`.
fn psp_create_thread<R>(
    process: &Arc<Object<Process>>,
    suspended: bool,
    stack: UserStack,
    insert: impl FnOnce(&Arc<Object<Thread>>) -> Result<R, NtStatus>,
    user_entry: UserEntry,
    registers: impl FnOnce(u64) -> (u64, u64, u64),
) -> Result<R, NtStatus> {
    if process.terminating.load(Ordering::Relaxed) {
        return Err(NtStatus::PROCESS_IS_TERMINATING);
    }
    let thread = Thread::create(process, suspended)?;

    let mut space = process.address_space()?;
    let (stack_base, stack_limit) = match stack {
        UserStack::Allocate { reserve, commit } => {
            let (deallocation, _) = space.allocate_virtual_memory(
                0,
                reserve,
                0,
                MEM_RESERVE | MEM_TOP_DOWN,
                PAGE_READWRITE,
            )?;
            thread.user_stack.store(deallocation, Ordering::Relaxed);
            stack::commit_user_stack(&mut space, deallocation, reserve, commit)?
        }
        UserStack::Given(start) => (start.stack_base, start.stack_limit),
    };
    // The top of the stack gets its frames now, so the thread's first instructions take
    // no fault on it. A creator's stack is its own concern: as far as it is not committed,
    // it faults in on first use, or not at all.
    let made_resident = match stack {
        UserStack::Allocate { .. } => Ok(()),
        UserStack::Given(_) => {
            let top = stack_base & !(PAGE_SIZE - 1);
            let size = (stack_base - stack_limit).min(DEFAULT_STACK_COMMIT);
            if let Some(bottom) = top.checked_sub(size).filter(|_| size != 0) {
                let _ = space.make_resident(bottom, top - bottom);
            }
            Ok(())
        }
    };
    let teb = made_resident.and_then(|()| {
        environment::create_thread_teb(
            &mut space,
            process.peb.load(Ordering::Relaxed),
            thread.client_id(),
            stack_base,
            stack_limit,
        )
    });
    let teb = match teb {
        Ok(teb) => teb,
        Err(status) => {
            drop(space);
            release_user_allocations(&thread);
            return Err(status);
        }
    };
    drop(space);
    thread.teb.store(teb, Ordering::Relaxed);
    let (entry, stack, argument) = registers(stack_base);
    *thread.initial_context.lock() = Some((
        UserContext {
            entry,
            stack,
            argument,
            teb,
        },
        user_entry,
    ));

    // Linked before its handle exists, so that a termination of the process either
    // finds it or keeps it from joining (see `Process::insert_thread`).
    let first = match process.insert_thread(&thread) {
        Ok(first) => first,
        Err(status) => {
            release_user_allocations(&thread);
            return Err(status);
        }
    };
    let inserted = match insert(&thread) {
        Ok(inserted) => inserted,
        Err(status) => {
            process.remove_thread(&thread);
            release_user_allocations(&thread);
            return Err(status);
        }
    };
    if first {
        notify::call_process_notify_routines(
            process.inherited_from_unique_process_id(),
            process.unique_process_id(),
            true,
        );
    }
    let mut db = ke::dispatcher::lock();
    ke::dispatcher::ready_thread(&mut db, thread);
    Ok(inserted)
}

/// Releases a thread's TEB and user stack (`MmDeleteTeb` and the stack's release).
fn release_user_allocations(thread: &Thread) {
    // After rundown there is nothing left to release.
    let Ok(mut space) = thread.process.address_space() else {
        return;
    };
    for base in [
        thread.teb.swap(0, Ordering::Relaxed),
        thread.user_stack.swap(0, Ordering::Relaxed),
    ] {
        if base != 0 {
            // Allocated for this thread alone, whole: releasing it cannot fail.
            let _ = space.free_virtual_memory(base, 0, MEM_RELEASE);
        }
    }
}

/// `PspUserThreadStartup`, run by `KiThreadStartup` on a new thread's first switch: the
/// thread stops here if it was created suspended (or is terminated before it ever ran),
/// then enters user mode through ntdll's loader (the initial user APC for
/// `LdrInitializeThunk`) on its way to its start routine (through `RtlUserThreadStart`
/// unless its creator gave the context). A System thread runs its kernel routine
/// instead.
pub fn user_thread_startup() -> ! {
    let thread = current_thread();
    let system_routine = thread.system_routine.lock().take();
    if let Some(routine) = system_routine {
        // PspSystemThreadStartup: a System thread stays in kernel mode.
        drop(thread);
        routine()
    }
    let (context, user_entry) = thread
        .initial_context
        .lock()
        .take()
        .expect("a new thread has its initial context");
    let kernel_stack_top = thread.tcb.kernel_stack_top();
    thread.tcb.context().set_user_gs_base(context.teb);
    // Nothing on this stack may hold a reference: the stack is never unwound.
    drop(thread);
    ke::dispatcher::exit_dispatch(true);
    // The initial user APC: the process's dispatcher runs ntdll's loader, then continues to
    // `context`. Read now: the thread may have waited above while the process changed it.
    let dispatcher = current_thread().process().pcb.user_apc_dispatcher();
    let context = system_dll::initial_loader_context(context, user_entry, dispatcher);
    arch::user::enter_user_mode(context, kernel_stack_top)
}

/// `PspTerminateThreadByPointer`: asks `thread` to exit with `status`. The current thread
/// exits on its way back to user mode; another one as soon as it runs (a wait it is in
/// ends, a suspension is lifted). STATUS_THREAD_IS_TERMINATING when it already exits.
pub fn terminate_thread(thread: &Arc<Object<Thread>>, status: NtStatus) -> Result<(), NtStatus> {
    if ke::wait::request_termination(thread, status) {
        Ok(())
    } else {
        Err(NtStatus::THREAD_IS_TERMINATING)
    }
}

/// `PspTerminateProcess`: records `status` as the process's exit status and asks every
/// thread of `process` to exit with it, the current thread last (on its way back to user
/// mode). `spare_current` leaves the current thread alone (NtTerminateProcess(NULL)).
pub fn terminate_process(process: &Arc<Object<Process>>, status: NtStatus, spare_current: bool) {
    let current = current_thread();
    if !spare_current {
        let _ = process.exit_status.compare_exchange(
            NtStatus::PENDING.0,
            status.0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    let threads = if spare_current {
        process.threads()
    } else {
        process.begin_termination()
    };
    for thread in threads
        .iter()
        .filter(|thread| !Arc::ptr_eq(thread, &current))
    {
        let _ = terminate_thread(thread, status);
    }
    if !spare_current && Arc::ptr_eq(current.process(), process) {
        let _ = terminate_thread(&current, status);
    }
}

/// Ends the current process with `status` right away (an unhandled user exception): every
/// other thread is asked to exit, and the current one exits now.
pub fn terminate_current_process(status: NtStatus) -> ! {
    let current = current_thread();
    terminate_process(current.process(), status, false);
    exit_current_thread(current)
}

/// `PspExitThread`: the current thread exits with the status its termination asked for.
/// Its TEB and user stack are released, it leaves its process's thread list, and its object
/// is signaled. The last thread of a process runs the process down ([`exit_process`]).
pub fn exit_current_thread(thread: Arc<Object<Thread>>) -> ! {
    let status = thread
        .tcb
        .scheduling()
        .terminate
        .unwrap_or(NtStatus::SUCCESS);
    thread.exit_status.store(status.0, Ordering::Relaxed);
    release_user_allocations(&thread);
    let process = thread.process.clone();
    let last = process.remove_thread(&thread);
    if last {
        exit_process(&process, status);
    }
    drop(process);
    ke::wait::terminate_current_thread(thread)
}

/// `PspExitProcess`, run by the last thread of `process` as it exits with `status`: the
/// process's exit status is recorded (unless a termination set it first), the
/// process-notify routines are told, the handle table is closed (`ObKillProcess`), the
/// address space torn down (`MmDeleteProcessAddressSpace`: every frame freed; the
/// processor leaves it first) and the image section let go, the process taken off
/// `PsActiveProcessHead` and its ID out of the CID table, and the process object
/// signaled, waking its waiters. The object
/// itself goes on its last dereference. The first process is the session: when it ends,
/// the system shuts down with its exit status.
fn exit_process(process: &Arc<Object<Process>>, status: NtStatus) {
    let _ = process.exit_status.compare_exchange(
        NtStatus::PENDING.0,
        status.0,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    notify::call_process_notify_routines(
        process.inherited_from_unique_process_id(),
        process.unique_process_id(),
        false,
    );
    process.object_table.close_all();
    let address_space = process.address_space.lock().take();
    drop(address_space);
    let section_object = process.section_object.lock().take();
    drop(section_object);
    process.deactivate();
    ke::wait::signal_object(&**process);
    if process.session {
        system_shutdown(process.exit_status());
    }
}

/// Shuts the system down, reporting `status` as the exit status of the session.
pub fn system_shutdown(status: NtStatus) -> ! {
    hal::shutdown(ShutdownKind::Exit, status.0, [0; 4])
}
