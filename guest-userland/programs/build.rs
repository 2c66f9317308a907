//! The programs' entry point is rt's `NtProcessStartup`. It is set here for the binaries
//! only, rather than in .cargo/config.toml, because ntdll.dll links in the same workspace
//! and has no entry point.
fn main() {
    println!("cargo:rustc-link-arg-bins=/ENTRY:NtProcessStartup");
}
