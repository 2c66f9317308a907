//! The process manager: process and thread objects (EPROCESS, ETHREAD), the CID table that
//! names them, processes and their threads created in NT's order (the first process, the
//! session, and children of any process), `PsActiveProcessHead`, the process-notify
//! routines, and termination with the process rundown.

mod cid;
mod create;
mod environment;
mod notify;
mod stack;
mod system;
mod system_dll;
mod thread;

pub use create::{active_processes, create_first_thread, create_process, ready_thread};
pub use environment::Parameters;
pub use notify::notify_counters;
pub use system::{create_system_process, is_system_process};
pub use system_dll::init as init_system_dll;

pub use thread::{
    CallerStart, ThreadStart, create_thread, create_thread_on_stack, exit_current_thread,
    system_shutdown, terminate_current_process, terminate_process, terminate_thread,
    user_thread_startup,
};

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::access::{
    PROCESS_ALL_ACCESS, PROCESS_GENERIC_MAPPING, THREAD_ALL_ACCESS, THREAD_GENERIC_MAPPING,
};
use abi::hypercall::BootMarker;
use abi::nt::ClientId;
use spin::Mutex;

use self::cid::CidTable;
use crate::arch::user::UserContext;
use crate::ke::dispatcher::{DispatcherHeader, DispatcherObject};
use crate::ke::thread::{KProcess, KThread};
use crate::mm::section::Section;
use crate::mm::{self, AddressSpace};
use crate::ob::{self, Object, ObjectBody, ObjectTable, ObjectType};
use crate::{hal, io, ke};
use thread::UserEntry;

/// The program the kernel starts first when the boot image has it.
const SESSION_MANAGER: &str = "smss";
/// Top of the initial thread's user stack; the stack grows down from here.
const USER_STACK_TOP: u64 = 0x0000_7FFD_0000_0000;
const MIN_STACK_RESERVE: u64 = 64 * 1024;
const MAX_STACK_RESERVE: u64 = 16 * 1024 * 1024;
/// Room above the initial `rsp` for the entry point's home space, as a call would leave.
const INITIAL_STACK_FRAME: u64 = 0x30 + 8;

/// The process object type (`PsProcessType`).
pub static PROCESS_TYPE: ObjectType =
    ObjectType::new("Process", PROCESS_GENERIC_MAPPING, PROCESS_ALL_ACCESS);
/// The thread object type (`PsThreadType`).
pub static THREAD_TYPE: ObjectType =
    ObjectType::new("Thread", THREAD_GENERIC_MAPPING, THREAD_ALL_ACCESS);

/// What a client ID names. Entries keep no reference: an object's delete procedure frees
/// its ID.
#[derive(Clone, Debug)]
enum CidEntry {
    Process(Weak<Object<Process>>),
    Thread(Weak<Object<Thread>>),
}

/// Process and thread IDs (`PspCidTable`).
static PSP_CID_TABLE: CidTable<CidEntry> = CidTable::new();

/// EPROCESS, as far as the kernel has one.
#[derive(Debug)]
pub struct Process {
    /// `Pcb`: the scheduling part and the dispatcher header.
    pub pcb: KProcess,
    /// `UniqueProcessId`, from the CID table; 0 until allocated. It stays readable after
    /// rundown frees the ID.
    unique_process_id: AtomicU64,
    /// Whether the process ID is still in the CID table and the process in
    /// `PsActiveProcessHead`: both go at rundown, or on the last dereference of a process
    /// that never ran.
    active: AtomicBool,
    /// `InheritedFromUniqueProcessId`: the parent's process ID (0 for the first process).
    inherited_from_unique_process_id: u64,
    /// `CreateTime`, in 100 ns units since the processor started.
    create_time: AtomicU64,
    /// The first process, the session: when it ends the system shuts down.
    session: bool,
    /// `Peb`: the PEB's user address.
    peb: AtomicU64,
    /// `ThreadListHead`: the threads that have not exited. Each holds a reference to the
    /// process; the list's references to them go when they exit.
    threads: Mutex<Vec<Arc<Object<Thread>>>>,
    /// `ProcessDelete`: set, under the thread list's lock, when the process is
    /// terminated; no thread joins it afterwards, or one created on another processor
    /// while it was terminated would keep it alive.
    terminating: AtomicBool,
    /// `ExitStatus`: STATUS_PENDING until the process is terminated or its last thread exits.
    exit_status: AtomicU32,
    /// The address space; `None` once rundown tore it down.
    address_space: Mutex<Option<AddressSpace>>,
    /// `SectionObject`: the image section the process runs, referenced until rundown, so
    /// that the image's control area, and the pages every process of the image shares,
    /// stay while a process of it runs.
    section_object: Mutex<Option<Arc<Object<Section>>>>,
    /// The image file name, as `EPROCESS.ImageFileName` ("hello.exe").
    pub image_file_name: String,
    /// The handle table (`ObjectTable`).
    pub object_table: ObjectTable,
}

