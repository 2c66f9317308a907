//! Process and thread services: NtCreateUserProcess, NtCreateProcessEx and NtCreateThread
//! (the classic path), NtOpenProcess, NtOpenThread, NtQueryInformationProcess,
//! NtTerminateProcess.

use alloc::string::String;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::access::{
    PROCESS_CREATE_PROCESS, PROCESS_CREATE_THREAD, PROCESS_QUERY_INFORMATION, PROCESS_TERMINATE,
};
use abi::dispatcher::THREAD_CREATE_FLAGS_CREATE_SUSPENDED;
use abi::layout::{PAGE_SIZE, USER_END};
use abi::nt::{ClientId, PROCESS_PARAMETERS_NORMALIZED, RtlUserProcessParameters, UnicodeString};
use abi::process::{
    CONTEXT_ALIGNMENT, CONTEXT_RCX_OFFSET, CONTEXT_RIP_OFFSET, CONTEXT_RSP_OFFSET, CONTEXT_SIZE,
    InitialTeb, PROCESS_BASIC_INFORMATION_CLASS, PROCESS_CREATE_FLAGS_INHERIT_HANDLES,
    PROCESS_CREATE_FLAGS_VALID, ProcessBasicInformation,
};
use abi::section::SECTION_MAP_EXECUTE;
use abi::user_process::{MAX_ENVIRONMENT_UNITS, environment_units};

use super::dispatcher::{probe_optional_ulong, return_ulong};
use super::object::return_handle;
use super::user_args::{self, CapturedAttributes, arguments};
use crate::arch::TrapFrame;
use crate::io;
use crate::mm::probe::{self, Plain};
use crate::mm::section::Section;
use crate::ob::{self, Object, ObjectRef, ObjectType};
use crate::ps::{self, CallerStart, PROCESS_TYPE, Process, THREAD_TYPE};

// SAFETY: u32s, u64s, UNICODE_STRINGs and a CURDIR at their natural alignment, laid out
// without padding (pinned by `abi::nt`'s offset assertions).
unsafe impl Plain for RtlUserProcessParameters {}
// SAFETY: a u32 with its padding spelled out, u64s, an i32 with its padding: no padding.
unsafe impl Plain for ProcessBasicInformation {}
// SAFETY: five u64s: no padding.
unsafe impl Plain for InitialTeb {}

