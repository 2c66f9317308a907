//! x64 layouts of the NT structures user mode sees: TEB, PEB, process parameters.
//!
//! Pointers are `u64` user-mode addresses: the kernel fills these structures in an address
//! space that is not always the current one. Offsets are pinned by assertions below.

use core::mem::offset_of;

/// `UNICODE_STRING`: lengths in bytes, UTF-16 buffer not necessarily NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnicodeString {
    pub length: u16,
    pub maximum_length: u16,
    pub reserved: u32,
    pub buffer: u64,
}

/// `CLIENT_ID`: process and thread IDs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientId {
    pub unique_process: u64,
    pub unique_thread: u64,
}

/// `NT_TIB` followed by the start of `TEB`, up to `LastErrorValue`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Teb {
    pub exception_list: u64,
    pub stack_base: u64,
    pub stack_limit: u64,
    pub sub_system_tib: u64,
    pub fiber_data: u64,
    pub arbitrary_user_pointer: u64,
    /// `NtTib.Self`: the TEB's own address, read as `gs:[0x30]`.
    pub self_pointer: u64,
    pub environment_pointer: u64,
    pub client_id: ClientId,
    pub active_rpc_handle: u64,
    pub thread_local_storage_pointer: u64,
    pub process_environment_block: u64,
    pub last_error_value: u32,
    pub reserved: u32,
}

/// The start of `PEB`, up to `ProcessHeap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Peb {
    pub inherited_address_space: u8,
    pub read_image_file_exec_options: u8,
    pub being_debugged: u8,
    pub bit_field: u8,
    pub padding: u32,
    pub mutant: u64,
    pub image_base_address: u64,
    pub ldr: u64,
    pub process_parameters: u64,
    pub sub_system_data: u64,
    pub process_heap: u64,
}

/// `CURDIR`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CurDir {
    pub dos_path: UnicodeString,
    pub handle: u64,
}

/// The start of `RTL_USER_PROCESS_PARAMETERS`, up to `Environment`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtlUserProcessParameters {
    pub maximum_length: u32,
    pub length: u32,
    pub flags: u32,
    pub debug_flags: u32,
    pub console_handle: u64,
    pub console_flags: u32,
    pub reserved: u32,
    pub standard_input: u64,
    pub standard_output: u64,
    pub standard_error: u64,
    pub current_directory: CurDir,
    pub dll_path: UnicodeString,
    pub image_path_name: UnicodeString,
    pub command_line: UnicodeString,
    pub environment: u64,
}

/// `KUSER_SHARED_DATA`: one read-only page the kernel maps at the same address in every
/// process.
pub const KUSER_SHARED_DATA_ADDRESS: u64 = 0x7FFE_0000;
/// Offset of `KUSER_SHARED_DATA.SystemCall`: when [`SYSTEM_CALL_INT_2E`] is set, system
/// service stubs enter the kernel with `int 2Eh` instead of `syscall`, as NT's do.
pub const KUSER_SHARED_DATA_SYSTEM_CALL: u64 = 0x308;
pub const SYSTEM_CALL_INT_2E: u32 = 1;
/// The vector of NT's `int 2Eh` system-service gate (`KiSystemService`).
pub const SYSTEM_SERVICE_VECTOR: u8 = 0x2E;

/// `RTL_USER_PROC_PARAMS_NORMALIZED`: pointers in the parameters are addresses, not offsets.
pub const PROCESS_PARAMETERS_NORMALIZED: u32 = 1;

const _: () = {
    assert!(size_of::<UnicodeString>() == 16);
    assert!(offset_of!(Teb, self_pointer) == 0x30);
    assert!(offset_of!(Teb, client_id) == 0x40);
    assert!(offset_of!(Teb, process_environment_block) == 0x60);
    assert!(offset_of!(Teb, last_error_value) == 0x68);
    assert!(offset_of!(Peb, image_base_address) == 0x10);
    assert!(offset_of!(Peb, ldr) == 0x18);
    assert!(offset_of!(Peb, process_parameters) == 0x20);
    assert!(offset_of!(Peb, process_heap) == 0x30);
    assert!(offset_of!(RtlUserProcessParameters, current_directory) == 0x38);
    assert!(offset_of!(RtlUserProcessParameters, dll_path) == 0x50);
    assert!(offset_of!(RtlUserProcessParameters, image_path_name) == 0x60);
    assert!(offset_of!(RtlUserProcessParameters, command_line) == 0x70);
    assert!(offset_of!(RtlUserProcessParameters, environment) == 0x80);
};

