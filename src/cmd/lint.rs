//! `gantry lint`.

use super::{INVALID, color, usage_error};
use crate::cli::{Format, LintArgs};
use crate::load::LoadOptions;
use crate::project::config::ProjectConfig;
use std::path::Path;
use std::process::ExitCode;

/// Lints `file` and prints the report.
pub fn lint(file: &Path, args: &LintArgs) -> ExitCode {
    let project = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A config file that cannot be read fails lint as it would fail `run`.
    let config = match ProjectConfig::load(project) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let project_dirs = match args
        .project_dir
        .iter()
        .map(|o| crate::load::component::parse_dir_option(o))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(d) => d,
        Err(e) => return usage_error(e),
    };
    let options = LoadOptions {
        template_dir: args.template_dir.clone(),
        project_dirs,
        ..LoadOptions::default()
    };
    let report = match crate::project::prepare::lint(file, &config, &args.component_dir, options) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let out = match args.format {
        Format::Json => crate::report::lint::json(&report, args.strict),
        Format::Human => {
            crate::report::lint::human(&report, &file.display().to_string(), args.strict, color())
        }
    };
    print!("{out}");
    if report.is_valid(args.strict) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}
