//! Loading and unloading DLLs: `LdrLoadDll`, `LdrUnloadDll`, `LdrGetDllHandle`,
//! `LdrGetProcedureAddress`, and what process initialization shares with them: mapping a
//! DLL (NtOpenFile, NtCreateSection(SEC_IMAGE), NtMapViewOfSection; when its preferred base
//! is taken the kernel maps it elsewhere and applies its base relocations, and says so with
//! STATUS_IMAGE_NOT_AT_BASE), binding a module's imports from the DLLs they name, loaded
//! in turn (`LdrpWalkImportDescriptor`, `LdrpSnapIAT`), following forwarded exports into
//! the DLLs they name, and the entry points' calls (`LdrpRunInitializeRoutines`,
//! `LdrpCallInitRoutine`).
//!
//! A DLL loaded by the executable's imports is pinned for the life of the process
//! (`LDR_PINNED_LOAD_COUNT`, as NT's static imports); one loaded by `LdrLoadDll` is
//! counted, holds a reference on every unpinned DLL its imports loaded, and is unmapped,
//! after its `DLL_PROCESS_DETACH`, when its count drops to zero.
//!
//! Names without a path are looked for in `\SystemRoot\System32\` (the boot image's one
//! directory, so the search path is not used), with `.dll` added when they have no
//! extension; a name with a path is opened as the NT path it is.

use abi::NtStatus;
use abi::memory::PAGE_READWRITE;
use abi::nt::{
    AnsiString, DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, LDR_PINNED_LOAD_COUNT,
    LDRP_ENTRY_PROCESSED, LDRP_IMAGE_DLL, LDRP_PROCESS_ATTACH_CALLED, LdrDataTableEntry,
    UnicodeString,
};

use crate::image::{
    Export, IMAGE_DIRECTORY_ENTRY_IAT, IMAGE_DIRECTORY_ENTRY_IMPORT, INVALID, Image, MAX_NAME,
};
use crate::ldr_lock::LoaderLock;
use crate::modules::{self, LoadedDll, MAX_DLL_PATH};
use crate::rtl::string::units;
use crate::{calls, ldr, ldr_calls, tls};

const IMAGE_ORDINAL_FLAG64: u64 = 1 << 63;
const IMPORT_DESCRIPTOR_SIZE: u32 = 20;
/// Where names without a path are looked for.
const SYSTEM_DIRECTORY: &[u8] = b"\\SystemRoot\\System32\\";

/// A DLL's entry point: `DllMain(hinstDLL, fdwReason, lpReserved)`, TRUE on success.
type DllEntryPoint = unsafe extern "system" fn(u64, u32, u64) -> i32;

/// Whether a load is for the executable's imports (pinned) or for `LdrLoadDll` (counted).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    Static,
    Dynamic,
}

/// The NT path of a DLL and where its base name starts.
struct DllPath {
    units: [u16; MAX_DLL_PATH],
    length: usize,
    base_name: usize,
}

impl DllPath {
    /// The path for `name` (UTF-16 units): as given when it has a path, else in the
    /// system directory; `.dll` added to a base name without an extension.
    /// STATUS_NAME_TOO_LONG when it does not fit, STATUS_INVALID_PARAMETER when empty.
    fn new(name: &[u16]) -> Result<Self, NtStatus> {
        if name.is_empty() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let backslash = u16::from(b'\\');
        let mut path = Self {
            units: [0; MAX_DLL_PATH],
            length: 0,
            base_name: 0,
        };
        if !name.contains(&backslash) {
            path.push(SYSTEM_DIRECTORY.iter().map(|byte| u16::from(*byte)))?;
        }
        path.push(name.iter().copied())?;
        path.base_name = path.units[..path.length]
            .iter()
            .rposition(|unit| *unit == backslash)
            .map_or(0, |separator| separator + 1);
        if !path.units[path.base_name..path.length].contains(&u16::from(b'.')) {
            path.push(b".dll".iter().map(|byte| u16::from(*byte)))?;
        }
        Ok(path)
    }

