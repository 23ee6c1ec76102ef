//! From a pipeline file to a plan ready to run, the one way `lint`, `plan`, `run` and `serve`
//! all do it: the project's config, its variables, `load` + `lint` (with `include: rules`
//! seeing the pipeline's variables), `plan`, the job selection, and each job's executor.

use super::config::ProjectConfig;
use crate::diagnostic::Diagnostics;
use crate::executor::choice::{self, Kind};
use crate::lint::Report;
use crate::load::LoadOptions;
use crate::model::Pipeline;
use crate::plan::variables::Layer;
use crate::plan::{self, Context, PipelineOptions, Plan};
use std::path::{Path, PathBuf};

/// Where project variables come from.
#[derive(Clone, Debug, Default)]
pub enum VariablesFile {
    /// `.gantry/variables.yml` of the project, when it exists (`gantry run`).
    #[default]
    ProjectDefault,
    /// This file, which must exist.
    Given(PathBuf),
    /// None (`gantry serve`: the operator gives the file, never the commit).
    Nothing,
}

/// Takes the pipeline IID for a run (the counter in `.gantry/`, or the server's pipeline id).
pub type TakeIid<'a> = &'a dyn Fn(&Context) -> std::io::Result<u64>;

/// What a pipeline is prepared for.
#[derive(Default)]
pub struct Inputs<'a> {
    /// Ref, source, merge-request target, changes base, state folder.
    pub options: PipelineOptions,
    /// Project variables.
    pub variables: VariablesFile,
    /// Pipeline variables (`--var`, a trigger's variables).
    pub pipeline_variables: Layer,
    /// `--component-dir HOST/GROUP/PROJECT=DIR`.
    pub component_dirs: Vec<String>,
    /// Fetch network includes this way (`None`: leave them unread, as `serve` does).
    pub remote: Option<super::config::RemoteChoice>,
    /// `--project-dir GROUP/PROJECT=DIR` (downstream projects of `trigger:project`).
    pub project_dirs: Vec<String>,
    /// The project's config when the caller read it (serve narrows the commit's); else it is
    /// read from the project.
    pub config: Option<ProjectConfig>,
    /// Takes the pipeline IID (else the one `Context` found).
    pub iid: Option<TakeIid<'a>>,
    /// Only these jobs (with `needs`, also what they need).
    pub jobs: Vec<String>,
    /// With `jobs`: also the jobs they need.
    pub needs: bool,
    /// One executor for every job (else `[executor]` rules pick per job).
    pub executor: Option<Kind>,
    /// Leave out project variables marked `protected: true` (`gantry serve`, for a pipeline
    /// on an unprotected ref or an untrusted one); `gantry run` keeps them: whoever runs it
    /// locally owns its variables file.
    pub drop_protected: bool,
}

/// A planned pipeline with what was needed to make it.
pub struct Prepared {
    /// The decoded pipeline.
    pub pipeline: Pipeline,
    /// Its context.
    pub context: Context,
    /// The plan, each job's executor assigned.
    pub plan: Plan,
    /// The project's config.
    pub config: ProjectConfig,
    /// Lint's report (warnings only; the pipeline moved out).
    pub lint: Report,
    /// Names of protected project variables left out ([`Inputs::drop_protected`]).
    pub withheld: Vec<String>,
}

