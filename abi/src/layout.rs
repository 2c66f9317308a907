//! The guest's physical and virtual memory layout, fixed by this ABI version.
//!
//! Physical (guest-physical) map:
//! ```text
//! 0x0000_1000  BootInfo                 (BootData)
//! 0x0000_2000  command line, 4 KiB      (BootData)
//! 0x0000_3000  boot GDT                 (BootData)
//! 0x0001_0000  boot page tables         (BootData, up to BOOT_PAGE_TABLES_END)
//! 0x0010_0000  PVM VIF pages, one a vCPU (BootData, kvm-pvm hosts only)
//! 0x0020_0000  kernel segments          (Kernel)
//!   ...        free RAM                 (Usable), with a hole at MMIO_HOLE
//! IMAGE_BASE   guest.img, read-only     (Image)
//! ```
//! Virtual map set up by the VMM and kept by the kernel:
//! - `KERNEL_BASE + p` maps physical `p` for `p < KERNEL_WINDOW` (the kernel image lives here);
//! - `DIRECT_MAP_BASE + p` maps all RAM and the image, for the kernel only (not in PML4
//!   slot 256, which kvm-pvm hosts keep for themselves);
//! - the lower half is empty: user address spaces fill it.

pub const PAGE_SIZE: u64 = 0x1000;
pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;

pub const BOOT_INFO_ADDR: u64 = 0x1000;
pub const COMMAND_LINE_ADDR: u64 = 0x2000;
pub const COMMAND_LINE_MAX: u64 = 0x1000;
pub const BOOT_GDT_ADDR: u64 = 0x3000;
pub const BOOT_PAGE_TABLES_ADDR: u64 = 0x1_0000;
pub const BOOT_PAGE_TABLES_END: u64 = 0x10_0000;
/// On kvm-pvm hosts, vCPU `n`'s VIF page (the paravirtual interrupt flag) is at
/// `PVM_VIF_PAGES_ADDR + n * PAGE_SIZE`.
pub const PVM_VIF_PAGES_ADDR: u64 = 0x10_0000;
/// Where the kernel's first PT_LOAD segment is placed (its linker script's `AT()`).
pub const KERNEL_PHYS_BASE: u64 = 0x20_0000;

/// Guest-physical start of the hole below 4 GiB that holds no RAM: the hypercall doorbells,
/// the IOAPIC and the LAPIC live there.
pub const MMIO_HOLE_START: u64 = 0xC000_0000;
pub const MMIO_HOLE_END: u64 = 0x1_0000_0000;
/// guest.img is mapped read-only here; RAM must end below it.
pub const IMAGE_BASE: u64 = 0x10_0000_0000;
/// Largest guest.img the layout allows.
pub const IMAGE_MAX: u64 = 0x4000_0000;

/// Virtual base of the kernel window (the top 2 GiB: `-mcmodel=kernel` addresses).
pub const KERNEL_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Size of the physical range mapped at [`KERNEL_BASE`].
pub const KERNEL_WINDOW: u64 = 0x4000_0000;
/// Virtual base of the direct map of guest-physical memory (PML4 slot 273).
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_8880_0000_0000;
/// The highest user-mode address plus one (the canonical lower half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// Kernel virtual address of guest-physical `phys` through the direct map.
pub const fn phys_to_virt(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}
