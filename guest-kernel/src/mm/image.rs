//! PE32+ images as image sections see them (what MiCreateImageFileMap checks and records):
//! the headers validated once, the layout in memory page by page with each page's
//! protection and contents, and the base relocations to apply when a view cannot go at
//! the preferred base.
//!
//! Every header field that places data is checked before use; an inconsistency is
//! STATUS_INVALID_IMAGE_FORMAT (a file without the `MZ` signature
//! STATUS_INVALID_IMAGE_NOT_MZ), never a fault. Pure logic over a byte slice.

use alloc::vec::Vec;

use abi::NtStatus;
use abi::layout::{PAGE_SIZE, USER_END};
use abi::memory::{
    MM_ALLOCATION_GRANULARITY, MM_LOWEST_USER_ADDRESS, PAGE_EXECUTE, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_WRITECOPY, PAGE_NOACCESS, PAGE_READONLY, PAGE_WRITECOPY,
};
use abi::section::SectionImageInformation;
use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

const INVALID: NtStatus = NtStatus::INVALID_IMAGE_FORMAT;

/// The largest image mapped: far above any program here, it bounds the work a header can
/// ask for.
const MAX_IMAGE_SIZE: u64 = 256 * 1024 * 1024;

/// A base relocation to apply when the image moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixup {
    /// `IMAGE_REL_BASED_DIR64`: the 8 bytes at this RVA.
    Dir64(u32),
    /// `IMAGE_REL_BASED_HIGHLOW`: the 4 bytes at this RVA.
    HighLow(u32),
}

impl Fixup {
    /// The RVA of the fixup and how many bytes it changes.
    pub fn span(self) -> (u64, u64) {
        match self {
            Self::Dir64(rva) => (u64::from(rva), 8),
            Self::HighLow(rva) => (u64::from(rva), 4),
        }
    }
}

/// One PE section in memory: where it goes, how much of it comes from the file, and its
/// pages' protection.
#[derive(Clone, Copy, Debug)]
struct SectionLayout {
    rva: u64,
    /// Bytes in memory (VirtualSize, or the raw size when that is 0).
    size: u64,
    file_offset: u64,
    /// Bytes initialised from the file; the rest is zero.
    file_size: u64,
    protect: u32,
}

/// A validated image: its headers' facts and its layout in memory.
#[derive(Clone, Debug)]
pub struct ImageLayout {
    pub preferred_base: u64,
    /// SizeOfImage, rounded up to pages.
    pub size: u64,
    headers_size: u64,
    sections: Vec<SectionLayout>,
    /// None when the image cannot move (relocations stripped).
    fixups: Option<Vec<Fixup>>,
    pub information: SectionImageInformation,
}

