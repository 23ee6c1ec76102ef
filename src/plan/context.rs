//! The pipeline being planned: which ref, which source, which commit — from git and the
//! command line — and the predefined `CI_*` variables that follow from it.

use super::error::ContextError;
use super::git::{self, RepoInfo};
use super::slug::slug;
use std::path::{Path, PathBuf};

/// Pipeline sources gantry accepts for `--source` (GitLab's `CI_PIPELINE_SOURCE` values, plus
/// `tag` as a shorthand for a push of a tag).
pub const SOURCES: &[&str] = &[
    "push",
    "merge_request_event",
    "tag",
    "schedule",
    "web",
    "api",
    "trigger",
    "pipeline",
    "parent_pipeline",
    "chat",
    "external",
    "external_pull_request_event",
    "ondemand_dast_scan",
    "webide",
];

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    /// Branch or tag to plan for (default: the checked-out branch).
    pub git_ref: Option<String>,
    /// Pipeline source (default `push`).
    pub source: Option<String>,
    /// Target branch of a merge request pipeline (default: the default branch).
    pub target_branch: Option<String>,
    /// Revision `rules:changes` compares against (default: see [`Context::changes_base`]).
    pub changes_base: Option<String>,
    /// State directory (`.gantry/` beside the pipeline) for counters and project variables.
    pub state_dir: Option<PathBuf>,
    /// The forge's project path (`group/name`), when the caller knows it (`gantry serve`: the
    /// repository's name); default: from the remote URL, else the directory's name.
    pub project_path: Option<String>,
    /// Whether the ref is protected (`CI_COMMIT_REF_PROTECTED`); only `gantry serve` knows
    /// protected refs, everything else plans for an unprotected one, as before.
    pub ref_protected: bool,
}

/// Which kind of ref the pipeline runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// A branch pipeline.
    Branch,
    /// A tag pipeline.
    Tag,
    /// A merge request pipeline (source branch, against a target).
    MergeRequest,
}

