//! Process-creation notify callbacks (`PsSetCreateProcessNotifyRoutine`): routines the
//! kernel calls when a process is created (with its first thread) and when it ends (at
//! rundown). The kernel registers one of its own that counts both, which
//! NtQuerySystemInformation reports.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::NtStatus;
use abi::process::SystemProcessNotifyCounters;
use spin::Mutex;

/// `PCREATE_PROCESS_NOTIFY_ROUTINE(ParentId, ProcessId, Create)`.
pub type CreateProcessNotifyRoutine = fn(parent_id: u64, process_id: u64, create: bool);

/// NT allows 64 process-notify routines (`PSP_MAX_CREATE_PROCESS_NOTIFY`).
const MAX_CREATE_PROCESS_NOTIFY: usize = 64;

/// `PspCreateProcessNotifyRoutine`.
static ROUTINES: Mutex<Vec<CreateProcessNotifyRoutine>> = Mutex::new(Vec::new());

static CREATED: AtomicU64 = AtomicU64::new(0);
static EXITED: AtomicU64 = AtomicU64::new(0);

/// `PsSetCreateProcessNotifyRoutine(NotifyRoutine, FALSE)`: adds `routine`;
/// STATUS_INVALID_PARAMETER past the limit. (Nothing removes one yet.)
pub fn set_create_process_notify_routine(
    routine: CreateProcessNotifyRoutine,
) -> Result<(), NtStatus> {
    let mut routines = ROUTINES.lock();
    if routines.len() >= MAX_CREATE_PROCESS_NOTIFY {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    routines
        .try_reserve(1)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    routines.push(routine);
    Ok(())
}

/// Calls every registered routine (`PspCallProcessNotifyRoutines`).
pub fn call_process_notify_routines(parent_id: u64, process_id: u64, create: bool) {
    let routines = ROUTINES.lock().clone();
    for routine in routines {
        routine(parent_id, process_id, create);
    }
}

/// The kernel's own routine: counts creations and exits.
fn count_processes(_parent_id: u64, _process_id: u64, create: bool) {
    let counter = if create { &CREATED } else { &EXITED };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Registers the kernel's counting routine (at `PspInitPhase0`).
pub fn init() {
    set_create_process_notify_routine(count_processes).expect("the first notify routine fits");
}

/// What the counting routine counted.
pub fn notify_counters() -> SystemProcessNotifyCounters {
    SystemProcessNotifyCounters {
        created: CREATED.load(Ordering::Relaxed),
        exited: EXITED.load(Ordering::Relaxed),
    }
}
