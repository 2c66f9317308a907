//! Thread-local storage, as NT's loader keeps it (`LdrpInitializeTls`, `LdrpAllocateTls`,
//! `LdrpFreeTls`, `LdrpHandleTlsData`, `LdrpReleaseTlsEntry`, `LdrpCallTlsInitializers`):
//! the TLS indices of the modules, each thread's blocks and the modules' TLS callbacks.
//!
//! At process initialization every module then in `PEB.Ldr` (the executable and the DLLs
//! its imports loaded, recursively) that has an `IMAGE_TLS_DIRECTORY64` gets the next
//! index, written to its `AddressOfIndex` and its entry's `TlsIndex`. Each thread gets,
//! before any callback or entry point runs on it, an array of one pointer per index in
//! `TEB.ThreadLocalStoragePointer` and per module a block from the process heap: a copy
//! of the module's template (`StartAddressOfRawData..EndAddressOfRawData`) followed by
//! `SizeOfZeroFill` zero bytes. `LdrShutdownThread` frees them.
//!
//! A DLL with a TLS directory mapped later (by LdrLoadDll, or to follow a forwarder) gets
//! the next index too, as on Vista and later: under the loader lock every thread the
//! loader knows ([`crate::tls_threads`]) gets a new array one slot longer, with its old
//! blocks and a new one for the DLL, before the DLL's callbacks and entry point run; if
//! one thread's cannot be had, no thread's changes and the load fails. The old array is
//! not freed then, since its thread may be reading it that moment: each array's header
//! keeps the one it replaced, and the thread's exit frees them all. When the DLL's last
//! reference goes, after its `DLL_PROCESS_DETACH`, its block is freed in every thread and
//! its index stays unused (indices are not reused, as on NT).
//! Blocks are 16-byte aligned, the heap's alignment: a larger one asked for in
//! `Characteristics` is not honoured.
//! The executable's entry carries `LDRP_ENTRY_PROCESSED` from process initialization on,
//! which says it is done without a write to ntdll's data in a process whose modules have
//! no TLS.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use abi::NtStatus;
use abi::nt::{ImageTlsCallback, LDRP_ENTRY_PROCESSED, LdrDataTableEntry};

use crate::image::{INVALID, Image};
use crate::rtl::heap::{HEAP_ZERO_MEMORY, RtlAllocateHeap, RtlFreeHeap, process_heap_handle};
use crate::rtl::string::units;
use crate::{ldr_calls, load, modules, tls_threads};

/// The most modules with TLS a process can have over its life (NT has no such bound).
const MAX_TLS_MODULES: usize = 16;

/// `TEB.ThreadLocalStoragePointer`'s offset in the TEB.
const TEB_THREAD_LOCAL_STORAGE_POINTER: u64 = 0x58;

/// The words before a thread's array, in the same heap block: the array it replaced (0 for
/// none) and its number of slots. 16 bytes keep the array at the heap's alignment.
const ARRAY_HEADER: usize = 2;

