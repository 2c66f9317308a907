//! NtQuerySystemInformation: the `SYSTEM_INFORMATION_CLASS` values the kernel answers and
//! their x64 structures, pinned by offset assertions.

use core::mem::offset_of;

/// `SystemBasicInformation`: a [`SystemBasicInformation`]; the length must be exact.
pub const SYSTEM_BASIC_INFORMATION_CLASS: u32 = 0;
/// `SystemPerformanceInformation`: a [`SystemPerformanceInformation`].
pub const SYSTEM_PERFORMANCE_INFORMATION_CLASS: u32 = 2;
/// `SystemMemoryListInformation`: a [`SystemMemoryListInformation`].
pub const SYSTEM_MEMORY_LIST_INFORMATION_CLASS: u32 = 80;
/// Not an NT class: how the processors switch address spaces, a
/// [`SystemAddressSpaceSwitchInformation`].
pub const SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS: u32 = 0x1001;

/// `SYSTEM_BASIC_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemBasicInformation {
    pub reserved: u32,
    /// In 100 ns units.
    pub timer_resolution: u32,
    pub page_size: u32,
    /// Every frame the PFN database manages.
    pub number_of_physical_pages: u32,
    pub lowest_physical_page_number: u32,
    pub highest_physical_page_number: u32,
    pub allocation_granularity: u32,
    pub reserved2: u32,
    pub minimum_user_mode_address: u64,
    pub maximum_user_mode_address: u64,
    pub active_processors_affinity_mask: u64,
    pub number_of_processors: i8,
    pub reserved3: [u8; 7],
}

/// `SYSTEM_PERFORMANCE_INFORMATION`, in its 0x138-byte form. Counters the kernel does not
/// keep read as zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemPerformanceInformation {
    pub idle_process_time: i64,
    pub io_read_transfer_count: i64,
    pub io_write_transfer_count: i64,
    pub io_other_transfer_count: i64,
    pub io_read_operation_count: u32,
    pub io_write_operation_count: u32,
    pub io_other_operation_count: u32,
    /// Free and zeroed frames: what can be handed out now.
    pub available_pages: u32,
    pub committed_pages: u32,
    pub commit_limit: u32,
    pub peak_commitment: u32,
    pub page_fault_count: u32,
    pub copy_on_write_count: u32,
    pub transition_count: u32,
    pub cache_transition_count: u32,
    /// Faults resolved with a zero-filled page.
    pub demand_zero_count: u32,
    pub page_read_count: u32,
    pub page_read_io_count: u32,
    pub cache_read_count: u32,
    pub cache_io_count: u32,
    pub dirty_pages_write_count: u32,
    pub dirty_write_io_count: u32,
    pub mapped_pages_write_count: u32,
    pub mapped_write_io_count: u32,
    pub paged_pool_pages: u32,
    /// Pages' worth of bytes allocated from the kernel pool, rounded up.
    pub non_paged_pool_pages: u32,
    pub paged_pool_allocs: u32,
    pub paged_pool_frees: u32,
    pub non_paged_pool_allocs: u32,
    pub non_paged_pool_frees: u32,
    pub reserved: [u32; 44],
}

impl Default for SystemPerformanceInformation {
    fn default() -> Self {
        // SAFETY: plain integers, for which all-zero bytes are a valid value.
        unsafe { core::mem::zeroed() }
    }
}

/// `SYSTEM_MEMORY_LIST_INFORMATION`: frames by PFN list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemMemoryListInformation {
    /// Free frames known to be zero-filled.
    pub zero_page_count: u64,
    /// Free frames that must be zeroed before use.
    pub free_page_count: u64,
    pub modified_page_count: u64,
    pub modified_no_write_page_count: u64,
    pub bad_page_count: u64,
    pub page_count_by_priority: [u64; 8],
    pub repurposed_pages_by_priority: [u64; 8],
    pub modified_page_count_page_file: u64,
}

/// How the processors switch address spaces (CR3 loads), since boot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemAddressSpaceSwitchInformation {
    /// 1 when translations are tagged with PCIDs, so a load may keep what the TLB holds of
    /// the address space loaded; 0 when every load flushes the TLB.
    pub process_context_ids: u32,
    pub reserved: u32,
    /// CR3 loads on every processor: switches between processes, and flushes.
    pub loads: u64,
    /// Of those, the loads that kept the translations the address space had left on the
    /// processor when it last ran there.
    pub loads_keeping_translations: u64,
}

const _: () = {
    assert!(size_of::<SystemAddressSpaceSwitchInformation>() == 0x18);
    assert!(size_of::<SystemBasicInformation>() == 0x40);
    assert!(offset_of!(SystemBasicInformation, number_of_physical_pages) == 0x0C);
    assert!(offset_of!(SystemBasicInformation, allocation_granularity) == 0x18);
    assert!(offset_of!(SystemBasicInformation, minimum_user_mode_address) == 0x20);
    assert!(offset_of!(SystemBasicInformation, maximum_user_mode_address) == 0x28);
    assert!(offset_of!(SystemBasicInformation, active_processors_affinity_mask) == 0x30);
    assert!(offset_of!(SystemBasicInformation, number_of_processors) == 0x38);
    assert!(size_of::<SystemPerformanceInformation>() == 0x138);
    assert!(offset_of!(SystemPerformanceInformation, available_pages) == 0x2C);
    assert!(offset_of!(SystemPerformanceInformation, page_fault_count) == 0x3C);
    assert!(offset_of!(SystemPerformanceInformation, demand_zero_count) == 0x4C);
    assert!(offset_of!(SystemPerformanceInformation, non_paged_pool_pages) == 0x74);
    assert!(offset_of!(SystemPerformanceInformation, non_paged_pool_allocs) == 0x80);
    assert!(offset_of!(SystemPerformanceInformation, non_paged_pool_frees) == 0x84);
    assert!(size_of::<SystemMemoryListInformation>() == 0xB0);
    assert!(offset_of!(SystemMemoryListInformation, free_page_count) == 0x08);
    assert!(offset_of!(SystemMemoryListInformation, page_count_by_priority) == 0x28);
    assert!(offset_of!(SystemMemoryListInformation, modified_page_count_page_file) == 0xA8);
};
