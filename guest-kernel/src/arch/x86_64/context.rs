//! Thread context switching (`KiSwapContext`): the kernel-mode switch frame (callee-saved
//! registers and the return address on the thread's kernel stack), the per-thread user
//! state the processor holds while a thread runs in the kernel (user `gs` base in
//! KERNEL_GS_BASE, x87/SSE registers), the kernel stack that traps from user mode land on,
//! and the address space.
//!
//! The kernel itself never touches x87/SSE registers (the target has them disabled), so a
//! thread's user FPU state stays live in the registers until it is switched out.

use core::arch::naked_asm;
use core::cell::UnsafeCell;

use ::x86_64::VirtAddr;
use ::x86_64::registers::model_specific::KernelGsBase;

use super::gdt::{KPCR_PROCESSOR_INDEX, set_kernel_stack};
use super::paging::switch_address_space;

/// The FXSAVE image of a thread's x87/SSE state: 512 bytes, 16-byte aligned.
#[repr(C, align(16))]
struct FxSaveArea([u8; 512]);

impl FxSaveArea {
    /// The state a thread starts with (as `FNINIT` and the default MXCSR leave it): x87
    /// control word 0x037F, MXCSR 0x1F80 (all exceptions masked), empty registers.
    fn initial() -> Self {
        let mut area = [0; 512];
        area[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        Self(area)
    }
}

/// The processor state of a thread that is not running (the switch-relevant part of
/// `KTHREAD`: `KernelStack`, `InitialStack`, the user segment base and the saved
/// floating-point state).
#[repr(C)]
pub struct SwitchContext {
    /// The kernel `rsp` saved by the switch (`KTHREAD.KernelStack`); the switch frame is
    /// on top of it.
    kernel_rsp: u64,
    /// Top of the thread's kernel stack (`InitialStack`), or 0 for a thread that never
    /// runs user mode (the idle thread), which has no user state either.
    kernel_stack_top: u64,
    /// The user `gs` base (the TEB), held in KERNEL_GS_BASE while the thread is in the kernel.
    /// User mode cannot change it, so it is set once and not read back at each switch: the
    /// read would cost an exit on a kvm-pvm host.
    user_gs_base: u64,
    fx_save_area: FxSaveArea,
}

/// A [`SwitchContext`] as a thread object holds it: written only by the processor that
/// switches the thread in or out, with the dispatcher's serialisation.
pub struct SwitchContextCell(UnsafeCell<SwitchContext>);

// SAFETY: the context is only reached through raw pointers by `swap_context`, which the
// dispatcher calls for a thread on one processor at a time (it is either running there, or
// being switched out or in there, never two at once).
unsafe impl Sync for SwitchContextCell {}

impl SwitchContextCell {
    /// The context of the processor's current flow of control (the boot stack, which
    /// becomes the idle thread): filled in when it is first switched out.
    pub fn for_idle_thread() -> Self {
        Self(UnsafeCell::new(SwitchContext {
            kernel_rsp: 0,
            kernel_stack_top: 0,
            user_gs_base: 0,
            fx_save_area: FxSaveArea::initial(),
        }))
    }

    /// The context of a new thread whose kernel stack ends at `kernel_stack_top`
    /// (16-byte aligned): switching to it runs `start` (`KiThreadStartup`) on that stack
    /// with a clean FPU state. Its user `gs` base is set when it enters user mode.
    pub fn for_new_thread(kernel_stack_top: u64, start: extern "C" fn() -> !) -> Self {
        debug_assert!(kernel_stack_top.is_multiple_of(16));
        // The switch frame `switch_stacks` pops: r15, r14, r13, r12, rbx, rbp, then the
        // return address. It returns into `thread_start` with `rsp` 16-byte aligned, which
        // calls `start` (in r12).
        let frame_base = kernel_stack_top - 72;
        let frame: [u64; 7] = [
            0,
            0,
            0,
            start as *const () as u64,
            0,
            0,
            thread_start as *const () as u64,
        ];
        // SAFETY: the caller hands over a fresh kernel stack of its own; the frame lies
        // inside it, below its top, and nothing else uses the stack yet.
        unsafe { (frame_base as *mut [u64; 7]).write(frame) };
        Self(UnsafeCell::new(SwitchContext {
            kernel_rsp: frame_base,
            kernel_stack_top,
            user_gs_base: 0,
            fx_save_area: FxSaveArea::initial(),
        }))
    }

    /// Records the TEB as the user `gs` base of the running thread, which owns this
    /// context, before it first enters user mode.
    pub fn set_user_gs_base(&self, teb: u64) {
        // SAFETY: only the thread itself calls this while it runs, and `swap_context`
        // touches its context only while switching it in or out, which cannot happen in
        // the middle of this store (traps from kernel mode do not switch threads).
        unsafe { (*self.get()).user_gs_base = teb };
    }