impl ImageLayout {
    /// Validates `file` as a PE32+ x64 image and records its layout.
    pub fn parse(file: &[u8]) -> Result<Self, NtStatus> {
        if file.get(..2) != Some(b"MZ".as_slice()) {
            return Err(NtStatus::INVALID_IMAGE_NOT_MZ);
        }
        let image = PeFile64::parse(file).map_err(|_| INVALID)?;
        let nt_headers = image.nt_headers();
        let file_header = nt_headers.file_header();
        if file_header.machine.get(LE) != pe::IMAGE_FILE_MACHINE_AMD64 {
            return Err(INVALID);
        }
        let header = nt_headers.optional_header();
        let preferred_base = header.image_base();
        let size_of_image = u64::from(header.size_of_image());
        let size = size_of_image.next_multiple_of(PAGE_SIZE);
        let section_alignment = u64::from(header.section_alignment());
        let file_alignment = u64::from(header.file_alignment());
        let headers_size = u64::from(header.size_of_headers());
        let entry_rva = u64::from(header.address_of_entry_point());
        let in_user_half = preferred_base
            .checked_add(size)
            .is_some_and(|end| end <= USER_END && preferred_base >= MM_LOWEST_USER_ADDRESS);
        let well_formed = in_user_half
            && size_of_image > 0
            && size <= MAX_IMAGE_SIZE
            && preferred_base.is_multiple_of(MM_ALLOCATION_GRANULARITY)
            && section_alignment >= PAGE_SIZE
            && section_alignment.is_power_of_two()
            && file_alignment.is_power_of_two()
            && (512..=MM_ALLOCATION_GRANULARITY).contains(&file_alignment)
            && file_alignment <= section_alignment
            && headers_size > 0
            && headers_size <= size_of_image
            && headers_size <= file.len() as u64
            && (entry_rva == 0 || (entry_rva >= headers_size && entry_rva < size_of_image));
        if !well_formed {
            return Err(INVALID);
        }

        let mut sections = Vec::new();
        // Sections come in ascending order without overlapping, as the PE format requires.
        let mut next_free = headers_size.next_multiple_of(PAGE_SIZE);
        let mut contains_code = false;
        for section in image.section_table().iter() {
            let rva = u64::from(section.virtual_address.get(LE));
            let virtual_size = u64::from(section.virtual_size.get(LE));
            let file_offset = u64::from(section.pointer_to_raw_data.get(LE));
            let raw_size = u64::from(section.size_of_raw_data.get(LE));
            let in_file = raw_size == 0
                || file_offset
                    .checked_add(raw_size)
                    .is_some_and(|end| end <= file.len() as u64);
            let memory_size = if virtual_size == 0 {
                raw_size
            } else {
                virtual_size
            };
            let fits = rva
                .checked_add(memory_size)
                .is_some_and(|end| end <= size_of_image);
            if !in_file || !fits || !rva.is_multiple_of(section_alignment) || rva < next_free {
                return Err(INVALID);
            }
            if memory_size == 0 {
                continue;
            }
            next_free = (rva + memory_size).next_multiple_of(PAGE_SIZE);
            let characteristics = section.characteristics.get(LE).0;
            contains_code |= characteristics & pe::IMAGE_SCN_CNT_CODE.0 != 0;
            sections.push(SectionLayout {
                rva,
                size: memory_size,
                file_offset,
                file_size: raw_size.min(memory_size),
                protect: section_protection(characteristics),
            });
        }

        let mut layout = Self {
            preferred_base,
            size,
            headers_size,
            sections,
            fixups: None,
            information: SectionImageInformation {
                transfer_address: if entry_rva == 0 {
                    0
                } else {
                    preferred_base + entry_rva
                },
                maximum_stack_size: header.size_of_stack_reserve(),
                committed_stack_size: header.size_of_stack_commit(),
                subsystem_type: u32::from(header.subsystem().0),
                subsystem_minor_version: header.minor_subsystem_version(),
                subsystem_major_version: header.major_subsystem_version(),
                major_operating_system_version: header.major_operating_system_version(),
                minor_operating_system_version: header.minor_operating_system_version(),
                image_characteristics: file_header.characteristics.get(LE).0,
                dll_characteristics: header.dll_characteristics().0,
                machine: pe::IMAGE_FILE_MACHINE_AMD64.0,
                image_contains_code: u8::from(contains_code),
                loader_flags: header.loader_flags(),
                image_file_size: file.len() as u32,
                check_sum: header.check_sum(),
                ..SectionImageInformation::default()
            },
        };
        let stripped =
            file_header.characteristics.get(LE).0 & pe::IMAGE_FILE_RELOCS_STRIPPED.0 != 0;
        if !stripped {
            layout.fixups = Some(layout.parse_fixups(file, &image)?);
        }
        Ok(layout)
    }