/// `NtCreateUserProcess(PHANDLE ProcessHandle, PHANDLE ThreadHandle, ProcessDesiredAccess,
/// ThreadDesiredAccess, POBJECT_ATTRIBUTES ProcessObjectAttributes OPTIONAL,
/// POBJECT_ATTRIBUTES ThreadObjectAttributes OPTIONAL, ProcessFlags, ThreadFlags,
/// PRTL_USER_PROCESS_PARAMETERS ProcessParameters, PPS_CREATE_INFO CreateInfo OPTIONAL,
/// PPS_ATTRIBUTE_LIST AttributeList OPTIONAL)`: what `RtlCreateUserProcess` does in one
/// call. The image is the file ImagePathName names: an NT path
/// (`\SystemRoot\System32\hello.exe`), or a program name (`hello`) in System32; the
/// image section is made from it. The child gets a copy of the parameters (ImagePathName,
/// CommandLine and the environment block they point at). The child is the caller's
/// (`PspCreateProcess`), inheriting its inheritable handles with
/// PROCESS_CREATE_FLAGS_INHERIT_HANDLES; its first thread (`PspCreateThread`) starts at the
/// image's entry point, suspended with THREAD_CREATE_FLAGS_CREATE_SUSPENDED. Both handles
/// go back. Unknown flags are STATUS_INVALID_PARAMETER, an unknown image
/// STATUS_OBJECT_NAME_NOT_FOUND (or the path's status, as NtOpenFile's), a file that is
/// not an image STATUS_INVALID_IMAGE_NOT_MZ or STATUS_INVALID_IMAGE_FORMAT; CreateInfo
/// and AttributeList are probed and not used.
pub fn nt_create_user_process(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        process_handle,
        thread_handle,
        process_access,
        thread_access,
        process_attributes,
        thread_attributes,
        process_flags,
        thread_flags,
        parameters,
        create_info,
        attribute_list,
    ] = arguments::<11>(frame)?;
    let (process_flags, thread_flags) = (process_flags as u32, thread_flags as u32);
    if process_flags & !PROCESS_CREATE_FLAGS_VALID != 0
        || thread_flags & !THREAD_CREATE_FLAGS_CREATE_SUSPENDED != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    user_args::probe_for_write_handle(process_handle)?;
    user_args::probe_for_write_handle(thread_handle)?;
    let process_attributes = capture_unnamed_attributes(process_attributes)?;
    let thread_attributes = capture_unnamed_attributes(thread_attributes)?;
    let (image_path, command_line, environment) = capture_process_parameters(parameters)?;
    if create_info != 0 {
        // PS_CREATE_INFO: only its Size is read.
        probe::capture::<u64>(create_info)?;
    }
    if attribute_list != 0 {
        // PS_ATTRIBUTE_LIST: TotalLength, then the attributes, none of which is used.
        let total: u64 = probe::capture(attribute_list)?;
        if !(8..=0x1000).contains(&total) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        probe::capture_bytes(attribute_list, total as usize)?;
    }

    let parent = ps::current_process();
    let inherit = process_flags & PROCESS_CREATE_FLAGS_INHERIT_HANDLES != 0;
    // The image, as RtlCreateUserProcess finds it: the file, then its image section.
    let file = io::file::open_image(&image_path)?;
    let section = Object::create(Section::create_image(&file)?);
    let image_path = file.nt_path();
    let parameters = Some(ps::Parameters {
        image_path: &image_path,
        command_line: &command_line,
        environment: &environment,
    });
    let (process, image) = ps::create_process(Some(&parent), &section, parameters, inherit)?;
    let suspended = thread_flags & THREAD_CREATE_FLAGS_CREATE_SUSPENDED != 0;
    let thread = ps::create_first_thread(&process, &image, suspended)?;
    // ObInsertObject for both, in the caller's table; a failure ends the new process,
    // which then runs down as any other.
    let inserted = ob::insert_object(
        process.clone(),
        None,
        process_attributes,
        process_access as u32,
    )
    .and_then(|(process_handle, _)| {
        ob::insert_object(
            thread.clone(),
            None,
            thread_attributes,
            thread_access as u32,
        )
        .map(|(thread_handle, _)| (process_handle, thread_handle))
        .inspect_err(|_| {
            let _ = ob::close_handle(process_handle);
        })
    });
    if let Err(status) = inserted {
        ps::terminate_process(&process, status, false);
    }
    ps::ready_thread(thread);
    let (process_handle_value, thread_handle_value) = inserted?;
    return_handle(process_handle, process_handle_value)?;
    return_handle(thread_handle, thread_handle_value)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtCreateProcessEx(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES (optional),
/// ParentProcess, Flags, SectionHandle, DebugPort, TokenHandle, Reserved)`: the first half
/// of the classic creation path (`PspCreateProcess`). The process's image is the image
/// section (the handle needs SECTION_MAP_EXECUTE), its parent ParentProcess (the handle
/// needs PROCESS_CREATE_PROCESS), whose inheritable handles it gets with
/// PROCESS_CREATE_FLAGS_INHERIT_HANDLES. It has no thread and its PEB no process
/// parameters: the creator writes them, allocates a stack and calls NtCreateThread.
///
/// Errors: unknown flags are STATUS_INVALID_PARAMETER; no parent STATUS_INVALID_PARAMETER;
/// no section (a copy of the parent's address space) STATUS_NOT_SUPPORTED; a section that
/// is not an image's STATUS_SECTION_NOT_IMAGE; a debug port or token handle (neither type
/// exists yet) STATUS_OBJECT_TYPE_MISMATCH, or its handle's status.
pub fn nt_create_process_ex(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        parent_handle,
        flags,
        section_handle,
        debug_port,
        token,
        _reserved,
    ] = arguments::<9>(frame)?;
    let flags = flags as u32;
    if flags & !PROCESS_CREATE_FLAGS_VALID != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = capture_unnamed_attributes(attributes)?;
    if parent_handle == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let parent = ob::reference_object_by_handle::<Process>(parent_handle, PROCESS_CREATE_PROCESS)?;
    if section_handle == 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let section = ob::reference_object_by_handle::<Section>(section_handle, SECTION_MAP_EXECUTE)?;
    for handle in [debug_port, token] {
        if handle != 0 {
            ob::reference_handle(&ps::current_process(), handle, None, 0)?;
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
    }
    let inherit = flags & PROCESS_CREATE_FLAGS_INHERIT_HANDLES != 0;
    let (process, _) = ps::create_process(Some(&parent), &section, None, inherit)?;
    let (handle, _) = ob::insert_object(process, None, attributes, desired_access as u32)?;
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtCreateThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES (optional),
/// ProcessHandle, PCLIENT_ID ClientId (optional, out), PCONTEXT ThreadContext,
/// PINITIAL_TEB InitialTeb, BOOLEAN CreateSuspended)`: a thread of the process (the handle
/// needs PROCESS_CREATE_THREAD) on the stack InitialTeb describes, which its creator
/// allocated, starting at the context's Rip with its Rsp and Rcx (`PspCreateThread`); the
/// first thread of a process made by NtCreateProcessEx starts it. The client ID goes back.
///
/// Errors: a NULL context or INITIAL_TEB, or a context whose Rip or Rsp, or a stack, lies
/// outside the user half, is STATUS_INVALID_PARAMETER; a context not 16-byte aligned
/// STATUS_DATATYPE_MISALIGNMENT; unreadable ones STATUS_ACCESS_VIOLATION.
pub fn nt_create_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        process_handle,
        client_id_address,
        context,
        initial_teb,
        create_suspended,
    ] = arguments::<8>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    if client_id_address != 0 {
        user_args::probe_for_write(client_id_address, size_of::<ClientId>(), 8)?;
    }
    if context == 0 || initial_teb == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if !context.is_multiple_of(CONTEXT_ALIGNMENT) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let context = probe::capture_bytes(context, CONTEXT_SIZE)?;
    let register = |offset: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&context[offset..offset + 8]);
        u64::from_le_bytes(bytes)
    };
    let stack: InitialTeb = probe::capture(initial_teb)?;
    let start = CallerStart {
        stack_base: stack.stack_base,
        stack_limit: stack.stack_limit,
        rip: register(CONTEXT_RIP_OFFSET),
        rsp: register(CONTEXT_RSP_OFFSET),
        rcx: register(CONTEXT_RCX_OFFSET),
        suspended: create_suspended as u8 != 0,
    };
    let in_user_half = |address: u64| address != 0 && address < USER_END;
    if !in_user_half(start.rip)
        || !in_user_half(start.rsp)
        || !in_user_half(start.stack_base)
        || start.stack_limit >= start.stack_base
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let attributes = capture_unnamed_attributes(attributes)?;
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_CREATE_THREAD)?;
    let client_id = ps::create_thread_on_stack(&process, start, |thread| {
        let (handle, _) =
            ob::insert_object(thread.clone(), None, attributes, desired_access as u32)?;
        return_handle(handle_address, handle)?;
        Ok(thread.client_id())
    })?;
    if client_id_address != 0 {
        // The thread runs whether or not its creator learns its client ID, as in NT.
        let _ = user_args::write_bytes(client_id_address, user_args::bytes_of(&client_id));
    }
    Ok(NtStatus::SUCCESS)
}

