//! guest.img: reading and validating the ustar image (kernel ELF, boot.cfg, System32
//! programs) from a read-only mapping, and writing one (`vmm mkimage`).

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use abi::image::{
    BOOT_CONFIG_PATH, DEFAULT_PROGRAM_KEY, KERNEL_PATH, PROGRAM_SUFFIX, SYSTEM32_DIR,
    boot_config_value, program_path_matches,
};
use abi::layout::IMAGE_MAX;

/// Size of a tar header and of the blocks entry data is padded to.
const BLOCK: usize = 512;

/// What can be wrong with an image, a kernel or the inputs of `mkimage`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open")]
    Open(#[source] std::io::Error),
    #[error("cannot map")]
    Map(#[source] std::io::Error),
    #[error("is a directory")]
    Directory,
    #[error("not a ustar archive (file is empty)")]
    Empty,
    #[error("too large ({size} bytes; the limit is {max} bytes)")]
    TooLarge { size: u64, max: u64 },
    #[error("not a ustar archive")]
    NotUstar,
    #[error("bad tar header at offset {offset}: {reason}")]
    BadHeader { offset: usize, reason: &'static str },
    #[error("truncated: entry '{name}' needs {needed} bytes but the file ends at {len}")]
    Truncated {
        name: String,
        needed: u64,
        len: usize,
    },
    #[error("truncated: the tar header at offset {offset} is cut short")]
    TruncatedHeader { offset: usize },
    #[error("duplicate entry '{0}'")]
    Duplicate(String),
    #[error("no '{KERNEL_PATH}' entry")]
    MissingKernel,
    #[error("no '{BOOT_CONFIG_PATH}' entry")]
    MissingBootConfig,
    #[error("'{BOOT_CONFIG_PATH}' is not UTF-8")]
    BootConfigNotUtf8,
    #[error("'{BOOT_CONFIG_PATH}' names no default program")]
    NoDefault,
    #[error("bad kernel")]
    Kernel(#[source] ElfError),
    #[error("cannot read {path}")]
    ReadInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    WriteOutput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kernel {path}")]
    InputKernel {
        path: PathBuf,
        #[source]
        source: ElfError,
    },
    #[error("{path} has no usable file name")]
    BadProgramName { path: PathBuf },
    #[error("entry name '{0}' is too long for ustar")]
    NameTooLong(String),
    #[error("two programs are named '{0}'")]
    DuplicateProgram(String),
    #[error("default program '{name}' is not among the programs ({available})")]
    DefaultNotAProgram { name: String, available: String },
    #[error("no programs given")]
    NoPrograms,
}

/// Why a kernel file is not a loadable ELF64 x86-64 executable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("not a 64-bit little-endian ELF")]
    NotElf64,
    #[error("not an x86-64 ELF")]
    NotX86_64,
    #[error("not an executable or position-independent ELF (type {0})")]
    NotExecutable(u16),
    #[error("program headers lie outside the file")]
    BadProgramHeaders,
    #[error("segment {index} lies outside the file or wraps")]
    BadSegment { index: usize },
    #[error("no loadable segment")]
    NoLoadSegment,
}

/// One file in the archive: where its data lies in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub offset: usize,
    pub size: usize,
}

/// A PT_LOAD segment of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub paddr: u64,
    pub vaddr: u64,
    pub file_size: u64,
    pub mem_size: u64,
}

/// The facts about the kernel ELF the boot code needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    pub entry: u64,
    pub segments: Vec<Segment>,
}

impl KernelInfo {
    /// Lowest physical address of any loadable segment.
    pub fn phys_start(&self) -> u64 {
        self.segments.iter().map(|s| s.paddr).min().unwrap_or(0)
    }

    /// One past the highest physical byte of any loadable segment (saturating).
    pub fn phys_end(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.paddr.saturating_add(s.mem_size))
            .max()
            .unwrap_or(0)
    }
}