    fn push(&mut self, units: impl Iterator<Item = u16>) -> Result<(), NtStatus> {
        for unit in units {
            *self
                .units
                .get_mut(self.length)
                .ok_or(NtStatus::NAME_TOO_LONG)? = unit;
            self.length += 1;
        }
        Ok(())
    }

    fn full(&self) -> &[u16] {
        &self.units[..self.length]
    }

    fn base_name(&self) -> &[u16] {
        &self.units[self.base_name..self.length]
    }
}

/// `LdrLoadDll(SearchPath, DllCharacteristics, DllName, DllHandle)`: loads the DLL named
/// `name` (or takes another reference on it), with the DLLs its imports name, runs the
/// entry points not yet run and stores its base in `handle`. STATUS_DLL_NOT_FOUND for a
/// DLL (or an imported one) not in the image, STATUS_ENTRYPOINT_NOT_FOUND for an import
/// its DLL does not export, STATUS_DLL_INIT_FAILED when an entry point returns FALSE (the
/// DLLs it loaded are unloaded again). The search path and characteristics are not used.
///
/// # Safety
/// `name` points to a readable `UNICODE_STRING` whose buffer is readable for its length;
/// `handle` to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn LdrLoadDll(
    _search_path: *const u16,
    _characteristics: *const u32,
    name: *const UnicodeString,
    handle: *mut u64,
) -> NtStatus {
    // SAFETY: as the caller guarantees.
    let path = match unsafe { name_units(name) }.and_then(DllPath::new) {
        Ok(path) => path,
        Err(status) => return status,
    };
    let _lock = LoaderLock::acquire();
    let loaded = load_dll(&path, LoadKind::Dynamic).and_then(|entry| {
        if let Err(status) = run_initializers(LoadKind::Dynamic) {
            // Whatever this load added goes again; what was loaded before stays.
            unload(entry);
            return Err(status);
        }
        Ok(entry)
    });
    match loaded {
        Ok(entry) => {
            // SAFETY: the caller gives a writable pointer; the entry is the loader's.
            unsafe { handle.write((*entry).dll_base) };
            NtStatus::SUCCESS
        }
        Err(status) => status,
    }
}

/// `LdrUnloadDll(DllHandle)`: drops a reference on the DLL mapped at `base`; the last one
/// runs its `DLL_PROCESS_DETACH`, releases the DLLs its imports loaded and unmaps it. A
/// pinned module stays. STATUS_DLL_NOT_FOUND when no module is mapped there.
#[unsafe(no_mangle)]
pub extern "system" fn LdrUnloadDll(base: u64) -> NtStatus {
    let _lock = LoaderLock::acquire();
    match modules::find_by_base(base) {
        Some(entry) => {
            unload(entry);
            NtStatus::SUCCESS
        }
        None => NtStatus::DLL_NOT_FOUND,
    }
}

/// `LdrGetDllHandle(DllPath, DllCharacteristics, DllName, DllHandle)`: the base of the
/// loaded module named `name` (its base name, compared ignoring case, `.dll` added when
/// it has no extension), without taking a reference. STATUS_DLL_NOT_FOUND when none is.
///
/// # Safety
/// As [`LdrLoadDll`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn LdrGetDllHandle(
    _path: *const u16,
    _characteristics: *const u32,
    name: *const UnicodeString,
    handle: *mut u64,
) -> NtStatus {
    // SAFETY: as the caller guarantees.
    let path = match unsafe { name_units(name) }.and_then(DllPath::new) {
        Ok(path) => path,
        Err(status) => return status,
    };
    let _lock = LoaderLock::acquire();
    match modules::find_by_name(path.base_name()) {
        Some(entry) => {
            // SAFETY: the caller gives a writable pointer; the entry is the loader's.
            unsafe { handle.write((*entry).dll_base) };
            NtStatus::SUCCESS
        }
        None => NtStatus::DLL_NOT_FOUND,
    }
}

