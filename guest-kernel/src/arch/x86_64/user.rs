//! Crossing into user mode: the first entry of a thread, and kernel reads of user memory
//! that survive bad pointers.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::layout::USER_END;

use super::gdt::{USER_CS, USER_DS, set_kernel_stack};
use super::trap::{TrapFrame, trap_exit};

/// Set when CR4.SMAP is on, so user copies open the window with `stac`.
pub static SMAP_ENABLED: AtomicBool = AtomicBool::new(false);

const RFLAGS_INTERRUPTS: u64 = 1 << 9;
const RFLAGS_RESERVED: u64 = 1 << 1;

/// The initial user context of a thread: where it starts, its stack, its first argument
/// (`rcx`, as `NtProcessStartup(PPEB)` takes it) and its TEB (the user `gs` base).
#[derive(Clone, Copy, Debug)]
pub struct UserContext {
    pub entry: u64,
    pub stack: u64,
    pub argument: u64,
    pub teb: u64,
}

/// Enters user mode for the first time on the kernel stack ending at `kernel_stack_top`.
pub fn enter_user_mode(context: UserContext, kernel_stack_top: u64) -> ! {
    let frame = TrapFrame {
        rcx: context.argument,
        rip: context.entry,
        cs: u64::from(USER_CS.0),
        rflags: RFLAGS_INTERRUPTS | RFLAGS_RESERVED,
        rsp: context.stack,
        ss: u64::from(USER_DS.0),
        ..TrapFrame::default()
    };
    set_kernel_stack(kernel_stack_top);
    super::context::set_user_gs_base_register(context.teb);
    let frame_address = kernel_stack_top - size_of::<TrapFrame>() as u64;
    // SAFETY: the frame goes at the top of the thread's own kernel stack, which nothing
    // else uses; `trap_exit` pops it, swaps `gs` to the TEB and `iretq`s into user mode.
    unsafe {
        (frame_address as *mut TrapFrame).write(frame);
        core::arch::asm!(
            "mov rsp, {frame}",
            "jmp {exit}",
            frame = in(reg) frame_address,
            exit = sym trap_exit,
            options(noreturn),
        )
    }
}

// `copy_user_bytes(dst, src, len) -> 0 | 1`: a `rep movsb` whose faults the page-fault
// handler turns into a return of 1 (see `fixup_user_copy`).
global_asm!(
    ".pushsection .text.copy_user_bytes, \"ax\"",
    ".global copy_user_bytes",
    ".global copy_user_bytes_instruction",
    ".global copy_user_bytes_fixup",
    "copy_user_bytes:",
    "mov rcx, rdx",
    "copy_user_bytes_instruction:",
    "rep movsb",
    "xor eax, eax",
    "ret",
    "copy_user_bytes_fixup:",
    "mov eax, 1",
    "ret",
    ".popsection",
);

unsafe extern "C" {
    fn copy_user_bytes(dst: *mut u8, src: u64, len: usize) -> u64;
    // Code labels inside `copy_user_bytes`, declared as functions only to take their addresses.
    fn copy_user_bytes_instruction();
    fn copy_user_bytes_fixup();
}

/// The user address range `[start, start + len)` lies entirely in the user half.
pub fn is_user_range(start: u64, len: u64) -> bool {
    start.checked_add(len).is_some_and(|end| end <= USER_END)
}

/// Copies `dst.len()` bytes from user address `src`. Fails, without faulting the kernel,
/// when any byte is outside the user half or not readable.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), ()> {
    if !is_user_range(src, dst.len() as u64) {
        return Err(());
    }
    let smap = SMAP_ENABLED.load(Ordering::Relaxed);
    if smap {
        // SAFETY: opens user access for the copy below only; closed right after.
        unsafe { core::arch::asm!("stac", options(nomem, nostack)) };
    }
    // SAFETY: `dst` is a valid kernel buffer; a fault on the user side is caught by
    // `fixup_user_copy` and reported as 1.
    let failed = unsafe { copy_user_bytes(dst.as_mut_ptr(), src, dst.len()) };
    if smap {
        // SAFETY: closes the user-access window opened above.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
    if failed == 0 { Ok(()) } else { Err(()) }
}

/// Copies `src` to user address `dst` (the write half of `copy_from_user`). Fails, without
/// faulting the kernel, when any byte is outside the user half or not writable.
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), ()> {
    if !is_user_range(dst, src.len() as u64) {
        return Err(());
    }
    let smap = SMAP_ENABLED.load(Ordering::Relaxed);
    if smap {
        // SAFETY: opens user access for the copy below only; closed right after.
        unsafe { core::arch::asm!("stac", options(nomem, nostack)) };
    }
    // SAFETY: `src` is a valid kernel buffer that `rep movsb` only reads; a fault on the
    // user side (unmapped, read-only with CR0.WP set) is caught by `fixup_user_copy` and
    // reported as 1.
    let failed = unsafe { copy_user_bytes(dst as *mut u8, src.as_ptr() as u64, src.len()) };
    if smap {
        // SAFETY: closes the user-access window opened above.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
    if failed == 0 { Ok(()) } else { Err(()) }
}

/// If a kernel-mode fault hit the user-copy instruction, resumes at its failure exit and
/// returns true.
pub fn fixup_user_copy(frame: &mut TrapFrame) -> bool {
    let instruction = copy_user_bytes_instruction as *const () as u64;
    let fixup = copy_user_bytes_fixup as *const () as u64;
    if frame.is_user_mode() || frame.rip != instruction {
        return false;
    }
    frame.rip = fixup;
    true
}
