//! Section objects (`SECTION` with its `CONTROL_AREA` and `SEGMENT`) and their views
//! (MmCreateSection, MmMapViewOfSection). A page-file-backed section owns its frames
//! (committed and zero-filled when it is created); every view maps those same frames, so
//! writes in one process show in all. An image section (SEC_IMAGE) refers to the image's
//! control area, one per file however many sections and views there are: the image's
//! pages, which every view shares, are the boot image's own frames where the file holds a
//! whole page at a page-aligned guest-physical address, else frames of the control area
//! filled once. Writable pages are copy-on-write: a view gets its own copy of a page on
//! the first write to it (`AddressSpace::access_fault`). Pages a relocation changes are
//! private copies from the start.
//!
//! A frame mapped in a view holds a reference (the PFN share count): a section and its
//! views can go in any order.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use abi::NtStatus;
use abi::layout::{PAGE_SIZE, phys_to_virt};
use abi::memory::{MM_ALLOCATION_GRANULARITY, PAGE_EXECUTE_WRITECOPY, PAGE_WRITECOPY};
use abi::section::{
    SEC_COMMIT, SEC_IMAGE, SECTION_ALL_ACCESS, SECTION_GENERIC_MAPPING, SectionBasicInformation,
    SectionImageInformation,
};
use spin::Mutex;

use super::address_space::ViewPage;
use super::image::ImageLayout;
use super::vad::{Access, PageAccess, VadKind};
use super::{AddressSpace, allocate_zeroed_frame, free_frame, pfn_counters};
use crate::io::file::File;
use crate::ob::{self, ObjectBody, ObjectType};

/// The section object type (`MmSectionObjectType`).
pub static SECTION_TYPE: ObjectType =
    ObjectType::new("Section", SECTION_GENERIC_MAPPING, SECTION_ALL_ACCESS);

/// The control areas of images that have sections, by the guest-physical address of the
/// file (`SECTION_OBJECT_POINTERS.ImageSectionObject`); entries keep no reference.
static IMAGE_CONTROL_AREAS: Mutex<Vec<(u64, Weak<ImageControlArea>)>> = Mutex::new(Vec::new());

/// Registers the section object type.
pub fn init() {
    ob::create_object_type(&SECTION_TYPE);
}

/// A section object.
#[derive(Debug)]
pub struct Section {
    backing: Backing,
}

impl ObjectBody for Section {
    fn object_type() -> &'static ObjectType {
        &SECTION_TYPE
    }
}

#[derive(Debug)]
enum Backing {
    PageFile(PageFileSegment),
    Image(Arc<ImageControlArea>),
}

/// The pages of a page-file-backed section: one frame each, referenced by the section.
#[derive(Debug)]
struct PageFileSegment {
    frames: Vec<u64>,
    /// The size asked for, in bytes.
    size: u64,
    protect: u32,
}

impl Drop for PageFileSegment {
    fn drop(&mut self) {
        for &frame in &self.frames {
            free_frame(frame);
        }
    }
}

/// One image's control area: its validated layout and the frames of its shared pages.
#[derive(Debug)]
pub struct ImageControlArea {
    /// The file's name ("hello.exe") and full NT path.
    file_name: String,
    nt_path: String,
    file: &'static [u8],
    file_physical: u64,
    layout: ImageLayout,
    /// Per page: the frame every view shares, or None for pages views leave reserved or
    /// zero-fill on first touch (pages the file holds nothing of).
    shared_pages: Vec<Option<SharedPage>>,
}

#[derive(Clone, Copy, Debug)]
enum SharedPage {
    /// A page of the boot image itself, never released.
    BootImage(u64),
    /// A frame of the control area, filled from the file.
    Filled(u64),
}

impl SharedPage {
    fn frame(self) -> u64 {
        match self {
            Self::BootImage(frame) | Self::Filled(frame) => frame,
        }
    }
}

/// The live control area of the file at guest-physical `key`, if there is one.
fn find_control_area(
    control_areas: &[(u64, Weak<ImageControlArea>)],
    key: u64,
) -> Option<Arc<ImageControlArea>> {
    control_areas
        .iter()
        .find(|(file, _)| *file == key)
        .and_then(|(_, area)| area.upgrade())
}