/// Why a pipeline cannot be prepared: `Invalid` is the pipeline's fault (exit code 1, lint's
/// report), every other variant a usage or I/O problem (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// `--source`/`--ref` do not make a pipeline context.
    #[error(transparent)]
    Context(#[from] plan::ContextError),
    /// The pipeline counter in `.gantry/` cannot be advanced.
    #[error("cannot update .gantry/: {source}")]
    Iid {
        /// The system's error.
        source: std::io::Error,
    },
    /// `.gantry/config.toml` cannot be used.
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    /// The variables file given does not exist.
    #[error("cannot read {}", path.display())]
    VariablesFile {
        /// As given.
        path: PathBuf,
    },
    /// A `--component-dir` is malformed.
    #[error(transparent)]
    ComponentDir(#[from] crate::load::component::DirOptionError),
    /// The pipeline file cannot be read.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    /// A job asked for is not in the plan.
    #[error(transparent)]
    Select(#[from] plan::NotInPipeline),
    /// The pipeline or the variables file is invalid (exit code 1): the report and the name
    /// of the file it is about.
    #[error("{1} is invalid")]
    Invalid(Box<Report>, String),
}

impl PrepareError {
    /// The problem as text (lint's human rendering for an invalid pipeline).
    pub fn text(&self, color: bool) -> String {
        match self {
            PrepareError::Invalid(report, name) => {
                crate::report::lint::human(report, name, false, color)
            }
            other => other.to_string(),
        }
    }
}

/// Why a pipeline file cannot be linted at all (as opposed to linting with errors).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A `--component-dir` is malformed.
    #[error(transparent)]
    ComponentDir(#[from] crate::load::component::DirOptionError),
    /// The pipeline file cannot be read.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
}

impl From<LintError> for PrepareError {
    fn from(e: LintError) -> Self {
        match e {
            LintError::ComponentDir(e) => PrepareError::ComponentDir(e),
            LintError::Load(e) => PrepareError::Load(e),
        }
    }
}

/// Loads and lints `file` for `config` (the project's component checkouts and `options`'
/// `--component-dir`s); what `gantry lint` shows and the first step of [`prepare`].
pub fn lint(
    file: &Path,
    config: &ProjectConfig,
    component_dirs: &[String],
    load: LoadOptions,
) -> Result<Report, LintError> {
    let project_dirs = load.project_dirs.clone();
    let load = LoadOptions {
        component_dirs: config.component_dirs(component_dirs)?,
        project_dirs: super::config::first_named(project_dirs, &config.projects),
        ..load
    };
    Ok(crate::lint::lint_file(file, &load)?)
}

/// Lints and plans `file`, selects jobs and assigns executors.
pub fn prepare(file: &Path, inputs: Inputs) -> Result<Prepared, PrepareError> {
    let mut context = Context::new(file, &inputs.options)?;
    if let Some(take) = inputs.iid {
        context.pipeline_iid = take(&context).map_err(|source| PrepareError::Iid { source })?;
    }
    let config = match inputs.config {
        Some(c) => c,
        None => ProjectConfig::load(&context.project_dir)?,
    };
    let vars_file = match &inputs.variables {
        VariablesFile::ProjectDefault => Some(context.project_dir.join(".gantry/variables.yml")),
        VariablesFile::Given(f) if !f.is_file() => {
            return Err(PrepareError::VariablesFile { path: f.clone() });
        }
        VariablesFile::Given(f) => Some(f.clone()),
        VariablesFile::Nothing => None,
    };
    let mut var_sources = crate::source::SourceMap::default();
    let mut diags = Diagnostics::default();
    let mut project = vars_file
        .as_ref()
        .map(|f| plan::sources::project_file(f, &mut var_sources, &mut diags))
        .unwrap_or_default();
    let mut withheld = Vec::new();
    if inputs.drop_protected {
        project.retain(|name, v| {
            if v.protected {
                withheld.push(name.clone());
            }
            !v.protected
        });
    }
    if diags.has_errors() {
        let shown = Report {
            sources: var_sources,
            diagnostics: diags.into_vec(),
            pipeline: None,
            unread_includes: Vec::new(),
        };
        let name = vars_file
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        return Err(PrepareError::Invalid(Box::new(shown), name));
    }
    let cli = inputs.pipeline_variables;
    // `include: rules` see predefined, project and pipeline variables.
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
        remote: inputs.remote.as_ref().map(|c| config.remote(c)),
        project_dirs: config.project_dirs(&inputs.project_dirs)?,
        ..LoadOptions::default()
    };
    let mut report = lint(file, &config, &inputs.component_dirs, load)?;
    let Some(pipeline) = report.pipeline.take().filter(|_| report.is_valid(false)) else {
        return Err(PrepareError::Invalid(
            Box::new(report),
            file.display().to_string(),
        ));
    };
    let mut planned = plan::build(&pipeline, &context, project, cli);
    planned.locate_errors(&report.sources);
    if !inputs.jobs.is_empty() {
        planned.select(&inputs.jobs, inputs.needs)?;
    }
    assign(&mut planned, inputs.executor, &config.executor);
    Ok(Prepared {
        pipeline,
        context,
        plan: planned,
        config,
        lint: report,
        withheld,
    })
}

/// Sets every job's executor: `forced` for all (`shell`, `kubernetes`; `docker` as auto without
/// rules), else by the `[executor]` rules.
fn assign(plan: &mut Plan, forced: Option<Kind>, rules: &choice::Rules) {
    match forced {
        Some(Kind::Docker) => choice::assign(plan, None, &choice::Rules::default()),
        other => choice::assign(plan, other, rules),
    }
}

impl Prepared {
    /// Values of masked project and pipeline variables, for masking logs.
    pub fn secrets(&self) -> Vec<String> {
        self.plan
            .layers
            .project
            .values()
            .chain(self.plan.layers.cli.values())
            .filter(|v| v.masked)
            .map(|v| v.value.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_problems_are_told_apart_from_an_invalid_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".gitlab-ci.yml");
        std::fs::write(&file, "job:\n  script: [\"true\"]\n").unwrap();
        let bad_source = Inputs {
            options: PipelineOptions {
                source: Some("nope".into()),
                ..PipelineOptions::default()
            },
            ..Inputs::default()
        };
        assert!(matches!(
            prepare(&file, bad_source),
            Err(PrepareError::Context(plan::ContextError::UnknownSource { given, .. })) if given == "nope"
        ));
        let missing = Inputs {
            variables: VariablesFile::Given(dir.path().join("none.yml")),
            ..Inputs::default()
        };
        assert!(matches!(
            prepare(&file, missing),
            Err(PrepareError::VariablesFile { path }) if path.ends_with("none.yml")
        ));
        let unknown_job = Inputs {
            jobs: vec!["nope".into()],
            ..Inputs::default()
        };
        assert!(matches!(
            prepare(&file, unknown_job),
            Err(PrepareError::Select(plan::NotInPipeline { name, .. })) if name == "nope"
        ));
        assert!(prepare(&file, Inputs::default()).is_ok());
        std::fs::write(&file, "job: 3\n").unwrap();
        assert!(matches!(
            prepare(&file, Inputs::default()),
            Err(PrepareError::Invalid(..))
        ));
    }
}
