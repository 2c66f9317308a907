//! Exception dispatch (KiDispatchException): page faults resolved when they can be, user
//! exceptions turned into the NTSTATUS that ends the process, kernel ones into bugchecks.

use abi::NtStatus;
use abi::layout::USER_END;

use super::bugcheck::{BugCheck, bugcheck};
use crate::arch::{self, TrapFrame};
use crate::{kprintln, ps};

const DIVIDE_ERROR: u64 = 0;
const DEBUG: u64 = 1;
const BREAKPOINT: u64 = 3;
const OVERFLOW: u64 = 4;
const BOUND_RANGE: u64 = 5;
const INVALID_OPCODE: u64 = 6;
const DOUBLE_FAULT: u64 = 8;
const GENERAL_PROTECTION: u64 = 13;
const PAGE_FAULT: u64 = 14;
const X87_FLOATING_POINT: u64 = 16;
const ALIGNMENT_CHECK: u64 = 17;
const SIMD_FLOATING_POINT: u64 = 19;

/// Page-fault error code bits: the access was a write; it was an instruction fetch.
const PF_WRITE: u64 = 1 << 1;
const PF_INSTRUCTION_FETCH: u64 = 1 << 4;

/// Handles exception `frame.vector`; `fault_address` is CR2 for page faults.
pub fn dispatch_exception(frame: &mut TrapFrame, fault_address: u64) {
    let mut fault_status = NtStatus::ACCESS_VIOLATION;
    if frame.vector == PAGE_FAULT {
        if fault_address < USER_END {
            let write = frame.error_code & PF_WRITE != 0;
            let execute = frame.error_code & PF_INSTRUCTION_FETCH != 0;
            match ps::resolve_user_fault(fault_address, write, execute) {
                Ok(()) => return,
                Err(status) => fault_status = status,
            }
        }
        if arch::user::fixup_user_copy(frame) {
            return;
        }
    }
    if frame.is_user_mode() {
        let status = match frame.vector {
            PAGE_FAULT => fault_status,
            _ => user_exception_status(frame),
        };
        kprintln!(
            "{}: unhandled exception {} at {:#x}{}",
            ps::current_image_name(),
            status,
            frame.rip,
            if frame.vector == PAGE_FAULT {
                alloc::format!(" accessing {fault_address:#x}")
            } else {
                alloc::string::String::new()
            },
        );
        ps::terminate_current_process(status);
    }
    match frame.vector {
        DOUBLE_FAULT => bugcheck(
            BugCheck::UNEXPECTED_KERNEL_MODE_TRAP,
            [DOUBLE_FAULT, frame.rip, frame.error_code, 0],
        ),
        PAGE_FAULT => bugcheck(
            BugCheck::PAGE_FAULT_IN_NONPAGED_AREA,
            [
                fault_address,
                u64::from(frame.error_code & PF_WRITE != 0),
                frame.rip,
                frame.error_code,
            ],
        ),
        vector => bugcheck(
            BugCheck::KMODE_EXCEPTION_NOT_HANDLED,
            [
                u64::from(exception_status(vector).0),
                frame.rip,
                frame.error_code,
                vector,
            ],
        ),
    }
}

/// The NTSTATUS an exception raises, as NT's trap handlers map them.
fn exception_status(vector: u64) -> NtStatus {
    match vector {
        DIVIDE_ERROR => NtStatus::INTEGER_DIVIDE_BY_ZERO,
        DEBUG => NtStatus::SINGLE_STEP,
        BREAKPOINT => NtStatus::BREAKPOINT,
        OVERFLOW => NtStatus::INTEGER_OVERFLOW,
        BOUND_RANGE => NtStatus::ARRAY_BOUNDS_EXCEEDED,
        INVALID_OPCODE => NtStatus::ILLEGAL_INSTRUCTION,
        ALIGNMENT_CHECK => NtStatus::DATATYPE_MISALIGNMENT,
        X87_FLOATING_POINT | SIMD_FLOATING_POINT => NtStatus::FLOAT_INVALID_OPERATION,
        _ => NtStatus::ACCESS_VIOLATION,
    }
}

/// Like [`exception_status`], but a #GP on a privileged instruction is
/// STATUS_PRIVILEGED_INSTRUCTION, as `KiGeneralProtectionFault` decides it.
fn user_exception_status(frame: &TrapFrame) -> NtStatus {
    if frame.vector == GENERAL_PROTECTION && is_privileged_instruction(frame.rip) {
        NtStatus::PRIVILEGED_INSTRUCTION
    } else {
        exception_status(frame.vector)
    }
}

/// Decodes the user instruction at `rip`: true for instructions that fault only because
/// they run at CPL 3.
fn is_privileged_instruction(rip: u64) -> bool {
    let mut bytes = [0u8; 15];
    let mut available = bytes.len();
    // The instruction may end just before an unmapped page: read what is readable.
    while arch::user::copy_from_user(&mut bytes[..available], rip).is_err() {
        available = available.saturating_sub(4);
        if available == 0 {
            return false;
        }
    }
    let bytes = &bytes[..available];
    let is_prefix = |b: u8| {
        matches!(
            b,
            0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 | 0x2E | 0x36 | 0x3E | 0x26 | 0x64 | 0x65 | 0x40
                ..=0x4F
        )
    };
    let Some(opcode_at) = bytes.iter().position(|&b| !is_prefix(b)) else {
        return false;
    };
    match bytes[opcode_at..] {
        // hlt, cli, sti, in, out, ins, outs
        [
            0xF4 | 0xFA | 0xFB | 0xE4..=0xE7 | 0xEC..=0xEF | 0x6C..=0x6F,
            ..,
        ] => true,
        // clts, invd, wbinvd, mov to/from CR and DR, wrmsr, rdmsr, sysexit, sysret
        [
            0x0F,
            0x06 | 0x08 | 0x09 | 0x20..=0x23 | 0x30 | 0x32 | 0x35 | 0x07,
            ..,
        ] => true,
        // lldt, ltr (0F 00 /2, /3) and lgdt, lidt, lmsw, invlpg (0F 01 /2, /3, /6, /7 with memory operands)
        [0x0F, 0x00, modrm, ..] => matches!((modrm >> 3) & 7, 2 | 3),
        [0x0F, 0x01, modrm, ..] => modrm < 0xC0 && matches!((modrm >> 3) & 7, 2 | 3 | 6 | 7),
        _ => false,
    }
}
