//! The System process (`PsInitialSystemProcess`, PID 4): the process the kernel's own
//! threads belong to. It has the kernel's boot page tables and no user address space,
//! image, PEB or parameters, it is the parent of the first user process, and it never
//! ends. Its threads (`PsCreateSystemThread`) run kernel routines and never enter user
//! mode; here, the zero page thread.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use abi::NtStatus;
use spin::{Mutex, Once};

use super::{Process, Thread, create};
use crate::ke::thread::KProcess;
use crate::mm;
use crate::ob::{Object, ObjectTable};

/// The zero page thread's priority: 0, below every other thread, as in NT.
const ZERO_PAGE_THREAD_PRIORITY: u8 = 0;

static SYSTEM_PROCESS: Once<Arc<Object<Process>>> = Once::new();

/// The System process, once phase 1 created it.
pub fn system_process() -> Option<&'static Arc<Object<Process>>> {
    SYSTEM_PROCESS.get()
}

/// Whether `process` is the System process, whose threads no program may end or suspend.
pub fn is_system_process(process: &Process) -> bool {
    system_process().is_some_and(|system| core::ptr::eq(&***system, process))
}

/// Creates the System process, the first entry of the CID table (PID 4) and of
/// `PsActiveProcessHead`, and starts its threads (PspInitPhase1 with
/// `PsCreateSystemThread`).
pub fn create_system_process() -> Result<(), NtStatus> {
    let process = Object::create(Process {
        pcb: KProcess::new(mm::system_root()),
        unique_process_id: AtomicU64::new(0),
        active: AtomicBool::new(false),
        inherited_from_unique_process_id: 0,
        create_time: AtomicU64::new(0),
        session: false,
        peb: AtomicU64::new(0),
        threads: Mutex::new(Vec::new()),
        terminating: AtomicBool::new(false),
        exit_status: AtomicU32::new(NtStatus::PENDING.0),
        address_space: Mutex::new(None),
        section_object: Mutex::new(None),
        image_file_name: String::from("System"),
        object_table: ObjectTable::new(),
    });
    create::allocate_process_id(&process)?;
    create::insert_active_process(&process)?;
    SYSTEM_PROCESS.call_once(|| process.clone());
    create_system_thread(&process, mm::zero_page_thread, ZERO_PAGE_THREAD_PRIORITY)
}

/// `PsCreateSystemThread`: a thread of the System process that runs `routine` in kernel
/// mode at `priority`, readied at once.
fn create_system_thread(
    process: &Arc<Object<Process>>,
    routine: fn() -> !,
    priority: u8,
) -> Result<(), NtStatus> {
    let thread = Thread::create(process, false)?;
    {
        let mut scheduling = thread.tcb.scheduling();
        scheduling.priority = priority;
        scheduling.base_priority = priority;
    }
    *thread.system_routine.lock() = Some(routine);
    process.insert_thread(&thread)?;
    create::ready_thread(thread);
    Ok(())
}