    /// The base relocations, each inside a committed page of the image.
    fn parse_fixups(&self, file: &[u8], image: &PeFile64<'_>) -> Result<Vec<Fixup>, NtStatus> {
        let mut fixups = Vec::new();
        let blocks = image
            .data_directories()
            .relocation_blocks(file, &image.section_table())
            .map_err(|_| INVALID)?;
        let Some(mut blocks) = blocks else {
            return Ok(fixups);
        };
        while let Some(block) = blocks.next().map_err(|_| INVALID)? {
            for relocation in block {
                let fixup = match relocation.typ {
                    pe::IMAGE_REL_BASED_ABSOLUTE => continue,
                    pe::IMAGE_REL_BASED_DIR64 => Fixup::Dir64(relocation.virtual_address),
                    pe::IMAGE_REL_BASED_HIGHLOW => Fixup::HighLow(relocation.virtual_address),
                    _ => return Err(INVALID),
                };
                let (rva, length) = fixup.span();
                let last = rva + length - 1;
                let committed = |rva: u64| self.page_protection(rva).is_some();
                if last >= self.size || !committed(rva) || !committed(last) {
                    return Err(INVALID);
                }
                fixups
                    .try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                fixups.push(fixup);
            }
        }
        Ok(fixups)
    }

    /// The protection of the page at `rva`: the headers are read-only, a section's pages
    /// have its protection, and pages in neither stay reserved (None).
    pub fn page_protection(&self, rva: u64) -> Option<u32> {
        if rva < self.headers_size.next_multiple_of(PAGE_SIZE) {
            return Some(PAGE_READONLY);
        }
        self.sections
            .iter()
            .find(|section| {
                rva >= section.rva && rva < (section.rva + section.size).next_multiple_of(PAGE_SIZE)
            })
            .map(|section| section.protect)
    }

    /// Fills `page` with what the image holds at page-aligned `rva`: bytes from the file
    /// where the headers or a section put them, zeros elsewhere.
    pub fn page_contents(&self, file: &[u8], rva: u64, page: &mut [u8]) {
        page.fill(0);
        let page_end = rva + page.len() as u64;
        let mut copy = |target: u64, file_offset: u64, length: u64| {
            let start = target.max(rva);
            let end = (target + length).min(page_end);
            if start < end {
                let from = (file_offset + start - target) as usize;
                let bytes = &file[from..from + (end - start) as usize];
                page[(start - rva) as usize..(end - rva) as usize].copy_from_slice(bytes);
            }
        };
        copy(0, 0, self.headers_size);
        for section in &self.sections {
            copy(section.rva, section.file_offset, section.file_size);
        }
    }

    /// Whether the file holds any of the page at page-aligned `rva`: a page it holds
    /// nothing of (uninitialised data) is zero-filled on first touch instead.
    pub fn page_has_file_data(&self, rva: u64) -> bool {
        let overlaps = |target: u64, length: u64| target < rva + PAGE_SIZE && rva < target + length;
        overlaps(0, self.headers_size)
            || self
                .sections
                .iter()
                .any(|section| overlaps(section.rva, section.file_size))
    }

    /// The file offset where the page at page-aligned `rva` is stored whole, if it is: a
    /// page fully initialised from one stretch of the file, which a view may share.
    pub fn page_file_offset(&self, rva: u64) -> Option<u64> {
        let whole = |target: u64, file_offset: u64, length: u64| {
            (rva >= target && rva + PAGE_SIZE <= target + length)
                .then(|| file_offset + rva - target)
        };
        if rva < self.headers_size {
            return whole(0, 0, self.headers_size);
        }
        self.sections
            .iter()
            .find(|section| rva >= section.rva && rva < section.rva + section.size)
            .and_then(|section| whole(section.rva, section.file_offset, section.file_size))
    }

    /// The relocations, or None when the image cannot move.
    pub fn fixups(&self) -> Option<&[Fixup]> {
        self.fixups.as_deref()
    }
}

/// The protection of a section's pages, from its `IMAGE_SCN_MEM_*` flags; writable pages
/// are copy-on-write, as in every view of an image.
fn section_protection(characteristics: u32) -> u32 {
    let flag = |f: pe::SectionFlags| characteristics & f.0 != 0;
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
