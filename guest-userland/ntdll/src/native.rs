//! The system services ntdll calls itself, typed: its own exports ([`crate::services`])
//! have no signatures, so these name the same symbols once, for the loader, the runtime
//! library and ntdll's own calls; and the steps rt takes too (`native_steps`, rt's file).

use abi::NtStatus;
use abi::dispatcher::Context;
use abi::file::IoStatusBlock;
use abi::nt::{ClientId, ObjectAttributes, UnicodeString};
use abi::process::InitialTeb;

#[path = "../../rt/src/native_steps.rs"]
mod native_steps;
pub use native_steps::{
    ServiceStubs, create_first_thread, create_image_section, open_image_section,
    query_basic_information,
};

unsafe extern "system" {
    #[link_name = "NtAllocateVirtualMemory"]
    pub fn nt_allocate_virtual_memory(
        process: u64,
        base: *mut u64,
        zero_bits: u64,
        size: *mut u64,
        allocation_type: u32,
        protect: u32,
    ) -> NtStatus;
    #[link_name = "NtClose"]
    pub fn nt_close(handle: u64) -> NtStatus;
    #[link_name = "NtContinue"]
    pub fn nt_continue(context: *const Context, test_alert: u32) -> NtStatus;
    #[link_name = "NtCreateMutant"]
    pub fn nt_create_mutant(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        initial_owner: u32,
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
    #[link_name = "NtDelayExecution"]
    pub fn nt_delay_execution(alertable: u32, interval: *const i64) -> NtStatus;
    #[link_name = "NtDisplayString"]
    pub fn nt_display_string(string: *const UnicodeString) -> NtStatus;
    #[link_name = "NtFreeVirtualMemory"]
    pub fn nt_free_virtual_memory(
        process: u64,
        base: *mut u64,
        size: *mut u64,
        free_type: u32,
    ) -> NtStatus;
    #[link_name = "NtMapViewOfSection"]
    pub fn nt_map_view_of_section(
        section: u64,
        process: u64,
        base: *mut u64,
        zero_bits: u64,
        commit_size: u64,
        offset: *mut u64,
        view_size: *mut u64,
        inherit_disposition: u32,
        allocation_type: u32,
        protect: u32,
    ) -> NtStatus;
    #[link_name = "NtOpenFile"]
    pub fn nt_open_file(
        handle: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        io_status: *mut IoStatusBlock,
        share_access: u32,
        open_options: u32,
    ) -> NtStatus;
    #[link_name = "NtProtectVirtualMemory"]
    pub fn nt_protect_virtual_memory(
        process: u64,
        base: *mut u64,
        size: *mut u64,
        new_protect: u32,
        old_protect: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtQueryInformationProcess"]
    pub fn nt_query_information_process(
        process: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtQueryInformationThread"]
    pub fn nt_query_information_thread(
        thread: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtQuerySection"]
    pub fn nt_query_section(
        section: u64,
        information_class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    #[link_name = "NtReadVirtualMemory"]
    pub fn nt_read_virtual_memory(
        process: u64,
        base: u64,
        buffer: *mut u8,
        size: u64,
        read: *mut u64,
    ) -> NtStatus;
    #[link_name = "NtReleaseMutant"]
    pub fn nt_release_mutant(mutant: u64, previous_count: *mut i32) -> NtStatus;
    #[link_name = "NtTerminateProcess"]
    pub fn nt_terminate_process(process: u64, exit_status: NtStatus) -> NtStatus;
    #[link_name = "NtTerminateThread"]
    pub fn nt_terminate_thread(thread: u64, exit_status: NtStatus) -> NtStatus;
    #[link_name = "NtUnmapViewOfSection"]
    pub fn nt_unmap_view_of_section(process: u64, base: u64) -> NtStatus;
    #[link_name = "NtWaitForSingleObject"]
    pub fn nt_wait_for_single_object(handle: u64, alertable: u32, timeout: *const i64) -> NtStatus;
    #[link_name = "NtWriteVirtualMemory"]
    pub fn nt_write_virtual_memory(
        process: u64,
        base: u64,
        buffer: *const u8,
        size: u64,
        written: *mut u64,
    ) -> NtStatus;
    #[link_name = "NtYieldExecution"]
    pub fn nt_yield_execution() -> NtStatus;
}

/// A status as a `Result`.
pub fn to_result(status: NtStatus) -> Result<(), NtStatus> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}