/// `LdrGetProcedureAddress(DllHandle, ProcedureName, ProcedureNumber, ProcedureAddress)`:
/// the address the module at `base` exports as `name`, or, when `name` is NULL, as ordinal
/// `ordinal`, following forwarders (the DLLs they name are loaded for the life of the
/// process and initialized). STATUS_DLL_NOT_FOUND when no module is mapped at `base`,
/// STATUS_PROCEDURE_NOT_FOUND for a name it does not export, STATUS_ORDINAL_NOT_FOUND for
/// an ordinal, STATUS_INVALID_PARAMETER for neither.
///
/// # Safety
/// `name` is NULL or points to a readable `ANSI_STRING` whose buffer is readable for its
/// length; `address` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn LdrGetProcedureAddress(
    base: u64,
    name: *const AnsiString,
    ordinal: u32,
    address: *mut u64,
) -> NtStatus {
    let _lock = LoaderLock::acquire();
    if modules::find_by_base(base).is_none() {
        return NtStatus::DLL_NOT_FOUND;
    }
    // The DLLs forwarders name are loaded for the life of the process.
    let importing = Importing {
        kind: LoadKind::Static,
        importer: None,
        dll_name: b"",
    };
    let found = Image::at(base).and_then(|image| {
        if name.is_null() {
            let ordinal = u16::try_from(ordinal).map_err(|_| NtStatus::ORDINAL_NOT_FOUND)?;
            if ordinal == 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            resolve_export(&image, Wanted::Ordinal(ordinal), &importing)?
                .ok_or(NtStatus::ORDINAL_NOT_FOUND)
        } else {
            // SAFETY: the caller gives a readable ANSI_STRING.
            let name = unsafe { name.read() };
            if name.buffer == 0 || u32::from(name.length) > MAX_NAME {
                return Err(NtStatus::PROCEDURE_NOT_FOUND);
            }
            // SAFETY: the caller gives a buffer readable for its length.
            let name = unsafe {
                core::slice::from_raw_parts(name.buffer as *const u8, usize::from(name.length))
            };
            resolve_export(&image, Wanted::Name(name, 0), &importing)?
                .ok_or(NtStatus::PROCEDURE_NOT_FOUND)
        }
    });
    // A DLL a forwarder loaded is initialized before its export is used.
    let found = found.and_then(|found| {
        run_initializers(LoadKind::Dynamic)?;
        Ok(found)
    });
    match found {
        Ok(found) => {
            // SAFETY: the caller gives a writable pointer.
            unsafe { address.write(found) };
            NtStatus::SUCCESS
        }
        Err(status) => status,
    }
}

/// The units of a caller's `UNICODE_STRING`.
///
/// # Safety
/// `name` points to a readable `UNICODE_STRING` whose buffer is readable for its length,
/// for as long as the slice is used.
unsafe fn name_units<'a>(name: *const UnicodeString) -> Result<&'a [u16], NtStatus> {
    if name.is_null() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // SAFETY: as the caller guarantees.
    let name = unsafe { name.read() };
    if name.buffer == 0 || name.buffer % 2 != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // SAFETY: as the caller guarantees; the buffer is aligned.
    Ok(unsafe {
        core::slice::from_raw_parts(name.buffer as *const u16, usize::from(name.length / 2))
    })
}

