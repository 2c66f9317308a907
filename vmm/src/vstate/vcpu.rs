//! vCPUs: initial state, the per-vCPU run loop and its exit handling, and the run control
//! shared by vCPU threads and the watchdog (ending the run, kicking vCPUs out of KVM_RUN).

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use abi::NtStatus;
use abi::hypercall::{BootMarker, Call};
use kvm_bindings::{CpuId, KVM_MP_STATE_RUNNABLE, Msrs, kvm_mp_state, kvm_msr_entry, kvm_run};
use kvm_ioctls::{VcpuExit, VcpuFd};
use libc::{c_int, c_void, siginfo_t};

use crate::boot;
use crate::hypercall::{self, Outcome, Request, ShutdownRequest};
use crate::memory::GuestRam;
use crate::stats::Stats;

/// Why a vCPU could not be set up or the kick signal installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("vCPU {index}: cannot {what}")]
    Setup {
        index: u32,
        what: &'static str,
        #[source]
        source: kvm_ioctls::Error,
    },
    #[error("cannot install the vCPU kick signal handler: {0}")]
    Signal(String),
    #[error("cannot start a vCPU thread")]
    Thread(#[source] std::io::Error),
}

/// How the guest's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// The program exited (or the kernel shut down) with this status.
    Exited(NtStatus),
    /// The kernel bugchecked (`KeBugCheckEx`).
    BugCheck { code: u32, parameters: [u64; 4] },
    /// KVM_EXIT_SHUTDOWN: the vCPU triple-faulted.
    TripleFault { vcpu: u32, regs: Option<Registers> },
    /// KVM could not run the vCPU (internal error, failed entry, unexpected exit).
    InternalError {
        vcpu: u32,
        reason: String,
        regs: Option<Registers>,
    },
    /// The watchdog stopped the guest.
    Timeout(Duration),
}

impl GuestExit {
    /// Whether this is a guest crash (bugcheck, triple fault, internal error).
    pub fn is_crash(&self) -> bool {
        matches!(
            self,
            Self::BugCheck { .. } | Self::TripleFault { .. } | Self::InternalError { .. }
        )
    }
}

impl fmt::Display for GuestExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regs = |f: &mut fmt::Formatter<'_>, regs: &Option<Registers>| match regs {
            Some(regs) => write!(f, "\n{regs}"),
            None => write!(f, " (registers unavailable)"),
        };
        match self {
            Self::Exited(status) => write!(f, "program exited with status {status}"),
            Self::BugCheck {
                code,
                parameters: p,
            } => write!(
                f,
                "guest bugcheck {code:#010x} ({:#x}, {:#x}, {:#x}, {:#x})",
                p[0], p[1], p[2], p[3]
            ),
            Self::TripleFault { vcpu, regs: r } => {
                write!(f, "guest crash: triple fault on vCPU {vcpu}")?;
                regs(f, r)
            }
            Self::InternalError {
                vcpu,
                reason,
                regs: r,
            } => {
                write!(f, "guest crash on vCPU {vcpu}: {reason}")?;
                regs(f, r)
            }
            Self::Timeout(after) => {
                write!(f, "timeout: the guest did not shut down within {after:?}")
            }
        }
    }
}

/// A vCPU's registers at a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub cs: u16,
    pub ss: u16,
}

impl Registers {
    fn read(vcpu: &VcpuFd) -> Option<Self> {
        let r = vcpu.get_regs().ok()?;
        let s = vcpu.get_sregs().ok()?;
        Some(Self {
            rip: r.rip,
            rsp: r.rsp,
            rflags: r.rflags,
            rax: r.rax,
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rbp: r.rbp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            cr0: s.cr0,
            cr2: s.cr2,
            cr3: s.cr3,
            cr4: s.cr4,
            efer: s.efer,
            cs: s.cs.selector,
            ss: s.ss.selector,
        })
    }
}

impl fmt::Display for Registers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  rip {:#018x}  rsp {:#018x}  rflags {:#x}  cs {:#x}  ss {:#x}",
            self.rip, self.rsp, self.rflags, self.cs, self.ss
        )?;
        writeln!(
            f,
            "  cr0 {:#x}  cr2 {:#x}  cr3 {:#x}  cr4 {:#x}  efer {:#x}",
            self.cr0, self.cr2, self.cr3, self.cr4, self.efer
        )?;
        writeln!(
            f,
            "  rax {:#x}  rbx {:#x}  rcx {:#x}  rdx {:#x}  rsi {:#x}  rdi {:#x}  rbp {:#x}",
            self.rax, self.rbx, self.rcx, self.rdx, self.rsi, self.rdi, self.rbp
        )?;
        write!(
            f,
            "  r8 {:#x}  r9 {:#x}  r10 {:#x}  r11 {:#x}  r12 {:#x}  r13 {:#x}  r14 {:#x}  r15 {:#x}",
            self.r8, self.r9, self.r10, self.r11, self.r12, self.r13, self.r14, self.r15
        )
    }
}

