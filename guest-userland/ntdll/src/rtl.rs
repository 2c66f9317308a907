//! Runtime-library helpers that cost nothing to have: `RtlInitUnicodeString` and
//! `RtlExitUserThread`.

use abi::NtStatus;
use abi::nt::UnicodeString;

/// `RtlInitUnicodeString(DestinationString, SourceString)`: describes the NUL-terminated
/// UTF-16 string `source` (an empty string for NULL). Lengths are capped at what a
/// `UNICODE_STRING` can hold.
///
/// # Safety
/// `destination` points to a writable `UNICODE_STRING`; `source` is NULL or points to a
/// NUL-terminated UTF-16 string.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlInitUnicodeString(
    destination: *mut UnicodeString,
    source: *const u16,
) {
    let mut units = 0usize;
    if !source.is_null() {
        // SAFETY: the caller gives a NUL-terminated string; reading stops at the NUL.
        while unsafe { source.add(units).read() } != 0 && units < (u16::MAX as usize - 1) / 2 {
            units += 1;
        }
    }
    let length = (units * 2) as u16;
    let string = UnicodeString {
        length,
        maximum_length: if source.is_null() { 0 } else { length + 2 },
        reserved: 0,
        buffer: source as u64,
    };
    // SAFETY: the caller gives a writable UNICODE_STRING.
    unsafe { destination.write(string) };
}

/// `RtlExitUserThread(ExitStatus)`: ends the calling thread.
#[unsafe(no_mangle)]
pub extern "system" fn RtlExitUserThread(exit_status: NtStatus) -> ! {
    crate::calls::terminate_current_thread(exit_status)
}