/// Optional `OBJECT_ATTRIBUTES` for an object that takes no name: the attributes
/// (OBJ_INHERIT), 0 without any; a name is STATUS_OBJECT_NAME_INVALID.
fn capture_unnamed_attributes(address: u64) -> Result<u32, NtStatus> {
    if address == 0 {
        return Ok(0);
    }
    let captured: CapturedAttributes = user_args::capture_object_attributes(address)?;
    if captured.name.is_some() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(captured.attributes)
}

/// Captures ImagePathName, CommandLine and the environment block from the
/// `RTL_USER_PROCESS_PARAMETERS` at `address` (normalized: buffers are addresses;
/// otherwise offsets from the structure; Environment is an address either way). NULL, a
/// bad string or an empty ImagePathName is STATUS_INVALID_PARAMETER. An empty CommandLine
/// becomes the image path.
fn capture_process_parameters(address: u64) -> Result<(String, String, Vec<u16>), NtStatus> {
    if address == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let parameters: RtlUserProcessParameters = probe::capture(address)?;
    let base = if parameters.flags & PROCESS_PARAMETERS_NORMALIZED != 0 {
        0
    } else {
        address
    };
    let image_path = capture_string(parameters.image_path_name, base)?;
    if image_path.is_empty() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let command_line = capture_string(parameters.command_line, base)?;
    let command_line = if command_line.is_empty() {
        image_path.clone()
    } else {
        command_line
    };
    let environment = capture_environment(parameters.environment)?;
    Ok((image_path, command_line, environment))
}

