//! The loader's module list (`PEB.Ldr`): a `PEB_LDR_DATA` and one `LDR_DATA_TABLE_ENTRY`
//! per module, with its names, in memory the loader allocates in the process. In load and
//! memory order the executable comes first, then ntdll, then each DLL as it was mapped;
//! the initialization-order list holds the DLLs only (the executable is not a DLL that is
//! initialized), ntdll first, then each DLL once its imports are bound, so a DLL comes
//! after the DLLs it imports from and its entry point runs after theirs, as on NT.
//!
//! Every function here runs under the loader lock (or before there is a second thread).

use core::mem::offset_of;

use abi::NtStatus;
use abi::nt::{
    LDR_PINNED_LOAD_COUNT, LDRP_ENTRY_PROCESSED, LDRP_IMAGE_DLL, LdrDataTableEntry, ListEntry,
    PROCESS_PARAMETERS_NORMALIZED, Peb, PebLdrData, RtlUserProcessParameters, UnicodeString,
};

use crate::image::Image;
use crate::rtl::peb::RtlGetCurrentPeb;
use crate::rtl::string::units;
use crate::{calls, ldr_calls};

/// ntdll's full name, as the kernel opens it.
const NTDLL_PATH: &[u8] = b"\\SystemRoot\\System32\\ntdll.dll";
/// The longest executable path kept (longer ones are cut at the end).
const MAX_PATH_UNITS: usize = 1024;
/// The longest DLL path the loader opens, in UTF-16 units.
pub const MAX_DLL_PATH: usize = 260;
/// The most DLLs one DLL's imports hold a reference on (pinned ones are not counted).
const MAX_DEPENDENCIES: usize = 32;

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

/// A DLL the loader mapped: its entry (first, so the entry's address is the allocation's),
/// the modules its imports hold a reference on, released with it, and its full name.
#[repr(C)]
pub struct LoadedDll {
    pub entry: LdrDataTableEntry,
    dependencies: [u64; MAX_DEPENDENCIES],
    dependency_count: usize,
    name: [u16; MAX_DLL_PATH],
}

const _: () = assert!(size_of::<LoadedDll>() <= 0x1000);

/// Builds the list for `executable` (entry point `entry_point`) and `ntdll`, and points
/// `PEB.Ldr` at it; `PEB_LDR_DATA.Initialized` stays 0 until the process is initialized.
pub fn initialize(
    peb: *mut Peb,
    executable: &Image,
    entry_point: u64,
    ntdll: &Image,
) -> Result<*mut PebLdrData, NtStatus> {
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
    data.executable.dll_base = executable.base;
    data.executable.entry_point = entry_point;
    data.executable.size_of_image = executable.size;
    data.executable.full_dll_name = executable_full;
    data.executable.base_dll_name = executable_base;
    data.executable.obsolete_load_count = LDR_PINNED_LOAD_COUNT;
    data.ntdll.dll_base = ntdll.base;
    data.ntdll.size_of_image = ntdll.size;
    data.ntdll.full_dll_name = ntdll_full;
    data.ntdll.base_dll_name = ntdll_base;
    // ntdll has no entry point: it counts as initialized from the start.
    data.ntdll.flags = LDRP_IMAGE_DLL | LDRP_ENTRY_PROCESSED;
    data.ntdll.obsolete_load_count = LDR_PINNED_LOAD_COUNT;

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
        // SAFETY: the kernel passes the process's PEB, writable by the process. Other
        // threads read PEB.Ldr atomically (`ldr_lock`); this aligned store is one write.
        (&raw mut (*peb).ldr).write_volatile(&raw const data.ldr as u64);
    }
    Ok(&raw mut data.ldr)
}

/// `PEB.Ldr`, built by [`initialize`].
fn ldr() -> *mut PebLdrData {
    // SAFETY: the kernel keeps the PEB mapped for the life of the process.
    unsafe { (*RtlGetCurrentPeb()).ldr as *mut PebLdrData }
}

