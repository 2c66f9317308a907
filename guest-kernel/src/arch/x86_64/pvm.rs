//! kvm-pvm's paravirtual interface, for a kernel that runs natively at hardware CPL 3 on a
//! kvm-pvm host: the VIF page (virtual interrupt flag, pending flag, CR2 cell).
//!
//! On such a host `cli`, `sti` and `popf` do not control interrupt delivery: the first byte
//! of the vCPU's VIF page does. Delivery through an interrupt gate clears it, the return
//! to user mode sets it, and `trap_exit` restores it from the frame's RFLAGS.IF on a return
//! to kernel mode; explicit enables and disables in kernel code go through here.

use abi::layout::{PAGE_SIZE, PVM_VIF_PAGES_ADDR, phys_to_virt};

/// Hypercall (`int 0x1b`, number in `rax`, arguments in `rbx`, `rcx`, `rdx`): return to user
/// mode from the frame at `rbx`, `{rax, rbx, rdi, rip, cs, rflags, rsp, ss}`.
pub const HC_IRET_FRAME: u32 = 0x100D;
/// Hypercalls that stand in for trapped instructions: each is still an exit, but the host
/// skips decoding and emulating the instruction, about half the cost (docs/kvm-pvm-host-abi.md,
/// Q4 and Q7). Load CR3 from `rbx`.
pub const HC_SET_CR3: u32 = 0x1001;
/// Write `rcx` to the MSR numbered `ebx`; `rax` is 0 on success.
pub const HC_WRMSR: u32 = 0x1003;
/// Drop the TLB entry of the address in `rbx`, and the paging-structure caches, as `invlpg`.
pub const HC_INVLPG: u32 = 0x1008;
/// The host's direct return to user mode after a `syscall`, like `sysret`: `int 0x19` from
/// kernel mode with `rcx` = user `rip`, `r11` = user `rflags` and `rsp` already the user
/// stack; every other register passes through.
pub const DIRECT_RETURN_VECTOR: u8 = 0x19;

/// The VIF page's layout (the first 16 bytes of a page per vCPU).
#[repr(C)]
struct Vif {
    /// Virtual RFLAGS.IF: 1 while interrupts are enabled.
    interrupt_flag: u8,
    /// Set by the host when it holds back an interrupt because `interrupt_flag` is 0.
    pending: u8,
    reserved: [u8; 6],
    /// The faulting address of the last page fault (registered with the CR2 flag).
    cr2: u64,
}

fn vif(processor: u32) -> *mut Vif {
    phys_to_virt(PVM_VIF_PAGES_ADDR + u64::from(processor) * PAGE_SIZE) as *mut Vif
}

/// Masks interrupts on `processor` (the current one).
pub fn disable_interrupts(processor: u32) {
    // SAFETY: the VMM registered this page for this vCPU; the direct map covers it and
    // only this vCPU writes its flag.
    unsafe { (&raw mut (*vif(processor)).interrupt_flag).write_volatile(0) };
}

/// Unmasks interrupts on `processor` (the current one). An interrupt the host held back
/// meanwhile is delivered by the next exit: `out 0x80, al` makes one.
pub fn enable_interrupts(processor: u32) {
    // SAFETY: as for `disable_interrupts`; port 0x80 is the POST diagnostic port, whose
    // writes have no effect but the exit.
    unsafe {
        (&raw mut (*vif(processor)).interrupt_flag).write_volatile(1);
        if (&raw const (*vif(processor)).pending).read_volatile() != 0 {
            core::arch::asm!("out 0x80, al", in("al") 0u8, options(nomem, nostack));
        }
    }
}

/// The idle loop's wait on `processor` (the current one): unmasks interrupts and halts
/// until one arrives, or rings the doorbell instead when one is held back already.
pub fn enable_interrupts_and_halt(processor: u32) {
    // SAFETY: the VIF page is this vCPU's, as in `disable_interrupts`; `halt` only writes
    // its interrupt flag.
    unsafe { halt(vif(processor)) };
}

unsafe extern "C" {
    /// The instructions of [`halt`] between unmasking interrupts and the `hlt`, which is at
    /// `idle_halt_window_end`: an interrupt taken there must not return into the `hlt`.
    static idle_halt_window_start: u8;
    static idle_halt_window_end: u8;
}

/// Unmasks interrupts through `vif` and halts. Unlike `sti; hlt` nothing holds interrupts
/// back until the `hlt`: one that lands between the unmasking and the `hlt` (and may have
/// readied a thread) would be followed by a halt until the next one, which a tickless idle
/// may never get. [`skip_idle_halt`] makes such an interrupt return past the `hlt`.
#[unsafe(naked)]
unsafe extern "C" fn halt(vif: *mut Vif) {
    core::arch::naked_asm!(
        "mov byte ptr [rdi], 1",
        ".globl idle_halt_window_start",
        "idle_halt_window_start:",
        "cmp byte ptr [rdi + 1], 0",
        "jne 2f",
        ".globl idle_halt_window_end",
        "idle_halt_window_end:",
        "hlt",
        "ret",
        "2:",
        "out 0x80, al",
        "ret",
    )
}

/// Moves `rip`, interrupted in the idle loop's wait between unmasking interrupts and its
/// `hlt`, past the `hlt`.
pub fn skip_idle_halt(rip: &mut u64) {
    let (start, end) = (
        &raw const idle_halt_window_start as u64,
        &raw const idle_halt_window_end as u64,
    );
    if (start..=end).contains(rip) {
        *rip = end + 1;
    }
}

/// The faulting address of the page fault being handled on `processor`.
pub fn page_fault_address(processor: u32) -> u64 {
    // SAFETY: as above; the host wrote the cell before delivering the #PF.
    unsafe { (&raw const (*vif(processor)).cr2).read_volatile() }
}

/// Makes hypercall `number` with `first` in `rbx` and `second` in `rcx`; returns `rax`.
///
/// # Safety
/// The kernel runs natively on a kvm-pvm host, and the hypercall's effect (on CR3, an MSR
/// or the TLB) is one the caller may have.
pub unsafe fn hypercall(number: u32, first: u64, second: u64) -> u64 {
    let result: u64;
    // SAFETY: per the contract; LLVM reserves `rbx`, so it is swapped in and out around
    // the `int`. The host preserves every register but `rax`; `rcx` and `rdx` are declared
    // clobbered anyway, and memory is not `nomem`: the effects are on address translation.
    unsafe {
        core::arch::asm!(
            "xchg {first}, rbx",
            "int 0x1b",
            "xchg {first}, rbx",
            first = inout(reg) first => _,
            inout("rax") u64::from(number) => result,
            inout("rcx") second => _,
            out("rdx") _,
        )
    };
    result
}
