//! Static thread-local storage, as NT's loader keeps it (`LdrpInitializeTls`,
//! `LdrpAllocateTls`, `LdrpFreeTls`, `LdrpCallTlsInitializers`): the TLS indices of the
//! modules loaded with the process, each thread's blocks and the modules' TLS callbacks.
//!
//! At process initialization every module then in `PEB.Ldr` (the executable and the DLLs
//! its imports loaded, recursively) that has an `IMAGE_TLS_DIRECTORY64` gets the next
//! index, written to its `AddressOfIndex` and its entry's `TlsIndex`. Each thread gets,
//! before any callback or entry point runs on it, an array of one pointer per index in
//! `TEB.ThreadLocalStoragePointer` and per module a block from the process heap: a copy
//! of the module's template (`StartAddressOfRawData..EndAddressOfRawData`) followed by
//! `SizeOfZeroFill` zero bytes. `LdrShutdownThread` frees them.
//!
//! The set is fixed once the process is initialized: a DLL with a TLS directory mapped
//! later (by LdrLoadDll, or to follow a forwarder) is refused with STATUS_NOT_SUPPORTED,
//! since the threads already running have no block for it (NT before Vista loaded such a
//! DLL and left its TLS unset, so its first TLS access faulted; Vista and later grow
//! every thread's array under the loader lock). Blocks are 16-byte aligned, the heap's
//! alignment: a larger one asked for in `Characteristics` is not honoured.
//! The executable's entry carries `LDRP_ENTRY_PROCESSED` from then on, which says so
//! without a write to ntdll's data in a process whose modules have no TLS.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use abi::NtStatus;
use abi::nt::{ImageTlsCallback, LDRP_ENTRY_PROCESSED, LdrDataTableEntry};

use crate::image::{INVALID, Image};
use crate::load;
use crate::modules;
use crate::rtl::heap::{HEAP_ZERO_MEMORY, RtlAllocateHeap, RtlFreeHeap, process_heap_handle};
use crate::rtl::string::units;

/// The most modules with TLS a process can have (NT has no such bound).
const MAX_TLS_MODULES: usize = 16;

/// What the loader keeps of one module's TLS directory.
#[derive(Clone, Copy)]
struct TlsModule {
    base: u64,
    raw_data: u64,
    raw_data_size: usize,
    /// The template and its zero fill.
    block_size: usize,
    /// `AddressOfCallBacks`, 0 for none.
    callbacks: u64,
}

impl TlsModule {
    const EMPTY: Self = Self {
        base: 0,
        raw_data: 0,
        raw_data_size: 0,
        block_size: 0,
        callbacks: 0,
    };
}

/// The modules with TLS, in index order; the first [`MODULE_COUNT`] are in use.
struct TlsModules(UnsafeCell<[TlsModule; MAX_TLS_MODULES]>);

// SAFETY: only the thread that initializes the process writes the table, before it
// publishes MODULE_COUNT and before any other thread of the process gets past
// `ldr_lock::claim_process_initialization`; afterwards it is only read.
unsafe impl Sync for TlsModules {}

static MODULES: TlsModules = TlsModules(UnsafeCell::new([TlsModule::EMPTY; MAX_TLS_MODULES]));
/// Stays 0 (and ntdll's data untouched) in a process whose modules have no TLS.
static MODULE_COUNT: AtomicUsize = AtomicUsize::new(0);

fn tls_modules() -> &'static [TlsModule] {
    let count = MODULE_COUNT.load(Ordering::Acquire);
    // SAFETY: the first `count` modules were written before `count` was published with
    // Release, and are never written again.
    unsafe { &(&*MODULES.0.get())[..count] }
}

/// Whether any module of the process has TLS: its threads then need the loader even
/// without DLLs to notify.
pub fn in_use() -> bool {
    MODULE_COUNT.load(Ordering::Acquire) != 0
}

/// `LdrpInitializeTls`: indices for the modules now loaded that have a TLS directory, and
/// the calling (first) thread's blocks. STATUS_INVALID_IMAGE_FORMAT for a malformed
/// directory, STATUS_INSUFFICIENT_RESOURCES past [`MAX_TLS_MODULES`], STATUS_NO_MEMORY
/// when the heap has no room for the blocks.
pub fn initialize_process() -> Result<(), NtStatus> {
    let mut count = 0;
    for entry in modules::load_order() {
        // SAFETY: list entries are the loader's.
        let base = unsafe { (*entry).dll_base };
        let directory = Image::at(base)
            .and_then(|image| image.tls_directory())
            .inspect_err(|_| report(b"ldr: bad TLS directory: ", entry))?;
        let Some(directory) = directory else {
            continue;
        };
        let raw_data_size = usize::try_from(directory.raw_data_size).map_err(|_| INVALID)?;
        let block_size = raw_data_size
            .checked_add(directory.zero_fill as usize)
            .ok_or(INVALID)?;
        let index = u16::try_from(count)
            .ok()
            .filter(|_| count < MAX_TLS_MODULES)
            .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        // SAFETY: AddressOfIndex was checked to lie inside the module's image, and no other
        // thread of the process runs yet; the entry is the loader's.
        unsafe {
            (directory.index as *mut u32).write_unaligned(u32::from(index));
            (*entry).tls_index = index;
            (&mut *MODULES.0.get())[count] = TlsModule {
                base,
                raw_data: directory.raw_data,
                raw_data_size,
                block_size,
                callbacks: directory.callbacks,
            };
        }
        count += 1;
    }
    if count != 0 {
        MODULE_COUNT.store(count, Ordering::Release);
    }
    if let Some(executable) = modules::load_order().next() {
        // SAFETY: the executable's entry is the loader's; no other thread runs yet.
        unsafe { (*executable).flags |= LDRP_ENTRY_PROCESSED };
    }
    allocate_thread_data()
}