/// The entries of the list whose head is at `head`, each found from its link at
/// `link_offset`, in list order (or backwards). The next link is read before an entry is
/// handed out, so the caller may take that entry off the list.
fn entries(
    head: *mut ListEntry,
    link_offset: usize,
    backwards: bool,
) -> impl Iterator<Item = *mut LdrDataTableEntry> {
    let step = move |link: *mut ListEntry| {
        // SAFETY: every link of the loader's lists is a head or an entry's, mapped for
        // the process and changed only under the loader lock, which the caller holds.
        let next = unsafe {
            if backwards {
                (*link).blink
            } else {
                (*link).flink
            }
        };
        next as *mut ListEntry
    };
    let mut link = step(head);
    core::iter::from_fn(move || {
        if link == head || link.is_null() {
            return None;
        }
        let entry = link
            .cast::<u8>()
            .wrapping_sub(link_offset)
            .cast::<LdrDataTableEntry>();
        link = step(link);
        Some(entry)
    })
}

/// The modules in load order.
pub fn load_order() -> impl Iterator<Item = *mut LdrDataTableEntry> {
    let ldr = ldr();
    entries(
        // SAFETY: PEB.Ldr points at the loader's PEB_LDR_DATA.
        unsafe { &raw mut (*ldr).in_load_order_module_list },
        offset_of!(LdrDataTableEntry, in_load_order_links),
        false,
    )
}

/// The DLLs in initialization order, or backwards (the order of detaching).
pub fn initialization_order(backwards: bool) -> impl Iterator<Item = *mut LdrDataTableEntry> {
    let ldr = ldr();
    entries(
        // SAFETY: PEB.Ldr points at the loader's PEB_LDR_DATA.
        unsafe { &raw mut (*ldr).in_initialization_order_module_list },
        offset_of!(LdrDataTableEntry, in_initialization_order_links),
        backwards,
    )
}

/// `PEB.Ldr->ShutdownInProgress`: set by the first call, true from the second on.
pub fn begin_shutdown(thread_id: u64) -> bool {
    let ldr = ldr();
    // SAFETY: PEB.Ldr points at the loader's PEB_LDR_DATA, changed under the loader lock.
    unsafe {
        if (*ldr).shutdown_in_progress != 0 {
            return true;
        }
        (*ldr).shutdown_in_progress = 1;
        (*ldr).shutdown_thread_id = thread_id;
    }
    false
}

/// The module whose base name is `base_name` (compared ignoring ASCII case).
pub fn find_by_name(base_name: &[u16]) -> Option<*mut LdrDataTableEntry> {
    load_order().find(|&entry| {
        // SAFETY: list entries are the loader's, with names in its own allocations.
        let name = unsafe { units(&(*entry).base_dll_name) };
        name.len() == base_name.len()
            && name
                .iter()
                .zip(base_name)
                .all(|(a, b)| fold_ascii(*a) == fold_ascii(*b))
    })
}

/// The module mapped at `base`.
pub fn find_by_base(base: u64) -> Option<*mut LdrDataTableEntry> {
    // SAFETY: list entries are the loader's.
    load_order().find(|&entry| unsafe { (*entry).dll_base } == base)
}

fn fold_ascii(unit: u16) -> u16 {
    match u8::try_from(unit) {
        Ok(byte) => u16::from(byte.to_ascii_lowercase()),
        Err(_) => unit,
    }
}

