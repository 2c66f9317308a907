//! Number parsing for command-line arguments.

/// Parses an unsigned 32-bit number: decimal, or hexadecimal with a `0x`/`0X` prefix.
/// No sign, no whitespace, no empty digits; values above `u32::MAX` are rejected.
pub fn parse_u32(text: &str) -> Option<u32> {
    let (digits, radix) = match text.get(..2) {
        Some("0x" | "0X") => (&text[2..], 16),
        _ => (text, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u32, |value, c| {
        value.checked_mul(radix)?.checked_add(c.to_digit(radix)?)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_u32;

    #[test]
    fn decimal_and_hex() {
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("42"), Some(42));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("0x2A"), Some(42));
        assert_eq!(parse_u32("0XC0000005"), Some(0xC000_0005));
        assert_eq!(parse_u32("0xffffffff"), Some(u32::MAX));
        assert_eq!(parse_u32("007"), Some(7));
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "0x",
            "-1",
            "+1",
            " 1",
            "1 ",
            "4294967296",
            "0x100000000",
            "12a",
            "0xg",
            "x1",
            "٣",
        ] {
            assert_eq!(parse_u32(bad), None, "{bad:?}");
        }
    }
}
