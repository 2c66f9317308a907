//! Property tests of the VMM's readers of guest-controlled and file input: the hypercall
//! request decoder and the guest.img reader, fed random and mutated inputs. They share
//! their entry points (tests/harness/) with the fuzz targets in fuzz/, which run the same
//! checks for as long as one likes (see the README's "Hostile inputs").
//!
//! `PROPTEST_CASES` sets the number of cases per property (default below).

mod harness {
    pub mod guest_image;
    pub mod hypercall;
}

use harness::guest_image::{self, check_image, good_image, kernel_elf};
use harness::hypercall::{self, Case, HIGH_RAM, HIGH_RAM_LEN, RAM_LEN};
use proptest::collection::vec;
use proptest::prelude::*;

/// Cases per property unless `PROPTEST_CASES` says otherwise: a few seconds in all here.
const CASES: u32 = 4096;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        // Failures are reported with their input; no files are written next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Requests decoded from random bytes get exactly the ABI's answer.
    #[test]
    fn hypercall_requests_get_the_abi_answer(data in vec(any::<u8>(), 0..160)) {
        hypercall::hypercall_request(&data);
    }

    /// Blocks at every address near the edges of RAM, with any contents, for each call.
    #[test]
    fn hypercall_blocks_at_ram_edges(
        call in 0u64..5,
        edge in prop::sample::select(vec![0, RAM_LEN, HIGH_RAM, HIGH_RAM + HIGH_RAM_LEN, u64::MAX]),
        delta in -64i64..64,
        contents in prop::array::uniform32(any::<u8>()),
        tail in prop::array::uniform16(any::<u8>()),
    ) {
        let mut block = [0u8; 48];
        block[..32].copy_from_slice(&contents);
        block[32..].copy_from_slice(&tail);
        // Version 1 half the time, so that the fields behind it are checked.
        if contents[0] & 1 == 0 {
            block[..4].copy_from_slice(&1u32.to_le_bytes());
        }
        hypercall::check_case(&Case {
            offset: call * 8,
            block: edge.wrapping_add_signed(delta),
            contents: block,
        });
    }

    /// Any guest-physical store address: a doorbell exactly when it is in the window.
    #[test]
    fn doorbell_window_is_exact(address in any::<u64>(), near in -0x1100i64..0x1100) {
        hypercall::doorbell_address(address);
        hypercall::doorbell_address(abi::hypercall::DOORBELL_BASE.wrapping_add_signed(near));
    }

    /// guest.img readers never panic on raw bytes, mutated images or mutated kernels.
    #[test]
    fn guest_images_never_panic(data in vec(any::<u8>(), 0..256)) {
        guest_image::guest_image(&data);
    }

    /// Random bytes over a good image's headers, checksums repaired.
    #[test]
    fn guest_image_headers_with_good_checksums(ops in vec(any::<u8>(), 4..64)) {
        let mut data = vec![1];
        data.extend(ops);
        guest_image::guest_image(&data);
    }

    /// Images cut at any length.
    #[test]
    fn truncated_images(cut in 0usize..8192) {
        let image = good_image();
        check_image(&image[..cut.min(image.len())]);
    }

    /// Kernels with any bytes changed.
    #[test]
    fn mutated_kernels(ops in vec(any::<u8>(), 0..48)) {
        let mut data = vec![3];
        data.extend(ops);
        guest_image::guest_image(&data);
        guest_image::check_kernel(&kernel_elf()[..ops_len(&data)]);
    }
}

/// A length within the kernel ELF derived from the input (for cut kernels).
fn ops_len(data: &[u8]) -> usize {
    data.iter().map(|&b| usize::from(b)).sum::<usize>() % (kernel_elf().len() + 1)
}

/// The seeds the mutations start from are themselves accepted: otherwise every mutated
/// case would stop at the first check.
#[test]
fn seeds_are_valid() {
    let contents = vmm::image::Contents::parse(&good_image()).unwrap();
    assert_eq!(contents.default_program, "hello");
    assert_eq!(contents.program_names(), ["Exit", "hello"]);
    assert_eq!(
        vmm::image::parse_kernel(&kernel_elf())
            .unwrap()
            .segments
            .len(),
        2
    );
    check_image(&good_image());
}
