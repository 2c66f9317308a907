//! Text formatted into a fixed buffer on the stack, for command lines passed to children.

use core::fmt;

/// A `fmt::Write` sink over `N` bytes; writes that do not fit fail and leave it unchanged.
#[derive(Debug)]
pub struct TextBuffer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> TextBuffer<N> {
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are UTF-8.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for TextBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for TextBuffer<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).filter(|&end| end <= N);
        let end = end.ok_or(fmt::Error)?;
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::fmt::Write;

    use super::TextBuffer;

    #[test]
    fn formats_until_full() {
        let mut text = TextBuffer::<8>::new();
        write!(text, "ab {}", 12).unwrap();
        assert_eq!(text.as_str(), "ab 12");
        assert!(write!(text, "xyzw").is_err());
        assert_eq!(text.as_str(), "ab 12");
        write!(text, "xyz").unwrap();
        assert_eq!(text.as_str(), "ab 12xyz");
    }
}
