//! Shared by the integration tests: a tiny x86-64 assembler and an ELF/guest.img builder
//! for raw test guests that run without the real kernel.
#![allow(dead_code)]

use std::path::PathBuf;

use abi::hypercall::{Call, DOORBELL_BASE, HypercallStatus};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, KERNEL_PHYS_BASE};

/// Where code starts in the segment (after the ELF and program headers).
pub const CODE_OFFSET: u64 = 0x100;
/// Where data starts in the segment.
pub const DATA_OFFSET: u64 = 0x800;
/// Guest-physical address of the data area.
pub const DATA: u64 = KERNEL_PHYS_BASE + DATA_OFFSET;
/// Guest-physical address of the request block the guests use (plain RAM).
pub const BLOCK: u64 = 0x30_0000;
/// Guest RAM for these tests.
pub const MEMORY: u64 = 64 << 20;

/// The x86-64 general registers by encoding number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Reg {
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
pub use Reg::*;

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
pub struct Asm {
    pub code: Vec<u8>,
}

impl Asm {
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
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
    pub fn mov_imm(&mut self, dst: Reg, imm: u64) -> &mut Self {
        self.rex(true, Rax, dst);
        self.code.push(0xb8 + dst.low());
        self.bytes(&imm.to_le_bytes())
    }

    /// `mov qword [base + disp], src`
    pub fn store64(&mut self, base: Reg, disp: i8, src: Reg) -> &mut Self {
        self.rex(true, src, base);
        self.code.push(0x89);
        self.modrm_disp8(src.low(), base, disp);
        self
    }

    /// `mov dword [base + disp], src`
    pub fn store32(&mut self, base: Reg, disp: i8, src: Reg) -> &mut Self {
        self.rex(false, src, base);
        self.code.push(0x89);
        self.modrm_disp8(src.low(), base, disp);
        self
    }

    /// `mov dword [base + disp], imm32`
    pub fn store32_imm(&mut self, base: Reg, disp: i8, imm: u32) -> &mut Self {
        self.rex(false, Rax, base);
        self.code.push(0xc7);
        self.modrm_disp8(0, base, disp);
        self.bytes(&imm.to_le_bytes())
    }

    /// `mov dst, qword [base + disp]`
    pub fn load64(&mut self, dst: Reg, base: Reg, disp: i8) -> &mut Self {
        self.rex(true, dst, base);
        self.code.push(0x8b);
        self.modrm_disp8(dst.low(), base, disp);
        self
    }

    /// `mov dst32, dword [base + disp]`
    pub fn load32(&mut self, dst: Reg, base: Reg, disp: i8) -> &mut Self {
        self.rex(false, dst, base);
        self.code.push(0x8b);
        self.modrm_disp8(dst.low(), base, disp);
        self
    }

    /// `add dst, src` (64-bit)
    pub fn add(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.rex(true, src, dst);
        self.bytes(&[0x01, 0xc0 | (src.low() << 3) | dst.low()])
    }

    /// `test reg, reg` (64-bit)
    pub fn test(&mut self, reg: Reg) -> &mut Self {
        self.rex(true, reg, reg);
        self.bytes(&[0x85, 0xc0 | (reg.low() << 3) | reg.low()])
    }

    /// `cmp reg32, imm32`
    pub fn cmp32_imm(&mut self, reg: Reg, imm: u32) -> &mut Self {
        self.rex(false, Rax, reg);
        self.bytes(&[0x81, 0xf8 | reg.low()]);
        self.bytes(&imm.to_le_bytes())
    }

    /// `or reg32, imm32`
    pub fn or32_imm(&mut self, reg: Reg, imm: u32) -> &mut Self {
        self.rex(false, Rax, reg);
        self.bytes(&[0x81, 0xc8 | reg.low()]);
        self.bytes(&imm.to_le_bytes())
    }

    /// `jne rel8` / `je rel8`: skip the next `skip` bytes when (not) equal.
    pub fn jne(&mut self, skip: u8) -> &mut Self {
        self.bytes(&[0x75, skip])
    }
    pub fn je(&mut self, skip: u8) -> &mut Self {
        self.bytes(&[0x74, skip])
    }

    /// `jmp $`: spin forever.
    pub fn spin(&mut self) -> &mut Self {
        self.bytes(&[0xeb, 0xfe])
    }

