//! The contract shared by the VMM, the guest kernel and guest user programs.
//!
//! Everything here is `#[repr(C)]` plain data or constants, so both sides agree on
//! layout without sharing code paths. The crate is `no_std` and has no dependencies.
#![cfg_attr(not(test), no_std)]

pub mod access;
pub mod boot;
pub mod bugcheck;
pub mod diagnostics;
pub mod dispatcher;
pub mod file;
pub mod hypercall;
pub mod image;
pub mod layout;
pub mod memory;
pub mod nt;
pub mod process;
pub mod section;
pub mod service;
pub mod status;
pub mod system_information;

pub use status::NtStatus;
// Appended: what every creator of a user process lays out in it.
pub mod user_process;
