//! Processes for programs: `RtlCreateUserProcess` in one call (NtCreateUserProcess with
//! normalized process parameters) or the classic way (NtOpenFile, NtCreateSection,
//! NtCreateProcessEx, parameters and a stack written into the child, NtCreateThread),
//! ProcessBasicInformation, waits, and the system's process list
//! (`SystemProcessInformation`).

use core::mem::offset_of;

use abi::NtStatus;
use abi::access::{PROCESS_ALL_ACCESS, THREAD_ALL_ACCESS};
use abi::dispatcher::PROCESS_AFFINITY_MASK_CLASS;
use abi::nt::{
    LdrDataTableEntry, ListEntry, PROCESS_PARAMETERS_NORMALIZED, PebLdrData,
    RtlUserProcessParameters, UnicodeString,
};
use abi::process::{SYSTEM_PROCESS_INFORMATION_CLASS, SystemProcessInformation};
use abi::section::SectionImageInformation;
use abi::service::CURRENT_PROCESS_HANDLE;
use abi::system_information::{
    SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS, SYSTEM_BASIC_INFORMATION_CLASS,
    SystemAddressSpaceSwitchInformation, SystemBasicInformation,
};
use abi::user_process::write_child_parameters;

use crate::syscall::{
    nt_allocate_virtual_memory, nt_close, nt_create_process_ex, nt_create_section,
    nt_create_thread, nt_create_user_process, nt_open_file, nt_protect_virtual_memory,
    nt_query_information_process, nt_query_section, nt_query_system_information, nt_resume_thread,
    nt_set_information_process, nt_terminate_process, nt_wait_for_single_object,
    nt_write_virtual_memory,
};

/// The longest image path and command line [`create_user_process`] passes, in UTF-16 units.
const MAX_IMAGE_PATH: usize = 260;
const MAX_COMMAND_LINE: usize = 2048;

/// A new process and its first thread.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    pub process: u64,
    pub thread: u64,
}

impl Child {
    /// Closes both handles.
    pub fn close(self) {
        // SAFETY: both handles are this child's and no longer used.
        unsafe {
            nt_close(self.thread);
            nt_close(self.process);
        }
    }
}

/// `text` as UTF-16 in `buffer`; STATUS_INVALID_PARAMETER when it does not fit.
fn encode<'a>(text: &str, buffer: &'a mut [u16]) -> Result<&'a [u16], NtStatus> {
    let mut length = 0;
    for unit in text.encode_utf16() {
        *buffer.get_mut(length).ok_or(NtStatus::INVALID_PARAMETER)? = unit;
        length += 1;
    }
    Ok(&buffer[..length])
}

/// `units` as a counted string (lengths in bytes), borrowing them.
pub fn counted(units: &[u16]) -> UnicodeString {
    let bytes = (units.len() * 2) as u16;
    UnicodeString {
        length: bytes,
        maximum_length: bytes,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    }
}

/// Creates a process running `image_path` (`hello` or `\SystemRoot\System32\hello.exe`)
/// with `command_line`, with every access to both handles; `process_flags` and
/// `thread_flags` as NtCreateUserProcess takes them.
pub fn create_user_process(
    image_path: &str,
    command_line: &str,
    process_flags: u32,
    thread_flags: u32,
) -> Result<Child, NtStatus> {
    let mut image_buffer = [0u16; MAX_IMAGE_PATH];
    let mut command_buffer = [0u16; MAX_COMMAND_LINE];
    let image = encode(image_path, &mut image_buffer)?;
    let command = encode(command_line, &mut command_buffer)?;
    let parameters = RtlUserProcessParameters {
        maximum_length: size_of::<RtlUserProcessParameters>() as u32,
        length: size_of::<RtlUserProcessParameters>() as u32,
        flags: PROCESS_PARAMETERS_NORMALIZED,
        image_path_name: counted(image),
        command_line: counted(command),
        ..RtlUserProcessParameters::default()
    };
    let mut child = Child {
        process: 0,
        thread: 0,
    };
    // SAFETY: the handles are locals; the parameters and their strings are locals that
    // outlive the call.
    let status = unsafe {
        nt_create_user_process(
            &mut child.process,
            &mut child.thread,
            PROCESS_ALL_ACCESS,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            core::ptr::null(),
            process_flags,
            thread_flags,
            &parameters,
            0,
            0,
        )
    };
    if status.is_success() {
        Ok(child)
    } else {
        Err(status)
    }
}

