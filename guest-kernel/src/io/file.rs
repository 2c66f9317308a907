//! File objects (`FILE_OBJECT`) for the files of the boot image, and the resolution of
//! NT paths to them (what `IoCreateFile` does through the object manager's symbolic links
//! and the file system's name lookup). The boot image is the system volume: `\SystemRoot`
//! and `\??\C:\Windows` both name its root, so `\SystemRoot\System32\hello.exe` is the
//! archive's `System32/hello.exe`. Files are read-only.

use alloc::string::String;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::file::{FILE_ALL_ACCESS, FILE_GENERIC_MAPPING};
use abi::layout::DIRECT_MAP_BASE;

use super::boot_image;
use crate::ob::{self, ObjectBody, ObjectType};

/// The file object type (`IoFileObjectType`).
pub static FILE_TYPE: ObjectType = ObjectType::new("File", FILE_GENERIC_MAPPING, FILE_ALL_ACCESS);

/// The NT paths that name the root of the boot image, compared case-insensitively.
const SYSTEM_ROOTS: [&str; 2] = ["\\SystemRoot", "\\??\\C:\\Windows"];

/// Characters no file name may hold (NTFS's rule, as `RtlIsNameLegalDOS8Dot3` and the file
/// systems apply it).
const ILLEGAL_NAME_CHARACTERS: [char; 7] = ['*', '?', '"', '<', '>', '|', ':'];

/// An open file of the boot image.
#[derive(Debug)]
pub struct File {
    /// The archive path ("System32/hello.exe").
    path: String,
    data: &'static [u8],
}

impl ObjectBody for File {
    fn object_type() -> &'static ObjectType {
        &FILE_TYPE
    }
}

impl File {
    /// The file's contents, read in place in the boot image.
    pub fn data(&self) -> &'static [u8] {
        self.data
    }

    /// The guest-physical address of the file's first byte (the boot image is mapped
    /// read-only in guest memory, reached through the direct map).
    pub fn physical_address(&self) -> u64 {
        (self.data.as_ptr() as u64).wrapping_sub(DIRECT_MAP_BASE)
    }

    /// The file's name without its directory ("hello.exe").
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The file's full NT path (`\SystemRoot\System32\hello.exe`).
    pub fn nt_path(&self) -> String {
        alloc::format!("{}\\{}", SYSTEM_ROOTS[0], self.path.replace('/', "\\"))
    }
}

/// Registers the file object type (`IopCreateObjectTypes`).
pub fn init() {
    ob::create_object_type(&FILE_TYPE);
}

/// Opens the image a process is created from: an NT path (`\SystemRoot\System32\hello.exe`)
/// is looked up as [`open`] does; a bare program name (`hello`, `hello.exe`) is
/// `\SystemRoot\System32\NAME.exe` (STATUS_OBJECT_NAME_NOT_FOUND when there is none).
pub fn open_image(name: &str) -> Result<File, NtStatus> {
    if name.starts_with('\\') {
        return open(name);
    }
    let (path, data) = boot_image::find_program(name).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
    Ok(File { path, data })
}

/// Opens the boot-image file `path` names (the lookup half of `IoCreateFile`).
///
/// Errors: STATUS_OBJECT_PATH_SYNTAX_BAD for a path that does not start with `\`,
/// STATUS_OBJECT_NAME_INVALID for an empty, `.` or `..` component or one holding a
/// character file names cannot hold, STATUS_OBJECT_PATH_NOT_FOUND when the path is not on
/// the system volume or a directory on the way is missing, STATUS_OBJECT_NAME_NOT_FOUND
/// when only the last component is missing, STATUS_FILE_IS_A_DIRECTORY for a directory.
pub fn open(path: &str) -> Result<File, NtStatus> {
    if !path.starts_with('\\') {
        return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }
    let valid = |component: &&str| {
        !component.is_empty()
            && *component != "."
            && *component != ".."
            && !component.contains(ILLEGAL_NAME_CHARACTERS)
    };
    // `\??\C:` holds a colon, a device name's and not a file name's: the volume part is
    // checked as the object manager would, the rest as file names.
    let relative = SYSTEM_ROOTS.iter().find_map(|root| {
        let head = path.get(..root.len())?;
        let rest = &path[root.len()..];
        (head.eq_ignore_ascii_case(root) && (rest.is_empty() || rest.starts_with('\\')))
            .then_some(rest)
    });
    let Some(relative) = relative else {
        if path[1..].split('\\').any(str::is_empty) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
    };
    if relative.is_empty() {
        return Err(NtStatus::FILE_IS_A_DIRECTORY);
    }
    let components: Vec<&str> = relative[1..].split('\\').collect();
    if !components.iter().all(valid) {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let archive_path = components.join("/");
    if let Some((path, data)) = boot_image::find_file(&archive_path) {
        return Ok(File { path, data });
    }
    if boot_image::is_directory(&archive_path) {
        return Err(NtStatus::FILE_IS_A_DIRECTORY);
    }
    let parent = &components[..components.len() - 1];
    if parent.is_empty() || boot_image::is_directory(&parent.join("/")) {
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    } else {
        Err(NtStatus::OBJECT_PATH_NOT_FOUND)
    }
}
