//! Boots tiny hand-assembled guests (no kernel) to test the VMM itself: hypercalls, their
//! validation, timeouts, crashes and BootInfo, independent of the real kernel.
//!
//! Each guest is an ELF64 with one PT_LOAD segment at physical KERNEL_PHYS_BASE, virtual
//! KERNEL_BASE + KERNEL_PHYS_BASE, packed into a guest.img with `vmm::image::write_image`.
//! Guest code is emulated on kvm-pvm hosts (~1-3 us per instruction): keep guests tiny, and
//! never use port I/O or `int n`.

use std::path::PathBuf;
use std::time::Duration;

use abi::NtStatus;
use abi::hypercall::{CONSOLE_WRITE_MAX, Call, DOORBELL_BASE, HypercallStatus};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, KERNEL_PHYS_BASE, MMIO_HOLE_START};
use vmm::{ConsoleSink, GuestExit, RunConfig};

/// Where code starts in the segment (after the ELF and program headers).
const CODE_OFFSET: u64 = 0x100;
/// Where data starts in the segment.
const DATA_OFFSET: u64 = 0x800;
/// Guest-physical address of the data area.
const DATA: u64 = KERNEL_PHYS_BASE + DATA_OFFSET;
/// Guest-physical address of the request block the guests use (plain RAM).
const BLOCK: u64 = 0x30_0000;
/// Guest RAM for these tests.
const MEMORY: u64 = 64 << 20;

/// The x86-64 general registers by encoding number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)]
enum Reg {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rbx = 3,
    Rsp = 4,
    Rbp = 5,
    Rsi = 6,
    Rdi = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
}
use Reg::*;

impl Reg {
    fn low(self) -> u8 {
        self as u8 & 7
    }
    fn high(self) -> bool {
        self as u8 >= 8
    }
}

/// Just enough of an x86-64 assembler for these guests.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
}

impl Asm {
    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.code.extend_from_slice(bytes);
        self
    }

    /// REX prefix with W (64-bit operand), R (extends ModRM.reg) and B (extends ModRM.rm).
    fn rex(&mut self, w: bool, reg: Reg, rm: Reg) {
        let rex = 0x40 | (u8::from(w) << 3) | (u8::from(reg.high()) << 2) | u8::from(rm.high());
        if rex != 0x40 {
            self.code.push(rex);
        }
    }

    /// ModRM for `[base + disp8]` (mod = 01); rsp/r12 as a base would need a SIB byte.
    fn modrm_disp8(&mut self, reg: u8, base: Reg, disp: i8) {
        assert!(base.low() != 4, "rsp/r12 base needs a SIB byte");
        self.code.push(0x40 | (reg << 3) | base.low());
        self.code.push(disp as u8);
    }

    /// `movabs dst, imm64`
    fn mov_imm(&mut self, dst: Reg, imm: u64) -> &mut Self {
        self.rex(true, Rax, dst);
        self.code.push(0xb8 + dst.low());
        self.bytes(&imm.to_le_bytes())
    }

    /// `mov qword [base + disp], src`
    fn store64(&mut self, base: Reg, disp: i8, src: Reg) -> &mut Self {
        self.rex(true, src, base);
        self.code.push(0x89);
        self.modrm_disp8(src.low(), base, disp);
        self
    }

    /// `mov dword [base + disp], src`
    fn store32(&mut self, base: Reg, disp: i8, src: Reg) -> &mut Self {
        self.rex(false, src, base);
        self.code.push(0x89);
        self.modrm_disp8(src.low(), base, disp);
        self
    }

    /// `mov dword [base + disp], imm32`
    fn store32_imm(&mut self, base: Reg, disp: i8, imm: u32) -> &mut Self {
        self.rex(false, Rax, base);
        self.code.push(0xc7);
        self.modrm_disp8(0, base, disp);
        self.bytes(&imm.to_le_bytes())
    }

    /// `mov dst, qword [base + disp]`
    fn load64(&mut self, dst: Reg, base: Reg, disp: i8) -> &mut Self {
        self.rex(true, dst, base);
        self.code.push(0x8b);
        self.modrm_disp8(dst.low(), base, disp);
        self
    }

    /// `mov dst32, dword [base + disp]`
    fn load32(&mut self, dst: Reg, base: Reg, disp: i8) -> &mut Self {
        self.rex(false, dst, base);
        self.code.push(0x8b);
        self.modrm_disp8(dst.low(), base, disp);
        self
    }

    /// `add dst, src` (64-bit)
    fn add(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.rex(true, src, dst);
        self.bytes(&[0x01, 0xc0 | (src.low() << 3) | dst.low()])
    }

    /// `test reg, reg` (64-bit)
    fn test(&mut self, reg: Reg) -> &mut Self {
        self.rex(true, reg, reg);
        self.bytes(&[0x85, 0xc0 | (reg.low() << 3) | reg.low()])
    }

    /// `cmp reg32, imm32`
    fn cmp32_imm(&mut self, reg: Reg, imm: u32) -> &mut Self {
        self.rex(false, Rax, reg);
        self.bytes(&[0x81, 0xf8 | reg.low()]);
        self.bytes(&imm.to_le_bytes())
    }

    /// `or reg32, imm32`
    fn or32_imm(&mut self, reg: Reg, imm: u32) -> &mut Self {
        self.rex(false, Rax, reg);
        self.bytes(&[0x81, 0xc8 | reg.low()]);
        self.bytes(&imm.to_le_bytes())
    }

    /// `jne rel8` / `je rel8`: skip the next `skip` bytes when (not) equal.
    fn jne(&mut self, skip: u8) -> &mut Self {
        self.bytes(&[0x75, skip])
    }
    fn je(&mut self, skip: u8) -> &mut Self {
        self.bytes(&[0x74, skip])
    }

    /// `jmp $`: spin forever.
    fn spin(&mut self) -> &mut Self {
        self.bytes(&[0xeb, 0xfe])
    }

    /// `lidt [base]`
    fn lidt(&mut self, base: Reg) -> &mut Self {
        self.rex(false, Rax, base);
        self.code.push(0x0f);
        self.code.push(0x01);
        self.modrm_disp8(3, base, 0);
        self
    }

    /// `ud2`
    fn ud2(&mut self) -> &mut Self {
        self.bytes(&[0x0f, 0x0b])
    }
}

