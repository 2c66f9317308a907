//! Link arguments for `tlsdll.dll`: a DLL without an entry point (the loader refuses it
//! before one could run), at the programs' base like the other DLLs of ours.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/NOENTRY");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x140000000");
}