impl Drop for ImageControlArea {
    /// The last section and process of the image are gone: its frames go back (views
    /// still mapping them hold their own references), and so does its registry entry,
    /// so that nothing of it stays allocated.
    fn drop(&mut self) {
        for page in self.shared_pages.iter().flatten() {
            if let SharedPage::Filled(frame) = page {
                free_frame(*frame);
            }
        }
        IMAGE_CONTROL_AREAS
            .lock()
            .retain(|(file, area)| *file != self.file_physical || area.strong_count() > 0);
    }
}

/// Where a view goes and what it maps (NtMapViewOfSection's captured arguments).
#[derive(Clone, Copy, Debug)]
pub struct ViewRequest {
    /// The base asked for (64 KiB-aligned), or None to let the system choose.
    pub base: Option<u64>,
    pub top_down: bool,
    /// Offset into a page-file-backed section (64 KiB-aligned); 0 for images.
    pub offset: u64,
    /// Bytes to map; 0 maps the rest of the section.
    pub size: u64,
    pub protect: u32,
}

/// A mapped view: where it is, its size, and STATUS_SUCCESS or, for an image that could
/// not go at its preferred base, STATUS_IMAGE_NOT_AT_BASE.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub base: u64,
    pub size: u64,
    pub status: NtStatus,
    /// For an image with an entry point, where the entry point is in this view; else 0.
    pub entry_point: u64,
}

impl Section {
    /// A page-file-backed section of `size` bytes (SEC_COMMIT): every page committed and
    /// zero-filled now. STATUS_COMMITMENT_LIMIT when memory cannot hold it.
    pub fn create_page_file_backed(size: u64, protect: u32) -> Result<Self, NtStatus> {
        let pages = size.div_ceil(PAGE_SIZE);
        let counters = pfn_counters();
        if pages > counters.zeroed + counters.free {
            return Err(NtStatus::COMMITMENT_LIMIT);
        }
        let mut segment = PageFileSegment {
            frames: Vec::new(),
            size,
            protect,
        };
        segment
            .frames
            .try_reserve_exact(pages as usize)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        for _ in 0..pages {
            let frame = allocate_zeroed_frame().ok_or(NtStatus::COMMITMENT_LIMIT)?;
            segment.frames.push(frame);
        }
        Ok(Self {
            backing: Backing::PageFile(segment),
        })
    }

    /// An image section (SEC_IMAGE) of `file`: its control area, created (and the image
    /// validated) by the first section of the file while none is alive.
    pub fn create_image(file: &File) -> Result<Self, NtStatus> {
        let key = file.physical_address();
        if let Some(existing) = find_control_area(&IMAGE_CONTROL_AREAS.lock(), key) {
            return Ok(Self {
                backing: Backing::Image(existing),
            });
        }
        // Made without the registry's lock: dropping a control area takes it.
        let area = Arc::new(ImageControlArea::create(file)?);
        let mut control_areas = IMAGE_CONTROL_AREAS.lock();
        // Another section of the file may have made one meanwhile; `area` then goes after
        // the lock (locals drop in reverse order).
        let area = match find_control_area(&control_areas, key) {
            Some(existing) => existing,
            None => {
                control_areas
                    .try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                control_areas.push((key, Arc::downgrade(&area)));
                area.clone()
            }
        };
        drop(control_areas);
        Ok(Self {
            backing: Backing::Image(area),
        })
    }

    /// `SECTION_BASIC_INFORMATION`.
    pub fn basic_information(&self) -> SectionBasicInformation {
        let (allocation_attributes, maximum_size) = match &self.backing {
            Backing::PageFile(segment) => (SEC_COMMIT, segment.size),
            Backing::Image(area) => (SEC_IMAGE, area.layout.size),
        };
        SectionBasicInformation {
            allocation_attributes,
            maximum_size,
            ..SectionBasicInformation::default()
        }
    }

    /// `SECTION_IMAGE_INFORMATION`, for an image section.
    pub fn image_information(&self) -> Option<SectionImageInformation> {
        match &self.backing {
            Backing::Image(area) => Some(area.layout.information),
            Backing::PageFile(_) => None,
        }
    }

