//! Sections as the services see them: section rights and their generic mapping, the
//! `SEC_*` allocation attributes, NtMapViewOfSection's inherit dispositions, and the
//! NtQuerySection classes with `SECTION_BASIC_INFORMATION` and
//! `SECTION_IMAGE_INFORMATION` (x64 layouts).

use core::mem::offset_of;

use crate::access::{
    GenericMapping, STANDARD_RIGHTS_EXECUTE, STANDARD_RIGHTS_READ, STANDARD_RIGHTS_REQUIRED,
    STANDARD_RIGHTS_WRITE,
};

// Section rights.
pub const SECTION_QUERY: u32 = 0x0001;
pub const SECTION_MAP_WRITE: u32 = 0x0002;
pub const SECTION_MAP_READ: u32 = 0x0004;
pub const SECTION_MAP_EXECUTE: u32 = 0x0008;
pub const SECTION_EXTEND_SIZE: u32 = 0x0010;
pub const SECTION_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED
    | SECTION_QUERY
    | SECTION_MAP_WRITE
    | SECTION_MAP_READ
    | SECTION_MAP_EXECUTE
    | SECTION_EXTEND_SIZE;

/// The section object type's generic mapping (`MmpSectionMapping`).
pub const SECTION_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | SECTION_QUERY | SECTION_MAP_READ,
    generic_write: STANDARD_RIGHTS_WRITE | SECTION_MAP_WRITE,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SECTION_MAP_EXECUTE,
    generic_all: SECTION_ALL_ACCESS,
};

// AllocationAttributes.
pub const SEC_IMAGE: u32 = 0x0100_0000;
pub const SEC_RESERVE: u32 = 0x0400_0000;
pub const SEC_COMMIT: u32 = 0x0800_0000;
pub const SEC_NOCACHE: u32 = 0x1000_0000;

// InheritDisposition (`SECTION_INHERIT`).
pub const VIEW_SHARE: u32 = 1;
pub const VIEW_UNMAP: u32 = 2;

// SectionInformationClass.
pub const SECTION_BASIC_INFORMATION_CLASS: u32 = 0;
pub const SECTION_IMAGE_INFORMATION_CLASS: u32 = 1;

/// `SECTION_BASIC_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionBasicInformation {
    /// Always NULL (based sections are not supported).
    pub base_address: u64,
    /// `SEC_*`: SEC_IMAGE, or SEC_COMMIT for a page-file-backed section.
    pub allocation_attributes: u32,
    pub reserved: u32,
    /// `MaximumSize`: the size of the section (of the image in memory for SEC_IMAGE).
    pub maximum_size: u64,
}

/// `SECTION_IMAGE_INFORMATION`: what the loader needs from an image's headers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionImageInformation {
    /// The entry point at the image's preferred base.
    pub transfer_address: u64,
    pub zero_bits: u32,
    pub reserved: u32,
    pub maximum_stack_size: u64,
    pub committed_stack_size: u64,
    pub subsystem_type: u32,
    pub subsystem_minor_version: u16,
    pub subsystem_major_version: u16,
    pub major_operating_system_version: u16,
    pub minor_operating_system_version: u16,
    pub image_characteristics: u16,
    pub dll_characteristics: u16,
    pub machine: u16,
    pub image_contains_code: u8,
    pub image_flags: u8,
    pub loader_flags: u32,
    pub image_file_size: u32,
    pub check_sum: u32,
}

const _: () = {
    assert!(size_of::<SectionBasicInformation>() == 0x18);
    assert!(offset_of!(SectionBasicInformation, allocation_attributes) == 0x08);
    assert!(offset_of!(SectionBasicInformation, maximum_size) == 0x10);
    assert!(size_of::<SectionImageInformation>() == 0x40);
    assert!(offset_of!(SectionImageInformation, zero_bits) == 0x08);
    assert!(offset_of!(SectionImageInformation, maximum_stack_size) == 0x10);
    assert!(offset_of!(SectionImageInformation, committed_stack_size) == 0x18);
    assert!(offset_of!(SectionImageInformation, subsystem_type) == 0x20);
    assert!(offset_of!(SectionImageInformation, subsystem_minor_version) == 0x24);
    assert!(offset_of!(SectionImageInformation, major_operating_system_version) == 0x28);
    assert!(offset_of!(SectionImageInformation, image_characteristics) == 0x2C);
    assert!(offset_of!(SectionImageInformation, machine) == 0x30);
    assert!(offset_of!(SectionImageInformation, image_contains_code) == 0x32);
    assert!(offset_of!(SectionImageInformation, loader_flags) == 0x34);
    assert!(offset_of!(SectionImageInformation, image_file_size) == 0x38);
    assert!(offset_of!(SectionImageInformation, check_sum) == 0x3C);
};
