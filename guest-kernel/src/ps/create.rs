//! Process creation the way NT does it: `PspCreateProcess` from an image section for the
//! first process, NtCreateUserProcess and NtCreateProcessEx (any parent),
//! `PspCreateThread` for a process's first thread, and `PsActiveProcessHead`, the list of
//! processes that have not run down.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{MEM_RESERVE, PAGE_EXECUTE_WRITECOPY, PAGE_READWRITE};
use spin::Mutex;

use super::environment::Parameters;
use super::thread::UserEntry;
use super::{
    CidEntry, INITIAL_STACK_FRAME, MAX_STACK_RESERVE, MIN_STACK_RESERVE, PSP_CID_TABLE, Process,
    Thread, USER_STACK_TOP, environment, notify, stack, system, system_dll,
};
use crate::arch::user::UserContext;
use crate::ke;
use crate::ke::thread::KProcess;
use crate::mm::AddressSpace;
use crate::mm::section::{Section, ViewRequest};
use crate::ob::{Object, ObjectTable};

/// `PsActiveProcessHead`: every process between the allocation of its ID and its rundown,
/// by process ID, in creation order. Entries keep no reference.
static PS_ACTIVE_PROCESS_HEAD: Mutex<Vec<(u64, Weak<Object<Process>>)>> = Mutex::new(Vec::new());

/// The processes on `PsActiveProcessHead` that are still alive, in creation order.
pub fn active_processes() -> Vec<Arc<Object<Process>>> {
    PS_ACTIVE_PROCESS_HEAD
        .lock()
        .iter()
        .filter_map(|(_, process)| process.upgrade())
        .collect()
}

/// Takes the process with ID `id` off `PsActiveProcessHead`.
pub(super) fn remove_active_process(id: u64) {
    let removed = {
        let mut list = PS_ACTIVE_PROCESS_HEAD.lock();
        let removed = list
            .iter()
            .position(|(entry, _)| *entry == id)
            .map(|index| list.remove(index));
        // Give storage back after a burst of processes, so the pool returns to where it was.
        let len = list.len();
        if list.capacity() > 4 * len.max(4) {
            list.shrink_to(2 * len);
        }
        removed
    };
    // The weak reference goes after the lock is released.
    drop(removed);
}

/// The system time in 100 ns units (`KeQuerySystemTime`), from the TSC.
fn system_time() -> u64 {
    let units = u128::from(ke::clock::now()) * 10_000 / u128::from(ke::clock::tsc_khz());
    u64::try_from(units).unwrap_or(u64::MAX)
}

/// What process creation needs to know about the mapped image.
#[derive(Clone, Copy, Debug)]
pub struct ImageView {
    pub base: u64,
    /// The image's entry point, where the first thread's initial context starts (through
    /// ntdll's loader when ntdll is mapped).
    pub entry_point: u64,
    pub stack_reserve: u64,
    pub stack_commit: u64,
}

/// `PspCreateProcess`: a process whose image is `section` (an image section), child of
/// `parent` (None, or the System process: the first user process, the session). With `parameters` (ImagePathName,
/// CommandLine and the environment), the process parameters are built and the PEB points at them, as
/// NtCreateUserProcess does; without, PEB.ProcessParameters stays NULL for the creator to
/// fill in, as after NtCreateProcessEx. Returns the process and its image view, for the
/// first thread. The steps, in NT's order: the object; what it inherits from the parent
/// (priority class, handles when `inherit_handles`); the section referenced (held until
/// rundown as `SectionObject`); the address
/// space; the KPROCESS; the image mapped; the process ID from the CID table; the PEB;
/// `PsActiveProcessHead`; CreateTime. The caller inserts the handle.
pub fn create_process(
    parent: Option<&Arc<Object<Process>>>,
    section: &Arc<Object<Section>>,
    parameters: Option<Parameters<'_>>,
    inherit_handles: bool,
) -> Result<(Arc<Object<Process>>, ImageView), NtStatus> {
    // The section referenced: it must be an image's.
    let (Some(information), Some((file_name, _))) =
        (section.image_information(), section.image_file())
    else {
        return Err(NtStatus::SECTION_NOT_IMAGE);
    };
    let image_file_name = String::from(file_name);

    // Inherit from the parent: the priority class, and the inheritable handles when asked
    // (ObInitProcess with ExDupHandleTable); otherwise a new empty handle table.
    let object_table = match parent {
        Some(parent) if inherit_handles => parent.object_table.duplicate_inheritable()?,
        _ => ObjectTable::new(),
    };
    // MmCreateProcessAddressSpace: a PML4 sharing the kernel half.
    let address_space = AddressSpace::new()?;
    // KeInitializeProcess: the scheduling fields, the base priority and the affinity from
    // the parent.
    let mut pcb = KProcess::new(address_space.root());
    if let Some(parent) = parent {
        pcb.base_priority = parent.pcb.base_priority;
        pcb.set_affinity(parent.pcb.affinity());
    }
    // The process object (ObCreateObject), with its empty thread list.
    let process = Object::create(Process {
        pcb,
        unique_process_id: AtomicU64::new(0),
        active: AtomicBool::new(false),
        inherited_from_unique_process_id: parent.map_or(0, |parent| parent.unique_process_id()),
        create_time: AtomicU64::new(0),
        session: parent.is_none_or(|parent| system::is_system_process(parent)),
        peb: AtomicU64::new(0),
        threads: Mutex::new(Vec::new()),
        terminating: AtomicBool::new(false),
        exit_status: AtomicU32::new(NtStatus::PENDING.0),
        address_space: Mutex::new(Some(address_space)),
        section_object: Mutex::new(Some(section.clone())),
        image_file_name,
        object_table,
    });
    let mut space = process.address_space()?;
    // MmInitializeProcessAddressSpace: a view of the image section.
    let view = section.map_view(
        &mut space,
        ViewRequest {
            base: None,
            top_down: false,
            offset: 0,
            size: 0,
            protect: PAGE_EXECUTE_WRITECOPY,
        },
    )?;
    // PspMapSystemDll: ntdll after the executable, whose loader every thread starts in.
    system_dll::map_system_dll(&mut space, &process.pcb)?;
    let image = ImageView {
        base: view.base,
        entry_point: view.entry_point,
        stack_reserve: information.maximum_stack_size,
        stack_commit: information.committed_stack_size,
    };
    allocate_process_id(&process)?;
    // MmCreatePeb, with the process parameters when the creator gave them.
    let peb = environment::create_peb(&mut space, image.base, parameters)?;
    drop(space);
    process.peb.store(peb, Ordering::Relaxed);
    insert_active_process(&process)?;
    Ok((process, image))
}

