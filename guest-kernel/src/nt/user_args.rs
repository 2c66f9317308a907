//! The user side of a service call: arguments past the fourth (on the user stack), results
//! written back to user buffers (`ProbeForWrite`, then a copy that survives bad pointers),
//! and the capture of `CLIENT_ID` and `OBJECT_ATTRIBUTES` with the object name.

use alloc::string::String;

use abi::NtStatus;
use abi::access::{OBJ_KERNEL_HANDLE, OBJ_VALID_ATTRIBUTES};
use abi::nt::{
    ClientId, ObjectAttributes, ObjectBasicInformation, ObjectTypeInformation, UnicodeString,
};

use crate::arch::TrapFrame;
use crate::arch::user::{copy_to_user, is_user_range};
use crate::mm::probe::{self, Plain};
use crate::ob::ObjectName;

// SAFETY: two u64, no padding.
unsafe impl Plain for ClientId {}
// SAFETY: four u64s, no padding.
unsafe impl Plain for abi::diagnostics::ArchitectureTimings {}
// SAFETY: u32, u32, u64, u64, u32, u32, u64, u64 at their natural alignment: no padding, and
// any bit pattern is a value.
unsafe impl Plain for ObjectAttributes {}
// SAFETY: twelve u32 then a u64 at offset 0x30: no padding.
unsafe impl Plain for ObjectBasicInformation {}
// SAFETY: a UNICODE_STRING, u32s, a GENERIC_MAPPING (four u32), four u8 and u32s, laid out
// without padding (pinned by `abi::nt`'s offset assertions, size 0x68).
unsafe impl Plain for ObjectTypeInformation {}

/// Offset of the fifth argument from the user `rsp` at the call: the return address and the
/// four home slots of the register arguments.
const STACK_ARGUMENTS_OFFSET: u64 = 0x28;

/// The first `N` arguments of the service call in `frame`: `r10`, `rdx`, `r8`, `r9`, then the
/// user stack. A stack the caller cannot read is STATUS_ACCESS_VIOLATION.
pub fn arguments<const N: usize>(frame: &TrapFrame) -> Result<[u64; N], NtStatus> {
    let mut arguments = [0; N];
    for (argument, register) in arguments
        .iter_mut()
        .zip([frame.r10, frame.rdx, frame.r8, frame.r9])
    {
        *argument = register;
    }
    if N > 4 {
        let address = frame
            .rsp
            .checked_add(STACK_ARGUMENTS_OFFSET)
            .ok_or(NtStatus::ACCESS_VIOLATION)?;
        let bytes = probe::capture_bytes(address, (N - 4) * 8)?;
        for (argument, bytes) in arguments[4..].iter_mut().zip(bytes.chunks_exact(8)) {
            let mut value = [0; 8];
            value.copy_from_slice(bytes);
            *argument = u64::from_le_bytes(value);
        }
    }
    Ok(arguments)
}

/// `ProbeForWrite`: a user buffer of `len` bytes at `address`, aligned to `alignment`
/// (STATUS_DATATYPE_MISALIGNMENT) and inside the user half (STATUS_ACCESS_VIOLATION).
/// Whether its pages are writable shows when it is written.
pub fn probe_for_write(address: u64, len: usize, alignment: u64) -> Result<(), NtStatus> {
    if len == 0 {
        return Ok(());
    }
    if !address.is_multiple_of(alignment) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    if !is_user_range(address, len as u64) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    Ok(())
}

/// Copies `bytes` to user address `address`: STATUS_ACCESS_VIOLATION when any byte cannot
/// be written.
pub fn write_bytes(address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
    copy_to_user(address, bytes).map_err(|()| NtStatus::ACCESS_VIOLATION)
}

/// The bytes of a plain structure, to be written to a user buffer.
pub fn bytes_of<T: Plain>(value: &T) -> &[u8] {
    // SAFETY: `T: Plain` is plain data without padding, so all its bytes are initialised.
    unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// `ProbeForWriteHandle`: a `HANDLE` the service will write at `address`.
pub fn probe_for_write_handle(address: u64) -> Result<(), NtStatus> {
    probe_for_write(address, size_of::<u64>(), size_of::<u64>() as u64)
}

/// Writes `handle` to the `HANDLE` at `address` (probed before).
pub fn write_handle(address: u64, handle: u64) -> Result<(), NtStatus> {
    write_bytes(address, &handle.to_le_bytes())
}

/// Captures a `CLIENT_ID`.
pub fn capture_client_id(address: u64) -> Result<ClientId, NtStatus> {
    probe::capture(address)
}

/// `OBJECT_ATTRIBUTES` as a service uses them: the attributes (OBJ_KERNEL_HANDLE dropped,
/// as for every user-mode caller) and the object name, if any.
#[derive(Debug)]
pub struct CapturedAttributes {
    pub attributes: u32,
    pub root_directory: u64,
    pub name: Option<String>,
}

impl CapturedAttributes {
    /// The name to open by: the captured path (empty without one) and the root directory.
    pub fn object_name(&self) -> ObjectName {
        ObjectName {
            root_directory: self.root_directory,
            path: self.name.clone().unwrap_or_default(),
        }
    }
}

/// Captures the `OBJECT_ATTRIBUTES` at `address` and its name
/// (`ObpCaptureObjectCreateInformation`): a wrong `Length` or an undefined attribute is
/// STATUS_INVALID_PARAMETER, a bad name STATUS_OBJECT_NAME_INVALID.
pub fn capture_object_attributes(address: u64) -> Result<CapturedAttributes, NtStatus> {
    let captured: ObjectAttributes = probe::capture(address)?;
    if captured.length as usize != size_of::<ObjectAttributes>()
        || captured.attributes & !OBJ_VALID_ATTRIBUTES != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let name = match captured.object_name {
        0 => None,
        address => Some(capture_object_name(address)?),
    };
    Ok(CapturedAttributes {
        attributes: captured.attributes & !OBJ_KERNEL_HANDLE,
        root_directory: captured.root_directory,
        name,
    })
}

/// Captures an object name (`ObpCaptureObjectName`): an odd length or one above the
/// maximum, a NUL or an unpaired surrogate is STATUS_OBJECT_NAME_INVALID.
fn capture_object_name(address: u64) -> Result<String, NtStatus> {
    let name: UnicodeString = probe::capture(address)?;
    if !name.length.is_multiple_of(2) || name.length > name.maximum_length {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let bytes = probe::capture_bytes(name.buffer, usize::from(name.length))?;
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.ok().filter(|&c| c != '\0'))
        .collect::<Option<String>>()
        .ok_or(NtStatus::OBJECT_NAME_INVALID)
}
