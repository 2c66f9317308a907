//! Property tests of the kernel's PE loader (`mm/image.rs`) with thousands of mutated
//! files: the minimal PE32+ built by the harness and, when guest-userland is built, the
//! real `hello.exe`. The loader must never panic and must refuse every bad file with an NT
//! status (see `harness::pe_image::REFUSALS`). The fuzz target `pe_image` in fuzz/ runs the
//! same checks.
//!
//! `PROPTEST_CASES` sets the number of cases per property (default below).

mod harness {
    pub mod pe_image;
}

use std::path::PathBuf;
use std::sync::OnceLock;

use abi::NtStatus;
use harness::pe_image::{check_pe, minimal_pe, mutate, pe_image};
use proptest::collection::vec;
use proptest::prelude::*;

const CASES: u32 = 4096;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// guest-userland's `hello.exe`, if scripts/build.sh has built it.
fn real_program() -> Option<&'static [u8]> {
    static HELLO: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    HELLO
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../guest-userland/target/x86_64-pc-windows-msvc/release/hello.exe");
            std::fs::read(path).ok()
        })
        .as_deref()
}

proptest! {
    #![proptest_config(config())]

    /// Mutated minimal PEs, mutated hello.exe and raw bytes: no panic, a refusal status.
    #[test]
    fn mutated_images_are_refused_or_mapped(data in vec(any::<u8>(), 0..96)) {
        let _ = pe_image(&data, real_program());
    }

    /// Header and section-table fields only, several at once, on the minimal PE.
    #[test]
    fn header_fields(ops in vec((4u8..8, any::<[u8; 5]>()), 1..6)) {
        let ops: Vec<u8> = ops.iter().flat_map(|(k, rest)| std::iter::once(*k).chain(*rest)).collect();
        let _ = check_pe(&mutate(&minimal_pe(), &ops));
    }

    /// Every prefix of the file: refused until it holds every section's file data.
    #[test]
    fn truncated_images(cut in 0usize..0x1000) {
        let image = minimal_pe();
        let status = check_pe(&image[..cut.min(image.len())]);
        let expected = if cut >= image.len() {
            Ok(())
        } else if cut < 2 {
            Err(NtStatus::INVALID_IMAGE_NOT_MZ)
        } else {
            Err(NtStatus::INVALID_IMAGE_FORMAT)
        };
        prop_assert_eq!(status, expected);
    }
}

/// The seeds map: otherwise every mutation would stop at the first check.
#[test]
fn seeds_map() {
    check_pe(&minimal_pe()).unwrap();
    if let Some(hello) = real_program() {
        check_pe(hello).unwrap();
    }
}

/// Mutation reaches past the first checks: over a fixed set of mutations, some images map
/// and some are refused, and the refusals are the loader's own.
#[test]
fn mutations_reach_the_loader() {
    let mut mapped = 0;
    let mut refused = 0;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2000 {
        let ops: Vec<u8> = (0..12)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        match pe_image(&ops, real_program()) {
            Ok(()) => mapped += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        mapped > 100 && refused > 100,
        "mapped {mapped}, refused {refused}"
    );
}