    /// For an image section, the image file's name ("hello.exe") and full NT path.
    pub fn image_file(&self) -> Option<(&str, &str)> {
        match &self.backing {
            Backing::Image(area) => Some((&area.file_name, &area.nt_path)),
            Backing::PageFile(_) => None,
        }
    }

    /// The protection a view's pages may have at most (the section's page protection), for
    /// a page-file-backed section.
    pub fn allows_view_protection(&self, protect: u32) -> bool {
        match &self.backing {
            Backing::Image(_) => true,
            Backing::PageFile(segment) => {
                let section = PageAccess::from_protect(segment.protect);
                let view = PageAccess::from_protect(protect);
                let copy_on_write = protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY) != 0;
                (copy_on_write || !view.allows(Access::Write) || section.allows(Access::Write))
                    && (!view.allows(Access::Execute) || section.allows(Access::Execute))
            }
        }
    }

    /// Maps a view of the section into `space` (MiMapViewOfDataSection,
    /// MiMapViewOfImageSection). Errors: STATUS_MAPPED_ALIGNMENT for an offset that is not
    /// 64 KiB-aligned, STATUS_INVALID_VIEW_SIZE for a view past the section's end,
    /// STATUS_CONFLICTING_ADDRESSES when the base asked for is taken (or, for an image that
    /// cannot move, its preferred base), STATUS_NO_MEMORY when no range is free.
    pub fn map_view(
        &self,
        space: &mut AddressSpace,
        request: ViewRequest,
    ) -> Result<View, NtStatus> {
        match &self.backing {
            Backing::PageFile(segment) => map_data_view(segment, space, request),
            Backing::Image(area) => area.map_view(space, request),
        }
    }
}

/// MiMapViewOfDataSection: the section's frames, shared (copy-on-write in a
/// copy-on-write view).
fn map_data_view(
    segment: &PageFileSegment,
    space: &mut AddressSpace,
    request: ViewRequest,
) -> Result<View, NtStatus> {
    if !request.offset.is_multiple_of(MM_ALLOCATION_GRANULARITY) {
        return Err(NtStatus::MAPPED_ALIGNMENT);
    }
    let section_size = segment.frames.len() as u64 * PAGE_SIZE;
    if request.offset >= section_size {
        return Err(NtStatus::INVALID_VIEW_SIZE);
    }
    let size = match request.size {
        0 => section_size - request.offset,
        size => size.next_multiple_of(PAGE_SIZE),
    };
    if size > section_size - request.offset {
        return Err(NtStatus::INVALID_VIEW_SIZE);
    }
    let base = space.reserve_view(
        request.base,
        size,
        request.top_down,
        VadKind::Mapped,
        request.protect,
    )?;
    let first = (request.offset / PAGE_SIZE) as usize;
    for (index, &frame) in segment.frames[first..].iter().enumerate() {
        let page = base + index as u64 * PAGE_SIZE;
        if page >= base + size {
            break;
        }
        let contents = ViewPage::Shared(frame);
        if let Err(status) = space.map_view_page(base, page, request.protect, contents) {
            let _ = space.unmap_view(base);
            return Err(status);
        }
    }
    Ok(View {
        base,
        size,
        status: NtStatus::SUCCESS,
        entry_point: 0,
    })
}

impl ImageControlArea {
    /// MiCreateImageFileMap: validates the image and prepares its shared pages.
    fn create(file: &File) -> Result<Self, NtStatus> {
        let data = file.data();
        let layout = ImageLayout::parse(data)?;
        let pages = (layout.size / PAGE_SIZE) as usize;
        let mut area = Self {
            file_name: String::from(file.file_name()),
            nt_path: file.nt_path(),
            file: data,
            file_physical: file.physical_address(),
            layout,
            shared_pages: Vec::new(),
        };
        area.shared_pages
            .try_reserve_exact(pages)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        for index in 0..pages {
            let rva = index as u64 * PAGE_SIZE;
            let page = match area.layout.page_protection(rva) {
                Some(_) if area.layout.page_has_file_data(rva) => Some(area.shared_page(rva)?),
                _ => None,
            };
            area.shared_pages.push(page);
        }
        Ok(area)
    }

