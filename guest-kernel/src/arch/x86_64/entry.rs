//! The kernel's entry point: a stack for the boot processor; the others wait for the stack
//! the boot processor hands each of them when it starts them.

use core::arch::naked_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::MAX_PROCESSORS;

const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct BootStack([u8; BOOT_STACK_SIZE]);

/// The boot processor's stack until its first thread has one of its own. Only `_start`
/// touches it, through its address.
static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

/// The stack top each application processor starts on (`KiStartupProcessor`'s idle
/// stack), by processor index: 0 until the boot processor starts it.
static STARTUP_STACKS: [AtomicU64; MAX_PROCESSORS] = [const { AtomicU64::new(0) }; MAX_PROCESSORS];

/// The VMM enters here on every vCPU with `rdi` = guest-physical address of the BootInfo
/// and `rsi` = the vCPU index. The boot processor continues into the kernel. An
/// application processor spins until [`start_processor`] gives it a stack (the boot takes
/// milliseconds, and a halted vCPU could not be woken before the kernel has an IDT), then
/// enters [`application_processor_entry`]. Processors past [`MAX_PROCESSORS`] stay halted.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.start")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "test rsi, rsi",
        "jnz 2f",
        "lea rsp, [rip + {stack} + {size}]",
        "xor ebp, ebp",
        "call {main}",
        "ud2",
        "2:",
        "cmp rsi, {max}",
        "jae 4f",
        "lea rax, [rip + {stacks}]",
        "3:",
        "pause",
        "mov rdx, [rax + rsi * 8]",
        "test rdx, rdx",
        "jz 3b",
        "mov rsp, rdx",
        "mov edi, esi",
        "xor ebp, ebp",
        "call {application_processor}",
        "ud2",
        "4:",
        "cli",
        "hlt",
        "jmp 4b",
        stack = sym BOOT_STACK,
        size = const BOOT_STACK_SIZE,
        main = sym boot_processor_entry,
        max = const MAX_PROCESSORS,
        stacks = sym STARTUP_STACKS,
        application_processor = sym application_processor_entry,
    )
}

extern "C" fn boot_processor_entry(boot_info_phys: u64) -> ! {
    crate::system_startup(boot_info_phys)
}

extern "C" fn application_processor_entry(index: u32) -> ! {
    crate::application_processor_startup(index)
}

/// Starts application processor `index` on the stack ending at `stack_top` (16-byte
/// aligned, the caller's for good).
pub fn start_processor(index: u32, stack_top: u64) {
    STARTUP_STACKS[index as usize].store(stack_top, Ordering::Release);
}
