//! Trap entry and exit: the stubs the IDT points at, the trap frame they build, and the
//! one exit path every return to an interrupted context takes.

use core::arch::naked_asm;

use abi::nt::SYSTEM_SERVICE_VECTOR;

/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 0x20;
/// Vector of the interprocessor interrupt that asks a processor to dispatch (and to flush
/// its TLB when that is asked too).
pub const DISPATCH_VECTOR: u8 = 0xE1;
/// Vector the APIC uses for spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xFF;
/// The `vector` a system call's frame carries: no hardware vector has this value.
pub const SYSTEM_CALL_VECTOR: u64 = 0x100;

/// The instructions that save the general registers into a [`TrapFrame`] under its vector
/// (the reverse of the order of its fields), shared by every entry path.
macro_rules! push_general_registers {
    () => {
        "push rax\npush rbx\npush rcx\npush rdx\npush rsi\npush rdi\npush rbp\npush r8\n\
         push r9\npush r10\npush r11\npush r12\npush r13\npush r14\npush r15"
    };
}
pub(super) use push_general_registers;

/// The reverse of [`push_general_registers`]: restores the general registers from a
/// [`TrapFrame`]; `pop_general_registers!(rcx)` stops after `rcx`, leaving `rbx` and `rax`
/// on the stack.
macro_rules! pop_general_registers {
    (rcx) => {
        "pop r15\npop r14\npop r13\npop r12\npop r11\npop r10\npop r9\npop r8\npop rbp\n\
         pop rdi\npop rsi\npop rdx\npop rcx"
    };
    () => {
        concat!(pop_general_registers!(rcx), "\npop rbx\npop rax")
    };
}

/// Registers saved on the kernel stack on every entry from a trap, interrupt or system
/// call (`KTRAP_FRAME`). The layout is fixed by the entry stubs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Whether the interrupted context was user mode.
    pub fn is_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }
}

const _: () = assert!(size_of::<TrapFrame>() == 22 * 8);

macro_rules! trap_stubs {
    ($($name:ident = $vector:literal $(, $error:ident)?;)*) => {
        $(
            #[unsafe(naked)]
            #[unsafe(link_section = ".text.trap_entry")]
            unsafe extern "C" fn $name() {
                naked_asm!(
                    trap_stubs!(@error_slot $($error)?),
                    "push {vector}",
                    "jmp {common}",
                    vector = const $vector,
                    common = sym trap_common,
                )
            }
        )*

        /// Entry stubs by vector.
        pub const STUBS: &[(u8, unsafe extern "C" fn())] = &[$(($vector, $name)),*];
    };
    (@error_slot error_code) => { "" };
    (@error_slot) => { "push 0" };
}

trap_stubs! {
    divide_error = 0;
    debug = 1;
    nmi = 2;
    breakpoint = 3;
    overflow = 4;
    bound_range = 5;
    invalid_opcode = 6;
    device_not_available = 7;
    double_fault = 8, error_code;
    invalid_tss = 10, error_code;
    segment_not_present = 11, error_code;
    stack_segment = 12, error_code;
    general_protection = 13, error_code;
    page_fault = 14, error_code;
    x87_floating_point = 16;
    alignment_check = 17, error_code;
    machine_check = 18;
    simd_floating_point = 19;
    virtualization = 20;
    control_protection = 21, error_code;
    system_service = 0x2E;
    timer = 0x20;
    dispatch = 0xE1;
    spurious = 0xFF;
}

/// Moves the trap frame from the entry stack to the stack the handler runs on (the
/// thread's kernel stack for a trap from user mode, the interrupted stack otherwise; a
/// double fault stays on its own stack), switches `gs` when the trap came from user mode,
/// saves the general registers and hands the frame to [`trap_dispatch`].
#[unsafe(naked)]
#[unsafe(link_section = ".text.trap_entry")]
unsafe extern "C" fn trap_common() {
    naked_asm!(
        // Entry stack: [rbx] [rax] vector error rip cs rflags rsp ss.
        "push rax",
        "push rbx",
        "cmp qword ptr [rsp + 16], {double_fault}",
        "je 8f",
        "test byte ptr [rsp + 40], 3",
        "jz 5f",
        // A kvm-pvm host running the kernel natively has switched GS already (and CR3,
        // when user mode ran on the user PML4 of a pair).
        "cmp byte ptr [rip + {pvm_native}], 0",
        "jne 6f",
        "swapgs",
        "6:",
        "mov rax, gs:[{kernel_rsp}]",
        "jmp 7f",
        "5:",
        "mov rax, [rsp + 56]",
        "and rax, -16",
        "7:",
        "sub rax, 56",
        "mov rbx, [rsp + 16]",
        "mov [rax], rbx",
        "mov rbx, [rsp + 24]",
        "mov [rax + 8], rbx",
        "mov rbx, [rsp + 32]",
        "mov [rax + 16], rbx",
        "mov rbx, [rsp + 40]",
        "mov [rax + 24], rbx",
        "mov rbx, [rsp + 48]",
        "mov [rax + 32], rbx",
        "mov rbx, [rsp + 56]",
        "mov [rax + 40], rbx",
        "mov rbx, [rsp + 64]",
        "mov [rax + 48], rbx",
        "mov rbx, rsp",
        "mov rsp, rax",
        "mov rax, [rbx + 8]",
        "mov rbx, [rbx]",
        "jmp 9f",
        "8:",
        "pop rbx",
        "pop rax",
        "9:",
        push_general_registers!(),
        "cld",
        "mov rdi, rsp",
        "call {dispatch}",
        "jmp {exit}",
        dispatch = sym trap_dispatch,
        exit = sym trap_exit,
        kernel_rsp = const super::gdt::KPCR_KERNEL_RSP,
        pvm_native = sym super::PVM_NATIVE,
        double_fault = const 8,
    )
}

