//! Boots tiny hand-assembled guests (no kernel) to test the VMM itself: hypercalls, their
//! validation, timeouts, crashes and BootInfo, independent of the real kernel.
//!
//! Each guest is an ELF64 with one PT_LOAD segment at physical KERNEL_PHYS_BASE, virtual
//! KERNEL_BASE + KERNEL_PHYS_BASE, packed into a guest.img with `vmm::image::write_image`.
//! Guest code is emulated on kvm-pvm hosts (~1-3 us per instruction): keep guests tiny, and
//! never use port I/O or `int n`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use abi::NtStatus;
use abi::hypercall::{CONSOLE_WRITE_MAX, Call, DOORBELL_BASE, DOORBELL_WINDOW, HypercallStatus};
use abi::layout::{DIRECT_MAP_BASE, MMIO_HOLE_START};
use common::*;
use vmm::{ConsoleSink, GuestExit, RunConfig};

fn config(image: PathBuf) -> RunConfig {
    RunConfig {
        memory: MEMORY,
        timeout: Duration::from_secs(20),
        console: ConsoleSink::Capture,
        ..RunConfig::new(image)
    }
}

#[test]
fn console_write_and_exit_status() {
    let text = b"hello from a raw guest\n";
    let mut asm = Asm::default();
    asm.console_write(1, DATA, text.len() as u64)
        .shutdown(0, 7, [0; 4])
        .spin();
    let outcome = vmm::run(&config(image("exit7", &asm, text))).unwrap();
    assert_eq!(outcome.exit, GuestExit::Exited(NtStatus(7)));
    assert_eq!(outcome.console_text(), "hello from a raw guest\n");
    assert_eq!(outcome.exit_code(), 7);
    let stats = &outcome.stats;
    assert_eq!(stats.exits.console_write, 1);
    assert_eq!(stats.exits.shutdown, 1);
    assert_eq!(stats.rejected_hypercalls, 0);
    assert!(stats.first_run.is_some() && stats.shutdown >= stats.first_run);
}

#[test]
fn bad_hypercalls_get_error_statuses() {
    let ok = HypercallStatus::Success;
    let mut asm = Asm::default();
    asm.mov_imm(R12, 0);
    // Bit 0: an unknown call number.
    asm.header(1)
        .ring(8 * 5, BLOCK)
        .check_status(HypercallStatus::UnknownCall, 0);
    // Bit 1: an unaligned doorbell offset names no call either.
    asm.header(1)
        .ring(4, BLOCK)
        .check_status(HypercallStatus::UnknownCall, 1);
    // Bit 2: a wrong abi_version.
    asm.console_write(2, DATA, 4)
        .check_status(HypercallStatus::BadVersion, 2);
    // Bit 3: a buffer beyond the end of RAM.
    asm.console_write(1, MEMORY - 2, 4)
        .check_status(HypercallStatus::BadAddress, 3);
    // Bit 4: buffer + len wrapping past 2^64.
    asm.console_write(1, u64::MAX - 7, 16)
        .check_status(HypercallStatus::BadAddress, 4);
    // Bit 5: a length above CONSOLE_WRITE_MAX.
    asm.console_write(1, DATA, CONSOLE_WRITE_MAX + 1)
        .check_status(HypercallStatus::BadLength, 5);
    // Bit 6: a buffer inside the MMIO hole.
    asm.console_write(1, MMIO_HOLE_START, 4)
        .check_status(HypercallStatus::BadAddress, 6);
    // Bit 7: a shutdown of an unknown kind.
    asm.header(1)
        .field(8, 9)
        .ring(Call::Shutdown as u64 * 8, BLOCK);
    asm.check_status(HypercallStatus::BadArgument, 7);
    // Request blocks outside RAM (in the hole; straddling the end of RAM) are dropped:
    // the block at BLOCK must still say Pending afterwards.
    asm.header(1)
        .ring(Call::ConsoleWrite as u64 * 8, MMIO_HOLE_START + 0x1000)
        .ring(Call::ConsoleWrite as u64 * 8, MEMORY - 8)
        .check_status(HypercallStatus::Pending, 8);
    // Bit 9: the VMM is still serving: a good write succeeds.
    asm.console_write(1, DATA, 3).check_status(ok, 9);
    asm.exit_with_r12().spin();

    let outcome = vmm::run(&config(image("bad-hypercalls", &asm, b"ok\n"))).unwrap();
    assert_eq!(outcome.console_text(), "ok\n");
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(NtStatus(0x3ff)),
        "each bit of the exit code is one check the guest saw pass"
    );
    assert_eq!(outcome.exit_code(), 1, "statuses above 255 exit with 1");
    assert_eq!(outcome.stats.rejected_hypercalls, 10);
    assert_eq!(outcome.stats.exits.unknown_call, 2);
}

