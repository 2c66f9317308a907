//! Reading a mapped PE32+ image the way the loader needs it: the headers it checks, data
//! directories, NUL-terminated names, the export directory (by name, with the import's
//! hint first, and by ordinal) and the TLS directory. Every read is bounds-checked against `SizeOfImage`, so a
//! malformed image gives STATUS_INVALID_IMAGE_FORMAT rather than a fault.

use core::mem::offset_of;

use abi::NtStatus;
use abi::nt::ImageTlsDirectory64;

/// Longest import, export or DLL name the loader reads.
pub const MAX_NAME: u32 = 256;

pub const IMAGE_DIRECTORY_ENTRY_EXPORT: u32 = 0;
pub const IMAGE_DIRECTORY_ENTRY_IMPORT: u32 = 1;
pub const IMAGE_DIRECTORY_ENTRY_TLS: u32 = 9;
pub const IMAGE_DIRECTORY_ENTRY_IAT: u32 = 12;
const IMAGE_NT_OPTIONAL_HDR64_MAGIC: u16 = 0x20B;
const IMAGE_FILE_DLL: u16 = 0x2000;

/// A mapped PE32+ image: its base, size and where its optional header is.
pub struct Image {
    pub base: u64,
    /// `SizeOfImage`.
    pub size: u32,
    optional_header: u32,
}

