//! `gantry render`: a template rendered with the process environment (inside a job: the job's
//! variables) plus `--var`, to standard output or `-o FILE`. Inside a job (`CI_PROJECT_DIR`
//! set) the template and the output must stay in the project directory, symlinks resolved.

use super::{CmdError, INVALID, usage_error};
use crate::cli::RenderArgs;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;

/// Renders `args.template`.
pub fn render(args: &RenderArgs) -> ExitCode {
    let name = args.template.display().to_string();
    let project_dir = std::env::var_os("CI_PROJECT_DIR").filter(|d| !d.is_empty());
    // Inside a job, files resolve relative to the working directory but must stay in the project.
    let confine = |path: &std::path::Path| -> Result<std::path::PathBuf, CmdError> {
        let Some(dir) = &project_dir else {
            return Ok(path.to_path_buf());
        };
        let full = std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf());
        crate::files::confine(std::path::Path::new(dir), &full).map_err(|_| CmdError::Outside {
            path: path.to_path_buf(),
        })
    };
    let source = if name == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        match confine(&args.template) {
            Ok(path) => std::fs::read_to_string(path),
            Err(e) => return usage_error(e),
        }
    };
    let source = match source {
        Ok(s) => s,
        Err(e) => return usage_error(format!("cannot read {name}: {e}")),
    };
    let mut vars: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    for kv in &args.vars {
        let Some((k, v)) = kv.split_once('=') else {
            return usage_error(format!("--var {kv}: expected KEY=VALUE"));
        };
        vars.insert(k.to_string(), v.to_string());
    }
    let text = match crate::render::render(&name, &source, &vars) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gantry: {e}");
            return ExitCode::from(INVALID);
        }
    };
    let written = match &args.output {
        Some(path) => match confine(path) {
            Ok(path) => std::fs::write(path, text),
            Err(e) => return usage_error(e),
        },
        None => std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(format!("cannot write the output: {e}")),
    }
}
