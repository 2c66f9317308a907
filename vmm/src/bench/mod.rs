//! `vmm bench`: boots the image with the guest `bench` program once per metric, parses the
//! TSC samples it prints, counts the VM exits of each measured loop, runs the matching host
//! baselines in this process and gathers everything in a [`Report`].
//!
//! The guest brackets each measured loop (warm-up included) with a `bench-begin NAME` and a
//! `bench-end NAME` console line. Each line is one console exit of its own, and a captured
//! run records the exit count at every console write ([`crate::ConsoleMark`]), so the
//! exits of the loop are `exits_before(end) - exits_before(begin) - 1`. It must be 0.
//!
//! Before the metrics, one more boot runs `bench floors`, which prints the platform's own
//! costs ([`PlatformCosts`]): each guest metric's floor is built from them. The floor of
//! `boot_to_exit` is the wall time of the smallest guest booted the same way ([`floor`]),
//! timed in runs taken in turn with those of `hello`.

pub mod floor;
pub mod host;
pub mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use report::{Boot, BootFloor, Floors, Machine, Metric, Report, Summary};

use crate::{ConsoleMark, ConsoleSink, GuestExit, PvmMode, RunConfig, RunOutcome};

/// Where a metric's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The guest `bench` program, against a host baseline; `ops_per_sample` operations per
    /// sample (a round trip is two switches or two yields).
    Guest { ops_per_sample: u32 },
    /// The VMM's own wall clock around `vmm::run` of `hello`; no host baseline.
    BootToExit,
}

/// The metrics, in the order they run and print (the names are the public interface).
pub const METRICS: &[(&str, Source)] = &[
    ("null_syscall", Source::Guest { ops_per_sample: 1 }),
    ("thread_switch", Source::Guest { ops_per_sample: 2 }),
    ("process_switch", Source::Guest { ops_per_sample: 2 }),
    ("thread_create_exit", Source::Guest { ops_per_sample: 1 }),
    ("process_create_exit", Source::Guest { ops_per_sample: 1 }),
    ("yield", Source::Guest { ops_per_sample: 2 }),
    ("boot_to_exit", Source::BootToExit),
];

/// Most `boot_to_exit` runs (each boots a VM).
pub const MAX_BOOT_RUNS: u32 = 20;
/// Most samples per metric (the guest's buffer).
pub const MAX_ITERATIONS: u32 = 100_000;
/// Default samples per metric.
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// What `vmm bench` measures and how.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub image: PathBuf,
    /// vCPUs of the guest (the benchmark threads run wherever its dispatcher puts them).
    pub cpus: u32,
    /// Samples per metric, after a warm-up of `iterations / 10 + 10` untimed rounds.
    pub iterations: u32,
    /// Metrics to run; empty runs all.
    pub only: Vec<String>,
    pub pvm_mode: PvmMode,
}

impl BenchConfig {
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            cpus: 1,
            iterations: DEFAULT_ITERATIONS,
            only: Vec::new(),
            pvm_mode: PvmMode::Native,
        }
    }
}

/// Why a bench could not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown metric '{0}' (known: {known})", known = names().join(", "))]
    UnknownMetric(String),
    #[error("--iterations must be 1..={MAX_ITERATIONS}, not {0}")]
    Iterations(u32),
    #[error("{metric}: cannot run the guest")]
    Run {
        metric: String,
        #[source]
        source: crate::Error,
    },
    #[error("{metric}: the guest run ended badly: {exit}\n{console}")]
    Guest {
        metric: String,
        exit: Box<GuestExit>,
        console: String,
    },
    #[error("{metric}: bad guest output: {why}\n{console}")]
    Output {
        metric: String,
        why: String,
        console: String,
    },
    #[error("{metric}: host baseline")]
    Host {
        metric: String,
        #[source]
        source: host::Error,
    },
    #[error("cannot read the TSC frequency from KVM")]
    Kvm(#[source] crate::Error),
    #[error("cannot write the boot floor's image")]
    FloorImage(#[source] crate::image::Error),
}

/// Every metric name.
pub fn names() -> Vec<&'static str> {
    METRICS.iter().map(|(name, _)| *name).collect()
}

/// Warm-up rounds before `iterations` samples.
pub fn warm_up(iterations: u32) -> u32 {
    iterations / 10 + 10
}