/// Captures the environment block at `address` through the empty string that ends it,
/// a page at a time (so a block that ends just before an unmapped page is read whole);
/// empty for NULL. An odd address, or no end within `MAX_ENVIRONMENT_UNITS`, is
/// STATUS_INVALID_PARAMETER; an unreadable block STATUS_ACCESS_VIOLATION.
fn capture_environment(address: u64) -> Result<Vec<u16>, NtStatus> {
    let mut units = Vec::new();
    if address == 0 {
        return Ok(units);
    }
    if !address.is_multiple_of(2) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut next = address;
    while units.len() < MAX_ENVIRONMENT_UNITS {
        let page_end = (next | (PAGE_SIZE - 1))
            .checked_add(1)
            .ok_or(NtStatus::ACCESS_VIOLATION)?;
        let bytes = probe::capture_bytes(next, (page_end - next) as usize)?;
        units
            .try_reserve(bytes.len() / 2)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        units.extend(
            bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]])),
        );
        if let Some(length) = environment_units(&units) {
            units.truncate(length);
            return Ok(units);
        }
        next = page_end;
    }
    Err(NtStatus::INVALID_PARAMETER)
}

/// A captured `UNICODE_STRING` whose buffer lies at `base` + its Buffer field: an odd
/// length, a length past the maximum or bad UTF-16 is STATUS_INVALID_PARAMETER.
fn capture_string(string: UnicodeString, base: u64) -> Result<String, NtStatus> {
    if !string.length.is_multiple_of(2) || string.length > string.maximum_length {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if string.length == 0 {
        return Ok(String::new());
    }
    let buffer = base
        .checked_add(string.buffer)
        .ok_or(NtStatus::ACCESS_VIOLATION)?;
    let bytes = probe::capture_bytes(buffer, usize::from(string.length))?;
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| NtStatus::INVALID_PARAMETER)
}

