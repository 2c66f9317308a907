//! The process manager: process and thread objects (EPROCESS, ETHREAD), the CID table that
//! names them, the first process and its thread created in NT's order, and termination.

mod cid;
mod environment;
mod thread;

pub use thread::{
    ThreadStart, create_thread, exit_current_thread, system_shutdown, terminate_current_process,
    terminate_process, terminate_thread, user_thread_startup,
};

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::NtStatus;
use abi::access::{
    PROCESS_ALL_ACCESS, PROCESS_GENERIC_MAPPING, THREAD_ALL_ACCESS, THREAD_GENERIC_MAPPING,
};
use abi::hypercall::BootMarker;
use abi::layout::PAGE_SIZE;
use abi::memory::PAGE_READWRITE;
use abi::nt::ClientId;
use spin::Mutex;

use self::cid::CidTable;
use crate::arch::user::UserContext;
use crate::ke::dispatcher::{DispatcherHeader, DispatcherObject};
use crate::ke::thread::{KProcess, KThread};
use crate::mm::{self, AddressSpace, image};
use crate::ob::{self, Object, ObjectBody, ObjectTable, ObjectType};
use crate::{hal, io, ke};

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
    /// `UniqueProcessId`, from the CID table; 0 until allocated.
    unique_process_id: AtomicU64,
    /// `Peb`: the PEB's user address.
    peb: AtomicU64,
    /// `ThreadListHead`: the threads that have not exited. Each holds a reference to the
    /// process; the list's references to them go when they exit.
    threads: Mutex<Vec<Arc<Object<Thread>>>>,
    /// `ExitStatus`: STATUS_PENDING until the process is terminated or its last thread exits.
    exit_status: AtomicU32,
    pub address_space: Mutex<AddressSpace>,
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
    /// `PspProcessDelete`, on the last dereference: the process ID goes back to the CID
    /// table; the handle table and the address space go with the fields.
    fn drop(&mut self) {
        let id = *self.unique_process_id.get_mut();
        if id != 0 {
            PSP_CID_TABLE.free(id);
        }
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
    /// The user context the thread starts in, until it first runs.
    initial_context: Mutex<Option<UserContext>>,
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

/// Registers the process and thread object types (`PspInitPhase0`).
pub fn init() {
    ob::create_object_type(&PROCESS_TYPE);
    ob::create_object_type(&THREAD_TYPE);
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

/// Creates the first user process from `command_line` ("PROGRAM ARGS..."): the process
/// (`PspCreateProcess`), then its first thread (`PspCreateThread`), not yet running.
pub fn create_initial_process(command_line: &str) -> Result<Arc<Object<Thread>>, NtStatus> {
    let program = environment::program_name(command_line);
    let (path, file) =
        io::boot_image::find_program(program).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
    let image_file_name = String::from(path.rsplit('/').next().unwrap_or(&path));

    // PspCreateProcess: the process object with its address space (a PML4 sharing the
    // kernel half) and its handle table (empty: the first process has no parent to inherit
    // from); the image mapped; the process ID from the CID table; the PEB with its process
    // parameters.
    let address_space = AddressSpace::new()?;
    let process = Object::create(Process {
        pcb: KProcess::new(address_space.root()),
        unique_process_id: AtomicU64::new(0),
        peb: AtomicU64::new(0),
        threads: Mutex::new(Vec::new()),
        exit_status: AtomicU32::new(NtStatus::PENDING.0),
        address_space: Mutex::new(address_space),
        image_file_name,
        object_table: ObjectTable::new(),
    });
    let mut address_space = process.address_space.lock();
    let image = image::map_image(&mut address_space, file)?;
    let process_id = PSP_CID_TABLE.allocate(CidEntry::Process(Arc::downgrade(&process)))?;
    process
        .unique_process_id
        .store(process_id, Ordering::Relaxed);
    let image_path = alloc::format!("\\SystemRoot\\{}", path.replace('/', "\\"));
    let peb = environment::create_peb(&mut address_space, image.base, &image_path, command_line)?;
    process.peb.store(peb, Ordering::Relaxed);

    // PspCreateThread: the thread object with its kernel stack; the thread ID; the TEB
    // (with the client ID), the user stack and the initial context that enters the image
    // with the PEB as its argument; linked to the process.
    let thread = Object::create(Thread::new(&process, false));
    let thread_id = PSP_CID_TABLE.allocate(CidEntry::Thread(Arc::downgrade(&thread)))?;
    thread.unique_thread_id.store(thread_id, Ordering::Relaxed);
    let stack_reserve = image
        .stack_reserve
        .clamp(MIN_STACK_RESERVE, MAX_STACK_RESERVE)
        .next_multiple_of(PAGE_SIZE);
    let stack_commit = image
        .stack_commit
        .clamp(PAGE_SIZE, stack_reserve)
        .next_multiple_of(PAGE_SIZE);
    let stack_limit = USER_STACK_TOP - stack_reserve;
    // The whole reserve is committed, each page zero-filled on first touch: the stack
    // grows without a guard page until guard-page growth (MiCheckForUserStackOverflow)
    // arrives. The image's initial commit gets its frames now.
    address_space.allocate(stack_limit, stack_reserve, PAGE_READWRITE)?;
    address_space.make_resident(USER_STACK_TOP - stack_commit, stack_commit)?;
    let teb = environment::create_teb(
        &mut address_space,
        peb,
        thread.client_id(),
        USER_STACK_TOP,
        stack_limit,
    )?;
    drop(address_space);
    thread.teb.store(teb, Ordering::Relaxed);
    thread.user_stack.store(stack_limit, Ordering::Relaxed);
    *thread.initial_context.lock() = Some(UserContext {
        entry: image.entry_point,
        stack: USER_STACK_TOP - INITIAL_STACK_FRAME,
        argument: peb,
        teb,
    });
    process.threads.lock().push(thread.clone());
    Ok(thread)
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
    let mut address_space = thread.process.address_space.lock();
    mm::access_fault(&mut address_space, address, write, execute)
}

/// The current process's image file name, for messages.
pub fn current_image_name() -> String {
    ke::dispatcher::current_thread().map_or_else(
        || String::from("System"),
        |thread| thread.process.image_file_name.clone(),
    )
}
