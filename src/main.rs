//! The `gantry` binary: parses arguments and dispatches to `gantry::cmd`.
//! Exit codes: 0 valid / success, 1 invalid pipeline, 2 usage or I/O error.

use clap::Parser;
use gantry::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Lint(args) => gantry::cmd::lint(&cli.file, args),
        Command::Plan(args) => gantry::cmd::plan(&cli.file, args),
        Command::Run(args) => gantry::cmd::run(&cli.file, args),
        Command::Shell(args) => gantry::cmd::shell(&cli.file, args),
        Command::Gc(args) => gantry::cmd::gc(&cli.file, args),
        Command::Serve(args) => gantry::cmd::serve(args),
        Command::Render(args) => gantry::cmd::render(args),
        Command::Env(args) => gantry::cmd::env(&cli.file, args),
        Command::Completions(args) => gantry::cmd::completions(args),
        Command::Man(args) => gantry::cmd::man(args),
        Command::Runner(args) => gantry::cmd::runner(args),
        Command::Schema => {
            println!("{}", gantry::schema::generate());
            ExitCode::SUCCESS
        }
    }
}
