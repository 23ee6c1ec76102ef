//! What gantry reads from the local git repository, through libgit2 (no `git` subprocesses).
//! Every field is optional: a repository may have no commits, no remote, a detached HEAD, or
//! there may be no repository at all.

use super::error::DiffError;
use git2::{DiffOptions, Repository};
use std::path::{Path, PathBuf};

/// Facts about the repository holding the pipeline.
#[derive(Clone, Debug, Default)]
pub struct RepoInfo {
    /// Work tree root.
    pub root: PathBuf,
    /// HEAD commit, if there is one.
    pub sha: Option<String>,
    /// First parent of HEAD.
    pub parent_sha: Option<String>,
    /// Checked-out branch (also for an unborn branch); `None` when detached.
    pub branch: Option<String>,
    /// Tags pointing at HEAD.
    pub tags_at_head: Vec<String>,
    /// Full commit message.
    pub message: String,
    /// `Name <email>` of the commit author.
    pub author: String,
    /// Commit time, ISO 8601 with offset.
    pub timestamp: String,
    /// `origin/HEAD`, `init.defaultBranch`, `main` or `master`, in that order.
    pub default_branch: Option<String>,
    /// URL of `origin` (or the first remote).
    pub remote_url: Option<String>,
    /// `user.name` from git config.
    pub user_name: Option<String>,
    /// `user.email` from git config.
    pub user_email: Option<String>,
}

/// Reads the repository containing `dir`; `None` outside git.
pub fn discover(dir: &Path) -> Option<RepoInfo> {
    let repo = Repository::discover(dir).ok()?;
    // libgit2 ends the work tree path with `/`; rebuild it from components to drop that.
    let root: PathBuf = repo.workdir()?.components().collect();
    let mut info = RepoInfo {
        root,
        ..RepoInfo::default()
    };
    if let Ok(config) = repo.config() {
        info.user_name = config.get_string("user.name").ok();
        info.user_email = config.get_string("user.email").ok();
    }
    info.branch = current_branch(&repo);
    if let Ok(commit) = repo.head().and_then(|h| h.peel_to_commit()) {
        let sha = commit.id().to_string();
        info.parent_sha = commit.parent_id(0).ok().map(|p| p.to_string());
        info.message = commit.message().unwrap_or("").to_string();
        let author = commit.author();
        info.author = format!(
            "{} <{}>",
            author.name().unwrap_or(""),
            author.email().unwrap_or("")
        );
        let t = commit.time();
        info.timestamp = iso8601(t.seconds(), t.offset_minutes());
        info.tags_at_head = tags_at(&repo, commit.id());
        info.sha = Some(sha);
    }
    info.default_branch = default_branch(&repo, info.branch.as_deref());
    info.remote_url = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(str::to_string))
        .or_else(|| {
            let names = repo.remotes().ok()?;
            let first = names.get(0).ok()??.to_string();
            repo.find_remote(&first)
                .ok()?
                .url()
                .ok()
                .map(str::to_string)
        });
    Some(info)
}

fn current_branch(repo: &Repository) -> Option<String> {
    if repo.head_detached().unwrap_or(false) {
        return None;
    }
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??;
    target.strip_prefix("refs/heads/").map(str::to_string)
}

fn tags_at(repo: &Repository, oid: git2::Oid) -> Vec<String> {
    let Ok(names) = repo.tag_names(None) else {
        return Vec::new();
    };
    let mut tags: Vec<String> = Vec::new();
    for i in 0..names.len() {
        let Ok(Some(name)) = names.get(i) else {
            continue;
        };
        let points_here = repo
            .revparse_single(&format!("refs/tags/{name}"))
            .and_then(|o| o.peel_to_commit())
            .is_ok_and(|c| c.id() == oid);
        if points_here {
            tags.push(name.to_string());
        }
    }
    tags.sort();
    tags
}

