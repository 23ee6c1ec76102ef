//! Files in and out of a job: artifacts (collected with `run::artifacts`' path safety, packed
//! as GitLab wants them — zip archives, gzip or raw reports — and uploaded with the job token),
//! dependencies' artifacts (downloaded with their token, unpacked, restored with the same
//! safety) and caches (kept under the cache directory, per project and key, with
//! `run::cache`).

use super::client::{Client, ClientError};
use super::payload::{Artifact, Cache, Dependency};
use crate::run::artifacts::{self, CollectError};
use bytes::Bytes;
use http::Method;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why files could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Collecting from the workspace failed.
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// Packing or unpacking failed.
    #[error("{}: {source}", file.display())]
    Io {
        /// The archive or directory.
        file: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// An archive is not a valid zip.
    #[error("{}: {source}", file.display())]
    Zip {
        /// The archive.
        file: PathBuf,
        /// The zip reader's error.
        source: zip::result::ZipError,
    },
    /// GitLab cannot be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// GitLab refused an upload or download.
    #[error("{what}: GitLab answered HTTP {status}")]
    Refused {
        /// What was sent or asked for.
        what: String,
        /// The status.
        status: u16,
    },
}

fn io(file: &Path) -> impl FnOnce(std::io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        file: file.to_path_buf(),
        source,
    }
}

