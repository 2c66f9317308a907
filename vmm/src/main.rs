//! The `vmm` binary: parses the command line, runs the library and maps the result to an
//! exit status and messages on stderr.

use std::process::ExitCode;

use clap::Parser;
use vmm::cli::{BenchArgs, Cli, Command, MkimageArgs, RunArgs};
use vmm::{EXIT_VMM_ERROR, GuestExit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_VMM_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run(args) => run(&args),
        Command::Mkimage(args) => mkimage(&args),
        Command::Bench(args) => bench(&args),
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let result = vmm::run(&args.config());
    match &result {
        Ok(outcome) => {
            match &outcome.exit {
                GuestExit::Exited(status) if status.0 <= 255 => {}
                other => eprintln!("vmm: {other}"),
            }
            if args.stats {
                eprintln!("{}", outcome.stats);
            }
        }
        Err(e) => eprintln!("vmm: {}", vmm::error_chain(e)),
    }
    ExitCode::from(vmm::exit_code(&result))
}

fn mkimage(args: &MkimageArgs) -> ExitCode {
    match vmm::image::write_image(&args.kernel, &args.default, &args.programs, &args.output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmm: mkimage: {}", vmm::error_chain(&e));
            ExitCode::from(EXIT_VMM_ERROR)
        }
    }
}

fn bench(args: &BenchArgs) -> ExitCode {
    let Some(config) = args.config() else {
        eprintln!("vmm: bench: no IMAGE given and no guest.img next to this binary's directory");
        return ExitCode::from(EXIT_VMM_ERROR);
    };
    let report = match vmm::bench::run(&config, &mut |line| eprintln!("{line}")) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("vmm: bench: {}", vmm::error_chain(&e));
            return ExitCode::from(EXIT_VMM_ERROR);
        }
    };
    print!("{report}");
    let outputs = [
        (&args.json, report.to_json()),
        (&args.plot, vmm::bench::report::svg(&report)),
    ];
    for (path, text) in outputs {
        if let Some(path) = path
            && let Err(e) = std::fs::write(path, text)
        {
            eprintln!("vmm: bench: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_VMM_ERROR);
        }
    }
    let noisy = report.exits_seen();
    if noisy.is_empty() {
        ExitCode::SUCCESS
    } else {
        for metric in noisy {
            eprintln!(
                "vmm: bench: {}: {} VM exit(s) during the measured loop (must be 0)",
                metric.name,
                metric.exits.unwrap_or(0)
            );
        }
        ExitCode::from(1)
    }
}