    /// The frame the page at `rva` is shared from: the boot image's own when the
    /// file holds the whole page page-aligned, else a frame filled from the file.
    fn shared_page(&self, rva: u64) -> Result<SharedPage, NtStatus> {
        if let Some(offset) = self.layout.page_file_offset(rva) {
            let physical = self.file_physical + offset;
            if physical.is_multiple_of(PAGE_SIZE) {
                return Ok(SharedPage::BootImage(physical));
            }
        }
        let frame = allocate_zeroed_frame().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        // SAFETY: the frame was just allocated and nothing else uses it yet; the direct map
        // covers it.
        let page = unsafe {
            core::slice::from_raw_parts_mut(phys_to_virt(frame) as *mut u8, PAGE_SIZE as usize)
        };
        self.layout.page_contents(self.file, rva, page);
        Ok(SharedPage::Filled(frame))
    }

    /// MiMapViewOfImageSection: the image at `request.base`, or its preferred base, or
    /// (when that is taken and the image can move) wherever there is room, relocated.
    fn map_view(&self, space: &mut AddressSpace, request: ViewRequest) -> Result<View, NtStatus> {
        let layout = &self.layout;
        let preferred = layout.preferred_base;
        let relocatable = layout.fixups().is_some();
        let base = match request.base {
            Some(base) if base != preferred && !relocatable => {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            Some(base) => space.reserve_view(
                Some(base),
                layout.size,
                false,
                VadKind::Image,
                PAGE_EXECUTE_WRITECOPY,
            )?,
            None => {
                let at_preferred = space.reserve_view(
                    Some(preferred),
                    layout.size,
                    false,
                    VadKind::Image,
                    PAGE_EXECUTE_WRITECOPY,
                );
                match at_preferred {
                    Ok(base) => base,
                    Err(NtStatus::CONFLICTING_ADDRESSES) if relocatable => space.reserve_view(
                        None,
                        layout.size,
                        request.top_down,
                        VadKind::Image,
                        PAGE_EXECUTE_WRITECOPY,
                    )?,
                    Err(status) => return Err(status),
                }
            }
        };
        if let Err(status) = self.populate_view(space, base) {
            let _ = space.unmap_view(base);
            return Err(status);
        }
        let transfer_address = layout.information.transfer_address;
        Ok(View {
            base,
            size: layout.size,
            entry_point: match transfer_address {
                0 => 0,
                address => address - preferred + base,
            },
            status: if base == preferred {
                NtStatus::SUCCESS
            } else {
                NtStatus::IMAGE_NOT_AT_BASE
            },
        })
    }

    /// Maps every committed page of the view reserved at `base` and relocates it when it
    /// is not at the preferred base (LdrRelocateImage's work, done by the kernel here).
    fn populate_view(&self, space: &mut AddressSpace, base: u64) -> Result<(), NtStatus> {
        let layout = &self.layout;
        let delta = base.wrapping_sub(layout.preferred_base);
        let fixups = match delta {
            0 => &[][..],
            _ => layout.fixups().unwrap_or_default(),
        };
        let mut relocated = alloc::vec![false; self.shared_pages.len()];
        for fixup in fixups {
            let (rva, length) = fixup.span();
            relocated[(rva / PAGE_SIZE) as usize] = true;
            relocated[((rva + length - 1) / PAGE_SIZE) as usize] = true;
        }
        let mut copy = alloc::vec![0u8; PAGE_SIZE as usize];
        for (index, shared) in self.shared_pages.iter().enumerate() {
            let rva = index as u64 * PAGE_SIZE;
            let Some(protect) = layout.page_protection(rva) else {
                continue;
            };
            let contents = match shared {
                Some(page) if !relocated[index] => ViewPage::Shared(page.frame()),
                None if !relocated[index] => ViewPage::DemandZero,
                _ => {
                    layout.page_contents(self.file, rva, &mut copy);
                    ViewPage::Private(&copy)
                }
            };
            space.map_view_page(base, base + rva, protect, contents)?;
        }
        for fixup in fixups {
            let (rva, length) = fixup.span();
            let mut value = [0u8; 8];
            let bytes = &mut value[..length as usize];
            space.read(base + rva, bytes)?;
            let moved = u64::from_le_bytes(value).wrapping_add(delta);
            space.write(base + rva, &moved.to_le_bytes()[..length as usize])?;
        }
        Ok(())
    }
}
