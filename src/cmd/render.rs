//! `gantry render`: a template rendered with the process environment (inside a job: the job's
//! variables) plus `--var`, to standard output or `-o FILE`.

use super::{INVALID, usage_error};
use crate::cli::RenderArgs;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;

/// Renders `args.template`.
pub fn render(args: &RenderArgs) -> ExitCode {
    let name = args.template.display().to_string();
    let source = if name == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&args.template)
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
        Some(path) => std::fs::write(path, text),
        None => std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(format!("cannot write the output: {e}")),
    }
}