/// Where the image path goes when a program is named without a path.
const SYSTEM32: &str = "\\SystemRoot\\System32\\";

fn to_result(status: NtStatus) -> Result<(), NtStatus> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}

/// The NT path of an image: `image_path` itself when it starts with `\`, else
/// `\SystemRoot\System32\NAME`, with `.exe` added when missing.
pub fn nt_image_path<'a>(image_path: &str, buffer: &'a mut [u16]) -> Result<&'a [u16], NtStatus> {
    let mut length = 0;
    let mut push = |text: &str| -> Result<(), NtStatus> {
        for unit in text.encode_utf16() {
            *buffer.get_mut(length).ok_or(NtStatus::INVALID_PARAMETER)? = unit;
            length += 1;
        }
        Ok(())
    };
    if image_path.starts_with('\\') {
        push(image_path)?;
    } else {
        push(SYSTEM32)?;
        push(image_path)?;
        let has_suffix = image_path
            .get(image_path.len().saturating_sub(4)..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".exe"));
        if !has_suffix {
            push(".exe")?;
        }
    }
    Ok(&buffer[..length])
}

/// Creates a process running `image_path` (`hello`, or an NT path) with `command_line`
/// the classic way, as `RtlCreateUserProcess` does: NtOpenFile of the image,
/// NtCreateSection(SEC_IMAGE), NtCreateProcessEx with this process as parent
/// (`process_flags` as it takes them); the process parameters built, written into the
/// child with NtAllocateVirtualMemory and NtWriteVirtualMemory and PEB.ProcessParameters
/// pointed at them; a stack reserved and committed with a guard page below; the initial
/// CONTEXT at the image's entry point with the PEB in `rcx`; NtCreateThread suspended,
/// then NtResumeThread unless `suspended`. The result matches [`create_user_process`]'s:
/// the same PEB image base, parameters and exit status.
pub fn create_process_classic(
    image_path: &str,
    command_line: &str,
    process_flags: u32,
    suspended: bool,
) -> Result<Child, NtStatus> {
    let mut path_buffer = [0u16; MAX_IMAGE_PATH];
    let path = nt_image_path(image_path, &mut path_buffer)?;
    let mut command_buffer = [0u16; MAX_COMMAND_LINE];
    let command = match encode(command_line, &mut command_buffer)? {
        [] => path,
        command => command,
    };

    // The image: its file, then its image section.
    let name = counted(path);
    let (section, image) = open_image_section(&name)?;
    let mut process = 0;
    // SAFETY: the handle is a local; the parent is this process.
    let created = to_result(unsafe {
        nt_create_process_ex(
            &mut process,
            PROCESS_ALL_ACCESS,
            core::ptr::null(),
            CURRENT_PROCESS_HANDLE,
            process_flags,
            section,
            0,
            0,
            0,
        )
    });
    // SAFETY: the section handle is this function's; the process references the section.
    unsafe { nt_close(section) };
    created?;

    match start_classic_process(process, &image, path, command, suspended) {
        Ok(thread) => Ok(Child { process, thread }),
        Err(status) => {
            // SAFETY: the process is this function's and never ran.
            unsafe {
                nt_terminate_process(process, status);
                nt_close(process);
            }
            Err(status)
        }
    }
}

/// The second half of the classic path for `process`, made by NtCreateProcessEx: its
/// parameters, its stack and its first thread. Returns the thread handle.
fn start_classic_process(
    process: u64,
    image: &SectionImageInformation,
    path: &[u16],
    command: &[u16],
    suspended: bool,
) -> Result<u64, NtStatus> {
    let peb = query_basic_information(process)?.peb_base_address;
    let mut scratch =
        [0u8; size_of::<RtlUserProcessParameters>() + 2 * (MAX_IMAGE_PATH + MAX_COMMAND_LINE) + 4];
    write_child_parameters(
        &ServiceStubs,
        process,
        peb,
        &mut scratch,
        path,
        command,
        &[],
    )?;
    let (thread, _) = create_first_thread(process, image, peb)?;
    if !suspended {
        // SAFETY: the thread is this function's, created suspended.
        unsafe { nt_resume_thread(thread, core::ptr::null_mut()) };
    }
    Ok(thread)
}

