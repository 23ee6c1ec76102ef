//! What can stop a plan from being made: the pipeline's context (source, ref), the command
//! line's variables, a job the user named that is not there. A git diff that fails for
//! `rules:changes` is not fatal (the rule sees no change, with a warning), but is still typed.

/// The pipeline's context cannot be built from the options.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// `--source` is not one of GitLab's pipeline sources.
    #[error("unknown pipeline source `{given}` (one of: {})", known.join(", "))]
    UnknownSource {
        /// As given.
        given: String,
        /// GitLab's sources.
        known: &'static [&'static str],
    },
    /// `--source tag` without a ref and no tag at HEAD.
    #[error("`--source tag` needs `--ref TAG` (no tag points at HEAD)")]
    TagNeedsRef,
}

/// A `--var` (or a serve pipeline variable) that is not `KEY=VALUE`.
#[derive(Debug, thiserror::Error)]
pub enum VarError {
    /// No `=`.
    #[error("`--var {arg}`: expected KEY=VALUE")]
    NoEquals {
        /// As given.
        arg: String,
    },
    /// The name is not a variable name.
    #[error("`--var {arg}`: `{name}` is not a valid variable name")]
    BadName {
        /// As given.
        arg: String,
        /// The name part.
        name: String,
    },
}

/// A job named on the command line (or by a retry) is not in the plan.
#[derive(Clone, Debug, thiserror::Error)]
#[error("job `{name}` is not in this pipeline{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
pub struct NotInPipeline {
    /// The name asked for.
    pub name: String,
    /// Why rules left it out, when they did.
    pub reason: Option<String>,
}

/// The files changed since a base revision cannot be listed (`rules:changes`).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The pipeline is not in a git work tree.
    #[error("not a git repository")]
    NotARepository,
    /// The repository cannot be opened.
    #[error("{}", source.message())]
    Open {
        /// libgit2's error.
        source: git2::Error,
    },
    /// `compare_to` names nothing.
    #[error("cannot resolve `{base}`: {}", source.message())]
    Resolve {
        /// The revision.
        base: String,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The diff itself failed.
    #[error("{}", source.message())]
    Diff {
        /// libgit2's error.
        source: git2::Error,
    },
}
