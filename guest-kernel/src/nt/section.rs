//! Section services: NtCreateSection, NtOpenSection, NtMapViewOfSection,
//! NtUnmapViewOfSection and NtQuerySection. Each checks and captures its arguments in NT's order, then leaves the
//! work to the memory manager's section objects (`mm::section`).

use abi::NtStatus;
use abi::access::PROCESS_VM_OPERATION;
use abi::file::FILE_EXECUTE;
use abi::memory::{
    MEM_RESERVE, MEM_TOP_DOWN, MM_ALLOCATION_GRANULARITY, MM_HIGHEST_USER_ADDRESS,
    MM_HIGHEST_VAD_ADDRESS, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_READWRITE,
};
use abi::section::{
    SEC_COMMIT, SEC_IMAGE, SEC_NOCACHE, SECTION_BASIC_INFORMATION_CLASS,
    SECTION_IMAGE_INFORMATION_CLASS, SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE,
    SECTION_QUERY, SectionBasicInformation, SectionImageInformation, VIEW_SHARE, VIEW_UNMAP,
};

use super::dispatcher::{probe_optional_ulong, return_ulong};
use super::memory::{probe_in_out, write_u64};
use super::object::return_handle;
use super::sync::{capture_new_object_attributes, insert_captured_object};
use super::user_args::{self, arguments, bytes_of, probe_for_write, write_bytes};
use crate::arch::TrapFrame;
use crate::io::file::File;
use crate::mm::probe::Plain;
use crate::mm::section::{SECTION_TYPE, Section, ViewRequest};
use crate::mm::vad::validate_protection;
use crate::ob::{self, Object};
use crate::ps::Process;

/// SEC_COMMIT with SEC_NOCACHE, accepted (caching is not changed).
const SEC_COMMIT_NOCACHE: u32 = SEC_COMMIT | SEC_NOCACHE;

// SAFETY: u64, u32 with its padding spelled out, u64: no padding.
unsafe impl Plain for SectionBasicInformation {}
// SAFETY: u64s, u32s, u16s and u8s at their natural alignment with the padding spelled
// out, pinned by `abi::section`'s assertions (size 0x40): no padding.
unsafe impl Plain for SectionImageInformation {}

/// `NtCreateSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES (optional),
/// PLARGE_INTEGER MaximumSize (optional), SectionPageProtection, AllocationAttributes,
/// FileHandle (optional))`: a page-file-backed section of MaximumSize bytes (SEC_COMMIT,
/// no file), or an image section of a file opened with FILE_EXECUTE (SEC_IMAGE; the size
/// comes from the image). Named sections go in the namespace (OBJ_OPENIF opens an
/// existing one).
///
/// Errors, in order: attributes other than SEC_COMMIT (with SEC_NOCACHE) or SEC_IMAGE
/// alone are STATUS_INVALID_PARAMETER_6 (SEC_RESERVE is not supported); a bad protection,
/// or PAGE_GUARD, STATUS_INVALID_PAGE_PROTECTION; a page-file-backed section without a
/// positive size STATUS_INVALID_PARAMETER_4, with a file STATUS_NOT_SUPPORTED (data files
/// are not mapped yet); an image section without a file STATUS_INVALID_FILE_FOR_SECTION;
/// then the file handle's and the image's own statuses.
pub fn nt_create_section(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        handle_address,
        desired_access,
        attributes,
        maximum_size,
        protect,
        allocation_attributes,
        file_handle,
    ] = arguments::<7>(frame)?;
    let (protect, allocation_attributes) = (protect as u32, allocation_attributes as u32);
    let image = match allocation_attributes {
        SEC_IMAGE => true,
        SEC_COMMIT | SEC_COMMIT_NOCACHE => false,
        _ => return Err(NtStatus::INVALID_PARAMETER_6),
    };
    validate_protection(protect)?;
    if protect & PAGE_GUARD != 0 {
        return Err(NtStatus::INVALID_PAGE_PROTECTION);
    }
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = capture_new_object_attributes(attributes)?;
    let size = match maximum_size {
        0 => None,
        address => Some(crate::mm::probe::capture::<u64>(address)?),
    };
    let section = if image {
        if file_handle == 0 {
            return Err(NtStatus::INVALID_FILE_FOR_SECTION);
        }
        let file = ob::reference_object_by_handle::<File>(file_handle, FILE_EXECUTE)?;
        Section::create_image(&file)?
    } else {
        let size = size
            .filter(|&size| size != 0 && size <= i64::MAX as u64)
            .ok_or(NtStatus::INVALID_PARAMETER_4)?;
        if file_handle != 0 {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        Section::create_page_file_backed(size, protect)?
    };
    insert_captured_object(
        Object::create(section),
        handle_address,
        desired_access,
        attributes,
    )
}

