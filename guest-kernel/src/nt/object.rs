//! Object services: NtClose, NtDuplicateObject, NtQueryObject, NtCreateDirectoryObject and
//! NtOpenDirectoryObject.

use alloc::vec::Vec;

use abi::NtStatus;
use abi::access::{
    DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS, DUPLICATE_SAME_ATTRIBUTES, OBJ_PERMANENT,
    OBJ_VALID_ATTRIBUTES, PROCESS_DUP_HANDLE,
};
use abi::nt::{
    OBJECT_BASIC_INFORMATION, OBJECT_NAME_INFORMATION, OBJECT_TYPE_INFORMATION,
    ObjectBasicInformation, ObjectTypeInformation, UnicodeString,
};

use super::user_args::{self, arguments};
use crate::arch::TrapFrame;
use crate::ob::{self, DIRECTORY_TYPE, Directory, Object, ObjectRef, pointer_count};
use crate::ps::{self, Process};

/// `NtClose(Handle)`.
pub fn nt_close(handle: u64) -> Result<NtStatus, NtStatus> {
    ob::close_handle(handle)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtDuplicateObject(SourceProcessHandle, SourceHandle, TargetProcessHandle,
/// PHANDLE TargetHandle OPTIONAL, DesiredAccess, HandleAttributes, Options)`. Both process
/// handles need PROCESS_DUP_HANDLE; a 0 target process only closes the source
/// (DUPLICATE_CLOSE_SOURCE). Undefined options or attributes are STATUS_INVALID_PARAMETER.
pub fn nt_duplicate_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        source_process_handle,
        source_handle,
        target_process_handle,
        target_handle_address,
        desired_access,
        attributes,
        options,
    ] = arguments::<7>(frame)?;
    let (desired_access, attributes, options) =
        (desired_access as u32, attributes as u32, options as u32);
    let valid_options = DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS | DUPLICATE_SAME_ATTRIBUTES;
    if options & !valid_options != 0 || attributes & !OBJ_VALID_ATTRIBUTES != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if target_handle_address != 0 {
        user_args::probe_for_write_handle(target_handle_address)?;
    }
    let source_process =
        ob::reference_object_by_handle::<Process>(source_process_handle, PROCESS_DUP_HANDLE)?;
    let target_process = match target_process_handle {
        0 => None,
        handle => match ob::reference_object_by_handle::<Process>(handle, PROCESS_DUP_HANDLE) {
            Ok(process) => Some(process),
            Err(status) => {
                // The source is closed whatever goes wrong, once it is known.
                if options & DUPLICATE_CLOSE_SOURCE != 0 {
                    let _ = ob::duplicate_object(
                        &source_process,
                        source_handle,
                        None,
                        0,
                        0,
                        DUPLICATE_CLOSE_SOURCE,
                    );
                }
                return Err(status);
            }
        },
    };
    let handle = ob::duplicate_object(
        &source_process,
        source_handle,
        target_process.as_ref(),
        desired_access,
        attributes,
        options,
    )?;
    if let (Some(handle), Some(target)) = (handle, &target_process)
        && target_handle_address != 0
        && let Err(status) = user_args::write_handle(target_handle_address, handle)
    {
        // The caller cannot learn the handle: take it back rather than leak it.
        let _ = target.object_table.close(handle);
        return Err(status);
    }
    Ok(NtStatus::SUCCESS)
}