/// Everything known about the pipeline before looking at its jobs.
#[derive(Clone, Debug)]
pub struct Context {
    /// `CI_PIPELINE_SOURCE`.
    pub source: String,
    /// Branch, tag or merge request.
    pub kind: RefKind,
    /// `CI_COMMIT_REF_NAME`.
    pub ref_name: String,
    /// `CI_COMMIT_SHA` (40 zeros when the repository has no commit).
    pub sha: String,
    /// `CI_COMMIT_BEFORE_SHA`.
    pub before_sha: String,
    /// Default branch.
    pub default_branch: String,
    /// Target branch for merge request pipelines.
    pub target_branch: Option<String>,
    /// Project directory (repository root, or the pipeline's directory outside git).
    pub project_dir: PathBuf,
    /// Git facts, when in a repository.
    pub repo: Option<RepoInfo>,
    /// `CI_PIPELINE_IID` this pipeline would get.
    pub pipeline_iid: u64,
    /// Explicit `--changes-base`.
    pub changes_base: Option<String>,
    /// Merge base of HEAD and the target branch (merge request pipelines), computed once.
    pub diff_base_sha: Option<String>,
    /// [`PipelineOptions::project_path`].
    pub project_path: Option<String>,
    /// [`PipelineOptions::ref_protected`].
    pub ref_protected: bool,
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

impl Context {
    /// Builds the context for a pipeline file at `pipeline`.
    pub fn new(pipeline: &Path, options: &PipelineOptions) -> Result<Context, ContextError> {
        let dir = pipeline
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let repo = git::discover(dir);
        let source = options.source.clone().unwrap_or_else(|| "push".into());
        if !SOURCES.contains(&source.as_str()) {
            return Err(ContextError::UnknownSource {
                given: source,
                known: SOURCES,
            });
        }
        let head_tag = repo.as_ref().and_then(|r| r.tags_at_head.first().cloned());
        let branch = repo.as_ref().and_then(|r| r.branch.clone());
        let default_branch = repo
            .as_ref()
            .and_then(|r| r.default_branch.clone())
            .unwrap_or_else(|| "main".into());
        let (kind, ref_name) = match (&options.git_ref, source.as_str()) {
            (Some(r), "tag") => (RefKind::Tag, r.trim_start_matches("refs/tags/").to_string()),
            (Some(r), _) if r.starts_with("refs/tags/") => {
                (RefKind::Tag, r["refs/tags/".len()..].to_string())
            }
            (Some(r), "merge_request_event") => (
                RefKind::MergeRequest,
                r.trim_start_matches("refs/heads/").to_string(),
            ),
            (Some(r), _) => {
                let is_tag = repo.as_ref().is_some_and(|repo| {
                    git::resolve(&repo.root, &format!("refs/tags/{r}")).is_some()
                        && git::resolve(&repo.root, &format!("refs/heads/{r}")).is_none()
                });
                let kind = if is_tag {
                    RefKind::Tag
                } else {
                    RefKind::Branch
                };
                (kind, r.trim_start_matches("refs/heads/").to_string())
            }
            (None, "tag") => match &head_tag {
                Some(t) => (RefKind::Tag, t.clone()),
                None => {
                    return Err(ContextError::TagNeedsRef);
                }
            },
            (None, "merge_request_event") => (
                RefKind::MergeRequest,
                branch.clone().unwrap_or_else(|| "HEAD".into()),
            ),
            (None, _) => match (&branch, &head_tag) {
                (Some(b), _) => (RefKind::Branch, b.clone()),
                (None, Some(t)) => (RefKind::Tag, t.clone()),
                (None, None) => (
                    RefKind::Branch,
                    repo.as_ref()
                        .and_then(|r| r.sha.clone())
                        .map_or("HEAD".into(), |s| s[..8].to_string()),
                ),
            },
        };
        let source = if source == "tag" {
            "push".to_string()
        } else {
            source
        };
        let sha = repo
            .as_ref()
            .and_then(|r| {
                if options.git_ref.is_some() {
                    let wanted = match kind {
                        RefKind::Tag => format!("refs/tags/{ref_name}"),
                        _ => ref_name.clone(),
                    };
                    git::resolve(&r.root, &wanted).or_else(|| r.sha.clone())
                } else {
                    r.sha.clone()
                }
            })
            .unwrap_or_else(|| ZERO_SHA.into());
        let before_sha = repo
            .as_ref()
            .and_then(|r| r.parent_sha.clone())
            .unwrap_or_else(|| ZERO_SHA.into());
        let project_dir = repo
            .as_ref()
            .map_or_else(|| dir.to_path_buf(), |r| r.root.clone());
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| project_dir.join(".gantry"));
        let target_branch = (kind == RefKind::MergeRequest).then(|| {
            options
                .target_branch
                .clone()
                .unwrap_or_else(|| default_branch.clone())
        });
        let diff_base_sha = match (&repo, &target_branch) {
            (Some(r), Some(t)) => git::merge_base(&r.root, t, "HEAD"),
            _ => None,
        };
        Ok(Context {
            source,
            kind,
            ref_name,
            sha,
            before_sha,
            default_branch,
            target_branch,
            project_dir,
            repo,
            pipeline_iid: super::state::peek_pipeline_iid(&state_dir),
            changes_base: options.changes_base.clone(),
            diff_base_sha,
            project_path: options.project_path.clone(),
            ref_protected: options.ref_protected,
        })
    }