/// Guest-level helpers: request blocks at [`BLOCK`] addressed through rbx (direct map).
impl Asm {
    /// Points rbx at the request block and fills its header.
    fn header(&mut self, version: u32) -> &mut Self {
        self.mov_imm(Rbx, DIRECT_MAP_BASE + BLOCK)
            .store32_imm(Rbx, 0, version)
            .store32_imm(Rbx, 4, HypercallStatus::Pending as u32)
    }

    /// Stores a 64-bit request field.
    fn field(&mut self, disp: i8, value: u64) -> &mut Self {
        self.mov_imm(Rax, value).store64(Rbx, disp, Rax)
    }

    /// Rings the doorbell at `offset` with request block address `block`.
    fn ring(&mut self, offset: u64, block: u64) -> &mut Self {
        self.mov_imm(Rax, DIRECT_MAP_BASE + DOORBELL_BASE + offset)
            .mov_imm(Rcx, block)
            .store64(Rax, 0, Rcx)
    }

    /// A complete ConsoleWrite.
    fn console_write(&mut self, version: u32, buffer: u64, len: u64) -> &mut Self {
        self.header(version)
            .field(8, buffer)
            .field(16, len)
            .ring(Call::ConsoleWrite as u64 * 8, BLOCK)
    }

    /// A complete Shutdown; `kind` 0 = exit, 1 = bugcheck.
    fn shutdown(&mut self, kind: u32, code: u32, parameters: [u64; 4]) -> &mut Self {
        self.header(1).field(8, u64::from(kind) | (u64::from(code) << 32));
        for (i, p) in parameters.into_iter().enumerate() {
            self.field(16 + 8 * i as i8, p);
        }
        self.ring(Call::Shutdown as u64 * 8, BLOCK)
    }

    /// Sets `bit` in r12d when the block's status is `expected`.
    fn check_status(&mut self, expected: HypercallStatus, bit: u32) -> &mut Self {
        self.load32(Rax, Rbx, 4)
            .cmp32_imm(Rax, expected as u32)
            .jne(7) // the `or r12d, imm32` below is 7 bytes
            .or32_imm(R12, 1 << bit)
    }

    /// Shutdown(Exit) with r12d as the exit code.
    fn exit_with_r12(&mut self) -> &mut Self {
        self.header(1)
            .store32_imm(Rbx, 8, 0)
            .store32(Rbx, 12, R12)
            .ring(Call::Shutdown as u64 * 8, BLOCK)
    }
}

