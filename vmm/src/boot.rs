//! Boot: loading the kernel ELF, the boot page tables and GDT, the command line and
//! BootInfo in guest RAM, and the long-mode register state every vCPU starts with.
//!
//! The boot page tables use 2 MiB pages only (no 1 GiB pages on kvm-pvm CPUs):
//! - `KERNEL_BASE + p -> p` for `p < min(KERNEL_WINDOW, end of low RAM)`, writable, executable;
//! - `DIRECT_MAP_BASE + p -> p` for all RAM (writable, no-execute), for the image
//!   (read-only, no-execute) and for the 2 MiB page holding the hypercall doorbells
//!   (uncached, no-execute), so the kernel can ring doorbells before it has its own tables;
//! - the lower half is empty.

use std::collections::BTreeMap;
use std::io::Cursor;

use abi::boot::{
    BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BootInfo, MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion,
    PhysRange,
};
use abi::hypercall::DOORBELL_BASE;
use abi::layout::{
    BOOT_GDT_ADDR, BOOT_INFO_ADDR, BOOT_PAGE_TABLES_ADDR, BOOT_PAGE_TABLES_END, COMMAND_LINE_ADDR,
    COMMAND_LINE_MAX, DIRECT_MAP_BASE, IMAGE_BASE, KERNEL_BASE, KERNEL_PHYS_BASE, KERNEL_WINDOW,
    LARGE_PAGE_SIZE, PAGE_SIZE, phys_to_virt,
};
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs};
use linux_loader::loader::{KernelLoader, elf::Elf};
use vm_memory::GuestAddress;

use crate::image::KernelInfo;
use crate::memory::GuestRam;

/// Boot GDT selectors.
pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;
/// Boot GDT: null, 64-bit ring-0 code, ring-0 data.
const BOOT_GDT: [u64; 3] = [0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF];

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_WRITE_THROUGH: u64 = 1 << 3;
const PTE_CACHE_DISABLE: u64 = 1 << 4;
const PTE_LARGE: u64 = 1 << 7;
const PTE_NO_EXECUTE: u64 = 1 << 63;
const PTE_USER: u64 = 1 << 2;
const TABLE_FLAGS: u64 = PTE_PRESENT | PTE_WRITABLE;

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_SCE: u64 = 1 << 0;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Why the guest could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "kernel segment {index} at physical {start:#x}..{end:#x} is outside \
         {KERNEL_PHYS_BASE:#x}..{limit:#x} (RAM below the hole, inside the kernel window)"
    )]
    SegmentOutsideRam {
        index: usize,
        start: u64,
        end: u64,
        limit: u64,
    },
    #[error(
        "kernel segment {index}: virtual {vaddr:#x} is not KERNEL_BASE + physical {paddr:#x} \
         (set AT() in the linker script)"
    )]
    SegmentNotInWindow {
        index: usize,
        vaddr: u64,
        paddr: u64,
    },
    #[error("kernel entry point {0:#x} is not inside the kernel window")]
    EntryOutsideWindow(u64),
    #[error("cannot load the kernel: {0}")]
    Load(String),
    #[error("command line is {len} bytes; the limit is {COMMAND_LINE_MAX}")]
    CommandLineTooLong { len: usize },
    #[error(
        "the boot page tables do not fit in {BOOT_PAGE_TABLES_ADDR:#x}..{BOOT_PAGE_TABLES_END:#x}"
    )]
    PageTablesTooLarge,
    #[error("cannot write boot data at {0:#x}")]
    Write(u64),
    #[error("memory map has more than {MAX_MEMORY_REGIONS} regions")]
    TooManyRegions,
}

/// Physical range of the loaded kernel, page-aligned.
pub fn kernel_range(kernel: &KernelInfo) -> PhysRange {
    let start = align_down(kernel.phys_start(), PAGE_SIZE);
    let end = align_up(kernel.phys_end(), PAGE_SIZE);
    PhysRange::new(start, end - start)
}