/// `NtQueryInformationProcess(ProcessHandle, ProcessInformationClass, ProcessInformation,
/// ProcessInformationLength, PULONG ReturnLength OPTIONAL)`: ProcessBasicInformation only
/// (STATUS_INVALID_INFO_CLASS otherwise), whose length must be exact
/// (STATUS_INFO_LENGTH_MISMATCH); the handle needs PROCESS_QUERY_INFORMATION.
pub fn nt_query_information_process(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, information, length, return_length] = arguments::<5>(frame)?;
    if class as u32 != PROCESS_BASIC_INFORMATION_CLASS {
        return Err(NtStatus::INVALID_INFO_CLASS);
    }
    let size = size_of::<ProcessBasicInformation>();
    if length as u32 as usize != size {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    user_args::probe_for_write(information, size, 8)?;
    probe_optional_ulong(return_length)?;
    let process = ob::reference_object_by_handle::<Process>(handle, PROCESS_QUERY_INFORMATION)?;
    let basic = ProcessBasicInformation {
        exit_status: process.exit_status().0,
        peb_base_address: process.peb(),
        affinity_mask: process.pcb.affinity(),
        base_priority: i32::from(process.pcb.base_priority()),
        unique_process_id: process.unique_process_id(),
        inherited_from_unique_process_id: process.inherited_from_unique_process_id(),
        ..ProcessBasicInformation::default()
    };
    user_args::write_bytes(information, user_args::bytes_of(&basic))?;
    return_ulong(return_length, size as u32)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtOpenProcess(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
/// PCLIENT_ID ClientId OPTIONAL)`: by CLIENT_ID (a thread ID, if given, must be one of the
/// process's threads) or by name, exactly one of them (STATUS_INVALID_PARAMETER_MIX).
/// An unknown ID is STATUS_INVALID_CID.
pub fn nt_open_process(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_by_client_id(frame, &PROCESS_TYPE, |client_id| {
        let process: ObjectRef = if client_id.unique_thread != 0 {
            ps::lookup_thread_by_client_id(client_id)?.process().clone()
        } else {
            ps::lookup_process_by_id(client_id.unique_process)?
        };
        Ok(process)
    })
}

/// `NtOpenThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
/// PCLIENT_ID ClientId OPTIONAL)`: as NtOpenProcess, for the thread the CLIENT_ID's thread
/// ID names (its process ID, unless 0, must be the thread's process).
pub fn nt_open_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_by_client_id(frame, &THREAD_TYPE, |client_id| {
        let thread: ObjectRef = ps::lookup_thread_by_client_id(client_id)?;
        Ok(thread)
    })
}

/// The common body of NtOpenProcess and NtOpenThread: `lookup` finds the object a CLIENT_ID
/// names.
fn open_by_client_id(
    frame: &TrapFrame,
    object_type: &ObjectType,
    lookup: impl FnOnce(ClientId) -> Result<ObjectRef, NtStatus>,
) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes, client_id] = arguments::<4>(frame)?;
    let desired_access = desired_access as u32;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes: CapturedAttributes = user_args::capture_object_attributes(attributes)?;
    let client_id = match client_id {
        0 => None,
        address => Some(user_args::capture_client_id(address)?),
    };
    let handle = match (&attributes.name, client_id) {
        (Some(_), None) => ob::open_object_by_name(
            &attributes.object_name(),
            object_type,
            attributes.attributes,
            desired_access,
        )?,
        (None, Some(client_id)) => {
            ob::open_object_by_pointer(lookup(client_id)?, attributes.attributes, desired_access)?
        }
        _ => return Err(NtStatus::INVALID_PARAMETER_MIX),
    };
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtTerminateProcess(ProcessHandle, ExitStatus)`. The handle needs PROCESS_TERMINATE.
/// Every thread of the process exits; the caller, if it is one of them, on its way back to
/// user mode, so the call does not return. A 0 handle terminates every thread of the
/// current process but the caller's. A process that has ended is
/// STATUS_PROCESS_IS_TERMINATING.
pub fn nt_terminate_process(process_handle: u64, exit_status: u32) -> Result<NtStatus, NtStatus> {
    let status = NtStatus(exit_status);
    if process_handle == 0 {
        ps::terminate_process(&ps::current_process(), status, true);
        return Ok(NtStatus::SUCCESS);
    }
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_TERMINATE)?;
    if ps::is_system_process(&process) {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if ps::thread_count(&process) == 0 {
        // Run down already (or never started): nothing is left to end.
        return Err(NtStatus::PROCESS_IS_TERMINATING);
    }
    ps::terminate_process(&process, status, false);
    Ok(NtStatus::SUCCESS)
}