/// `OBJECT_ATTRIBUTES`: how services that open or create objects name them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectAttributes {
    /// `sizeof(OBJECT_ATTRIBUTES)`; any other value is STATUS_INVALID_PARAMETER.
    pub length: u32,
    pub reserved: u32,
    /// A directory handle the name is relative to, or 0.
    pub root_directory: u64,
    /// `PUNICODE_STRING`, or 0 for an unnamed object.
    pub object_name: u64,
    /// `OBJ_*` attributes (`abi::access`).
    pub attributes: u32,
    pub reserved2: u32,
    pub security_descriptor: u64,
    pub security_quality_of_service: u64,
}

/// `OBJECT_INFORMATION_CLASS` values `NtQueryObject` answers.
pub const OBJECT_BASIC_INFORMATION: u32 = 0;
/// Answered with `OBJECT_NAME_INFORMATION`: a [`UnicodeString`] followed by the name.
pub const OBJECT_NAME_INFORMATION: u32 = 1;
pub const OBJECT_TYPE_INFORMATION: u32 = 2;

/// `PUBLIC_OBJECT_BASIC_INFORMATION` (`ObjectBasicInformation`): one handle and its object.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectBasicInformation {
    /// The handle's attributes (`OBJ_INHERIT`, ...).
    pub attributes: u32,
    pub granted_access: u32,
    pub handle_count: u32,
    pub pointer_count: u32,
    pub paged_pool_charge: u32,
    pub non_paged_pool_charge: u32,
    pub reserved: [u32; 3],
    pub name_info_size: u32,
    pub type_info_size: u32,
    pub security_descriptor_size: u32,
    pub creation_time: u64,
}

/// `OBJECT_TYPE_INFORMATION` (`ObjectTypeInformation`): the type of a handle's object and its
/// counters. `type_name.buffer` points just past the structure, where the name follows.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectTypeInformation {
    pub type_name: UnicodeString,
    pub total_number_of_objects: u32,
    pub total_number_of_handles: u32,
    pub total_paged_pool_usage: u32,
    pub total_non_paged_pool_usage: u32,
    pub total_name_pool_usage: u32,
    pub total_handle_table_usage: u32,
    pub high_water_number_of_objects: u32,
    pub high_water_number_of_handles: u32,
    pub high_water_paged_pool_usage: u32,
    pub high_water_non_paged_pool_usage: u32,
    pub high_water_name_pool_usage: u32,
    pub high_water_handle_table_usage: u32,
    pub invalid_attributes: u32,
    pub generic_mapping: crate::access::GenericMapping,
    pub valid_access_mask: u32,
    pub security_required: u8,
    pub maintain_handle_count: u8,
    pub type_index: u8,
    pub reserved_byte: u8,
    pub pool_type: u32,
    pub default_paged_pool_charge: u32,
    pub default_non_paged_pool_charge: u32,
}

const _: () = {
    assert!(size_of::<ObjectAttributes>() == 0x30);
    assert!(offset_of!(ObjectAttributes, root_directory) == 0x08);
    assert!(offset_of!(ObjectAttributes, object_name) == 0x10);
    assert!(offset_of!(ObjectAttributes, attributes) == 0x18);
    assert!(offset_of!(ObjectAttributes, security_descriptor) == 0x20);
    assert!(size_of::<ObjectBasicInformation>() == 0x38);
    assert!(offset_of!(ObjectBasicInformation, handle_count) == 0x08);
    assert!(offset_of!(ObjectBasicInformation, pointer_count) == 0x0C);
    assert!(offset_of!(ObjectBasicInformation, creation_time) == 0x30);
    assert!(size_of::<ObjectTypeInformation>() == 0x68);
    assert!(offset_of!(ObjectTypeInformation, total_number_of_objects) == 0x10);
    assert!(offset_of!(ObjectTypeInformation, invalid_attributes) == 0x40);
    assert!(offset_of!(ObjectTypeInformation, generic_mapping) == 0x44);
    assert!(offset_of!(ObjectTypeInformation, valid_access_mask) == 0x54);
    assert!(offset_of!(ObjectTypeInformation, type_index) == 0x5A);
    assert!(offset_of!(ObjectTypeInformation, pool_type) == 0x5C);
};

