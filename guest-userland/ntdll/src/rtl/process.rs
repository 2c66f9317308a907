//! Process parameters and process creation the classic way.
//!
//! `RtlCreateProcessParameters` builds a normalized `RTL_USER_PROCESS_PARAMETERS` block in
//! the process heap; `RtlCreateUserProcess` makes a process of an image with it as NT's
//! does, one service at a time: NtOpenFile of the image, NtCreateSection(SEC_IMAGE),
//! NtCreateProcessEx; the parameters (and the environment they point at) copied into the
//! child with NtAllocateVirtualMemory and NtWriteVirtualMemory, laid out as the kernel
//! lays them out for NtCreateUserProcess, and `PEB.ProcessParameters` pointed at them; a
//! stack with a guard page below its committed part; an initial CONTEXT at the image's
//! entry point with the PEB in `rcx` (the kernel starts a process's first thread in
//! ntdll's loader, which binds the imports and then enters it); NtCreateThread,
//! suspended. The caller resumes the thread.

use abi::NtStatus;
use abi::access::PROCESS_ALL_ACCESS;
use abi::nt::{ClientId, PROCESS_PARAMETERS_NORMALIZED, RtlUserProcessParameters, UnicodeString};
use abi::process::PROCESS_CREATE_FLAGS_INHERIT_HANDLES;
use abi::section::SectionImageInformation;
use abi::service::CURRENT_PROCESS_HANDLE;
use abi::user_process::{
    MAX_ENVIRONMENT_UNITS, ParametersLayout, RtlUserProcessInformation, write_child_parameters,
    write_parameters,
};

use super::heap::{RtlAllocateHeap, RtlFreeHeap, process_heap_handle};
use super::peb::RtlGetCurrentPeb;
use super::string::units;
use crate::native::{
    ServiceStubs, create_first_thread, nt_close, nt_create_process_ex, nt_terminate_process,
    open_image_section, query_basic_information, to_result,
};

/// `RtlCreateProcessParameters(ProcessParameters, ImagePathName, DllPath,
/// CurrentDirectory, CommandLine, Environment, WindowTitle, DesktopInfo, ShellInfo,
/// RuntimeData)`: a normalized parameters block in the process heap holding
/// ImagePathName and CommandLine (ImagePathName again when NULL), and pointing at
/// `environment` (the caller's own environment when NULL, as NT's does; not copied). The
/// other strings have no place in the block here and are not kept. Its address goes to
/// `parameters`; RtlDestroyProcessParameters frees it.
///
/// STATUS_INVALID_PARAMETER for a NULL `parameters` or ImagePathName or a bad string,
/// STATUS_NO_MEMORY when the heap has no room.
///
/// # Safety
/// The strings are NULL or readable `UNICODE_STRING`s of readable units; `parameters` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlCreateProcessParameters(
    parameters: *mut *mut RtlUserProcessParameters,
    image_path_name: *const UnicodeString,
    _dll_path: *const UnicodeString,
    _current_directory: *const UnicodeString,
    command_line: *const UnicodeString,
    environment: u64,
    _window_title: *const UnicodeString,
    _desktop_info: *const UnicodeString,
    _shell_info: *const UnicodeString,
    _runtime_data: *const UnicodeString,
) -> NtStatus {
    if parameters.is_null() || image_path_name.is_null() {
        return NtStatus::INVALID_PARAMETER;
    }
    // SAFETY: the caller gives readable strings.
    let image_path = unsafe { &*image_path_name };
    let command = if command_line.is_null() {
        image_path
    } else {
        // SAFETY: as above.
        unsafe { &*command_line }
    };
    if !valid_string(image_path) || !valid_string(command) {
        return NtStatus::INVALID_PARAMETER;
    }
    // SAFETY: both strings were checked to describe aligned buffers of their length.
    let (image_path, command) = unsafe { (units(image_path), units(command)) };
    let layout = match ParametersLayout::new(image_path.len(), command.len(), 0) {
        Ok(layout) => layout,
        Err(status) => return status,
    };
    let heap = process_heap_handle();
    let address = RtlAllocateHeap(heap, 0, layout.total);
    if address == 0 {
        return NtStatus::NO_MEMORY;
    }
    // SAFETY: the heap gave `layout.total` writable bytes at `address`, this function's.
    let block = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, layout.total) };
    if let Err(status) = write_parameters(block, address, image_path, command, &[]) {
        RtlFreeHeap(heap, 0, address);
        return status;
    }
    let environment = match environment {
        0 => current_environment(),
        given => given,
    };
    let created = address as *mut RtlUserProcessParameters;
    // SAFETY: the block starts with the structure just written; the caller gives a
    // writable out pointer.
    unsafe {
        (&raw mut (*created).environment).write(environment);
        parameters.write(created);
    }
    NtStatus::SUCCESS
}

