//! BootInfo: what the VMM tells the kernel at entry (`rdi` holds its guest-physical address).

/// `BootInfo::magic`: "NTVMBOOT" in little-endian ASCII.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"NTVMBOOT");
/// Bumped whenever [`BootInfo`]'s layout or meaning changes.
pub const BOOT_INFO_VERSION: u32 = 1;
/// `BootInfo::platform_flags`: the host's /dev/kvm is kvm-pvm (KVM without VMX/SVM). A
/// kernel that does not run in PVM mode there is in the hypervisor's bootstrap mode: CPUID
/// shows the host's features rather than the VM's, and a user-mode `syscall` is delivered
/// as a PVM event rather than through LSTAR in kernel mode.
pub const PLATFORM_KVM_PVM: u32 = 1 << 0;
/// `BootInfo::platform_flags`, with [`PLATFORM_KVM_PVM`]: the VMM registered each vCPU's VIF
/// page (`abi::layout::PVM_VIF_PAGES_ADDR`), so the kernel runs natively at hardware CPL 3
/// instead of in bootstrap mode. Every present page-table entry must then allow user
/// access at every level (the host's rule), the virtual interrupt flag is the VIF page's
/// first byte, and a user-mode `syscall` reaches LSTAR as usual.
pub const PLATFORM_PVM_NATIVE: u32 = 1 << 1;
/// Capacity of [`BootInfo::memory_regions`].
pub const MAX_MEMORY_REGIONS: usize = 32;

/// A guest-physical byte range.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub len: u64,
}

impl PhysRange {
    pub const fn new(start: u64, len: u64) -> Self {
        Self { start, len }
    }

    /// One past the last byte, or `None` when the range wraps.
    pub const fn end(&self) -> Option<u64> {
        self.start.checked_add(self.len)
    }
}

/// What a [`MemoryRegion`] holds.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the kernel may allocate. The host hands it over zero-filled.
    Usable = 0,
    /// The kernel's loaded segments.
    Kernel = 1,
    /// Boot info, command line and boot page tables: the kernel may reclaim it once it
    /// runs on its own page tables.
    BootData = 2,
    /// guest.img, mapped read-only: writes to it fault (they are MMIO exits on the host).
    Image = 3,
}

/// One entry of the memory map, page-aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub range: PhysRange,
    /// A raw [`MemoryKind`].
    pub kind: u32,
    pub reserved: u32,
}

impl MemoryRegion {
    pub const EMPTY: Self = Self {
        range: PhysRange::new(0, 0),
        kind: 0,
        reserved: 0,
    };

    pub const fn new(range: PhysRange, kind: MemoryKind) -> Self {
        Self {
            range,
            kind: kind as u32,
            reserved: 0,
        }
    }

    pub const fn kind(&self) -> Option<MemoryKind> {
        match self.kind {
            0 => Some(MemoryKind::Usable),
            1 => Some(MemoryKind::Kernel),
            2 => Some(MemoryKind::BootData),
            3 => Some(MemoryKind::Image),
            _ => None,
        }
    }
}

/// Handed to the kernel's entry point. Lives in boot data; the kernel copies what it keeps.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`BOOT_INFO_VERSION`].
    pub version: u32,
    /// Number of vCPUs; each enters the kernel with `rsi` = its index, 0 for the boot CPU.
    pub cpu_count: u32,
    /// TSC frequency in kHz, as KVM reports it.
    pub tsc_khz: u64,
    /// guest.img, mapped read-only.
    pub image: PhysRange,
    /// The program to run and its arguments as one NT command line (UTF-8). Empty means
    /// the boot configuration's default program.
    pub command_line: PhysRange,
    /// The kernel's loaded segments.
    pub kernel: PhysRange,
    pub memory_region_count: u32,
    /// [`PLATFORM_KVM_PVM`] and future platform bits.
    pub platform_flags: u32,
    pub memory_regions: [MemoryRegion; MAX_MEMORY_REGIONS],
}

impl BootInfo {
    /// The valid part of the memory map.
    pub fn memory_map(&self) -> &[MemoryRegion] {
        let count = (self.memory_region_count as usize).min(MAX_MEMORY_REGIONS);
        &self.memory_regions[..count]
    }
}