/// Checks the kernel's segments against the layout and loads them at their physical
/// addresses. Returns the entry point (virtual).
pub fn load_kernel(ram: &GuestRam, kernel: &KernelInfo, elf: &[u8]) -> Result<u64, Error> {
    let limit = ram.low_end().min(KERNEL_WINDOW);
    for (index, segment) in kernel.segments.iter().enumerate() {
        let end = segment.paddr.saturating_add(segment.mem_size);
        if segment.paddr < KERNEL_PHYS_BASE || end > limit {
            return Err(Error::SegmentOutsideRam {
                index,
                start: segment.paddr,
                end,
                limit,
            });
        }
        if segment.vaddr != KERNEL_BASE.wrapping_add(segment.paddr) {
            return Err(Error::SegmentNotInWindow {
                index,
                vaddr: segment.vaddr,
                paddr: segment.paddr,
            });
        }
    }
    if kernel.entry < KERNEL_BASE || kernel.entry - KERNEL_BASE >= limit {
        return Err(Error::EntryOutsideWindow(kernel.entry));
    }
    let mut reader = Cursor::new(elf);
    Elf::load(
        ram.memory(),
        None,
        &mut reader,
        Some(GuestAddress(KERNEL_PHYS_BASE)),
    )
    .map_err(|e| Error::Load(e.to_string()))?;
    Ok(kernel.entry)
}

/// Builds the boot page tables (see the module docs) for RAM and an image of `image_len`.
///
/// `user_bit_everywhere` sets the user-access bit in every entry at every level, as a
/// kvm-pvm host requires of a guest kernel that runs natively (at hardware CPL 3).
pub fn write_page_tables(
    ram: &GuestRam,
    image_len: u64,
    user_bit_everywhere: bool,
) -> Result<(), Error> {
    let mut tables = PageTables::new(if user_bit_everywhere { PTE_USER } else { 0 });
    let window = ram.low_end().min(KERNEL_WINDOW);
    for p in (0..window).step_by(LARGE_PAGE_SIZE as usize) {
        tables.map_2m(KERNEL_BASE + p, p, PTE_WRITABLE)?;
    }
    for &(start, len) in ram.ranges() {
        for p in (start..start + len).step_by(LARGE_PAGE_SIZE as usize) {
            tables.map_2m(DIRECT_MAP_BASE + p, p, PTE_WRITABLE | PTE_NO_EXECUTE)?;
        }
    }
    let image_end = IMAGE_BASE + align_up(image_len, LARGE_PAGE_SIZE);
    for p in (IMAGE_BASE..image_end).step_by(LARGE_PAGE_SIZE as usize) {
        tables.map_2m(DIRECT_MAP_BASE + p, p, PTE_NO_EXECUTE)?;
    }
    let doorbells = align_down(DOORBELL_BASE, LARGE_PAGE_SIZE);
    tables.map_2m(
        DIRECT_MAP_BASE + doorbells,
        doorbells,
        PTE_WRITABLE | PTE_WRITE_THROUGH | PTE_CACHE_DISABLE | PTE_NO_EXECUTE,
    )?;
    tables.write(ram)
}

/// Page tables under construction: only non-zero entries are recorded and written, so
/// the (already zero) table pages are not touched beyond them.
struct PageTables {
    entries: BTreeMap<u64, u64>,
    /// Flags every entry carries (the user bit on kvm-pvm hosts).
    common_flags: u64,
    /// Table page of each (level, index path) already allocated.
    tables: BTreeMap<(u8, u64), u64>,
    next_free: u64,
}

impl PageTables {
    const PML4: u64 = BOOT_PAGE_TABLES_ADDR;

