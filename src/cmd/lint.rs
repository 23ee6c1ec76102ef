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
    let remote = config.remote(&args.remote.choice());
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
        remote: Some(remote.clone()),
        project_dirs,
        ..LoadOptions::default()
    };
    let report = match crate::project::prepare::lint(file, &config, &args.component_dir, options) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let out = match args.format {
        _ if args.list_includes => listing(&remote.resolutions(), args.format),
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

/// What each network include resolved to, one per line (`KIND LOCATION RESOLVED AT`, tab
/// separated, a file a user can commit and diff) or as JSON.
fn listing(resolved: &[crate::load::remote::Resolution], format: Format) -> String {
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = resolved
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "kind": r.kind,
                        "location": r.location,
                        "resolved": r.resolved,
                        "at": r.at,
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(items))
        }
        Format::Human => resolved
            .iter()
            .map(|r| format!("{}\t{}\t{}\t{}\n", r.kind, r.location, r.resolved, r.at))
            .collect(),
    }
}
