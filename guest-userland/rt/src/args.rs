//! The command line split into arguments by `CommandLineToArgvW`'s rules, without a heap.
//!
//! The first argument (the program name) ends at the first whitespace, or at the closing
//! quote when it starts with one, and takes no escapes. The others are separated by spaces
//! and tabs outside quotes; `2n` backslashes before a quote give `n` backslashes and the
//! quote toggles quoting, `2n + 1` give `n` backslashes and a literal quote, other
//! backslashes are literal. Runs of quotes follow `CommandLineToArgvW`'s counting rule (not
//! the newer C runtime's): every third quote of a run is a literal quote, so `""` inside
//! quotes gives a literal quote and ends the quoted part.

use core::fmt;

/// Most arguments a command line may have.
pub const MAX_ARGS: usize = 64;
/// Most UTF-8 bytes all arguments together may take.
pub const MAX_TEXT: usize = 4096;

/// Why a command line could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// More than [`MAX_ARGS`] arguments.
    TooManyArguments,
    /// More than [`MAX_TEXT`] bytes of argument text.
    TooLong,
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyArguments => write!(f, "more than {MAX_ARGS} arguments"),
            Self::TooLong => write!(f, "command line longer than {MAX_TEXT} bytes"),
        }
    }
}

/// The program's arguments; `get(0)` is the program name as the command line gives it.
pub struct Args {
    text: [u8; MAX_TEXT],
    /// Where each argument ends in `text`; argument `i` starts where `i - 1` ends.
    ends: [u16; MAX_ARGS],
    count: usize,
    /// Bytes of `text` in use.
    used: usize,
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Args {
    /// Splits a UTF-16 command line (`RTL_USER_PROCESS_PARAMETERS.CommandLine`). Unpaired
    /// surrogates become U+FFFD. An empty command line has no arguments at all.
    pub fn from_utf16(units: &[u16]) -> Result<Self, ArgsError> {
        Self::split(
            char::decode_utf16(units.iter().copied())
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
        )
    }

    /// Splits a command line given as text.
    pub fn from_text(command_line: &str) -> Result<Self, ArgsError> {
        Self::split(command_line.chars())
    }

    /// Number of arguments, the program name included.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the command line was empty (not even a program name).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Argument `index`; 0 is the program name.
    pub fn get(&self, index: usize) -> Option<&str> {
        if index >= self.count {
            return None;
        }
        let start = match index {
            0 => 0,
            _ => usize::from(self.ends[index - 1]),
        };
        let end = usize::from(self.ends[index]);
        // Only whole chars are ever pushed, and only backslashes popped, so each argument
        // is valid UTF-8; the fallback is never taken.
        core::str::from_utf8(&self.text[start..end]).ok()
    }

    /// The arguments in order, the program name first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.count).filter_map(|i| self.get(i))
    }

    fn empty() -> Self {
        Self {
            text: [0; MAX_TEXT],
            ends: [0; MAX_ARGS],
            count: 0,
            used: 0,
        }
    }

    fn push(&mut self, c: char) -> Result<(), ArgsError> {
        let end = self.used + c.len_utf8();
        let slot = self
            .text
            .get_mut(self.used..end)
            .ok_or(ArgsError::TooLong)?;
        c.encode_utf8(slot);
        self.used = end;
        Ok(())
    }

    /// Drops the last `n` bytes of the current argument: backslashes just pushed.
    fn pop_backslashes(&mut self, n: usize) {
        self.used -= n;
    }

    fn end_argument(&mut self) -> Result<(), ArgsError> {
        let slot = self
            .ends
            .get_mut(self.count)
            .ok_or(ArgsError::TooManyArguments)?;
        // MAX_TEXT fits in u16.
        *slot = self.used as u16;
        self.count += 1;
        Ok(())
    }

