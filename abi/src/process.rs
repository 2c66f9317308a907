//! Processes: NtCreateUserProcess flags, NtQueryInformationProcess's
//! `PROCESS_BASIC_INFORMATION`, and NtQuerySystemInformation's `SystemProcessInformation`
//! records, with their x64 layouts pinned by offset assertions.

use core::mem::offset_of;

use crate::nt::{ClientId, UnicodeString};

/// `PROCESS_CREATE_FLAGS_INHERIT_HANDLES`: the child gets the parent's inheritable handles.
pub const PROCESS_CREATE_FLAGS_INHERIT_HANDLES: u32 = 0x0000_0004;
/// The NtCreateUserProcess process flags the kernel accepts.
pub const PROCESS_CREATE_FLAGS_VALID: u32 = PROCESS_CREATE_FLAGS_INHERIT_HANDLES;

/// `PROCESSINFOCLASS` ProcessBasicInformation.
pub const PROCESS_BASIC_INFORMATION_CLASS: u32 = 0;

/// `PROCESS_BASIC_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessBasicInformation {
    /// STATUS_PENDING while the process runs, then its exit status.
    pub exit_status: u32,
    pub reserved: u32,
    pub peb_base_address: u64,
    pub affinity_mask: u64,
    /// `KPRIORITY`: the priority class's base.
    pub base_priority: i32,
    pub reserved2: u32,
    pub unique_process_id: u64,
    pub inherited_from_unique_process_id: u64,
}

/// `SystemProcessInformation`: one [`SystemProcessInformation`] per process, each followed
/// by its threads' [`SystemThreadInformation`] and its image name.
pub const SYSTEM_PROCESS_INFORMATION_CLASS: u32 = 5;

/// Not an NT class: the counts of the kernel's own process-notify callback
/// (`PsSetCreateProcessNotifyRoutine`), a [`SystemProcessNotifyCounters`].
pub const SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS: u32 = 0x1000;

/// `SYSTEM_PROCESS_INFORMATION`. Counters the kernel does not keep read as zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemProcessInformation {
    /// Bytes from this record to the next; 0 on the last.
    pub next_entry_offset: u32,
    pub number_of_threads: u32,
    pub working_set_private_size: i64,
    pub hard_fault_count: u32,
    pub number_of_threads_high_watermark: u32,
    pub cycle_time: u64,
    /// 100 ns units since boot.
    pub create_time: i64,
    pub user_time: i64,
    pub kernel_time: i64,
    /// Points into the same buffer, after the thread records.
    pub image_name: UnicodeString,
    pub base_priority: i32,
    pub reserved: u32,
    pub unique_process_id: u64,
    pub inherited_from_unique_process_id: u64,
    pub handle_count: u32,
    pub session_id: u32,
    pub unique_process_key: u64,
    pub peak_virtual_size: u64,
    pub virtual_size: u64,
    pub page_fault_count: u32,
    pub reserved2: u32,
    pub peak_working_set_size: u64,
    pub working_set_size: u64,
    pub quota_peak_paged_pool_usage: u64,
    pub quota_paged_pool_usage: u64,
    pub quota_peak_non_paged_pool_usage: u64,
    pub quota_non_paged_pool_usage: u64,
    pub pagefile_usage: u64,
    pub peak_pagefile_usage: u64,
    pub private_page_count: u64,
    pub read_operation_count: i64,
    pub write_operation_count: i64,
    pub other_operation_count: i64,
    pub read_transfer_count: i64,
    pub write_transfer_count: i64,
    pub other_transfer_count: i64,
}

/// `SYSTEM_THREAD_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemThreadInformation {
    pub kernel_time: i64,
    pub user_time: i64,
    pub create_time: i64,
    pub wait_time: u32,
    pub reserved: u32,
    pub start_address: u64,
    pub client_id: ClientId,
    pub priority: i32,
    pub base_priority: i32,
    pub context_switches: u32,
    /// `KTHREAD_STATE`.
    pub thread_state: u32,
    /// `KWAIT_REASON`.
    pub wait_reason: u32,
    pub reserved2: u32,
}

