//! The pipelines trigger jobs start, checked as pipelines in their own right: each child's
//! files are loaded (`load::trigger`), decoded and checked with the same cross-job checks as
//! the parent, so a mistake in a child is reported at its place in the child's file. Children
//! of children are followed up to GitLab's nesting limit; a trigger that would start one of
//! its own ancestors is refused. Another project's pipeline is checked when its checkout is
//! mapped (`--project-dir`, `[projects]`); a dynamic child pipeline's file exists only during
//! the run.

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::LoadOptions;
use crate::load::trigger::{self, MAX_CHILD_DEPTH};
use crate::model::job::Trigger;
use crate::model::{Downstream, Pipeline};
use crate::source::{SourceMap, Span};
use std::path::{Path, PathBuf};

/// Where the tree's files are and how to load them.
pub struct Tree<'a> {
    /// The project's root (local includes of children resolve against it).
    pub root_dir: PathBuf,
    /// The parent's load options (limits, templates, components, project checkouts).
    pub options: &'a LoadOptions,
}

/// What a walk down the tree writes to.
pub struct Walk<'a> {
    /// Every file read (the children's files join the parent's).
    pub sources: &'a mut SourceMap,
    /// The diagnostics of every level.
    pub diags: &'a mut Diagnostics,
    /// The identities of the pipeline being resolved and of its ancestors.
    pub chain: Vec<Vec<PathBuf>>,
}

/// Resolves, decodes and checks the downstream pipeline of every trigger job of `p`.
/// `w.chain` holds the identities of `p` and its ancestors (its length is `p`'s level).
pub fn resolve(p: &mut Pipeline, tree: &Tree, w: &mut Walk) {
    let triggers: Vec<(String, Trigger)> = p
        .jobs
        .values()
        .filter_map(|j| Some((j.name.clone(), (**j.trigger.as_ref()?).clone())))
        .collect();
    for (name, t) in triggers {
        let start = w.diags.len();
        let downstream = one(p, &t, tree, w);
        w.diags.tag_job_since(start, &name);
        p.downstream.insert(name, downstream);
    }
}

fn one(p: &Pipeline, t: &Trigger, tree: &Tree, w: &mut Walk) -> Downstream {
    if let Some(include) = &t.include {
        if let Some(((artifact, _), (job, job_span))) = trigger::generated(include) {
            // A copy generated locally (the same path in the work tree) is checked as the
            // child it will be; the run reads the job's artifact, never this copy.
            let local = crate::files::confine(&tree.root_dir, Path::new(&artifact)).ok();
            if let Some(local) = local.filter(|l| l.is_file())
                && let Ok(loaded) = trigger::file(
                    &local,
                    &tree.root_dir,
                    None,
                    tree.options,
                    w.sources,
                    w.diags,
                )
            {
                child(loaded, t, tree, w);
                return generated(p, (artifact, job, job_span), t.span, true, w.diags);
            }
            return generated(p, (artifact, job, job_span), t.span, false, w.diags);
        }
        // The root is at depth 0; its children at 1, theirs at 2.
        if w.chain.len() > MAX_CHILD_DEPTH {
            w.diags.push(
                Diagnostic::error(
                    Code::InvalidInclude,
                    t.span,
                    format!("child pipelines nest at most {MAX_CHILD_DEPTH} levels deep (GitLab's limit); this would be level {}", w.chain.len()),
                )
                .with_help("start this pipeline from a higher level, or merge it into its parent"),
            );
            return Downstream::Unavailable("nested too deep".into());
        }
        let loaded = trigger::child(include, &tree.root_dir, tree.options, w.sources, w.diags);
        return child(loaded, t, tree, w);
    }
    let Some(project) = &t.project else {
        return Downstream::Unavailable("`trigger` names no pipeline".into());
    };
    let name = match &tree.options.include_variables {
        Some(vars) => trigger::expand_location(&project.value, vars),
        None => project.value.clone(),
    };
    let Some((_, dir)) = tree.options.project_dirs.iter().find(|(p, _)| *p == name) else {
        let why = format!(
            "downstream project `{name}` is not available offline; its pipeline is not checked and `gantry run` skips the trigger job"
        );
        w.diags.push(
            Diagnostic::warning(Code::IncludeOffline, project.span, why.clone())
                .with_help(format!("with a local checkout, pass `--project-dir {name}=DIR` (or add it to `[projects]` in .gantry/config.toml)")),
        );
        return Downstream::Unavailable(why);
    };
    let sub = Tree {
        root_dir: dir.clone(),
        options: tree.options,
    };
    match trigger::file(
        &dir.join(".gitlab-ci.yml"),
        dir,
        t.inputs.as_ref(),
        tree.options,
        w.sources,
        w.diags,
    ) {
        Ok(loaded) => checked(loaded, Some(name), dir.clone(), t.span, &sub, w),
        Err(e) => {
            w.diags.error(
                Code::InvalidInclude,
                project.span,
                format!(
                    "cannot read {}/.gitlab-ci.yml of `{name}`: {e}",
                    dir.display()
                ),
            );
            Downstream::Unavailable(format!("cannot read the pipeline of `{name}`"))
        }
    }
}

