//! Probing and capture of user buffers: every read of user memory by a service goes
//! through here, so a bad pointer becomes STATUS_ACCESS_VIOLATION, never a kernel fault.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use abi::NtStatus;

use crate::arch::user::copy_from_user;

/// Types for which every bit pattern is a valid value, so they can be captured from
/// untrusted memory.
///
/// # Safety
/// Implementors must be `#[repr(C)]` plain data without padding or invalid bit patterns.
pub unsafe trait Plain: Copy {}

// SAFETY: two u16, a u32 and a u64, with no padding.
unsafe impl Plain for abi::nt::UnicodeString {}
// SAFETY: integers: every bit pattern is a value.
unsafe impl Plain for u32 {}
// SAFETY: as for u32.
unsafe impl Plain for u64 {}

/// Captures a `T` from user address `address`.
pub fn capture<T: Plain>(address: u64) -> Result<T, NtStatus> {
    if !address.is_multiple_of(align_of::<T>() as u64) {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the slice covers exactly `value`'s storage; bytes are written before use.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    copy_from_user(bytes, address).map_err(|()| NtStatus::ACCESS_VIOLATION)?;
    // SAFETY: fully written by the copy, and `T: Plain` accepts any bytes.
    Ok(unsafe { value.assume_init() })
}

/// Captures `len` bytes from user address `address` into a kernel buffer.
pub fn capture_bytes(address: u64, len: usize) -> Result<Vec<u8>, NtStatus> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(len)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    buffer.resize(len, 0);
    copy_from_user(&mut buffer, address).map_err(|()| NtStatus::ACCESS_VIOLATION)?;
    Ok(buffer)
}
