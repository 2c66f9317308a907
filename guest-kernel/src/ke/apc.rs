//! Kernel APCs: what one thread asks of another (its termination, its suspension), queued
//! to it (`KeInsertQueueApc` for kernel mode) and carried out by the thread itself
//! (`KiDeliverApc`): a thread waiting leaves its wait to take them, one running on
//! another processor gets the dispatch interrupt, as NT's APC interrupt.
//!
//! User APCs and alerts: each thread's user APC queue (`KeInsertQueueApc` for user mode),
//! alertable waits that end for them (`KiCheckAlertability`), alerts (`KeAlertThread`,
//! `KeTestAlertThread`), and the delivery of a user APC on the way back to user mode
//! (`KiDeliverApc`, `KiInitializeUserApc`): the interrupted user state goes on the user
//! stack as a `CONTEXT`, with the APC's routine and arguments in its home slots, and the
//! thread resumes in its process's user APC dispatcher, which calls the routine and then
//! `NtContinue(Context, TRUE)` ([`continue_context`]): the next APC, or the interrupted
//! state. This is the only place that edits a trap frame's user state.

use alloc::sync::Arc;

use abi::NtStatus;
use abi::dispatcher::{CONTEXT_CONTROL, CONTEXT_INTEGER, Context};
use abi::layout::USER_END;

use super::dispatcher::{DispatcherDatabase, current_thread, lock};
use super::thread::{Scheduling, ThreadState, WaitReason};
use super::wait;
use crate::arch::TrapFrame;
use crate::arch::user::copy_to_user;
use crate::ob::Object;
use crate::ps::Thread;

/// The rflags bits a `CONTEXT` may change: the arithmetic flags and DF (`EFLAGS_USER_SANITIZE`
/// keeps the rest, interrupts on).
const USER_RFLAGS: u64 = 0x0CD5;

/// The most user APCs a thread's queue holds. NT charges each APC's pool to a quota; here a
/// thread that never waits alertably must not fill the kernel pool with them.
pub const MAXIMUM_QUEUED_USER_APCS: usize = 1024;

/// A kernel APC: work a thread does on itself when another asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelApc {
    /// `PspExitNormalApc`: exit with the status `Scheduling::terminate` holds. Only the
    /// safe point before user mode carries it out: the thread's kernel stack must hold
    /// nothing that would never be released.
    Terminate,
    /// The suspend APC (`KiSuspendThread`): wait, as WaitReason Suspended, until the
    /// suspend count is back to zero.
    Suspend,
}

/// `KeInsertQueueApc` for a kernel APC: queues `apc` to `thread`. A thread in a wait
/// leaves it with STATUS_KERNEL_APC to take it (and waits again after a suspension); a
/// thread running on another processor is interrupted.
pub fn insert_kernel_apc(
    db: &mut DispatcherDatabase,
    thread: &Arc<Object<Thread>>,
    apc: KernelApc,
) {
    let waiting = {
        let mut scheduling = thread.tcb.scheduling();
        if scheduling.kernel_apcs.contains(&apc) {
            return;
        }
        scheduling.kernel_apcs.push_back(apc);
        scheduling.state == ThreadState::Waiting
            && (apc == KernelApc::Terminate
                || scheduling.wait_reason != Some(WaitReason::Suspended))
    };
    if waiting {
        wait::unwait_thread(db, thread, NtStatus::KERNEL_APC, 0);
    } else {
        super::dispatcher::interrupt_thread(thread);
    }
}

/// What [`deliver_kernel_apcs`] leaves to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Every queued kernel APC ran.
    All,
    /// The thread is terminating: the termination waits for the safe point before user
    /// mode, which the caller heads for.
    Termination,
    /// At the safe point, the termination's turn came: the caller, which owns the
    /// thread's last reference on this stack, makes it exit.
    Exit,
}

