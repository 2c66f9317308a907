//! The image entry point: `NtProcessStartup`, which runs main and ends the process.

use abi::NtStatus;
use abi::nt::{PROCESS_PARAMETERS_NORMALIZED, Peb, RtlUserProcessParameters};

use crate::Args;

unsafe extern "Rust" {
    // SAFETY: `rt::entry!` in the program defines these with exactly these signatures; a
    // program without `entry!` fails to link.
    /// The program's main function.
    safe fn __rt_main(args: &Args) -> NtStatus;
    /// The console: rt's own `NtDisplayString` stub, or ntdll's.
    safe fn __rt_display_string(text: &[u16]) -> NtStatus;
    /// The end of the process: rt's own `NtTerminateProcess` stub, or ntdll's
    /// `RtlExitUserProcess`.
    safe fn __rt_exit_process(status: NtStatus) -> !;
}

/// Writes to the console the program chose with `rt::entry!`.
pub(crate) fn display(text: &[u16]) -> NtStatus {
    __rt_display_string(text)
}

/// Ends the process the way the program chose with `rt::entry!`.
pub(crate) fn exit_process(status: NtStatus) -> ! {
    __rt_exit_process(status)
}

/// The PE entry point (`/ENTRY:NtProcessStartup`). The kernel enters it in ring 3 with
/// `gs` based at the TEB and `rsp` on the thread's stack, aligned or not; it aligns the
/// stack the way a call would have, leaves the 32-byte home area and calls
/// [`process_startup`], which never returns.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn NtProcessStartup() -> ! {
    core::arch::naked_asm!(
        "cld",
        "xor ebp, ebp",
        "and rsp, -16",
        "sub rsp, 32",
        "call {startup}",
        "ud2",
        startup = sym process_startup,
    )
}

extern "C" fn process_startup() -> ! {
    let status = match Args::from_utf16(command_line()) {
        Ok(args) => __rt_main(&args),
        Err(error) => {
            crate::println!("rt: bad command line: {error}");
            NtStatus::INVALID_PARAMETER
        }
    };
    exit_process(status)
}

/// `NtCurrentPeb()`: TEB.ProcessEnvironmentBlock.
pub fn current_peb() -> *const Peb {
    let peb: *const Peb;
    // SAFETY: gs:[0x60] is TEB.ProcessEnvironmentBlock; the kernel bases `gs` at the TEB
    // of every user thread, and the read has no other effect.
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[0x60]",
            out(reg) peb,
            options(nostack, readonly, preserves_flags),
        )
    };
    peb
}

/// `NtCurrentPeb()->ProcessParameters`, when the creator gave them.
fn process_parameters() -> Option<&'static RtlUserProcessParameters> {
    let peb = current_peb();
    if peb.is_null() {
        return None;
    }
    // SAFETY: a non-null PEB pointer from the TEB points at the process's PEB, mapped
    // for the life of the process.
    let params = unsafe { (*peb).process_parameters } as *const RtlUserProcessParameters;
    // SAFETY: as for the PEB: the creator wrote the parameters block, which stays mapped.
    unsafe { params.as_ref() }
}

/// `NtCurrentPeb()->ProcessParameters->CommandLine`, empty when the kernel gave none.
pub fn command_line() -> &'static [u16] {
    let Some(params) = process_parameters() else {
        return &[];
    };
    let line = params.command_line;
    let mut buffer = line.buffer;
    if params.flags & PROCESS_PARAMETERS_NORMALIZED == 0 && buffer != 0 {
        // Denormalized parameters hold offsets from the block, as NT's do before
        // RtlNormalizeProcessParams.
        buffer = buffer.wrapping_add(params as *const _ as u64);
    }
    let units = usize::from(line.length / 2);
    if buffer == 0 || buffer % 2 != 0 || units == 0 {
        return &[];
    }
    // SAFETY: CommandLine.Buffer holds Length bytes of UTF-16 that the kernel keeps
    // mapped and unchanged for the life of the process; the pointer is non-null and
    // aligned.
    unsafe { core::slice::from_raw_parts(buffer as *const u16, units) }
}

/// Calls `visit` with each string of the environment block the process's creator gave it
/// (`ProcessParameters->Environment`: NUL-terminated strings up to an empty one), at most
/// `limit` of them (a block without an end must not run on); returns how many it saw.
pub fn for_each_environment_string(limit: usize, mut visit: impl FnMut(&[u16])) -> usize {
    let Some(params) = process_parameters() else {
        return 0;
    };
    let mut next = params.environment as *const u16;
    let mut seen = 0;
    while !next.is_null() && next.is_aligned() && seen < limit {
        let mut length = 0;
        // SAFETY: the creator's block holds NUL-terminated strings up to an empty one;
        // reading stops at each NUL.
        while unsafe { next.add(length).read() } != 0 {
            length += 1;
        }
        if length == 0 {
            break;
        }
        // SAFETY: the `length` units just read.
        visit(unsafe { core::slice::from_raw_parts(next, length) });
        seen += 1;
        // SAFETY: the string's NUL is followed by the next string or the empty one.
        next = unsafe { next.add(length + 1) };
    }
    seen
}