/// `LIST_ENTRY`: a link of a circular doubly linked list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ListEntry {
    pub flink: u64,
    pub blink: u64,
}

/// `PEB_LDR_DATA` (`PEB.Ldr`): the heads of the loader's module lists.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PebLdrData {
    pub length: u32,
    pub initialized: u8,
    pub reserved: [u8; 3],
    pub ss_handle: u64,
    pub in_load_order_module_list: ListEntry,
    pub in_memory_order_module_list: ListEntry,
    pub in_initialization_order_module_list: ListEntry,
    pub entry_in_progress: u64,
    pub shutdown_in_progress: u8,
    pub reserved2: [u8; 7],
    pub shutdown_thread_id: u64,
}

/// `LDR_DATA_TABLE_ENTRY`, up to `HashLinks`: one loaded module, linked into the lists of
/// [`PebLdrData`] by the link of the same name.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LdrDataTableEntry {
    pub in_load_order_links: ListEntry,
    pub in_memory_order_links: ListEntry,
    pub in_initialization_order_links: ListEntry,
    pub dll_base: u64,
    pub entry_point: u64,
    pub size_of_image: u32,
    pub reserved: u32,
    pub full_dll_name: UnicodeString,
    pub base_dll_name: UnicodeString,
    pub flags: u32,
    pub obsolete_load_count: u16,
    pub tls_index: u16,
    pub hash_links: ListEntry,
}

/// `LDR_DATA_TABLE_ENTRY.Flags`: the module is a DLL (`LDRP_IMAGE_DLL`).
pub const LDRP_IMAGE_DLL: u32 = 0x4;

const _: () = {
    assert!(size_of::<PebLdrData>() == 0x58);
    assert!(offset_of!(PebLdrData, in_load_order_module_list) == 0x10);
    assert!(offset_of!(PebLdrData, in_memory_order_module_list) == 0x20);
    assert!(offset_of!(PebLdrData, in_initialization_order_module_list) == 0x30);
    assert!(offset_of!(PebLdrData, shutdown_thread_id) == 0x50);
    assert!(offset_of!(LdrDataTableEntry, dll_base) == 0x30);
    assert!(offset_of!(LdrDataTableEntry, entry_point) == 0x38);
    assert!(offset_of!(LdrDataTableEntry, size_of_image) == 0x40);
    assert!(offset_of!(LdrDataTableEntry, full_dll_name) == 0x48);
    assert!(offset_of!(LdrDataTableEntry, base_dll_name) == 0x58);
    assert!(offset_of!(LdrDataTableEntry, flags) == 0x68);
    assert!(offset_of!(LdrDataTableEntry, hash_links) == 0x70);
};

/// `LDR_DATA_TABLE_ENTRY.Flags`: the module's `DLL_PROCESS_ATTACH` was called
/// (`LDRP_PROCESS_ATTACH_CALLED`), so it gets thread notifications and its
/// `DLL_PROCESS_DETACH`.
pub const LDRP_PROCESS_ATTACH_CALLED: u32 = 0x0008_0000;
/// `LDR_DATA_TABLE_ENTRY.Flags`: the loader has run, or is running, the module's
/// `DLL_PROCESS_ATTACH` (`LDRP_ENTRY_PROCESSED`).
pub const LDRP_ENTRY_PROCESSED: u32 = 0x0000_4000;
/// `LDR_DATA_TABLE_ENTRY.Flags`: the module gets no `DLL_THREAD_ATTACH` or
/// `DLL_THREAD_DETACH` (`LDRP_DONT_CALL_FOR_THREADS`, `LdrDisableThreadCalloutsForDll`).
pub const LDRP_DONT_CALL_FOR_THREADS: u32 = 0x0004_0000;
/// `LDR_DATA_TABLE_ENTRY.ObsoleteLoadCount` of a module loaded for the life of the process
/// (the executable, ntdll and the DLLs its imports load).
pub const LDR_PINNED_LOAD_COUNT: u16 = 0xFFFF;

