//! The `gantry` binary: parses arguments, dispatches, maps outcomes to exit codes
//! (0 valid / success, 1 invalid pipeline, 2 usage or I/O error).

use clap::Parser;
use gantry::cli::{Cli, Command, Format, LintArgs};
use gantry::load::LoadOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Lint(args) => lint(&cli.file, args),
        Command::Schema => {
            println!("{}", gantry::schema::generate());
            ExitCode::SUCCESS
        }
    }
}

fn lint(file: &Path, args: &LintArgs) -> ExitCode {
    let options = LoadOptions {
        template_dir: args.template_dir.clone(),
        ..LoadOptions::default()
    };
    let report = match gantry::lint::lint_file(file, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gantry: {e}");
            return ExitCode::from(2);
        }
    };
    let out = match args.format {
        Format::Json => gantry::report::lint::json(&report, args.strict),
        Format::Human => {
            let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal();
            gantry::report::lint::human(&report, &file.display().to_string(), args.strict, color)
        }
    };
    print!("{out}");
    if report.is_valid(args.strict) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