fn default_branch(repo: &Repository, current: Option<&str>) -> Option<String> {
    if let Some(name) = repo
        .find_reference("refs/remotes/origin/HEAD")
        .ok()
        .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_string))
        .and_then(|t| t.strip_prefix("refs/remotes/origin/").map(str::to_string))
    {
        return Some(name);
    }
    let exists = |b: &str| repo.find_branch(b, git2::BranchType::Local).is_ok();
    if let Some(configured) = repo
        .config()
        .ok()
        .and_then(|c| c.get_string("init.defaultBranch").ok())
        && exists(&configured)
    {
        return Some(configured);
    }
    ["main", "master"]
        .into_iter()
        .find(|b| exists(b))
        .map(str::to_string)
        .or_else(|| current.map(str::to_string))
}

/// Files that differ between `base` (any revision) and the work tree, including staged,
/// unstaged and untracked files: what a push of the current state would change.
pub fn changed_files(root: &Path, base: &str) -> Result<Vec<String>, DiffError> {
    let repo = Repository::open(root).map_err(|source| DiffError::Open { source })?;
    let tree = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_tree())
        .map_err(|source| DiffError::Resolve {
            base: base.to_string(),
            source,
        })?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut opts))
        .map_err(|source| DiffError::Diff { source })?;
    let mut files: Vec<String> = Vec::new();
    for delta in diff.deltas() {
        for path in [delta.old_file().path(), delta.new_file().path()]
            .into_iter()
            .flatten()
        {
            let p = path.to_string_lossy().into_owned();
            if !files.contains(&p) {
                files.push(p);
            }
        }
    }
    Ok(files)
}

/// The commit `rev` names, if it resolves.
pub fn resolve(root: &Path, rev: &str) -> Option<String> {
    let repo = Repository::open(root).ok()?;
    let commit = repo.revparse_single(rev).ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}

/// The merge base of two revisions.
pub fn merge_base(root: &Path, a: &str, b: &str) -> Option<String> {
    let repo = Repository::open(root).ok()?;
    let a = repo.revparse_single(a).ok()?.peel_to_commit().ok()?.id();
    let b = repo.revparse_single(b).ok()?.peel_to_commit().ok()?.id();
    repo.merge_base(a, b).ok().map(|o| o.to_string())
}

/// Formats seconds since the epoch at an offset as `YYYY-MM-DDTHH:MM:SS+HH:MM` (GitLab's
/// `CI_COMMIT_TIMESTAMP`). A commit is user input: an instant beyond jiff's range (years
/// ±9999) is clamped to it, and an offset beyond ±25:59:59 (git stores what it is given)
/// is shown as UTC rather than refused.
pub fn iso8601(seconds: i64, offset_minutes: i32) -> String {
    use jiff::{Timestamp, tz::Offset};
    let at = Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let offset = Offset::from_seconds(offset_minutes.saturating_mul(60)).unwrap_or(Offset::UTC);
    format!("{:.0}", at.display_with_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn formats_timestamps() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(951_782_400, 0), "2000-02-29T00:00:00+00:00");
        assert_eq!(iso8601(1_700_000_000, 60), "2023-11-14T23:13:20+01:00");
        assert_eq!(iso8601(1_700_000_000, -330), "2023-11-14T16:43:20-05:30");
        // Before the epoch, across a leap day at a negative offset.
        assert_eq!(iso8601(-1, 0), "1969-12-31T23:59:59+00:00");
        assert_eq!(iso8601(1_709_251_199, -60), "2024-02-29T22:59:59-01:00");
        // Out of range: clamped and shown at UTC, never a panic.
        assert_eq!(iso8601(0, 100 * 60), "1970-01-01T00:00:00+00:00");
        // jiff's last instant (`Timestamp::MAX`): the end of 9999 in every time zone it knows.
        assert_eq!(iso8601(i64::MAX, 0), "9999-12-30T22:00:00+00:00");
    }
}