/// Checks an ELF64 x86-64 executable (static or position-independent) and lists its
/// loadable segments.
pub fn parse_kernel(bytes: &[u8]) -> Result<KernelInfo, ElfError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if bytes.len() < 64 || bytes[4] != 2 || bytes[5] != 1 {
        return Err(ElfError::NotElf64);
    }
    let e_type = le16(bytes, 16);
    let e_machine = le16(bytes, 18);
    if e_machine != 0x3e {
        return Err(ElfError::NotX86_64);
    }
    // ET_EXEC, or ET_DYN for a position-independent kernel: either way its segments are
    // placed at their physical addresses and it starts at its link address.
    if e_type != 2 && e_type != 3 {
        return Err(ElfError::NotExecutable(e_type));
    }
    let entry = le64(bytes, 24);
    let phoff = le64(bytes, 32);
    let phentsize = u64::from(le16(bytes, 54));
    let phnum = u64::from(le16(bytes, 56));
    if phentsize != 56 && phnum != 0 {
        return Err(ElfError::BadProgramHeaders);
    }
    let table_end = phnum
        .checked_mul(56)
        .and_then(|size| size.checked_add(phoff))
        .ok_or(ElfError::BadProgramHeaders)?;
    if table_end > bytes.len() as u64 {
        return Err(ElfError::BadProgramHeaders);
    }
    let mut segments = Vec::new();
    for index in 0..phnum as usize {
        let at = phoff as usize + index * 56;
        if le32(bytes, at) != 1 {
            continue; // not PT_LOAD
        }
        let offset = le64(bytes, at + 8);
        let segment = Segment {
            vaddr: le64(bytes, at + 16),
            paddr: le64(bytes, at + 24),
            file_size: le64(bytes, at + 32),
            mem_size: le64(bytes, at + 40),
        };
        let file_end = offset.checked_add(segment.file_size);
        if file_end.is_none_or(|end| end > bytes.len() as u64)
            || segment.file_size > segment.mem_size
            || segment.paddr.checked_add(segment.mem_size).is_none()
        {
            return Err(ElfError::BadSegment { index });
        }
        if segment.mem_size != 0 {
            segments.push(segment);
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegment);
    }
    Ok(KernelInfo { entry, segments })
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// Lists the entries of a ustar archive held in `bytes`, checking every header.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if !is_ustar_header(bytes) {
        return Err(Error::NotUstar);
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen = HashSet::new();
    let mut long_name: Option<String> = None;
    let mut offset = 0usize;
    while offset < bytes.len() {
        let Some(header) = bytes.get(offset..offset + BLOCK) else {
            return Err(Error::TruncatedHeader { offset });
        };
        if header.iter().all(|&b| b == 0) {
            break; // end-of-archive marker
        }
        if !checksum_ok(header) {
            return Err(Error::BadHeader {
                offset,
                reason: "checksum mismatch",
            });
        }
        let size = parse_octal(&header[124..136]).ok_or(Error::BadHeader {
            offset,
            reason: "bad size field",
        })?;
        let data = offset + BLOCK;
        let name = header_name(header, long_name.take()).ok_or(Error::BadHeader {
            offset,
            reason: "name is not UTF-8",
        })?;
        let needed = (data as u64).saturating_add(size);
        if needed > bytes.len() as u64 {
            return Err(Error::Truncated {
                name,
                needed,
                len: bytes.len(),
            });
        }
        let size = size as usize;
        match header[156] {
            b'0' | 0 => {
                if !seen.insert(name.to_ascii_lowercase()) {
                    return Err(Error::Duplicate(name));
                }
                entries.push(Entry {
                    name,
                    offset: data,
                    size,
                });
            }
            b'L' => {
                // GNU long name: the data is the next entry's name.
                let raw = &bytes[data..data + size];
                let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
                long_name =
                    Some(
                        String::from_utf8(raw.to_vec()).map_err(|_| Error::BadHeader {
                            offset,
                            reason: "long name is not UTF-8",
                        })?,
                    );
            }
            _ => {} // directories, links and extensions carry nothing we load
        }
        offset = data + size.div_ceil(BLOCK) * BLOCK;
    }
    Ok(entries)
}

