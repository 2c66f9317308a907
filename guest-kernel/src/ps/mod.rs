//! The process manager: the first process and its thread, created in NT's order, and
//! their termination.
//!
//! Processes and threads are plain structures until the object manager arrives; the steps
//! of `PspCreateProcess` and `PspCreateThread` keep their NT names and order so objects,
//! handles and the CID table slot in where the comments say.

mod environment;

use alloc::boxed::Box;
use alloc::string::String;

use abi::NtStatus;
use abi::hypercall::{BootMarker, ShutdownKind};
use abi::layout::PAGE_SIZE;
use spin::Mutex;

use crate::arch::paging::UserAccess;
use crate::arch::user::UserContext;
use crate::mm::{AddressSpace, image};
use crate::{arch, hal, io, ke};

/// Top of the initial thread's user stack; the stack grows down from here.
const USER_STACK_TOP: u64 = 0x0000_7FFD_0000_0000;
const MIN_STACK_RESERVE: u64 = 64 * 1024;
const MAX_STACK_RESERVE: u64 = 16 * 1024 * 1024;
/// Room above the initial `rsp` for the entry point's home space, as a call would leave.
const INITIAL_STACK_FRAME: u64 = 0x30 + 8;
const KERNEL_STACK_SIZE: usize = 16 * 1024;

/// EPROCESS, as far as the kernel has one.
#[derive(Debug)]
pub struct Process {
    pub address_space: AddressSpace,
    /// The image file name, as `EPROCESS.ImageFileName` ("hello.exe").
    pub image_file_name: String,
}

/// ETHREAD, as far as the kernel has one: a kernel stack and where user mode starts.
#[derive(Debug)]
pub struct Thread {
    kernel_stack: Box<KernelStack>,
    user_context: UserContext,
}

#[repr(C, align(16))]
struct KernelStack([u8; KERNEL_STACK_SIZE]);

impl core::fmt::Debug for KernelStack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KernelStack({:p})", self.0.as_ptr())
    }
}

/// The process running on the processor (one, until the dispatcher arrives).
static CURRENT_PROCESS: Mutex<Option<Process>> = Mutex::new(None);

/// Process and thread IDs of the first process, until the CID table hands them out.
const INITIAL_PROCESS_ID: u64 = 8;
const INITIAL_THREAD_ID: u64 = 12;

/// Creates the first user process from `command_line` ("PROGRAM ARGS..."): the process
/// (`PspCreateProcess`), then its first thread (`PspCreateThread`), not yet running.
pub fn create_initial_process(command_line: &str) -> Result<Thread, NtStatus> {
    let program = environment::program_name(command_line);
    let (path, file) =
        io::boot_image::find_program(program).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
    let image_file_name = String::from(path.rsplit('/').next().unwrap_or(&path));

    // PspCreateProcess: the address space (a PML4 sharing the kernel half), the image
    // mapped into it, the PEB with its process parameters.
    let mut address_space = AddressSpace::new()?;
    let image = image::map_image(&mut address_space, file)?;
    let image_path = alloc::format!("\\SystemRoot\\{}", path.replace('/', "\\"));
    let peb = environment::create_peb(&mut address_space, image.base, &image_path, command_line)?;

    // PspCreateThread: the TEB (with the client ID), the user stack, the kernel stack and the
    // initial context that enters the image with the PEB as its argument.
    let stack_reserve = image
        .stack_reserve
        .clamp(MIN_STACK_RESERVE, MAX_STACK_RESERVE)
        .next_multiple_of(PAGE_SIZE);
    let stack_commit = image
        .stack_commit
        .clamp(PAGE_SIZE, stack_reserve)
        .next_multiple_of(PAGE_SIZE);
    let stack_limit = USER_STACK_TOP - stack_reserve;
    let read_write = UserAccess {
        write: true,
        execute: false,
    };
    address_space.reserve_demand_zero(stack_limit, stack_reserve - stack_commit, read_write)?;
    address_space.commit(USER_STACK_TOP - stack_commit, stack_commit, read_write)?;
    let client_id = abi::nt::ClientId {
        unique_process: INITIAL_PROCESS_ID,
        unique_thread: INITIAL_THREAD_ID,
    };
    let teb = environment::create_teb(
        &mut address_space,
        peb,
        client_id,
        USER_STACK_TOP,
        stack_limit,
    )?;
    let kernel_stack = Box::new(KernelStack([0; KERNEL_STACK_SIZE]));
    let user_context = UserContext {
        entry: image.entry_point,
        stack: USER_STACK_TOP - INITIAL_STACK_FRAME,
        argument: peb,
        teb,
    };

    *CURRENT_PROCESS.lock() = Some(Process {
        address_space,
        image_file_name,
    });
    Ok(Thread {
        kernel_stack,
        user_context,
    })
}

/// Runs the first thread: its address space becomes current, the clock starts, and the
/// processor drops to user mode at the image's entry point.
pub fn start_initial_thread(thread: Thread) -> ! {
    let root = CURRENT_PROCESS
        .lock()
        .as_ref()
        .map(|p| p.address_space.root());
    arch::paging::switch_address_space(root.expect("the initial process exists"));
    let kernel_stack_top = thread.kernel_stack.0.as_ptr_range().end as u64;
    // The thread runs until the system shuts down; its kernel stack lives as long.
    Box::leak(thread.kernel_stack);
    ke::clock::start();
    hal::boot_progress(BootMarker::UserModeEntered);
    arch::user::enter_user_mode(thread.user_context, kernel_stack_top)
}

/// Resolves a user-address page fault in the current process (demand-zero pages).
pub fn resolve_user_fault(address: u64) -> bool {
    CURRENT_PROCESS
        .lock()
        .as_mut()
        .is_some_and(|process| process.address_space.resolve_fault(address))
}

/// The current process's image file name, for messages.
pub fn current_image_name() -> String {
    CURRENT_PROCESS
        .lock()
        .as_ref()
        .map_or_else(|| String::from("System"), |p| p.image_file_name.clone())
}

/// Ends the current process with `status`. The first process is the session: when it ends,
/// the system shuts down with its exit status.
pub fn terminate_current_process(status: NtStatus) -> ! {
    system_shutdown(status)
}

/// Shuts the system down, reporting `status` as the exit status of the session.
pub fn system_shutdown(status: NtStatus) -> ! {
    hal::shutdown(ShutdownKind::Exit, status.0, [0; 4])
}
