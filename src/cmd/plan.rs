//! `gantry plan`: lint, then plan for the requested ref and source, then render.

use super::{INVALID, color, usage_error};
use crate::cli::{PipelineArgs, PlanArgs, PlanFormat};
use crate::diagnostic::Diagnostics;
use crate::lint::Report;
use crate::load::LoadOptions;
use crate::model::Pipeline;
use crate::plan::{self, Context, PipelineOptions, Plan};
use crate::report;
use std::path::Path;
use std::process::ExitCode;

/// Takes the pipeline IID for a run (the counter in `.gantry/`).
pub type TakeIid = dyn Fn(&Context) -> Result<u64, String>;

/// A planned pipeline with what was needed to make it.
pub struct Planned {
    /// The decoded pipeline.
    pub pipeline: Pipeline,
    /// Its context.
    pub context: Context,
    /// The plan.
    pub plan: Plan,
}

/// Lints and plans `file`; `iid` overrides the pipeline IID (for `run`, which takes one).
/// Prints what is wrong and returns the exit code when it cannot go on.
pub fn prepare(
    file: &Path,
    args: &PipelineArgs,
    iid: Option<&TakeIid>,
) -> Result<Planned, ExitCode> {
    let options = PipelineOptions {
        git_ref: args.git_ref.clone(),
        source: Some(args.source.clone()),
        target_branch: args.target_branch.clone(),
        changes_base: args.changes_base.clone(),
        state_dir: None,
    };
    let mut context = Context::new(file, &options).map_err(usage_error)?;
    if let Some(take) = iid {
        context.pipeline_iid = take(&context).map_err(usage_error)?;
    }
    let vars_file = args
        .variables_file
        .clone()
        .unwrap_or_else(|| context.project_dir.join(".gantry/variables.yml"));
    if args.variables_file.is_some() && !vars_file.is_file() {
        return Err(usage_error(format!("cannot read {}", vars_file.display())));
    }
    let mut var_sources = crate::source::SourceMap::default();
    let mut diags = Diagnostics::default();
    let project = plan::sources::project_file(&vars_file, &mut var_sources, &mut diags);
    if diags.has_errors() {
        let shown = Report {
            sources: var_sources,
            diagnostics: diags.into_vec(),
            pipeline: None,
        };
        print!(
            "{}",
            report::lint::human(&shown, &vars_file.display().to_string(), false, color())
        );
        return Err(ExitCode::from(INVALID));
    }
    let cli = plan::sources::command_line(&args.vars, std::env::vars()).map_err(usage_error)?;
    // `include: rules` see predefined, project and pipeline (command-line) variables.
    let include_variables = context
        .predefined()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            project
                .iter()
                .chain(cli.iter())
                .map(|(k, v)| (k.clone(), v.value.clone())),
        )
        .collect();
    let load = LoadOptions {
        include_variables: Some(include_variables),
        component_dirs: super::components::component_dirs(
            &context.project_dir,
            &args.component_dir,
        )
        .map_err(usage_error)?,
        ..LoadOptions::default()
    };
    let mut lint = crate::lint::lint_file(file, &load).map_err(usage_error)?;
    let name = file.display().to_string();
    let Some(pipeline) = lint.pipeline.take().filter(|_| lint.is_valid(false)) else {
        print!("{}", report::lint::human(&lint, &name, false, color()));
        return Err(ExitCode::from(INVALID));
    };
    // Warnings do not stop a plan, but they can mean jobs are missing (an include that is not
    // available offline): say so.
    eprint!("{}", report::lint::short(&lint));
    let mut planned = plan::build(&pipeline, &context, project, cli);
    if !args.jobs.is_empty() {
        planned
            .select(&args.jobs, args.needs)
            .map_err(usage_error)?;
    }
    Ok(Planned {
        pipeline,
        context,
        plan: planned,
    })
}

/// Plans `file` and prints the plan.
pub fn plan(file: &Path, args: &PlanArgs) -> ExitCode {
    if args.reuse {
        return match prepare(file, &args.pipeline, None) {
            Ok(mut p) => {
                let project = p.context.project_dir.clone();
                match super::reuse::plan(&p.pipeline, &mut p.plan, &project, args) {
                    Ok(out) => {
                        print!("{out}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => usage_error(e),
                }
            }
            Err(code) => code,
        };
    }
    let planned = match prepare(file, &args.pipeline, None) {
        Ok(p) => {
            // Which executor each job gets under `gantry run` (`--executor auto`).
            let rules = match crate::executor::choice::load(&p.context.project_dir) {
                Ok(r) => r,
                Err(e) => return usage_error(e),
            };
            let mut plan = p.plan;
            crate::executor::choice::assign(&mut plan, None, &rules);
            plan
        }
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
