//! The I/O manager's share of the kernel so far: files of the boot image.

pub mod boot_image;
