//! The `vmm` library: boots guest.img on KVM and serves its hypercalls ([`run`]), and
//! writes images ([`image::write_image`]).
//!
//! ```no_run
//! let mut config = vmm::RunConfig::new("target/guest.img");
//! config.program = Some(vec!["exit".into(), "42".into()]);
//! config.console = vmm::ConsoleSink::Capture;
//! let outcome = vmm::run(&config).unwrap();
//! assert_eq!(outcome.exit, vmm::GuestExit::Exited(abi::NtStatus(42)));
//! ```

pub mod bench;
pub mod boot;
pub mod cli;
pub mod cmdline;
pub mod hypercall;
pub mod image;
pub mod memory;
pub mod stats;
pub mod vstate;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use stats::{ConsoleMark, ExitCounts, Phase, Stats};
pub use vstate::vcpu::{ConsoleSink, GuestExit, Registers};

use image::Image;
use memory::GuestRam;
use stats::StepClock;
use vstate::vcpu::{self as vcpu_mod, RunControl};
use vstate::vm::KvmSystem;

/// `vmm run` exit code when the watchdog stopped the guest.
pub const EXIT_TIMEOUT: u8 = 124;
/// `vmm run` exit code for a VMM error: bad arguments, bad image, no /dev/kvm.
pub const EXIT_VMM_ERROR: u8 = 125;
/// `vmm run` exit code for a guest crash: bugcheck, triple fault, KVM internal error.
pub const EXIT_GUEST_CRASH: u8 = 126;
/// `vmm run` exit code for a program exit status outside 0..=255.
pub const EXIT_LARGE_STATUS: u8 = 1;

/// Default guest RAM (256 MiB).
pub const DEFAULT_MEMORY: u64 = 256 << 20;
/// Default watchdog timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most vCPUs a guest may have (APIC ids must fit in 8 bits for the boot CPUID).
pub const MAX_CPUS: u32 = 255;

/// What to run and how.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// guest.img.
    pub image: PathBuf,
    /// Number of vCPUs (1..=MAX_CPUS).
    pub cpus: u32,
    /// Guest RAM in bytes: a multiple of 2 MiB, 8 MiB..=63 GiB.
    pub memory: u64,
    /// The watchdog ends the run with [`GuestExit::Timeout`] after this long.
    pub timeout: Duration,
    /// Program name and arguments; `None` (or empty) runs boot.cfg's default program.
    pub program: Option<Vec<String>>,
    /// Where ConsoleWrite output goes.
    pub console: ConsoleSink,
    /// On a kvm-pvm host, whether the kernel runs natively ([`PvmMode::Native`]) or in the
    /// host's bootstrap mode, where kernel code is emulated. Ignored on hardware KVM.
    pub pvm_mode: PvmMode,
}

/// How the kernel runs on a kvm-pvm host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PvmMode {
    /// Natively at hardware CPL 3, with the VIF page registered by the VMM and the host's
    /// KPTI mode: user mode runs on its own PML4, which maps only the kernel's entry area.
    /// If the host refuses the VIF page, the run falls back to bootstrap mode.
    Native,
    /// In the host's bootstrap mode: every kernel instruction emulated.
    Bootstrap,
}

/// Which kernel backend a run used, as `--stats` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelBackend {
    /// Hardware KVM (VMX/SVM): the plain x86-64 kernel.
    Plain,
    /// kvm-pvm, kernel emulated in the host's bootstrap mode.
    PvmBootstrap,
    /// kvm-pvm, kernel native at hardware CPL 3.
    PvmNative,
}

impl fmt::Display for KernelBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain x86-64 (hardware KVM)",
            Self::PvmBootstrap => "kvm-pvm bootstrap (kernel emulated)",
            Self::PvmNative => "kvm-pvm native",
        })
    }
}

impl RunConfig {
    /// One vCPU, 256 MiB, 30 s, the default program, console on stdout.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            cpus: 1,
            memory: DEFAULT_MEMORY,
            timeout: DEFAULT_TIMEOUT,
            program: None,
            console: ConsoleSink::Stdout,
            pvm_mode: PvmMode::Native,
        }
    }
}

/// How a run ended, what the guest printed (when captured) and the statistics.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub exit: GuestExit,
    /// Console output when [`ConsoleSink::Capture`] was used; empty otherwise.
    pub console: Vec<u8>,
    pub stats: Stats,
}

impl RunOutcome {
    /// The console output as text (invalid UTF-8 replaced).
    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console).into_owned()
    }

    /// The `vmm run` process exit code for this outcome.
    pub fn exit_code(&self) -> u8 {
        match &self.exit {
            GuestExit::Exited(status) => u8::try_from(status.0).unwrap_or(EXIT_LARGE_STATUS),
            GuestExit::Timeout(_) => EXIT_TIMEOUT,
            GuestExit::BugCheck { .. }
            | GuestExit::TripleFault { .. }
            | GuestExit::InternalError { .. } => EXIT_GUEST_CRASH,
        }
    }
}

/// The `vmm run` process exit code for a run's result.
pub fn exit_code(result: &Result<RunOutcome, Error>) -> u8 {
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(_) => EXIT_VMM_ERROR,
    }
}

