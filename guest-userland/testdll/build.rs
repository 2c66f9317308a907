//! Link arguments that make `testdll.dll` a DLL the loader has work with: its entry point
//! is `_DllMainCRTStartup` (DllMain), and its preferred base is the programs' own,
//! 0x140000000, deliberately: in every process that loads it the executable is already
//! there, so the kernel must map it elsewhere and apply its base relocations. `TestDllAdd`
//! is pinned as ordinal 7 and the linker numbers the rest after it in name order, so the
//! ordinal base is 7 and ordinals 1 to 6 do not exist. Three exports are forwarders the
//! loader must follow: to ntdll's `RtlInitUnicodeString` by name, to ntdll's ordinal 1
//! (`LdrInitializeThunk`, pinned by ntdll's build), and to a DLL that does not exist.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=/ENTRY:_DllMainCRTStartup");
    println!("cargo:rustc-cdylib-link-arg=/BASE:0x140000000");
    println!("cargo:rustc-cdylib-link-arg=/EXPORT:TestDllAdd,@7");
    println!("cargo:rustc-cdylib-link-arg=/EXPORT:TestDllForwarded=ntdll.RtlInitUnicodeString");
    println!("cargo:rustc-cdylib-link-arg=/EXPORT:TestDllForwardedOrdinal=ntdll.#1");
    println!("cargo:rustc-cdylib-link-arg=/EXPORT:TestDllForwardedMissing=nosuch.Function");
}