/// What the loader keeps of one module's TLS directory.
#[derive(Clone, Copy)]
struct TlsModule {
    /// 0 for an index whose module was unloaded.
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

// SAFETY: the thread that initializes the process writes the table before any other
// thread of the process gets past `ldr_lock::claim_process_initialization`; afterwards it
// is only read and written under the loader lock.
unsafe impl Sync for TlsModules {}

static MODULES: TlsModules = TlsModules(UnsafeCell::new([TlsModule::EMPTY; MAX_TLS_MODULES]));
/// Stays 0 (and ntdll's data untouched) in a process whose modules have no TLS.
static MODULE_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The modules with TLS, as the table is now; the caller holds the loader lock (or is the
/// process's only thread) and runs no callback while it uses the slice.
fn tls_modules() -> &'static [TlsModule] {
    let count = MODULE_COUNT.load(Ordering::Acquire);
    // SAFETY: the first `count` modules were written before `count` was published with
    // Release; they change only under the loader lock, which the caller holds.
    unsafe { &(&*MODULES.0.get())[..count] }
}

/// Whether any module of the process has or had TLS: its threads then need the loader
/// even without DLLs to notify.
pub fn in_use() -> bool {
    MODULE_COUNT.load(Ordering::Acquire) != 0
}

/// The module at `base`'s TLS directory as the loader keeps it, and its `AddressOfIndex`;
/// None without one. STATUS_INVALID_IMAGE_FORMAT for a malformed directory.
fn describe(base: u64) -> Result<Option<(TlsModule, u64)>, NtStatus> {
    let Some(directory) = Image::at(base)?.tls_directory()? else {
        return Ok(None);
    };
    let raw_data_size = usize::try_from(directory.raw_data_size).map_err(|_| INVALID)?;
    let block_size = raw_data_size
        .checked_add(directory.zero_fill as usize)
        .ok_or(INVALID)?;
    let module = TlsModule {
        base,
        raw_data: directory.raw_data,
        raw_data_size,
        block_size,
        callbacks: directory.callbacks,
    };
    Ok(Some((module, directory.index)))
}

/// Gives the module of `entry` index `index`: in its `AddressOfIndex`, its entry and the
/// table, not yet published. STATUS_INSUFFICIENT_RESOURCES past [`MAX_TLS_MODULES`].
fn assign_index(
    entry: *mut LdrDataTableEntry,
    module: TlsModule,
    index_address: u64,
    index: usize,
) -> Result<(), NtStatus> {
    let tls_index = u16::try_from(index)
        .ok()
        .filter(|_| index < MAX_TLS_MODULES)
        .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    // SAFETY: AddressOfIndex was checked to lie inside the module's image; the entry is
    // the loader's; the table slot past the published count is read by no one, and the
    // caller is the only thread or holds the loader lock.
    unsafe {
        (index_address as *mut u32).write_unaligned(u32::from(tls_index));
        (*entry).tls_index = tls_index;
        (&mut *MODULES.0.get())[index] = module;
    }
    Ok(())
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
        let described = describe(base).inspect_err(|_| report(b"ldr: bad TLS directory: ", entry));
        if let Some((module, index_address)) = described? {
            assign_index(entry, module, index_address, count)?;
            count += 1;
        }
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

/// Whether `image`, mapped now, may be loaded: STATUS_INVALID_IMAGE_FORMAT when its TLS
/// directory is malformed.
pub fn check_new_module(image: &Image) -> Result<(), NtStatus> {
    image.tls_directory().map(|_| ())
}

/// `LdrpHandleTlsData`: when the process is initialized and the module of `entry` (just
/// mapped, under the loader lock) has TLS, its index, and its block in every thread the
/// loader knows, the calling thread among them. STATUS_INSUFFICIENT_RESOURCES past
/// [`MAX_TLS_MODULES`], STATUS_NO_MEMORY when a thread's array or block cannot be had;
/// no thread changes then.
pub fn attach_module(entry: *mut LdrDataTableEntry) -> Result<(), NtStatus> {
    let initialized = modules::load_order()
        .next()
        // SAFETY: the executable's entry is the loader's, read under the loader lock.
        .is_some_and(|executable| unsafe { (*executable).flags } & LDRP_ENTRY_PROCESSED != 0);
    if !initialized {
        // Process initialization gives it its index with the others.
        return Ok(());
    }
    // SAFETY: the entry is the loader's.
    let Some((module, index_address)) = describe(unsafe { (*entry).dll_base })? else {
        return Ok(());
    };
    let index = MODULE_COUNT.load(Ordering::Acquire);
    assign_index(entry, module, index_address, index)?;
    tls_threads::list_current()?;
    // SAFETY: the slot at `index` was just written; under the loader lock.
    let modules = unsafe { &(&*MODULES.0.get())[..=index] };
    let mut result = Ok(());
    tls_threads::retain(|thread| {
        if result.is_err() {
            return true;
        }
        // A thread whose TEB is gone ended without telling the loader.
        let Some(array) = ldr_calls::read_u64(thread.teb + TEB_THREAD_LOCAL_STORAGE_POINTER) else {
            return false;
        };
        match new_array(array, modules) {
            Ok(new) => thread.pending = new,
            Err(status) => result = Err(status),
        }
        true
    });
    let installed = result.is_ok();
    tls_threads::retain(|thread| {
        let new = core::mem::take(&mut thread.pending);
        if new == 0 {
            return true;
        }
        if installed && ldr_calls::write_u64(thread.teb + TEB_THREAD_LOCAL_STORAGE_POINTER, new) {
            return true;
        }
        // The array reached no thread; of its blocks only the last one is its own.
        // SAFETY: the array was made above, with a slot per module up to `index`.
        let block = unsafe { (new as *const u64).add(index).read() };
        RtlFreeHeap(process_heap_handle(), 0, block);
        RtlFreeHeap(process_heap_handle(), 0, array_header(new) as u64);
        !installed
    });
    if let Err(status) = result {
        // SAFETY: under the loader lock; the slot was never published.
        unsafe { (&mut *MODULES.0.get())[index] = TlsModule::EMPTY };
        return Err(status);
    }
    MODULE_COUNT.store(index + 1, Ordering::Release);
    Ok(())
}

/// `LdrpReleaseTlsEntry`: the module at `base`, unloaded now (after its
/// `DLL_PROCESS_DETACH`, under the loader lock), has its block freed in every thread the
/// loader knows; its index stays unused.
pub fn detach_module(base: u64) {
    let Some(index) = tls_modules().iter().position(|module| module.base == base) else {
        return;
    };
    tls_threads::retain(|thread| {
        let Some(array) = ldr_calls::read_u64(thread.teb + TEB_THREAD_LOCAL_STORAGE_POINTER) else {
            return false;
        };
        if array != 0 && index < array_slots(array) {
            // SAFETY: the thread's array, in the process heap, has the slot; only the
            // loader writes it, under the loader lock.
            let slot = unsafe { &mut *(array as *mut u64).add(index) };
            RtlFreeHeap(process_heap_handle(), 0, core::mem::take(slot));
        }
        true
    });
    // SAFETY: under the loader lock, and no slice of the table is alive.
    unsafe { (&mut *MODULES.0.get())[index] = TlsModule::EMPTY };
}

/// `LdrpAllocateTls`: the calling thread's array and blocks, in
/// `TEB.ThreadLocalStoragePointer`. STATUS_NO_MEMORY, with nothing left allocated, when
/// the heap has no room.
pub fn allocate_thread_data() -> Result<(), NtStatus> {
    let modules = tls_modules();
    if modules.is_empty() {
        return Ok(());
    }
    set_thread_data(new_array(0, modules)?);
    Ok(())
}

/// A thread's new array with a slot per module of `modules`, replacing `previous` (0 for
/// none): the blocks of `previous`'s slots, a new block for each module past them.
/// STATUS_NO_MEMORY, with nothing left allocated, when the heap has no room.
fn new_array(previous: u64, modules: &[TlsModule]) -> Result<u64, NtStatus> {
    let heap = process_heap_handle();
    let header = RtlAllocateHeap(
        heap,
        HEAP_ZERO_MEMORY,
        (ARRAY_HEADER + modules.len()) * size_of::<u64>(),
    );
    if header == 0 {
        return Err(NtStatus::NO_MEMORY);
    }
    let array = header + (ARRAY_HEADER * size_of::<u64>()) as u64;
    let kept = if previous == 0 {
        0
    } else {
        array_slots(previous)
    };
    // SAFETY: the header block has the header's words and a slot per module.
    unsafe {
        array_header(array).write(previous);
        array_header(array).add(1).write(modules.len() as u64);
    }
    for (index, module) in modules.iter().enumerate() {
        let block = if index < kept {
            // SAFETY: `previous` has `kept` slots.
            unsafe { (previous as *const u64).add(index).read() }
        } else {
            match new_block(module) {
                Ok(block) => block,
                Err(status) => {
                    for fresh in kept..index {
                        // SAFETY: the array is this function's; the slots it gave new
                        // blocks are those from `kept` on.
                        let block = unsafe { (array as *const u64).add(fresh).read() };
                        RtlFreeHeap(heap, 0, block);
                    }
                    RtlFreeHeap(heap, 0, header);
                    return Err(status);
                }
            }
        };
        // SAFETY: the array has a slot per module.
        unsafe { (array as *mut u64).add(index).write(block) };
    }
    Ok(array)
}

/// A new block of `module`: its template and zero fill. 0 for an unloaded module's index.
fn new_block(module: &TlsModule) -> Result<u64, NtStatus> {
    if module.base == 0 {
        return Ok(0);
    }
    let block = RtlAllocateHeap(process_heap_handle(), 0, module.block_size);
    if block == 0 {
        return Err(NtStatus::NO_MEMORY);
    }
    // SAFETY: the block has `block_size` writable bytes; the template lies inside the
    // module's image (checked when it was listed), which stays mapped while its index is
    // in use.
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
    }
    Ok(block)
}

/// The header words of a thread's `array` ([`ARRAY_HEADER`]).
fn array_header(array: u64) -> *mut u64 {
    (array as *mut u64).wrapping_sub(ARRAY_HEADER)
}

/// How many slots a thread's `array` has.
fn array_slots(array: u64) -> usize {
    // SAFETY: every array the loader makes has its header before it.
    unsafe { array_header(array).add(1).read() as usize }
}

/// `LdrpFreeTls`: gives the calling thread's array, its blocks and the arrays it replaced
/// back to the heap.
pub fn free_thread_data() {
    let mut array = thread_data();
    if array == 0 {
        return;
    }
    set_thread_data(0);
    let heap = process_heap_handle();
    for index in 0..array_slots(array) {
        // SAFETY: the array has the slot, NULL for a block not allocated.
        let block = unsafe { (array as *const u64).add(index).read() };
        RtlFreeHeap(heap, 0, block);
    }
    while array != 0 {
        // SAFETY: every array the loader makes has its header before it.
        let previous = unsafe { array_header(array).read() };
        RtlFreeHeap(heap, 0, array_header(array) as u64);
        array = previous;
    }
}

/// `LdrpCallTlsInitializers`: the TLS callbacks of the module at `base`, in array order,
/// with `reason`. The array is read as it is now (a module may change it); it ends at a
/// NULL or at the first entry or callback outside the image.
pub fn call_callbacks(base: u64, reason: u32) {
    let callbacks = tls_modules()
        .iter()
        .find(|module| module.base == base)
        .map_or(0, |module| module.callbacks);
    if callbacks == 0 {
        return;
    }
    let Ok(image) = Image::at(base) else {
        return;
    };
    let slots = (0u64..).map(|index| callbacks.wrapping_add(index * 8));
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