    /// Project name, path and server derived from the remote URL (or the directory name).
    pub fn project(&self) -> Project {
        let dir_name = self
            .project_dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into());
        let remote = self
            .repo
            .as_ref()
            .and_then(|r| r.remote_url.as_deref())
            .and_then(parse_remote);
        let (host, path) = match (remote, &self.project_path) {
            (Some((host, _)), Some(path)) => (host, path.clone()),
            (None, Some(path)) => ("gitlab.localhost".into(), path.clone()),
            (Some(remote), None) => remote,
            (None, None) => ("gitlab.localhost".into(), format!("local/{dir_name}")),
        };
        let name = path.rsplit('/').next().unwrap_or(&dir_name).to_string();
        let namespace = path
            .rsplit_once('/')
            .map_or(String::new(), |(ns, _)| ns.to_string());
        Project {
            name,
            namespace,
            path,
            host,
        }
    }

    /// The revision `rules:changes` compares the work tree with, when one applies: the explicit
    /// `--changes-base`; for merge requests the merge base with the target; for branches the
    /// remote-tracking branch (what GitLab's push would compare against). `None` means
    /// "no base" — GitLab then treats `changes` as true (new branches, tags, schedules…).
    pub fn changes_base(&self) -> Option<String> {
        if let Some(b) = &self.changes_base {
            return Some(b.clone());
        }
        let repo = self.repo.as_ref()?;
        match self.kind {
            RefKind::MergeRequest => {
                let target = self.target_branch.as_deref()?;
                [format!("origin/{target}"), target.to_string()]
                    .iter()
                    .find_map(|t| git::merge_base(&repo.root, t, "HEAD"))
            }
            RefKind::Branch if self.source == "push" => {
                let upstream = format!("refs/remotes/origin/{}", self.ref_name);
                git::resolve(&repo.root, &upstream).map(|_| upstream)
            }
            _ => None,
        }
    }

    /// Predefined variables that are the same for every job of the pipeline.
    pub fn predefined(&self) -> Vec<(&'static str, String)> {
        let p = self.project();
        let repo = self.repo.as_ref();
        let message = repo.map_or(String::new(), |r| r.message.clone());
        let title = message.lines().next().unwrap_or("").to_string();
        let description = message.split_once('\n').map_or(String::new(), |(_, rest)| {
            rest.trim_start_matches('\n').to_string()
        });
        let server_url = format!("https://{}", p.host);
        let project_url = format!("{server_url}/{}", p.path);
        let registry = format!("registry.{}", p.host);
        let iid = self.pipeline_iid.to_string();
        let mut v: Vec<(&'static str, String)> = vec![
            ("CI", "true".into()),
            ("GITLAB_CI", "true".into()),
            ("GANTRY", "true".into()),
            ("CI_SERVER", "yes".into()),
            ("CI_SERVER_NAME", "GitLab".into()),
            ("CI_SERVER_URL", server_url.clone()),
            ("CI_SERVER_HOST", p.host.clone()),
            ("CI_SERVER_FQDN", p.host.clone()),
            ("CI_SERVER_PROTOCOL", "https".into()),
            ("CI_SERVER_PORT", "443".into()),
            ("CI_API_V4_URL", format!("{server_url}/api/v4")),
            ("CI_PIPELINE_SOURCE", self.source.clone()),
            ("CI_PIPELINE_ID", iid.clone()),
            ("CI_PIPELINE_IID", iid.clone()),
            (
                "CI_PIPELINE_URL",
                format!("{project_url}/-/pipelines/{iid}"),
            ),
            ("CI_CONFIG_PATH", ".gitlab-ci.yml".into()),
            ("CI_COMMIT_SHA", self.sha.clone()),
            ("CI_COMMIT_SHORT_SHA", self.sha[..8].to_string()),
            ("CI_COMMIT_BEFORE_SHA", self.before_sha.clone()),
            ("CI_COMMIT_REF_NAME", self.ref_name.clone()),
            ("CI_COMMIT_REF_SLUG", slug(&self.ref_name)),
            ("CI_COMMIT_REF_PROTECTED", self.ref_protected.to_string()),
            ("CI_COMMIT_MESSAGE", message),
            ("CI_COMMIT_TITLE", title.clone()),
            ("CI_COMMIT_DESCRIPTION", description),
            (
                "CI_COMMIT_AUTHOR",
                repo.map_or(String::new(), |r| r.author.clone()),
            ),
            (
                "CI_COMMIT_TIMESTAMP",
                repo.map_or(String::new(), |r| r.timestamp.clone()),
            ),
            ("CI_DEFAULT_BRANCH", self.default_branch.clone()),
            ("CI_PROJECT_NAME", p.name.clone()),
            ("CI_PROJECT_TITLE", p.name.clone()),
            ("CI_PROJECT_PATH", p.path.clone()),
            ("CI_PROJECT_PATH_SLUG", slug(&p.path)),
            ("CI_PROJECT_NAMESPACE", p.namespace.clone()),
            (
                "CI_PROJECT_ROOT_NAMESPACE",
                p.namespace.split('/').next().unwrap_or("").to_string(),
            ),
            ("CI_PROJECT_DIR", self.project_dir.display().to_string()),
            ("CI_PROJECT_URL", project_url.clone()),
            ("CI_PROJECT_VISIBILITY", "private".into()),
            (
                "CI_REPOSITORY_URL",
                format!("https://gitlab-ci-token:[MASKED]@{}/{}.git", p.host, p.path),
            ),
            ("CI_REGISTRY", registry.clone()),
            (
                "CI_REGISTRY_IMAGE",
                format!("{registry}/{}", p.path.to_lowercase()),
            ),
            ("CI_REGISTRY_USER", "gitlab-ci-token".into()),
            (
                "GITLAB_USER_NAME",
                repo.and_then(|r| r.user_name.clone()).unwrap_or_default(),
            ),
            (
                "GITLAB_USER_EMAIL",
                repo.and_then(|r| r.user_email.clone()).unwrap_or_default(),
            ),
            (
                "GITLAB_USER_LOGIN",
                repo.and_then(|r| r.user_email.clone())
                    .and_then(|e| e.split('@').next().map(str::to_string))
                    .unwrap_or_default(),
            ),
        ];
        match self.kind {
            RefKind::Branch => v.push(("CI_COMMIT_BRANCH", self.ref_name.clone())),
            RefKind::Tag => {
                v.push(("CI_COMMIT_TAG", self.ref_name.clone()));
                v.push(("CI_COMMIT_TAG_MESSAGE", String::new()));
            }
            RefKind::MergeRequest => {
                let target = self.target_branch.clone().unwrap_or_default();
                let base = self
                    .diff_base_sha
                    .clone()
                    .unwrap_or_else(|| ZERO_SHA.into());
                v.extend([
                    ("CI_MERGE_REQUEST_IID", "1".to_string()),
                    ("CI_MERGE_REQUEST_ID", "1".to_string()),
                    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", self.ref_name.clone()),
                    ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", self.sha.clone()),
                    ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", target),
                    ("CI_MERGE_REQUEST_TITLE", title),
                    ("CI_MERGE_REQUEST_EVENT_TYPE", "detached".into()),
                    ("CI_MERGE_REQUEST_DIFF_BASE_SHA", base),
                    ("CI_MERGE_REQUEST_PROJECT_PATH", p.path.clone()),
                    ("CI_MERGE_REQUEST_PROJECT_URL", project_url),
                ]);
            }
        }
        // GitLab 9-era names (removed in GitLab 16.0); pipelines like the seed scenario use them.
        let legacy: Vec<(&'static str, String)> = [
            ("CI_BUILD_REF", "CI_COMMIT_SHA"),
            ("CI_BUILD_BEFORE_SHA", "CI_COMMIT_BEFORE_SHA"),
            ("CI_BUILD_REF_NAME", "CI_COMMIT_REF_NAME"),
            ("CI_BUILD_REF_SLUG", "CI_COMMIT_REF_SLUG"),
            ("CI_BUILD_TAG", "CI_COMMIT_TAG"),
            ("CI_BUILD_REPO", "CI_REPOSITORY_URL"),
        ]
        .into_iter()
        .filter_map(|(old, new)| {
            v.iter()
                .find(|(k, _)| *k == new)
                .map(|(_, val)| (old, val.clone()))
        })
        .collect();
        v.extend(legacy);
        v
    }
}