    fn new(common_flags: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            common_flags,
            tables: BTreeMap::new(),
            next_free: Self::PML4 + PAGE_SIZE,
        }
    }

    /// The table at `level` for the virtual prefix `key`, allocated on first use, and
    /// linked from `parent_entry`.
    fn table(&mut self, level: u8, key: u64, parent_entry: u64) -> Result<u64, Error> {
        if let Some(&table) = self.tables.get(&(level, key)) {
            return Ok(table);
        }
        let table = self.next_free;
        if table + PAGE_SIZE > BOOT_PAGE_TABLES_END {
            return Err(Error::PageTablesTooLarge);
        }
        self.next_free += PAGE_SIZE;
        self.tables.insert((level, key), table);
        self.entries
            .insert(parent_entry, table | TABLE_FLAGS | self.common_flags);
        Ok(table)
    }

    fn map_2m(&mut self, virt: u64, phys: u64, flags: u64) -> Result<(), Error> {
        let index = |shift: u32| (virt >> shift) & 0x1ff;
        let pdpt = self.table(3, virt >> 39, Self::PML4 + index(39) * 8)?;
        let pd = self.table(2, virt >> 30, pdpt + index(30) * 8)?;
        self.entries.insert(
            pd + index(21) * 8,
            phys | PTE_PRESENT | PTE_LARGE | flags | self.common_flags,
        );
        Ok(())
    }

    /// Writes the recorded entries, one guest write per run of adjacent entries.
    fn write(&self, ram: &GuestRam) -> Result<(), Error> {
        let mut run_start = 0;
        let mut run: Vec<u8> = Vec::new();
        for (&addr, &value) in &self.entries {
            if !run.is_empty() && run_start + run.len() as u64 != addr {
                write_at(ram, run_start, &run)?;
                run.clear();
            }
            if run.is_empty() {
                run_start = addr;
            }
            run.extend_from_slice(&value.to_le_bytes());
        }
        if !run.is_empty() {
            write_at(ram, run_start, &run)?;
        }
        Ok(())
    }
}

fn write_at(ram: &GuestRam, addr: u64, data: &[u8]) -> Result<(), Error> {
    if ram.write(addr, data) {
        Ok(())
    } else {
        Err(Error::Write(addr))
    }
}

/// Writes the boot GDT.
pub fn write_gdt(ram: &GuestRam) -> Result<(), Error> {
    let bytes: Vec<u8> = BOOT_GDT.iter().flat_map(|d| d.to_le_bytes()).collect();
    write_at(ram, BOOT_GDT_ADDR, &bytes)
}

/// Writes the command line and returns its range.
pub fn write_command_line(ram: &GuestRam, line: &str) -> Result<PhysRange, Error> {
    if line.len() as u64 > COMMAND_LINE_MAX {
        return Err(Error::CommandLineTooLong { len: line.len() });
    }
    if !line.is_empty() {
        write_at(ram, COMMAND_LINE_ADDR, line.as_bytes())?;
    }
    Ok(PhysRange::new(COMMAND_LINE_ADDR, line.len() as u64))
}

/// The memory map: BootData below the kernel, the kernel, usable RAM, the image.
pub fn memory_map(
    ram_ranges: &[(u64, u64)],
    kernel: PhysRange,
    image_len: u64,
) -> Result<Vec<MemoryRegion>, Error> {
    let kernel_end = kernel.start + kernel.len;
    let mut map = Vec::new();
    let mut push = |start: u64, end: u64, kind| {
        if end > start {
            map.push(MemoryRegion::new(PhysRange::new(start, end - start), kind));
        }
    };
    for &(start, len) in ram_ranges {
        let end = start + len;
        if start < KERNEL_PHYS_BASE {
            push(start, KERNEL_PHYS_BASE.min(end), MemoryKind::BootData);
        }
        let usable_start = start.max(KERNEL_PHYS_BASE);
        if kernel.start >= usable_start && kernel_end <= end {
            push(usable_start, kernel.start, MemoryKind::Usable);
            push(kernel.start, kernel_end, MemoryKind::Kernel);
            push(kernel_end, end, MemoryKind::Usable);
        } else {
            push(usable_start, end, MemoryKind::Usable);
        }
    }
    push(
        IMAGE_BASE,
        IMAGE_BASE + align_up(image_len, PAGE_SIZE),
        MemoryKind::Image,
    );
    if map.len() > MAX_MEMORY_REGIONS {
        return Err(Error::TooManyRegions);
    }
    Ok(map)
}

