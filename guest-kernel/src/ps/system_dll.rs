//! The system DLL (`PspSystemDll`): ntdll.dll's image section, created once at boot, mapped
//! at its preferred base into every new user process right after the executable
//! (`PspMapSystemDll`), its `KiUserApcDispatcher` every such process's user APC
//! dispatcher, and where every new thread starts: the initial user APC of
//! PspUserThreadStartup ([`initial_loader_context`]), which that dispatcher runs, calls
//! ntdll's user-mode loader, `LdrInitializeThunk(Context)`. The loader initializes the
//! process (first thread) or the thread (DLL_THREAD_ATTACH); the dispatcher then continues
//! with NtContinue to `RtlUserThreadStart(StartAddress, Argument)`, which runs the thread's
//! routine and ends the thread with what it returns. A boot image without ntdll.dll runs
//! processes without it, entering the executable directly.
//!
//! ntdll is at the same address in every process (its preferred base; a process whose
//! executable covers that range cannot be created, STATUS_CONFLICTING_ADDRESSES), so
//! user mode finds its exports in any process at the addresses it has in its own.

use alloc::sync::Arc;

use abi::NtStatus;
use abi::dispatcher::{CONTEXT_CONTROL, CONTEXT_INTEGER, Context};
use abi::memory::{MM_LOWEST_USER_ADDRESS, PAGE_EXECUTE_WRITECOPY};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};
use spin::Once;

use super::thread::UserEntry;
use crate::arch::user::{UserContext, copy_to_user};
use crate::io;
use crate::ke::thread::KProcess;
use crate::kprintln;
use crate::mm::AddressSpace;
use crate::mm::section::{Section, ViewRequest};
use crate::ob::Object;

/// Where the boot image holds the system DLL.
const SYSTEM_DLL_PATH: &str = "\\SystemRoot\\System32\\ntdll.dll";
/// The routine of every thread's first user APC.
const LOADER_ENTRY: &[u8] = b"LdrInitializeThunk";
/// The user APC dispatcher of every process with the system DLL.
const USER_APC_DISPATCHER: &[u8] = b"KiUserApcDispatcher";
/// Where every thread's initial context enters user mode proper, with its start routine
/// and argument.
const USER_THREAD_START: &[u8] = b"RtlUserThreadStart";

/// The mapped-everywhere system DLL.
struct SystemDll {
    /// The image section every process's view comes from; held for the life of the system.
    section: Arc<Object<Section>>,
    /// Its preferred base, where every view goes.
    base: u64,
    /// The address of `LdrInitializeThunk` in every view.
    loader_entry: u64,
    /// The address of `KiUserApcDispatcher` in every view.
    user_apc_dispatcher: u64,
    /// The address of `RtlUserThreadStart` in every view.
    user_thread_start: u64,
}

/// `PspSystemDll`: set once by [`init`]; None when the boot image has no usable ntdll.dll.
static PSP_SYSTEM_DLL: Once<Option<SystemDll>> = Once::new();

/// `PspInitializeSystemDll`: the section of ntdll.dll and its loader entry point. A missing
/// file leaves processes without it; an unusable one is reported the same way.
pub fn init() {
    PSP_SYSTEM_DLL.call_once(|| match load() {
        Ok(dll) => Some(dll),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND) => None,
        Err(status) => {
            kprintln!("{SYSTEM_DLL_PATH}: {status}; processes start without it");
            None
        }
    });
}