/// Restores the context a trap frame describes and returns to it. `rsp` must point at the
/// frame. Returns to user mode always go through here, never `sysret`: with `iretq`, or on
/// a kvm-pvm host running the kernel natively with the host's iret hypercall, which is how
/// the host learns that the vCPU is back in user mode. Returns to kernel mode use
/// `popfq; ret`.
#[unsafe(naked)]
#[unsafe(link_section = ".text.trap_entry")]
pub unsafe extern "C" fn trap_exit() -> ! {
    naked_asm!(
        "test byte ptr [rsp + {cs}], 3",
        "jz 5f",
        "cmp byte ptr [rip + {pvm_native}], 0",
        "jne 4f",
        // Plain return to user mode.
        "swapgs",
        pop_general_registers!(),
        "add rsp, 16",
        "iretq",
        // kvm-pvm, back from a `syscall` whose frame is as `syscall` built it (rcx = rip,
        // r11 = rflags): the host's direct return (`int 0x19`), like `sysret`, without an
        // exit. Like the iret hypercall it gives user mode the KERNEL_GS_BASE the host last
        // saw (at the `syscall`, or at the exit of the context switch's write of it). VIF
        // stays clear: the host takes user mode as interruptible anyway, and no interrupt
        // may land between the switch to the user stack and the `int`.
        "4:",
        "cmp qword ptr [rsp + {vector}], {system_call_vector}",
        "jne 11f",
        "mov rax, [rsp + {rcx}]",
        "cmp rax, [rsp + {rip}]",
        "jne 11f",
        "mov rax, [rsp + {r11}]",
        "cmp rax, [rsp + {rflags}]",
        "jne 11f",
        "mov eax, gs:[{processor_index}]",
        "shl rax, 12",
        "movabs rbx, {vif_pages}",
        "mov byte ptr [rbx + rax], 0",
        // An interrupt the host held back while the kernel ran (an IPI, say) would wait
        // for the next exit: the direct return makes none, the iret hypercall does.
        "cmp byte ptr [rbx + rax + 1], 0",
        "jne 11f",
        pop_general_registers!(),
        // Left: vector error rip cs rflags rsp ss.
        "mov rsp, [rsp + 40]",
        "int {direct_return}",
        "ud2",
        // kvm-pvm: HC_IRET_FRAME takes {rax, rbx, rdi, rip, cs, rflags, rsp, ss}. The
        // hardware part ends the trap frame and `rax` precedes the vector and error slots,
        // so rbx and rdi overwrite those two and the frame starts at `rax`.
        "11:",
        "mov rax, [rsp + {rbx}]",
        "mov [rsp + {vector}], rax",
        "mov rax, [rsp + {rdi}]",
        "mov [rsp + {error}], rax",
        "mov r15, [rsp + {r15}]",
        "mov r14, [rsp + {r14}]",
        "mov r13, [rsp + {r13}]",
        "mov r12, [rsp + {r12}]",
        "mov r11, [rsp + {r11}]",
        "mov r10, [rsp + {r10}]",
        "mov r9, [rsp + {r9}]",
        "mov r8, [rsp + {r8}]",
        "mov rbp, [rsp + {rbp}]",
        "mov rsi, [rsp + {rsi}]",
        "mov rdx, [rsp + {rdx}]",
        "mov rcx, [rsp + {rcx}]",
        "lea rbx, [rsp + {rax}]",
        "mov eax, {hc_iret_frame}",
        // The hypercall swaps GS and KERNEL_GS itself, as `swapgs` would.
        "int 0x1b",
        "ud2",
        // Return to kernel mode, without `iretq`: a kvm-pvm host running the kernel
        // natively emulates a kernel-to-kernel `iretq` with an exit, and its emulation
        // leaves the vCPU's mode tracking wrong often enough that a later trap entry runs
        // as user mode. Restore RFLAGS with `popfq` and return with `ret` on the
        // interrupted stack (the kernel has no red zone), with VIF standing in for IF on
        // such a host.
        "5:",
        "cmp byte ptr [rip + {pvm_native}], 0",
        "je 6f",
        "mov eax, gs:[{processor_index}]",
        "shl rax, 12",
        "movabs rbx, {vif_pages}",
        "add rbx, rax",
        "bt qword ptr [rsp + {rflags}], 9",
        "setc byte ptr [rbx]",
        "jnc 6f",
        // An interrupt the host held back while VIF was clear needs an exit to arrive.
        "cmp byte ptr [rbx + 1], 0",
        "je 6f",
        "out 0x80, al",
        "6:",
        pop_general_registers!(rcx),
        // Left: rbx rax vector error rip cs rflags rsp ss. Build {rbx, rax, rflags, rip}
        // just below the interrupted rsp; it may overlap the top of this frame, so each
        // slot is read before anything is written over it.
        "mov rax, [rsp + 56]",
        "sub rax, 32",
        "mov rbx, [rsp + 32]",
        "mov [rax + 24], rbx",
        "mov rbx, [rsp + 48]",
        "mov [rax + 16], rbx",
        "mov rbx, [rsp + 8]",
        "mov [rax + 8], rbx",
        "mov rbx, [rsp]",
        "mov [rax], rbx",
        "mov rsp, rax",
        "pop rbx",
        "pop rax",
        "popfq",
        "ret",
        cs = const core::mem::offset_of!(TrapFrame, cs),
        rax = const core::mem::offset_of!(TrapFrame, rax),
        rbx = const core::mem::offset_of!(TrapFrame, rbx),
        rcx = const core::mem::offset_of!(TrapFrame, rcx),
        rdx = const core::mem::offset_of!(TrapFrame, rdx),
        rsi = const core::mem::offset_of!(TrapFrame, rsi),
        rdi = const core::mem::offset_of!(TrapFrame, rdi),
        rbp = const core::mem::offset_of!(TrapFrame, rbp),
        r8 = const core::mem::offset_of!(TrapFrame, r8),
        r9 = const core::mem::offset_of!(TrapFrame, r9),
        r10 = const core::mem::offset_of!(TrapFrame, r10),
        r11 = const core::mem::offset_of!(TrapFrame, r11),
        r12 = const core::mem::offset_of!(TrapFrame, r12),
        r13 = const core::mem::offset_of!(TrapFrame, r13),
        r14 = const core::mem::offset_of!(TrapFrame, r14),
        r15 = const core::mem::offset_of!(TrapFrame, r15),
        vector = const core::mem::offset_of!(TrapFrame, vector),
        error = const core::mem::offset_of!(TrapFrame, error_code),
        rflags = const core::mem::offset_of!(TrapFrame, rflags),
        rip = const core::mem::offset_of!(TrapFrame, rip),
        system_call_vector = const SYSTEM_CALL_VECTOR,
        direct_return = const super::pvm::DIRECT_RETURN_VECTOR,
        processor_index = const super::gdt::KPCR_PROCESSOR_INDEX,
        vif_pages = const abi::layout::phys_to_virt(abi::layout::PVM_VIF_PAGES_ADDR),
        pvm_native = sym super::PVM_NATIVE,
        hc_iret_frame = const super::pvm::HC_IRET_FRAME,
    )
}