/// `NtOpenSection(PHANDLE SectionHandle, DesiredAccess, POBJECT_ATTRIBUTES)`: opens a
/// named section (`\BaseNamedObjects\Name`) by its name, as NtOpenDirectoryObject opens
/// directories; the lookup's statuses are the object manager's.
pub fn nt_open_section(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes] = arguments::<3>(frame)?;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes = user_args::capture_object_attributes(attributes)?;
    let handle = ob::open_object_by_name(
        &attributes.object_name(),
        &SECTION_TYPE,
        attributes.attributes,
        desired_access as u32,
    )?;
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// The section rights a view with protection `protect` needs (MiMakeProtectionMask's
/// counterpart in NtMapViewOfSection).
fn map_access(protect: u32) -> u32 {
    match protect & 0xFF {
        PAGE_READWRITE => SECTION_MAP_READ | SECTION_MAP_WRITE,
        PAGE_EXECUTE => SECTION_MAP_EXECUTE,
        PAGE_EXECUTE_READ | PAGE_EXECUTE_WRITECOPY => SECTION_MAP_EXECUTE | SECTION_MAP_READ,
        PAGE_EXECUTE_READWRITE => SECTION_MAP_EXECUTE | SECTION_MAP_READ | SECTION_MAP_WRITE,
        _ => SECTION_MAP_READ,
    }
}

