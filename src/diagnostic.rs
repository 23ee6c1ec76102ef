//! Diagnostics: what is wrong, where, and how to fix it. Collected, never thrown, so one run reports everything.

use crate::source::Span;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something gantry cannot check offline or that is likely a mistake; fails only with `--strict`.
    Warning,
    /// The pipeline is invalid: GitLab would reject it.
    Error,
}

impl Severity {
    /// Lower-case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Stable identifier of a kind of diagnostic, shown to users and used in tests.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code { $($(#[$doc])* $variant,)* }
        impl Code {
            /// The code as printed, e.g. `unknown-keyword`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }
            /// Every code, for documentation and tests.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
        }
    };
}

codes! {
    /// The YAML itself does not parse.
    YamlSyntax = "yaml-syntax",
    /// The file is larger, deeper or expands further than gantry accepts.
    YamlLimit = "yaml-limit",
    /// More than one YAML document where one is expected.
    MultiDocument = "multi-document",
    /// A mapping repeats a key; the later value wins.
    DuplicateKey = "duplicate-key",
    /// A `<<` merge key whose value is not a mapping.
    InvalidMerge = "invalid-merge",
    /// A key that GitLab does not know in this place.
    UnknownKeyword = "unknown-keyword",
    /// A value of the wrong YAML type.
    InvalidType = "invalid-type",
    /// A value of the right type but outside what is allowed.
    InvalidValue = "invalid-value",
    /// A job without `script`, `trigger` or `run`.
    MissingScript = "missing-script",
    /// A job whose `stage` is not in `stages`.
    UnknownStage = "unknown-stage",
    /// `needs` names a job that does not exist.
    UnknownNeed = "unknown-need",
    /// `needs` or `dependencies` names a hidden job.
    HiddenJobReference = "hidden-job-reference",
    /// A job needs itself.
    SelfNeed = "self-need",
    /// `needs` form a cycle.
    NeedsCycle = "needs-cycle",
    /// `needs` names a job of a later stage.
    NeedsLaterStage = "needs-later-stage",
    /// `needs` names a job whose `rules` can leave it out while the needing job stays.
    NeedMayBeMissing = "need-may-be-missing",
    /// `dependencies` names an unknown job, a later stage, or a job missing from `needs`.
    InvalidDependency = "invalid-dependency",
    /// `extends` names an unknown key.
    UnknownExtends = "unknown-extends",
    /// `extends` loops back on itself.
    ExtendsCycle = "extends-cycle",
    /// `extends` nests deeper than GitLab's 10 levels.
    ExtendsTooDeep = "extends-too-deep",
    /// `!reference` is malformed or points nowhere.
    InvalidReference = "invalid-reference",
    /// `!reference` loops back on itself.
    ReferenceCycle = "reference-cycle",
    /// A `spec:inputs` value is missing, unknown, of the wrong type, or not allowed.
    InvalidInput = "invalid-input",
    /// An `include` cannot be read or is malformed.
    InvalidInclude = "invalid-include",
    /// Includes include each other.
    IncludeCycle = "include-cycle",
    /// An include that needs the network (project, remote, template, component).
    IncludeOffline = "include-offline",
    /// A `rules:if` (or `only:variables`) expression does not parse.
    InvalidExpression = "invalid-expression",
    /// A job needs more jobs than GitLab's default instance limit (a warning: the limit is the
    /// instance's `ci_needs_size_limit`, checked when the pipeline is created).
    NeedsLimit = "needs-limit",
    /// The pipeline has no visible job.
    NoJobs = "no-jobs",
    /// `rules` combined with `only`/`except`.
    RulesWithOnly = "rules-with-only",
    /// A keyword GitLab still accepts but has deprecated.
    Deprecated = "deprecated",
}

/// One problem found in a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kind.
    pub code: Code,
    /// One-sentence description.
    pub message: String,
    /// Where the problem is; `None` only for whole-pipeline problems without a better place.
    pub span: Option<Span>,
    /// How to fix it, when gantry can tell.
    pub help: Option<String>,
    /// Job the problem belongs to, if any.
    pub job: Option<String>,
}

impl Diagnostic {
    /// An error of kind `code` at `span`.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            help: None,
            job: None,
        }
    }

    /// A warning of kind `code` at `span`.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Names the job the diagnostic belongs to (kept if already set).
    pub fn in_job(mut self, job: &str) -> Self {
        self.job.get_or_insert_with(|| job.to_string());
        self
    }
}

/// A list of diagnostics being collected.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records `d`.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Records an error.
    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.push(Diagnostic::error(code, span, message));
    }

    /// True when any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors (not warnings) recorded so far.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number recorded so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Drops everything recorded after the first `len` (a parse that is redone).
    pub fn truncate(&mut self, len: usize) {
        self.items.truncate(len);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sets the job of every diagnostic recorded since `start`.
    pub fn tag_job_since(&mut self, start: usize, job: &str) {
        for d in &mut self.items[start..] {
            d.job.get_or_insert_with(|| job.to_string());
        }
    }

    /// The diagnostics, in the order found.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}