/// An ELF64 executable: one RWX PT_LOAD holding headers, `code` at CODE_OFFSET (the
/// entry) and `data` at DATA_OFFSET.
fn elf(code: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(CODE_OFFSET as usize + code.len() <= DATA_OFFSET as usize, "code too long");
    let vaddr = KERNEL_BASE + KERNEL_PHYS_BASE;
    let mut image = vec![0u8; DATA_OFFSET as usize + data.len()];
    let put = |image: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        image[at..at + bytes.len()].copy_from_slice(bytes);
    };
    // ELF header.
    put(&mut image, 0, b"\x7fELF\x02\x01\x01");
    put(&mut image, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut image, 18, &0x3eu16.to_le_bytes()); // EM_X86_64
    put(&mut image, 20, &1u32.to_le_bytes()); // EV_CURRENT
    put(&mut image, 24, &(vaddr + CODE_OFFSET).to_le_bytes()); // e_entry
    put(&mut image, 32, &64u64.to_le_bytes()); // e_phoff
    put(&mut image, 52, &64u16.to_le_bytes()); // e_ehsize
    put(&mut image, 54, &56u16.to_le_bytes()); // e_phentsize
    put(&mut image, 56, &1u16.to_le_bytes()); // e_phnum
    // The PT_LOAD program header.
    let len = image.len() as u64;
    put(&mut image, 64, &1u32.to_le_bytes()); // PT_LOAD
    put(&mut image, 68, &7u32.to_le_bytes()); // RWX
    put(&mut image, 72, &0u64.to_le_bytes()); // p_offset
    put(&mut image, 80, &vaddr.to_le_bytes());
    put(&mut image, 88, &KERNEL_PHYS_BASE.to_le_bytes());
    put(&mut image, 96, &len.to_le_bytes()); // p_filesz
    put(&mut image, 104, &len.max(0x1000).to_le_bytes()); // p_memsz
    put(&mut image, 112, &0x1000u64.to_le_bytes()); // p_align
    put(&mut image, CODE_OFFSET as usize, code);
    put(&mut image, DATA_OFFSET as usize, data);
    image
}

/// Writes guest.img for `asm` (+ `data`) with mkimage and returns its path.
fn image(name: &str, asm: &Asm, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmm-raw-guest-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("kernel.elf");
    std::fs::write(&kernel, elf(&asm.code, data)).unwrap();
    let hello = dir.join("hello.exe");
    std::fs::write(&hello, b"MZ not really").unwrap();
    let out = dir.join("guest.img");
    vmm::image::write_image(&kernel, "hello", &[hello], &out).unwrap();
    out
}

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
    asm.header(1).ring(8 * 5, BLOCK).check_status(HypercallStatus::UnknownCall, 0);
    // Bit 1: an unaligned doorbell offset names no call either.
    asm.header(1).ring(4, BLOCK).check_status(HypercallStatus::UnknownCall, 1);
    // Bit 2: a wrong abi_version.
    asm.console_write(2, DATA, 4).check_status(HypercallStatus::BadVersion, 2);
    // Bit 3: a buffer beyond the end of RAM.
    asm.console_write(1, MEMORY - 2, 4).check_status(HypercallStatus::BadAddress, 3);
    // Bit 4: buffer + len wrapping past 2^64.
    asm.console_write(1, u64::MAX - 7, 16).check_status(HypercallStatus::BadAddress, 4);
    // Bit 5: a length above CONSOLE_WRITE_MAX.
    asm.console_write(1, DATA, CONSOLE_WRITE_MAX + 1).check_status(HypercallStatus::BadLength, 5);
    // Bit 6: a buffer inside the MMIO hole.
    asm.console_write(1, MMIO_HOLE_START, 4).check_status(HypercallStatus::BadAddress, 6);
    // Bit 7: a shutdown of an unknown kind.
    asm.header(1).field(8, 9).ring(Call::Shutdown as u64 * 8, BLOCK);
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
    asm.mov_imm(Rbx, DIRECT_MAP_BASE + BLOCK).lidt(Rbx).ud2().spin();
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
    asm.load64(Rax, Rdi, 16).test(Rax).je(7).or32_imm(R12, 1 << 8); // tsc_khz
    asm.load32(Rax, Rdi, 0).cmp32_imm(Rax, u32::from_le_bytes(*b"NTVM"));
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