/// Where console output goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsoleSink {
    /// The VMM's stdout, flushed after every write.
    #[default]
    Stdout,
    /// Kept in memory and returned in the outcome.
    Capture,
}

/// The CPUID a vCPU sees: KVM's supported set with its APIC id filled in.
pub fn cpuid_for(supported: &CpuId, index: u32) -> CpuId {
    let mut cpuid = supported.clone();
    for entry in cpuid.as_mut_slice() {
        match entry.function {
            // Initial APIC id in EBX[31:24].
            1 => entry.ebx = (entry.ebx & 0x00ff_ffff) | (index << 24),
            // x2APIC id of the current logical processor.
            0xb | 0x1f => entry.edx = index,
            _ => {}
        }
    }
    cpuid
}

/// Puts vCPU `index` at the kernel entry in long mode.
pub fn configure(vcpu: &VcpuFd, index: u32, cpuid: &CpuId, entry: u64) -> Result<(), Error> {
    let setup = |what| {
        move |source| Error::Setup {
            index,
            what,
            source,
        }
    };
    vcpu.set_cpuid2(cpuid).map_err(setup("set CPUID"))?;
    let sregs = vcpu.get_sregs().map_err(setup("read special registers"))?;
    vcpu.set_sregs(&boot::long_mode_sregs(&sregs))
        .map_err(setup("set special registers"))?;
    vcpu.set_fpu(&boot::entry_fpu())
        .map_err(setup("set FPU state"))?;
    vcpu.set_regs(&boot::entry_regs(entry, index))
        .map_err(setup("set registers"))?;
    if index > 0 {
        // With the in-kernel irqchip, APs would otherwise wait for INIT/SIPI.
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_RUNNABLE,
        })
        .map_err(setup("make the AP runnable"))?;
    }
    Ok(())
}

/// kvm-pvm's MSR holding the guest-physical address of a vCPU's VIF page (the paravirtual
/// interrupt flag). Registering it lets the guest kernel run natively at hardware CPL 3.
const MSR_PVM_VIF: u32 = 0x4b56_4d10;
/// Host-initiated registration (required for a write from the VMM).
const PVM_VIF_FROM_VMM: u64 = 1 << 10;
/// The host writes the faulting address of each page fault at VIF offset 8.
const PVM_VIF_CR2: u64 = 1 << 4;
/// KPTI mode: each address space is a pair of PML4s, the kernel's and 4 KiB above it the
/// one user mode runs on; the host switches to the user one when it returns to user mode.
const PVM_VIF_KPTI: u64 = 1 << 0;
/// The host's direct return to user mode; in KPTI mode, also what makes it deliver
/// user-mode events at CPL 3.
const PVM_VIF_DIRECT_IRET: u64 = 1 << 3;
/// In KPTI mode, the host switches to the kernel PML4 (and for events the kernel GS)
/// itself on an event or a system call from user mode. Without it the entry code runs its
/// first instructions on the user PML4, where the host takes the vCPU for user mode and
/// may deliver an interrupt into them as if from user mode.
const PVM_VIF_PREFLIP: u64 = 1 << 1;
/// The host's direct system call: a user `syscall` reaches LSTAR through the host's
/// trampoline, on the kernel PML4, without an exit.
const PVM_VIF_DIRECT_SYSCALL: u64 = 1 << 2;
/// With the direct system call, the trampoline also loads the kernel GS base (the guest's
/// KERNEL_GS_BASE) and keeps the user one, so the entry needs no `swapgs`.
const PVM_VIF_DIRECT_SYSCALL_GS: u64 = 1 << 5;

/// Registers vCPU `index`'s VIF page (`abi::layout::PVM_VIF_PAGES_ADDR`) so the kernel starts
/// natively. Returns false when the host refuses it (the kernel then boots in the host's
/// bootstrap mode).
pub fn register_pvm_vif(vcpu: &VcpuFd, index: u32) -> Result<bool, Error> {
    let page = abi::layout::PVM_VIF_PAGES_ADDR + u64::from(index) * abi::layout::PAGE_SIZE;
    write_pvm_vif(
        vcpu,
        index,
        page | PVM_VIF_FROM_VMM
            | PVM_VIF_CR2
            | PVM_VIF_KPTI
            | PVM_VIF_DIRECT_IRET
            | PVM_VIF_PREFLIP
            | PVM_VIF_DIRECT_SYSCALL
            | PVM_VIF_DIRECT_SYSCALL_GS,
        "register the PVM VIF page",
    )
}