/// `LdrpLoadDll`: the module for `path`, already loaded (another reference taken unless
/// pinned; a static load pins it) or mapped now with its imports bound, and appended to
/// the initialization order. Its entry point is not run yet ([`run_initializers`]). On
/// failure everything this call mapped is unmapped again.
fn load_dll(path: &DllPath, kind: LoadKind) -> Result<*mut LdrDataTableEntry, NtStatus> {
    if let Some(entry) = modules::find_by_name(path.base_name()) {
        // SAFETY: the entry is the loader's, changed under the loader lock.
        let count = unsafe { &mut (*entry).obsolete_load_count };
        if kind == LoadKind::Static {
            *count = LDR_PINNED_LOAD_COUNT;
        } else if *count != LDR_PINNED_LOAD_COUNT {
            // A count that reaches the pinned value pins the module.
            *count += 1;
        }
        return Ok(entry);
    }
    let base = ldr_calls::map_image_file(path.full()).map_err(|status| {
        let status = match status {
            NtStatus::OBJECT_NAME_NOT_FOUND | NtStatus::OBJECT_PATH_NOT_FOUND => {
                NtStatus::DLL_NOT_FOUND
            }
            status => status,
        };
        if status == NtStatus::DLL_NOT_FOUND {
            report_units(b"ldr: DLL not found: ", path.base_name());
        }
        status
    })?;
    let image = match Image::at(base) {
        Ok(image) => image,
        Err(status) => {
            ldr_calls::unmap_image(base);
            return Err(status);
        }
    };
    if let Err(status) = tls::check_new_module(&image) {
        ldr_calls::unmap_image(base);
        report_units(b"ldr: bad TLS directory: ", path.base_name());
        return Err(status);
    }
    // An image that is not a DLL is mapped, but its entry point is never called.
    let header = image
        .is_dll()
        .and_then(|is_dll| Ok((is_dll, image.entry_point()?)));
    let (is_dll, entry_point) = match header {
        Ok(header) => header,
        Err(status) => {
            ldr_calls::unmap_image(base);
            return Err(status);
        }
    };
    let load_count = match kind {
        LoadKind::Static => LDR_PINNED_LOAD_COUNT,
        LoadKind::Dynamic => 1,
    };
    let dll = match modules::insert_dll(path.full(), &image, is_dll, entry_point, load_count) {
        Ok(dll) => dll,
        Err(status) => {
            ldr_calls::unmap_image(base);
            return Err(status);
        }
    };
    let entry = dll.cast::<LdrDataTableEntry>();
    let attached = snap_imports(&image, kind, Some(dll)).and_then(|()| tls::attach_module(entry));
    if let Err(status) = attached {
        // Not initialized yet: its count goes to zero and it goes, with its dependencies.
        // SAFETY: the entry is the loader's.
        unsafe { (*entry).obsolete_load_count = 1 };
        unload(entry);
        return Err(status);
    }
    modules::append_to_initialization_order(entry);
    Ok(entry)
}

/// Drops a reference on `entry`; at zero: `DLL_PROCESS_DETACH` if it was attached, the
/// references its imports hold, its view and its entry go.
fn unload(entry: *mut LdrDataTableEntry) {
    // SAFETY: the entry is the loader's, changed under the loader lock.
    let entry_ref = unsafe { &mut *entry };
    if entry_ref.obsolete_load_count == LDR_PINNED_LOAD_COUNT {
        return;
    }
    entry_ref.obsolete_load_count = entry_ref.obsolete_load_count.saturating_sub(1);
    if entry_ref.obsolete_load_count != 0 {
        return;
    }
    if entry_ref.flags & LDRP_PROCESS_ATTACH_CALLED != 0 {
        entry_ref.flags &= !LDRP_PROCESS_ATTACH_CALLED;
        ldr::count_attached(false);
        call_entry_point(entry, DLL_PROCESS_DETACH, 0);
    }
    tls::detach_module(entry_ref.dll_base);
    // Only DLLs the loader mapped have unpinned counts.
    let dll = entry.cast::<LoadedDll>();
    while let Some(dependency) = modules::pop_dependency(dll) {
        unload(dependency);
    }
    ldr_calls::unmap_image(entry_ref.dll_base);
    modules::remove_dll(dll);
}