    /// `lidt [base]`
    pub fn lidt(&mut self, base: Reg) -> &mut Self {
        self.rex(false, Rax, base);
        self.code.push(0x0f);
        self.code.push(0x01);
        self.modrm_disp8(3, base, 0);
        self
    }

    /// `ud2`
    pub fn ud2(&mut self) -> &mut Self {
        self.bytes(&[0x0f, 0x0b])
    }
}

/// Guest-level helpers: request blocks at [`BLOCK`] addressed through rbx (direct map).
impl Asm {
    /// Points rbx at the request block and fills its header.
    pub fn header(&mut self, version: u32) -> &mut Self {
        self.mov_imm(Rbx, DIRECT_MAP_BASE + BLOCK)
            .store32_imm(Rbx, 0, version)
            .store32_imm(Rbx, 4, HypercallStatus::Pending as u32)
    }

    /// Stores a 64-bit request field.
    pub fn field(&mut self, disp: i8, value: u64) -> &mut Self {
        self.mov_imm(Rax, value).store64(Rbx, disp, Rax)
    }

    /// Rings the doorbell at `offset` with request block address `block`.
    pub fn ring(&mut self, offset: u64, block: u64) -> &mut Self {
        self.mov_imm(Rax, DIRECT_MAP_BASE + DOORBELL_BASE + offset)
            .mov_imm(Rcx, block)
            .store64(Rax, 0, Rcx)
    }

    /// A complete ConsoleWrite.
    pub fn console_write(&mut self, version: u32, buffer: u64, len: u64) -> &mut Self {
        self.header(version)
            .field(8, buffer)
            .field(16, len)
            .ring(Call::ConsoleWrite as u64 * 8, BLOCK)
    }

    /// A complete Shutdown; `kind` 0 = exit, 1 = bugcheck.
    pub fn shutdown(&mut self, kind: u32, code: u32, parameters: [u64; 4]) -> &mut Self {
        self.header(1)
            .field(8, u64::from(kind) | (u64::from(code) << 32));
        for (i, p) in parameters.into_iter().enumerate() {
            self.field(16 + 8 * i as i8, p);
        }
        self.ring(Call::Shutdown as u64 * 8, BLOCK)
    }

    /// Sets `bit` in r12d when the block's status is `expected`.
    pub fn check_status(&mut self, expected: HypercallStatus, bit: u32) -> &mut Self {
        self.load32(Rax, Rbx, 4)
            .cmp32_imm(Rax, expected as u32)
            .jne(7) // the `or r12d, imm32` below is 7 bytes
            .or32_imm(R12, 1 << bit)
    }

    /// Shutdown(Exit) with r12d as the exit code.
    pub fn exit_with_r12(&mut self) -> &mut Self {
        self.header(1)
            .store32_imm(Rbx, 8, 0)
            .store32(Rbx, 12, R12)
            .ring(Call::Shutdown as u64 * 8, BLOCK)
    }
}

/// An ELF64 executable: one RWX PT_LOAD holding headers, `code` at CODE_OFFSET (the
/// entry) and `data` at DATA_OFFSET.
pub fn elf(code: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(
        CODE_OFFSET as usize + code.len() <= DATA_OFFSET as usize,
        "code too long"
    );
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
pub fn image(name: &str, asm: &Asm, data: &[u8]) -> PathBuf {
    let dir = temp_dir(name);
    let kernel = dir.join("kernel.elf");
    std::fs::write(&kernel, elf(&asm.code, data)).unwrap();
    let hello = dir.join("hello.exe");
    std::fs::write(&hello, b"MZ not really").unwrap();
    let out = dir.join("guest.img");
    vmm::image::write_image(&kernel, "hello", &[hello], &out).unwrap();
    out
}

/// A fresh scratch directory for test `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmm-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a ustar archive with exactly `entries` (for malformed images).
pub fn archive(name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let mut writer = vmm::image::ImageWriter::new();
    for (entry, data) in entries {
        writer.add(entry, data).unwrap();
    }
    let path = temp_dir(name).join("guest.img");
    std::fs::write(&path, writer.finish().unwrap()).unwrap();
    path
}

/// A raw guest that exits at once with `status`.
pub fn exit_guest(status: u32) -> Asm {
    let mut asm = Asm::default();
    asm.shutdown(0, status, [0; 4]).spin();
    asm
}

/// Held by a test whose guest needs the host's cores to itself to finish in reasonable
/// time (threads on several vCPUs handing work to each other): the other tests of its
/// binary that hold it too wait, so two such guests never share the two cores CI has.
pub fn machine_to_itself() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MACHINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The real guest.img built by scripts/build.sh: target/guest.img, or $GUEST_IMAGE.
pub fn guest_image() -> PathBuf {
    let path = std::env::var_os("GUEST_IMAGE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guest.img"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} does not exist: run scripts/build.sh first (or set GUEST_IMAGE)",
        path.display()
    );
    path
}