/// `NtQueryObject(Handle, ObjectInformationClass, ObjectInformation, ObjectInformationLength,
/// PULONG ReturnLength OPTIONAL)`: ObjectBasicInformation (the handle's attributes and
/// access, the object's handle and pointer counts), ObjectNameInformation and
/// ObjectTypeInformation (the type's name, counters, generic mapping and valid access).
/// A buffer of the wrong size is STATUS_INFO_LENGTH_MISMATCH, with the size needed in
/// ReturnLength; another class STATUS_INVALID_INFO_CLASS.
pub fn nt_query_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, buffer, length, return_length] = arguments::<5>(frame)?;
    let (class, length) = (class as u32, length as u32 as usize);
    if return_length != 0 {
        user_args::probe_for_write(return_length, size_of::<u32>(), 4)?;
    }
    let entry = ob::reference_handle(&ps::current_process(), handle, None, 0)?;
    let answer = match class {
        OBJECT_BASIC_INFORMATION => basic_information(&entry),
        OBJECT_NAME_INFORMATION => name_information(&entry.object, buffer),
        OBJECT_TYPE_INFORMATION => type_information(&entry.object, buffer),
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    let required = answer.len();
    let fits = match class {
        OBJECT_BASIC_INFORMATION => length == required,
        _ => length >= required,
    };
    if return_length != 0 {
        user_args::write_bytes(return_length, &(required as u32).to_le_bytes())?;
    }
    if !fits {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    user_args::probe_for_write(buffer, required, 4)?;
    user_args::write_bytes(buffer, &answer)?;
    Ok(NtStatus::SUCCESS)
}

/// `OBJECT_BASIC_INFORMATION` for a handle entry. The pointer count leaves out the
/// reference the query itself holds.
fn basic_information(entry: &ob::HandleEntry) -> Vec<u8> {
    let header = entry.object.header();
    let permanent = if header.is_permanent() {
        OBJ_PERMANENT
    } else {
        0
    };
    let info = ObjectBasicInformation {
        attributes: entry.attributes | permanent,
        granted_access: entry.granted_access,
        handle_count: header.handle_count() as u32,
        pointer_count: (pointer_count(&entry.object) - 1) as u32,
        ..ObjectBasicInformation::default()
    };
    user_args::bytes_of(&info).to_vec()
}

/// `OBJECT_NAME_INFORMATION` for an object, to be written at `buffer`: a UNICODE_STRING
/// pointing just past itself at the NUL-terminated full name, or an empty one.
fn name_information(object: &ObjectRef, buffer: u64) -> Vec<u8> {
    let name = ob::object_name(object).map(|name| utf16_z(&name));
    let header_size = size_of::<UnicodeString>();
    let string = match &name {
        Some(name) => UnicodeString {
            length: (name.len() - 2) as u16,
            maximum_length: name.len() as u16,
            reserved: 0,
            buffer: buffer.wrapping_add(header_size as u64),
        },
        None => UnicodeString::default(),
    };
    let mut answer = user_args::bytes_of(&string).to_vec();
    answer.extend(name.unwrap_or_default());
    answer
}

/// `OBJECT_TYPE_INFORMATION` for an object's type, to be written at `buffer`: the
/// structure, then the NUL-terminated type name it points at.
fn type_information(object: &ObjectRef, buffer: u64) -> Vec<u8> {
    let object_type = object.header().object_type();
    let name = utf16_z(object_type.name());
    let info = ObjectTypeInformation {
        type_name: UnicodeString {
            length: (name.len() - 2) as u16,
            maximum_length: name.len() as u16,
            reserved: 0,
            buffer: buffer.wrapping_add(size_of::<ObjectTypeInformation>() as u64),
        },
        total_number_of_objects: object_type.object_count() as u32,
        total_number_of_handles: object_type.handle_count() as u32,
        high_water_number_of_objects: object_type.high_water_object_count() as u32,
        high_water_number_of_handles: object_type.high_water_handle_count() as u32,
        generic_mapping: object_type.generic_mapping(),
        valid_access_mask: object_type.valid_access_mask(),
        maintain_handle_count: 1,
        type_index: object_type.index(),
        ..ObjectTypeInformation::default()
    };
    let mut answer = user_args::bytes_of(&info).to_vec();
    answer.extend(name);
    answer
}

/// `NtCreateDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`:
/// a new directory, named or not. OBJ_PERMANENT needs a privilege no caller has yet
/// (STATUS_PRIVILEGE_NOT_HELD); OBJ_OPENIF opens an existing directory of that name
/// (STATUS_OBJECT_NAME_EXISTS).
pub fn nt_create_directory_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes] = arguments::<3>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = user_args::capture_object_attributes(attributes)?;
    if attributes.attributes & OBJ_PERMANENT != 0 {
        return Err(NtStatus::PRIVILEGE_NOT_HELD);
    }
    let name = attributes.name.is_some().then(|| attributes.object_name());
    let directory = Object::create(Directory::new());
    let (handle, status) = ob::insert_object(
        directory,
        name.as_ref(),
        attributes.attributes,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    Ok(status)
}

/// `NtOpenDirectoryObject(PHANDLE DirectoryHandle, DesiredAccess, POBJECT_ATTRIBUTES)`.
pub fn nt_open_directory_object(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes] = arguments::<3>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = user_args::capture_object_attributes(attributes)?;
    let handle = ob::open_object_by_name(
        &attributes.object_name(),
        &DIRECTORY_TYPE,
        attributes.attributes,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// Writes a new handle of the current process to the caller's `HANDLE` at `address`; when
/// that fails the handle is closed again, so nothing leaks.
pub fn return_handle(address: u64, handle: u64) -> Result<(), NtStatus> {
    user_args::write_handle(address, handle).inspect_err(|_| {
        let _ = ob::close_handle(handle);
    })
}

/// `text` as UTF-16LE bytes with a terminating NUL.
fn utf16_z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}
