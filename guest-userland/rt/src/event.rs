//! Event objects of the calling process: creation through `NtCreateEvent`.

use abi::access::{EVENT_ALL_ACCESS, OBJ_INHERIT};
use abi::nt::ObjectAttributes;

use crate::NtStatus;
use crate::syscall::nt_create_event;

/// Creates an unnamed event of `event_type` (NOTIFICATION_EVENT or SYNCHRONIZATION_EVENT),
/// signaled or not, with every access; `inherit` marks the handle for children created
/// with PROCESS_CREATE_FLAGS_INHERIT_HANDLES. Returns its handle.
pub fn create_event(event_type: u32, signaled: bool, inherit: bool) -> Result<u64, NtStatus> {
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        attributes: if inherit { OBJ_INHERIT } else { 0 },
        ..ObjectAttributes::default()
    };
    let mut handle = 0;
    // SAFETY: the handle pointer and the attributes (no name) are locals.
    let status = unsafe {
        nt_create_event(
            &mut handle,
            EVENT_ALL_ACCESS,
            &attributes,
            event_type,
            u32::from(signaled),
        )
    };
    if status.is_success() {
        Ok(handle)
    } else {
        Err(status)
    }
}
