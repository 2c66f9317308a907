//! Link arguments for `tlsdll.dll`: its entry point is `_DllMainCRTStartup` (DllMain, which
//! the loader calls after the DLL's TLS callbacks), and its preferred base is the programs'
//! own, so it is relocated, TLS directory and all.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/ENTRY:_DllMainCRTStartup");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x140000000");
}