/// Files git does not track (`untracked: true`), relative to `dir`.
pub fn untracked(dir: &Path) -> Vec<String> {
    std::process::Command::new("git")
        .args(["ls-files", "--others", "-z"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            o.stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Zips every file under `dir` (relative names) into `out`; returns how many.
pub fn zip_dir(dir: &Path, out: &Path) -> Result<usize, FilesError> {
    let file = std::fs::File::create(out).map_err(io(out))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let files = artifacts::list(dir);
    for rel in &files {
        let name = rel.to_string_lossy();
        zip.start_file(name.as_ref(), options)
            .map_err(|source| FilesError::Zip {
                file: out.to_path_buf(),
                source,
            })?;
        let mut f = std::fs::File::open(dir.join(rel)).map_err(io(out))?;
        std::io::copy(&mut f, &mut zip).map_err(io(out))?;
    }
    zip.finish().map_err(|source| FilesError::Zip {
        file: out.to_path_buf(),
        source,
    })?;
    Ok(files.len())
}

/// Unzips `archive` into `workspace`: first into `staging`, then restored with the checks
/// `run::artifacts::restore` makes (nothing written through a symlink out of the workspace).
pub fn unzip_into(archive: &Path, staging: &Path, workspace: &Path) -> Result<usize, FilesError> {
    let zip_err = |source| FilesError::Zip {
        file: archive.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(archive).map_err(io(archive))?;
    let mut zip = zip::ZipArchive::new(f).map_err(zip_err)?;
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    // `extract` skips names that would leave `staging` (`..`, absolute).
    zip.extract(staging).map_err(zip_err)?;
    artifacts::restore(staging, workspace).map_err(io(workspace))
}

/// Gzips every file under `dir`, one gzip member per file (GitLab's `gzip` report format).
fn gzip_dir(dir: &Path, out: &Path) -> Result<usize, FilesError> {
    let mut bytes = Vec::new();
    let files = artifacts::list(dir);
    for rel in &files {
        let data = std::fs::read(dir.join(rel)).map_err(io(out))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).map_err(io(out))?;
        bytes.extend(gz.finish().map_err(io(out))?);
    }
    std::fs::write(out, bytes).map_err(io(out))?;
    Ok(files.len())
}

/// Whether something with `when` (`on_success` when absent) applies to a job that `succeeded`.
pub fn applies(when: Option<&str>, succeeded: bool) -> bool {
    match when.unwrap_or("on_success") {
        "always" => true,
        "on_failure" => !succeeded,
        _ => succeeded,
    }
}

/// Percent-encodes a query value.
fn query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Collects, packs and uploads one `artifacts` entry; returns a line for the trace.
pub async fn upload(
    client: &Client,
    job_id: u64,
    token: &str,
    artifact: &Artifact,
    workspace: &Path,
    scratch: &Path,
) -> Result<String, FilesError> {
    let kind = artifact.artifact_type.as_deref().unwrap_or("archive");
    let format = artifact.artifact_format.as_deref().unwrap_or("zip");
    let mut paths = artifact.paths.clone();
    if artifact.untracked {
        paths.extend(untracked(workspace));
    }
    let staging = scratch.join(format!("artifacts-{kind}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let kept = artifacts::collect(workspace, &paths, &artifact.exclude, &staging)?;
    if kept.is_empty() {
        return Ok(format!("{kind}: no files match; nothing uploaded"));
    }
    let (packed, filename) = match format {
        "gzip" => (scratch.join(format!("{kind}.gz")), format!("{kind}.gz")),
        "raw" => (
            staging.join(&kept[0]),
            kept[0].to_string_lossy().into_owned(),
        ),
        _ => (
            scratch.join(format!("{kind}.zip")),
            format!("{}.zip", artifact.name.as_deref().unwrap_or("artifacts")),
        ),
    };
    match format {
        "gzip" => gzip_dir(&staging, &packed)?,
        "raw" => 1,
        _ => zip_dir(&staging, &packed)?,
    };
    let data = std::fs::read(&packed).map_err(io(&packed))?;
    let boundary = format!("gantry-{job_id}-{}", data.len());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        filename.replace(['"', '\r', '\n'], "_")
    )
    .into_bytes();
    body.extend_from_slice(&data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut path = format!(
        "/api/v4/jobs/{job_id}/artifacts?artifact_format={}&artifact_type={}",
        query(format),
        query(kind)
    );
    if let Some(e) = &artifact.expire_in {
        path.push_str(&format!("&expire_in={}", query(e)));
    }
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let answer = client
        .send(
            Method::POST,
            &path,
            &[("JOB-TOKEN", token), ("Content-Type", &content_type)],
            Bytes::from(body),
        )
        .await?;
    if answer.status != 201 {
        return Err(FilesError::Refused {
            what: format!("uploading {kind} artifacts"),
            status: answer.status,
        });
    }
    Ok(format!(
        "Uploaded {kind} artifacts ({} file{}, {format})",
        kept.len(),
        if kept.len() == 1 { "" } else { "s" }
    ))
}

/// Downloads and unpacks a dependency's artifacts into `workspace`.
pub async fn download(
    client: &Client,
    job_token: &str,
    dep: &Dependency,
    workspace: &Path,
    scratch: &Path,
) -> Result<usize, FilesError> {
    let archive = scratch.join(format!("dependency-{}.zip", dep.id));
    let token = if dep.token.is_empty() {
        job_token
    } else {
        dep.token.as_str()
    };
    let path = format!("/api/v4/jobs/{}/artifacts", dep.id);
    let status = client
        .download(&path, &[("JOB-TOKEN", token)], &archive)
        .await?;
    if status != 200 {
        return Err(FilesError::Refused {
            what: format!("downloading the artifacts of {} (job {})", dep.name, dep.id),
            status,
        });
    }
    let staging = scratch.join(format!("dependency-{}", dep.id));
    let n = unzip_into(&archive, &staging, workspace)?;
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&archive);
    Ok(n)
}

/// The directory of `project`'s caches.
pub fn cache_root(cache_dir: &Path, project: u64) -> PathBuf {
    cache_dir.join(format!("project-{project}"))
}

/// Restores a cache (its key, else its fallback keys); returns a line for the trace.
pub fn cache_pull(root: &Path, cache: &Cache, fallback: Option<&str>, workspace: &Path) -> String {
    let policy = cache.policy.as_deref().unwrap_or("pull-push");
    if policy == "push" {
        return format!("cache {}: policy push, not restored", cache.key);
    }
    let mut keys = vec![cache.key.clone()];
    keys.extend(cache.fallback_keys.iter().cloned());
    keys.extend(fallback.map(str::to_string));
    match crate::run::cache::restore(root, &keys, workspace) {
        Ok(Some(k)) => format!("Restored cache {k}"),
        Ok(None) => format!("cache {}: none yet", cache.key),
        Err(e) => format!("cache {}: not restored: {e}", cache.key),
    }
}

/// Saves a cache after the job when its `policy` and `when` say so.
pub fn cache_push(root: &Path, cache: &Cache, succeeded: bool, workspace: &Path) -> Option<String> {
    let policy = cache.policy.as_deref().unwrap_or("pull-push");
    if policy == "pull" || !applies(cache.when.as_deref(), succeeded) {
        return None;
    }
    let mut paths = cache.paths.clone();
    if cache.untracked {
        paths.extend(untracked(workspace));
    }
    Some(
        match crate::run::cache::save(root, &cache.key, &paths, workspace) {
            Ok(n) => format!("Saved cache {} ({n} files)", cache.key),
            Err(e) => format!("cache {}: not saved: {e}", cache.key),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{applies, query};

    #[test]
    fn when_follows_the_jobs_result() {
        assert!(applies(None, true) && !applies(None, false));
        assert!(applies(Some("on_failure"), false) && !applies(Some("on_failure"), true));
        assert!(applies(Some("always"), false));
        assert_eq!(query("30 days"), "30%20days");
    }
}