/// Project identity as GitLab would name it.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    /// `CI_PROJECT_NAME`.
    pub name: String,
    /// `CI_PROJECT_NAMESPACE`.
    pub namespace: String,
    /// `CI_PROJECT_PATH`.
    pub path: String,
    /// `CI_SERVER_HOST`.
    pub host: String,
}

/// `(host, group/project)` from `git@host:group/project.git` or `https://host/group/project.git`.
pub fn parse_remote(url: &str) -> Option<(String, String)> {
    let url = url.trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (host, path) = rest.split_once('/')?;
        (
            host.split(':').next().unwrap_or(host).to_string(),
            path.to_string(),
        )
    } else {
        let (user_host, path) = url.split_once(':')?;
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        (host.to_string(), path.to_string())
    };
    (!host.is_empty() && path.contains('/')).then_some((host, path))
}

#[cfg(test)]
mod tests {
    use super::parse_remote;

    #[test]
    fn remotes() {
        let want = Some(("gitlab.com".to_string(), "group/sub/proj".to_string()));
        assert_eq!(parse_remote("git@gitlab.com:group/sub/proj.git"), want);
        assert_eq!(parse_remote("https://gitlab.com/group/sub/proj.git"), want);
        assert_eq!(
            parse_remote("https://user:tok@gitlab.com:8443/group/sub/proj"),
            want
        );
        assert_eq!(
            parse_remote("ssh://git@gitlab.com/group/sub/proj.git"),
            want
        );
        assert_eq!(parse_remote("/srv/repos/proj.git"), None);
    }
}
