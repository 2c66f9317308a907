//! `print!`/`println!`: format on the stack, convert to UTF-16, `NtDisplayString`.

use core::fmt;

// The program's console; rt's own stub in the host's unit tests.
#[cfg(test)]
use crate::display_string as display;
#[cfg(not(test))]
use crate::startup::display;

/// UTF-16 code units formatted before a flush to the console.
const BUFFER_UNITS: usize = 256;

/// A formatting sink that buffers UTF-16 on the stack and flushes it to the program's
/// console (rt's `NtDisplayString` stub or ntdll's, as `rt::entry!` chose) when full and
/// when dropped.
pub struct Console {
    buffer: [u16; BUFFER_UNITS],
    len: usize,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console").field("len", &self.len).finish()
    }
}

impl Console {
    pub const fn new() -> Self {
        Self {
            buffer: [0; BUFFER_UNITS],
            len: 0,
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            // Console output has nowhere to report failure to.
            let _ = display(&self.buffer[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            // Room for a surrogate pair, so a char is never split across flushes.
            if self.len + 2 > BUFFER_UNITS {
                self.flush();
            }
            self.len += c.encode_utf16(&mut self.buffer[self.len..]).len();
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What `print!` expands to.
#[doc(hidden)]
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = Console::new();
    // Console::write_str never fails.
    let _ = fmt::Write::write_fmt(&mut console, args);
}

/// Formats to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::print(::core::format_args!($($arg)*))
    };
}

/// Formats to the console with a newline.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