/// Condition codes for [`Asm::jcc_to`] and [`Asm::jcc_forward`] (the low nibble of `0F 8x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Unsigned below (CF).
    Below = 0x2,
    /// Unsigned above or equal.
    AboveOrEqual = 0x3,
    Equal = 0x4,
    NotEqual = 0x5,
    /// Unsigned below or equal.
    BelowOrEqual = 0x6,
    /// Unsigned above.
    Above = 0x7,
}

/// Register-to-register arithmetic, shifts, labels and calls: enough for raw guests with
/// loops and subroutines.
impl Asm {
    /// A two-register 64-bit ALU instruction with opcode `op` (`op dst, src`).
    fn alu(&mut self, op: u8, dst: Reg, src: Reg) -> &mut Self {
        self.rex(true, src, dst);
        self.bytes(&[op, 0xc0 | (src.low() << 3) | dst.low()])
    }

    /// A 64-bit group instruction on one register: `opcode /ext` with an optional imm.
    fn group(&mut self, opcode: u8, ext: u8, reg: Reg) -> &mut Self {
        self.rex(true, Rax, reg);
        self.bytes(&[opcode, 0xc0 | (ext << 3) | reg.low()])
    }

    /// `mov dst, src` (64-bit)
    pub fn mov(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.alu(0x89, dst, src)
    }

    /// `xor dst, src` (64-bit)
    pub fn xor(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.alu(0x31, dst, src)
    }

    /// `sub dst, src` (64-bit)
    pub fn sub(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.alu(0x29, dst, src)
    }

    /// `and dst, src` (64-bit)
    pub fn and(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.alu(0x21, dst, src)
    }

    /// `cmp a, b` (64-bit)
    pub fn cmp(&mut self, a: Reg, b: Reg) -> &mut Self {
        self.alu(0x39, a, b)
    }

    /// `shl reg, count`
    pub fn shl_imm(&mut self, reg: Reg, count: u8) -> &mut Self {
        self.group(0xc1, 4, reg).bytes(&[count])
    }

    /// `shr reg, count`
    pub fn shr_imm(&mut self, reg: Reg, count: u8) -> &mut Self {
        self.group(0xc1, 5, reg).bytes(&[count])
    }

    /// `shr reg, cl`
    pub fn shr_cl(&mut self, reg: Reg) -> &mut Self {
        self.group(0xd3, 5, reg)
    }

    /// `and reg, imm32` (sign-extended to 64 bits)
    pub fn and_imm(&mut self, reg: Reg, imm: i32) -> &mut Self {
        self.group(0x81, 4, reg).bytes(&imm.to_le_bytes())
    }

    /// `or reg, imm32` (sign-extended to 64 bits)
    pub fn or_imm(&mut self, reg: Reg, imm: i32) -> &mut Self {
        self.group(0x81, 1, reg).bytes(&imm.to_le_bytes())
    }

    /// `add reg, imm32` (sign-extended to 64 bits)
    pub fn add_imm(&mut self, reg: Reg, imm: i32) -> &mut Self {
        self.group(0x81, 0, reg).bytes(&imm.to_le_bytes())
    }

    /// `cmp reg, imm32` (sign-extended to 64 bits)
    pub fn cmp_imm(&mut self, reg: Reg, imm: i32) -> &mut Self {
        self.group(0x81, 7, reg).bytes(&imm.to_le_bytes())
    }

    /// `test reg, imm32` (sign-extended to 64 bits)
    pub fn test_imm(&mut self, reg: Reg, imm: i32) -> &mut Self {
        self.group(0xf7, 0, reg).bytes(&imm.to_le_bytes())
    }

    /// `neg reg` (64-bit)
    pub fn neg(&mut self, reg: Reg) -> &mut Self {
        self.group(0xf7, 3, reg)
    }