/// `DllMain`'s reasons (`fdwReason`).
pub const DLL_PROCESS_DETACH: u32 = 0;
pub const DLL_PROCESS_ATTACH: u32 = 1;
pub const DLL_THREAD_ATTACH: u32 = 2;
pub const DLL_THREAD_DETACH: u32 = 3;

/// `PIMAGE_TLS_CALLBACK(DllHandle, Reason, Reserved)`: a module's TLS callback, called
/// with `DllMain`'s reasons.
pub type ImageTlsCallback = unsafe extern "system" fn(u64, u32, u64);

/// `IMAGE_TLS_DIRECTORY64`, as an image defines it in its own data (the linker points data
/// directory 9 at the one named `_tls_used`). Its addresses are relocated with the image.
#[repr(C)]
#[derive(Debug)]
pub struct ImageTlsDirectory64 {
    /// The template of every thread's block: `StartAddressOfRawData..EndAddressOfRawData`.
    pub start_address_of_raw_data: *const u8,
    pub end_address_of_raw_data: *const u8,
    /// Where the loader writes the module's TLS index.
    pub address_of_index: *const u32,
    /// A NULL-terminated array of callbacks, or NULL.
    pub address_of_call_backs: *const Option<ImageTlsCallback>,
    /// Zero bytes after the template in every thread's block.
    pub size_of_zero_fill: u32,
    pub characteristics: u32,
}

// SAFETY: an image's TLS directory is read-only data; the addresses in it are never
// dereferenced through it by the image itself.
unsafe impl Sync for ImageTlsDirectory64 {}

/// Defines an image's static TLS as MSVC's CRT does (`tlssup`): `TLS_TEMPLATE`, the
/// template in the `.tls` section; `_tls_index`, where the loader writes the image's TLS
/// index; a one-callback array; and `_tls_used`, the directory the linker points data
/// directory 9 at (`pub directory` in a DLL, which exports it so the linker keeps it).
#[macro_export]
macro_rules! static_tls {
    (
        $visibility:vis directory;
        template: $template:expr,
        zero_fill: $zero_fill:expr,
        callback: $callback:path $(,)?
    ) => {
        #[unsafe(link_section = ".tls")]
        static TLS_TEMPLATE: [u8; $template.len()] = $template;

        /// This image's TLS index, which the loader writes.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        static _tls_index: core::sync::atomic::AtomicU32 =
            core::sync::atomic::AtomicU32::new(u32::MAX);

        static TLS_CALLBACKS: [Option<$crate::nt::ImageTlsCallback>; 2] = [Some($callback), None];

        #[used]
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        $visibility static _tls_used: $crate::nt::ImageTlsDirectory64 =
            $crate::nt::ImageTlsDirectory64 {
                start_address_of_raw_data: (&raw const TLS_TEMPLATE).cast(),
                end_address_of_raw_data: (&raw const TLS_TEMPLATE)
                    .cast::<u8>()
                    .wrapping_add($template.len()),
                address_of_index: (&raw const _tls_index).cast(),
                address_of_call_backs: TLS_CALLBACKS.as_ptr(),
                size_of_zero_fill: $zero_fill as u32,
                characteristics: 0,
            };
    };
}

const _: () = {
    assert!(size_of::<ImageTlsDirectory64>() == 0x28);
    assert!(offset_of!(ImageTlsDirectory64, end_address_of_raw_data) == 0x08);
    assert!(offset_of!(ImageTlsDirectory64, address_of_index) == 0x10);
    assert!(offset_of!(ImageTlsDirectory64, address_of_call_backs) == 0x18);
    assert!(offset_of!(ImageTlsDirectory64, size_of_zero_fill) == 0x20);
};

/// `ANSI_STRING` (`STRING`): lengths in bytes, buffer not necessarily NUL-terminated; the
/// procedure name of `LdrGetProcedureAddress`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnsiString {
    pub length: u16,
    pub maximum_length: u16,
    pub reserved: u32,
    pub buffer: u64,
}
