//! `gantry completions SHELL` and `gantry man`: both generated from the clap definition in
//! `cli.rs`, so a new subcommand or option reaches the shell and the manual without anyone
//! writing it down twice.

use super::usage_error;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use clap::CommandFactory;
use std::io::Write;
use std::process::ExitCode;

/// Prints the completion script for `args.shell` on standard output.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut command = Cli::command();
    // Generated into memory first: clap_complete panics on a failed write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "gantry", &mut script);
    print(&script)
}

/// Prints one manual page holding every subcommand's synopsis and options (what
/// `gantry man > gantry.1; man ./gantry.1` wants), or with `--dir` writes gantry.1 and one page
/// per subcommand (`gantry-run.1`, …) there, as a `MANPATH` directory holds them.
pub fn man(args: &ManArgs) -> ExitCode {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match &args.dir {
        Some(dir) => {
            let written =
                std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(command, dir));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(format_args!(
                    "cannot write the manual pages into {}: {e}",
                    dir.display()
                )),
            }
        }
        None => {
            let mut page = Vec::new();
            match one_page(&command, &mut page) {
                Ok(()) => print(&page),
                Err(e) => usage_error(format_args!("cannot render the manual page: {e}")),
            }
        }
    }
}

/// The root page, then a section per subcommand (nested ones too) with its synopsis,
/// description and options; their own section headings become subsections.
fn one_page(command: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    clap_mangen::Man::new(command.clone()).render(out)?;
    subcommand_sections(command, out)
}

fn subcommand_sections(command: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    for sub in command.get_subcommands() {
        let title = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
        writeln!(out, ".SH \"{}\"", title.to_uppercase())?;
        let man = clap_mangen::Man::new(sub.clone());
        let mut sections = Vec::new();
        man.render_synopsis_section(&mut sections)?;
        man.render_description_section(&mut sections)?;
        man.render_options_section(&mut sections)?;
        for line in String::from_utf8_lossy(&sections).lines() {
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(out, ".SS {heading}")?,
                None => writeln!(out, "{line}")?,
            }
        }
        subcommand_sections(sub, out)?;
    }
    Ok(())
}

/// Writes `bytes` to standard output; a closed pipe (`gantry man | head`) is no error.
fn print(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => usage_error(format_args!("cannot write to standard output: {e}")),
    }
}
