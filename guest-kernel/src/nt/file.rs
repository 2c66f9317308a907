//! File services: NtOpenFile, for the read-only files of the boot image.

use abi::NtStatus;
use abi::access::OBJ_PERMANENT;
use abi::file::{
    FILE_DIRECTORY_FILE, FILE_MODIFYING_ACCESS, FILE_NON_DIRECTORY_FILE, FILE_OPENED,
    FILE_SHARE_VALID_FLAGS, FILE_VALID_OPTION_FLAGS, IoStatusBlock,
};

use super::object::return_handle;
use super::user_args::{self, arguments};
use crate::arch::TrapFrame;
use crate::io::file::{self, FILE_TYPE};
use crate::mm::probe::Plain;
use crate::ob::{self, Object};

// SAFETY: a u32, its padding spelled out, and a u64: no padding.
unsafe impl Plain for IoStatusBlock {}

/// `NtOpenFile(PHANDLE FileHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
/// PIO_STATUS_BLOCK IoStatusBlock, ShareAccess, OpenOptions)`: opens a file of the boot
/// image by its NT path (see `io::file::open`); the I/O status block gets the status and
/// FILE_OPENED. Undefined share access or options, or FILE_DIRECTORY_FILE with
/// FILE_NON_DIRECTORY_FILE, are STATUS_INVALID_PARAMETER; a relative name's root must be
/// a directory, which no file here is (STATUS_NOT_A_DIRECTORY for a file handle); any
/// right that modifies the file is STATUS_ACCESS_DENIED (the volume is read-only);
/// FILE_DIRECTORY_FILE on a file is STATUS_NOT_A_DIRECTORY.
pub fn nt_open_file(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        io_status_block,
        share_access,
        open_options,
    ] = arguments::<6>(frame)?;
    let (share_access, open_options) = (share_access as u32, open_options as u32);
    let directory_options = FILE_DIRECTORY_FILE | FILE_NON_DIRECTORY_FILE;
    if share_access & !FILE_SHARE_VALID_FLAGS != 0
        || open_options & !FILE_VALID_OPTION_FLAGS != 0
        || open_options & directory_options == directory_options
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    user_args::probe_for_write_handle(handle_address)?;
    user_args::probe_for_write(io_status_block, size_of::<IoStatusBlock>(), 8)?;
    let attributes = user_args::capture_object_attributes(attributes)?;
    if attributes.attributes & OBJ_PERMANENT != 0 {
        return Err(NtStatus::PRIVILEGE_NOT_HELD);
    }
    if attributes.root_directory != 0 {
        ob::reference_object_by_handle::<file::File>(attributes.root_directory, 0)?;
        return Err(NtStatus::NOT_A_DIRECTORY);
    }
    let path = attributes
        .name
        .as_deref()
        .ok_or(NtStatus::OBJECT_PATH_SYNTAX_BAD)?;
    let opened = file::open(path)?;
    if FILE_TYPE.grant_access(desired_access as u32) & FILE_MODIFYING_ACCESS != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if open_options & FILE_DIRECTORY_FILE != 0 {
        return Err(NtStatus::NOT_A_DIRECTORY);
    }
    let (handle, _) = ob::insert_object(
        Object::create(opened),
        None,
        attributes.attributes,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    let status_block = IoStatusBlock {
        status: NtStatus::SUCCESS.0,
        reserved: 0,
        information: FILE_OPENED,
    };
    // The handle stands even if the caller cannot read the status block, as in NT.
    let _ = user_args::write_bytes(io_status_block, user_args::bytes_of(&status_block));
    Ok(NtStatus::SUCCESS)
}