impl Process {
    /// `UniqueProcessId`.
    pub fn unique_process_id(&self) -> u64 {
        self.unique_process_id.load(Ordering::Relaxed)
    }

    /// `InheritedFromUniqueProcessId`.
    pub fn inherited_from_unique_process_id(&self) -> u64 {
        self.inherited_from_unique_process_id
    }

    /// `CreateTime`, 100 ns units.
    pub fn create_time(&self) -> u64 {
        self.create_time.load(Ordering::Relaxed)
    }

    /// `Peb`: the PEB's user address.
    pub fn peb(&self) -> u64 {
        self.peb.load(Ordering::Relaxed)
    }

    /// `ExitStatus`: STATUS_PENDING while the process has not ended.
    pub fn exit_status(&self) -> NtStatus {
        NtStatus(self.exit_status.load(Ordering::Relaxed))
    }

    /// The threads that have not exited.
    pub fn threads(&self) -> Vec<Arc<Object<Thread>>> {
        self.threads.lock().clone()
    }

    /// How many threads `ThreadListHead` links (`ActiveThreads`).
    pub fn thread_count(&self) -> usize {
        self.threads.lock().len()
    }

    /// Links a new thread into `ThreadListHead`, returning whether it is the first:
    /// STATUS_PROCESS_IS_TERMINATING once the process is terminated or its last thread
    /// exited.
    pub fn insert_thread(&self, thread: &Arc<Object<Thread>>) -> Result<bool, NtStatus> {
        let mut threads = self.threads.lock();
        if self.terminating.load(Ordering::Relaxed) {
            return Err(NtStatus::PROCESS_IS_TERMINATING);
        }
        threads.push(thread.clone());
        Ok(threads.len() == 1)
    }

    /// Unlinks `thread` from `ThreadListHead`, returning whether it was the last: the
    /// process then runs down, and no thread joins it any more.
    pub fn remove_thread(&self, thread: &Arc<Object<Thread>>) -> bool {
        let mut threads = self.threads.lock();
        threads.retain(|other| !Arc::ptr_eq(other, thread));
        let last = threads.is_empty();
        if last {
            self.terminating.store(true, Ordering::Relaxed);
        }
        last
    }

    /// Marks the process terminated (`ProcessDelete`) and returns its threads, every one
    /// it will ever have.
    fn begin_termination(&self) -> Vec<Arc<Object<Thread>>> {
        let threads = self.threads.lock();
        self.terminating.store(true, Ordering::Relaxed);
        threads.clone()
    }

    /// The process's address space, locked (`KeStackAttachProcess` and the working set
    /// lock, in one): STATUS_PROCESS_IS_TERMINATING once rundown tore it down.
    pub fn address_space(&self) -> Result<AddressSpaceGuard<'_>, NtStatus> {
        let guard = self.address_space.lock();
        if guard.is_none() {
            return Err(NtStatus::PROCESS_IS_TERMINATING);
        }
        Ok(AddressSpaceGuard(guard))
    }

    /// Takes the process's ID out of the CID table and the process off
    /// `PsActiveProcessHead`, once.
    fn deactivate(&self) {
        if self.active.swap(false, Ordering::Relaxed) {
            let id = self.unique_process_id();
            create::remove_active_process(id);
            PSP_CID_TABLE.free(id);
        }
    }
}