/// Runs the bench; `progress` gets a line as each metric starts.
pub fn run(config: &BenchConfig, progress: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    if config.iterations == 0 || config.iterations > MAX_ITERATIONS {
        return Err(Error::Iterations(config.iterations));
    }
    for name in &config.only {
        if !names().contains(&name.as_str()) {
            return Err(Error::UnknownMetric(name.clone()));
        }
    }
    let (tsc_khz, is_pvm) = kvm_facts().map_err(Error::Kvm)?;
    let cpu = host::default_cpu().map_err(|source| Error::Host {
        metric: "pin".into(),
        source,
    })?;
    let mut metrics = Vec::new();
    let mut backend = None;
    let mut boot = None;
    let selected: Vec<_> = METRICS
        .iter()
        .filter(|(name, _)| config.only.is_empty() || config.only.iter().any(|o| o == name))
        .collect();
    let costs = if selected
        .iter()
        .any(|(_, source)| matches!(source, Source::Guest { .. }))
    {
        progress("bench: floors: the platform's own costs");
        let outcome = run_program(config, "floors", &["bench", "floors"])?;
        Some(parse_costs(&outcome)?)
    } else {
        None
    };
    for &&(name, source) in &selected {
        match source {
            Source::Guest { ops_per_sample } => {
                progress(&format!(
                    "bench: {name}: guest ({} samples)",
                    config.iterations
                ));
                let outcome = run_guest(config, name)?;
                backend = outcome.stats.backend;
                let measured = parse_guest(name, &outcome)?;
                let per_op = |cycles: u64| {
                    report::cycles_to_ns(cycles as f64, tsc_khz) / f64::from(ops_per_sample)
                };
                let guest: Vec<f64> = measured.samples.iter().map(|&c| per_op(c)).collect();
                progress(&format!(
                    "bench: {name}: host ({} samples)",
                    config.iterations
                ));
                let host = host::run(name, cpu, warm_up(config.iterations), guest.len()).map_err(
                    |source| Error::Host {
                        metric: name.into(),
                        source,
                    },
                )?;
                let host: Vec<f64> = host.into_iter().map(per_op).collect();
                metrics.push(Metric {
                    name: name.into(),
                    guest: report::summarize(&guest),
                    host: report::summarize(&host),
                    floor: costs
                        .and_then(|costs| costs.floor_cycles(name))
                        .map(|cycles| report::cycles_to_ns(cycles as f64, tsc_khz)),
                    iterations: guest.len() as u64,
                    exits: Some(measured.exits),
                });
            }
            Source::BootToExit => {
                let runs = config.iterations.min(MAX_BOOT_RUNS);
                progress(&format!(
                    "bench: {name}: {runs} runs of hello, {runs} of the floor guest"
                ));
                let measured = run_boots(config, runs)?;
                backend = measured.backend;
                metrics.push(Metric {
                    name: name.into(),
                    guest: report::summarize(&measured.hello.walls_ns),
                    host: None,
                    floor: report::summarize(&measured.floor.walls_ns).map(|s| s.median),
                    iterations: u64::from(runs),
                    exits: None,
                });
                let mut measured_boot = Boot::from_runs(&measured.hello.stats);
                measured_boot.floor = Some(BootFloor::from_runs(
                    &measured.floor.walls_ns,
                    &measured.floor.stats,
                ));
                boot = Some(measured_boot);
            }
        }
    }
    let boot = match boot {
        Some(boot) => boot,
        None => {
            let outcome = run_program(config, "boot", &["hello"])?;
            backend = backend.or(outcome.stats.backend);
            Boot::from_runs(std::slice::from_ref(&outcome.stats))
        }
    };
    Ok(Report {
        machine: Machine {
            cpu_model: cpu_model(),
            tsc_khz,
            cpus: config.cpus,
            kvm: if is_pvm { "kvm-pvm" } else { "kvm" }.into(),
            backend: backend.map_or_else(|| "unknown".into(), |b| b.to_string()),
        },
        metrics,
        boot,
        floors: costs.map(|costs| costs.in_ns(tsc_khz)),
    })
}