impl Image {
    /// The image mapped at `base`, after checking the header fields the loader reads.
    pub fn at(base: u64) -> Result<Self, NtStatus> {
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

    /// `AddressOfEntryPoint` as an address, None when the image has none.
    pub fn entry_point(&self) -> Result<Option<u64>, NtStatus> {
        match self.read_u32(self.optional_header + 16)? {
            0 => Ok(None),
            rva => Ok(Some(self.address(rva, 1)?)),
        }
    }

    /// Whether the file header says the image is a DLL (`IMAGE_FILE_DLL`).
    pub fn is_dll(&self) -> Result<bool, NtStatus> {
        // FileHeader.Characteristics: the file header's last field, just before the
        // optional header.
        let characteristics = self.read_u16(self.optional_header - 2)?;
        Ok(characteristics & IMAGE_FILE_DLL != 0)
    }

    /// Data directory `index`: its RVA and size, (0, 0) when absent.
    pub fn directory(&self, index: u32) -> Result<(u32, u32), NtStatus> {
        if index >= self.read_u32(self.optional_header + 108)? {
            return Ok((0, 0));
        }
        let entry = self.optional_header + 112 + 8 * index;
        Ok((self.read_u32(entry)?, self.read_u32(entry + 4)?))
    }

    /// The address of `length` bytes at `rva`, when they lie inside the image.
    pub fn address(&self, rva: u32, length: u32) -> Result<u64, NtStatus> {
        match rva.checked_add(length) {
            Some(end) if end <= self.size => Ok(self.base + u64::from(rva)),
            _ => Err(INVALID),
        }
    }

    /// The RVA of `length` bytes at `address`, when they lie inside the image.
    pub fn rva(&self, address: u64, length: u64) -> Result<u32, NtStatus> {
        let rva = address
            .checked_sub(self.base)
            .and_then(|rva| u32::try_from(rva).ok())
            .ok_or(INVALID)?;
        self.address(rva, u32::try_from(length).map_err(|_| INVALID)?)?;
        Ok(rva)
    }

    /// The TLS directory (`IMAGE_TLS_DIRECTORY64`), None when the image has none. Its
    /// addresses must lie inside the image and its raw data must not end before it starts.
    pub fn tls_directory(&self) -> Result<Option<TlsDirectory>, NtStatus> {
        let (rva, _) = self.directory(IMAGE_DIRECTORY_ENTRY_TLS)?;
        if rva == 0 {
            return Ok(None);
        }
        let field = |offset: usize| rva.checked_add(offset as u32).ok_or(INVALID);
        let start = self.read_u64(rva)?;
        let end = self.read_u64(field(offset_of!(
            ImageTlsDirectory64,
            end_address_of_raw_data
        ))?)?;
        let raw_data_size = end.checked_sub(start).ok_or(INVALID)?;
        if raw_data_size != 0 {
            self.rva(start, raw_data_size)?;
        }
        let index = self.read_u64(field(offset_of!(ImageTlsDirectory64, address_of_index))?)?;
        self.rva(index, 4)?;
        let callbacks = self.read_u64(field(offset_of!(
            ImageTlsDirectory64,
            address_of_call_backs
        ))?)?;
        if callbacks != 0 {
            self.rva(callbacks, 8)?;
        }
        Ok(Some(TlsDirectory {
            raw_data: start,
            raw_data_size,
            index,
            callbacks,
            zero_fill: self.read_u32(field(offset_of!(ImageTlsDirectory64, size_of_zero_fill))?)?,
        }))
    }

    pub fn read_u16(&self, rva: u32) -> Result<u16, NtStatus> {
        let address = self.address(rva, 2)?;
        // SAFETY: the two bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u16).read_unaligned() })
    }

    pub fn read_u32(&self, rva: u32) -> Result<u32, NtStatus> {
        let address = self.address(rva, 4)?;
        // SAFETY: the four bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u32).read_unaligned() })
    }

    pub fn read_u64(&self, rva: u32) -> Result<u64, NtStatus> {
        let address = self.address(rva, 8)?;
        // SAFETY: the eight bytes lie inside the mapped image.
        Ok(unsafe { (address as *const u64).read_unaligned() })
    }

    /// The NUL-terminated name at `rva` (at most [`MAX_NAME`] bytes, without the NUL).
    pub fn name(&self, rva: u32) -> Result<&[u8], NtStatus> {
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

    /// What this image exports as ordinal `ordinal`.
    pub fn export_by_ordinal(&self, ordinal: u16) -> Result<Option<Export<'_>>, NtStatus> {
        let Some(exports) = ExportDirectory::of(self)? else {
            return Ok(None);
        };
        let Some(index) = u32::from(ordinal).checked_sub(exports.ordinal_base) else {
            return Ok(None);
        };
        exports.function(self, index)
    }

    /// What this image exports as `name`, trying the import's `hint` (an index into the
    /// name table) first, then a binary search of the sorted name table.
    pub fn export_by_name(&self, name: &[u8], hint: u16) -> Result<Option<Export<'_>>, NtStatus> {
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

pub const INVALID: NtStatus = NtStatus::INVALID_IMAGE_FORMAT;

/// The fields of `IMAGE_TLS_DIRECTORY64` the loader uses, as addresses in the mapped image
/// (the kernel has relocated them).
pub struct TlsDirectory {
    /// `StartAddressOfRawData`: the template every thread's block starts as a copy of.
    pub raw_data: u64,
    /// `EndAddressOfRawData - StartAddressOfRawData`.
    pub raw_data_size: u64,
    /// `AddressOfIndex`: where the loader writes the module's TLS index.
    pub index: u64,
    /// `AddressOfCallBacks`: a NULL-terminated array of `PIMAGE_TLS_CALLBACK`, or 0.
    pub callbacks: u64,
    /// `SizeOfZeroFill`: the zero bytes after the template in every block.
    pub zero_fill: u32,
}

/// An export: an address in the image, or a forwarder naming another DLL's export
/// (`DLL.Name`, or `DLL.#Ordinal`), which the loader resolves in that DLL.
pub enum Export<'a> {
    Address(u64),
    Forwarder(&'a [u8]),
}

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

    /// Function `index`: its address or forwarder; None for an empty slot.
    fn function<'a>(&self, image: &'a Image, index: u32) -> Result<Option<Export<'a>>, NtStatus> {
        if index >= self.function_count {
            return Ok(None);
        }
        let rva = image.read_u32(self.functions + 4 * index)?;
        if rva == 0 {
            return Ok(None);
        }
        if (self.range.0..self.range.1).contains(&rva) {
            return Ok(Some(Export::Forwarder(image.name(rva)?)));
        }
        Ok(Some(Export::Address(image.address(rva, 1)?)))
    }
}
