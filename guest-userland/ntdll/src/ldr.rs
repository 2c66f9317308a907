//! The user-mode loader: `LdrInitializeThunk`, where the kernel starts a process's first
//! thread when ntdll is mapped, binds the executable's imports from ntdll's exports and
//! then jumps to the executable's entry point. The module list in `PEB.Ldr` is
//! [`crate::modules`]'s.
//!
//! NT reaches LdrInitializeThunk through a user APC that PspUserThreadStartup queues, and
//! it ends with NtContinue to the thread's initial context. Here the kernel starts the
//! thread at LdrInitializeThunk itself, with the initial context's registers (`rcx` = the
//! PEB, `rsp` as for the entry point), so the thunk preserves those two and ends with a
//! jump to the entry point it reads from the executable's headers: the entry point sees
//! exactly what it would have seen without a loader.
//!
//! Only ntdll.dll can be imported for now: an import from any other DLL ends the process
//! with STATUS_DLL_NOT_FOUND, a name or ordinal ntdll does not export with
//! STATUS_ENTRYPOINT_NOT_FOUND, a malformed import directory with
//! STATUS_INVALID_IMAGE_FORMAT. Each prints a line saying what was missing.

use abi::NtStatus;
use abi::memory::PAGE_READWRITE;
use abi::nt::Peb;

use crate::{calls, modules};

/// The name the import directory must give for ntdll (compared ignoring case).
const SYSTEM_DLL_NAME: &[u8] = b"ntdll.dll";
/// Longest import or DLL name the loader reads.
const MAX_NAME: u32 = 256;

const IMAGE_DIRECTORY_ENTRY_EXPORT: u32 = 0;
const IMAGE_DIRECTORY_ENTRY_IMPORT: u32 = 1;
const IMAGE_DIRECTORY_ENTRY_IAT: u32 = 12;
const IMAGE_ORDINAL_FLAG64: u64 = 1 << 63;
const IMAGE_NT_OPTIONAL_HDR64_MAGIC: u16 = 0x20B;
const IMPORT_DESCRIPTOR_SIZE: u32 = 20;

unsafe extern "C" {
    /// The linker's symbol at ntdll's own image base (its DOS header).
    static __ImageBase: u8;
}

/// The thread's first instructions in a process with ntdll: keeps `rcx` (the PEB) and
/// `rsp` in non-volatile registers, calls [`initialize_process`] on an aligned stack, then
/// restores both and jumps to the entry point it returned.
///
/// # Safety
/// Only the kernel enters it, as a new process's first thread.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn LdrInitializeThunk() -> ! {
    core::arch::naked_asm!(
        "mov rbx, rsp",
        "mov rsi, rcx",
        "and rsp, -16",
        "sub rsp, 32",
        "call {initialize}",
        "mov rsp, rbx",
        "mov rcx, rsi",
        "xor ebx, ebx",
        "xor esi, esi",
        "jmp rax",
        initialize = sym initialize_process,
    )
}

/// `LdrpInitializeProcess`: lists the executable and ntdll in `PEB.Ldr`, binds the
/// executable's imports and returns its entry point, or ends the process with the reason
/// it cannot run.
extern "system" fn initialize_process(peb: *const Peb) -> u64 {
    // SAFETY: the kernel passes the process's PEB, mapped and written before the thread.
    let image_base = unsafe { (*peb).image_base_address };
    // Only the address of `__ImageBase` is taken, never its value.
    let ntdll_base = &raw const __ImageBase as u64;
    // The runtime library's share of process initialization (the process heap).
    // SAFETY: as above: the process's PEB, writable by the process.
    unsafe { crate::rtl::initialize_process(peb.cast_mut()) };
    let result = Image::at(image_base).and_then(|executable| {
        let ntdll = Image::at(ntdll_base)?;
        let entry_point = executable.entry_point()?;
        modules::initialize(peb.cast_mut(), &executable, entry_point, &ntdll)?;
        snap_imports(&executable, &ntdll)?;
        Ok(entry_point)
    });
    match result {
        Ok(entry) => entry,
        Err(status) => calls::terminate_current_process(status),
    }
}

/// A mapped PE32+ image: its base, size and where its optional header is.
pub(crate) struct Image {
    pub(crate) base: u64,
    /// `SizeOfImage`.
    pub(crate) size: u32,
    optional_header: u32,
}

impl Image {
    /// The image mapped at `base`, after checking the header fields the loader reads.
    fn at(base: u64) -> Result<Self, NtStatus> {
        // The headers are at least a page: enough for these reads before SizeOfImage is known.
        let mut image = Self {
            base,
            size: 0x1000,
            optional_header: 0,
        };
        if base == 0 || image.read_u16(0)? != u16::from_le_bytes(*b"MZ") {
            return Err(NtStatus::INVALID_IMAGE_FORMAT);
        }
        let nt_headers = image.read_u32(0x3C)?;
        if image.read_u32(nt_headers)? != u32::from_le_bytes(*b"PE\0\0") {
            return Err(NtStatus::INVALID_IMAGE_FORMAT);
        }
        image.optional_header = nt_headers.checked_add(24).ok_or(INVALID)?;
        if image.read_u16(image.optional_header)? != IMAGE_NT_OPTIONAL_HDR64_MAGIC {
            return Err(INVALID);
        }
        image.size = image.read_u32(image.optional_header + 56)?;
        Ok(image)
    }

