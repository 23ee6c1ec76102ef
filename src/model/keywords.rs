//! Which keys GitLab accepts where, and the shape of each value. The decoder rejects keys not
//! listed here and `gantry schema` is generated from these tables, so the two cannot drift.

/// The shape of a keyword's value, as the JSON Schema describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A GitLab duration string (`1h 30m`) or a number of seconds.
    Duration,
    /// A string or a list of strings.
    StrList,
    /// A list of strings (a single string is not accepted).
    List,
    /// A script: a string or nested lists of strings.
    Script,
    /// A `variables:` mapping.
    Variables,
    /// An image: a name or `{name, entrypoint, docker, pull_policy}`.
    Image,
    /// A list of services.
    Services,
    /// A list of rules.
    Rules,
    /// A list of needs.
    Needs,
    /// `artifacts:`.
    Artifacts,
    /// `cache:` (one or a list).
    Cache,
    /// `environment:`.
    Environment,
    /// `retry:`.
    Retry,
    /// `parallel:`.
    Parallel,
    /// `allow_failure:`.
    AllowFailure,
    /// `when:` for jobs.
    When,
    /// `trigger:`.
    Trigger,
    /// `inherit:`.
    Inherit,
    /// `only:` / `except:`.
    Filter,
    /// `hooks:` (`pre_get_sources_script`).
    Hooks,
    /// `secrets:`: each secret names exactly one provider.
    Secrets,
    /// `id_tokens:`: each token has an `aud`.
    IdTokens,
    /// `run:`: a list of CI steps.
    Steps,
    /// `release:`.
    Release,
    /// One of a fixed list of strings.
    Choice(&'static [&'static str]),
    /// A mapping GitLab checks but gantry does not model (`inputs`, `pages`, …).
    Object,
}

/// One accepted key.
#[derive(Clone, Copy, Debug)]
pub struct Keyword {
    /// The key as written.
    pub name: &'static str,
    /// Its value's shape.
    pub shape: Shape,
    /// One line for the schema's description.
    pub doc: &'static str,
}

const fn kw(name: &'static str, shape: Shape, doc: &'static str) -> Keyword {
    Keyword { name, shape, doc }
}

