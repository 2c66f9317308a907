//! Files as the I/O services see them: file access rights and their generic mapping,
//! NtOpenFile's share access and open options, and `IO_STATUS_BLOCK` (x64 layout).

use core::mem::offset_of;

use crate::access::{
    GenericMapping, STANDARD_RIGHTS_EXECUTE, STANDARD_RIGHTS_READ, STANDARD_RIGHTS_REQUIRED,
    STANDARD_RIGHTS_WRITE, SYNCHRONIZE,
};

// File rights.
pub const FILE_READ_DATA: u32 = 0x0001;
pub const FILE_WRITE_DATA: u32 = 0x0002;
pub const FILE_APPEND_DATA: u32 = 0x0004;
pub const FILE_READ_EA: u32 = 0x0008;
pub const FILE_WRITE_EA: u32 = 0x0010;
pub const FILE_EXECUTE: u32 = 0x0020;
pub const FILE_DELETE_CHILD: u32 = 0x0040;
pub const FILE_READ_ATTRIBUTES: u32 = 0x0080;
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
pub const FILE_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x01FF;

pub const FILE_GENERIC_READ: u32 =
    STANDARD_RIGHTS_READ | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE;
pub const FILE_GENERIC_WRITE: u32 = STANDARD_RIGHTS_WRITE
    | FILE_WRITE_DATA
    | FILE_WRITE_ATTRIBUTES
    | FILE_WRITE_EA
    | FILE_APPEND_DATA
    | SYNCHRONIZE;
pub const FILE_GENERIC_EXECUTE: u32 =
    STANDARD_RIGHTS_EXECUTE | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE;

/// The file object type's generic mapping (`IopFileMapping`).
pub const FILE_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: FILE_GENERIC_READ,
    generic_write: FILE_GENERIC_WRITE,
    generic_execute: FILE_GENERIC_EXECUTE,
    generic_all: FILE_ALL_ACCESS,
};

/// The rights that change a file: the boot image is read-only, so asking for any of them
/// is STATUS_ACCESS_DENIED.
pub const FILE_MODIFYING_ACCESS: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_WRITE_EA
    | FILE_DELETE_CHILD
    | FILE_WRITE_ATTRIBUTES
    | crate::access::DELETE
    | crate::access::WRITE_DAC
    | crate::access::WRITE_OWNER;

// ShareAccess.
pub const FILE_SHARE_READ: u32 = 0x1;
pub const FILE_SHARE_WRITE: u32 = 0x2;
pub const FILE_SHARE_DELETE: u32 = 0x4;
pub const FILE_SHARE_VALID_FLAGS: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

// OpenOptions.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
pub const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;
pub const FILE_VALID_OPTION_FLAGS: u32 = 0x00FF_FFFF;

/// `IO_STATUS_BLOCK.Information` after an open that found an existing file.
pub const FILE_OPENED: u64 = 1;

/// `IO_STATUS_BLOCK`: the final status of an I/O request and a request-specific value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStatusBlock {
    pub status: u32,
    pub reserved: u32,
    pub information: u64,
}

const _: () = {
    assert!(size_of::<IoStatusBlock>() == 0x10);
    assert!(offset_of!(IoStatusBlock, information) == 0x08);
};