/// What the kernel's process-notify callback counted since boot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemProcessNotifyCounters {
    pub created: u64,
    pub exited: u64,
}

const _: () = {
    assert!(size_of::<ProcessBasicInformation>() == 0x30);
    assert!(offset_of!(ProcessBasicInformation, peb_base_address) == 0x08);
    assert!(offset_of!(ProcessBasicInformation, affinity_mask) == 0x10);
    assert!(offset_of!(ProcessBasicInformation, base_priority) == 0x18);
    assert!(offset_of!(ProcessBasicInformation, unique_process_id) == 0x20);
    assert!(offset_of!(ProcessBasicInformation, inherited_from_unique_process_id) == 0x28);
    assert!(size_of::<SystemProcessInformation>() == 0x100);
    assert!(offset_of!(SystemProcessInformation, create_time) == 0x20);
    assert!(offset_of!(SystemProcessInformation, image_name) == 0x38);
    assert!(offset_of!(SystemProcessInformation, base_priority) == 0x48);
    assert!(offset_of!(SystemProcessInformation, unique_process_id) == 0x50);
    assert!(offset_of!(SystemProcessInformation, inherited_from_unique_process_id) == 0x58);
    assert!(offset_of!(SystemProcessInformation, handle_count) == 0x60);
    assert!(offset_of!(SystemProcessInformation, virtual_size) == 0x78);
    assert!(offset_of!(SystemProcessInformation, page_fault_count) == 0x80);
    assert!(offset_of!(SystemProcessInformation, private_page_count) == 0xC8);
    assert!(offset_of!(SystemProcessInformation, other_transfer_count) == 0xF8);
    assert!(size_of::<SystemThreadInformation>() == 0x50);
    assert!(offset_of!(SystemThreadInformation, wait_time) == 0x18);
    assert!(offset_of!(SystemThreadInformation, start_address) == 0x20);
    assert!(offset_of!(SystemThreadInformation, client_id) == 0x28);
    assert!(offset_of!(SystemThreadInformation, priority) == 0x38);
    assert!(offset_of!(SystemThreadInformation, thread_state) == 0x44);
    assert!(offset_of!(SystemThreadInformation, wait_reason) == 0x48);
};

/// `CONTEXT` (x64): its size and alignment, and the offsets NtCreateThread reads. The
/// rest of the 0x4D0 bytes (segments, flags, the other registers, floating point) is not
/// used to start a thread.
pub const CONTEXT_SIZE: usize = 0x4D0;
pub const CONTEXT_ALIGNMENT: u64 = 16;
pub const CONTEXT_FLAGS_OFFSET: usize = 0x30;
pub const CONTEXT_RCX_OFFSET: usize = 0x80;
pub const CONTEXT_RDX_OFFSET: usize = 0x88;
pub const CONTEXT_RSP_OFFSET: usize = 0x98;
pub const CONTEXT_RIP_OFFSET: usize = 0xF8;
/// `CONTEXT_AMD64 | CONTEXT_CONTROL | CONTEXT_INTEGER | CONTEXT_SEGMENTS | CONTEXT_FLOATING_POINT`.
pub const CONTEXT_FULL: u32 = 0x0010_000B;

/// `INITIAL_TEB`: the stack a thread created with NtCreateThread runs on, which its
/// creator allocated.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InitialTeb {
    pub old_stack_base: u64,
    pub old_stack_limit: u64,
    /// The top of the stack (highest address, exclusive).
    pub stack_base: u64,
    /// The lowest committed address of the stack.
    pub stack_limit: u64,
    /// The base of the stack's reservation.
    pub stack_allocation_base: u64,
}

const _: () = {
    assert!(size_of::<InitialTeb>() == 0x28);
    assert!(core::mem::offset_of!(InitialTeb, stack_base) == 0x10);
    assert!(core::mem::offset_of!(InitialTeb, stack_allocation_base) == 0x20);
};
