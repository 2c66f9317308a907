//! A hostile raw guest against the VMM: a hypercall storm from several vCPUs at once, with
//! random call numbers, request blocks anywhere in and beyond guest memory, unaligned and
//! overlapping blocks, wrapping lengths, and a vCPU that keeps rewriting blocks while the
//! VMM reads them. The VMM must answer every call with an ABI status (or drop it when the
//! block is not RAM), never panic or hang, and end the run with the guest's shutdown.
//!
//! Size: `HOSTILE_HYPERCALLS` (default [`DEFAULT_HYPERCALLS`]) calls in all for the native
//! run, split between the calling vCPUs; `HOSTILE_SEED` picks the random sequence. For
//! example `HOSTILE_HYPERCALLS=5000000 cargo test --release --test hostile_guest`.

mod common;

use std::time::Duration;

use abi::NtStatus;
use abi::hypercall::{Call, DOORBELL_BASE, HypercallStatus};
use abi::layout::DIRECT_MAP_BASE;
use common::*;
use vmm::stats::HypercallStatusCounts;
use vmm::{ConsoleSink, GuestExit, PvmMode, RunConfig};

/// Hypercalls thrown by the default native run: 6 to 13 s here (kvm-pvm, 2 cores shared
/// with other work).
const DEFAULT_HYPERCALLS: u64 = 150_000;
/// Hypercalls thrown with the guest emulated (bootstrap mode): about 3 s here.
const BOOTSTRAP_HYPERCALLS: u64 = 6_000;
/// The default seed of the guest's xorshift64 generators.
const DEFAULT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// vCPUs: vCPU 1 rewrites the shared blocks, the others call.
const CPUS: u32 = 4;
const CALLERS: u64 = CPUS as u64 - 1;
/// The vCPU that rewrites the shared blocks.
const REWRITER: i32 = 1;

/// Each caller's private blocks: two pages per vCPU, blocks at any byte of the first.
const PRIVATE: u64 = 0x40_0000;
/// The blocks every caller rings and the rewriter scribbles over, at any of 256 bytes.
const SHARED: u64 = 0x50_0000;
/// Each vCPU's counters (see [`Counter`]), [`COUNTS_STRIDE`] bytes apart.
const COUNTS: u64 = 0x51_0000;
const COUNTS_STRIDE: u64 = 0x80;
/// How many callers have finished (a u64 the guests `lock inc`).
const DONE: u64 = 0x51_F000;
/// The top of each vCPU's stack is `STACKS + (index + 1) * 4 KiB`.
const STACKS: u64 = 0x52_0000;
/// Scattered blocks lie anywhere from here to the end of RAM.
const SCATTER_START: u64 = 0x80_0000;
/// The exit status of a storm that ran to its end.
const STORM_DONE: u32 = 0x5707;

/// What a caller counts, one u64 each: calls on checked blocks (its private page, or its
/// scattered blocks) by the status the guest read back (the first six counters, in the
/// ABI's status order), anything else it read back there, calls on the shared blocks
/// (whose status word others write too), calls on blocks outside RAM (the VMM can only
/// drop them), and all calls.
#[derive(Clone, Copy, Debug)]
enum Counter {
    /// A checked block held a status word that is no answer (Pending, or garbage).
    BadStatus = 6,
    Shared = 7,
    Outside = 8,
    Calls = 9,
}
const STATUS_COUNTERS: usize = 6;
const COUNTERS: usize = 10;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        let v = v.replace('_', "");
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

fn direct(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}

/// `dst = a + b` without touching the flags of interest (`mov dst, a; add dst, b`).
fn sum(asm: &mut Asm, dst: Reg, a: Reg, b: Reg) {
    asm.mov(dst, a).add(dst, b);
}