fn is_ustar_header(bytes: &[u8]) -> bool {
    bytes.len() >= BLOCK && (&bytes[257..263] == b"ustar\0" || &bytes[257..263] == b"ustar ")
}

fn checksum_ok(header: &[u8]) -> bool {
    let Some(stored) = parse_octal(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    sum == stored
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field
        .split(|&b| b == 0)
        .next()
        .unwrap_or(field)
        .trim_ascii();
    if text.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

fn header_name(header: &[u8], long_name: Option<String>) -> Option<String> {
    if let Some(name) = long_name {
        return Some(name);
    }
    let field = |range: std::ops::Range<usize>| {
        let raw = &header[range];
        let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
        std::str::from_utf8(raw).ok()
    };
    let name = field(0..100)?;
    let prefix = if &header[257..263] == b"ustar\0" {
        field(345..500)?
    } else {
        ""
    };
    let full = if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    };
    Some(full.trim_start_matches("./").to_string())
}

/// A validated guest.img contents listing (independent of how the bytes are held).
#[derive(Clone, Debug)]
pub struct Contents {
    pub entries: Vec<Entry>,
    pub kernel: KernelInfo,
    /// Index of the kernel in `entries`.
    kernel_index: usize,
    /// The `default=` program of boot.cfg.
    pub default_program: String,
}

impl Contents {
    /// Validates an archive: ustar, an ELF64 x86-64 `kernel`, a `boot.cfg` with a default.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() as u64 > IMAGE_MAX {
            return Err(Error::TooLarge {
                size: bytes.len() as u64,
                max: IMAGE_MAX,
            });
        }
        let entries = read_entries(bytes)?;
        let kernel_index = entries
            .iter()
            .position(|e| e.name == KERNEL_PATH)
            .ok_or(Error::MissingKernel)?;
        let kernel_entry = &entries[kernel_index];
        let kernel = parse_kernel(&bytes[kernel_entry.offset..][..kernel_entry.size])
            .map_err(Error::Kernel)?;
        let config = entries
            .iter()
            .find(|e| e.name == BOOT_CONFIG_PATH)
            .ok_or(Error::MissingBootConfig)?;
        let config = std::str::from_utf8(&bytes[config.offset..][..config.size])
            .map_err(|_| Error::BootConfigNotUtf8)?;
        let default_program = boot_config_value(config, DEFAULT_PROGRAM_KEY)
            .filter(|v| !v.is_empty())
            .ok_or(Error::NoDefault)?
            .to_string();
        Ok(Self {
            entries,
            kernel,
            kernel_index,
            default_program,
        })
    }

    /// The kernel entry.
    pub fn kernel_entry(&self) -> &Entry {
        &self.entries[self.kernel_index]
    }

    /// The archive entry of program `name` (`hello` or `hello.exe`), if present.
    pub fn find_program(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| program_path_matches(&e.name, name))
    }

    /// Names of all `.exe` programs under System32, sorted, without the suffix.
    pub fn program_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| {
                let file = e.name.get(SYSTEM32_DIR.len()..)?;
                if !e.name[..SYSTEM32_DIR.len()].eq_ignore_ascii_case(SYSTEM32_DIR)
                    || file.contains('/')
                {
                    return None;
                }
                let split = file.len().checked_sub(PROGRAM_SUFFIX.len())?;
                let (stem, suffix) = (file.get(..split)?, file.get(split..)?);
                suffix
                    .eq_ignore_ascii_case(PROGRAM_SUFFIX)
                    .then(|| stem.to_string())
            })
            .collect();
        names.sort();
        names
    }
}

/// guest.img mapped read-only from its file, and its validated contents.
#[derive(Debug)]
pub struct Image {
    map: ReadOnlyMap,
    pub contents: Contents,
}