    fn get(&self) -> *mut SwitchContext {
        self.0.get()
    }
}

/// Where a new thread's first switch returns to: calls its start routine (in r12), which
/// never returns.
#[unsafe(naked)]
unsafe extern "C" fn thread_start() -> ! {
    naked_asm!("xor ebp, ebp", "call r12", "ud2")
}

/// Saves the callee-saved registers and `rsp` of the running flow in `*save_rsp`, loads
/// `rsp` from `new_rsp` and restores the registers saved there, returning into the other
/// thread's last switch (or into `thread_start` for a new thread).
#[unsafe(naked)]
unsafe extern "C" fn switch_stacks(save_rsp: *mut u64, new_rsp: u64) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Switches this processor from the thread whose context is `old` to the one whose
/// context is `new` (`KiSwapContext`), loading `address_space` into CR3 first when the
/// new thread's process differs from the one loaded. Returns when some processor switches
/// back to `old`.
///
/// # Safety
/// Interrupts are disabled. `old` is the context of the flow running now and `new` that
/// of a thread that is not running anywhere; both stay allocated until they are switched
/// out again (a terminated `old` until the next thread has taken over). `address_space`
/// is a PML4 sharing the kernel half.
pub unsafe fn swap_context(
    old: &SwitchContextCell,
    new: &SwitchContextCell,
    address_space: Option<u64>,
) {
    let (old, new) = (old.get(), new.get());
    // SAFETY: per the contract, nothing else touches either context during the switch;
    // FXSAVE64/FXRSTOR64 take the 16-byte-aligned 512-byte areas, and the image restored
    // was saved by FXSAVE64 or built by `FxSaveArea::initial` (reserved MXCSR bits clear).
    unsafe {
        if (*old).kernel_stack_top != 0 {
            core::arch::asm!(
                "fxsave64 [{}]",
                in(reg) &raw mut (*old).fx_save_area,
                options(nostack, preserves_flags),
            );
        }
        if let Some(root) = address_space {
            switch_address_space(root);
        }
        if (*new).kernel_stack_top != 0 {
            set_kernel_stack((*new).kernel_stack_top);
            set_user_gs_base_register((*new).user_gs_base);
            core::arch::asm!(
                "fxrstor64 [{}]",
                in(reg) &raw const (*new).fx_save_area,
                options(nostack, preserves_flags),
            );
        }
        switch_stacks(&raw mut (*old).kernel_rsp, (*new).kernel_rsp);
    }
}

/// The number of the KERNEL_GS_BASE MSR, for the WRMSR hypercall.
const KERNEL_GS_BASE_MSR: u64 = 0xC000_0102;

/// Loads `teb` as the user `gs` base (KERNEL_GS_BASE while the kernel runs), which the
/// return to user mode puts in `gs`: a switch does it for the incoming thread. Natively on
/// kvm-pvm through the host's WRMSR hypercall, which costs about half a trapped `wrmsr`.
pub fn set_user_gs_base_register(teb: u64) {
    if super::pvm_native() {
        // SAFETY: the kernel runs natively on kvm-pvm; KERNEL_GS_BASE only matters on the
        // way back to user mode, as with the `wrmsr` below.
        let failed =
            unsafe { super::pvm::hypercall(super::pvm::HC_WRMSR, KERNEL_GS_BASE_MSR, teb) };
        debug_assert_eq!(failed, 0, "the host refused KERNEL_GS_BASE");
    } else {
        KernelGsBase::write(VirtAddr::new(teb));
    }
}

/// The user `gs` base register as it stands. A trapped `rdmsr` on kvm-pvm: for
/// measurements, not for hot paths.
pub fn user_gs_base_register() -> u64 {
    KernelGsBase::read().as_u64()
}

/// Saves the x87/SSE registers and loads them back, the FPU work of a switch between two
/// user threads; for `ke::timings`, which times it.
pub fn save_and_restore_fpu_state() {
    let mut area = FxSaveArea([0; 512]);
    // SAFETY: the area is 16-byte aligned and 512 bytes; FXRSTOR64 loads exactly the image
    // FXSAVE64 just stored, so the registers end as they were.
    unsafe {
        core::arch::asm!(
            "fxsave64 [{area}]",
            "fxrstor64 [{area}]",
            area = in(reg) &raw mut area,
            options(nostack, preserves_flags),
        );
    }
}

/// The index of the processor running this code (`KeGetCurrentProcessorNumber`), read from
/// its KPCR through `gs` rather than from the GS base MSR: the dispatcher asks on every
/// switch.
pub fn current_processor() -> u32 {
    let index: u32;
    // SAFETY: in kernel mode `gs` is based at this processor's block (both entry paths
    // switch it), whose KPCR holds its index at this offset; the read has no other effect.
    unsafe {
        core::arch::asm!(
            "mov {index:e}, gs:[{offset}]",
            index = out(reg) index,
            offset = const KPCR_PROCESSOR_INDEX,
            options(nostack, readonly, preserves_flags),
        )
    };
    index
}