/// Unregisters vCPU `index`'s VIF page once the guest has stopped: closing the VM with it
/// registered took the host 11-13 ms on an idle machine, against about 0.5 ms without.
/// Returns false when the host refuses.
pub fn unregister_pvm_vif(vcpu: &VcpuFd, index: u32) -> Result<bool, Error> {
    write_pvm_vif(vcpu, index, PVM_VIF_FROM_VMM, "unregister the PVM VIF page")
}

fn write_pvm_vif(vcpu: &VcpuFd, index: u32, data: u64, what: &'static str) -> Result<bool, Error> {
    let entry = kvm_msr_entry {
        index: MSR_PVM_VIF,
        data,
        ..Default::default()
    };
    let msrs = Msrs::from_entries(&[entry]).map_err(|_| Error::Setup {
        index,
        what: "build the VIF MSR list",
        source: kvm_ioctls::Error::new(libc::EINVAL),
    })?;
    let written = vcpu.set_msrs(&msrs).map_err(|source| Error::Setup {
        index,
        what,
        source,
    })?;
    Ok(written == 1)
}

/// TSC frequency in kHz as KVM reports it for `vcpu`.
pub fn tsc_khz(vcpu: &VcpuFd) -> Result<u32, Error> {
    vcpu.get_tsc_khz().map_err(|source| Error::Setup {
        index: 0,
        what: "read the TSC frequency",
        source,
    })
}

