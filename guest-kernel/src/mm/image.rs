//! Image views: a PE32+ file from the boot image mapped into a user address space section
//! by section, with each section's protection (the SEC_IMAGE path of MmMapViewOfSection).
//! The view is one `MEM_IMAGE` allocation; pages between sections stay reserved.
//!
//! Every header field that places data is checked before use; any inconsistency is
//! STATUS_INVALID_IMAGE_FORMAT. Sections are copied into fresh frames for now: sharing
//! read-only pages with the boot image comes with section objects.

use abi::NtStatus;
use abi::layout::{PAGE_SIZE, USER_END};
use abi::memory::{
    PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_WRITECOPY, PAGE_NOACCESS, PAGE_READONLY,
    PAGE_WRITECOPY,
};
use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

use super::AddressSpace;

/// Lowest address an image may occupy (NT keeps the first 64 KiB unmapped).
const LOWEST_IMAGE_ADDRESS: u64 = 0x1_0000;

/// What process creation needs to know about a mapped image.
#[derive(Clone, Copy, Debug)]
pub struct ImageView {
    pub base: u64,
    pub entry_point: u64,
    pub stack_reserve: u64,
    pub stack_commit: u64,
}

const INVALID: NtStatus = NtStatus::INVALID_IMAGE_FORMAT;

/// Maps `file` at its preferred base in `space`.
pub fn map_image(space: &mut AddressSpace, file: &[u8]) -> Result<ImageView, NtStatus> {
    let image = PeFile64::parse(file).map_err(|_| INVALID)?;
    let nt_headers = image.nt_headers();
    if nt_headers.file_header().machine.get(LE) != pe::IMAGE_FILE_MACHINE_AMD64 {
        return Err(NtStatus::INVALID_IMAGE_FORMAT);
    }
    let header = nt_headers.optional_header();
    let base = header.image_base();
    let image_size = u64::from(header.size_of_image());
    let section_alignment = u64::from(header.section_alignment());
    let headers_size = u64::from(header.size_of_headers());
    let entry_rva = u64::from(header.address_of_entry_point());

    let in_user_half = base
        .checked_add(image_size)
        .is_some_and(|end| end <= USER_END && base >= LOWEST_IMAGE_ADDRESS);
    let well_formed = in_user_half
        && base % PAGE_SIZE == 0
        && section_alignment >= PAGE_SIZE
        && section_alignment.is_power_of_two()
        && headers_size > 0
        && headers_size <= image_size
        && headers_size <= file.len() as u64
        && entry_rva >= headers_size
        && entry_rva < image_size;
    if !well_formed {
        return Err(INVALID);
    }

    space.reserve_image(base, image_size).map_err(|_| INVALID)?;
    space.commit_image(base, base, headers_size, PAGE_READONLY)?;
    space.write(base, &file[..headers_size as usize])?;
    // Sections come in ascending order without overlapping, as the PE format requires.
    let mut next_free = headers_size.next_multiple_of(PAGE_SIZE);

    for section in image.section_table().iter() {
        let rva = u64::from(section.virtual_address.get(LE));
        let data = section.pe_data(file).map_err(|_| INVALID)?;
        let virtual_size = u64::from(section.virtual_size.get(LE));
        let size = virtual_size.max(data.len() as u64);
        let fits = rva.checked_add(size).is_some_and(|end| end <= image_size);
        if !fits || rva % section_alignment != 0 || rva < next_free {
            return Err(INVALID);
        }
        if size == 0 {
            continue;
        }
        next_free = (rva + size).next_multiple_of(PAGE_SIZE);
        let protect = section_protection(section.characteristics.get(LE));
        space.commit_image(base, base + rva, size, protect)?;
        let initialised = if virtual_size == 0 {
            data.len()
        } else {
            data.len().min(virtual_size as usize)
        };
        space.write(base + rva, &data[..initialised])?;
    }

    Ok(ImageView {
        base,
        entry_point: base + entry_rva,
        stack_reserve: header.size_of_stack_reserve(),
        stack_commit: header.size_of_stack_commit(),
    })
}

/// The protection of a section's pages, from its `IMAGE_SCN_MEM_*` flags; writable pages
/// are copy-on-write, as in every view of an image.
fn section_protection(characteristics: pe::SectionFlags) -> u32 {
    let flag = |f: pe::SectionFlags| characteristics.0 & f.0 != 0;
    match (
        flag(pe::IMAGE_SCN_MEM_READ),
        flag(pe::IMAGE_SCN_MEM_WRITE),
        flag(pe::IMAGE_SCN_MEM_EXECUTE),
    ) {
        (false, false, false) => PAGE_NOACCESS,
        (true, false, false) => PAGE_READONLY,
        (_, true, false) => PAGE_WRITECOPY,
        (false, false, true) => PAGE_EXECUTE,
        (true, false, true) => PAGE_EXECUTE_READ,
        (_, true, true) => PAGE_EXECUTE_WRITECOPY,
    }
}
