//! Waits on objects by handle: NtWaitForSingleObject and NtWaitForMultipleObjects with an
//! optional timeout, not alertable.

use crate::NtStatus;
use crate::syscall::{nt_wait_for_multiple_objects, nt_wait_for_single_object};

/// Waits for `handle`, for ever or up to `timeout` (100 ns units; negative is relative).
pub fn wait_for(handle: u64, timeout: Option<i64>) -> NtStatus {
    let timeout = timeout
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const i64);
    // SAFETY: `timeout` is null or points to a local.
    unsafe { nt_wait_for_single_object(handle, 0, timeout) }
}

/// Waits for any or all (`wait_type`) of `handles`, for ever or up to `timeout`.
pub fn wait_for_multiple(handles: &[u64], wait_type: u32, timeout: Option<i64>) -> NtStatus {
    let timeout = timeout
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const i64);
    // SAFETY: `handles` and `timeout` are locals (or null) of the sizes passed.
    unsafe {
        nt_wait_for_multiple_objects(
            handles.len() as u32,
            handles.as_ptr(),
            wait_type,
            0,
            timeout,
        )
    }
}
