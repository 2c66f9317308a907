//! guest.img: a ustar archive holding the kernel, the user programs and the boot configuration.

/// The kernel ELF.
pub const KERNEL_PATH: &str = "kernel";
/// Boot configuration: `key=value` lines; `#` starts a comment.
pub const BOOT_CONFIG_PATH: &str = "boot.cfg";
/// The key naming the program run when the command line is empty.
pub const DEFAULT_PROGRAM_KEY: &str = "default";
/// Folder of user programs; `NAME` on the command line means `System32/NAME.exe`.
pub const SYSTEM32_DIR: &str = "System32/";
pub const PROGRAM_SUFFIX: &str = ".exe";

/// Whether archive path `path` is the program a command line names as `name`.
/// Names compare case-insensitively, as NT does, and `.exe` may be given or left out.
pub fn program_path_matches(path: &str, name: &str) -> bool {
    let Some(file) = strip_prefix_ignore_case(path, SYSTEM32_DIR) else {
        return false;
    };
    let Some(stem) = strip_suffix_ignore_case(file, PROGRAM_SUFFIX) else {
        return false;
    };
    let name = strip_suffix_ignore_case(name, PROGRAM_SUFFIX).unwrap_or(name);
    !stem.contains('/') && stem.eq_ignore_ascii_case(name)
}

/// The value of `key` in a boot configuration text.
pub fn boot_config_value<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (k, v) = line.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let split = s.len().checked_sub(suffix.len())?;
    let tail = s.get(split..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..split])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_names_resolve_like_nt() {
        assert!(program_path_matches("System32/hello.exe", "hello"));
        assert!(program_path_matches("System32/hello.exe", "HELLO.EXE"));
        assert!(!program_path_matches("System32/hello.exe", "hell"));
        assert!(!program_path_matches("System32/sub/hello.exe", "sub/hello"));
        assert!(!program_path_matches("kernel", "kernel"));
    }

    #[test]
    fn boot_config_keys() {
        let cfg = "# boot\ndefault = hello \nother=x";
        assert_eq!(boot_config_value(cfg, "default"), Some("hello"));
        assert_eq!(boot_config_value(cfg, "missing"), None);
    }
}
