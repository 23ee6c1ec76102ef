//! Getting the job's sources as GitLab Runner does (`GIT_STRATEGY` clone, fetch or none):
//! `git init` (or the slot's existing checkout), fetch the payload's refspecs at its depth,
//! check out the commit, clean. The job token reaches git only through the environment of a
//! credential helper: GitLab's `repo_url` carries it as `gitlab-ci-token:TOKEN@`, which is
//! stripped, so the token is in no URL on disk and on no command line.

use super::payload::Job;
use crate::executor::{Cancel, Sink, Stream};
use std::path::Path;
use std::process::Stdio;

/// Answers git's `get` with the job token, read from the helper's environment.
const HELPER: &str = "!f() { test \"$1\" = get || exit 0; echo username=gitlab-ci-token; echo \"password=$GANTRY_GIT_PASSWORD\"; }; f";

/// Removes `user[:password]@` from a URL.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Why the sources could not be had; the message is shown in the trace.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A git command failed.
    #[error("git {step} failed ({status})")]
    Failed {
        /// What it did.
        step: &'static str,
        /// Its exit status.
        status: String,
    },
    /// git could not be started or the checkout not prepared.
    #[error("git {step}: {source}")]
    Io {
        /// What it did.
        step: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The job was canceled meanwhile.
    #[error("canceled while getting the sources")]
    Canceled,
}

async fn git(
    dir: &Path,
    step: &'static str,
    args: &[&str],
    token: &str,
    out: &Sink,
    cancel: &mut Cancel,
) -> Result<(), GitError> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(["-c", "credential.helper=", "-c"])
        .arg(format!("credential.helper={HELPER}"))
        .args(args)
        .current_dir(dir)
        .env("GANTRY_GIT_PASSWORD", token)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|source| GitError::Io { step, source })?;
    let output = tokio::select! {
        o = child.wait_with_output() => o.map_err(|source| GitError::Io { step, source })?,
        _ = crate::executor::cancelled(cancel) => return Err(GitError::Canceled),
    };
    out.write(Stream::Stdout, &output.stdout);
    out.write(Stream::Stderr, &output.stderr);
    if output.status.success() {
        Ok(())
    } else {
        Err(GitError::Failed {
            step,
            status: output.status.to_string(),
        })
    }
}

/// Puts the job's commit into `dir` as its `GIT_STRATEGY` asks.
pub async fn checkout(
    job: &Job,
    dir: &Path,
    out: &Sink,
    mut cancel: Cancel,
) -> Result<(), GitError> {
    let io = |step| move |source| GitError::Io { step, source };
    let strategy = job
        .variable("GIT_STRATEGY")
        .unwrap_or(if job.allow_git_fetch {
            "fetch"
        } else {
            "clone"
        });
    if strategy == "none" || strategy == "empty" {
        out.write(Stream::Stdout, b"Skipping Git repository setup\n");
        if strategy == "empty" {
            let _ = std::fs::remove_dir_all(dir);
        }
        return std::fs::create_dir_all(dir).map_err(io("mkdir"));
    }
    let fresh = strategy == "clone" || !dir.join(".git").is_dir();
    let token = job.token.as_str();
    let c = &mut cancel;
    if fresh {
        out.write(
            Stream::Stdout,
            b"Getting source from Git repository: fresh repository\n",
        );
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io("clean"))?;
        }
        std::fs::create_dir_all(dir).map_err(io("mkdir"))?;
        git(dir, "init", &["init", "-q"], token, out, c).await?;
    } else {
        out.write(
            Stream::Stdout,
            b"Getting source from Git repository: fetching changes\n",
        );
        // A remote left by an earlier job is replaced below; only `origin` is used.
        let _ = git(
            dir,
            "remote",
            &["remote", "remove", "origin"],
            token,
            out,
            c,
        )
        .await;
    }
    let url = strip_credentials(&job.git_info.repo_url);
    git(
        dir,
        "remote",
        &["remote", "add", "origin", &url],
        token,
        out,
        c,
    )
    .await?;
    let depth = job
        .variable("GIT_DEPTH")
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(job.git_info.depth);
    let depth_arg = format!("--depth={depth}");
    let mut fetch = vec!["fetch", "--prune", "--quiet", "origin"];
    if depth > 0 {
        fetch.insert(1, &depth_arg);
    }
    let default_refspecs = [format!(
        "+refs/heads/{0}:refs/remotes/origin/{0}",
        job.git_info.git_ref
    )];
    let refspecs = if job.git_info.refspecs.is_empty() {
        &default_refspecs[..]
    } else {
        &job.git_info.refspecs[..]
    };
    fetch.extend(refspecs.iter().map(String::as_str));
    git(dir, "fetch", &fetch, token, out, c).await?;
    let sha = job.git_info.sha.as_str();
    git(
        dir,
        "checkout",
        &["checkout", "-f", "-q", sha],
        token,
        out,
        c,
    )
    .await?;
    let clean = job.variable("GIT_CLEAN_FLAGS").unwrap_or("-ffdx");
    if clean != "none" {
        let mut args = vec!["clean"];
        args.extend(clean.split_whitespace());
        git(dir, "clean", &args, token, out, c).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::strip_credentials;

    #[test]
    fn the_job_token_is_cut_out_of_the_clone_url() {
        assert_eq!(
            strip_credentials("https://gitlab-ci-token:glcbt-abc@gitlab.example.com/g/p.git"),
            "https://gitlab.example.com/g/p.git"
        );
        assert_eq!(
            strip_credentials("http://h:8080/a@b/p.git"),
            "http://h:8080/a@b/p.git"
        );
    }
}
