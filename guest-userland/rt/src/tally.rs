//! The tally test programs keep: one `ok:` or `WRONG:` line per case, and the count of each.

use core::fmt;

use crate::{NtStatus, println};

/// Counts the cases and the wrong answers; prints a line per case.
#[derive(Debug, Default)]
pub struct Tally {
    pub cases: u32,
    pub wrong: u32,
}

impl Tally {
    /// Records a case that is `right` or not; `got` describes what came back.
    pub fn check(&mut self, name: &str, right: bool, got: &dyn fmt::Display) {
        self.cases += 1;
        if right {
            // Console output runs through the kernel character by character: keep it short.
            println!("ok: {name}");
        } else {
            self.wrong += 1;
            println!("WRONG: {name}: {got}");
        }
    }

    /// A service's status.
    pub fn status(&mut self, name: &str, got: NtStatus, expected: NtStatus) {
        self.check(name, got == expected, &Expected(got, expected));
    }

    /// A value the kernel reported.
    pub fn value(&mut self, name: &str, got: u64, expected: u64) {
        self.check(name, got == expected, &ExpectedValue(got, expected));
    }
}

struct Expected(NtStatus, NtStatus);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (expected {})", self.0, self.1)
    }
}

/// Shows a value beside the one expected, in hex.
pub struct ExpectedValue(pub u64, pub u64);

impl fmt::Display for ExpectedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} (expected {:#x})", self.0, self.1)
    }
}
