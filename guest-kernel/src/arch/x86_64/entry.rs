//! The kernel's entry point: a stack for the boot processor, parking for the others.

use core::arch::naked_asm;

const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct BootStack([u8; BOOT_STACK_SIZE]);

/// The boot processor's stack until its first thread has one of its own. Only `_start`
/// touches it, through its address.
static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

/// The VMM enters here on every vCPU with `rdi` = guest-physical address of the BootInfo
/// and `rsi` = the vCPU index. The boot processor continues into the kernel; the others
/// wait with interrupts off until the dispatcher wakes them.
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
        "cli",
        "3:",
        "hlt",
        "jmp 3b",
        stack = sym BOOT_STACK,
        size = const BOOT_STACK_SIZE,
        main = sym boot_processor_entry,
    )
}

extern "C" fn boot_processor_entry(boot_info_phys: u64) -> ! {
    crate::system_startup(boot_info_phys)
}
