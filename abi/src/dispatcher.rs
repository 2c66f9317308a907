//! The dispatcher's user-visible contract: thread creation flags and priorities, wait
//! types, event types, timeouts, `THREAD_BASIC_INFORMATION`, the semaphore and mutant
//! information classes, the priority classes and information classes that set
//! priorities and affinity, timer types and information, and the `CONTEXT` user APCs are
//! delivered with.

use core::mem::offset_of;

use crate::nt::ClientId;

/// `THREAD_CREATE_FLAGS_CREATE_SUSPENDED`: the new thread starts with a suspend count of 1.
pub const THREAD_CREATE_FLAGS_CREATE_SUSPENDED: u32 = 0x0000_0001;
/// Every `NtCreateThreadEx` flag NT defines (suspended, skip thread attach, hide from
/// debugger, loader worker, skip loader init, bypass process freeze); others are
/// STATUS_INVALID_PARAMETER.
pub const THREAD_CREATE_FLAGS_VALID: u32 = 0x0000_00D7;

/// `MAXIMUM_SUSPEND_COUNT`: NtSuspendThread past it is STATUS_SUSPEND_COUNT_EXCEEDED.
pub const MAXIMUM_SUSPEND_COUNT: u32 = 127;

/// `MAXIMUM_WAIT_OBJECTS`: the most handles NtWaitForMultipleObjects takes.
pub const MAXIMUM_WAIT_OBJECTS: usize = 64;

/// `WAIT_TYPE`: NtWaitForMultipleObjects returns when all objects are signaled...
pub const WAIT_ALL: u32 = 0;
/// ...or when any one is (its index is added to STATUS_WAIT_0).
pub const WAIT_ANY: u32 = 1;

/// `EVENT_TYPE`: a notification event stays signaled until reset and releases every
/// waiter...
pub const NOTIFICATION_EVENT: u32 = 0;
/// ...a synchronization event releases one waiter and resets itself.
pub const SYNCHRONIZATION_EVENT: u32 = 1;

/// Priorities: 0 is the zero-page thread's, 1-15 are dynamic, 16-31 real-time; one
/// ready queue per priority.
pub const MAXIMUM_PRIORITY: u8 = 32;
/// The base priority of the Normal priority class (`NORMAL_PRIORITY_CLASS`).
pub const NORMAL_BASE_PRIORITY: u8 = 8;

/// Timeouts are `LARGE_INTEGER`s in 100 ns units: negative means relative to now,
/// positive an absolute system time, zero a poll.
pub const TIMEOUT_UNITS_PER_SECOND: i64 = 10_000_000;

/// `THREADINFOCLASS` ThreadBasicInformation.
pub const THREAD_BASIC_INFORMATION_CLASS: u32 = 0;

/// `THREAD_BASIC_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadBasicInformation {
    /// STATUS_PENDING while the thread runs, then its exit status.
    pub exit_status: u32,
    pub reserved: u32,
    pub teb_base_address: u64,
    pub client_id: ClientId,
    pub affinity_mask: u64,
    pub priority: i32,
    pub base_priority: i32,
}

const _: () = {
    assert!(size_of::<ThreadBasicInformation>() == 0x30);
    assert!(offset_of!(ThreadBasicInformation, teb_base_address) == 0x08);
    assert!(offset_of!(ThreadBasicInformation, client_id) == 0x10);
    assert!(offset_of!(ThreadBasicInformation, affinity_mask) == 0x20);
    assert!(offset_of!(ThreadBasicInformation, priority) == 0x28);
    assert!(offset_of!(ThreadBasicInformation, base_priority) == 0x2C);
};

/// `SEMAPHORE_INFORMATION_CLASS` SemaphoreBasicInformation.
pub const SEMAPHORE_BASIC_INFORMATION_CLASS: u32 = 0;

/// `SEMAPHORE_BASIC_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemaphoreBasicInformation {
    pub current_count: i32,
    pub maximum_count: i32,
}