impl Image {
    /// Maps and validates the image at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(Error::Open)?;
        let meta = file.metadata().map_err(Error::Open)?;
        if meta.is_dir() {
            return Err(Error::Directory);
        }
        if meta.len() == 0 {
            return Err(Error::Empty);
        }
        if meta.len() > IMAGE_MAX {
            return Err(Error::TooLarge {
                size: meta.len(),
                max: IMAGE_MAX,
            });
        }
        let map = ReadOnlyMap::new(&file, meta.len() as usize).map_err(Error::Map)?;
        let contents = Contents::parse(map.bytes())?;
        Ok(Self { map, contents })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    /// The data of `entry`.
    pub fn data(&self, entry: &Entry) -> &[u8] {
        &self.bytes()[entry.offset..][..entry.size]
    }

    /// Host address of the mapping (page-aligned) and its length rounded up to pages.
    pub fn host_mapping(&self) -> (*mut u8, usize) {
        (self.map.ptr, self.map.mapped_len)
    }

    /// Length of the file in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Whether the file is empty (never true for an opened image).
    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }
}

/// A private read-only `mmap` of a file, rounded up to whole pages.
#[derive(Debug)]
struct ReadOnlyMap {
    ptr: *mut u8,
    len: usize,
    mapped_len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing the pointer between
// threads only ever reads through it.
unsafe impl Send for ReadOnlyMap {}
// SAFETY: as above, nothing writes through the pointer.
unsafe impl Sync for ReadOnlyMap {}

impl ReadOnlyMap {
    fn new(file: &File, len: usize) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let mapped_len = len.div_ceil(4096) * 4096;
        // SAFETY: a fresh private read-only mapping of a file we hold open; the kernel
        // picks the address, so no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped_len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
            mapped_len,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `mapped_len >= len` readable bytes for the lifetime of self.
        // The file could be truncated by someone else while mapped (then reads fault, as
        // with any mmap'd input); we accept that like every file-mapping VMM.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ReadOnlyMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping this value created and owns.
        unsafe {
            libc::munmap(self.ptr.cast(), self.mapped_len);
        }
    }
}

/// Writes a guest.img: `kernel`, `boot.cfg` naming `default`, and `System32/<name>` for
/// each program. Deterministic: mtime 0, mode 0644, uid/gid 0.
pub fn write_image(
    kernel: &Path,
    default: &str,
    programs: &[PathBuf],
    output: &Path,
) -> Result<(), Error> {
    let bytes = build_image(kernel, default, programs)?;
    // A new file renamed over the old one: a VM running the old image keeps it mapped,
    // and rewriting that file in place would change (or truncate) its memory under it.
    let mut partial = output.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let write = |bytes: &[u8]| -> std::io::Result<()> {
        let mut file = File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&partial, output)
    };
    write(&bytes).map_err(|source| {
        let _ = std::fs::remove_file(&partial);
        Error::WriteOutput {
            path: output.to_path_buf(),
            source,
        }
    })
}

/// Builds guest.img in memory (see [`write_image`]).
pub fn build_image(kernel: &Path, default: &str, programs: &[PathBuf]) -> Result<Vec<u8>, Error> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })
    };
    let kernel_bytes = read(kernel)?;
    parse_kernel(&kernel_bytes).map_err(|source| Error::InputKernel {
        path: kernel.to_path_buf(),
        source,
    })?;
    if programs.is_empty() {
        return Err(Error::NoPrograms);
    }
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for path in programs {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::BadProgramName { path: path.clone() })?;
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(Error::DuplicateProgram(name.to_string()));
        }
        files.push((format!("{SYSTEM32_DIR}{name}"), path));
    }
    if !files
        .iter()
        .any(|(entry, _)| program_path_matches(entry, default))
    {
        let available = files
            .iter()
            .filter_map(|(entry, _)| {
                entry
                    .strip_prefix(SYSTEM32_DIR)
                    .and_then(|n| n.strip_suffix(PROGRAM_SUFFIX))
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::DefaultNotAProgram {
            name: default.to_string(),
            available,
        });
    }
    let config = format!("{DEFAULT_PROGRAM_KEY}={default}\n");
    let mut image = ImageWriter::new();
    image.add(KERNEL_PATH, &kernel_bytes)?;
    image.add(BOOT_CONFIG_PATH, config.as_bytes())?;
    for (entry, path) in &files {
        image.add(entry, &read(path)?)?;
    }
    image.finish()
}