/// `RtlDestroyProcessParameters(ProcessParameters)`: frees a block of
/// RtlCreateProcessParameters. STATUS_INVALID_PARAMETER for anything else.
#[unsafe(no_mangle)]
pub extern "system" fn RtlDestroyProcessParameters(
    parameters: *mut RtlUserProcessParameters,
) -> NtStatus {
    if RtlFreeHeap(process_heap_handle(), 0, parameters as u64) != 0 && !parameters.is_null() {
        NtStatus::SUCCESS
    } else {
        NtStatus::INVALID_PARAMETER
    }
}

/// Whether `string` is well formed: an even length within its maximum, an aligned buffer
/// when it has units.
fn valid_string(string: &UnicodeString) -> bool {
    string.length.is_multiple_of(2)
        && string.length <= string.maximum_length
        && (string.length == 0 || (string.buffer != 0 && string.buffer.is_multiple_of(2)))
}

/// `NtCurrentPeb()->ProcessParameters->Environment`, 0 without parameters.
fn current_environment() -> u64 {
    let peb = RtlGetCurrentPeb();
    // SAFETY: the PEB is mapped for the life of the process.
    let parameters = unsafe { (*peb).process_parameters } as *const RtlUserProcessParameters;
    if parameters.is_null() {
        return 0;
    }
    // SAFETY: a non-null ProcessParameters points at this process's parameters block,
    // normalized by its creator.
    unsafe { (*parameters).environment }
}

/// `RtlCreateUserProcess(NtImagePathName, AttributesDeprecated, ProcessParameters,
/// ProcessSecurityDescriptor, ThreadSecurityDescriptor, ParentProcess, InheritHandles,
/// DebugPort, TokenHandle, ProcessInformation)`: a process of the image file
/// `NtImagePathName` (an NT path) whose parent is `parent_process` (this process when
/// NULL), inheriting its inheritable handles when asked, with a copy of
/// `process_parameters` (normalized or not; the environment they point at copied after
/// them; an empty CommandLine becomes the image path), and its first thread created
/// suspended. The
/// handles (all access), the client ID and the image's information go to
/// `process_information`.
///
/// Errors are those of each service: STATUS_OBJECT_NAME_NOT_FOUND for a missing file,
/// STATUS_INVALID_IMAGE_NOT_MZ or STATUS_INVALID_IMAGE_FORMAT for a file that is not an
/// image; STATUS_INVALID_PARAMETER for a NULL argument, a bad string in the parameters or
/// an environment without an end. A process that cannot be finished is terminated and
/// its handle closed.
///
/// # Safety
/// `image_path` and `process_parameters` are readable (and everything they point at);
/// `process_information` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlCreateUserProcess(
    image_path: *const UnicodeString,
    _attributes: u32,
    process_parameters: *const RtlUserProcessParameters,
    _process_security_descriptor: u64,
    _thread_security_descriptor: u64,
    parent_process: u64,
    inherit_handles: u8,
    debug_port: u64,
    token: u64,
    process_information: *mut RtlUserProcessInformation,
) -> NtStatus {
    if image_path.is_null() || process_parameters.is_null() || process_information.is_null() {
        return NtStatus::INVALID_PARAMETER;
    }
    let parent = match parent_process {
        0 => CURRENT_PROCESS_HANDLE,
        parent => parent,
    };
    let flags = if inherit_handles != 0 {
        PROCESS_CREATE_FLAGS_INHERIT_HANDLES
    } else {
        0
    };
    // SAFETY: the caller gives a readable name and parameters.
    let created = unsafe {
        open_image_section(&*image_path).and_then(|(section, image)| {
            let process = create_process(section, parent, flags, debug_port, token);
            // SAFETY: the section handle is this function's; the process references it.
            nt_close(section);
            process.map(|process| (process, image))
        })
    };
    let (process, image) = match created {
        Ok(created) => created,
        Err(status) => return status,
    };
    // SAFETY: the caller gives readable parameters.
    match unsafe { start_process(process, &image, &*process_parameters) } {
        Ok((thread, client_id)) => {
            // SAFETY: the caller gives a writable RTL_USER_PROCESS_INFORMATION.
            unsafe {
                process_information.write(RtlUserProcessInformation {
                    length: size_of::<RtlUserProcessInformation>() as u32,
                    reserved: 0,
                    process,
                    thread,
                    client_id,
                    image_information: image,
                })
            };
            NtStatus::SUCCESS
        }
        Err(status) => {
            // SAFETY: the process is this function's and never ran.
            unsafe {
                nt_terminate_process(process, status);
                nt_close(process);
            }
            status
        }
    }
}

