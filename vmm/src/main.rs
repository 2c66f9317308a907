//! The `vmm` binary: parses the command line, runs the library and maps the result to an
//! exit status and messages on stderr.

use std::process::ExitCode;

use clap::Parser;
use vmm::cli::{Cli, Command, MkimageArgs, RunArgs};
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