/// A process's address space, locked; see [`Process::address_space`].
pub struct AddressSpaceGuard<'a>(spin::MutexGuard<'a, Option<AddressSpace>>);

impl core::ops::Deref for AddressSpaceGuard<'_> {
    type Target = AddressSpace;

    fn deref(&self) -> &AddressSpace {
        self.0.as_ref().expect("checked when locked")
    }
}

impl core::ops::DerefMut for AddressSpaceGuard<'_> {
    fn deref_mut(&mut self) -> &mut AddressSpace {
        self.0.as_mut().expect("checked when locked")
    }
}

impl ObjectBody for Process {
    fn object_type() -> &'static ObjectType {
        &PROCESS_TYPE
    }
}

impl DispatcherObject for Process {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.pcb.header
    }
}

impl Drop for Process {
    /// `PspProcessDelete`, on the last dereference: a process that never ran down gives
    /// its ID back and leaves the active list; the handle table and the address space go
    /// with the fields.
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// ETHREAD, as far as the kernel has one: the KTHREAD, its IDs, its process, its TEB and
/// user stack, and where user mode starts.
#[derive(Debug)]
pub struct Thread {
    /// `Tcb`: scheduling state, kernel stack and saved context, dispatcher header.
    pub tcb: KThread,
    /// `Cid.UniqueThread`, from the CID table; 0 until allocated.
    unique_thread_id: AtomicU64,
    /// The owning process; a thread holds a pointer reference to it.
    process: Arc<Object<Process>>,
    /// `Teb`: the TEB's user address; 0 until created.
    teb: AtomicU64,
    /// Base of the user stack's allocation, released when the thread exits; 0 for none.
    user_stack: AtomicU64,
    /// The user context the thread starts in, and how it gets there, until it first runs.
    initial_context: Mutex<Option<(UserContext, UserEntry)>>,
    /// What a system thread runs in kernel mode instead, until it first runs.
    system_routine: Mutex<Option<fn() -> !>>,
    /// `ExitStatus`: STATUS_PENDING until the thread exits.
    exit_status: AtomicU32,
}

impl Thread {
    /// `Cid`: the process and thread IDs.
    pub fn client_id(&self) -> ClientId {
        ClientId {
            unique_process: self.process.unique_process_id(),
            unique_thread: self.unique_thread_id.load(Ordering::Relaxed),
        }
    }

    pub fn process(&self) -> &Arc<Object<Process>> {
        &self.process
    }

    /// `Teb`.
    pub fn teb(&self) -> u64 {
        self.teb.load(Ordering::Relaxed)
    }

    /// `ExitStatus`: STATUS_PENDING while the thread has not exited.
    pub fn exit_status(&self) -> NtStatus {
        NtStatus(self.exit_status.load(Ordering::Relaxed))
    }
}

impl ObjectBody for Thread {
    fn object_type() -> &'static ObjectType {
        &THREAD_TYPE
    }
}

impl DispatcherObject for Thread {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.tcb.header
    }
}

impl Drop for Thread {
    /// `PspThreadDelete`: the thread ID goes back to the CID table; the kernel stack and the
    /// reference to the process go with the fields.
    fn drop(&mut self) {
        let id = *self.unique_thread_id.get_mut();
        if id != 0 {
            PSP_CID_TABLE.free(id);
        }
    }
}

/// Registers the process and thread object types and the kernel's process-notify routine
/// (`PspInitPhase0`).
pub fn init() {
    ob::create_object_type(&PROCESS_TYPE);
    ob::create_object_type(&THREAD_TYPE);
    notify::init();
}

/// The thread running on this processor (`PsGetCurrentThread`). Only services and
/// exceptions from user mode ask, so there is one.
pub fn current_thread() -> Arc<Object<Thread>> {
    ke::dispatcher::current_thread().expect("a thread is running")
}

