//! Fuzz target: raw, mutated and checksum-repaired guest.img files and mutated kernel ELFs
//! against `vmm::image`, checked as the property tests check them
//! (tests/harness/guest_image.rs).
#![no_main]

#[path = "../../tests/harness/guest_image.rs"]
mod guest_image;

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest_image::guest_image(data));