/// Every job keyword (GitLab's 38).
pub const JOB: &[Keyword] = &[
    kw("image", Shape::Image, "Container image the job runs in."),
    kw(
        "services",
        Shape::Services,
        "Containers started beside the job.",
    ),
    kw(
        "before_script",
        Shape::Script,
        "Commands run before `script`, in the same shell.",
    ),
    kw(
        "after_script",
        Shape::Script,
        "Commands run after `script` in a new shell, also after failure.",
    ),
    kw(
        "hooks",
        Shape::Hooks,
        "Commands run at runner stages (`pre_get_sources_script`).",
    ),
    kw(
        "rules",
        Shape::Rules,
        "Conditions deciding whether and how the job is added.",
    ),
    kw("variables", Shape::Variables, "Job variables."),
    kw("cache", Shape::Cache, "Files kept between pipelines."),
    kw("id_tokens", Shape::IdTokens, "OIDC tokens."),
    kw(
        "identity",
        Shape::Choice(IDENTITY),
        "Cloud identity federation.",
    ),
    kw("inputs", Shape::Object, "Inputs for step-based jobs."),
    kw("secrets", Shape::Secrets, "External secrets."),
    kw("script", Shape::Script, "Commands the job runs."),
    kw(
        "run",
        Shape::Steps,
        "Steps (CI steps syntax) instead of `script`.",
    ),
    kw(
        "stage",
        Shape::Str,
        "Stage the job belongs to (default `test`).",
    ),
    kw(
        "only",
        Shape::Filter,
        "Legacy: refs, variables or changes the job runs for.",
    ),
    kw(
        "extends",
        Shape::StrList,
        "Jobs or templates this job inherits from.",
    ),
    kw(
        "needs",
        Shape::Needs,
        "Jobs this job waits for, ignoring stage order.",
    ),
    kw(
        "except",
        Shape::Filter,
        "Legacy: refs, variables or changes the job does not run for.",
    ),
    kw("tags", Shape::StrList, "Runner tags."),
    kw(
        "allow_failure",
        Shape::AllowFailure,
        "Whether a failure lets the pipeline continue.",
    ),
    kw("timeout", Shape::Duration, "Longest the job may run."),
    kw("when", Shape::When, "When the job runs."),
    kw("start_in", Shape::Duration, "Delay for `when: delayed`."),
    kw(
        "manual_confirmation",
        Shape::Str,
        "Confirmation message for a manual job.",
    ),
    kw(
        "dependencies",
        Shape::List,
        "Jobs whose artifacts this job downloads.",
    ),
    kw("artifacts", Shape::Artifacts, "Files kept after the job."),
    kw(
        "environment",
        Shape::Environment,
        "Environment the job deploys to.",
    ),
    kw("release", Shape::Release, "Creates a release."),
    kw(
        "coverage",
        Shape::Str,
        "Regular expression (`/…/`) extracting coverage from the log.",
    ),
    kw("retry", Shape::Retry, "How often to retry a failed job."),
    kw(
        "parallel",
        Shape::Parallel,
        "Run N copies or a matrix of the job.",
    ),
    kw(
        "interruptible",
        Shape::Bool,
        "Whether a newer pipeline may cancel the job.",
    ),
    kw(
        "resource_group",
        Shape::Str,
        "Only one job of the group runs at a time.",
    ),
    kw("trigger", Shape::Trigger, "Starts a downstream pipeline."),
    kw(
        "inherit",
        Shape::Inherit,
        "Which `default` keys and global variables the job inherits.",
    ),
    kw("publish", Shape::Str, "Folder published by a Pages job."),
    kw("pages", Shape::Object, "Pages settings (or `true`)."),
    kw(
        "type",
        Shape::Str,
        "Deprecated name of `stage` (used when `stage` is absent).",
    ),
    kw(
        "dast_configuration",
        Shape::Object,
        "DAST site and scanner profiles (`site_profile`, `scanner_profile`).",
    ),
];

/// Job keywords gantry checks but cannot act on offline, with what happens instead; `run`
/// notes each use, so a job that depends on one is not silently taken for a real success.
pub const OFFLINE: &[(&str, &str)] = &[
    ("run", "CI steps are not executed"),
    (
        "secrets",
        "no secret provider is reachable, so the secrets are not set",
    ),
    (
        "id_tokens",
        "there is no OIDC issuer, so the ID tokens are not set",
    ),
    ("identity", "there is no workload identity"),
];

/// Keywords GitLab removed: (where, key, the GitLab version that removed it, what replaces it).
/// Lint names the version and the replacement instead of only "unknown keyword".
pub const REMOVED: &[(&str, &str, &str, &str)] = &[(
    "`artifacts:reports`",
    "cobertura",
    "15.0",
    "`artifacts:reports:coverage_report` with `coverage_format: cobertura` and `path:`",
)];

/// Job keywords GitLab still accepts but has deprecated, with what to write instead.
pub const DEPRECATED: &[(&str, &str)] = &[("type", "stage")];

/// Keys `default:` accepts.
pub const DEFAULT: &[&str] = &[
    "after_script",
    "artifacts",
    "before_script",
    "hooks",
    "cache",
    "image",
    "interruptible",
    "id_tokens",
    "identity",
    "retry",
    "services",
    "tags",
    "timeout",
];

