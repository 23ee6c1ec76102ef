//! The job GitLab hands a runner (`POST /api/v4/jobs/request`, 201): the shape of GitLab's
//! `Entities::Ci::JobRequest::Response`. Every field is optional or defaulted, as GitLab
//! versions add and drop fields; `Debug` is never derived on what holds tokens.

use serde::Deserialize;

/// One job.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Job {
    /// Job id.
    pub id: u64,
    /// The job token (`CI_JOB_TOKEN`): authenticates updates, traces, artifacts, clones.
    pub token: String,
    /// Whether the runner may fetch into an existing checkout.
    pub allow_git_fetch: bool,
    /// Name, stage, project.
    pub job_info: JobInfo,
    /// What to check out.
    pub git_info: GitInfo,
    /// Timeout and the like.
    pub runner_info: RunnerInfo,
    /// Variables, predefined ones included.
    pub variables: Vec<Variable>,
    /// `script` (with `before_script`) and `after_script`.
    pub steps: Vec<Step>,
    /// The job's image.
    pub image: Option<Image>,
    /// Service containers.
    pub services: Vec<Image>,
    /// Archives to upload.
    pub artifacts: Option<Vec<Artifact>>,
    /// Caches.
    pub cache: Option<Vec<Cache>>,
    /// Jobs whose artifacts this one downloads.
    pub dependencies: Vec<Dependency>,
    /// What the server supports.
    pub features: ServerFeatures,
}

/// `job_info`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct JobInfo {
    /// Job name.
    pub name: String,
    /// Stage.
    pub stage: String,
    /// Project id.
    pub project_id: u64,
    /// Project name.
    pub project_name: String,
}

/// `git_info`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct GitInfo {
    /// Clone URL; GitLab puts the job token in it, which the runner strips.
    pub repo_url: String,
    /// Ref name.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Commit.
    pub sha: String,
    /// Commit before the push.
    pub before_sha: String,
    /// `branch` or `tag`.
    pub ref_type: String,
    /// What to fetch.
    pub refspecs: Vec<String>,
    /// Shallow depth (0: full).
    pub depth: u32,
}

/// `runner_info`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunnerInfo {
    /// Job timeout in seconds.
    pub timeout: u64,
}

/// One variable.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Variable {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
    /// Shown in logs (not secret).
    pub public: bool,
    /// Passed as a path to a file holding the value.
    pub file: bool,
    /// Hidden in the trace.
    pub masked: bool,
    /// Not expanded.
    pub raw: bool,
}

/// One step.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Step {
    /// `script`, `after_script` (or `release`).
    pub name: String,
    /// Commands.
    pub script: Vec<String>,
    /// Seconds.
    pub timeout: Option<u64>,
    /// `on_success`, `on_failure`, `always`.
    pub when: String,
    /// Whether its failure fails the job.
    pub allow_failure: bool,
}

/// `image` or one of `services`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Image reference.
    pub name: String,
    /// Extra hostname (services).
    pub alias: Option<String>,
    /// Entrypoint override.
    pub entrypoint: Option<Vec<String>>,
    /// Command override (services).
    pub command: Option<Vec<String>>,
    /// Service variables.
    pub variables: Vec<ServiceVariable>,
}

/// A service's own variable.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceVariable {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// One archive to upload.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Artifact {
    /// Archive name.
    pub name: Option<String>,
    /// Add files git does not track.
    pub untracked: bool,
    /// Paths (globs).
    pub paths: Vec<String>,
    /// Paths left out.
    pub exclude: Vec<String>,
    /// `on_success`, `on_failure`, `always`.
    pub when: Option<String>,
    /// `archive`, `junit`, `dotenv`, …
    pub artifact_type: Option<String>,
    /// `zip`, `gzip`, `raw`.
    pub artifact_format: Option<String>,
    /// `30 days`, `never`, …
    pub expire_in: Option<String>,
}

/// One cache.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Cache {
    /// Key, already computed by GitLab (files keys included).
    pub key: String,
    /// Add files git does not track.
    pub untracked: bool,
    /// `pull-push`, `pull`, `push`.
    pub policy: Option<String>,
    /// Paths.
    pub paths: Vec<String>,
    /// `on_success`, `on_failure`, `always`.
    pub when: Option<String>,
    /// Keys tried when `key` has no cache yet.
    pub fallback_keys: Vec<String>,
}

/// A job whose artifacts this one needs.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The token that downloads its artifacts.
    pub token: String,
    /// Its archive, when it has one.
    pub artifacts_file: Option<ArtifactsFile>,
}

/// A dependency's archive.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArtifactsFile {
    /// File name.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
}

/// What the server said it supports.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServerFeatures {
    /// Failure reasons it knows (others are sent as `unknown_failure`).
    pub failure_reasons: Vec<String>,
}

impl Job {
    /// The value of variable `key`.
    pub fn variable(&self, key: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|v| v.key == key)
            .map(|v| v.value.as_str())
    }

    /// Values the trace must never show: masked variables and the job token.
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .variables
            .iter()
            .filter(|v| v.masked)
            .map(|v| v.value.clone())
            .collect();
        s.push(self.token.clone());
        s
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }
}
