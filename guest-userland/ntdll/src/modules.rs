//! The loader's module list (`PEB.Ldr`): a `PEB_LDR_DATA` and one `LDR_DATA_TABLE_ENTRY`
//! each for the executable and ntdll, with their names, in memory the loader allocates in
//! the process. In load and memory order the executable comes first, then ntdll; the
//! initialization-order list holds ntdll only (the executable is not a DLL that is
//! initialized), as on NT.

use abi::NtStatus;
use abi::nt::{
    LDRP_IMAGE_DLL, LdrDataTableEntry, ListEntry, PROCESS_PARAMETERS_NORMALIZED, Peb, PebLdrData,
    RtlUserProcessParameters, UnicodeString,
};

use crate::calls;
use crate::ldr::Image;

/// ntdll's full name, as the kernel opens it.
const NTDLL_PATH: &[u8] = b"\\SystemRoot\\System32\\ntdll.dll";
/// The longest executable path kept (longer ones are cut at the end).
const MAX_PATH_UNITS: usize = 1024;
/// `ObsoleteLoadCount` of a module loaded for the life of the process.
const STATIC_LOAD_COUNT: u16 = 0xFFFF;

/// Everything the list needs, in one allocation.
#[repr(C)]
struct LoaderData {
    ldr: PebLdrData,
    executable: LdrDataTableEntry,
    ntdll: LdrDataTableEntry,
    ntdll_name: [u16; NTDLL_PATH.len()],
    executable_name: [u16; MAX_PATH_UNITS],
}

const _: () = assert!(size_of::<LoaderData>() <= 0x1000);

/// Builds the list for `executable` (entry point `entry_point`) and `ntdll`, and points
/// `PEB.Ldr` at it.
pub fn initialize(
    peb: *mut Peb,
    executable: &Image,
    entry_point: u64,
    ntdll: &Image,
) -> Result<(), NtStatus> {
    let address = calls::allocate_own_memory(size_of::<LoaderData>() as u64)?;
    // SAFETY: the memory was just committed read-write for this process, zero-filled and
    // large enough; nothing else refers to it yet.
    let data = unsafe { &mut *(address as *mut LoaderData) };

    for (unit, byte) in data.ntdll_name.iter_mut().zip(NTDLL_PATH) {
        *unit = u16::from(*byte);
    }
    let path_units = copy_image_path(peb, &mut data.executable_name);
    let (executable_full, executable_base) = names(&data.executable_name[..path_units]);
    let (ntdll_full, ntdll_base) = names(&data.ntdll_name);

    data.ldr.length = size_of::<PebLdrData>() as u32;
    data.ldr.initialized = 1;
    data.executable.dll_base = executable.base;
    data.executable.entry_point = entry_point;
    data.executable.size_of_image = executable.size;
    data.executable.full_dll_name = executable_full;
    data.executable.base_dll_name = executable_base;
    data.executable.obsolete_load_count = STATIC_LOAD_COUNT;
    data.ntdll.dll_base = ntdll.base;
    data.ntdll.size_of_image = ntdll.size;
    data.ntdll.full_dll_name = ntdll_full;
    data.ntdll.base_dll_name = ntdll_base;
    data.ntdll.flags = LDRP_IMAGE_DLL;
    data.ntdll.obsolete_load_count = STATIC_LOAD_COUNT;

    // SAFETY: every pointer is to a field of `data`, which lives for the process.
    unsafe {
        link_list(
            &raw mut data.ldr.in_load_order_module_list,
            &[
                &raw mut data.executable.in_load_order_links,
                &raw mut data.ntdll.in_load_order_links,
            ],
        );
        link_list(
            &raw mut data.ldr.in_memory_order_module_list,
            &[
                &raw mut data.executable.in_memory_order_links,
                &raw mut data.ntdll.in_memory_order_links,
            ],
        );
        link_list(
            &raw mut data.ldr.in_initialization_order_module_list,
            &[&raw mut data.ntdll.in_initialization_order_links],
        );
        // SAFETY: the kernel passes the process's PEB, writable by the process.
        (&raw mut (*peb).ldr).write(&raw const data.ldr as u64);
    }
    Ok(())
}

/// Links `entries` after `head`, in order, into a circular doubly linked list.
///
/// # Safety
/// `head` and every entry point to writable `LIST_ENTRY`s, all distinct.
unsafe fn link_list(head: *mut ListEntry, entries: &[*mut ListEntry]) {
    let mut previous = head;
    for &entry in entries {
        // SAFETY: the caller gives writable, distinct links.
        unsafe {
            (*previous).flink = entry as u64;
            (*entry).blink = previous as u64;
        }
        previous = entry;
    }
    // SAFETY: as above.
    unsafe {
        (*previous).flink = head as u64;
        (*head).blink = previous as u64;
    }
}

/// Copies `PEB.ProcessParameters->ImagePathName` into `buffer` (cut to its size): the
/// number of units copied, 0 without parameters.
fn copy_image_path(peb: *const Peb, buffer: &mut [u16]) -> usize {
    // SAFETY: the kernel passes the process's PEB, mapped for the life of the process.
    let params = unsafe { (*peb).process_parameters } as *const RtlUserProcessParameters;
    if params.is_null() {
        return 0;
    }
    // SAFETY: a non-null ProcessParameters points at the parameters block its creator
    // wrote into this process.
    let params = unsafe { &*params };
    let path = params.image_path_name;
    let mut source = path.buffer;
    if params.flags & PROCESS_PARAMETERS_NORMALIZED == 0 && source != 0 {
        // Denormalized parameters hold offsets from the block.
        source = source.wrapping_add(params as *const _ as u64);
    }
    let units = usize::from(path.length / 2).min(buffer.len());
    if source == 0 || source % 2 != 0 {
        return 0;
    }
    // SAFETY: ImagePathName.Buffer holds Length readable bytes of UTF-16 in the
    // parameters block; at most that many are read, and the pointer is aligned.
    let path = unsafe { core::slice::from_raw_parts(source as *const u16, units) };
    buffer[..units].copy_from_slice(path);
    units
}

/// `UNICODE_STRING`s of a full path and of its last component.
fn names(path: &[u16]) -> (UnicodeString, UnicodeString) {
    let base_start = path
        .iter()
        .rposition(|unit| *unit == u16::from(b'\\'))
        .map_or(0, |separator| separator + 1);
    let string = |units: &[u16]| UnicodeString {
        length: (units.len() * 2) as u16,
        maximum_length: (units.len() * 2) as u16,
        reserved: 0,
        buffer: units.as_ptr() as u64,
    };
    (string(path), string(&path[base_start..]))
}
