//! Virtual memory as the NT services see it: page protections, allocation and free types,
//! the user address range, and `MEMORY_BASIC_INFORMATION` (x64 layout).

use core::mem::offset_of;

/// `PAGE_NOACCESS`: committed, but any access faults.
pub const PAGE_NOACCESS: u32 = 0x01;
pub const PAGE_READONLY: u32 = 0x02;
pub const PAGE_READWRITE: u32 = 0x04;
/// Copy-on-write: only for views of sections (images), never for private memory.
pub const PAGE_WRITECOPY: u32 = 0x08;
pub const PAGE_EXECUTE: u32 = 0x10;
pub const PAGE_EXECUTE_READ: u32 = 0x20;
pub const PAGE_EXECUTE_READWRITE: u32 = 0x40;
pub const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;
/// Modifier: the first access raises STATUS_GUARD_PAGE_VIOLATION and clears it.
pub const PAGE_GUARD: u32 = 0x100;
/// Modifier: uncached (accepted, recorded; caching is not changed).
pub const PAGE_NOCACHE: u32 = 0x200;
/// Modifier: write-combined (accepted, recorded; caching is not changed).
pub const PAGE_WRITECOMBINE: u32 = 0x400;

/// `AllocationType` and `FreeType` flags, and the `State` and `Type` values of
/// [`MemoryBasicInformation`].
pub const MEM_COMMIT: u32 = 0x1000;
pub const MEM_RESERVE: u32 = 0x2000;
pub const MEM_DECOMMIT: u32 = 0x4000;
pub const MEM_RELEASE: u32 = 0x8000;
pub const MEM_FREE: u32 = 0x1_0000;
pub const MEM_PRIVATE: u32 = 0x2_0000;
pub const MEM_MAPPED: u32 = 0x4_0000;
/// The contents of the range are no longer needed (they may be kept or discarded).
pub const MEM_RESET: u32 = 0x8_0000;
/// Place the allocation at the highest free address instead of the lowest.
pub const MEM_TOP_DOWN: u32 = 0x10_0000;
pub const MEM_IMAGE: u32 = 0x100_0000;

/// `MEMORY_INFORMATION_CLASS` `MemoryBasicInformation`: NtQueryVirtualMemory returns a
/// [`MemoryBasicInformation`].
pub const MEMORY_BASIC_INFORMATION_CLASS: u32 = 0;

/// `MM_LOWEST_USER_ADDRESS`: the first 64 KiB are never allocated.
pub const MM_LOWEST_USER_ADDRESS: u64 = 0x1_0000;
/// `MM_HIGHEST_USER_ADDRESS` (x64): the last user byte; the 64 KiB above it up to
/// [`MM_USER_PROBE_ADDRESS`] are never allocated.
pub const MM_HIGHEST_USER_ADDRESS: u64 = 0x7FFF_FFFE_FFFF;
/// `MM_USER_PROBE_ADDRESS`: a user buffer must end at or below it.
pub const MM_USER_PROBE_ADDRESS: u64 = 0x7FFF_FFFF_0000;
/// `MM_HIGHEST_VAD_ADDRESS`: the last byte an allocation may cover.
pub const MM_HIGHEST_VAD_ADDRESS: u64 = MM_HIGHEST_USER_ADDRESS - MM_ALLOCATION_GRANULARITY;
/// Reservations start on multiples of 64 KiB.
pub const MM_ALLOCATION_GRANULARITY: u64 = 0x1_0000;

/// `MEMORY_BASIC_INFORMATION`: one region of pages with the same state, protection and
/// type, inside one allocation (or one free range).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryBasicInformation {
    pub base_address: u64,
    pub allocation_base: u64,
    pub allocation_protect: u32,
    pub partition_id: u16,
    pub reserved: u16,
    pub region_size: u64,
    /// `MEM_COMMIT`, `MEM_RESERVE` or `MEM_FREE`.
    pub state: u32,
    /// The protection of committed pages; 0 for reserved ones, `PAGE_NOACCESS` when free.
    pub protect: u32,
    /// `MEM_PRIVATE`, `MEM_IMAGE` or `MEM_MAPPED`; 0 when free.
    pub kind: u32,
    pub reserved2: u32,
}

const _: () = {
    assert!(size_of::<MemoryBasicInformation>() == 0x30);
    assert!(offset_of!(MemoryBasicInformation, base_address) == 0x00);
    assert!(offset_of!(MemoryBasicInformation, allocation_base) == 0x08);
    assert!(offset_of!(MemoryBasicInformation, allocation_protect) == 0x10);
    assert!(offset_of!(MemoryBasicInformation, partition_id) == 0x14);
    assert!(offset_of!(MemoryBasicInformation, region_size) == 0x18);
    assert!(offset_of!(MemoryBasicInformation, state) == 0x20);
    assert!(offset_of!(MemoryBasicInformation, protect) == 0x24);
    assert!(offset_of!(MemoryBasicInformation, kind) == 0x28);
};