/// NtCreateProcessEx of `section`: the new process's handle.
fn create_process(
    section: u64,
    parent: u64,
    flags: u32,
    debug_port: u64,
    token: u64,
) -> Result<u64, NtStatus> {
    let mut process = 0;
    // SAFETY: the handle is a local.
    to_result(unsafe {
        nt_create_process_ex(
            &mut process,
            PROCESS_ALL_ACCESS,
            core::ptr::null(),
            parent,
            flags,
            section,
            debug_port,
            token,
            0,
        )
    })?;
    Ok(process)
}

/// The second half of the classic path for `process`: its parameters, its stack and its
/// first thread, suspended. The thread's handle and client ID.
///
/// # Safety
/// `parameters`' strings and environment are readable.
unsafe fn start_process(
    process: u64,
    image: &SectionImageInformation,
    parameters: &RtlUserProcessParameters,
) -> Result<(u64, ClientId), NtStatus> {
    let peb = query_basic_information(process)?.peb_base_address;
    // SAFETY: the caller vouches for the parameters' strings and environment.
    unsafe { copy_parameters(process, peb, parameters) }?;
    create_first_thread(process, image, peb)
}

/// Writes a normalized copy of `parameters` (and of the environment they point at) into
/// `process` and points the PEB at `peb` at it.
///
/// # Safety
/// `parameters`' strings and environment are readable.
unsafe fn copy_parameters(
    process: u64,
    peb: u64,
    parameters: &RtlUserProcessParameters,
) -> Result<(), NtStatus> {
    let base = if parameters.flags & PROCESS_PARAMETERS_NORMALIZED != 0 {
        0
    } else {
        parameters as *const RtlUserProcessParameters as u64
    };
    let string = |string: UnicodeString| -> Result<&[u16], NtStatus> {
        let string = UnicodeString {
            buffer: string
                .buffer
                .wrapping_add(if string.buffer == 0 { 0 } else { base }),
            ..string
        };
        if !valid_string(&string) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        // SAFETY: the caller vouches for the strings; checked well formed.
        Ok(unsafe { units(&string) })
    };
    let image_path = string(parameters.image_path_name)?;
    // An empty command line becomes the image path, as NtCreateUserProcess makes it.
    let command_line = match string(parameters.command_line)? {
        [] => image_path,
        command_line => command_line,
    };
    // Environment is an address even in denormalized parameters, as on NT.
    let environment = match parameters.environment {
        0 => &[][..],
        // SAFETY: the caller vouches for the environment block.
        address => unsafe { environment_block(address) }?,
    };
    let layout = ParametersLayout::new(image_path.len(), command_line.len(), environment.len())?;
    let heap = process_heap_handle();
    let scratch = RtlAllocateHeap(heap, 0, layout.total);
    if scratch == 0 {
        return Err(NtStatus::NO_MEMORY);
    }
    // SAFETY: the heap gave `layout.total` writable bytes, this function's until freed.
    let block = unsafe { core::slice::from_raw_parts_mut(scratch as *mut u8, layout.total) };
    let written = write_child_parameters(
        &ServiceStubs,
        process,
        peb,
        block,
        image_path,
        command_line,
        environment,
    );
    RtlFreeHeap(heap, 0, scratch);
    written.map(|_| ())
}

/// The environment block at `address`, through the empty string that ends it.
/// STATUS_INVALID_PARAMETER when no end comes within [`MAX_ENVIRONMENT_UNITS`].
///
/// # Safety
/// The block at `address` is readable through its end.
unsafe fn environment_block<'a>(address: u64) -> Result<&'a [u16], NtStatus> {
    if !address.is_multiple_of(2) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let start = address as *const u16;
    let mut previous = 1;
    for index in 0..MAX_ENVIRONMENT_UNITS {
        // SAFETY: the caller vouches for the block up to its end, not yet passed.
        let unit = unsafe { start.add(index).read() };
        if unit == 0 && (previous == 0 || index == 0) {
            // SAFETY: the `index + 1` units just read.
            return Ok(unsafe { core::slice::from_raw_parts(start, index + 1) });
        }
        previous = unit;
    }
    Err(NtStatus::INVALID_PARAMETER)
}