    /// `AddressOfEntryPoint` as an address; an image without one cannot run.
    fn entry_point(&self) -> Result<u64, NtStatus> {
        match self.read_u32(self.optional_header + 16)? {
            0 => Err(INVALID),
            rva => Ok(self.base + u64::from(rva)),
        }
    }

    /// Data directory `index`: its RVA and size, (0, 0) when absent.
    fn directory(&self, index: u32) -> Result<(u32, u32), NtStatus> {
        if index >= self.read_u32(self.optional_header + 108)? {
            return Ok((0, 0));
        }
        let entry = self.optional_header + 112 + 8 * index;
        Ok((self.read_u32(entry)?, self.read_u32(entry + 4)?))
    }

    /// The address of `length` bytes at `rva`, when they lie inside the image.
    fn address(&self, rva: u32, length: u32) -> Result<u64, NtStatus> {
        match rva.checked_add(length) {
            Some(end) if end <= self.size => Ok(self.base + u64::from(rva)),
            _ => Err(INVALID),
        }
    }

    fn read_u16(&self, rva: u32) -> Result<u16, NtStatus> {
        let address = self.address(rva, 2)?;
        // SAFETY: the two bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u16).read_unaligned() })
    }

    fn read_u32(&self, rva: u32) -> Result<u32, NtStatus> {
        let address = self.address(rva, 4)?;
        // SAFETY: the four bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u32).read_unaligned() })
    }

    fn read_u64(&self, rva: u32) -> Result<u64, NtStatus> {
        let address = self.address(rva, 8)?;
        // SAFETY: the eight bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u64).read_unaligned() })
    }

    /// The NUL-terminated name at `rva` (at most [`MAX_NAME`] bytes, without the NUL).
    fn name(&self, rva: u32) -> Result<&[u8], NtStatus> {
        let mut length = 0;
        while self.read_u8(rva.checked_add(length).ok_or(INVALID)?)? != 0 {
            length += 1;
            if length > MAX_NAME {
                return Err(INVALID);
            }
        }
        let address = self.address(rva, length)?;
        // SAFETY: `length` bytes at `address` lie inside the mapped image, which stays
        // mapped for the life of the process.
        Ok(unsafe { core::slice::from_raw_parts(address as *const u8, length as usize) })
    }

    fn read_u8(&self, rva: u32) -> Result<u8, NtStatus> {
        let address = self.address(rva, 1)?;
        // SAFETY: the byte lies inside the mapped image.
        Ok(unsafe { (address as *const u8).read() })
    }

    /// The address this image exports as ordinal `ordinal`.
    fn export_by_ordinal(&self, ordinal: u16) -> Result<Option<u64>, NtStatus> {
        let Some(exports) = ExportDirectory::of(self)? else {
            return Ok(None);
        };
        let Some(index) = u32::from(ordinal).checked_sub(exports.ordinal_base) else {
            return Ok(None);
        };
        exports.function(self, index)
    }

    /// The address this image exports as `name`, trying the import's `hint` (an index into
    /// the name table) first, then a binary search of the sorted name table.
    fn export_by_name(&self, name: &[u8], hint: u16) -> Result<Option<u64>, NtStatus> {
        let Some(exports) = ExportDirectory::of(self)? else {
            return Ok(None);
        };
        let name_at = |index: u32| -> Result<&[u8], NtStatus> {
            self.name(self.read_u32(exports.names + 4 * index)?)
        };
        let found = if u32::from(hint) < exports.name_count && name_at(u32::from(hint))? == name {
            Some(u32::from(hint))
        } else {
            let (mut low, mut high) = (0, exports.name_count);
            let mut found = None;
            while low < high {
                let middle = low + (high - low) / 2;
                match name_at(middle)?.cmp(name) {
                    core::cmp::Ordering::Less => low = middle + 1,
                    core::cmp::Ordering::Greater => high = middle,
                    core::cmp::Ordering::Equal => {
                        found = Some(middle);
                        break;
                    }
                }
            }
            found
        };
        match found {
            Some(name_index) => {
                let index = self.read_u16(exports.name_ordinals + 2 * name_index)?;
                exports.function(self, u32::from(index))
            }
            None => Ok(None),
        }
    }
}

const INVALID: NtStatus = NtStatus::INVALID_IMAGE_FORMAT;

/// The fields of `IMAGE_EXPORT_DIRECTORY` the loader uses.
struct ExportDirectory {
    /// Where the directory is, so a function inside it (a forwarder) is told apart.
    range: (u32, u32),
    ordinal_base: u32,
    function_count: u32,
    name_count: u32,
    functions: u32,
    names: u32,
    name_ordinals: u32,
}