#[test]
fn spinning_guest_times_out() {
    let mut asm = Asm::default();
    asm.spin();
    let mut config = config(image("spin", &asm, &[]));
    config.timeout = Duration::from_secs(2);
    config.cpus = 2;
    let started = std::time::Instant::now();
    let outcome = vmm::run(&config).unwrap();
    assert_eq!(outcome.exit, GuestExit::Timeout(Duration::from_secs(2)));
    assert_eq!(outcome.exit_code(), vmm::EXIT_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn triple_fault_is_a_crash() {
    // A zero-limit IDT: the #UD from ud2 cannot be delivered, nor the #DF: triple fault.
    let mut asm = Asm::default();
    asm.mov_imm(Rbx, DIRECT_MAP_BASE + BLOCK)
        .lidt(Rbx)
        .ud2()
        .spin();
    let outcome = vmm::run(&config(image("triple", &asm, &[]))).unwrap();
    let GuestExit::TripleFault { vcpu: 0, regs } = &outcome.exit else {
        panic!("expected a triple fault, got {:?}", outcome.exit);
    };
    if let Some(regs) = regs {
        assert_eq!(regs.cr3, abi::layout::BOOT_PAGE_TABLES_ADDR);
    }
    assert_eq!(outcome.exit_code(), vmm::EXIT_GUEST_CRASH);
}

#[test]
fn bugcheck_is_a_crash_with_parameters() {
    let mut asm = Asm::default();
    asm.shutdown(1, 0xDEAD_BEEF, [1, 2, 0xFFFF_8000_0000_1000, u64::MAX])
        .spin();
    let outcome = vmm::run(&config(image("bugcheck", &asm, &[]))).unwrap();
    assert_eq!(
        outcome.exit,
        GuestExit::BugCheck {
            code: 0xDEAD_BEEF,
            parameters: [1, 2, 0xFFFF_8000_0000_1000, u64::MAX]
        }
    );
    assert_eq!(outcome.exit_code(), vmm::EXIT_GUEST_CRASH);
    assert_eq!(
        outcome.exit.to_string(),
        "guest bugcheck 0xdeadbeef (0x1, 0x2, 0xffff800000001000, 0xffffffffffffffff)"
    );
}

#[test]
fn boot_info_reaches_every_vcpu() {
    // The boot CPU (rsi = 0) echoes the command line from BootInfo (rdi, physical) and
    // exits with cpu_count | tsc_khz != 0 << 8 | magic ok << 9. APs spin.
    let mut asm = Asm::default();
    asm.test(Rsi).je(2).spin();
    asm.mov_imm(Rax, DIRECT_MAP_BASE).add(Rdi, Rax);
    asm.load32(R12, Rdi, 12); // cpu_count
    asm.load64(Rax, Rdi, 16)
        .test(Rax)
        .je(7)
        .or32_imm(R12, 1 << 8); // tsc_khz
    asm.load32(Rax, Rdi, 0)
        .cmp32_imm(Rax, u32::from_le_bytes(*b"NTVM"));
    asm.jne(7).or32_imm(R12, 1 << 9);
    asm.header(1);
    asm.load64(Rax, Rdi, 40).store64(Rbx, 8, Rax); // command_line.start
    asm.load64(Rax, Rdi, 48).store64(Rbx, 16, Rax); // command_line.len
    asm.ring(Call::ConsoleWrite as u64 * 8, BLOCK);
    asm.exit_with_r12().spin();

    let mut config = config(image("bootinfo", &asm, &[]));
    config.cpus = 2;
    config.program = Some(vec!["hello".into(), "a b".into(), "say \"hi\"".into()]);
    let outcome = vmm::run(&config).unwrap();
    assert_eq!(outcome.exit, GuestExit::Exited(NtStatus(0x302)));
    assert_eq!(outcome.console_text(), r#"hello "a b" "say \"hi\"""#);
}

#[test]
fn missing_program_is_refused_before_boot() {
    let mut asm = Asm::default();
    asm.spin();
    let mut config = config(image("noprog", &asm, &[]));
    config.program = Some(vec!["nope".into()]);
    let err = vmm::run(&config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program 'nope' not found in image (available: hello)"
    );
    assert!(matches!(err, vmm::Error::ProgramNotFound { .. }));
}

#[test]
fn shutdown_stops_halted_aps() {
    // APs halt with interrupts off (blocked inside KVM_RUN by the in-kernel irqchip); the
    // boot CPU shuts down: the VMM must kick the APs out and return promptly.
    let mut asm = Asm::default();
    asm.test(Rsi).je(4).bytes(&[0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp back to hlt
    asm.shutdown(0, 5, [0; 4]).spin();
    let mut config = config(image("halted-aps", &asm, &[]));
    config.cpus = 3;
    let started = std::time::Instant::now();
    let outcome = vmm::run(&config).unwrap();
    assert_eq!(outcome.exit, GuestExit::Exited(NtStatus(5)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A guest that breaks kvm-pvm's rules for a native kernel ends the run with a crash or a
/// timeout, never a hung VMM: one jumps into PML4 slot 256, which the host keeps for
/// itself; one takes the user bit off its own kernel mapping, which makes the host retry
/// the instruction fetch forever without exiting. On hardware KVM neither is special: the
/// first faults with no IDT, the second spins.
#[test]
fn guests_breaking_the_pvm_rules_end_cleanly() {
    let mut jump_into_host_slot = Asm::default();
    jump_into_host_slot
        .mov_imm(Rax, 0xFFFF_8000_0000_0000)
        .bytes(&[0xFF, 0xE0]) // jmp rax
        .spin();
    let mut drop_user_bit = Asm::default();
    drop_user_bit
        // rbx = the direct-map address of the boot PML4's slot 496..511 entries.
        .mov_imm(
            Rbx,
            DIRECT_MAP_BASE + abi::layout::BOOT_PAGE_TABLES_ADDR + 0xF80,
        )
        .load64(Rax, Rbx, 0x78) // PML4[511], the kernel window
        .bytes(&[0x48, 0x83, 0xE0, 0xFB]) // and rax, ~4: clear the user bit
        .store64(Rbx, 0x78, Rax)
        .bytes(&[0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8]) // mov rax, cr3; mov cr3, rax
        .spin();
    for (name, asm) in [
        ("host-slot", &jump_into_host_slot),
        ("no-user-bit", &drop_user_bit),
    ] {
        let mut config = config(image(name, asm, &[]));
        config.timeout = Duration::from_secs(2);
        let started = std::time::Instant::now();
        let outcome = vmm::run(&config).unwrap();
        assert!(
            matches!(
                outcome.exit,
                GuestExit::TripleFault { .. } | GuestExit::Timeout(_)
            ),
            "{name}: {:?}",
            outcome.exit
        );
        assert!(matches!(
            outcome.exit_code(),
            vmm::EXIT_GUEST_CRASH | vmm::EXIT_TIMEOUT
        ));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took too long"
        );
    }
}

/// Runs `vmm run IMAGE ARGS...` (the binary) and returns its exit code and stderr; checks
/// that it did not panic.
fn vmm_run(image: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("run")
        .arg(image)
        .args(args)
        .output()
        .expect("cannot start vmm");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code(), stderr)
}

/// Both ways a kvm-pvm host runs a guest (the same on hardware KVM).
const MODES: [vmm::PvmMode; 2] = [vmm::PvmMode::Bootstrap, vmm::PvmMode::Native];

/// Guests that put their vCPU in a state it cannot run in (no IDT to report it) end the
/// run with a triple fault, its registers and exit code 126, whichever vCPU it is.
#[test]
fn bad_states_end_with_a_triple_fault() {
    let pml4 = DIRECT_MAP_BASE + abi::layout::BOOT_PAGE_TABLES_ADDR;
    let mut unmap_own_code = Asm::default();
    unmap_own_code
        .mov_imm(Rbx, pml4 + 0xff8) // PML4[511]: the kernel window the code runs in
        .mov_imm(Rax, 0)
        .store64(Rbx, 0, Rax)
        .bytes(&[0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8]); // mov rax, cr3; mov cr3, rax
    let mut bad_stack_segment = Asm::default();
    // mov eax, 0x18; mov ss, ax: a selector past the end of the GDT.
    bad_stack_segment.bytes(&[0xB8, 0x18, 0, 0, 0, 0x8E, 0xD0]);
    let mut non_canonical_jump = Asm::default();
    non_canonical_jump
        .mov_imm(Rax, 0x8000_0000_0000_0000)
        .bytes(&[0xFF, 0xE0]); // jmp rax
    let mut paging_off = Asm::default();
    paging_off
        .bytes(&[0x0F, 0x20, 0xC0]) // mov rax, cr0
        .and_imm(Rax, 0x7FFF_FFFF)
        .bytes(&[0x0F, 0x22, 0xC0]); // mov cr0, rax: long mode without paging
    // Page tables in RAM that was never written: nothing is mapped, not even the code.
    let mut empty_page_tables = Asm::default();
    empty_page_tables
        .mov_imm(Rax, 0x60_0000)
        .bytes(&[0x0F, 0x22, 0xD8]); // mov cr3, rax
    let guests = [
        ("unmap-own-code", unmap_own_code),
        ("bad-ss", bad_stack_segment),
        ("non-canonical-jump", non_canonical_jump),
        ("paging-off", paging_off),
        ("empty-page-tables", empty_page_tables),
    ];
    for (name, crash) in guests {
        // vCPU 1 crashes; vCPU 0 spins and must be stopped by the VMM.
        let mut asm = Asm::default();
        asm.cmp_imm(Rsi, 1);
        let ap = asm.jcc_forward(Cond::Equal);
        asm.spin().bind(ap).bytes(&crash.code).spin();
        for mode in MODES {
            let mut config = config(image(&format!("{name}-{mode:?}"), &asm, &[]));
            config.cpus = 2;
            config.pvm_mode = mode;
            let outcome = vmm::run(&config).unwrap();
            let GuestExit::TripleFault { vcpu, regs } = &outcome.exit else {
                panic!(
                    "{name} {mode:?}: expected a triple fault, got {}",
                    outcome.exit
                );
            };
            // The kernel window is shared: taking it away takes vCPU 0's code too, and
            // either vCPU may fault first.
            let crashing: &[u32] = if name == "unmap-own-code" {
                &[0, 1]
            } else {
                &[1]
            };
            assert!(crashing.contains(vcpu), "{name} {mode:?}: vCPU {vcpu}");
            assert!(regs.is_some(), "{name} {mode:?}: registers unavailable");
            assert_eq!(outcome.exit_code(), vmm::EXIT_GUEST_CRASH);
        }
        let (code, stderr) = vmm_run(&image(name, &asm, &[]), &["--cpus", "2"]);
        assert_eq!(code, Some(126), "{name}: {stderr}");
        assert!(
            stderr.contains("vmm: guest crash: triple fault on vCPU ")
                && stderr.contains("\n  rip "),
            "{name}: {stderr}"
        );
    }
}

/// An instruction KVM's emulator cannot carry out (AES-NI with an MMIO operand, which KVM
/// must emulate on any host) is KVM_EXIT_INTERNAL_ERROR: the run ends with the sub-error,
/// the registers and exit code 126.
#[test]
fn instruction_the_emulator_refuses_is_an_internal_error() {
    let mut asm = Asm::default();
    asm.mov_imm(Rax, DIRECT_MAP_BASE + DOORBELL_BASE + DOORBELL_WINDOW)
        .bytes(&[0x66, 0x0F, 0x38, 0xDC, 0x00]) // aesenc xmm0, [rax]
        .shutdown(0, 9, [0; 4])
        .spin();
    for mode in MODES {
        let mut config = config(image(&format!("aesenc-mmio-{mode:?}"), &asm, &[]));
        config.pvm_mode = mode;
        let outcome = vmm::run(&config).unwrap();
        let GuestExit::InternalError {
            vcpu: 0,
            reason,
            regs: Some(regs),
        } = &outcome.exit
        else {
            panic!("{mode:?}: expected an internal error, got {}", outcome.exit);
        };
        assert!(
            reason.starts_with("KVM internal error (suberror 1: emulation failure"),
            "{mode:?}: {reason}"
        );
        assert_eq!(regs.rax, DIRECT_MAP_BASE + DOORBELL_BASE + DOORBELL_WINDOW);
        assert_eq!(outcome.exit_code(), vmm::EXIT_GUEST_CRASH);
    }
    let (code, stderr) = vmm_run(&image("aesenc-mmio", &asm, &[]), &[]);
    assert_eq!(code, Some(126), "{stderr}");
    assert!(
        stderr.contains(
            "vmm: guest crash on vCPU 0: KVM internal error (suberror 1: emulation failure"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("\n  rip "), "{stderr}");
}

/// vCPUs that never end the run (one halted with interrupts off, one spinning with them
/// off, one ringing a doorbell forever) stop at the timeout with exit code 124.
#[test]
fn vcpus_that_never_exit_time_out() {
    let mut asm = Asm::default();
    asm.bytes(&[0xFA]).cmp_imm(Rsi, 1); // cli
    let not_halting = asm.jcc_forward(Cond::Above);
    asm.cmp_imm(Rsi, 0);
    let spinning = asm.jcc_forward(Cond::NotEqual);
    let halt = asm.here();
    asm.bytes(&[0xF4]).jmp_to(halt); // vCPU 0: hlt forever
    asm.bind(spinning).spin(); // vCPU 1
    asm.bind(not_halting).header(1); // vCPU 2: unknown calls forever
    let ring = asm.here();
    asm.ring(8 * 100, BLOCK).jmp_to(ring);
    for mode in MODES {
        let mut config = config(image(&format!("never-{mode:?}"), &asm, &[]));
        config.cpus = 3;
        config.pvm_mode = mode;
        config.timeout = Duration::from_secs(1);
        let outcome = vmm::run(&config).unwrap();
        assert_eq!(outcome.exit, GuestExit::Timeout(Duration::from_secs(1)));
        assert_eq!(outcome.exit_code(), vmm::EXIT_TIMEOUT);
        assert!(
            outcome.stats.exits.unknown_call > 0,
            "{mode:?}: vCPU 2 never rang"
        );
    }
    let (code, stderr) = vmm_run(
        &image("never", &asm, &[]),
        &["--cpus", "3", "--timeout", "1"],
    );
    assert_eq!(code, Some(124), "{stderr}");
    assert!(
        stderr.contains("vmm: timeout: the guest did not shut down within 1s"),
        "{stderr}"
    );
}
