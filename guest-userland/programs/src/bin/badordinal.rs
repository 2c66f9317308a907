//! `badordinal`: imports ordinal 4000 from ntdll.dll, which has far fewer exports. ntdll's
//! loader ends the process with STATUS_ENTRYPOINT_NOT_FOUND before this entry point runs.
#![no_std]
#![no_main]

use rt::{Args, NtStatus};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    #[link_ordinal(4000)]
    fn no_such_ordinal() -> NtStatus;
}

rt::entry!(main);

fn main(_args: &Args) -> NtStatus {
    // SAFETY: never reached: the loader refuses the import first.
    unsafe { no_such_ordinal() }
}
