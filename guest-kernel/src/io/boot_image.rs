//! The boot image (guest.img): a ustar archive mapped read-only, read in place through the
//! direct map without any exit to the VMM.

use alloc::string::String;

use abi::boot::BootInfo;
use abi::image::{BOOT_CONFIG_PATH, DEFAULT_PROGRAM_KEY, boot_config_value, program_path_matches};
use spin::Once;
use tar_no_std::TarArchiveRef;

use crate::ke::bugcheck::{BugCheck, bugcheck};

static ARCHIVE: Once<TarArchiveRef<'static>> = Once::new();

/// Validates the archive once; an unreadable boot image stops the system as NT does.
pub fn init(boot_info: &BootInfo) {
    let archive =
        crate::mm::phys_slice(boot_info.image).and_then(|bytes| TarArchiveRef::new(bytes).ok());
    match archive {
        Some(archive) => {
            ARCHIVE.call_once(|| archive);
        }
        None => bugcheck(
            BugCheck::INACCESSIBLE_BOOT_DEVICE,
            [boot_info.image.start, boot_info.image.len, 0, 0],
        ),
    }
}

fn archive() -> &'static TarArchiveRef<'static> {
    ARCHIVE.get().expect("boot image initialised in phase 0")
}

/// The archive path and contents of the program a command line names.
pub fn find_program(name: &str) -> Option<(String, &'static [u8])> {
    archive().entries().find_map(|entry| {
        let path = entry.filename();
        let path = path.as_str().ok()?;
        program_path_matches(path, name).then(|| (String::from(path), entry.data()))
    })
}

/// The contents of the file at archive path `path` ("System32/hello.exe"), names compared
/// case-insensitively as NT compares file names; its archive path as the archive spells it.
pub fn find_file(path: &str) -> Option<(String, &'static [u8])> {
    archive().entries().find_map(|entry| {
        let name = entry.filename();
        let name = name.as_str().ok()?;
        name.eq_ignore_ascii_case(path)
            .then(|| (String::from(name), entry.data()))
    })
}

/// Whether archive path `path` is a directory: some file lies below it.
pub fn is_directory(path: &str) -> bool {
    archive().entries().any(|entry| {
        let name = entry.filename();
        name.as_str().is_ok_and(|name| {
            name.len() > path.len()
                && name.as_bytes()[path.len()] == b'/'
                && name[..path.len()].eq_ignore_ascii_case(path)
        })
    })
}

/// The boot configuration's default program.
pub fn default_program() -> Option<&'static str> {
    let config = archive()
        .entries()
        .find(|entry| entry.filename().as_str() == Ok(BOOT_CONFIG_PATH))?;
    boot_config_value(config.data_as_str().ok()?, DEFAULT_PROGRAM_KEY)
}