/// Opens ntdll.dll, creates its image section (which validates it) and finds
/// `LdrInitializeThunk`, `KiUserApcDispatcher` and `RtlUserThreadStart` in its export
/// directory (STATUS_ENTRYPOINT_NOT_FOUND without them: `PspLookupSystemDllEntryPoint`).
fn load() -> Result<SystemDll, NtStatus> {
    let file = io::file::open(SYSTEM_DLL_PATH)?;
    let section = Object::create(Section::create_image(&file)?);
    let image = PeFile64::parse(file.data()).map_err(|_| NtStatus::INVALID_IMAGE_FORMAT)?;
    let base = image.nt_headers().optional_header().image_base();
    let exports = image
        .export_table()
        .map_err(|_| NtStatus::INVALID_IMAGE_FORMAT)?
        .ok_or(NtStatus::ENTRYPOINT_NOT_FOUND)?;
    let entry_point = |wanted: &[u8]| {
        exports
            .name_iter()
            .find(|(name, _)| exports.name_from_pointer(*name).ok() == Some(wanted))
            .and_then(|(_, index)| exports.address_by_index(index).ok())
            .filter(|rva| *rva != 0 && !exports.is_forward(*rva))
            .map(|rva| base + u64::from(rva))
            .ok_or(NtStatus::ENTRYPOINT_NOT_FOUND)
    };
    Ok(SystemDll {
        section,
        base,
        loader_entry: entry_point(LOADER_ENTRY)?,
        user_apc_dispatcher: entry_point(USER_APC_DISPATCHER)?,
        user_thread_start: entry_point(USER_THREAD_START)?,
    })
}

/// `PspMapSystemDll`: maps ntdll into `space` at its preferred base, and makes its
/// `KiUserApcDispatcher` the user APC dispatcher of `pcb`'s process; nothing when there is
/// no system DLL.
pub fn map_system_dll(space: &mut AddressSpace, pcb: &KProcess) -> Result<(), NtStatus> {
    let Some(dll) = system_dll() else {
        return Ok(());
    };
    pcb.set_user_apc_dispatcher(dll.user_apc_dispatcher);
    dll.section.map_view(
        space,
        ViewRequest {
            base: Some(dll.base),
            top_down: false,
            offset: 0,
            size: 0,
            protect: PAGE_EXECUTE_WRITECOPY,
        },
    )?;
    Ok(())
}

fn system_dll() -> Option<&'static SystemDll> {
    PSP_SYSTEM_DLL.get().and_then(Option::as_ref)
}

/// The user state of the initial APC for `LdrInitializeThunk` (`KiInitializeUserApc`), for
/// the current thread entering user mode for the first time: as `apc::deliver_user_apc`
/// delivers a user APC, its initial context goes on its user stack as a `CONTEXT` with
/// the APC in its home slots (`LdrInitializeThunk(Context, 0, 0)`), and the thread starts
/// in its process's user APC dispatcher with `rsp` at that `CONTEXT`. The context has
/// `rsp` at `initial`'s stack and, per `user_entry`, `rip` at `RtlUserThreadStart` with
/// `initial`'s entry and argument in `rcx` and `rdx`, or `rip` and `rcx` as `initial` has
/// them; the other registers zero. The dispatcher calls the loader, then
/// `NtContinue(Context)`. Every process created from an image has ntdll mapped, so every
/// user thread goes this way. Without a system DLL or a dispatcher, or when the stack
/// cannot take the `CONTEXT` (a creator's bad stack, where the thread would fault at once
/// anyway), the thread starts at `initial` itself.
pub fn initial_loader_context(
    initial: UserContext,
    user_entry: UserEntry,
    dispatcher: u64,
) -> UserContext {
    let Some(dll) = system_dll().filter(|_| dispatcher != 0) else {
        return initial;
    };
    // Below the lowest user address the copy would fail anyway.
    let Some(address) = initial
        .stack
        .checked_sub(size_of::<Context>() as u64)
        .map(|address| address & !0xF)
        .filter(|address| *address >= MM_LOWEST_USER_ADDRESS)
    else {
        return initial;
    };
    let (rip, rcx, rdx) = match user_entry {
        UserEntry::ThreadStart => (dll.user_thread_start, initial.entry, initial.argument),
        UserEntry::CreatorContext => (initial.entry, initial.argument, 0),
    };
    let context = Context {
        context_flags: CONTEXT_CONTROL | CONTEXT_INTEGER,
        p1_home: address,
        p4_home: dll.loader_entry,
        rip,
        rsp: initial.stack,
        rcx,
        rdx,
        ..Context::ZERO
    };
    // SAFETY: `Context` is plain integers without padding (pinned by `abi`'s assertions).
    let bytes = unsafe {
        core::slice::from_raw_parts((&raw const context).cast::<u8>(), size_of::<Context>())
    };
    if copy_to_user(address, bytes).is_err() {
        return initial;
    }
    UserContext {
        entry: dispatcher,
        stack: address,
        argument: 0,
        teb: initial.teb,
    }
}
