//! Processes for programs: `RtlCreateUserProcess` in one call (NtCreateUserProcess with
//! normalized process parameters), ProcessBasicInformation, waits, and the system's
//! process list (`SystemProcessInformation`).

use abi::NtStatus;
use abi::access::{PROCESS_ALL_ACCESS, THREAD_ALL_ACCESS};
use abi::nt::{PROCESS_PARAMETERS_NORMALIZED, RtlUserProcessParameters, UnicodeString};
use abi::process::{
    PROCESS_BASIC_INFORMATION_CLASS, ProcessBasicInformation, SYSTEM_PROCESS_INFORMATION_CLASS,
    SystemProcessInformation,
};

use crate::syscall::{
    nt_close, nt_create_user_process, nt_query_information_process, nt_query_system_information,
    nt_wait_for_single_object,
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

fn counted(units: &[u16]) -> UnicodeString {
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

/// The process's `PROCESS_BASIC_INFORMATION`.
pub fn query_basic_information(process: u64) -> Result<ProcessBasicInformation, NtStatus> {
    let mut information = ProcessBasicInformation::default();
    // SAFETY: a local of the size passed; no return length.
    let status = unsafe {
        nt_query_information_process(
            process,
            PROCESS_BASIC_INFORMATION_CLASS,
            (&raw mut information).cast(),
            size_of::<ProcessBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() {
        Ok(information)
    } else {
        Err(status)
    }
}

/// Waits for `handle` without a timeout.
pub fn wait(handle: u64) -> NtStatus {
    // SAFETY: no timeout pointer.
    unsafe { nt_wait_for_single_object(handle, 0, core::ptr::null()) }
}

/// Calls `visit` with each process record of `SystemProcessInformation` and its image
/// name, read into `buffer`.
pub fn for_each_process(
    buffer: &mut [u64],
    mut visit: impl FnMut(&SystemProcessInformation, &[u16]),
) -> Result<(), NtStatus> {
    let length = u32::try_from(size_of_val(buffer)).unwrap_or(u32::MAX);
    // SAFETY: the buffer is the caller's, of the length passed.
    let status = unsafe {
        nt_query_system_information(
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