/// Deprecated top-level keys that act as `default:` values.
pub const GLOBAL_DEFAULTS: &[&str] = &[
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// Reserved top-level keys; every other non-hidden key is a job.
pub const TOP_LEVEL: &[&str] = &[
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "spec",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "$schema",
];

/// Keys of `workflow:`.
pub const WORKFLOW: &[&str] = &["rules", "name", "auto_cancel"];
/// Keys of a job rule.
pub const RULE: &[&str] = &[
    "if",
    "changes",
    "exists",
    "when",
    "allow_failure",
    "variables",
    "needs",
    "start_in",
    "interruptible",
];
/// Keys of a `workflow:rules` rule.
pub const WORKFLOW_RULE: &[&str] = &[
    "if",
    "changes",
    "exists",
    "when",
    "variables",
    "auto_cancel",
];
/// Keys of `auto_cancel:` (workflow and workflow rules) and their values.
pub const AUTO_CANCEL: &[(&str, &[&str])] = &[
    ("on_new_commit", &["conservative", "interruptible", "none"]),
    ("on_job_failure", &["none", "all"]),
];
/// Keys of `hooks:`.
pub const HOOKS: &[&str] = &["pre_get_sources_script"];
/// Values of `identity:`.
pub const IDENTITY: &[&str] = &["google_cloud"];
/// Secret providers; a secret names exactly one.
pub const SECRET_PROVIDERS: &[&str] = &[
    "vault",
    "azure_key_vault",
    "gcp_secret_manager",
    "aws_secrets_manager",
];
/// Keys of one secret besides its provider.
pub const SECRET_OPTIONS: &[&str] = &["file", "token"];
/// Keys of `release:`.
pub const RELEASE: &[&str] = &[
    "tag_name",
    "tag_message",
    "description",
    "name",
    "ref",
    "milestones",
    "released_at",
    "assets",
];
/// Keys of `dast_configuration:`.
pub const DAST_CONFIGURATION: &[&str] = &["site_profile", "scanner_profile"];
/// Keys of `cache:key` in mapping form.
pub const CACHE_KEY: &[&str] = &["files", "files_commits", "prefix"];
/// Keys of a `needs:` item in mapping form.
pub const NEED: &[&str] = &[
    "job",
    "artifacts",
    "optional",
    "pipeline",
    "project",
    "ref",
    "parallel",
];
/// Keys of `image:` in mapping form.
pub const IMAGE: &[&str] = &["name", "entrypoint", "docker", "pull_policy", "kubernetes"];
/// Keys of a service in mapping form.
pub const SERVICE: &[&str] = &[
    "name",
    "alias",
    "entrypoint",
    "command",
    "variables",
    "pull_policy",
    "docker",
    "kubernetes",
];
/// Keys of `artifacts:`.
pub const ARTIFACTS: &[&str] = &[
    "paths",
    "exclude",
    "expire_in",
    "expose_as",
    "name",
    "untracked",
    "when",
    "reports",
    "public",
    "access",
];
/// Keys of one cache.
pub const CACHE: &[&str] = &[
    "key",
    "paths",
    "policy",
    "when",
    "untracked",
    "unprotect",
    "fallback_keys",
];
/// Keys of `environment:`.
pub const ENVIRONMENT: &[&str] = &[
    "name",
    "url",
    "on_stop",
    "action",
    "auto_stop_in",
    "kubernetes",
    "deployment_tier",
];
/// Keys of `retry:`.
pub const RETRY: &[&str] = &["max", "when", "exit_codes"];
/// Keys of `trigger:`.
pub const TRIGGER: &[&str] = &[
    "include", "project", "branch", "strategy", "forward", "inputs",
];
/// Keys a trigger (bridge) job may have: GitLab's `Entry::Bridge` allows `trigger`, `parallel`
/// and `environment` besides the keys every processable job has (`Entry::Processable`).
pub const BRIDGE: &[&str] = &[
    "trigger",
    "parallel",
    "environment",
    "extends",
    "stage",
    "only",
    "except",
    "rules",
    "variables",
    "inherit",
    "allow_failure",
    "when",
    "needs",
    "resource_group",
];
/// `when:` values of a trigger job (`Entry::Bridge::ALLOWED_WHEN`).
pub const BRIDGE_WHEN: &[&str] = &["on_success", "on_failure", "always", "manual"];
/// Keys of `trigger:forward`.
pub const TRIGGER_FORWARD: &[&str] = &["yaml_variables", "pipeline_variables"];
/// Keys of `inherit:`.
pub const INHERIT: &[&str] = &["default", "variables"];
/// Keys of `only:`/`except:` in mapping form.
pub const FILTER: &[&str] = &["refs", "variables", "changes", "kubernetes"];
/// Keys of a variable in mapping form.
pub const VARIABLE: &[&str] = &["value", "description", "expand", "options"];

/// Values of job `when:`.
pub const WHEN: &[&str] = &[
    "on_success",
    "on_failure",
    "always",
    "manual",
    "delayed",
    "never",
];
/// Values of `retry:when`: GitLab's server accepts every failure reason a job can have
/// (`Entry::Retry` takes `Ci::Status::Build::Failed.reasons` and `always`), which is a longer
/// list than its editor schema's. `runner_interrupted` and `runner_provisioning_timeout` are
/// newer reasons (GitLab Runner's own pipeline retries on `runner_interrupted`).
pub const RETRY_WHEN: &[&str] = &[
    "always",
    "unknown_failure",
    "script_failure",
    "api_failure",
    "stuck_or_timeout_failure",
    "runner_system_failure",
    "missing_dependency_failure",
    "runner_unsupported",
    "stale_schedule",
    "job_execution_timeout",
    "archived_failure",
    "unmet_prerequisites",
    "scheduler_failure",
    "data_integrity_failure",
    "forward_deployment_failure",
    "protected_environment_failure",
    "pipeline_loop_detected",
    "invalid_bridge_trigger",
    "downstream_bridge_project_not_found",
    "upstream_bridge_project_not_found",
    "insufficient_bridge_permissions",
    "insufficient_upstream_permissions",
    "bridge_pipeline_is_child_pipeline",
    "downstream_pipeline_creation_failed",
    "secrets_provider_not_found",
    "reached_max_descendant_pipelines_depth",
    "reached_max_pipeline_hierarchy_size",
    "project_deleted",
    "user_blocked",
    "ci_quota_exceeded",
    "no_matching_runner",
    "trace_size_exceeded",
    "builds_disabled",
    "environment_creation_failure",
    "deployment_rejected",
    "ip_restriction_failure",
    "failed_outdated_deployment_job",
    "reached_downstream_pipeline_trigger_rate_limit",
    "runner_provisioning_timeout",
    "runner_interrupted",
];
/// Values of `environment:action`.
pub const ENVIRONMENT_ACTION: &[&str] = &["start", "prepare", "stop", "verify", "access"];
/// Values of `environment:deployment_tier`.
pub const DEPLOYMENT_TIER: &[&str] = &["production", "staging", "testing", "development", "other"];
/// Values of `artifacts:when` and `cache:when`.
pub const ARTIFACTS_WHEN: &[&str] = &["on_success", "on_failure", "always"];
/// Values of `cache:policy`.
pub const CACHE_POLICY: &[&str] = &["pull", "push", "pull-push"];
/// `cache:policy` as GitLab's schema allows it: a value above or one `$VARIABLE` (16.1+).
pub const CACHE_POLICY_PATTERN: &str = r"^(pull-push|pull|push|\$\w{1,255}|\$\{\w{1,255}\})$";
/// `environment:url`: an http(s) URL or starting with a `$VARIABLE`.
pub const ENVIRONMENT_URL_PATTERN: &str = r"^(https?://.+|\$\{?[A-Za-z].*)$";
/// A project path (`trigger:project`, `include:project`): `group/…/project` or a `$VARIABLE`.
pub const PROJECT_PATH_PATTERN: &str = r"^(\$\{?\w\S*|[^/\s]\S*/\S*[^/\s])$";
/// `include:component`: `HOST/PATH/NAME@VERSION`, one `@` with text on both sides.
pub const COMPONENT_PATTERN: &str = r"^[^@\s]+/[^@\s]+@[^@\s]+$";
/// Keys of one job `inputs` entry (`default` is required there).
pub const JOB_INPUT: &[&str] = &["default", "description", "options", "regex", "type"];
/// Keys of one `spec:inputs` entry.
pub const INPUT_SPEC: &[&str] = &[
    "default",
    "description",
    "options",
    "regex",
    "type",
    "rules",
];
/// Values of `spec:inputs:*:type`.
pub const INPUT_TYPES: &[&str] = &["string", "number", "boolean", "array"];
/// Longest `spec:inputs` description GitLab accepts.
pub const MAX_INPUT_DESCRIPTION: usize = 1024;
/// Values of `pull_policy`.
pub const PULL_POLICY: &[&str] = &["always", "never", "if-not-present"];
/// Values of `artifacts:access`.
pub const ARTIFACTS_ACCESS: &[&str] = &["all", "developer", "maintainer", "none"];
/// Values of `trigger:strategy`.
pub const TRIGGER_STRATEGY: &[&str] = &["depend", "mirror"];
/// Keys of `artifacts:reports`.
pub const REPORTS: &[&str] = &[
    "junit",
    "dotenv",
    "coverage_report",
    "codequality",
    "sast",
    "dependency_scanning",
    "container_scanning",
    "dast",
    "license_scanning",
    "performance",
    "browser_performance",
    "load_performance",
    "metrics",
    "requirements",
    "secret_detection",
    "terraform",
    "accessibility",
    "cyclonedx",
    "api_fuzzing",
    "coverage_fuzzing",
    "annotations",
    "repository_xray",
    "lsif",
    "license_management",
    "requirements_v2",
    "cluster_image_scanning",
];
/// `only:`/`except:` refs keywords (anything else is a branch name or `/regex/`).
pub const FILTER_REFS: &[&str] = &[
    "branches",
    "tags",
    "merge_requests",
    "schedules",
    "web",
    "api",
    "triggers",
    "pipelines",
    "pushes",
    "external",
    "external_pull_requests",
    "chat",
];

/// Names of all job keywords.
pub fn job_keyword_names() -> impl Iterator<Item = &'static str> {
    JOB.iter().map(|k| k.name)
}