/// Vectors a kvm-pvm host turns a refused `int 2Eh` into.
const INVALID_OPCODE: u64 = 6;
const GENERAL_PROTECTION: u64 = 13;
/// The encoding of `int 2Eh`.
const INT_2E: [u8; 2] = [0xCD, SYSTEM_SERVICE_VECTOR];

extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    if matches!(frame.vector, INVALID_OPCODE | GENERAL_PROTECTION)
        && is_relayed_system_service(frame)
    {
        frame.rip += INT_2E.len() as u64;
        crate::nt::system_service(frame);
        return;
    }
    if !frame.is_user_mode() && super::pvm_native() {
        super::pvm::skip_idle_halt(&mut frame.rip);
    }
    match frame.vector as u8 {
        SYSTEM_SERVICE_VECTOR => crate::nt::system_service(frame),
        TIMER_VECTOR => {
            crate::ke::clock::clock_interrupt();
            super::apic::end_of_interrupt();
            crate::ke::dispatcher::exit_dispatch(frame.is_user_mode());
        }
        DISPATCH_VECTOR => {
            super::apic::end_of_interrupt();
            super::paging::flush_if_asked();
            crate::ke::dispatcher::exit_dispatch(frame.is_user_mode());
        }
        SPURIOUS_VECTOR => {}
        _ => {
            let fault_address = if frame.vector == 14 {
                super::page_fault_address()
            } else {
                0
            };
            crate::ke::exception::dispatch_exception(frame, fault_address);
        }
    }
}

/// A kvm-pvm host runs user code under its own IDT, whose gate for `int 2Eh` is not open
/// to user mode: the instruction arrives as a #GP or #UD with the `int 2Eh` still at `rip`.
fn is_relayed_system_service(frame: &TrapFrame) -> bool {
    let mut instruction = [0u8; 2];
    frame.is_user_mode()
        && super::user::copy_from_user(&mut instruction, frame.rip).is_ok()
        && instruction == INT_2E
}
