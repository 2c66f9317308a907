//! Links the kernel with its own linker script. The kernel is position-independent: it
//! runs at its link address in the top 2 GiB as loaded, with every dynamic relocation
//! already applied for that address, and can move itself elsewhere by the link delta.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=--apply-dynamic-relocs");
    println!("cargo:rerun-if-changed=linker.ld");
}