/// Threads of `process` that have not exited (`ActiveThreads`).
pub fn thread_count(process: &Process) -> usize {
    process.threads.lock().len()
}

/// The process of the running thread (`PsGetCurrentProcess`).
pub fn current_process() -> Arc<Object<Process>> {
    current_thread().process.clone()
}

/// The process with ID `id` (`PsLookupProcessByProcessId`), or STATUS_INVALID_CID.
pub fn lookup_process_by_id(id: u64) -> Result<Arc<Object<Process>>, NtStatus> {
    match PSP_CID_TABLE.lookup(id) {
        Some(CidEntry::Process(process)) => process.upgrade().ok_or(NtStatus::INVALID_CID),
        _ => Err(NtStatus::INVALID_CID),
    }
}

/// The thread `client_id` names (`PsLookupProcessThreadByCid`): its thread ID must name a
/// thread, and its process ID, unless 0, that thread's process. STATUS_INVALID_CID otherwise.
pub fn lookup_thread_by_client_id(client_id: ClientId) -> Result<Arc<Object<Thread>>, NtStatus> {
    let thread = match PSP_CID_TABLE.lookup(client_id.unique_thread) {
        Some(CidEntry::Thread(thread)) => thread.upgrade().ok_or(NtStatus::INVALID_CID)?,
        _ => return Err(NtStatus::INVALID_CID),
    };
    let process_id = thread.process.unique_process_id();
    if client_id.unique_process != 0 && client_id.unique_process != process_id {
        return Err(NtStatus::INVALID_CID);
    }
    Ok(thread)
}

/// Creates the first user process, the session, whose exit shuts the system down: the
/// session manager (`smss.exe`) with `command_line` ("PROGRAM ARGS...") after its own
/// name, which runs that program and ends with its status; or, in a boot image without
/// it, the program itself. The process (`PspCreateProcess`, a child of the System process),
/// then its first thread (`PspCreateThread`), not yet running.
pub fn create_initial_process(command_line: &str) -> Result<Arc<Object<Thread>>, NtStatus> {
    let session_manager_command_line;
    let command_line = if io::file::open_image(SESSION_MANAGER).is_ok() {
        session_manager_command_line = alloc::format!("{SESSION_MANAGER}.exe {command_line}");
        session_manager_command_line.as_str()
    } else {
        command_line
    };
    let program = environment::program_name(command_line);
    let file = io::file::open_image(program)?;
    let section = Object::create(Section::create_image(&file)?);
    let image_path = file.nt_path();
    let parameters = Some(Parameters {
        image_path: &image_path,
        command_line,
        environment: &[],
    });
    let (process, image) =
        create::create_process(system::system_process(), &section, parameters, false)?;
    create::create_first_thread(&process, &image, false)
}

/// Runs the first thread: the clock starts, the thread is readied and the boot processor
/// becomes the dispatcher's idle thread, which switches to it; it drops to user mode at
/// the image's entry point on its own kernel stack.
pub fn start_initial_thread(thread: Arc<Object<Thread>>) -> ! {
    ke::clock::start();
    hal::boot_progress(BootMarker::UserModeEntered);
    ke::dispatcher::start(thread)
}

/// Resolves a page fault on user `address` in the current process (MmAccessFault with
/// the current process's address space); `write` and `execute` say what the access was.
pub fn resolve_user_fault(address: u64, write: bool, execute: bool) -> Result<(), NtStatus> {
    let thread = ke::dispatcher::current_thread().ok_or(NtStatus::ACCESS_VIOLATION)?;
    let mut address_space = thread.process.address_space()?;
    match mm::access_fault(&mut address_space, address, write, execute) {
        Err(NtStatus::GUARD_PAGE_VIOLATION) => {
            stack::grow_user_stack(&thread, &mut address_space, address)
        }
        resolved => resolved,
    }
}

/// The current process's image file name, for messages.
pub fn current_image_name() -> String {
    ke::dispatcher::current_thread().map_or_else(
        || String::from("System"),
        |thread| thread.process.image_file_name.clone(),
    )
}
