//! Fuzz target: mutated and raw PE files against the kernel's PE loader (mm/image.rs),
//! checked as the property tests check them (guest-kernel/host-tests/tests/harness/).
#![no_main]

use std::sync::OnceLock;

#[path = "../../guest-kernel/host-tests/tests/harness/pe_image.rs"]
mod pe_image;

/// guest-userland's `hello.exe`, a second seed when it has been built.
fn real_program() -> Option<&'static [u8]> {
    static HELLO: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    HELLO
        .get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../guest-userland/target/x86_64-pc-windows-msvc/release/hello.exe"
            );
            std::fs::read(path).ok()
        })
        .as_deref()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pe_image::pe_image(data, real_program());
});