/// `LdrpWalkImportDescriptor` for `image` (the executable when `importer` is None, else the
/// DLL `importer` describes): each import descriptor's DLL is loaded (ntdll and the DLLs
/// already loaded are found), recorded as a dependency of a counted importer, and its
/// thunks bound. The import address table is made writable for the writes (a
/// copy-on-write page per process) and given its protection back afterwards.
pub fn snap_imports(
    image: &Image,
    kind: LoadKind,
    importer: Option<*mut LoadedDll>,
) -> Result<(), NtStatus> {
    let (imports, _) = image.directory(IMAGE_DIRECTORY_ENTRY_IMPORT)?;
    if imports == 0 {
        return Ok(());
    }
    let (iat, iat_size) = image.directory(IMAGE_DIRECTORY_ENTRY_IAT)?;
    let iat_address = image.address(iat, iat_size)?;
    let old_protect = if iat_size == 0 {
        None
    } else {
        Some(calls::protect_own_memory(
            iat_address,
            u64::from(iat_size),
            PAGE_READWRITE,
        )?)
    };
    let mut descriptor = imports;
    loop {
        let name = image.read_u32(descriptor + 12)?;
        let first_thunk = image.read_u32(descriptor + 16)?;
        if name == 0 && first_thunk == 0 {
            break;
        }
        let dll_name = image.name(name)?;
        let mut name_units = [0u16; MAX_NAME as usize];
        for (unit, byte) in name_units.iter_mut().zip(dll_name) {
            *unit = u16::from(*byte);
        }
        let path = DllPath::new(&name_units[..dll_name.len()])?;
        let exporter = load_dependency(&path, kind, importer)?;
        let original_first_thunk = image.read_u32(descriptor)?;
        let lookup = if original_first_thunk != 0 {
            original_first_thunk
        } else {
            first_thunk
        };
        let importing = Importing {
            kind,
            importer,
            dll_name,
        };
        snap_thunks(image, &exporter, &importing, lookup, first_thunk)?;
        descriptor = descriptor
            .checked_add(IMPORT_DESCRIPTOR_SIZE)
            .ok_or(INVALID)?;
    }
    if let Some(protect) = old_protect {
        calls::protect_own_memory(iat_address, u64::from(iat_size), protect)?;
    }
    Ok(())
}

/// The DLL for `path` loaded as `kind` (see [`load_dll`]), with the reference a counted
/// `importer` takes on an unpinned one recorded: the image it exports from.
fn load_dependency(
    path: &DllPath,
    kind: LoadKind,
    importer: Option<*mut LoadedDll>,
) -> Result<Image, NtStatus> {
    let dependency = load_dll(path, kind)?;
    // SAFETY: the entry is the loader's.
    let pinned = unsafe { (*dependency).obsolete_load_count } == LDR_PINNED_LOAD_COUNT;
    if let Some(importer) = importer.filter(|_| !pinned)
        && let Err(status) = modules::add_dependency(importer, dependency)
    {
        unload(dependency);
        return Err(status);
    }
    // SAFETY: the entry is the loader's.
    Image::at(unsafe { (*dependency).dll_base })
}

/// Who binds imports: how the DLLs forwarders name are loaded, who holds the references
/// and, for the messages, which DLL the imports are from.
struct Importing<'a> {
    kind: LoadKind,
    importer: Option<*mut LoadedDll>,
    dll_name: &'a [u8],
}

/// An export asked for by name (with the import's hint) or by ordinal.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    Name(&'a [u8], u16),
    Ordinal(u16),
}

/// How many forwarders in a row the loader follows (a loop of them must end).
const MAX_FORWARDS: usize = 8;