/// `MUTANT_INFORMATION_CLASS` MutantBasicInformation.
pub const MUTANT_BASIC_INFORMATION_CLASS: u32 = 0;

/// `MUTANT_BASIC_INFORMATION`: the signal state (1 free, 0 owned once, -n owned n + 1
/// times), whether the caller owns it and whether its owner died holding it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MutantBasicInformation {
    pub current_count: i32,
    pub owned_by_caller: u8,
    pub abandoned_state: u8,
    pub reserved: [u8; 2],
}

const _: () = {
    assert!(size_of::<SemaphoreBasicInformation>() == 8);
    assert!(size_of::<MutantBasicInformation>() == 8);
};

/// The lowest real-time priority (`LOW_REALTIME_PRIORITY`): threads at it and above get no
/// boosts and no decay.
pub const LOW_REALTIME_PRIORITY: u8 = 16;
/// The highest priority (`HIGH_PRIORITY`).
pub const HIGH_PRIORITY: u8 = 31;

/// `THREADINFOCLASS` ThreadPriority: sets the current priority (a `KPRIORITY`, 1-31).
pub const THREAD_PRIORITY_CLASS: u32 = 2;
/// `THREADINFOCLASS` ThreadBasePriority: sets the base priority relative to the process's
/// (a `LONG`: -2 to 2, or the saturating THREAD_BASE_PRIORITY_LOWRT and _IDLE).
pub const THREAD_BASE_PRIORITY_CLASS: u32 = 3;
/// `THREADINFOCLASS` ThreadAffinityMask: the processors the thread may run on (a
/// `KAFFINITY`, within the active processors).
pub const THREAD_AFFINITY_MASK_CLASS: u32 = 4;
/// `THREADINFOCLASS` ThreadAmILastThread: a ULONG, 1 when the thread is the only one its
/// process has left (`RtlExitUserThread` then ends the process instead).
pub const THREAD_AM_I_LAST_THREAD_CLASS: u32 = 12;
/// `THREADINFOCLASS` ThreadIdealProcessor: the processor the dispatcher prefers for the
/// thread (a ULONG, below the number of processors); the service returns the previous one
/// in place of a status, as NT's does.
pub const THREAD_IDEAL_PROCESSOR_CLASS: u32 = 13;

/// `THREAD_BASE_PRIORITY_MIN` and `_MAX`: the relative base priorities.
pub const THREAD_BASE_PRIORITY_MIN: i32 = -2;
pub const THREAD_BASE_PRIORITY_MAX: i32 = 2;
/// `THREAD_BASE_PRIORITY_LOWRT`: the top of the class's range (15, or 31 for Realtime).
pub const THREAD_BASE_PRIORITY_LOWRT: i32 = 15;
/// `THREAD_BASE_PRIORITY_IDLE`: the bottom of the class's range (1, or 16 for Realtime).
pub const THREAD_BASE_PRIORITY_IDLE: i32 = -15;

/// The user APC dispatcher (`KiUserApcDispatcher`), which rt's and ntdll.dll's share as
/// the body of a naked function: entered with `rsp` at the `CONTEXT` of the interrupted
/// state (16-byte aligned), holding the APC's arguments in `P1Home`-`P3Home` and its
/// routine in `P4Home`, it calls the routine, then `NtContinue(Context, TRUE)`, which runs
/// the next queued APC or resumes the interrupted state; should NtContinue refuse the
/// context, the process ends with its status. The arguments are the caller's `NtContinue`
/// and `NtTerminateProcess` stubs.
#[macro_export]
macro_rules! user_apc_dispatcher_body {
    ($nt_continue:path, $nt_terminate_process:path) => {
        core::arch::naked_asm!(
            "mov rcx, [rsp + {p1}]\nmov rdx, [rsp + {p2}]\nmov r8, [rsp + {p3}]\n\
             mov rax, [rsp + {p4}]\nmov rbx, rsp\nsub rsp, 32\ncall rax\nmov rcx, rbx\n\
             mov edx, 1\ncall {nt_continue}\nmov edx, eax\nmov rcx, {current_process}\n\
             call {nt_terminate_process}\nud2",
            p1 = const core::mem::offset_of!($crate::dispatcher::Context, p1_home),
            p2 = const core::mem::offset_of!($crate::dispatcher::Context, p2_home),
            p3 = const core::mem::offset_of!($crate::dispatcher::Context, p3_home),
            p4 = const core::mem::offset_of!($crate::dispatcher::Context, p4_home),
            current_process = const $crate::service::CURRENT_PROCESS_HANDLE as i64,
            nt_continue = sym $nt_continue,
            nt_terminate_process = sym $nt_terminate_process,
        )
    };
}