    /// `dec reg` (64-bit)
    pub fn dec(&mut self, reg: Reg) -> &mut Self {
        self.group(0xff, 1, reg)
    }

    /// `lock inc qword [base + disp]`
    pub fn lock_inc64(&mut self, base: Reg, disp: i8) -> &mut Self {
        self.code.push(0xf0);
        self.rex(true, Rax, base);
        self.code.push(0xff);
        self.modrm_disp8(0, base, disp);
        self
    }

    /// `inc qword [base + disp]`
    pub fn inc64(&mut self, base: Reg, disp: i8) -> &mut Self {
        self.rex(true, Rax, base);
        self.code.push(0xff);
        self.modrm_disp8(0, base, disp);
        self
    }

    /// `pause`
    pub fn pause(&mut self) -> &mut Self {
        self.bytes(&[0xf3, 0x90])
    }

    /// `ret`
    pub fn ret(&mut self) -> &mut Self {
        self.bytes(&[0xc3])
    }

    /// The current position, as a label for backward jumps and calls.
    pub fn here(&self) -> usize {
        self.code.len()
    }

    /// Emits a rel32 to `target` (a position in `code`) at the end of the code.
    fn rel32_to(&mut self, target: usize) -> &mut Self {
        let next = self.code.len() as i64 + 4;
        let rel = i32::try_from(target as i64 - next).expect("jump too far");
        self.bytes(&rel.to_le_bytes())
    }

    /// `jmp label`
    pub fn jmp_to(&mut self, label: usize) -> &mut Self {
        self.code.push(0xe9);
        self.rel32_to(label)
    }

    /// `jcc label`
    pub fn jcc_to(&mut self, cond: Cond, label: usize) -> &mut Self {
        self.bytes(&[0x0f, 0x80 | cond as u8]);
        self.rel32_to(label)
    }

    /// `call label`
    pub fn call_to(&mut self, label: usize) -> &mut Self {
        self.code.push(0xe8);
        self.rel32_to(label)
    }

    /// `jcc` to a label not placed yet: returns the fixup for [`Self::bind`].
    pub fn jcc_forward(&mut self, cond: Cond) -> usize {
        self.bytes(&[0x0f, 0x80 | cond as u8, 0, 0, 0, 0]);
        self.code.len() - 4
    }

    /// `jmp` to a label not placed yet: returns the fixup for [`Self::bind`].
    pub fn jmp_forward(&mut self) -> usize {
        self.bytes(&[0xe9, 0, 0, 0, 0]);
        self.code.len() - 4
    }

    /// Places the label of forward jump `fixup` here.
    pub fn bind(&mut self, fixup: usize) -> &mut Self {
        let rel = i32::try_from(self.code.len() - (fixup + 4)).expect("jump too far");
        self.code[fixup..fixup + 4].copy_from_slice(&rel.to_le_bytes());
        self
    }
}

/// Boots `guest_image()` with `program` (name and arguments; empty: the image's default) in
/// `pvm_mode` on one vCPU, console captured, stopping it after `timeout`; prints the console
/// for failing tests to show.
pub fn boot_program(
    program: &[&str],
    pvm_mode: vmm::PvmMode,
    timeout: std::time::Duration,
) -> vmm::RunOutcome {
    boot_program_on_cpus(program, pvm_mode, 1, timeout)
}

/// Asserts that the guest exited with `status`, showing the console otherwise.
#[track_caller]
pub fn assert_exited(outcome: &vmm::RunOutcome, status: abi::NtStatus) {
    assert_eq!(
        outcome.exit,
        vmm::GuestExit::Exited(status),
        "console:\n{}",
        outcome.console_text()
    );
}

/// [`boot_program`] with `cpus` vCPUs.
pub fn boot_program_on_cpus(
    program: &[&str],
    pvm_mode: vmm::PvmMode,
    cpus: u32,
    timeout: std::time::Duration,
) -> vmm::RunOutcome {
    let config = vmm::RunConfig {
        program: (!program.is_empty()).then(|| program.iter().map(|s| s.to_string()).collect()),
        console: vmm::ConsoleSink::Capture,
        timeout,
        pvm_mode,
        cpus,
        ..vmm::RunConfig::new(guest_image())
    };
    let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
    eprintln!(
        "console of {program:?} on {cpus} vCPUs:\n{}",
        outcome.console_text()
    );
    outcome
}
