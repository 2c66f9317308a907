//! The NT command line handed to the guest: program and arguments joined and quoted so
//! that `CommandLineToArgvW` splits them back into the same words.

/// Joins `words` (program first) into one command line.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    let mut line = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        quote_into(&mut line, word.as_ref());
    }
    line
}

/// Appends `arg`, quoted when it is empty or holds whitespace or quotes.
fn quote_into(line: &mut String, arg: &str) {
    let needs_quotes = arg.is_empty()
        || arg
            .chars()
            .any(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '"'));
    if !needs_quotes {
        line.push_str(arg);
        return;
    }
    line.push('"');
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                // Backslashes before a quote are doubled, plus one to escape the quote.
                line.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                line.push('"');
                backslashes = 0;
            }
            _ => {
                line.extend(std::iter::repeat_n('\\', backslashes));
                line.push(c);
                backslashes = 0;
            }
        }
    }
    // Backslashes before the closing quote are doubled so they stay literal.
    line.extend(std::iter::repeat_n('\\', backslashes * 2));
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CommandLineToArgvW`'s rules for arguments after the first (enough to round-trip).
    fn split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            if i == chars.len() {
                break;
            }
            let mut word = String::new();
            let mut quoted = false;
            while i < chars.len() && (quoted || (chars[i] != ' ' && chars[i] != '\t')) {
                match chars[i] {
                    '\\' => {
                        let start = i;
                        while i < chars.len() && chars[i] == '\\' {
                            i += 1;
                        }
                        let n = i - start;
                        if i < chars.len() && chars[i] == '"' {
                            word.extend(std::iter::repeat_n('\\', n / 2));
                            if n % 2 == 1 {
                                word.push('"');
                                i += 1;
                            }
                        } else {
                            word.extend(std::iter::repeat_n('\\', n));
                        }
                        continue;
                    }
                    '"' => quoted = !quoted,
                    c => word.push(c),
                }
                i += 1;
            }
            words.push(word);
        }
        words
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(join(&["exit", "42"]), "exit 42");
        assert_eq!(join::<&str>(&[]), "");
        assert_eq!(join(&["hello"]), "hello");
    }

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(join(&["a", "b c"]), r#"a "b c""#);
        assert_eq!(join(&["a", ""]), r#"a """#);
        assert_eq!(join(&["a", r#"say "hi""#]), r#"a "say \"hi\"""#);
        assert_eq!(join(&["a", r"dir\ x\"]), r#"a "dir\ x\\""#);
        assert_eq!(join(&["a", r"c:\path\"]), r"a c:\path\");
    }

    #[test]
    fn round_trips_through_argv_rules() {
        let cases: &[&[&str]] = &[
            &[
                "p",
                "a b",
                "",
                "\"",
                "\\\"",
                "x\\\\",
                "tab\there",
                "q\"q\\ \\",
            ],
            &["p", "\\\\\"", "  ", "é ü"],
        ];
        for words in cases {
            assert_eq!(split(&join(words)), *words);
        }
    }
}