/// `PROCESSINFOCLASS` ProcessBasePriority: the process's base priority (a `KPRIORITY`).
pub const PROCESS_BASE_PRIORITY_CLASS: u32 = 5;
/// `PROCESSINFOCLASS` ProcessAffinityMask: the processors the process's threads may run on
/// (a `KAFFINITY`, within the active processors).
pub const PROCESS_AFFINITY_MASK_CLASS: u32 = 21;
/// `PROCESSINFOCLASS` ProcessPriorityClass: a [`ProcessPriorityClass`].
pub const PROCESS_PRIORITY_CLASS_INFORMATION_CLASS: u32 = 18;

/// `PROCESS_PRIORITY_CLASS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessPriorityClass {
    pub foreground: u8,
    pub priority_class: u8,
}

/// `PROCESS_PRIORITY_CLASS_*` values of [`ProcessPriorityClass::priority_class`].
pub const PROCESS_PRIORITY_CLASS_IDLE: u8 = 1;
pub const PROCESS_PRIORITY_CLASS_NORMAL: u8 = 2;
pub const PROCESS_PRIORITY_CLASS_HIGH: u8 = 3;
pub const PROCESS_PRIORITY_CLASS_REALTIME: u8 = 4;
pub const PROCESS_PRIORITY_CLASS_BELOW_NORMAL: u8 = 5;
pub const PROCESS_PRIORITY_CLASS_ABOVE_NORMAL: u8 = 6;

/// The base priority of a priority class (`PspPriorityTable`): Idle 4, BelowNormal 6,
/// Normal 8, AboveNormal 10, High 13, Realtime 24; `None` for another value.
pub const fn priority_class_base(priority_class: u8) -> Option<u8> {
    match priority_class {
        PROCESS_PRIORITY_CLASS_IDLE => Some(4),
        PROCESS_PRIORITY_CLASS_BELOW_NORMAL => Some(6),
        PROCESS_PRIORITY_CLASS_NORMAL => Some(8),
        PROCESS_PRIORITY_CLASS_ABOVE_NORMAL => Some(10),
        PROCESS_PRIORITY_CLASS_HIGH => Some(13),
        PROCESS_PRIORITY_CLASS_REALTIME => Some(24),
        _ => None,
    }
}

const _: () = assert!(size_of::<ProcessPriorityClass>() == 2);

/// `TIMER_TYPE`: a notification timer stays signaled until set again and releases every
/// waiter...
pub const NOTIFICATION_TIMER: u32 = 0;
/// ...a synchronization timer releases one waiter and resets itself.
pub const SYNCHRONIZATION_TIMER: u32 = 1;

/// `TIMER_INFORMATION_CLASS` TimerBasicInformation.
pub const TIMER_BASIC_INFORMATION_CLASS: u32 = 0;

/// `TIMER_BASIC_INFORMATION`: the time until the timer is due (100 ns units, 0 when it is
/// not armed) and whether it is signaled.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerBasicInformation {
    pub remaining_time: i64,
    pub timer_state: u8,
    pub reserved: [u8; 7],
}

const _: () = assert!(size_of::<TimerBasicInformation>() == 16);

