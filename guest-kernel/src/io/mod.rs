//! The I/O manager's share of the kernel so far: the boot image and its files, opened as
//! read-only file objects.

pub mod boot_image;
pub mod file;