/// NtQuerySystemInformation of `class` into a `T`, the class's structure (plain integers,
/// which any bytes the kernel writes leave valid): (status, information, return length).
pub fn query_system<T: Copy>(class: u32, zeroed: T) -> (NtStatus, T, u32) {
    let mut information = zeroed;
    let mut returned = 0;
    // SAFETY: the buffer is a local of the size passed; so is the return length.
    let status = unsafe {
        nt_query_system_information(
            class,
            (&raw mut information).cast(),
            size_of::<T>() as u32,
            &mut returned,
        )
    };
    (status, information, returned)
}

/// `SystemBasicInformation`'s active processors, as an affinity mask.
pub fn active_processors() -> Result<u64, NtStatus> {
    match query_system(
        SYSTEM_BASIC_INFORMATION_CLASS,
        SystemBasicInformation::default(),
    ) {
        (NtStatus::SUCCESS, information, _) => Ok(information.active_processors_affinity_mask),
        (status, _, _) => Err(status),
    }
}

/// Whether the processors tag translations with PCIDs, from
/// SystemAddressSpaceSwitchInformation.
pub fn pcids_in_use() -> Result<bool, NtStatus> {
    match query_system(
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS,
        SystemAddressSpaceSwitchInformation::default(),
    ) {
        (NtStatus::SUCCESS, information, _) => Ok(information.process_context_ids != 0),
        (status, _, _) => Err(status),
    }
}

/// Sets the processors the threads of `process` may run on (ProcessAffinityMask).
pub fn set_affinity(process: u64, affinity: u64) -> NtStatus {
    // SAFETY: a local of the size passed.
    unsafe {
        nt_set_information_process(
            process,
            PROCESS_AFFINITY_MASK_CLASS,
            (&raw const affinity).cast(),
            size_of::<u64>() as u32,
        )
    }
}

#[path = "native_steps.rs"]
mod native_steps;
pub use native_steps::query_basic_information;
use native_steps::{ServiceStubs, create_first_thread, open_image_section};

/// The units of a counted string, empty without a buffer.
///
/// # Safety
/// The string's buffer holds `Length` bytes that stay mapped and unchanged for as long as
/// the slice is used (the loader's module names, normalized process parameters).
pub unsafe fn unicode_units<'a>(string: &UnicodeString) -> &'a [u16] {
    if string.buffer == 0 {
        return &[];
    }
    // SAFETY: as the caller promises.
    unsafe {
        core::slice::from_raw_parts(string.buffer as *const u16, usize::from(string.length / 2))
    }
}

/// Calls `visit` with the modules ntdll's loader lists in `PEB.Ldr`, in load order or in
/// initialization order, at most `limit` of them (a broken list must not loop for ever).
/// None when `PEB.Ldr` is NULL; else whether the list ended before `limit` entries.
pub fn for_each_module(
    initialization_order: bool,
    limit: usize,
    mut visit: impl FnMut(&LdrDataTableEntry),
) -> Option<bool> {
    // SAFETY: the kernel keeps the PEB mapped for the life of the process.
    let ldr = unsafe { (*crate::current_peb()).ldr } as *const PebLdrData;
    if ldr.is_null() {
        return None;
    }
    let (head, link_offset) = if initialization_order {
        (
            // SAFETY: ntdll's loader pointed PEB.Ldr at its PEB_LDR_DATA, which stays
            // mapped.
            unsafe { &raw const (*ldr).in_initialization_order_module_list },
            offset_of!(LdrDataTableEntry, in_initialization_order_links),
        )
    } else {
        (
            // SAFETY: as above.
            unsafe { &raw const (*ldr).in_load_order_module_list },
            offset_of!(LdrDataTableEntry, in_load_order_links),
        )
    };
    // SAFETY: as above; every link of the loader's lists is an entry's, mapped for the
    // process.
    let mut link = unsafe { (*head).flink } as *const ListEntry;
    for _ in 0..limit {
        if link == head {
            return Some(true);
        }
        // SAFETY: as above: the link lies `link_offset` into its entry.
        let entry = unsafe { &*((link as u64 - link_offset as u64) as *const LdrDataTableEntry) };
        visit(entry);
        link = entry_link(entry, initialization_order);
    }
    Some(false)
}