/// Not an NT class: the process's user-mode APC dispatcher (a `PVOID`), the code user APCs
/// are delivered through, as ntdll's `KiUserApcDispatcher` is on NT. Until a process has
/// one, NtQueueApcThread to its threads is STATUS_NOT_SUPPORTED.
pub const PROCESS_USER_APC_DISPATCHER_CLASS: u32 = 0x1000;

/// `CONTEXT_AMD64`, and the parts of a [`Context`] its `ContextFlags` say are valid.
pub const CONTEXT_AMD64: u32 = 0x0010_0000;
/// rip, rsp, rflags, cs and ss.
pub const CONTEXT_CONTROL: u32 = CONTEXT_AMD64 | 0x1;
/// rax, rcx, rdx, rbx, rbp, rsi, rdi and r8-r15.
pub const CONTEXT_INTEGER: u32 = CONTEXT_AMD64 | 0x2;

/// The x64 `CONTEXT`. A user APC is delivered with one on the user stack (`rsp` pointing
/// at it): the interrupted state, and in `P1Home`-`P4Home` the APC's three arguments and
/// its routine, which the dispatcher calls before `NtContinue(Context, TRUE)`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub p1_home: u64,
    pub p2_home: u64,
    pub p3_home: u64,
    pub p4_home: u64,
    pub p5_home: u64,
    pub p6_home: u64,
    pub context_flags: u32,
    pub mx_csr: u32,
    pub seg_cs: u16,
    pub seg_ds: u16,
    pub seg_es: u16,
    pub seg_fs: u16,
    pub seg_gs: u16,
    pub seg_ss: u16,
    pub e_flags: u32,
    pub dr: [u64; 6],
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rbx: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub flt_save: [u8; 512],
    pub vector_register: [[u64; 2]; 26],
    pub vector_control: u64,
    pub debug_control: u64,
    pub last_branch_to_rip: u64,
    pub last_branch_from_rip: u64,
    pub last_exception_to_rip: u64,
    pub last_exception_from_rip: u64,
}

impl Context {
    /// A context with every field 0.
    pub const ZERO: Self = Self {
        p1_home: 0,
        p2_home: 0,
        p3_home: 0,
        p4_home: 0,
        p5_home: 0,
        p6_home: 0,
        context_flags: 0,
        mx_csr: 0,
        seg_cs: 0,
        seg_ds: 0,
        seg_es: 0,
        seg_fs: 0,
        seg_gs: 0,
        seg_ss: 0,
        e_flags: 0,
        dr: [0; 6],
        rax: 0,
        rcx: 0,
        rdx: 0,
        rbx: 0,
        rsp: 0,
        rbp: 0,
        rsi: 0,
        rdi: 0,
        r8: 0,
        r9: 0,
        r10: 0,
        r11: 0,
        r12: 0,
        r13: 0,
        r14: 0,
        r15: 0,
        rip: 0,
        flt_save: [0; 512],
        vector_register: [[0; 2]; 26],
        vector_control: 0,
        debug_control: 0,
        last_branch_to_rip: 0,
        last_branch_from_rip: 0,
        last_exception_to_rip: 0,
        last_exception_from_rip: 0,
    };
}

const _: () = {
    assert!(size_of::<Context>() == 0x4D0);
    assert!(offset_of!(Context, context_flags) == 0x30);
    assert!(offset_of!(Context, seg_cs) == 0x38);
    assert!(offset_of!(Context, e_flags) == 0x44);
    assert!(offset_of!(Context, rax) == 0x78);
    assert!(offset_of!(Context, rsp) == 0x98);
    assert!(offset_of!(Context, r15) == 0xF0);
    assert!(offset_of!(Context, rip) == 0xF8);
    assert!(offset_of!(Context, flt_save) == 0x100);
    assert!(offset_of!(Context, vector_register) == 0x300);
    assert!(offset_of!(Context, last_exception_from_rip) == 0x4C8);
};