/// `KiDeliverApc` for kernel mode, on the current thread: runs its kernel APCs in the
/// order queued. A suspension waits until resumed. A termination is left queued and
/// reported, or at the safe point (`at_safe_point`, the return to user mode) taken off
/// the queue for the caller to carry out.
pub fn deliver_kernel_apcs(current: &Arc<Object<Thread>>, at_safe_point: bool) -> Delivered {
    loop {
        let apc = {
            let _db = lock();
            let mut scheduling = current.tcb.scheduling();
            match scheduling.kernel_apcs.front() {
                None => return Delivered::All,
                Some(KernelApc::Terminate) if !at_safe_point => return Delivered::Termination,
                Some(_) => scheduling.kernel_apcs.pop_front(),
            }
        };
        match apc {
            Some(KernelApc::Terminate) => return Delivered::Exit,
            Some(KernelApc::Suspend) => wait::wait_while_suspended(current),
            None => {}
        }
    }
}

/// A user APC: `routine(arguments[0], arguments[1], arguments[2])` in user mode.
#[derive(Clone, Copy, Debug)]
pub struct UserApc {
    pub routine: u64,
    pub arguments: [u64; 3],
}

/// `KeInsertQueueApc` for a user APC: queues `apc` to `thread`; a thread in an alertable
/// wait leaves it with STATUS_USER_APC and runs the APC before it returns to user mode.
/// STATUS_UNSUCCESSFUL when the thread is terminating (`ApcQueueable` is off),
/// STATUS_INSUFFICIENT_RESOURCES when its queue is full.
pub fn queue_user_apc(thread: &Arc<Object<Thread>>, apc: UserApc) -> Result<(), NtStatus> {
    insert_user_apc(&mut lock(), thread, apc)
}

