//! Object names as the services take them: UTF-16 in a fixed buffer, and the
//! `UNICODE_STRING` over it.

use abi::nt::UnicodeString;

/// The longest name, in UTF-16 units.
const MAX_NAME_UNITS: usize = 128;

/// A UTF-16 object name (truncated to [`MAX_NAME_UNITS`] units).
#[derive(Debug)]
pub struct ObjectName {
    units: [u16; MAX_NAME_UNITS],
    len: usize,
}

impl ObjectName {
    pub fn new(text: &str) -> Self {
        let mut name = Self {
            units: [0; MAX_NAME_UNITS],
            len: 0,
        };
        for unit in text.encode_utf16().take(MAX_NAME_UNITS) {
            name.units[name.len] = unit;
            name.len += 1;
        }
        name
    }

    /// The `UNICODE_STRING` naming it; valid while the name does not move.
    pub fn string(&self) -> UnicodeString {
        let bytes = (self.len * 2) as u16;
        UnicodeString {
            length: bytes,
            maximum_length: bytes,
            reserved: 0,
            buffer: self.units.as_ptr() as u64,
        }
    }
}
