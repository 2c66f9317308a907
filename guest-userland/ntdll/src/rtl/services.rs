//! The system services the runtime library calls, with their signatures: ntdll's own
//! exports ([`crate::services`]) declared once more with types, as [`crate::calls`] does
//! for the loader's.

use abi::NtStatus;
use abi::file::IoStatusBlock;
use abi::nt::{ClientId, ObjectAttributes};
use abi::process::InitialTeb;
use abi::user_process::ChildMemory;

unsafe extern "system" {
    #[link_name = "NtClose"]
    pub fn nt_close(handle: u64) -> NtStatus;
    #[link_name = "NtOpenFile"]
    pub fn nt_open_file(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        io_status: *mut IoStatusBlock,
        share_access: u32,
        open_options: u32,
    ) -> NtStatus;
    #[link_name = "NtCreateSection"]
    pub fn nt_create_section(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        maximum_size: *const u64,
        page_protection: u32,
        allocation_attributes: u32,
        file: u64,
    ) -> NtStatus;
    #[link_name = "NtQuerySection"]
    pub fn nt_query_section(
        section: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtCreateProcessEx"]
    pub fn nt_create_process_ex(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        parent_process: u64,
        flags: u32,
        section: u64,
        debug_port: u64,
        token: u64,
        reserved: u32,
    ) -> NtStatus;
    #[link_name = "NtCreateThread"]
    pub fn nt_create_thread(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        process: u64,
        client_id: *mut ClientId,
        context: *const u8,
        initial_teb: *const InitialTeb,
        create_suspended: u32,
    ) -> NtStatus;
    #[link_name = "NtCreateThreadEx"]
    pub fn nt_create_thread_ex(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        process: u64,
        start_routine: u64,
        argument: u64,
        create_flags: u32,
        zero_bits: u64,
        stack_size: u64,
        maximum_stack_size: u64,
        attribute_list: u64,
    ) -> NtStatus;
    #[link_name = "NtQueryInformationThread"]
    pub fn nt_query_information_thread(
        thread: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtQueryInformationProcess"]
    pub fn nt_query_information_process(
        process: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtAllocateVirtualMemory"]
    pub fn nt_allocate_virtual_memory(
        process: u64,
        base: *mut u64,
        zero_bits: u64,
        size: *mut u64,
        allocation_type: u32,
        protect: u32,
    ) -> NtStatus;
    #[link_name = "NtFreeVirtualMemory"]
    pub fn nt_free_virtual_memory(
        process: u64,
        base: *mut u64,
        size: *mut u64,
        free_type: u32,
    ) -> NtStatus;
    #[link_name = "NtProtectVirtualMemory"]
    pub fn nt_protect_virtual_memory(
        process: u64,
        base: *mut u64,
        size: *mut u64,
        new_protect: u32,
        old_protect: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtWriteVirtualMemory"]
    pub fn nt_write_virtual_memory(
        process: u64,
        base: u64,
        buffer: *const u8,
        size: u64,
        written: *mut u64,
    ) -> NtStatus;
    #[link_name = "NtTerminateProcess"]
    pub fn nt_terminate_process(process: u64, exit_status: NtStatus) -> NtStatus;
    #[link_name = "NtYieldExecution"]
    pub fn nt_yield_execution() -> NtStatus;
}

/// The memory services on another process (or this one), through ntdll's own exports:
/// what the classic path's shared steps (`abi::user_process`) and thread creation call.
pub struct Exports;

impl ChildMemory for Exports {
    fn allocate(
        &self,
        process: u64,
        base: u64,
        size: u64,
        allocation_type: u32,
        protect: u32,
    ) -> Result<u64, NtStatus> {
        let (mut base, mut size) = (base, size);
        // SAFETY: the base and size are locals.
        to_result(unsafe {
            nt_allocate_virtual_memory(process, &mut base, 0, &mut size, allocation_type, protect)
        })?;
        Ok(base)
    }

    fn protect(&self, process: u64, base: u64, size: u64, protect: u32) -> Result<(), NtStatus> {
        let (mut base, mut size, mut old) = (base, size, 0);
        // SAFETY: the base, size and old protection are locals.
        to_result(unsafe {
            nt_protect_virtual_memory(process, &mut base, &mut size, protect, &mut old)
        })
    }

    fn write(&self, process: u64, address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
        // SAFETY: the bytes are the caller's; the target is the caller's allocation in
        // the process, or its PEB.
        to_result(unsafe {
            nt_write_virtual_memory(
                process,
                address,
                bytes.as_ptr(),
                bytes.len() as u64,
                core::ptr::null_mut(),
            )
        })
    }
}

/// A status as a `Result`.
pub fn to_result(status: NtStatus) -> Result<(), NtStatus> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}
