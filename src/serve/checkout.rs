//! An isolated checkout of a pipeline's exact commit: a fresh clone (of the local repository,
//! or of a mirror kept up to date from the clone URL) with the branch pointing at the commit,
//! so concurrent pipelines never share a work tree and later pushes cannot change one.

use super::config::{RepoConfig, Source};
use super::db::NewPipeline;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Serialises fetches into mirrors (one git process per mirror at a time).
static MIRRORS: Mutex<()> = Mutex::new(());

fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {}: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `group/app` → `group-app` (a directory name).
pub fn dir_name(repo: &str) -> String {
    crate::plan::slug::slug(&repo.replace('/', "-"))
}

/// Where a URL repository is mirrored.
pub fn mirror_dir(data_dir: &Path, repo: &RepoConfig) -> PathBuf {
    data_dir
        .join("mirrors")
        .join(format!("{}.git", dir_name(&repo.name)))
}

/// Clones or fetches the mirror of a URL repository; returns its path.
pub fn update_mirror(data_dir: &Path, repo: &RepoConfig, url: &str) -> Result<PathBuf, String> {
    let _one = MIRRORS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = mirror_dir(data_dir, repo);
    if dir.join("HEAD").is_file() {
        git(Some(&dir), &["fetch", "--quiet", "--prune", "origin"])?;
    } else {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let target = dir.display().to_string();
        git(None, &["clone", "--quiet", "--mirror", "--", url, &target])?;
    }
    Ok(dir)
}

/// The repository pipelines of `repo` clone from (updating a mirror first).
pub fn origin(data_dir: &Path, repo: &RepoConfig) -> Result<PathBuf, String> {
    match repo.origin() {
        Source::Path(p) => Ok(p),
        Source::Url(u) => update_mirror(data_dir, repo, &u),
    }
}

/// The commit `git_ref` (a branch, else a tag) points at in `repo`'s origin.
pub fn resolve(
    data_dir: &Path,
    repo: &RepoConfig,
    git_ref: &str,
) -> Result<(String, &'static str), String> {
    let origin = origin(data_dir, repo)?;
    let r = git2::Repository::open(&origin)
        .map_err(|e| format!("{}: {}", origin.display(), e.message()))?;
    for (prefix, kind) in [("refs/heads/", "branch"), ("refs/tags/", "tag")] {
        if let Ok(obj) = r.revparse_single(&format!("{prefix}{git_ref}"))
            && let Ok(commit) = obj.peel_to_commit()
        {
            return Ok((commit.id().to_string(), kind));
        }
    }
    Err(format!(
        "`{git_ref}` is neither a branch nor a tag of {}",
        repo.name
    ))
}

/// Makes `dest` a checkout of `p.sha`, with `p.git_ref` as the branch (detached for tags).
pub fn prepare(
    data_dir: &Path,
    repo: &RepoConfig,
    p: &NewPipeline,
    dest: &Path,
) -> Result<(), String> {
    let origin = origin(data_dir, repo)?;
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .map_err(|e| format!("cannot clear {}: {e}", dest.display()))?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let (from, to) = (origin.display().to_string(), dest.display().to_string());
    git(
        None,
        &["clone", "--quiet", "--no-checkout", "--", &from, &to],
    )?;
    if git(
        Some(dest),
        &["cat-file", "-e", &format!("{}^{{commit}}", p.sha)],
    )
    .is_err()
    {
        // Not reachable from the origin's refs (yet): fetch it by id.
        git(Some(dest), &["fetch", "--quiet", "origin", &p.sha])
            .map_err(|_| format!("commit {} is not in {}", p.sha, repo.name))?;
    }
    if p.kind == "tag" {
        git(Some(dest), &["checkout", "--quiet", "--detach", &p.sha])?;
    } else {
        git(
            Some(dest),
            &["checkout", "--quiet", "-B", &p.git_ref, &p.sha],
        )?;
    }
    let head = git(Some(dest), &["rev-parse", "HEAD"])?;
    if head != p.sha {
        return Err(format!("checkout is at {head}, not {}", p.sha));
    }
    Ok(())
}
