//! System-call entry: `syscall` lands here, builds a trap frame on the thread's kernel
//! stack and calls the service dispatcher; the return goes through the trap exit (`iretq`).

use core::arch::naked_asm;

use ::x86_64::VirtAddr;
use ::x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use ::x86_64::registers::rflags::RFlags;

use super::gdt::{ENTRY_USER_RSP, KERNEL_CS, KERNEL_DS, KPCR_KERNEL_RSP, USER_CS, USER_DS};
use super::trap::{SYSTEM_CALL_VECTOR, TrapFrame, push_general_registers, trap_exit};

/// Programs STAR, LSTAR and SFMASK. Interrupts, tracing, direction and alignment-check
/// flags are clear on entry.
pub fn init() {
    // SAFETY: enabling SYSCALL changes nothing until LSTAR points at a valid entry, set below
    // before any user code can run.
    unsafe { Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
    Star::write(USER_CS, USER_DS, KERNEL_CS, KERNEL_DS)
        .expect("the GDT orders its selectors as STAR requires");
    LStar::write(VirtAddr::new(system_call_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
}

#[unsafe(naked)]
#[unsafe(link_section = ".text.trap_entry")]
unsafe extern "C" fn system_call_entry() {
    naked_asm!(
        // A kvm-pvm host running the kernel natively enters here through its direct system
        // call, with the kernel PML4 and GS base loaded already.
        "cmp byte ptr [rip + {pvm_native}], 0",
        "jne 2f",
        "swapgs",
        "2:",
        "mov gs:[{user_rsp}], rsp",
        "mov rsp, gs:[{kernel_rsp}]",
        "push {user_ss}",
        "push qword ptr gs:[{user_rsp}]",
        "push r11",
        "push {user_cs}",
        "push rcx",
        "push 0",
        "push {vector}",
        push_general_registers!(),
        "mov rdi, rsp",
        "call {dispatch}",
        "jmp {exit}",
        user_rsp = const ENTRY_USER_RSP,
        kernel_rsp = const KPCR_KERNEL_RSP,
        user_ss = const USER_DS.0,
        user_cs = const USER_CS.0,
        vector = const SYSTEM_CALL_VECTOR,
        dispatch = sym system_call_dispatch,
        exit = sym trap_exit,
        pvm_native = sym super::PVM_NATIVE,
    )
}

extern "C" fn system_call_dispatch(frame: &mut TrapFrame) {
    crate::nt::system_service(frame);
}