/// The runs of one guest for `boot_to_exit`: wall times and statistics.
#[derive(Debug, Default)]
struct BootRuns {
    walls_ns: Vec<f64>,
    stats: Vec<crate::Stats>,
}

/// What `boot_to_exit` measured: `hello` and the floor guest.
struct Boots {
    hello: BootRuns,
    floor: BootRuns,
    backend: Option<crate::KernelBackend>,
}

/// Boots `hello` and the floor guest `runs` times each, in turn, so that the machine's
/// load weighs on both alike. Each is timed around the whole `vmm::run`.
fn run_boots(config: &BenchConfig, runs: u32) -> Result<Boots, Error> {
    let dir = std::env::temp_dir().join(format!("vmm-bench-floor-{}", std::process::id()));
    let floor_image = dir.join("floor.img");
    std::fs::create_dir_all(&dir)
        .map_err(|source| crate::image::Error::WriteOutput {
            path: dir.clone(),
            source,
        })
        .and_then(|()| floor::write_image(&floor_image))
        .map_err(Error::FloorImage)?;
    let floor_config = BenchConfig {
        image: floor_image,
        ..config.clone()
    };
    let measure = || {
        let mut boots = Boots {
            hello: BootRuns::default(),
            floor: BootRuns::default(),
            backend: None,
        };
        for _ in 0..runs {
            for (config, metric, side) in [
                (config, "boot_to_exit", &mut boots.hello),
                (&floor_config, "boot_to_exit floor", &mut boots.floor),
            ] {
                let start = Instant::now();
                let outcome = run_program(config, metric, &[floor::PROGRAM])?;
                side.walls_ns.push(start.elapsed().as_nanos() as f64);
                boots.backend = outcome.stats.backend;
                side.stats.push(outcome.stats);
            }
        }
        Ok(boots)
    };
    let measured = measure();
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

/// The platform's costs that bound the guest metrics, in TSC cycles, as `bench floors`
/// prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformCosts {
    /// One user/supervisor round trip through the smallest kernel path: a `syscall`, the
    /// entry stub, the refusal of an unknown service, the host's direct return.
    pub round_trip: u64,
    /// Loading the user `gs` base register, which every switch to a user thread does (a
    /// trapped `wrmsr` on kvm-pvm).
    pub user_gs_base_load: u64,
    /// Saving and restoring the FPU state, which every switch between user threads does.
    pub fpu_save_restore: u64,
    /// Loading CR3, which every switch between processes does.
    pub cr3_switch: u64,
    /// Whether the guest tags translations with PCIDs, so that loading CR3 keeps them.
    pub pcids: bool,
}

impl PlatformCosts {
    /// The least a switch between two user threads can cost: one entry to the kernel, the
    /// processor state a switch must change, one return to the other thread.
    pub fn thread_switch(&self) -> u64 {
        self.round_trip + self.user_gs_base_load + self.fpu_save_restore
    }

    /// The floor of metric `name` in cycles per operation; `None` where none applies.
    /// Creating and ending a thread (process) needs at least a switch to it and one back.
    pub fn floor_cycles(&self, name: &str) -> Option<u64> {
        let process_switch = self.thread_switch() + self.cr3_switch;
        match name {
            "null_syscall" => Some(self.round_trip),
            "thread_switch" | "yield" => Some(self.thread_switch()),
            "process_switch" => Some(process_switch),
            "thread_create_exit" => Some(2 * self.thread_switch()),
            "process_create_exit" => Some(2 * process_switch),
            _ => None,
        }
    }

    pub fn in_ns(&self, tsc_khz: u32) -> Floors {
        let ns = |cycles: u64| report::cycles_to_ns(cycles as f64, tsc_khz);
        Floors {
            round_trip_ns: ns(self.round_trip),
            user_gs_base_load_ns: ns(self.user_gs_base_load),
            fpu_save_restore_ns: ns(self.fpu_save_restore),
            cr3_switch_ns: ns(self.cr3_switch),
            pcids: self.pcids,
        }
    }
}

/// Parses the `bench-floors` line of a `bench floors` run.
fn parse_costs(outcome: &RunOutcome) -> Result<PlatformCosts, Error> {
    let console = outcome.console_text();
    parse_costs_line(&console).map_err(|why| Error::Output {
        metric: "floors".into(),
        why,
        console: console.clone(),
    })
}