/// The storm guest: every vCPU enters here with rdi = BootInfo (physical) and rsi = its
/// index. Registers while calling: r12 = the index, rbp = the direct map, r14 = the xorshift64 state, r15 =
/// calls left, r13 = this vCPU's private blocks, r9 = its counters, r10 = doorbell 0,
/// r11 = the number of callers; rsi = the current block (direct map), rdi = the doorbell
/// offset, rbx = this call's random control word.
fn storm_guest(calls_per_caller: u64, seed: u64) -> Asm {
    let mut asm = Asm::default();
    asm.mov_imm(Rbp, DIRECT_MAP_BASE).mov(R12, Rsi);
    // rsp = the top of this vCPU's stack.
    asm.mov(Rax, Rsi)
        .add_imm(Rax, 1)
        .shl_imm(Rax, 12)
        .mov_imm(Rsp, direct(STACKS))
        .add(Rsp, Rax);
    // r14 = seed ^ (index << 40): a different, never zero, sequence per vCPU.
    asm.mov_imm(R14, seed)
        .mov(Rax, Rsi)
        .shl_imm(Rax, 40)
        .xor(R14, Rax);
    // r11 = callers: every vCPU but the rewriter (BootInfo.cpu_count at offset 12).
    sum(&mut asm, Rax, Rdi, Rbp);
    asm.load32(R11, Rax, 12).dec(R11);
    asm.mov_imm(R10, direct(DOORBELL_BASE));
    asm.cmp_imm(Rsi, REWRITER);
    let to_rewriter = asm.jcc_forward(Cond::Equal);

    // r13 = private blocks, r9 = counters, r15 = calls left.
    asm.mov(R13, Rsi)
        .shl_imm(R13, 13)
        .mov_imm(Rax, direct(PRIVATE))
        .add(R13, Rax);
    asm.mov(R9, Rsi)
        .shl_imm(R9, 7)
        .mov_imm(Rax, direct(COUNTS))
        .add(R9, Rax);
    asm.mov_imm(R15, calls_per_caller);
    let call_rand = asm.jmp_forward(); // over the subroutines

    // rand: rax = the next xorshift64 value (13, 7, 17); clobbers rdx.
    let rand = asm.here();
    for (shift, left) in [(13, true), (7, false), (17, true)] {
        asm.mov(Rdx, R14);
        if left {
            asm.shl_imm(Rdx, shift);
        } else {
            asm.shr_imm(Rdx, shift);
        }
        asm.xor(R14, Rdx);
    }
    asm.mov(Rax, R14).ret();

    // value: rax = a random value of random bit length, negated (near 2^64, so that
    // address + length wraps) one time in two; clobbers rcx, rdx, r8.
    let value = asm.here();
    asm.call_to(rand).mov(R8, Rax).call_to(rand);
    asm.mov(Rcx, R8).shr_cl(Rax).test_imm(R8, 0x40);
    let keep = asm.jcc_forward(Cond::Equal);
    asm.neg(Rax).bind(keep).ret();

    // fill: writes a request into the block at rsi: abi_version 1 three times in four
    // (else random), then five random 64-bit fields; field 8 (ConsoleWrite's buffer)
    // points back at the block itself one time in four. Clobbers rax, rcx, rdx, r8.
    let fill = asm.here();
    asm.call_to(rand).mov(Rcx, Rax).shr_imm(Rcx, 32);
    asm.test_imm(Rax, 3);
    let random_version = asm.jcc_forward(Cond::Equal);
    asm.mov_imm(Rcx, 1).bind(random_version);
    asm.store32(Rsi, 0, Rcx);
    for field in [8, 16, 24, 32, 40] {
        asm.call_to(value).store64(Rsi, field, Rax);
    }
    asm.call_to(rand).test_imm(Rax, 3);
    let no_overlap = asm.jcc_forward(Cond::NotEqual);
    asm.mov(Rax, Rsi).sub(Rax, Rbp).store64(Rsi, 8, Rax);
    asm.bind(no_overlap).ret();

    // ring: rings doorbell offset rdi with block (physical) rcx; clobbers rax.
    let ring = asm.here();
    sum(&mut asm, Rax, R10, Rdi);
    asm.store64(Rax, 0, Rcx).ret();

    // count: adds one to counter rax of this vCPU; clobbers rax.
    let count = asm.here();
    asm.shl_imm(Rax, 3).add(Rax, R9).inc64(Rax, 0).ret();

    // The calling loop.
    asm.bind(call_rand);
    let top = asm.here();
    asm.call_to(rand).mov(Rbx, Rax);
    // rdi = any byte offset in the first 2 KiB of the window; or, half the time, call
    // 0..=3 (the three calls there are and one unknown): bits 12-13 * 8.
    asm.mov(Rdi, Rbx).and_imm(Rdi, 0x7ff).test_imm(Rbx, 0x800);
    let random_offset = asm.jcc_forward(Cond::NotEqual);
    asm.mov(Rdi, Rbx).shr_imm(Rdi, 9).and_imm(Rdi, 0x18);
    asm.bind(random_offset);
    // Bits 14-15 choose the block: 0 private, 1 scattered over RAM, 2 shared, 3 outside
    // RAM. Shutdown only ever gets a private block with a kind it does not define, or the
    // storm would end.
    asm.mov(Rax, Rbx).shr_imm(Rax, 14).and_imm(Rax, 3);
    asm.cmp_imm(Rdi, Call::Shutdown as i32 * 8);
    let shutdown = asm.jcc_forward(Cond::Equal);
    asm.cmp_imm(Rax, 1);
    let scattered = asm.jcc_forward(Cond::Equal);
    asm.cmp_imm(Rax, 2);
    let shared = asm.jcc_forward(Cond::Equal);
    asm.cmp_imm(Rax, 3);
    let outside = asm.jcc_forward(Cond::Equal);

    // Private: a block at any byte of the private page. Checked blocks (private and
    // scattered) say Pending before the ring and must hold an answer after it.
    asm.bind(shutdown);
    asm.mov(Rsi, Rbx)
        .shr_imm(Rsi, 16)
        .and_imm(Rsi, 0xfff)
        .add(Rsi, R13);
    let checked = asm.here();
    asm.call_to(fill)
        .store32_imm(Rsi, 4, HypercallStatus::Pending as u32);
    asm.cmp_imm(Rdi, Call::Shutdown as i32 * 8);
    let not_shutdown = asm.jcc_forward(Cond::NotEqual);
    // ShutdownKind is 0 or 1: setting bit 1 makes any kind undefined.
    asm.load32(Rax, Rsi, 8).or_imm(Rax, 2).store32(Rsi, 8, Rax);
    asm.bind(not_shutdown);
    asm.mov(Rcx, Rsi).sub(Rcx, Rbp).call_to(ring);
    // The status word must be one of the ABI's answers.
    asm.load32(Rax, Rsi, 4)
        .cmp_imm(Rax, STATUS_COUNTERS as i32 - 1);
    let answered = asm.jcc_forward(Cond::BelowOrEqual);
    asm.mov_imm(Rax, Counter::BadStatus as u64);
    asm.bind(answered).call_to(count);
    let next_from_private = asm.jmp_forward();

    // Scattered: a block anywhere in RAM above the guest's own 8 MiB, at any byte of the
    // 1 KiB of each page that is this caller's (so that callers never share one).
    asm.bind(scattered);
    asm.mov(Rsi, Rbx)
        .shr_imm(Rsi, 16)
        .and_imm(Rsi, (MEMORY - 1) as i32 & !0xfff)
        .or_imm(Rsi, SCATTER_START as i32);
    asm.mov(Rax, Rbx)
        .shr_imm(Rax, 50)
        .and_imm(Rax, 0x3bf)
        .add(Rsi, Rax);
    asm.mov(Rax, R12)
        .shl_imm(Rax, 10)
        .add(Rsi, Rax)
        .add(Rsi, Rbp);
    asm.jmp_to(checked);

    // Shared: a block at any of 256 bytes that every caller and the rewriter write.
    asm.bind(shared);
    asm.mov(Rsi, Rbx)
        .shr_imm(Rsi, 16)
        .and_imm(Rsi, 0xff)
        .mov_imm(Rax, direct(SHARED))
        .add(Rsi, Rax);
    asm.call_to(fill).mov(Rcx, Rsi).sub(Rcx, Rbp).call_to(ring);
    asm.mov_imm(Rax, Counter::Shared as u64).call_to(count);
    let next_from_shared = asm.jmp_forward();

    // Outside: MEMORY - 4 + (random >> 1..=63): straddling the end of RAM, in the MMIO
    // hole, the doorbells themselves, the image, up to 2^63. Never touched by the guest.
    asm.bind(outside);
    asm.call_to(rand)
        .mov(Rcx, Rbx)
        .shr_imm(Rcx, 16)
        .or_imm(Rcx, 1)
        .shr_cl(Rax);
    asm.mov_imm(Rcx, MEMORY - 4)
        .add(Rcx, Rax)
        .call_to(ring)
        .mov_imm(Rax, Counter::Outside as u64)
        .call_to(count);

    asm.bind(next_from_private).bind(next_from_shared);
    asm.mov_imm(Rax, Counter::Calls as u64).call_to(count);
    asm.dec(R15).jcc_to(Cond::NotEqual, top);

    // Done: count this caller in; the others halt.
    asm.mov_imm(Rbx, direct(DONE)).lock_inc64(Rbx, 0);
    asm.test(R12);
    let boot_cpu = asm.jcc_forward(Cond::Equal);
    let halt = asm.here();
    asm.bytes(&[0xfa, 0xf4]).jmp_to(halt); // cli; hlt

    // vCPU 0: once every caller is done, print every vCPU's counters (binary, the last
    // console write of the run) and shut down.
    asm.bind(boot_cpu);
    let wait = asm.here();
    asm.pause().load64(Rax, Rbx, 0).cmp(Rax, R11);
    asm.jcc_to(Cond::NotEqual, wait);
    asm.header(1).field(8, COUNTS);
    asm.mov(Rax, R11)
        .add_imm(Rax, 1)
        .shl_imm(Rax, 7)
        .store64(Rbx, 16, Rax);
    asm.ring(Call::ConsoleWrite as u64 * 8, BLOCK);
    asm.shutdown(0, STORM_DONE, [0; 4]).spin();

    // The rewriter: random 8-byte stores at any of the shared blocks' bytes until every
    // caller is done, then halt.
    asm.bind(to_rewriter);
    asm.mov_imm(Rbx, direct(SHARED)).mov_imm(Rdi, direct(DONE));
    let scribble = asm.here();
    asm.call_to(rand)
        .mov(Rcx, Rax)
        .and_imm(Rcx, 0xff)
        .add(Rcx, Rbx)
        .store64(Rcx, 0, Rax);
    asm.load64(Rax, Rdi, 0)
        .cmp(Rax, R11)
        .jcc_to(Cond::NotEqual, scribble);
    asm.jmp_to(halt);
    asm
}

