//! Link arguments for `chaindll.dll`: its entry point is `_DllMainCRTStartup` (DllMain),
//! and its preferred base, like testdll's, is the programs' own, so it is relocated too.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/ENTRY:_DllMainCRTStartup");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x140000000");
}