/// A new entry for the image `image`, opened as `path`: a DLL (`is_dll`) with its entry
/// point, if any, or another image, whose entry point is never called; with its load
/// count, appended to the load- and memory-order lists. It joins the initialization order
/// later ([`append_to_initialization_order`]).
pub fn insert_dll(
    path: &[u16],
    image: &Image,
    is_dll: bool,
    entry_point: Option<u64>,
    load_count: u16,
) -> Result<*mut LoadedDll, NtStatus> {
    let address = calls::allocate_own_memory(size_of::<LoadedDll>() as u64)?;
    let dll = address as *mut LoadedDll;
    // SAFETY: the memory was just committed read-write for this process, zero-filled and
    // large enough; nothing else refers to it yet.
    let data = unsafe { &mut *dll };
    let length = path.len().min(MAX_DLL_PATH);
    data.name[..length].copy_from_slice(&path[..length]);
    let (full, base) = names(&data.name[..length]);
    data.entry.dll_base = image.base;
    data.entry.entry_point = entry_point.filter(|_| is_dll).unwrap_or(0);
    data.entry.size_of_image = image.size;
    data.entry.full_dll_name = full;
    data.entry.base_dll_name = base;
    data.entry.flags = if is_dll { LDRP_IMAGE_DLL } else { 0 };
    data.entry.obsolete_load_count = load_count;
    let ldr = ldr();
    // SAFETY: the heads are the loader's and the links the new entry's, all distinct.
    unsafe {
        insert_tail(
            &raw mut (*ldr).in_load_order_module_list,
            &raw mut data.entry.in_load_order_links,
        );
        insert_tail(
            &raw mut (*ldr).in_memory_order_module_list,
            &raw mut data.entry.in_memory_order_links,
        );
    }
    Ok(dll)
}

/// Appends `entry` to the initialization order: its imports are bound.
pub fn append_to_initialization_order(entry: *mut LdrDataTableEntry) {
    let ldr = ldr();
    // SAFETY: the head is the loader's and the link the entry's, not yet on the list.
    unsafe {
        insert_tail(
            &raw mut (*ldr).in_initialization_order_module_list,
            &raw mut (*entry).in_initialization_order_links,
        );
    }
}

/// Records that `dll`'s imports hold a reference on `dependency`.
pub fn add_dependency(
    dll: *mut LoadedDll,
    dependency: *mut LdrDataTableEntry,
) -> Result<(), NtStatus> {
    // SAFETY: `dll` is an entry the loader allocated, changed under the loader lock.
    let dll = unsafe { &mut *dll };
    let slot = dll
        .dependencies
        .get_mut(dll.dependency_count)
        .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    *slot = dependency as u64;
    dll.dependency_count += 1;
    Ok(())
}

/// Takes the next dependency off `dll`, last recorded first.
pub fn pop_dependency(dll: *mut LoadedDll) -> Option<*mut LdrDataTableEntry> {
    // SAFETY: `dll` is an entry the loader allocated, changed under the loader lock.
    let dll = unsafe { &mut *dll };
    dll.dependency_count = dll.dependency_count.checked_sub(1)?;
    Some(dll.dependencies[dll.dependency_count] as *mut LdrDataTableEntry)
}

/// Takes `dll` off every list and frees its entry.
pub fn remove_dll(dll: *mut LoadedDll) {
    // SAFETY: `dll` is on the load- and memory-order lists, and on the initialization-order
    // list when its link is set; nothing refers to it afterwards.
    unsafe {
        remove_entry(&raw mut (*dll).entry.in_load_order_links);
        remove_entry(&raw mut (*dll).entry.in_memory_order_links);
        if (*dll).entry.in_initialization_order_links.flink != 0 {
            remove_entry(&raw mut (*dll).entry.in_initialization_order_links);
        }
    }
    ldr_calls::free_own_memory(dll as u64);
}

/// `InsertTailList(head, entry)`.
///
/// # Safety
/// `head` is a list's head and `entry` a writable link on no list.
unsafe fn insert_tail(head: *mut ListEntry, entry: *mut ListEntry) {
    // SAFETY: as the caller guarantees; the list's links are writable.
    unsafe {
        let last = (*head).blink as *mut ListEntry;
        (*entry).flink = head as u64;
        (*entry).blink = last as u64;
        (*last).flink = entry as u64;
        (*head).blink = entry as u64;
    }
}

/// `RemoveEntryList(entry)`.
///
/// # Safety
/// `entry` is on a list.
unsafe fn remove_entry(entry: *mut ListEntry) {
    // SAFETY: as the caller guarantees; its neighbours are writable links.
    unsafe {
        let next = (*entry).flink as *mut ListEntry;
        let previous = (*entry).blink as *mut ListEntry;
        (*previous).flink = next as u64;
        (*next).blink = previous as u64;
    }
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