/// Writes ustar entries with fixed metadata.
pub struct ImageWriter {
    builder: tar::Builder<Vec<u8>>,
}

impl std::fmt::Debug for ImageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageWriter").finish_non_exhaustive()
    }
}

impl Default for ImageWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageWriter {
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends a regular file.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), Error> {
        if name.len() > 100 {
            return Err(Error::NameTooLong(name.to_string()));
        }
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(data.len() as u64);
        self.builder
            .append_data(&mut header, name, data)
            .map_err(|source| Error::WriteOutput {
                path: PathBuf::from(name),
                source,
            })
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.builder
            .into_inner()
            .map_err(|source| Error::WriteOutput {
                path: PathBuf::from("<archive>"),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid ELF64 x86-64 executable with one PT_LOAD segment.
    pub(crate) fn tiny_elf() -> Vec<u8> {
        let mut elf = vec![0u8; 0x100];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[6] = 1;
        elf[16..18].copy_from_slice(&2u16.to_le_bytes());
        elf[18..20].copy_from_slice(&0x3eu16.to_le_bytes());
        elf[24..32].copy_from_slice(&0xFFFF_FFFF_8020_0000u64.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[52..54].copy_from_slice(&64u16.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        elf[ph + 16..ph + 24].copy_from_slice(&0xFFFF_FFFF_8020_0000u64.to_le_bytes());
        elf[ph + 24..ph + 32].copy_from_slice(&0x20_0000u64.to_le_bytes());
        elf[ph + 32..ph + 40].copy_from_slice(&0x100u64.to_le_bytes());
        elf[ph + 40..ph + 48].copy_from_slice(&0x2000u64.to_le_bytes());
        elf
    }

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ImageWriter::new();
        for (name, data) in entries {
            w.add(name, data).unwrap();
        }
        w.finish().unwrap()
    }

    fn good() -> Vec<u8> {
        archive(&[
            ("kernel", &tiny_elf()),
            ("boot.cfg", b"default=hello\n"),
            ("System32/hello.exe", b"MZ"),
            ("System32/exit.exe", b"MZ"),
            ("System32/ntdll.dll", b"MZ"),
        ])
    }

    #[test]
    fn reads_a_good_image() {
        let bytes = good();
        let c = Contents::parse(&bytes).unwrap();
        assert_eq!(c.default_program, "hello");
        assert_eq!(c.kernel.entry, 0xFFFF_FFFF_8020_0000);
        assert_eq!(c.kernel.phys_start(), 0x20_0000);
        assert_eq!(c.kernel.phys_end(), 0x20_2000);
        assert_eq!(c.program_names(), ["exit", "hello"]);
        let hello = c.find_program("HELLO").unwrap();
        assert_eq!(&bytes[hello.offset..][..hello.size], b"MZ");
        assert!(c.find_program("ntdll").is_none());
    }

    #[test]
    fn rejects_empty_and_non_tar() {
        assert!(matches!(Contents::parse(&[]), Err(Error::Empty)));
        assert!(matches!(
            Contents::parse(&[7u8; 2048]),
            Err(Error::NotUstar)
        ));
        assert!(matches!(Contents::parse(b"hello"), Err(Error::NotUstar)));
    }

    #[test]
    fn rejects_truncated_archives() {
        let bytes = good();
        // Cut inside the kernel's data.
        let cut = &bytes[..512 + 100];
        assert!(matches!(
            Contents::parse(cut),
            Err(Error::Truncated { ref name, .. }) if name == "kernel"
        ));
        // Cut inside the second header.
        let cut = &bytes[..512 + 512 + 100];
        assert!(matches!(
            Contents::parse(cut),
            Err(Error::TruncatedHeader { offset: 1024 })
        ));
        // Cut at a header boundary without the end marker: boot.cfg is gone.
        let cut = &bytes[..512 + 512];
        assert!(matches!(
            Contents::parse(cut),
            Err(Error::MissingBootConfig)
        ));
    }

    #[test]
    fn rejects_corrupt_header() {
        let mut bytes = good();
        bytes[0] ^= 1;
        assert!(matches!(
            Contents::parse(&bytes),
            Err(Error::BadHeader { offset: 0, .. })
        ));
    }

    #[test]
    fn rejects_missing_entries() {
        let no_kernel = archive(&[("boot.cfg", b"default=hello\n")]);
        assert!(matches!(
            Contents::parse(&no_kernel),
            Err(Error::MissingKernel)
        ));
        let no_cfg = archive(&[("kernel", &tiny_elf())]);
        assert!(matches!(
            Contents::parse(&no_cfg),
            Err(Error::MissingBootConfig)
        ));
        let no_default = archive(&[("kernel", &tiny_elf()), ("boot.cfg", b"# nothing\n")]);
        assert!(matches!(
            Contents::parse(&no_default),
            Err(Error::NoDefault)
        ));
    }

    #[test]
    fn rejects_duplicates() {
        let dup = archive(&[
            ("kernel", &tiny_elf()),
            ("boot.cfg", b"default=hello\n"),
            ("System32/hello.exe", b"1"),
            ("System32/HELLO.exe", b"2"),
        ]);
        assert!(matches!(
            Contents::parse(&dup),
            Err(Error::Duplicate(ref n)) if n == "System32/HELLO.exe"
        ));
    }

    #[test]
    fn rejects_bad_kernels() {
        let bad = archive(&[("kernel", b"#!/bin/sh\n"), ("boot.cfg", b"default=a\n")]);
        assert!(matches!(
            Contents::parse(&bad),
            Err(Error::Kernel(ElfError::NotElf))
        ));
        let mut elf = tiny_elf();
        elf[18] = 0xb7; // aarch64
        assert_eq!(parse_kernel(&elf), Err(ElfError::NotX86_64));
        let mut elf = tiny_elf();
        elf[4] = 1;
        assert_eq!(parse_kernel(&elf), Err(ElfError::NotElf64));
        let mut elf = tiny_elf();
        elf[56] = 200; // program headers past the end
        assert_eq!(parse_kernel(&elf), Err(ElfError::BadProgramHeaders));
        let mut elf = tiny_elf();
        elf[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse_kernel(&elf), Err(ElfError::BadSegment { index: 0 }));
        let mut elf = tiny_elf();
        elf[64] = 4; // PT_NOTE only
        assert_eq!(parse_kernel(&elf), Err(ElfError::NoLoadSegment));
    }

    #[test]
    fn mkimage_checks_its_inputs() {
        let dir = std::env::temp_dir().join(format!("vmm-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kernel = dir.join("kernel");
        std::fs::write(&kernel, tiny_elf()).unwrap();
        let hello = dir.join("hello.exe");
        std::fs::write(&hello, b"MZ").unwrap();
        let other = dir.join("sub");
        std::fs::create_dir_all(&other).unwrap();
        let hello2 = other.join("hello.exe");
        std::fs::write(&hello2, b"MZ").unwrap();

        let bytes = build_image(&kernel, "hello", std::slice::from_ref(&hello)).unwrap();
        assert_eq!(Contents::parse(&bytes).unwrap().default_program, "hello");
        // Deterministic.
        assert_eq!(
            bytes,
            build_image(&kernel, "hello", std::slice::from_ref(&hello)).unwrap()
        );
        assert!(matches!(
            build_image(&kernel, "nope", std::slice::from_ref(&hello)),
            Err(Error::DefaultNotAProgram { .. })
        ));
        assert!(matches!(
            build_image(&kernel, "hello", &[hello.clone(), hello2]),
            Err(Error::DuplicateProgram(_))
        ));
        assert!(matches!(
            build_image(&hello, "hello", std::slice::from_ref(&hello)),
            Err(Error::InputKernel { .. })
        ));
        assert!(matches!(
            build_image(&dir.join("missing"), "hello", std::slice::from_ref(&hello)),
            Err(Error::ReadInput { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