/// Fills a BootInfo.
pub fn boot_info(
    platform_flags: u32,
    cpu_count: u32,
    tsc_khz: u64,
    image_len: u64,
    command_line: PhysRange,
    kernel: PhysRange,
    map: &[MemoryRegion],
) -> BootInfo {
    let mut memory_regions = [MemoryRegion::EMPTY; MAX_MEMORY_REGIONS];
    let count = map.len().min(MAX_MEMORY_REGIONS);
    memory_regions[..count].copy_from_slice(&map[..count]);
    BootInfo {
        magic: BOOT_INFO_MAGIC,
        version: BOOT_INFO_VERSION,
        cpu_count,
        tsc_khz,
        image: PhysRange::new(IMAGE_BASE, image_len),
        command_line,
        kernel,
        memory_region_count: count as u32,
        platform_flags,
        memory_regions,
    }
}

/// BootInfo as the bytes of its `#[repr(C)]` layout (little-endian, no padding).
pub fn boot_info_bytes(info: &BootInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(size_of::<BootInfo>());
    let range = |b: &mut Vec<u8>, r: &PhysRange| {
        b.extend_from_slice(&r.start.to_le_bytes());
        b.extend_from_slice(&r.len.to_le_bytes());
    };
    b.extend_from_slice(&info.magic.to_le_bytes());
    b.extend_from_slice(&info.version.to_le_bytes());
    b.extend_from_slice(&info.cpu_count.to_le_bytes());
    b.extend_from_slice(&info.tsc_khz.to_le_bytes());
    range(&mut b, &info.image);
    range(&mut b, &info.command_line);
    range(&mut b, &info.kernel);
    b.extend_from_slice(&info.memory_region_count.to_le_bytes());
    b.extend_from_slice(&info.platform_flags.to_le_bytes());
    for region in &info.memory_regions {
        range(&mut b, &region.range);
        b.extend_from_slice(&region.kind.to_le_bytes());
        b.extend_from_slice(&region.reserved.to_le_bytes());
    }
    b
}

/// Writes BootInfo at BOOT_INFO_ADDR, only up to the last used memory region.
pub fn write_boot_info(ram: &GuestRam, info: &BootInfo) -> Result<(), Error> {
    let bytes = boot_info_bytes(info);
    let used = std::mem::offset_of!(BootInfo, memory_regions)
        + info.memory_region_count as usize * size_of::<MemoryRegion>();
    write_at(ram, BOOT_INFO_ADDR, &bytes[..used])
}

/// Long-mode special registers, starting from KVM's reset state `base`.
pub fn long_mode_sregs(base: &kvm_sregs) -> kvm_sregs {
    let mut sregs = *base;
    let code = kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: CODE_SELECTOR,
        type_: 0xb, // execute/read, accessed
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 1,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    let data = kvm_segment {
        selector: DATA_SELECTOR,
        type_: 0x3, // read/write, accessed
        db: 1,
        l: 0,
        ..code
    };
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: 0,
        limit: 0x67,
        selector: 0,
        type_: 0xb, // busy 64-bit TSS
        present: 1,
        dpl: 0,
        db: 0,
        s: 0,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    sregs.gdt.base = phys_to_virt(BOOT_GDT_ADDR);
    sregs.gdt.limit = (BOOT_GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = BOOT_PAGE_TABLES_ADDR;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    sregs
}

/// General registers at the kernel entry for vCPU `index`.
pub fn entry_regs(entry: u64, index: u32) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rdi: BOOT_INFO_ADDR,
        rsi: u64::from(index),
        rsp: 0,
        rflags: 0x2,
        ..Default::default()
    }
}

/// x87/SSE state at entry: default control words.
pub fn entry_fpu() -> kvm_fpu {
    kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    }
}

const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