/// Prints a `module: BASE NAME FULL-NAME` line for each of the first `limit` modules in
/// load order, answering as [`for_each_module`] does.
pub fn print_load_order(limit: usize) -> Option<bool> {
    for_each_module(false, limit, |entry| {
        // SAFETY: the loader's names describe UTF-16 in its own allocations, which stay
        // mapped for the process.
        let (base_name, full_name) = unsafe {
            (
                unicode_units(&entry.base_dll_name),
                unicode_units(&entry.full_dll_name),
            )
        };
        crate::println!(
            "module: {:#x} {} {}",
            entry.dll_base,
            Utf16(base_name),
            Utf16(full_name)
        );
    })
}

/// The next link of `entry`'s list.
fn entry_link(entry: &LdrDataTableEntry, initialization_order: bool) -> *const ListEntry {
    let links = if initialization_order {
        &entry.in_initialization_order_links
    } else {
        &entry.in_load_order_links
    };
    links.flink as *const ListEntry
}

/// Waits for `handle` without a timeout.
pub fn wait(handle: u64) -> NtStatus {
    // SAFETY: no timeout pointer.
    unsafe { nt_wait_for_single_object(handle, 0, core::ptr::null()) }
}

/// `NtQuerySystemInformation`'s signature: rt's own stub, or ntdll's export.
pub type QuerySystemInformation =
    unsafe extern "system" fn(u32, *mut u8, u32, *mut u32) -> NtStatus;

/// Calls `visit` with each process record of `SystemProcessInformation` and its image
/// name, read into `buffer`.
pub fn for_each_process(
    buffer: &mut [u64],
    visit: impl FnMut(&SystemProcessInformation, &[u16]),
) -> Result<(), NtStatus> {
    for_each_process_with(nt_query_system_information, buffer, visit)
}

/// [`for_each_process`] through `query`.
pub fn for_each_process_with(
    query: QuerySystemInformation,
    buffer: &mut [u64],
    mut visit: impl FnMut(&SystemProcessInformation, &[u16]),
) -> Result<(), NtStatus> {
    let length = u32::try_from(size_of_val(buffer)).unwrap_or(u32::MAX);
    // SAFETY: the buffer is the caller's, of the length passed.
    let status = unsafe {
        query(
            SYSTEM_PROCESS_INFORMATION_CLASS,
            buffer.as_mut_ptr().cast(),
            length,
            core::ptr::null_mut(),
        )
    };
    if !status.is_success() {
        return Err(status);
    }
    let start = buffer.as_ptr() as usize;
    let end = start + length as usize;
    let mut offset = 0usize;
    loop {
        if offset + size_of::<SystemProcessInformation>() > length as usize {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        // SAFETY: the record lies inside the buffer (checked above) at an 8-byte aligned
        // offset, and any bytes make a `SystemProcessInformation`.
        let record = unsafe {
            (start as *const u8)
                .add(offset)
                .cast::<SystemProcessInformation>()
                .read()
        };
        let name_start = record.image_name.buffer as usize;
        let name_length = usize::from(record.image_name.length);
        let name: &[u16] = if name_start >= start
            && name_start + name_length <= end
            && name_start.is_multiple_of(2)
        {
            // SAFETY: checked to lie inside the buffer, which the kernel wrote.
            unsafe { core::slice::from_raw_parts(name_start as *const u16, name_length / 2) }
        } else {
            &[]
        };
        visit(&record, name);
        match record.next_entry_offset {
            0 => return Ok(()),
            next => offset += next as usize,
        }
    }
}

/// UTF-16 text (an image name), displayed with unpaired surrogates replaced.
pub struct Utf16<'a>(pub &'a [u16]);

impl core::fmt::Display for Utf16<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in char::decode_utf16(self.0.iter().copied()) {
            core::fmt::Write::write_char(f, c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
        Ok(())
    }
}