/// Per-vCPU counters as the guest printed them, summed over the callers.
fn guest_counters(console: &[u8]) -> [u64; COUNTERS] {
    let table = CPUS as usize * COUNTS_STRIDE as usize;
    assert!(console.len() >= table, "no counters printed");
    let table = &console[console.len() - table..];
    let mut sums = [0u64; COUNTERS];
    for vcpu in table.chunks(COUNTS_STRIDE as usize) {
        for (sum, value) in sums.iter_mut().zip(vcpu.chunks(8)) {
            *sum += u64::from_le_bytes(value.try_into().unwrap());
        }
    }
    sums
}

/// The VMM's answers in status order (the guest's counter order).
fn vmm_answers(counts: &HypercallStatusCounts) -> [u64; STATUS_COUNTERS] {
    [
        counts.success,
        counts.bad_version,
        counts.unknown_call,
        counts.bad_address,
        counts.bad_length,
        counts.bad_argument,
    ]
}

/// Throws `total` hypercalls at the VMM with the guest in `mode` and checks every answer.
fn storm(mode: PvmMode, total: u64) {
    let seed = env_u64("HOSTILE_SEED", DEFAULT_SEED);
    let per_caller = total.div_ceil(CALLERS).max(1);
    let asm = storm_guest(per_caller, seed);
    eprintln!("storm guest: {} bytes of code", asm.code.len());
    let mut config = RunConfig::new(image(&format!("storm-{mode:?}"), &asm, &[]));
    config.cpus = CPUS;
    config.memory = MEMORY;
    config.console = ConsoleSink::Capture;
    config.pvm_mode = mode;
    // Generous: the storm must end by itself, but a loaded machine is slow.
    config.timeout = Duration::from_secs(60 + per_caller / 1000);
    let started = std::time::Instant::now();
    let outcome = vmm::run(&config).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(NtStatus(STORM_DONE)),
        "the storm must end with the guest's own shutdown"
    );

    let guest = guest_counters(&outcome.console);
    let vmm = outcome.stats.hypercall_statuses;
    let thrown = guest[Counter::Calls as usize];
    eprintln!(
        "storm ({mode:?}): {thrown} hypercalls from {CALLERS} vCPUs in {elapsed:.1?} \
         (seed {seed:#x}, {} console bytes): \
         guest saw {:?} on checked blocks, {} shared, {} outside RAM; VMM counted {vmm:?}",
        outcome.console.len(),
        &guest[..STATUS_COUNTERS],
        guest[Counter::Shared as usize],
        guest[Counter::Outside as usize],
    );
    assert_eq!(thrown, per_caller * CALLERS);
    assert_eq!(
        guest[Counter::BadStatus as usize],
        0,
        "a checked block got a status word that is no ABI answer"
    );
    let checked: u64 = guest[..STATUS_COUNTERS].iter().sum();
    assert_eq!(
        checked + guest[Counter::Shared as usize] + guest[Counter::Outside as usize],
        thrown
    );
    // Every call reached the VMM and was counted once: the storm's, then the counters'
    // console write and the shutdown.
    assert_eq!(vmm.total(), thrown + 2);
    assert_eq!(vmm.dropped, guest[Counter::Outside as usize]);
    assert_eq!(
        vmm.answered(),
        checked + guest[Counter::Shared as usize] + 2
    );
    let answers = vmm_answers(&vmm);
    for (status, (&gave, &read)) in answers.iter().zip(&guest[..STATUS_COUNTERS]).enumerate() {
        assert!(
            gave >= read,
            "status {status}: the guest read back more than the VMM gave"
        );
    }
    // A storm of any size reaches every answer the ABI has.
    if thrown >= 1000 {
        for (status, &count) in guest[..STATUS_COUNTERS].iter().enumerate() {
            assert!(count > 0, "no checked call got status {status}");
        }
    }
    assert_eq!(outcome.stats.rejected_hypercalls, vmm.total() - vmm.success);
    let e = &outcome.stats.exits;
    assert_eq!(
        e.console_write + e.shutdown + e.boot_progress + e.unknown_call,
        vmm.total()
    );
    assert_eq!(e.mmio_write, 0, "every doorbell store was 8 bytes wide");
}

/// The storm at full size, the guest running natively on kvm-pvm (about 20,000 calls a
/// second here, against 2,600 with its instructions emulated).
#[test]
fn hypercall_storm_from_four_vcpus() {
    storm(
        PvmMode::Native,
        env_u64("HOSTILE_HYPERCALLS", DEFAULT_HYPERCALLS),
    );
}

/// A small storm with the guest's instructions emulated, as in `vmm run`'s default mode.
#[test]
fn hypercall_storm_from_four_emulated_vcpus() {
    storm(PvmMode::Bootstrap, BOOTSTRAP_HYPERCALLS);
}
