//! Link arguments that make `ntdll.dll` a system DLL rather than a program: no entry point
//! (the workspace's `/ENTRY:NtProcessStartup` is for programs; the loader never calls into
//! ntdll as a DLL) and a preferred base high in the user half, away from the programs'
//! 0x140000000, where the kernel maps it in every process.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/NOENTRY");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x7FF000000000");
}