fn parse_costs_line(console: &str) -> Result<PlatformCosts, String> {
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix("bench-floors "))
        .ok_or("no 'bench-floors' line")?;
    let value = |key: &str| {
        line.split_ascii_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| format!("no {key} in '{line}'"))?
            .parse::<u64>()
            .map_err(|_| format!("bad {key} in '{line}'"))
    };
    Ok(PlatformCosts {
        round_trip: value("round_trip")?,
        user_gs_base_load: value("user_gs_base_load")?,
        fpu_save_restore: value("fpu_save_restore")?,
        cr3_switch: value("cr3_switch")?,
        pcids: value("pcids")? != 0,
    })
}

/// KVM_GET_TSC_KHZ of a scratch vCPU, and whether /dev/kvm is kvm-pvm.
fn kvm_facts() -> Result<(u32, bool), crate::Error> {
    let kvm = crate::vstate::vm::KvmSystem::open()?;
    let vm = kvm.create_vm(1)?;
    let vcpu = vm.create_vcpu(0)?;
    let khz = crate::vstate::vcpu::tsc_khz(&vcpu)?;
    Ok((khz, kvm.is_pvm()))
}

/// The host CPU's model name from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn run_program(config: &BenchConfig, metric: &str, program: &[&str]) -> Result<RunOutcome, Error> {
    let run = RunConfig {
        cpus: config.cpus,
        program: Some(program.iter().map(|s| s.to_string()).collect()),
        console: ConsoleSink::Capture,
        pvm_mode: config.pvm_mode,
        timeout: Duration::from_secs(60) + sample_budget(config.pvm_mode) * config.iterations,
        ..RunConfig::new(&config.image)
    };
    let outcome = crate::run(&run).map_err(|source| Error::Run {
        metric: metric.into(),
        source,
    })?;
    if outcome.exit != GuestExit::Exited(abi::NtStatus::SUCCESS) {
        return Err(Error::Guest {
            metric: metric.into(),
            exit: Box::new(outcome.exit.clone()),
            console: outcome.console_text(),
        });
    }
    Ok(outcome)
}

/// Generous time for one sample (warm-up included): the slowest metric is process creation,
/// about 1.3 ms natively and 72 ms with kernel code emulated in bootstrap mode.
fn sample_budget(pvm_mode: PvmMode) -> Duration {
    match pvm_mode {
        PvmMode::Native => Duration::from_millis(2),
        PvmMode::Bootstrap => Duration::from_millis(150),
    }
}

fn run_guest(config: &BenchConfig, name: &str) -> Result<RunOutcome, Error> {
    let iterations = config.iterations.to_string();
    run_program(config, name, &["bench", &iterations, name])
}

/// One metric's guest output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// TSC cycles per sample.
    pub samples: Vec<u64>,
    /// Exits between the markers, their own excluded.
    pub exits: u64,
}

/// Parses metric `name`'s markers and samples from a captured run.
pub fn parse_guest(name: &str, outcome: &RunOutcome) -> Result<Measured, Error> {
    parse_output(name, &outcome.console, &outcome.stats.console_marks).map_err(|why| {
        Error::Output {
            metric: name.into(),
            why,
            console: outcome.console_text(),
        }
    })
}

/// The exit count before the console write that starts exactly at `line`'s first byte.
fn mark_of(console: &[u8], marks: &[ConsoleMark], line: &str) -> Result<u64, String> {
    let offset = find_line(console, line).ok_or_else(|| format!("no '{line}' line"))?;
    marks
        .iter()
        .find(|m| m.offset == offset)
        .map(|m| m.exits_before)
        .ok_or_else(|| format!("'{line}' did not start a console write of its own"))
}

/// Byte offset of the line `line` (whole line) in `console`.
fn find_line(console: &[u8], line: &str) -> Option<usize> {
    let mut offset = 0;
    for text in console.split(|&b| b == b'\n') {
        if text == line.as_bytes() {
            return Some(offset);
        }
        offset += text.len() + 1;
    }
    None
}