const fn align_up(value: u64, align: u64) -> u64 {
    value.saturating_add(align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Segment;

    fn read_u64(ram: &GuestRam, addr: u64) -> u64 {
        u64::from_le_bytes(ram.read(addr, 8).unwrap().try_into().unwrap())
    }

    /// Walks the page tables like the MMU (2 MiB leaves only).
    fn translate(ram: &GuestRam, virt: u64) -> Option<(u64, u64)> {
        let mut table = BOOT_PAGE_TABLES_ADDR;
        for shift in [39, 30] {
            let entry = read_u64(ram, table + ((virt >> shift) & 0x1ff) * 8);
            if entry & PTE_PRESENT == 0 {
                return None;
            }
            table = entry & 0x000f_ffff_ffff_f000;
        }
        let entry = read_u64(ram, table + ((virt >> 21) & 0x1ff) * 8);
        (entry & PTE_PRESENT != 0)
            .then_some(((entry & 0x000f_ffff_ffe0_0000) | (virt & 0x1f_ffff), entry))
    }

    #[test]
    fn page_tables_map_the_layout() {
        let ram = GuestRam::new(64 << 20).unwrap();
        write_page_tables(&ram, 5 << 20, false).unwrap();
        assert_eq!(
            translate(&ram, KERNEL_BASE + 0x20_1234).unwrap().0,
            0x20_1234
        );
        assert_eq!(
            translate(&ram, KERNEL_BASE + (63 << 20)).unwrap().0,
            63 << 20
        );
        assert!(translate(&ram, KERNEL_BASE + (64 << 20)).is_none());
        let (phys, entry) = translate(&ram, DIRECT_MAP_BASE + 0x1000).unwrap();
        assert_eq!(phys, 0x1000);
        assert_ne!(entry & PTE_NO_EXECUTE, 0);
        assert!(translate(&ram, DIRECT_MAP_BASE + (64 << 20)).is_none());
        let (phys, entry) = translate(&ram, DIRECT_MAP_BASE + IMAGE_BASE + (5 << 20)).unwrap();
        assert_eq!(phys, IMAGE_BASE + (5 << 20));
        assert_eq!(entry & PTE_WRITABLE, 0);
        assert!(translate(&ram, DIRECT_MAP_BASE + IMAGE_BASE + (6 << 20)).is_none());
        let (phys, _) = translate(&ram, DIRECT_MAP_BASE + DOORBELL_BASE + 8).unwrap();
        assert_eq!(phys, DOORBELL_BASE + 8);
        assert!(translate(&ram, 0).is_none());
        assert!(translate(&ram, 0x20_0000).is_none());
        assert_eq!(entry & PTE_USER, 0, "kernel mappings are supervisor-only");
    }

    #[test]
    fn page_tables_for_a_native_pvm_kernel_allow_user_access_at_every_level() {
        let ram = GuestRam::new(64 << 20).unwrap();
        write_page_tables(&ram, 5 << 20, true).unwrap();
        for virt in [
            KERNEL_BASE + 0x20_0000,
            DIRECT_MAP_BASE + 0x1000,
            DIRECT_MAP_BASE + IMAGE_BASE,
        ] {
            let mut table = BOOT_PAGE_TABLES_ADDR;
            for shift in [39, 30, 21] {
                let entry = read_u64(&ram, table + ((virt >> shift) & 0x1ff) * 8);
                assert_ne!(entry & PTE_PRESENT, 0, "{virt:#x} level {shift}");
                assert_ne!(entry & PTE_USER, 0, "{virt:#x} level {shift}");
                table = entry & 0x000f_ffff_ffff_f000;
            }
        }
        assert_ne!(
            DIRECT_MAP_BASE >> 39 & 0x1ff,
            256,
            "kvm-pvm keeps PML4 slot 256"
        );
    }

    #[test]
    fn page_tables_fit_the_largest_guest() {
        let ram = GuestRam::new(crate::memory::MAX_MEMORY).unwrap();
        write_page_tables(&ram, abi::layout::IMAGE_MAX, false).unwrap();
        let top = 0xF_C000_0000 - 1;
        assert_eq!(translate(&ram, DIRECT_MAP_BASE + top).unwrap().0, top);
    }

    #[test]
    fn memory_map_covers_ram() {
        let kernel = PhysRange::new(0x20_0000, 0x3000);
        let map = memory_map(&[(0, 3 << 30), (4 << 30, 1 << 30)], kernel, 0x1234).unwrap();
        let expect = [
            (0, 0x20_0000, MemoryKind::BootData),
            (0x20_0000, 0x3000, MemoryKind::Kernel),
            (0x20_3000, (3 << 30) - 0x20_3000, MemoryKind::Usable),
            (4 << 30, 1 << 30, MemoryKind::Usable),
            (IMAGE_BASE, 0x2000, MemoryKind::Image),
        ];
        assert_eq!(map.len(), expect.len());
        for (region, (start, len, kind)) in map.iter().zip(expect) {
            assert_eq!((region.range.start, region.range.len), (start, len));
            assert_eq!(region.kind(), Some(kind));
        }
        // A kernel placed above its base leaves usable RAM before it.
        let map = memory_map(&[(0, 16 << 20)], PhysRange::new(0x40_0000, 0x1000), 0).unwrap();
        assert_eq!(map[1].kind(), Some(MemoryKind::Usable));
        assert_eq!(map[1].range, PhysRange::new(0x20_0000, 0x20_0000));
    }

    #[test]
    fn boot_info_bytes_match_the_layout() {
        let info = boot_info(
            abi::boot::PLATFORM_KVM_PVM,
            2,
            2_600_000,
            99,
            PhysRange::new(0x2000, 5),
            PhysRange::new(1, 2),
            &[],
        );
        let bytes = boot_info_bytes(&info);
        assert_eq!(bytes.len(), size_of::<BootInfo>());
        assert_eq!(&bytes[..8], b"NTVMBOOT");
        assert_eq!(
            bytes[std::mem::offset_of!(BootInfo, platform_flags)..][..4],
            abi::boot::PLATFORM_KVM_PVM.to_le_bytes()
        );
        assert_eq!(
            bytes[std::mem::offset_of!(BootInfo, tsc_khz)..][..8],
            2_600_000u64.to_le_bytes()
        );
        assert_eq!(
            bytes[std::mem::offset_of!(BootInfo, command_line)..][..8],
            0x2000u64.to_le_bytes()
        );
    }

    #[test]
    fn kernel_segments_are_checked() {
        let ram = GuestRam::new(16 << 20).unwrap();
        let segment = Segment {
            paddr: 0x20_0000,
            vaddr: KERNEL_BASE + 0x20_0000,
            file_size: 0,
            mem_size: 0x1000,
        };
        let kernel = |segment: Segment, entry| KernelInfo {
            entry,
            segments: vec![segment],
        };
        let low = Segment {
            paddr: 0x1000,
            vaddr: KERNEL_BASE + 0x1000,
            ..segment
        };
        assert!(matches!(
            load_kernel(&ram, &kernel(low, KERNEL_BASE + 0x1000), &[]),
            Err(Error::SegmentOutsideRam { .. })
        ));
        let big = Segment {
            mem_size: 16 << 20,
            ..segment
        };
        assert!(matches!(
            load_kernel(&ram, &kernel(big, KERNEL_BASE + 0x20_0000), &[]),
            Err(Error::SegmentOutsideRam { .. })
        ));
        let skewed = Segment {
            vaddr: 0x20_0000,
            ..segment
        };
        assert!(matches!(
            load_kernel(&ram, &kernel(skewed, KERNEL_BASE + 0x20_0000), &[]),
            Err(Error::SegmentNotInWindow { .. })
        ));
        assert!(matches!(
            load_kernel(&ram, &kernel(segment, 0x20_0000), &[]),
            Err(Error::EntryOutsideWindow(_))
        ));
    }

    #[test]
    fn command_line_limit() {
        let ram = GuestRam::new(16 << 20).unwrap();
        let range = write_command_line(&ram, "exit 42").unwrap();
        assert_eq!(range, PhysRange::new(COMMAND_LINE_ADDR, 7));
        assert_eq!(ram.read(COMMAND_LINE_ADDR, 7).unwrap(), b"exit 42");
        let long = "x".repeat(COMMAND_LINE_MAX as usize + 1);
        assert!(matches!(
            write_command_line(&ram, &long),
            Err(Error::CommandLineTooLong { .. })
        ));
    }
}
