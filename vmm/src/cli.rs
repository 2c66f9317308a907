//! Command-line interface: `vmm run`, `vmm bench` and `vmm mkimage` arguments and their value parsers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{ConsoleSink, PvmMode, RunConfig};

/// A KVM virtual machine monitor that boots the NT-style kernel in guest.img.
#[derive(Debug, Parser)]
#[command(name = "vmm", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot IMAGE and run a program in it.
    ///
    /// Exit status: the program's exit status when it is 0..=255, 1 for any other NTSTATUS
    /// (printed on stderr), 124 timeout, 125 VMM error (bad arguments or image, no
    /// /dev/kvm), 126 guest crash (bugcheck, triple fault, KVM internal error).
    Run(RunArgs),
    /// Write a guest.img (ustar): the kernel, boot.cfg and System32/<program>.
    Mkimage(MkimageArgs),
    /// Measure system calls, thread and process switches, yields, thread and process
    /// creation and boot in the guest beside the same operations on the host, and print one
    /// table.
    ///
    /// Exit status: 0, 1 when a measured loop saw a VM exit, 125 when the bench could not
    /// run (bad arguments or image, a guest failure).
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// guest.img to boot (default: guest.img in the target directory holding this binary,
    /// i.e. target/guest.img for target/release/vmm).
    pub image: Option<PathBuf>,
    /// Number of vCPUs of the guest.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::MAX_CPUS)))]
    pub cpus: u32,
    /// Samples per metric (after a warm-up of a tenth more); boot_to_exit boots at most
    /// 20 times.
    #[arg(long, default_value_t = crate::bench::DEFAULT_ITERATIONS, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::bench::MAX_ITERATIONS)))]
    pub iterations: u32,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also draw the latency distributions as an SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Run only these metrics (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,
    /// On a kvm-pvm host: run the kernel natively (the default: the figures mean nothing
    /// with kernel code emulated), or in the host's bootstrap mode.
    #[arg(long, value_enum, default_value = "native")]
    pub pvm: PvmMode,
}

impl BenchArgs {
    /// The bench configuration; `None` when no image was named and none is next to the
    /// binary.
    pub fn config(&self) -> Option<crate::bench::BenchConfig> {
        let image = self.image.clone().or_else(default_image)?;
        Some(crate::bench::BenchConfig {
            image,
            cpus: self.cpus,
            iterations: self.iterations,
            only: self.only.clone(),
            pvm_mode: self.pvm,
        })
    }
}

/// guest.img in the target directory of the running binary (target/release/vmm ->
/// target/guest.img), when it exists.
pub fn default_image() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let image = exe.parent()?.parent()?.join("guest.img");
    image.is_file().then_some(image)
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// guest.img to boot.
    pub image: PathBuf,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::MAX_CPUS)))]
    pub cpus: u32,
    /// Guest RAM: bytes or with a K, M or G suffix (a multiple of 2M).
    #[arg(long, default_value = "256M", value_parser = parse_memory_size)]
    pub memory: u64,
    /// Stop the guest after this many seconds.
    #[arg(long, default_value = "30", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Print boot timings and VM exit counts on stderr after the run.
    #[arg(long)]
    pub stats: bool,
    /// On a kvm-pvm host: run the kernel natively (the default), or emulated in the host's
    /// bootstrap mode (about 30 times slower).
    #[arg(long, value_enum, default_value = "native")]
    pub pvm: PvmMode,
    /// Program to run (default: boot.cfg's) and its arguments, after `--`.
    #[arg(last = true, value_name = "PROGRAM")]
    pub program: Vec<String>,
}

impl RunArgs {
    /// The library configuration for these arguments, with the console on stdout.
    pub fn config(&self) -> RunConfig {
        RunConfig {
            image: self.image.clone(),
            cpus: self.cpus,
            memory: self.memory,
            timeout: self.timeout,
            program: (!self.program.is_empty()).then(|| self.program.clone()),
            console: ConsoleSink::Stdout,
            pvm_mode: self.pvm,
        }
    }
}

#[derive(Debug, Args)]
pub struct MkimageArgs {
    /// Kernel ELF.
    #[arg(long)]
    pub kernel: PathBuf,
    /// Program run when none is named (e.g. `hello`).
    #[arg(long)]
    pub default: String,
    /// Image to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Programs (and DLLs) to put in System32/.
    #[arg(required = true)]
    pub programs: Vec<PathBuf>,
}

/// Parses a memory size: `268435456`, `256M`, `256MiB`, `1G`, `512k`.
pub fn parse_memory_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "'{text}' is not a size (expected e.g. 256M, 1G or a byte count)"
        ));
    }
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{suffix}' (use K, M or G)"
            ));
        }
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is too large"))?;
    let bytes = value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))?;
    crate::memory::ram_ranges(bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Parses a timeout in seconds (fractions allowed), above zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("the timeout must be above zero".into());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("256M"), Ok(256 << 20));
        assert_eq!(parse_memory_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_memory_size("1G"), Ok(1 << 30));
        assert_eq!(parse_memory_size("1g"), Ok(1 << 30));
        assert_eq!(parse_memory_size("16384K"), Ok(16 << 20));
        assert_eq!(parse_memory_size("268435456"), Ok(256 << 20));
        assert_eq!(parse_memory_size("4G"), Ok(4 << 30));
        for bad in [
            "",
            "M",
            "12Q",
            "-1G",
            "1.5G",
            "99999999999999999999G",
            "1M",
            "100G",
            "255M",
        ] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "NaN", "inf", "1e300"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_arguments() {
        let cli = Cli::try_parse_from([
            "vmm", "run", "g.img", "--cpus", "2", "--memory", "1G", "--stats", "--", "exit", "42",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.config();
        assert_eq!(config.cpus, 2);
        assert_eq!(config.memory, 1 << 30);
        assert!(args.stats);
        assert_eq!(config.program, Some(vec!["exit".into(), "42".into()]));
        assert!(Cli::try_parse_from(["vmm", "run", "g.img", "--memory", "lots"]).is_err());
        assert!(Cli::try_parse_from(["vmm", "run", "g.img", "--cpus", "0"]).is_err());
    }

    #[test]
    fn bench_arguments() {
        let cli = Cli::try_parse_from([
            "vmm",
            "bench",
            "g.img",
            "--iterations",
            "200",
            "--only",
            "yield,null_syscall",
            "--json",
            "out.json",
        ])
        .unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("not bench")
        };
        let config = args.config().unwrap();
        assert_eq!(config.iterations, 200);
        assert_eq!(config.only, ["yield", "null_syscall"]);
        assert_eq!(config.image, PathBuf::from("g.img"));
        assert_eq!(args.json, Some(PathBuf::from("out.json")));
        assert!(Cli::try_parse_from(["vmm", "bench", "--iterations", "0"]).is_err());
    }
}
