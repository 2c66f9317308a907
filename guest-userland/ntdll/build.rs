//! Link arguments that make `ntdll.dll` a system DLL rather than a program: no entry point
//! (the workspace's `/ENTRY:NtProcessStartup` is for programs; the loader never calls into
//! ntdll as a DLL) and a preferred base high in the user half, away from the programs'
//! 0x140000000, where the kernel maps it in every process. `LdrInitializeThunk` is
//! pinned as ordinal 1, so programs that import it by ordinal keep finding it whatever
//! other exports sort before it (the linker numbers the rest in name order).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/NOENTRY");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x7FF000000000");
    println!("cargo:rustc-cdylib-link-arg=/EXPORT:LdrInitializeThunk,@1");
}