/// Names of all job keywords, as a slice (built once).
pub fn job_keyword_slice() -> &'static [&'static str] {
    static NAMES: std::sync::LazyLock<Vec<&'static str>> =
        std::sync::LazyLock::new(|| job_keyword_names().collect());
    &NAMES
}

/// Whether `path` is `group/…/project` (no blanks, no leading or trailing `/`) or starts with a
/// `$VARIABLE` — GitLab's project-path pattern for `trigger:project` and `include:project`.
pub fn valid_project_path(path: &str) -> bool {
    let blank_free = !path.is_empty() && !path.chars().any(char::is_whitespace);
    if let Some(var) = path.strip_prefix('$') {
        let name = var.strip_prefix('{').unwrap_or(var);
        return blank_free && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    }
    blank_free && path.contains('/') && !path.starts_with('/') && !path.ends_with('/')
}

/// Whether `url` matches [`ENVIRONMENT_URL_PATTERN`] (without compiling it for every job).
pub fn valid_environment_url(url: &str) -> bool {
    if url.contains('\n') {
        return false;
    }
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        return !rest.is_empty();
    }
    url.strip_prefix('$')
        .map(|v| v.strip_prefix('{').unwrap_or(v))
        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written checks agree with the patterns the schema publishes.
    #[test]
    fn checks_match_their_schema_patterns() {
        let url = regex::Regex::new(ENVIRONMENT_URL_PATTERN).unwrap();
        for s in [
            "https://x",
            "http://",
            "https://",
            "$URL",
            "${URL}/x",
            "$1",
            "example.com",
            "ftp://x",
            "",
        ] {
            assert_eq!(valid_environment_url(s), url.is_match(s), "{s:?}");
        }
        let project = regex::Regex::new(PROJECT_PATH_PATTERN).unwrap();
        for s in [
            "g/p", "g/sub/p", "/g/p", "g/p/", "p", "", "$P", "${P}", "$", "${}", "g /p", "$A B",
            "a//b",
        ] {
            assert_eq!(valid_project_path(s), project.is_match(s), "{s:?}");
        }
    }
}
