//! Fuzz target: hypercall requests decoded from the input against `vmm::hypercall::dispatch`,
//! checked as the property tests check them (tests/harness/hypercall.rs).
#![no_main]

#[path = "../../tests/harness/hypercall.rs"]
mod hypercall;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hypercall::hypercall_request(data);
    let mut address = [0u8; 8];
    let n = data.len().min(8);
    address[..n].copy_from_slice(&data[..n]);
    hypercall::doorbell_address(u64::from_le_bytes(address));
});