/// The process ID from the CID table. The process is active from here: its rundown or
/// last dereference gives the ID back.
pub(super) fn allocate_process_id(process: &Arc<Object<Process>>) -> Result<(), NtStatus> {
    let process_id = PSP_CID_TABLE.allocate(CidEntry::Process(Arc::downgrade(process)))?;
    process
        .unique_process_id
        .store(process_id, Ordering::Relaxed);
    process.active.store(true, Ordering::Relaxed);
    Ok(())
}

/// `InsertTailList(&PsActiveProcessHead, ...)`, then `CreateTime`.
pub(super) fn insert_active_process(process: &Arc<Object<Process>>) -> Result<(), NtStatus> {
    {
        let mut list = PS_ACTIVE_PROCESS_HEAD.lock();
        list.try_reserve(1)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        list.push((process.unique_process_id(), Arc::downgrade(process)));
    }
    process.create_time.store(system_time(), Ordering::Relaxed);
    Ok(())
}

/// `PspCreateThread` for a process's first thread, not yet ready: the thread object with
/// its kernel stack (priority from the process); the thread ID; the user stack the image
/// asks for; the TEB with the client ID; the initial context entering the image with the
/// PEB in `rcx`; counted and linked to the process; the process-creation callbacks (on the
/// first thread, as NT runs them). Suspended if asked. [`ready_thread`] starts it.
pub fn create_first_thread(
    process: &Arc<Object<Process>>,
    image: &ImageView,
    suspended: bool,
) -> Result<Arc<Object<Thread>>, NtStatus> {
    let thread = Thread::create(process, suspended)?;
    let stack_reserve = image
        .stack_reserve
        .clamp(MIN_STACK_RESERVE, MAX_STACK_RESERVE)
        .next_multiple_of(PAGE_SIZE);
    let stack_commit = image
        .stack_commit
        .clamp(PAGE_SIZE, stack_reserve)
        .next_multiple_of(PAGE_SIZE);
    let deallocation = USER_STACK_TOP - stack_reserve;
    let peb = process.peb();
    let mut space = process.address_space()?;
    // The reserve the image asks for, its commit at the top and a guard page below.
    space.allocate_virtual_memory(deallocation, stack_reserve, 0, MEM_RESERVE, PAGE_READWRITE)?;
    thread.user_stack.store(deallocation, Ordering::Relaxed);
    let (stack_base, stack_limit) =
        stack::commit_user_stack(&mut space, deallocation, stack_reserve, stack_commit)?;
    let teb =
        environment::create_teb(&mut space, peb, thread.client_id(), stack_base, stack_limit)?;
    drop(space);
    thread.teb.store(teb, Ordering::Relaxed);
    *thread.initial_context.lock() = Some((
        UserContext {
            entry: image.entry_point,
            stack: USER_STACK_TOP - INITIAL_STACK_FRAME,
            argument: peb,
            teb,
        },
        UserEntry::ThreadStart,
    ));
    process.insert_thread(&thread)?;
    notify::call_process_notify_routines(
        process.inherited_from_unique_process_id(),
        process.unique_process_id(),
        true,
    );
    Ok(thread)
}

/// Readies a new thread (`KeReadyThread`); a suspended one stops before user mode.
pub fn ready_thread(thread: Arc<Object<Thread>>) {
    let mut db = ke::dispatcher::lock();
    ke::dispatcher::ready_thread(&mut db, thread);
}
