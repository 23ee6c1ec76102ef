//! An isolated checkout of a pipeline's exact commit: a fresh clone (of the local repository,
//! or of a mirror kept up to date from the clone URL) with the branch pointing at the commit,
//! so concurrent pipelines never share a work tree and later pushes cannot change one.

use super::config::{RepoConfig, Source};
use super::credentials::{self, CredentialError, GitAuth};
use super::db::NewPipeline;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Why a pipeline's commit could not be checked out (or a ref resolved). Messages name the
/// repository by its configured name, never by its URL (which may carry a token).
#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    /// `git` cannot be started.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// A git command failed.
    #[error("git {command}: {stderr}")]
    Git {
        /// The subcommand.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// A directory cannot be created or cleared.
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        /// The directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A parent directory cannot be created.
    #[error("{}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The origin cannot be opened.
    #[error("{}: {}", path.display(), source.message())]
    Open {
        /// The origin.
        path: PathBuf,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The ref names neither a branch nor a tag.
    #[error("`{git_ref}` is neither a branch nor a tag of {repository}")]
    NoSuchRef {
        /// As asked.
        git_ref: String,
        /// The repository's name.
        repository: String,
    },
    /// The commit cannot be fetched.
    #[error("commit {sha} is not in {repository}")]
    NoCommit {
        /// The commit.
        sha: String,
        /// The repository's name.
        repository: String,
    },
    /// The repository's clone credential cannot be had.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The source refused git: authentication or host key, with the credential tried (never
    /// its value).
    #[error("cannot fetch {repository} with {credential}: {stderr}")]
    Denied {
        /// The repository's name.
        repository: String,
        /// `its HTTPS clone token (clone_token_file or clone_token_env)`, `no credential (…)`.
        credential: String,
        /// What git said (URL user information hidden).
        stderr: String,
    },
    /// The checkout ended at another commit.
    #[error("checkout is at {head}, not {sha}")]
    WrongHead {
        /// Where HEAD is.
        head: String,
        /// The commit wanted.
        sha: String,
    },
}

/// Serialises fetches into mirrors (one git process per mirror at a time).
static MIRRORS: Mutex<()> = Mutex::new(());

fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, CloneError> {
    git_as(dir, args, &GitAuth::default())
}

/// `git` with a repository's credentials in its environment.
fn git_as(dir: Option<&Path>, args: &[&str], auth: &GitAuth) -> Result<String, CloneError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .envs(auth.env.iter().map(|(k, v)| (k, v)))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .map_err(CloneError::Spawn)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(CloneError::Git {
            command: args.first().copied().unwrap_or("").to_string(),
            stderr: without_credentials(String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

/// A failed git command that talked to `repo`'s source: when git says the source refused it
/// (authentication, permission, host key), the error names the repository and the kind of
/// credential it tried.
fn refused(e: CloneError, repo: &RepoConfig, auth: &GitAuth) -> CloneError {
    let CloneError::Git { stderr, .. } = &e else {
        return e;
    };
    const SIGNS: &[&str] = &[
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "terminal prompts disabled",
        "Permission denied",
        "Host key verification failed",
        "No ED25519 host key is known",
        "host key for",
        "The requested URL returned error: 401",
        "The requested URL returned error: 403",
        "The requested URL returned error: 404",
        "Repository not found",
        "' not found",
    ];
    if !SIGNS.iter().any(|s| stderr.contains(s)) {
        return e;
    }
    let credential = match auth.kind {
        Some(credentials::Kind::CloneToken) => {
            "its HTTPS clone token (clone_token_file or clone_token_env)".to_string()
        }
        Some(credentials::Kind::SshKey) => {
            "its SSH deploy key (ssh_key_file, known_hosts_file)".to_string()
        }
        _ => "no credential configured (clone_token_file or ssh_key_file)".to_string(),
    };
    CloneError::Denied {
        repository: repo.name.clone(),
        credential,
        stderr: stderr.clone(),
    }
}

/// git's message with the user information of every URL in it hidden (`https://user:token@host`
/// → `https://***@host`): git quotes the source URL in its errors, a source URL may carry a
/// token, and the message reaches the log, the database and the API.
fn without_credentials(text: &str) -> String {
    static USERINFO: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@").expect("a valid pattern")
    });
    USERINFO.replace_all(text, "${1}***@").into_owned()
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
pub fn update_mirror(data_dir: &Path, repo: &RepoConfig, url: &str) -> Result<PathBuf, CloneError> {
    let _one = MIRRORS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = mirror_dir(data_dir, repo);
    let auth = credentials::git_auth(repo)?;
    if dir.join("HEAD").is_file() {
        git_as(
            Some(&dir),
            &["fetch", "--quiet", "--prune", "origin"],
            &auth,
        )
        .map_err(|e| refused(e, repo, &auth))?;
    } else {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CloneError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let target = dir.display().to_string();
        git_as(
            None,
            &["clone", "--quiet", "--mirror", "--", url, &target],
            &auth,
        )
        .map_err(|e| refused(e, repo, &auth))?;
    }
    Ok(dir)
}

/// The repository pipelines of `repo` clone from (updating a mirror first).
pub fn origin(data_dir: &Path, repo: &RepoConfig) -> Result<PathBuf, CloneError> {
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
) -> Result<(String, &'static str), CloneError> {
    let origin = origin(data_dir, repo)?;
    let r = git2::Repository::open(&origin).map_err(|source| CloneError::Open {
        path: origin.clone(),
        source,
    })?;
    for (prefix, kind) in [("refs/heads/", "branch"), ("refs/tags/", "tag")] {
        if let Ok(obj) = r.revparse_single(&format!("{prefix}{git_ref}"))
            && let Ok(commit) = obj.peel_to_commit()
        {
            return Ok((commit.id().to_string(), kind));
        }
    }
    Err(CloneError::NoSuchRef {
        git_ref: git_ref.to_string(),
        repository: repo.name.clone(),
    })
}

/// Makes `dest` a checkout of `p.sha`, with `p.git_ref` as the branch (detached for tags).
pub fn prepare(
    data_dir: &Path,
    repo: &RepoConfig,
    p: &NewPipeline,
    dest: &Path,
) -> Result<(), CloneError> {
    let origin = origin(data_dir, repo)?;
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|source| CloneError::Clear {
            path: dest.to_path_buf(),
            source,
        })?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|source| CloneError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
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
        git(Some(dest), &["fetch", "--quiet", "origin", &p.sha]).map_err(|_| {
            CloneError::NoCommit {
                sha: p.sha.clone(),
                repository: repo.name.clone(),
            }
        })?;
    }
    if p.kind == "tag" {
        git(Some(dest), &["checkout", "--quiet", "--detach", &p.sha])?;
    } else {
        git(
            Some(dest),
            &["checkout", "--quiet", "-B", &p.git_ref, &p.sha],
        )?;
    }
    if let Source::Url(url) = repo.origin()
        && dest.join(".gitmodules").is_file()
    {
        // Submodules come from their own URLs (relative ones against the source's, not the
        // mirror's), with the repository's credentials: the helper answers for the source's
        // host only, so submodules elsewhere get nothing. Whether a job uses them is its
        // GIT_SUBMODULE_STRATEGY (`run` reads them from this work tree), unknown before
        // planning: one that cannot be fetched fails only the jobs that need it (as a missing
        // submodule), not a pipeline whose jobs never look at it (GitLab's default, `none`).
        let auth = credentials::git_auth(repo)?;
        git(Some(dest), &["config", "remote.origin.url", &url])?;
        if let Err(e) = git_as(
            Some(dest),
            &["submodule", "update", "--init", "--recursive", "--quiet"],
            &auth,
        ) {
            tracing::warn!(
                repository = %repo.name,
                "submodules not fetched; jobs with GIT_SUBMODULE_STRATEGY normal or recursive will miss them: {}",
                refused(e, repo, &auth)
            );
        }
    }
    let head = git(Some(dest), &["rev-parse", "HEAD"])?;
    if head != p.sha {
        return Err(CloneError::WrongHead {
            head,
            sha: p.sha.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod credential_tests {
    use super::without_credentials;

    #[test]
    fn git_messages_lose_the_credentials_of_urls() {
        assert_eq!(
            without_credentials(
                "fatal: repository 'http://oauth2:s3cret@127.0.0.1:3000/org/app.git/' not found"
            ),
            "fatal: repository 'http://***@127.0.0.1:3000/org/app.git/' not found"
        );
        assert_eq!(
            without_credentials("fatal: could not read from ssh://git@host/x and https://host/y"),
            "fatal: could not read from ssh://***@host/x and https://host/y"
        );
    }
}