fn parse_output(name: &str, console: &[u8], marks: &[ConsoleMark]) -> Result<Measured, String> {
    let text = String::from_utf8_lossy(console);
    if let Some(line) = text
        .lines()
        .find(|l| l.starts_with(&format!("bench-error {name} ")))
    {
        return Err(format!("the guest reported '{line}'"));
    }
    let begin = mark_of(console, marks, &format!("bench-begin {name}"))?;
    let end = mark_of(console, marks, &format!("bench-end {name}"))?;
    let exits = end
        .checked_sub(begin + 1)
        .ok_or("the end marker came before the begin marker")?;
    let prefix = format!("bench {name} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .ok_or_else(|| format!("no '{prefix}...' line"))?;
    let mut words = line[prefix.len()..].split_ascii_whitespace();
    let count: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or("no sample count")?;
    let samples = words
        .map(|w| w.parse::<u64>().map_err(|_| format!("bad sample '{w}'")))
        .collect::<Result<Vec<_>, _>>()?;
    if samples.len() != count {
        return Err(format!("{} samples, {count} announced", samples.len()));
    }
    Ok(Measured { samples, exits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(offset: usize, exits_before: u64) -> ConsoleMark {
        ConsoleMark {
            offset,
            exits_before,
        }
    }

    #[test]
    fn output_gives_samples_and_exits_between_markers() {
        let console = b"hi\nbench-begin yield\nbench-end yield\nbench yield 3 10 20 30\n";
        // "hi" at 0, begin at 3, end at 21, samples at 37.
        let marks = [mark(0, 3), mark(3, 4), mark(21, 5), mark(37, 6)];
        let measured = parse_output("yield", console, &marks).unwrap();
        assert_eq!(measured.samples, [10, 20, 30]);
        assert_eq!(measured.exits, 0);
        let noisy = [mark(0, 3), mark(3, 4), mark(21, 9), mark(37, 10)];
        assert_eq!(parse_output("yield", console, &noisy).unwrap().exits, 4);
    }

    #[test]
    fn bad_output_is_an_error() {
        let marks = [mark(0, 1), mark(18, 2)];
        let short = b"bench-begin yield\nbench-end yield\nbench yield 3 10 20\n";
        assert!(parse_output("yield", short, &marks).is_err());
        let unmarked = b"bench-begin yield\nbench-end yield\nbench yield 1 10\n";
        assert!(parse_output("yield", unmarked, &[mark(0, 1)]).is_err());
        let failed = b"bench-begin yield\nbench-end yield\nbench-error yield 0xc0000001\n";
        assert!(
            parse_output("yield", failed, &marks)
                .unwrap_err()
                .contains("bench-error")
        );
        assert!(parse_output("null_syscall", short, &marks).is_err());
    }

    #[test]
    fn floors_are_built_from_the_platform_costs() {
        let costs = parse_costs_line(
            "hi\nbench-floors round_trip=1000 user_gs_base_load=5000 fpu_save_restore=100 cr3_switch=8000 pcids=1\n",
        )
        .unwrap();
        assert_eq!(costs.floor_cycles("null_syscall"), Some(1000));
        assert_eq!(costs.floor_cycles("thread_switch"), Some(6100));
        assert_eq!(costs.floor_cycles("yield"), Some(6100));
        assert_eq!(costs.floor_cycles("process_switch"), Some(14_100));
        assert_eq!(costs.floor_cycles("thread_create_exit"), Some(12_200));
        assert_eq!(costs.floor_cycles("process_create_exit"), Some(28_200));
        assert_eq!(costs.floor_cycles("boot_to_exit"), None);
        assert_eq!(costs.in_ns(2_000_000).round_trip_ns, 500.0);
        assert!(costs.pcids);
        assert!(parse_costs_line("bench-floors round_trip=1000").is_err());
        assert!(
            parse_costs_line(
                "bench-floors round_trip=x user_gs_base_load=1 fpu_save_restore=1 cr3_switch=1 pcids=0"
            )
            .is_err()
        );
        assert!(parse_costs_line("nothing").is_err());
    }

    #[test]
    fn metric_names_are_the_issue_ones() {
        assert_eq!(
            names(),
            [
                "null_syscall",
                "thread_switch",
                "process_switch",
                "thread_create_exit",
                "process_create_exit",
                "yield",
                "boot_to_exit"
            ]
        );
        assert_eq!(warm_up(200), 30);
    }
}