/// `NtMapViewOfSection(SectionHandle, ProcessHandle, PVOID *BaseAddress, ZeroBits,
/// CommitSize, PLARGE_INTEGER SectionOffset (optional), PSIZE_T ViewSize,
/// InheritDisposition, AllocationType, Win32Protect)`: maps a view into the process (the
/// handle needs PROCESS_VM_OPERATION) at *BaseAddress, or where the system chooses when it
/// is NULL; the base and size go back. An image that does not go at its preferred base is
/// relocated and the service returns STATUS_IMAGE_NOT_AT_BASE.
///
/// Errors, in order: an InheritDisposition other than ViewShare or ViewUnmap is
/// STATUS_INVALID_PARAMETER_8; an AllocationType other than MEM_TOP_DOWN and MEM_RESERVE
/// STATUS_INVALID_PARAMETER_9; a bad protection STATUS_INVALID_PAGE_PROTECTION; nonzero
/// ZeroBits (not supported) STATUS_INVALID_PARAMETER_4; then the pointers; a base that is
/// not 64 KiB-aligned STATUS_MAPPED_ALIGNMENT, one past the user half
/// STATUS_INVALID_PARAMETER_3; the handles; rights the protection needs and the section
/// handle lacks STATUS_ACCESS_DENIED; a protection the section's pages cannot have
/// STATUS_SECTION_PROTECTION; then the mapping's own statuses.
pub fn nt_map_view_of_section(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        section_handle,
        process_handle,
        base_address,
        zero_bits,
        _commit_size,
        section_offset,
        view_size,
        inherit_disposition,
        allocation_type,
        protect,
    ] = arguments::<10>(frame)?;
    let (allocation_type, protect) = (allocation_type as u32, protect as u32);
    if !matches!(inherit_disposition as u32, VIEW_SHARE | VIEW_UNMAP) {
        return Err(NtStatus::INVALID_PARAMETER_8);
    }
    if allocation_type & !(MEM_TOP_DOWN | MEM_RESERVE) != 0 {
        return Err(NtStatus::INVALID_PARAMETER_9);
    }
    validate_protection(protect)?;
    if zero_bits != 0 {
        return Err(NtStatus::INVALID_PARAMETER_4);
    }
    let base = probe_in_out::<u64>(base_address)?;
    let size = probe_in_out::<u64>(view_size)?;
    let offset = match section_offset {
        0 => 0,
        address => probe_in_out::<u64>(address)?,
    };
    if !base.is_multiple_of(MM_ALLOCATION_GRANULARITY) {
        return Err(NtStatus::MAPPED_ALIGNMENT);
    }
    if base > MM_HIGHEST_VAD_ADDRESS || MM_HIGHEST_VAD_ADDRESS + 1 - base < size {
        return Err(NtStatus::INVALID_PARAMETER_3);
    }
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_VM_OPERATION)?;
    let section = ob::reference_object_by_handle::<Section>(section_handle, map_access(protect))?;
    if !section.allows_view_protection(protect) {
        return Err(NtStatus::SECTION_PROTECTION);
    }
    let request = ViewRequest {
        base: (base != 0).then_some(base),
        top_down: allocation_type & MEM_TOP_DOWN != 0,
        offset,
        size,
        protect,
    };
    let view = section.map_view(&mut *process.address_space()?, request)?;
    // The view stands whether or not the caller can be told where, as in NT.
    let _ = write_u64(view_size, view.size).and_then(|()| write_u64(base_address, view.base));
    Ok(view.status)
}

/// `NtUnmapViewOfSection(ProcessHandle, BaseAddress)`: unmaps the view containing
/// BaseAddress from the process (the handle needs PROCESS_VM_OPERATION). An address past
/// the user half is STATUS_INVALID_PARAMETER_2, one in no view STATUS_NOT_MAPPED_VIEW.
pub fn nt_unmap_view_of_section(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [process_handle, base] = arguments::<2>(frame)?;
    if base > MM_HIGHEST_USER_ADDRESS {
        return Err(NtStatus::INVALID_PARAMETER_2);
    }
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_VM_OPERATION)?;
    process.address_space()?.unmap_view(base)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtQuerySection(SectionHandle, SectionInformationClass, SectionInformation,
/// SectionInformationLength, PULONG ReturnLength (optional))`: SectionBasicInformation or,
/// for an image section, SectionImageInformation (STATUS_SECTION_NOT_IMAGE for another);
/// another class is STATUS_INVALID_INFO_CLASS, a buffer too small
/// STATUS_INFO_LENGTH_MISMATCH. The handle needs SECTION_QUERY.
pub fn nt_query_section(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [handle, class, buffer, length, return_length] = arguments::<5>(frame)?;
    let (class, length) = (class as u32, length as u32 as usize);
    let required = match class {
        SECTION_BASIC_INFORMATION_CLASS => size_of::<SectionBasicInformation>(),
        SECTION_IMAGE_INFORMATION_CLASS => size_of::<SectionImageInformation>(),
        _ => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    if length < required {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    probe_for_write(buffer, required, 8)?;
    probe_optional_ulong(return_length)?;
    let section = ob::reference_object_by_handle::<Section>(handle, SECTION_QUERY)?;
    if class == SECTION_BASIC_INFORMATION_CLASS {
        write_bytes(buffer, bytes_of(&section.basic_information()))?;
    } else {
        let information = section
            .image_information()
            .ok_or(NtStatus::SECTION_NOT_IMAGE)?;
        write_bytes(buffer, bytes_of(&information))?;
    }
    return_ulong(return_length, required as u32)?;
    Ok(NtStatus::SUCCESS)
}
