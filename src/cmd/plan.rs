//! `gantry plan`: prepare (the project layer: lint, plan for the requested ref and source,
//! executors), then render.

use super::{INVALID, color, usage_error};
use crate::cli::{PipelineArgs, PlanArgs, PlanFormat};
use crate::executor::choice::Kind;
use crate::plan::{self, PipelineOptions};
use crate::project::prepare::{Inputs, PrepareError, Prepared, TakeIid, VariablesFile};
use crate::report;
use std::path::Path;
use std::process::ExitCode;

/// The project layer's inputs for `args` (command-line variables over the environment's).
pub(super) fn inputs<'a>(
    args: &PipelineArgs,
    executor: Option<Kind>,
    iid: Option<TakeIid<'a>>,
) -> Result<Inputs<'a>, ExitCode> {
    Ok(Inputs {
        options: PipelineOptions {
            git_ref: args.git_ref.clone(),
            source: Some(args.source.clone()),
            target_branch: args.target_branch.clone(),
            changes_base: args.changes_base.clone(),
            state_dir: None,
            project_path: None,
            ref_protected: false,
        },
        variables: args
            .variables_file
            .clone()
            .map_or(VariablesFile::ProjectDefault, VariablesFile::Given),
        pipeline_variables: plan::sources::command_line(&args.vars, std::env::vars())
            .map_err(usage_error)?,
        component_dirs: args.component_dir.clone(),
        remote: Some(args.remote.choice()),
        project_dirs: args.project_dir.clone(),
        config: None,
        iid,
        jobs: args.jobs.clone(),
        needs: args.needs,
        executor,
        drop_protected: false,
    })
}

/// Prepares `file` through the project layer; prints what is wrong and returns the exit code
/// when it cannot go on. Warnings do not stop a plan, but they can mean jobs are missing (an
/// include that is not available offline): they are said on stderr.
pub(super) fn prepare(file: &Path, inputs: Inputs) -> Result<Prepared, ExitCode> {
    match crate::project::prepare::prepare(file, inputs) {
        Ok(p) => {
            eprint!("{}", report::lint::short(&p.lint));
            Ok(p)
        }
        Err(e @ PrepareError::Invalid(..)) => {
            print!("{}", e.text(color()));
            Err(ExitCode::from(INVALID))
        }
        Err(e) => Err(usage_error(e)),
    }
}

/// Plans `file` and prints the plan.
pub fn plan(file: &Path, args: &PlanArgs) -> ExitCode {
    if args.reuse {
        let forced = super::run::forced(args.executor);
        return match inputs(&args.pipeline, forced, None).and_then(|i| prepare(file, i)) {
            Ok(p) => match super::reuse::plan(
                &p.pipeline,
                &p.plan,
                &p.config,
                &p.context.project_dir,
                args,
            ) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            },
            Err(code) => code,
        };
    }
    // Each job shows the executor it gets under `gantry run` (`--executor auto`).
    let planned = match inputs(&args.pipeline, None, None).and_then(|i| prepare(file, i)) {
        Ok(p) => p.plan,
        Err(code) => return code,
    };
    if let Some(job) = &args.show_script {
        let Some(j) = planned.job(job) else {
            return usage_error(planned.not_in_pipeline(job));
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