/// [`checked`] for a child pipeline of this project.
fn child(loaded: trigger::Downstream, t: &Trigger, tree: &Tree, w: &mut Walk) -> Downstream {
    let root_dir = tree.root_dir.clone();
    checked(loaded, None, root_dir, t.span, tree, w)
}

/// Decodes and checks a loaded downstream pipeline, then its own triggers.
fn checked(
    loaded: trigger::Downstream,
    project: Option<String>,
    root_dir: PathBuf,
    at: Span,
    tree: &Tree,
    w: &mut Walk,
) -> Downstream {
    if w.chain.contains(&loaded.identity) {
        w.diags.push(
            Diagnostic::error(
                Code::IncludeCycle,
                at,
                "this trigger starts a pipeline that is already one of its ancestors: the pipelines would trigger each other forever",
            )
            .with_help("remove the trigger that closes the loop"),
        );
        return Downstream::Unavailable("a trigger cycle".into());
    }
    let parsed = !(loaded.root.is_empty() && w.diags.has_errors());
    if !parsed {
        return Downstream::Unavailable("the downstream pipeline does not load".into());
    }
    let mut pipeline =
        crate::model::pipeline::decode_root(loaded.root, loaded.span, &loaded.incomplete, w.diags);
    super::graph::check(&pipeline, w.diags);
    super::environment::check(&pipeline, w.diags);
    w.chain.push(loaded.identity);
    resolve(&mut pipeline, tree, w);
    w.chain.pop();
    Downstream::Pipeline {
        pipeline: Box::new(pipeline),
        project,
        root_dir,
    }
}

/// A dynamic child pipeline: the generating job must be a job of this pipeline; its file is
/// read during the run.
fn generated(
    p: &Pipeline,
    (artifact, job, job_span): (String, String, Span),
    at: Span,
    checked_locally: bool,
    diags: &mut Diagnostics,
) -> Downstream {
    if job.is_empty() {
        diags.error(
            Code::InvalidInclude,
            job_span,
            "`trigger:include:artifact` needs `job:`, the job that generates the file",
        );
    } else if p.job_or_instance(&job).is_none() {
        diags.error(
            Code::InvalidInclude,
            job_span,
            format!("`trigger:include:job` names `{job}`, which is not a job of this pipeline"),
        );
    }
    if !checked_locally {
        diags.push(
            Diagnostic::warning(
                Code::IncludeOffline,
                at,
                format!("downstream pipeline `{artifact}` is generated by `{job}` during the run, so lint cannot check it (and `gantry run` skips this trigger job: it does not run generated pipelines yet)"),
            )
            .with_help(format!("generate `{artifact}` in the work tree and lint again: a local copy is checked")),
        );
    }
    Downstream::Generated { job, artifact }
}

/// The identity of the root pipeline file, the first link of the chain.
pub fn root_identity(path: &Path) -> Vec<PathBuf> {
    vec![trigger::identity_of_file(path)]
}