/// The address `exporter` exports as `wanted`, following forwarders (`DLL.Name`,
/// `DLL.#Ordinal`) into the DLLs they name, loaded for `importing`. None when the last
/// DLL does not export it; STATUS_INVALID_IMAGE_FORMAT for a malformed forwarder or too
/// long a chain.
fn resolve_export(
    exporter: &Image,
    wanted: Wanted<'_>,
    importing: &Importing<'_>,
) -> Result<Option<u64>, NtStatus> {
    let mut image = Image::at(exporter.base)?;
    let mut name = [0u8; MAX_NAME as usize];
    let mut wanted_ordinal = None;
    let (mut name_length, mut hint) = (0, 0);
    match wanted {
        Wanted::Name(wanted, wanted_hint) => {
            name_length = wanted.len().min(name.len());
            name[..name_length].copy_from_slice(&wanted[..name_length]);
            hint = wanted_hint;
        }
        Wanted::Ordinal(ordinal) => wanted_ordinal = Some(ordinal),
    }
    for _ in 0..MAX_FORWARDS {
        let export = match wanted_ordinal {
            Some(ordinal) => image.export_by_ordinal(ordinal)?,
            None => image.export_by_name(&name[..name_length], hint)?,
        };
        let forwarder = match export {
            None => return Ok(None),
            Some(Export::Address(address)) => return Ok(Some(address)),
            Some(Export::Forwarder(forwarder)) => forwarder,
        };
        let dot = forwarder
            .iter()
            .rposition(|byte| *byte == b'.')
            .ok_or(INVALID)?;
        let (dll, target) = (&forwarder[..dot], &forwarder[dot + 1..]);
        let mut dll_units = [0u16; MAX_NAME as usize];
        for (unit, byte) in dll_units.iter_mut().zip(dll) {
            *unit = u16::from(*byte);
        }
        wanted_ordinal = match target.strip_prefix(b"#") {
            Some(digits) => Some(parse_ordinal(digits).ok_or(INVALID)?),
            None => {
                name_length = target.len();
                name[..name_length].copy_from_slice(target);
                hint = 0;
                None
            }
        };
        let path = DllPath::new(&dll_units[..dll.len()])?;
        image = load_dependency(&path, importing.kind, importing.importer)?;
    }
    Err(INVALID)
}

/// A forwarder's decimal ordinal.
fn parse_ordinal(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u16, |value, digit| {
        let digit = u16::from(digit.checked_sub(b'0').filter(|digit| *digit < 10)?);
        value.checked_mul(10)?.checked_add(digit)
    })
}

/// Binds the thunks of one import descriptor of `image`: `lookup` names each import (by
/// ordinal or by hint and name) in `exporter`, `first_thunk` receives the addresses.
/// STATUS_ENTRYPOINT_NOT_FOUND for one it does not export.
fn snap_thunks(
    image: &Image,
    exporter: &Image,
    importing: &Importing<'_>,
    lookup: u32,
    first_thunk: u32,
) -> Result<(), NtStatus> {
    let dll_name = importing.dll_name;
    let mut index = 0u32;
    loop {
        let offset = index.checked_mul(8).ok_or(INVALID)?;
        let entry = image.read_u64(lookup.checked_add(offset).ok_or(INVALID)?)?;
        if entry == 0 {
            return Ok(());
        }
        let address = if entry & IMAGE_ORDINAL_FLAG64 != 0 {
            let ordinal = entry as u16;
            resolve_export(exporter, Wanted::Ordinal(ordinal), importing)?.ok_or_else(|| {
                report_missing(b"ldr: ordinal not found in ", dll_name, &decimal(ordinal));
                NtStatus::ENTRYPOINT_NOT_FOUND
            })?
        } else {
            let hint_name = u32::try_from(entry).map_err(|_| INVALID)?;
            let hint = image.read_u16(hint_name)?;
            let name = image.name(hint_name.checked_add(2).ok_or(INVALID)?)?;
            resolve_export(exporter, Wanted::Name(name, hint), importing)?.ok_or_else(|| {
                report_missing(b"ldr: entry point not found in ", dll_name, name);
                NtStatus::ENTRYPOINT_NOT_FOUND
            })?
        };
        let slot = image.address(first_thunk.checked_add(offset).ok_or(INVALID)?, 8)?;
        // SAFETY: the slot lies inside the image, in the import address table made
        // writable above (or a writable section when the image has no IAT directory).
        unsafe { (slot as *mut u64).write_unaligned(address) };
        index += 1;
    }
}

