//! ntdll.dll's exports for programs on ntdll: typed imports (`raw-dylib`, so the import
//! library needs no file of its own) of the system services and runtime-library routines
//! they call, and the console and exit that `rt::entry!(main, ntdll)` gives the runtime.
//! Only what a program references is imported: a program that uses none of these has no
//! import from ntdll.dll.

use abi::NtStatus;
use abi::nt::{ClientId, ObjectAttributes, Peb, RtlUserProcessParameters, UnicodeString};
use abi::user_process::RtlUserProcessInformation;

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    pub fn NtDisplayString(string: *const UnicodeString) -> NtStatus;
    pub fn NtClose(handle: u64) -> NtStatus;
    pub fn NtQuerySystemInformation(
        class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    pub fn NtQueryInformationProcess(
        process: u64,
        class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    pub fn NtQueryInformationThread(
        thread: u64,
        class: u32,
        information: *mut u8,
        length: u32,
        return_length: *mut u32,
    ) -> NtStatus;
    pub fn NtWaitForSingleObject(handle: u64, alertable: u32, timeout: *const i64) -> NtStatus;
    pub fn NtResumeThread(thread: u64, previous_suspend_count: *mut u32) -> NtStatus;
    pub fn NtCreateThreadEx(
        thread: *mut u64,
        desired_access: u32,
        attributes: *const ObjectAttributes,
        process: u64,
        start_routine: extern "system" fn(u64) -> NtStatus,
        argument: u64,
        create_flags: u32,
        zero_bits: u64,
        stack_size: u64,
        maximum_stack_size: u64,
        attribute_list: u64,
    ) -> NtStatus;
    pub fn NtCreateUserProcess(
        process: *mut u64,
        thread: *mut u64,
        process_access: u32,
        thread_access: u32,
        process_attributes: *const ObjectAttributes,
        thread_attributes: *const ObjectAttributes,
        process_flags: u32,
        thread_flags: u32,
        parameters: *const RtlUserProcessParameters,
        create_info: u64,
        attribute_list: u64,
    ) -> NtStatus;
    pub fn RtlInitUnicodeString(destination: *mut UnicodeString, source: *const u16);
    pub fn RtlCopyUnicodeString(destination: *mut UnicodeString, source: *const UnicodeString);
    pub fn RtlEqualUnicodeString(
        first: *const UnicodeString,
        second: *const UnicodeString,
        case_insensitive: u8,
    ) -> u8;
    pub fn RtlAppendUnicodeToString(
        destination: *mut UnicodeString,
        source: *const u16,
    ) -> NtStatus;
    pub fn RtlGetCurrentPeb() -> *mut Peb;
    pub fn RtlCreateProcessParameters(
        parameters: *mut *mut RtlUserProcessParameters,
        image_path_name: *const UnicodeString,
        dll_path: *const UnicodeString,
        current_directory: *const UnicodeString,
        command_line: *const UnicodeString,
        environment: *const u16,
        window_title: *const UnicodeString,
        desktop_info: *const UnicodeString,
        shell_info: *const UnicodeString,
        runtime_data: *const UnicodeString,
    ) -> NtStatus;
    pub fn RtlDestroyProcessParameters(parameters: *mut RtlUserProcessParameters) -> NtStatus;
    pub fn RtlCreateUserProcess(
        image_path: *const UnicodeString,
        attributes: u32,
        parameters: *const RtlUserProcessParameters,
        process_security_descriptor: u64,
        thread_security_descriptor: u64,
        parent_process: u64,
        inherit_handles: u8,
        debug_port: u64,
        token: u64,
        information: *mut RtlUserProcessInformation,
    ) -> NtStatus;
    pub fn RtlCreateUserThread(
        process: u64,
        security_descriptor: u64,
        create_suspended: u8,
        zero_bits: u32,
        maximum_stack_size: u64,
        committed_stack_size: u64,
        start_address: extern "system" fn(u64) -> NtStatus,
        parameter: u64,
        thread: *mut u64,
        client_id: *mut ClientId,
    ) -> NtStatus;
    pub fn RtlExitUserThread(status: NtStatus) -> !;
    pub fn RtlExitUserProcess(status: NtStatus) -> !;
    pub fn RtlAllocateHeap(heap: u64, flags: u32, size: usize) -> u64;
    pub fn RtlFreeHeap(heap: u64, flags: u32, address: u64) -> u8;
    pub fn RtlReAllocateHeap(heap: u64, flags: u32, address: u64, size: usize) -> u64;
    pub fn RtlSizeHeap(heap: u64, flags: u32, address: u64) -> usize;
}

/// `display_string` through ntdll's `NtDisplayString`.
pub fn display_string(text: &[u16]) -> NtStatus {
    crate::syscall::display_string_with(text, NtDisplayString)
}

/// Ends the process through `RtlExitUserProcess`, which lets the loader detach first.
pub fn exit_process(status: NtStatus) -> ! {
    // SAFETY: no pointer arguments; the call does not return.
    unsafe { RtlExitUserProcess(status) }
}