/// Whether `image`, mapped now, may be loaded: STATUS_NOT_SUPPORTED when it has a TLS
/// directory and the process's static TLS is already fixed, STATUS_INVALID_IMAGE_FORMAT
/// when its directory is malformed.
pub fn check_new_module(image: &Image) -> Result<(), NtStatus> {
    if image.tls_directory()?.is_none() {
        return Ok(());
    }
    let fixed = modules::load_order()
        .next()
        // SAFETY: the executable's entry is the loader's, read under the loader lock.
        .is_some_and(|executable| unsafe { (*executable).flags } & LDRP_ENTRY_PROCESSED != 0);
    if fixed {
        Err(NtStatus::NOT_SUPPORTED)
    } else {
        Ok(())
    }
}

/// `LdrpAllocateTls`: the calling thread's array and blocks, in
/// `TEB.ThreadLocalStoragePointer`. STATUS_NO_MEMORY, with nothing left allocated, when
/// the heap has no room.
pub fn allocate_thread_data() -> Result<(), NtStatus> {
    let modules = tls_modules();
    if modules.is_empty() {
        return Ok(());
    }
    let heap = process_heap_handle();
    let array = RtlAllocateHeap(heap, HEAP_ZERO_MEMORY, modules.len() * size_of::<u64>());
    if array == 0 {
        return Err(NtStatus::NO_MEMORY);
    }
    // Set first, so a failure below frees what was allocated through the one path.
    set_thread_data(array);
    for (index, module) in modules.iter().enumerate() {
        let block = RtlAllocateHeap(heap, 0, module.block_size);
        if block == 0 {
            free_thread_data();
            return Err(NtStatus::NO_MEMORY);
        }
        // SAFETY: the block has `block_size` writable bytes; the template lies inside the
        // module's image (checked when it was listed), which stays mapped, as modules with
        // TLS are never unloaded; the array has a slot per module.
        unsafe {
            core::ptr::copy_nonoverlapping(
                module.raw_data as *const u8,
                block as *mut u8,
                module.raw_data_size,
            );
            core::ptr::write_bytes(
                (block as *mut u8).add(module.raw_data_size),
                0,
                module.block_size - module.raw_data_size,
            );
            (array as *mut u64).add(index).write(block);
        }
    }
    Ok(())
}

/// `LdrpFreeTls`: gives the calling thread's array and blocks back to the heap.
pub fn free_thread_data() {
    let array = thread_data();
    if array == 0 {
        return;
    }
    let heap = process_heap_handle();
    for index in 0..tls_modules().len() {
        // SAFETY: the array has a slot per module, NULL for a block not allocated.
        let block = unsafe { (array as *const u64).add(index).read() };
        RtlFreeHeap(heap, 0, block);
    }
    RtlFreeHeap(heap, 0, array);
    set_thread_data(0);
}

/// `LdrpCallTlsInitializers`: the TLS callbacks of the module at `base`, in array order,
/// with `reason`. The array is read as it is now (a module may change it); it ends at a
/// NULL or at the first entry or callback outside the image.
pub fn call_callbacks(base: u64, reason: u32) {
    let Some(module) = tls_modules().iter().find(|module| module.base == base) else {
        return;
    };
    if module.callbacks == 0 {
        return;
    }
    let Ok(image) = Image::at(base) else {
        return;
    };
    let slots = (0u64..).map(|index| module.callbacks.wrapping_add(index * 8));
    for slot in slots {
        let callback = image
            .rva(slot, 8)
            .and_then(|rva| image.read_u64(rva))
            .ok()
            .filter(|&callback| callback != 0 && image.rva(callback, 1).is_ok());
        let Some(callback) = callback else {
            return;
        };
        // SAFETY: the module's own callback, inside its mapped image, with the
        // PIMAGE_TLS_CALLBACK signature its TLS directory promises.
        let callback: ImageTlsCallback = unsafe { core::mem::transmute(callback) };
        // SAFETY: as above; the loader lock is held, as callbacks expect.
        unsafe { callback(base, reason, 0) };
    }
}

/// `TEB.ThreadLocalStoragePointer`.
fn thread_data() -> u64 {
    let array: u64;
    // SAFETY: gs:[0x58] is the calling thread's TEB.ThreadLocalStoragePointer; the read
    // has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x58]", out(reg) array, options(nostack, readonly, preserves_flags));
    }
    array
}

fn set_thread_data(array: u64) {
    // SAFETY: gs:[0x58] is the calling thread's TEB.ThreadLocalStoragePointer, which only
    // the loader writes.
    unsafe {
        core::arch::asm!("mov gs:[0x58], {}", in(reg) array, options(nostack, preserves_flags));
    }
}

/// Prints `what` and the module's base name.
fn report(what: &[u8], entry: *mut LdrDataTableEntry) {
    // SAFETY: the names are the loader's, in its own allocations.
    load::report_units(what, unsafe { units(&(*entry).base_dll_name) });
}