impl ExportDirectory {
    fn of(image: &Image) -> Result<Option<Self>, NtStatus> {
        let (rva, size) = image.directory(IMAGE_DIRECTORY_ENTRY_EXPORT)?;
        if rva == 0 {
            return Ok(None);
        }
        Ok(Some(Self {
            range: (rva, rva.saturating_add(size)),
            ordinal_base: image.read_u32(rva + 16)?,
            function_count: image.read_u32(rva + 20)?,
            name_count: image.read_u32(rva + 24)?,
            functions: image.read_u32(rva + 28)?,
            names: image.read_u32(rva + 32)?,
            name_ordinals: image.read_u32(rva + 36)?,
        }))
    }

    /// The address of function `index`; None for an empty slot or a forwarder (ntdll
    /// forwards nothing, and no other DLL can be loaded to forward to).
    fn function(&self, image: &Image, index: u32) -> Result<Option<u64>, NtStatus> {
        if index >= self.function_count {
            return Ok(None);
        }
        let rva = image.read_u32(self.functions + 4 * index)?;
        if rva == 0 || (self.range.0..self.range.1).contains(&rva) {
            return Ok(None);
        }
        Ok(Some(image.address(rva, 1)?))
    }
}

/// `LdrpSnapIAT` for every import descriptor of `executable`: each must name ntdll, and
/// each of its thunks gets the address ntdll exports for it. The import address table is
/// made writable for the writes (a copy-on-write page per process) and given its
/// protection back afterwards.
fn snap_imports(executable: &Image, ntdll: &Image) -> Result<(), NtStatus> {
    let (imports, _) = executable.directory(IMAGE_DIRECTORY_ENTRY_IMPORT)?;
    if imports == 0 {
        return Ok(());
    }
    let (iat, iat_size) = executable.directory(IMAGE_DIRECTORY_ENTRY_IAT)?;
    let iat_address = executable.address(iat, iat_size)?;
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
        let name = executable.read_u32(descriptor + 12)?;
        let first_thunk = executable.read_u32(descriptor + 16)?;
        if name == 0 && first_thunk == 0 {
            break;
        }
        let dll = executable.name(name)?;
        if !dll.eq_ignore_ascii_case(SYSTEM_DLL_NAME) {
            report(b"ldr: DLL not found: ", dll);
            return Err(NtStatus::DLL_NOT_FOUND);
        }
        let original_first_thunk = executable.read_u32(descriptor)?;
        let lookup = if original_first_thunk != 0 {
            original_first_thunk
        } else {
            first_thunk
        };
        snap_thunks(executable, ntdll, lookup, first_thunk)?;
        descriptor = descriptor
            .checked_add(IMPORT_DESCRIPTOR_SIZE)
            .ok_or(INVALID)?;
    }
    if let Some(protect) = old_protect {
        calls::protect_own_memory(iat_address, u64::from(iat_size), protect)?;
    }
    Ok(())
}

/// Binds the thunks of one import descriptor: `lookup` names each import (by ordinal or
/// by hint and name), `first_thunk` receives the addresses.
fn snap_thunks(
    executable: &Image,
    ntdll: &Image,
    lookup: u32,
    first_thunk: u32,
) -> Result<(), NtStatus> {
    let mut index = 0u32;
    loop {
        let offset = index.checked_mul(8).ok_or(INVALID)?;
        let entry = executable.read_u64(lookup.checked_add(offset).ok_or(INVALID)?)?;
        if entry == 0 {
            return Ok(());
        }
        let address = if entry & IMAGE_ORDINAL_FLAG64 != 0 {
            let ordinal = entry as u16;
            ntdll.export_by_ordinal(ordinal)?.ok_or_else(|| {
                report(b"ldr: ordinal not found in ntdll.dll: ", &decimal(ordinal));
                NtStatus::ENTRYPOINT_NOT_FOUND
            })?
        } else {
            let hint_name = u32::try_from(entry).map_err(|_| INVALID)?;
            let hint = executable.read_u16(hint_name)?;
            let name = executable.name(hint_name.checked_add(2).ok_or(INVALID)?)?;
            ntdll.export_by_name(name, hint)?.ok_or_else(|| {
                report(b"ldr: entry point not found in ntdll.dll: ", name);
                NtStatus::ENTRYPOINT_NOT_FOUND
            })?
        };
        let slot = executable.address(first_thunk.checked_add(offset).ok_or(INVALID)?, 8)?;
        // SAFETY: the slot lies inside the image, in the import address table made
        // writable above (or a writable section when the image has no IAT directory).
        unsafe { (slot as *mut u64).write_unaligned(address) };
        index += 1;
    }
}

/// Prints `what` followed by `name` and a newline.
fn report(what: &[u8], name: &[u8]) {
    let mut line = [0u8; 2 * MAX_NAME as usize];
    let mut length = 0;
    for byte in what.iter().chain(name).chain(b"\n") {
        if length < line.len() {
            line[length] = *byte;
            length += 1;
        }
    }
    calls::display_ascii(&line[..length]);
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
