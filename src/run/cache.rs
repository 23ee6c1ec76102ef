//! Caches kept between pipelines on this machine: `key` (text, or the content of up to two
//! `files` with a `prefix`), `paths`, `policy`, `when`, `fallback_keys`.

use super::artifacts;
use crate::model::artifacts::{Cache, CacheKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Directory of the cache `key` under `root`.
pub fn dir(root: &Path, key: &str) -> PathBuf {
    root.join(key.replace(['/', '\\'], "-"))
}

/// The key of a `cache:key:files` cache: a hash of the files' contents (missing files count as
/// empty), prefixed like GitLab's `PREFIX-HASH` (default prefix `default`).
pub fn files_key(workspace: &Path, files: &[String], prefix: Option<&str>) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.as_bytes());
        // A key file outside the workspace (through a symlink) counts as missing.
        let content = crate::files::confine(workspace, Path::new(f))
            .ok()
            .and_then(|p| std::fs::read(p).ok());
        h.update(content.unwrap_or_default());
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hex}", prefix.unwrap_or("default"))
}

/// Restores the first of `keys` that exists; returns the key used.
pub fn restore(root: &Path, keys: &[String], workspace: &Path) -> std::io::Result<Option<String>> {
    for key in keys {
        let d = dir(root, key);
        if d.is_dir() {
            artifacts::restore(&d, workspace)?;
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

/// Replaces the cache `key` with the workspace files matching `paths`.
pub fn save(
    root: &Path,
    key: &str,
    paths: &[String],
    workspace: &Path,
) -> Result<usize, artifacts::CollectError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| artifacts::CollectError::Io { path, source }
    };
    let d = dir(root, key);
    let tmp = root.join(format!(
        ".{}.tmp-{}",
        key.replace('/', "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let kept = artifacts::collect(workspace, paths, &[], &tmp)?;
    let _ = std::fs::remove_dir_all(&d);
    std::fs::rename(&tmp, &d).map_err(io(&d))?;
    Ok(kept.len())
}

/// The key of cache `c` for a job with these variables, whose files are at `workspace`.
pub fn key(c: &Cache, scope: &crate::plan::variables::Scope, workspace: &Path) -> String {
    match &c.key {
        None => "default".into(),
        Some(CacheKey::Text(t)) => scope.expand(&t.value),
        Some(CacheKey::Files { files, prefix }) => {
            let files: Vec<String> = files.iter().map(|f| scope.expand(&f.value)).collect();
            let prefix = prefix.as_ref().map(|p| scope.expand(&p.value));
            files_key(workspace, &files, prefix.as_deref())
        }
    }
}