thread_local! {
    /// The kvm_run area of the vCPU this thread runs, for the kick signal handler.
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

/// Kick signal handler: makes the current or next KVM_RUN of this thread return at once.
extern "C" fn kick_handler(_: c_int, _: *mut siginfo_t, _: *mut c_void) {
    let _ = KVM_RUN.try_with(|run| {
        let run = run.get();
        if !run.is_null() {
            // SAFETY: the pointer is set by this thread to its own vCPU's kvm_run mapping
            // and cleared before that vCPU is dropped; a byte store is async-signal-safe.
            unsafe { std::ptr::addr_of_mut!((*run).immediate_exit).write_volatile(1) };
        }
    });
}

/// The real-time signal used to kick vCPU threads, installed once per process.
pub fn kick_signal() -> Result<c_int, Error> {
    static SIGNAL: OnceLock<Result<c_int, String>> = OnceLock::new();
    SIGNAL
        .get_or_init(|| {
            let signal = vmm_sys_util::signal::SIGRTMIN();
            vmm_sys_util::signal::register_signal_handler(signal, kick_handler)
                .map(|()| signal)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Signal)
}

/// What the run's threads share.
#[derive(Debug)]
struct State {
    end: Option<GuestExit>,
    running: usize,
}

/// Coordinates vCPU threads and the watchdog for one run.
#[derive(Debug)]
pub struct RunControl {
    start: Instant,
    signal: c_int,
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    /// pthread of each running vCPU thread; `None` once it has left its loop.
    threads: Vec<Mutex<Option<libc::pthread_t>>>,
    stats: Mutex<Stats>,
    sink: ConsoleSink,
    captured: Mutex<Vec<u8>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RunControl {
    pub fn new(start: Instant, signal: c_int, cpus: u32, sink: ConsoleSink) -> Self {
        Self {
            start,
            signal,
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                end: None,
                running: 0,
            }),
            changed: Condvar::new(),
            threads: (0..cpus).map(|_| Mutex::new(None)).collect(),
            stats: Mutex::new(Stats::default()),
            sink,
            captured: Mutex::new(Vec::new()),
        }
    }

    /// Counts a vCPU thread about to start; call before spawning it.
    pub fn thread_starting(&self) {
        lock(&self.state).running += 1;
    }

    /// Undoes [`Self::thread_starting`] for a thread that could not be spawned.
    pub fn thread_failed(&self) {
        let mut state = lock(&self.state);
        state.running = state.running.saturating_sub(1);
        self.changed.notify_all();
    }

    /// Ends the run with `exit` unless it has already ended; stops every vCPU loop.
    pub fn finish(&self, exit: GuestExit) {
        let mut state = lock(&self.state);
        if state.end.is_none() {
            lock(&self.stats).shutdown = Some(self.start.elapsed());
            state.end = Some(exit);
        }
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Waits until the run ends or `timeout` passes (then ends it with a timeout).
    pub fn wait(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        while state.end.is_none() && state.running > 0 {
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                self.finish(GuestExit::Timeout(timeout));
                return;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Stops every vCPU thread and waits until all have left KVM_RUN.
    pub fn stop_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut state = lock(&self.state);
        while state.running > 0 {
            drop(state);
            self.kick_all();
            state = lock(&self.state);
            if state.running == 0 {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(5))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn kick_all(&self) {
        for slot in &self.threads {
            let thread = lock(slot);
            if let Some(thread) = *thread {
                // SAFETY: the slot holds a thread only while that thread is inside its run
                // loop, and the thread clears it (under this lock) before exiting, so the
                // pthread_t names a live thread.
                unsafe { libc::pthread_kill(thread, self.signal) };
            }
        }
    }

    /// The outcome once every thread has stopped.
    pub fn into_parts(self) -> (Option<GuestExit>, Vec<u8>, Stats) {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let console = self
            .captured
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stats = self
            .stats
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (state.end, console, stats)
    }

    /// Writes console output; `exits_before` is the exit count before this write's exit.
    fn console(&self, bytes: &[u8], exits_before: u64) {
        match self.sink {
            ConsoleSink::Stdout => {
                let mut out = std::io::stdout().lock();
                // A closed stdout must not take the VM down: drop the output.
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }
            ConsoleSink::Capture => {
                let mut captured = lock(&self.captured);
                self.stats().console_marks.push(crate::stats::ConsoleMark {
                    offset: captured.len(),
                    exits_before,
                });
                captured.extend_from_slice(bytes);
            }
        }
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }
}

/// Runs vCPU `index` on the current thread until the run ends.
/// Runs vCPU `index` until the guest ends or the run is stopped; `pvm_vif` says whether
/// its VIF page is registered (it is unregistered at the end).
pub fn run_vcpu(mut vcpu: VcpuFd, index: u32, pvm_vif: bool, ram: &GuestRam, ctl: &RunControl) {
    KVM_RUN.with(|run| run.set(vcpu.get_kvm_run() as *mut kvm_run));
    // SAFETY: pthread_self has no preconditions.
    *lock(&ctl.threads[index as usize]) = Some(unsafe { libc::pthread_self() });
    let _ = vmm_sys_util::signal::unblock_signal(ctl.signal);

    if let Some(exit) = run_loop(&mut vcpu, index, ram, ctl) {
        ctl.finish(exit);
    }
    if pvm_vif {
        // A refusal only makes the VM's destruction slower; the guest has ended either way.
        let _ = unregister_pvm_vif(&vcpu, index);
    }

    *lock(&ctl.threads[index as usize]) = None;
    KVM_RUN.with(|run| run.set(std::ptr::null_mut()));
    let mut state = lock(&ctl.state);
    state.running -= 1;
    ctl.changed.notify_all();
}

/// What one exit means for the loop.
// One value per VM exit, returned once: the size of `End` costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
enum Next {
    Continue,
    End(GuestExit),
}

fn run_loop(vcpu: &mut VcpuFd, index: u32, ram: &GuestRam, ctl: &RunControl) -> Option<GuestExit> {
    let mut first = true;
    loop {
        if ctl.stop.load(Ordering::SeqCst) {
            return None;
        }
        if first && index == 0 {
            ctl.stats().first_run = Some(ctl.start.elapsed());
        }
        first = false;
        let next = match vcpu.run() {
            Ok(exit) => handle_exit(exit, index, ram, ctl),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                vcpu.set_kvm_immediate_exit(0);
                ctl.stats().exits.interrupted += 1;
                Next::Continue
            }
            Err(e) => Next::End(GuestExit::InternalError {
                vcpu: index,
                reason: format!("KVM_RUN failed: {e}"),
                regs: None,
            }),
        };
        match next {
            Next::Continue => {}
            Next::End(GuestExit::TripleFault { vcpu: v, .. }) => {
                return Some(GuestExit::TripleFault {
                    vcpu: v,
                    regs: Registers::read(vcpu),
                });
            }
            Next::End(GuestExit::InternalError {
                vcpu: v, reason, ..
            }) => {
                let reason = internal_error_detail(vcpu, reason);
                return Some(GuestExit::InternalError {
                    vcpu: v,
                    reason,
                    regs: Registers::read(vcpu),
                });
            }
            Next::End(exit) => return Some(exit),
        }
    }
}

/// Adds KVM's internal-error sub-code to `reason` when the exit was an internal error.
fn internal_error_detail(vcpu: &mut VcpuFd, reason: String) -> String {
    let run = vcpu.get_kvm_run();
    if run.exit_reason != kvm_bindings::KVM_EXIT_INTERNAL_ERROR {
        return reason;
    }
    // SAFETY: the exit reason is KVM_EXIT_INTERNAL_ERROR, so `internal` is the union
    // member KVM filled in.
    let internal = unsafe { run.__bindgen_anon_1.internal };
    let what = match internal.suberror {
        1 => "emulation failure",
        2 => "exception while delivering an exception",
        3 => "delivery event failure",
        4 => "unexpected exit reason",
        _ => "unknown sub-error",
    };
    let count = (internal.ndata as usize).min(internal.data.len());
    let data: Vec<String> = internal.data[..count]
        .iter()
        .map(|d| format!("{d:#x}"))
        .collect();
    format!(
        "{reason} (suberror {}: {what}; data [{}])",
        internal.suberror,
        data.join(", ")
    )
}

fn handle_exit(exit: VcpuExit<'_>, index: u32, ram: &GuestRam, ctl: &RunControl) -> Next {
    match exit {
        VcpuExit::MmioWrite(addr, data) => {
            let mut bytes = [0u8; 8];
            let len = data.len();
            if let (Some(offset), 8) = (hypercall::doorbell_offset(addr), len) {
                bytes.copy_from_slice(data);
                return hypercall_exit(offset, u64::from_le_bytes(bytes), ram, ctl);
            }
            ctl.stats().exits.mmio_write += 1;
            Next::Continue
        }
        VcpuExit::MmioRead(_, data) => {
            data.fill(0);
            ctl.stats().exits.mmio_read += 1;
            Next::Continue
        }
        VcpuExit::IoIn(_, data) => {
            data.fill(0xff);
            ctl.stats().exits.io_in += 1;
            Next::Continue
        }
        VcpuExit::IoOut(..) => {
            ctl.stats().exits.io_out += 1;
            Next::Continue
        }
        VcpuExit::Hlt => {
            // Not expected with the in-kernel irqchip; resume and let the watchdog decide.
            ctl.stats().exits.hlt += 1;
            Next::Continue
        }
        VcpuExit::Intr => {
            ctl.stats().exits.interrupted += 1;
            Next::Continue
        }
        VcpuExit::Shutdown => Next::End(GuestExit::TripleFault {
            vcpu: index,
            regs: None,
        }),
        VcpuExit::InternalError => Next::End(GuestExit::InternalError {
            vcpu: index,
            reason: "KVM internal error".into(),
            regs: None,
        }),
        VcpuExit::FailEntry(reason, cpu) => Next::End(GuestExit::InternalError {
            vcpu: index,
            reason: format!("KVM entry failed (hardware reason {reason:#x}, host cpu {cpu})"),
            regs: None,
        }),
        other => {
            ctl.stats().exits.other += 1;
            Next::End(GuestExit::InternalError {
                vcpu: index,
                reason: format!("unexpected VM exit {other:?}"),
                regs: None,
            })
        }
    }
}

fn hypercall_exit(offset: u64, block: u64, ram: &GuestRam, ctl: &RunControl) -> Next {
    let outcome = hypercall::dispatch(ram, offset, block);
    let elapsed = ctl.start.elapsed();
    let exits_before;
    {
        let mut stats = ctl.stats();
        exits_before = stats.exits.total();
        match Call::from_doorbell_offset(offset) {
            Some(Call::ConsoleWrite) => stats.exits.console_write += 1,
            Some(Call::Shutdown) => stats.exits.shutdown += 1,
            Some(Call::BootProgress) => stats.exits.boot_progress += 1,
            None => stats.exits.unknown_call += 1,
        }
        if outcome.rejected() {
            stats.rejected_hypercalls += 1;
        }
        stats.hypercall_statuses.count(&outcome);
        if let Outcome::Answered {
            request: Some(Request::BootProgress { marker, .. }),
            ..
        } = &outcome
        {
            let slot = match marker {
                BootMarker::KernelEntered => &mut stats.kernel_entered,
                BootMarker::KernelReady => &mut stats.kernel_ready,
                BootMarker::UserModeEntered => &mut stats.user_mode_entered,
            };
            slot.get_or_insert(elapsed);
        }
    }
    let Outcome::Answered {
        request: Some(request),
        ..
    } = outcome
    else {
        return Next::Continue;
    };
    match request {
        Request::ConsoleWrite(bytes) => {
            ctl.console(&bytes, exits_before);
            Next::Continue
        }
        Request::Shutdown(ShutdownRequest::Exit(status)) => Next::End(GuestExit::Exited(status)),
        Request::Shutdown(ShutdownRequest::BugCheck { code, parameters }) => {
            Next::End(GuestExit::BugCheck { code, parameters })
        }
        Request::BootProgress { .. } => Next::Continue,
    }
}
