//! The interrupt descriptor table, shared by all processors.

use ::x86_64::structures::idt::InterruptDescriptorTable;
use ::x86_64::{PrivilegeLevel, VirtAddr};
use spin::Once;

use super::gdt::{DOUBLE_FAULT_IST, ENTRY_IST};
use super::trap::STUBS;

/// The IDT alone on its page: user page tables map it (see `entry_area`).
#[repr(C, align(4096))]
struct IdtPage(InterruptDescriptorTable);

static IDT: Once<IdtPage> = Once::new();

/// Loads the IDT, building it on first use; returns its address.
pub fn load() -> u64 {
    let idt = &IDT.call_once(|| IdtPage(build())).0;
    idt.load();
    idt as *const InterruptDescriptorTable as u64
}

fn build() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    for &(vector, stub) in STUBS {
        let address = VirtAddr::new(stub as *const () as u64);
        // SAFETY: every stub is a valid trap entry point that saves a full frame, handles
        // `swapgs` and returns with `iretq`, with or without an error code as its vector needs.
        let options = unsafe {
            match vector {
                0 => idt.divide_error.set_handler_addr(address),
                1 => idt.debug.set_handler_addr(address),
                2 => idt.non_maskable_interrupt.set_handler_addr(address),
                3 => idt.breakpoint.set_handler_addr(address),
                4 => idt.overflow.set_handler_addr(address),
                5 => idt.bound_range_exceeded.set_handler_addr(address),
                6 => idt.invalid_opcode.set_handler_addr(address),
                7 => idt.device_not_available.set_handler_addr(address),
                8 => idt.double_fault.set_handler_addr(address),
                10 => idt.invalid_tss.set_handler_addr(address),
                11 => idt.segment_not_present.set_handler_addr(address),
                12 => idt.stack_segment_fault.set_handler_addr(address),
                13 => idt.general_protection_fault.set_handler_addr(address),
                14 => idt.page_fault.set_handler_addr(address),
                16 => idt.x87_floating_point.set_handler_addr(address),
                17 => idt.alignment_check.set_handler_addr(address),
                18 => idt.machine_check.set_handler_addr(address),
                19 => idt.simd_floating_point.set_handler_addr(address),
                20 => idt.virtualization.set_handler_addr(address),
                21 => idt.cp_protection_exception.set_handler_addr(address),
                vector => idt[vector].set_handler_addr(address),
            }
        };
        // `int3` and `into` in user mode raise their exceptions rather than #GP, and
        // `int 2Eh` is the system-service gate.
        if matches!(vector, 3 | 4 | abi::nt::SYSTEM_SERVICE_VECTOR) {
            options.set_privilege_level(PrivilegeLevel::Ring3);
        }
        let stack = if vector == 8 {
            DOUBLE_FAULT_IST
        } else {
            ENTRY_IST
        };
        // SAFETY: the TSS of every processor has a double-fault stack and an entry stack
        // in these slots; `trap_common` leaves the entry stack before it can be reused.
        unsafe { options.set_stack_index(stack) };
    }
    idt
}