/// [`queue_user_apc`] under the dispatcher lock (a timer's APC, at its expiration).
pub fn insert_user_apc(
    db: &mut DispatcherDatabase,
    thread: &Arc<Object<Thread>>,
    apc: UserApc,
) -> Result<(), NtStatus> {
    let in_alertable_wait = {
        let mut scheduling = thread.tcb.scheduling();
        if scheduling.terminate.is_some() || scheduling.state == ThreadState::Terminated {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        if scheduling.user_apcs.len() >= MAXIMUM_QUEUED_USER_APCS {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        scheduling.user_apcs.push_back(apc);
        let in_alertable_wait = scheduling.state == ThreadState::Waiting && scheduling.alertable;
        if in_alertable_wait {
            scheduling.user_apc_pending = true;
        }
        in_alertable_wait
    };
    if in_alertable_wait {
        wait::unwait_thread(db, thread, NtStatus::USER_APC, 0);
    }
    Ok(())
}

/// `KiCheckAlertability`, before an alertable wait blocks: an alert ends it at once with
/// STATUS_ALERTED (and is consumed); a queued user APC with STATUS_USER_APC (and is
/// delivered on the way out). `None` lets the wait go on.
pub fn check_alertable(scheduling: &mut Scheduling) -> Option<NtStatus> {
    if core::mem::take(&mut scheduling.alerted) {
        return Some(NtStatus::ALERTED);
    }
    if !scheduling.user_apcs.is_empty() {
        scheduling.user_apc_pending = true;
        return Some(NtStatus::USER_APC);
    }
    None
}

/// `KeAlertThread` for user mode: a thread in an alertable wait leaves it with
/// STATUS_ALERTED; any other is marked alerted for its next alertable wait or NtTestAlert.
pub fn alert_thread(thread: &Arc<Object<Thread>>) {
    let mut db = lock();
    let in_alertable_wait = {
        let mut scheduling = thread.tcb.scheduling();
        let in_alertable_wait = scheduling.state == ThreadState::Waiting && scheduling.alertable;
        if !in_alertable_wait {
            scheduling.alerted = true;
        }
        in_alertable_wait
    };
    if in_alertable_wait {
        wait::unwait_thread(&mut db, thread, NtStatus::ALERTED, 0);
    }
}

/// `KeTestAlertThread` for user mode on the current thread: STATUS_ALERTED (clearing the
/// alert) when it was alerted, else STATUS_SUCCESS; a queued user APC is delivered on the
/// way back to user mode.
pub fn test_alert() -> NtStatus {
    let current = current_thread().expect("a thread is running");
    let _db = lock();
    let mut scheduling = current.tcb.scheduling();
    if !scheduling.user_apcs.is_empty() {
        scheduling.user_apc_pending = true;
    }
    if core::mem::take(&mut scheduling.alerted) {
        NtStatus::ALERTED
    } else {
        NtStatus::SUCCESS
    }
}

/// `KiDeliverApc` for user mode, called with the trap frame of a system call about to
/// return to user mode: when a user APC is pending, the first queued one is taken and the
/// frame is redirected to the process's user APC dispatcher, with `rsp` at a `CONTEXT`
/// holding the state the call would have returned to (its status in rax) and the APC in
/// `P1Home`-`P4Home`. A user stack that cannot take the `CONTEXT` loses the APC.
pub fn deliver_user_apc(frame: &mut TrapFrame) {
    let Some(current) = current_thread() else {
        return;
    };
    let apc = {
        let _db = lock();
        let mut scheduling = current.tcb.scheduling();
        if !core::mem::take(&mut scheduling.user_apc_pending) {
            return;
        }
        scheduling.user_apcs.pop_front()
    };
    let dispatcher = current.process().pcb.user_apc_dispatcher();
    let Some(apc) = apc.filter(|_| dispatcher != 0) else {
        return;
    };
    let mut context = context_of(frame);
    context.p1_home = apc.arguments[0];
    context.p2_home = apc.arguments[1];
    context.p3_home = apc.arguments[2];
    context.p4_home = apc.routine;
    let Some(address) = frame
        .rsp
        .checked_sub(size_of::<Context>() as u64)
        .map(|address| address & !0xF)
    else {
        return;
    };
    // SAFETY: `Context` is plain integers without padding (pinned by `abi`'s assertions).
    let bytes = unsafe {
        core::slice::from_raw_parts((&raw const context).cast::<u8>(), size_of::<Context>())
    };
    if copy_to_user(address, bytes).is_err() {
        return;
    }
    frame.rsp = address;
    frame.rip = dispatcher;
}

/// The user state of a trap frame as a `CONTEXT` (control and integer registers).
fn context_of(frame: &TrapFrame) -> Context {
    Context {
        context_flags: CONTEXT_CONTROL | CONTEXT_INTEGER,
        seg_cs: frame.cs as u16,
        seg_ss: frame.ss as u16,
        e_flags: frame.rflags as u32,
        rax: frame.rax,
        rcx: frame.rcx,
        rdx: frame.rdx,
        rbx: frame.rbx,
        rsp: frame.rsp,
        rbp: frame.rbp,
        rsi: frame.rsi,
        rdi: frame.rdi,
        r8: frame.r8,
        r9: frame.r9,
        r10: frame.r10,
        r11: frame.r11,
        r12: frame.r12,
        r13: frame.r13,
        r14: frame.r14,
        r15: frame.r15,
        rip: frame.rip,
        ..Context::ZERO
    }
}

/// `NtContinue`'s work (`KeContextToKframes`): loads the control and integer registers
/// that `context` holds into the trap frame of the call, which then returns to them. rip
/// and rsp must lie in the user half (STATUS_INVALID_PARAMETER); only the arithmetic flags
/// and DF of rflags are taken; cs and ss stay the user selectors. With `then_test_alert`, a
/// queued user APC is delivered before the context is returned to.
pub fn continue_context(
    frame: &mut TrapFrame,
    context: &Context,
    then_test_alert: bool,
) -> Result<(), NtStatus> {
    let control = context.context_flags & CONTEXT_CONTROL == CONTEXT_CONTROL;
    let integer = context.context_flags & CONTEXT_INTEGER == CONTEXT_INTEGER;
    if control && (context.rip >= USER_END || context.rsp >= USER_END) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if control {
        frame.rip = context.rip;
        frame.rsp = context.rsp;
        frame.rflags = (frame.rflags & !USER_RFLAGS) | (u64::from(context.e_flags) & USER_RFLAGS);
    }
    if integer {
        frame.rax = context.rax;
        frame.rcx = context.rcx;
        frame.rdx = context.rdx;
        frame.rbx = context.rbx;
        frame.rbp = context.rbp;
        frame.rsi = context.rsi;
        frame.rdi = context.rdi;
        frame.r8 = context.r8;
        frame.r9 = context.r9;
        frame.r10 = context.r10;
        frame.r11 = context.r11;
        frame.r12 = context.r12;
        frame.r13 = context.r13;
        frame.r14 = context.r14;
        frame.r15 = context.r15;
    }
    if then_test_alert {
        test_alert();
    }
    Ok(())
}