/// `LdrpRunInitializeRoutines`: `DLL_PROCESS_ATTACH` for every DLL in initialization
/// order whose entry point has not run, with `lpReserved` non-NULL for the executable's
/// imports, as on NT. An entry point returning FALSE gets its `DLL_PROCESS_DETACH` at
/// once, and the load fails with STATUS_DLL_INIT_FAILED.
pub fn run_initializers(kind: LoadKind) -> Result<(), NtStatus> {
    let reserved = match kind {
        LoadKind::Static => 1,
        LoadKind::Dynamic => 0,
    };
    for entry in modules::initialization_order(false) {
        // SAFETY: the entry is the loader's, changed under the loader lock.
        let entry_ref = unsafe { &mut *entry };
        if entry_ref.flags & LDRP_ENTRY_PROCESSED != 0 {
            continue;
        }
        entry_ref.flags |= LDRP_ENTRY_PROCESSED;
        if entry_ref.entry_point == 0 || entry_ref.flags & LDRP_IMAGE_DLL == 0 {
            continue;
        }
        entry_ref.flags |= LDRP_PROCESS_ATTACH_CALLED;
        if call_entry_point(entry, DLL_PROCESS_ATTACH, reserved) {
            ldr::count_attached(true);
        } else {
            entry_ref.flags &= !LDRP_PROCESS_ATTACH_CALLED;
            call_entry_point(entry, DLL_PROCESS_DETACH, reserved);
            // SAFETY: the names are the loader's, in its own allocations.
            report_units(b"ldr: DLL_PROCESS_ATTACH failed: ", unsafe {
                units(&entry_ref.base_dll_name)
            });
            return Err(NtStatus::DLL_INIT_FAILED);
        }
    }
    Ok(())
}

/// `LdrpCallInitRoutine`: the DLL's TLS callbacks, then the entry point of `entry`, with
/// `reason` (the callbacks before the entry point on detach too, as NT calls them); the
/// entry point's answer. A DLL without an entry point gets neither, as on NT.
pub fn call_entry_point(entry: *mut LdrDataTableEntry, reason: u32, reserved: u64) -> bool {
    // SAFETY: the entry is the loader's.
    let (base, entry_point) = unsafe { ((*entry).dll_base, (*entry).entry_point) };
    if entry_point == 0 {
        return true;
    }
    tls::call_callbacks(base, reason);
    // SAFETY: the entry point is the DLL's own `AddressOfEntryPoint`, inside its mapped
    // image, with DllMain's signature; the loader lock is held, as DllMain expects.
    let entry_point: DllEntryPoint = unsafe { core::mem::transmute(entry_point) };
    // SAFETY: as above.
    unsafe { entry_point(base, reason, reserved) != 0 }
}

/// Prints `what`, `dll`, `: `, `name` and a newline.
fn report_missing(what: &[u8], dll: &[u8], name: &[u8]) {
    ldr::report(&[what, dll, b": ", name]);
}

/// Prints `what` followed by the ASCII of `name` and a newline.
pub fn report_units(what: &[u8], name: &[u16]) {
    let mut ascii = [0u8; MAX_DLL_PATH];
    for (byte, unit) in ascii.iter_mut().zip(name) {
        *byte = u8::try_from(*unit).unwrap_or(b'?');
    }
    ldr::report(&[what, &ascii[..name.len().min(MAX_DLL_PATH)]]);
}

/// `value` in decimal ASCII, with leading zeros (`00042`): enough to name an ordinal.
fn decimal(value: u16) -> [u8; 5] {
    let mut digits = [b'0'; 5];
    let mut rest = value;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits
}