    /// `CommandLineToArgvW`'s algorithm (as Wine documents and implements it).
    fn split(chars: impl Iterator<Item = char>) -> Result<Self, ArgsError> {
        let mut args = Self::empty();
        let mut s = chars.peekable();
        if s.peek().is_none() {
            return Ok(args);
        }

        // The program name: up to the closing quote, or up to the first whitespace.
        if s.next_if_eq(&'"').is_some() {
            for c in s.by_ref() {
                if c == '"' {
                    break;
                }
                args.push(c)?;
            }
        } else {
            while let Some(c) = s.next_if(|&c| !is_space(c)) {
                args.push(c)?;
            }
            // The whitespace that ended it.
            s.next();
        }
        args.end_argument()?;
        while s.next_if(|&c| is_blank(c)).is_some() {}
        if s.peek().is_none() {
            return Ok(args);
        }

        // The other arguments.
        let mut quotes = 0u32;
        let mut backslashes = 0usize;
        while let Some(c) = s.next() {
            if is_blank(c) && quotes == 0 {
                args.end_argument()?;
                backslashes = 0;
                while s.next_if(|&c| is_blank(c)).is_some() {}
                if s.peek().is_none() {
                    return Ok(args);
                }
            } else if c == '\\' {
                args.push(c)?;
                backslashes += 1;
            } else if c == '"' {
                if backslashes.is_multiple_of(2) {
                    // 2n backslashes and a quote: n backslashes, and the quote toggles.
                    args.pop_backslashes(backslashes / 2);
                    quotes += 1;
                } else {
                    // 2n + 1 backslashes and a quote: n backslashes and a literal quote.
                    args.pop_backslashes(backslashes / 2 + 1);
                    args.push('"')?;
                }
                backslashes = 0;
                while s.next_if_eq(&'"').is_some() {
                    quotes += 1;
                    if quotes == 3 {
                        args.push('"')?;
                        quotes = 0;
                    }
                }
                if quotes == 2 {
                    quotes = 0;
                }
            } else {
                args.push(c)?;
                backslashes = 0;
            }
        }
        args.end_argument()?;
        Ok(args)
    }
}

/// `isblank`: what separates arguments.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `isspace`: what ends an unquoted program name.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        let args = Args::from_text(line).unwrap();
        let v: Vec<String> = args.iter().map(String::from).collect();
        assert_eq!(v.len(), args.len());
        v
    }

    #[test]
    fn empty_and_program_only() {
        assert!(Args::from_text("").unwrap().is_empty());
        assert_eq!(split("hello"), ["hello"]);
        assert_eq!(split("hello   "), ["hello"]);
        assert_eq!(split("\"C:\\a b\\x.exe\""), ["C:\\a b\\x.exe"]);
        // No escapes in the program name.
        assert_eq!(split("a\\\"b c"), ["a\\\"b", "c"]);
        assert_eq!(split("\"a b\"c d"), ["a b", "c", "d"]);
        // Leading whitespace gives an empty program name.
        assert_eq!(split(" x"), ["", "x"]);
    }

    #[test]
    fn whitespace_separates() {
        assert_eq!(split("exit 3"), ["exit", "3"]);
        assert_eq!(split("exit\t 0x10   b\t"), ["exit", "0x10", "b"]);
        assert_eq!(split("p \"a b\" c"), ["p", "a b", "c"]);
        assert_eq!(split("p \"\""), ["p", ""]);
        assert_eq!(split("p a\"b c\"d"), ["p", "ab cd"]);
    }

    /// Microsoft's documented examples, and `CommandLineToArgvW`'s rule for runs of quotes.
    #[test]
    fn backslashes_and_quotes() {
        assert_eq!(split(r#"p "abc" d e"#), ["p", "abc", "d", "e"]);
        assert_eq!(split(r#"p a\\b d"e f"g h"#), ["p", r"a\\b", "de fg", "h"]);
        assert_eq!(split(r#"p a\\\"b c d"#), ["p", r#"a\"b"#, "c", "d"]);
        assert_eq!(split(r#"p a\\\\"b c" d e"#), ["p", r"a\\b c", "d", "e"]);
        // The C runtime since 2008 gives `ab" c d` here; CommandLineToArgvW does not.
        assert_eq!(split(r#"p a"b"" c d"#), ["p", r#"ab""#, "c", "d"]);
        assert_eq!(split(r#"p """"#), ["p", "\""]);
        assert_eq!(split(r#"p """""""#), ["p", "\"\""]);
        assert_eq!(split(r#"p \\"#), ["p", r"\\"]);
    }

    #[test]
    fn utf16_and_limits() {
        let line: Vec<u16> = "p h\u{e9}llo \u{1F600}".encode_utf16().collect();
        let args = Args::from_utf16(&line).unwrap();
        assert_eq!(args.get(1), Some("h\u{e9}llo"));
        assert_eq!(args.get(2), Some("\u{1F600}"));
        assert_eq!(args.get(3), None);
        let lone = [u16::from(b'p'), 0x20, 0xD800];
        assert_eq!(Args::from_utf16(&lone).unwrap().get(1), Some("\u{FFFD}"));

        let many = "a ".repeat(MAX_ARGS + 1);
        assert_eq!(
            Args::from_text(&many).unwrap_err(),
            ArgsError::TooManyArguments
        );
        let max = "a ".repeat(MAX_ARGS);
        assert_eq!(Args::from_text(&max).unwrap().len(), MAX_ARGS);
        let long = "x".repeat(MAX_TEXT + 1);
        assert_eq!(Args::from_text(&long).unwrap_err(), ArgsError::TooLong);
        let fits = "x".repeat(MAX_TEXT);
        assert_eq!(
            Args::from_text(&fits).unwrap().get(0).unwrap().len(),
            MAX_TEXT
        );
    }
}
