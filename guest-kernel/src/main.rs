//! The NT-style kernel: the boot sequence (KiSystemStartup, Phase 0 and Phase 1) and the
//! map of its components.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod hal;
mod io;
mod ke;
mod mm;
mod nt;
mod ob;
mod ps;

use abi::boot::BootInfo;
use abi::hypercall::BootMarker;
use ke::bugcheck::{self, BugCheck};

/// The boot processor's path from the VMM's hand-off to the first user thread
/// (`KiSystemStartup`). Application processors wait in `arch` until Phase 1 starts them.
fn system_startup(boot_info_phys: u64) -> ! {
    hal::boot_progress(BootMarker::KernelEntered);
    let boot_info = read_boot_info(boot_info_phys);

    // Phase 0: the processor, memory and the boot image.
    arch::init_boot_processor(boot_info.platform_flags);
    mm::init(&boot_info);
    io::boot_image::init(&boot_info);
    ke::clock::init(boot_info.tsc_khz);
    ob::init();
    ke::event::init();
    ke::semaphore::init();
    ke::mutant::init();
    ke::timer::init();
    ps::init();
    io::file::init();
    mm::section::init();
    ps::init_system_dll();

    // Phase 1: the other processors, the System process and its threads, then the first
    // user process.
    hal::boot_progress(BootMarker::KernelReady);
    ke::dispatcher::start_processors(boot_info.cpu_count);
    if let Err(status) = ps::create_system_process() {
        bugcheck::bugcheck(
            BugCheck::PROCESS1_INITIALIZATION_FAILED,
            [u64::from(status.0), 0, 0, 0],
        );
    }
    let command_line = boot_command_line(&boot_info);
    match ps::create_initial_process(&command_line) {
        Ok(thread) => ps::start_initial_thread(thread),
        Err(status) => {
            kprintln!("cannot start '{}': {}", command_line, status);
            ps::system_shutdown(status)
        }
    }
}

/// An application processor's path from `arch` to its idle loop (`KiSystemStartup` on a
/// processor the boot processor started).
fn application_processor_startup(index: u32) -> ! {
    arch::init_application_processor(index);
    ke::dispatcher::run_processor()
}

fn read_boot_info(phys: u64) -> BootInfo {
    let Some(ptr) = mm::phys_to_ref::<BootInfo>(phys) else {
        bugcheck::bugcheck(BugCheck::PHASE0_INITIALIZATION_FAILED, [phys, 0, 0, 0]);
    };
    let info = *ptr;
    if info.magic != abi::boot::BOOT_INFO_MAGIC || info.version != abi::boot::BOOT_INFO_VERSION {
        bugcheck::bugcheck(
            BugCheck::PHASE0_INITIALIZATION_FAILED,
            [phys, info.magic, u64::from(info.version), 0],
        );
    }
    info
}

/// The command line the VMM passed, or the boot configuration's default program.
fn boot_command_line(boot_info: &BootInfo) -> alloc::string::String {
    let given = mm::phys_slice(boot_info.command_line)
        .and_then(|bytes| core::str::from_utf8(bytes).ok())
        .map(str::trim)
        .unwrap_or("");
    if !given.is_empty() {
        return given.into();
    }
    io::boot_image::default_program().unwrap_or("hello").into()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    bugcheck::panic(info)
}
