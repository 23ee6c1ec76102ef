//! `gantry plan`: lint, then plan for the requested ref and source, then render.

use super::{INVALID, color, usage_error};
use crate::cli::{PlanArgs, PlanFormat};
use crate::diagnostic::Diagnostics;
use crate::load::LoadOptions;
use crate::plan::{self, Context, PipelineOptions};
use crate::report;
use std::path::Path;
use std::process::ExitCode;

/// Plans `file` and prints the plan.
pub fn plan(file: &Path, args: &PlanArgs) -> ExitCode {
    let mut lint = match crate::lint::lint_file(file, &LoadOptions::default()) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let name = file.display().to_string();
    let Some(pipeline) = lint.pipeline.take().filter(|_| lint.is_valid(false)) else {
        print!("{}", report::lint::human(&lint, &name, false, color()));
        return ExitCode::from(INVALID);
    };
    let options = PipelineOptions {
        git_ref: args.git_ref.clone(),
        source: Some(args.source.clone()),
        target_branch: args.target_branch.clone(),
        changes_base: args.changes_base.clone(),
        state_dir: None,
    };
    let ctx = match Context::new(file, &options) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let vars_file = args
        .variables_file
        .clone()
        .unwrap_or_else(|| ctx.project_dir.join(".gantry/variables.yml"));
    if args.variables_file.is_some() && !vars_file.is_file() {
        return usage_error(format!("cannot read {}", vars_file.display()));
    }
    let mut diags = Diagnostics::default();
    let project = plan::sources::project_file(&vars_file, &mut lint.sources, &mut diags);
    if diags.has_errors() {
        lint.diagnostics = diags.into_vec();
        print!(
            "{}",
            report::lint::human(&lint, &vars_file.display().to_string(), false, color())
        );
        return ExitCode::from(INVALID);
    }
    let cli = match plan::sources::command_line(&args.vars, std::env::vars()) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    let mut planned = plan::build(&pipeline, &ctx, project, cli);
    if !args.jobs.is_empty()
        && let Err(e) = planned.select(&args.jobs, args.needs)
    {
        return usage_error(e);
    }
    if let Some(job) = &args.show_script {
        let Some(j) = planned.job(job) else {
            let why = planned
                .excluded
                .iter()
                .find(|e| e.name == *job)
                .map(|e| format!(": {}", e.reason));
            return usage_error(format!(
                "job `{job}` is not in this pipeline{}",
                why.unwrap_or_default()
            ));
        };
        print!("{}", report::plan::show_script(&planned, j));
        return ExitCode::SUCCESS;
    }
    let out = match args.format {
        PlanFormat::Text => report::plan::text(&planned, args.explain),
        PlanFormat::Json => report::plan::json(&planned),
        PlanFormat::Mermaid => report::plan::mermaid(&planned),
        PlanFormat::Dot => report::plan::dot(&planned),
    };
    print!("{out}");
    if planned.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        if args.format != PlanFormat::Text {
            for e in &planned.errors {
                eprintln!("gantry: {e}");
            }
        }
        ExitCode::from(INVALID)
    }
}
