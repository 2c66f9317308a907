//! `UNICODE_STRING` helpers: describe a NUL-terminated string, copy, compare and append.

use abi::NtStatus;
use abi::nt::UnicodeString;

/// The longest string a `UNICODE_STRING` can describe with room for a NUL, in bytes.
const MAX_STRING_BYTES: usize = u16::MAX as usize - 1;

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
        while unsafe { source.add(units).read() } != 0 && units < (MAX_STRING_BYTES - 1) / 2 {
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

/// The units `string` describes (empty for a NULL buffer or an odd address).
///
/// # Safety
/// `string.buffer` is NULL or holds `string.length` readable bytes that outlive the slice.
pub(crate) unsafe fn units<'a>(string: &UnicodeString) -> &'a [u16] {
    if string.buffer == 0 || !string.buffer.is_multiple_of(2) {
        return &[];
    }
    // SAFETY: the caller vouches for the buffer, non-null and aligned.
    unsafe {
        core::slice::from_raw_parts(string.buffer as *const u16, usize::from(string.length / 2))
    }
}

/// `RtlCopyUnicodeString(DestinationString, SourceString)`: copies as much of `source` as
/// `destination`'s buffer holds (all of it, or `MaximumLength` bytes), NUL-terminated when
/// there is room; a NULL source makes the destination empty.
///
/// # Safety
/// `destination` points to a writable `UNICODE_STRING` whose buffer has `MaximumLength`
/// writable bytes; `source` is NULL or a readable `UNICODE_STRING` of readable units.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlCopyUnicodeString(
    destination: *mut UnicodeString,
    source: *const UnicodeString,
) {
    // SAFETY: the caller gives a writable destination.
    let destination = unsafe { &mut *destination };
    if source.is_null() {
        destination.length = 0;
        return;
    }
    // SAFETY: the caller gives a readable source with readable units.
    let source = unsafe { units(&*source) };
    let room = usize::from(destination.maximum_length / 2);
    let count = source.len().min(room);
    let target = destination.buffer as *mut u16;
    // SAFETY: the destination's buffer holds `room` units, `count` of them written; the
    // two strings may overlap, which `copy` allows.
    unsafe { core::ptr::copy(source.as_ptr(), target, count) };
    if count < room {
        // SAFETY: unit `count` is inside the destination's buffer.
        unsafe { target.add(count).write(0) };
    }
    destination.length = (count * 2) as u16;
}

/// `RtlEqualUnicodeString(String1, String2, CaseInSensitive)`: whether both hold the same
/// units, ASCII letters compared ignoring case when asked.
///
/// # Safety
/// Both point to readable `UNICODE_STRING`s of readable units.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlEqualUnicodeString(
    first: *const UnicodeString,
    second: *const UnicodeString,
    case_insensitive: u8,
) -> u8 {
    // SAFETY: the caller gives readable strings.
    let (first, second) = unsafe { (units(&*first), units(&*second)) };
    let fold = |unit: u16| match u8::try_from(unit) {
        Ok(byte) if case_insensitive != 0 => u16::from(byte.to_ascii_uppercase()),
        _ => unit,
    };
    let equal =
        first.len() == second.len() && first.iter().zip(second).all(|(a, b)| fold(*a) == fold(*b));
    u8::from(equal)
}

/// `RtlAppendUnicodeToString(Destination, Source)`: appends the NUL-terminated `source`
/// (nothing for NULL), NUL-terminated when there is room. STATUS_BUFFER_TOO_SMALL, with
/// the destination unchanged, when it does not fit.
///
/// # Safety
/// As [`RtlCopyUnicodeString`]'s destination; `source` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlAppendUnicodeToString(
    destination: *mut UnicodeString,
    source: *const u16,
) -> NtStatus {
    let mut appended = UnicodeString::default();
    // SAFETY: `appended` is a local; the caller gives a NULL or terminated source.
    unsafe { RtlInitUnicodeString(&mut appended, source) };
    // SAFETY: the caller's contract, and `appended` describes the caller's source.
    unsafe { RtlAppendUnicodeStringToString(destination, &appended) }
}

/// `RtlAppendUnicodeStringToString(Destination, Source)`: as
/// [`RtlAppendUnicodeToString`] with a counted source.
///
/// # Safety
/// As [`RtlCopyUnicodeString`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RtlAppendUnicodeStringToString(
    destination: *mut UnicodeString,
    source: *const UnicodeString,
) -> NtStatus {
    // SAFETY: the caller gives a writable destination and a readable source.
    let (destination, source) = unsafe { (&mut *destination, units(&*source)) };
    let length = usize::from(destination.length / 2);
    let room = usize::from(destination.maximum_length / 2);
    let end = length + source.len();
    if end > room {
        return NtStatus::BUFFER_TOO_SMALL;
    }
    let target = destination.buffer as *mut u16;
    // SAFETY: units `length..end` lie inside the destination's buffer; `copy` allows the
    // source to overlap it.
    unsafe { core::ptr::copy(source.as_ptr(), target.add(length), source.len()) };
    if end < room {
        // SAFETY: unit `end` is inside the destination's buffer.
        unsafe { target.add(end).write(0) };
    }
    destination.length = (end * 2) as u16;
    NtStatus::SUCCESS
}