/// Why a run could not start (guest failures are [`GuestExit`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("kvm-pvm accepted vCPU 0's VIF page but refused vCPU {0}'s")]
    PvmVifRefused(u32),
    #[error("image {path}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::Error,
    },
    #[error("program '{name}' not found in image (available: {available})")]
    ProgramNotFound { name: String, available: String },
    #[error(transparent)]
    Memory(#[from] memory::Error),
    #[error(transparent)]
    Boot(#[from] boot::Error),
    #[error(transparent)]
    Vm(#[from] vstate::vm::Error),
    #[error(transparent)]
    Vcpu(#[from] vcpu_mod::Error),
    #[error("no vCPU ran")]
    NoVcpuRan,
}

/// Boots the image in `config` and runs it until it shuts down, crashes or times out.
pub fn run(config: &RunConfig) -> Result<RunOutcome, Error> {
    let start = Instant::now();
    if config.cpus == 0 || config.cpus > MAX_CPUS {
        return Err(Error::Config(format!(
            "--cpus must be 1..={MAX_CPUS}, not {}",
            config.cpus
        )));
    }
    if config.timeout.is_zero() {
        return Err(Error::Config("--timeout must be above zero".into()));
    }
    memory::ram_ranges(config.memory)?;

    // Everything about the image is checked before a VM exists.
    let image = Image::open(&config.image).map_err(|source| Error::Image {
        path: config.image.clone(),
        source,
    })?;
    let contents = &image.contents;
    let words: &[String] = config.program.as_deref().unwrap_or(&[]);
    let name = words.first().unwrap_or(&contents.default_program);
    if contents.find_program(name).is_none() {
        return Err(Error::ProgramNotFound {
            name: name.clone(),
            available: contents.program_names().join(", "),
        });
    }
    let command_line = cmdline::join(words);
    let mut steps = StepClock::new(start);
    steps.mark("open image");

    let kvm = KvmSystem::open()?;
    let signal = vcpu_mod::kick_signal()?;
    let supported_cpuid = kvm.supported_cpuid()?;
    steps.mark("open /dev/kvm");
    let ram = GuestRam::new(config.memory)?;
    steps.mark("allocate RAM");
    let entry = boot::load_kernel(&ram, &contents.kernel, image.data(contents.kernel_entry()))?;
    let image_len = image.len() as u64;
    boot::write_gdt(&ram)?;
    let command_line = boot::write_command_line(&ram, &command_line)?;
    steps.mark("load kernel");

    let mut vm = kvm.create_vm(config.cpus)?;
    steps.mark("create VM");
    vm.register_memory(&ram, &image)?;
    steps.mark("register memory");
    vm.create_irqchip()?;
    steps.mark("create irqchip");
    let mut vcpus = Vec::new();
    let mut backend = if kvm.is_pvm() {
        match config.pvm_mode {
            PvmMode::Native => KernelBackend::PvmNative,
            PvmMode::Bootstrap => KernelBackend::PvmBootstrap,
        }
    } else {
        KernelBackend::Plain
    };
    for index in 0..config.cpus {
        let vcpu = vm.create_vcpu(index)?;
        vcpu_mod::configure(
            &vcpu,
            index,
            &vcpu_mod::cpuid_for(&supported_cpuid, index),
            entry,
        )?;
        if backend == KernelBackend::PvmNative && !vcpu_mod::register_pvm_vif(&vcpu, index)? {
            // Every vCPU runs the same way: a refusal after the first would leave them split.
            if index > 0 {
                return Err(Error::PvmVifRefused(index));
            }
            backend = KernelBackend::PvmBootstrap;
        }
        vcpus.push(vcpu);
    }
    steps.mark("create vCPUs");
    boot::write_page_tables(&ram, image_len, backend == KernelBackend::PvmNative)?;
    let tsc_khz = vcpu_mod::tsc_khz(&vcpus[0])?;
    let kernel = boot::kernel_range(&contents.kernel);
    let map = boot::memory_map(ram.ranges(), kernel, image_len)?;
    let platform_flags = match backend {
        KernelBackend::Plain => 0,
        KernelBackend::PvmBootstrap => abi::boot::PLATFORM_KVM_PVM,
        KernelBackend::PvmNative => abi::boot::PLATFORM_KVM_PVM | abi::boot::PLATFORM_PVM_NATIVE,
    };
    let info = boot::boot_info(
        platform_flags,
        config.cpus,
        u64::from(tsc_khz),
        image_len,
        command_line,
        kernel,
        &map,
    );
    boot::write_boot_info(&ram, &info)?;
    steps.mark("page tables, BootInfo");

    let pvm_vif = backend == KernelBackend::PvmNative;
    let ctl = RunControl::new(start, signal, config.cpus, config.console);
    let spawned = std::thread::scope(|scope| {
        let mut result = Ok(());
        for (index, vcpu) in vcpus.into_iter().enumerate() {
            ctl.thread_starting();
            let (ctl, ram) = (&ctl, &ram);
            let spawned = std::thread::Builder::new()
                .name(format!("vcpu{index}"))
                .spawn_scoped(scope, move || {
                    vcpu_mod::run_vcpu(vcpu, index as u32, pvm_vif, ram, ctl);
                });
            if let Err(e) = spawned {
                // Undo the count for the thread that never started, then stop the rest.
                ctl.thread_failed();
                result = Err(vcpu_mod::Error::Thread(e));
                break;
            }
        }
        if result.is_ok() {
            ctl.wait(config.timeout);
        }
        ctl.stop_all();
        result
    });
    steps.mark("stop vCPUs");
    drop(vm);
    steps.mark("destroy VM");
    drop(ram);
    drop(image);
    steps.mark("free memory");
    spawned?;
    let (exit, console, mut stats) = ctl.into_parts();
    stats.backend = Some(backend);
    stats.host_steps = steps.into_steps();
    Ok(RunOutcome {
        exit: exit.ok_or(Error::NoVcpuRan)?,
        console,
        stats,
    })
}

/// An error and its sources, joined by ": " (what `vmm` prints after "vmm: ").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
