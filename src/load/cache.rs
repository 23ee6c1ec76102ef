//! The include cache in the user's cache directory: file contents stored by their SHA-256
//! (`blobs/`), and what each include location resolved to and when (`resolved/`, one small
//! JSON file per location, named by the location's hash). Contents are verified against their
//! digest when read, so a damaged blob is a miss, never a wrong pipeline. Writes are atomic
//! (temporary file, then rename), so two gantry processes can share the cache.
//!
//! No token is part of a key or an entry: the cache holds what was fetched, not how.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What one location resolved to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The location, as a key (`kind` and its parts, tab-separated).
    pub key: String,
    /// What it resolved to: a commit SHA, a version and SHA, or `sha256:DIGEST` of content.
    pub resolved: String,
    /// The content's digest, when the entry is a file.
    pub blob: Option<String>,
    /// When it was resolved (RFC 3339).
    pub at: String,
}

/// A cache directory (created on first write, private to the user).
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// The user's cache directory for gantry: `GANTRY_CACHE_DIR`, else `$XDG_CACHE_HOME/gantry`,
/// else `~/.cache/gantry` (the XDG rule, the only one gantry's platforms need; no crate for
/// three lines).
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("GANTRY_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("gantry"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".cache").join("gantry"))
}

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    /// The cache under `dir` (its `includes/` folder).
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.join("includes"),
        }
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir
            .join("resolved")
            .join(format!("{}.json", digest(key.as_bytes())))
    }

    /// The entry for `key`, if cached (and really for `key`).
    pub fn entry(&self, key: &str) -> Option<Entry> {
        let text = std::fs::read(self.entry_path(key)).ok()?;
        serde_json::from_slice::<Entry>(&text)
            .ok()
            .filter(|e| e.key == key)
    }

    /// The content with digest `blob`, if cached and intact.
    pub fn blob(&self, blob: &str) -> Option<String> {
        let bytes = std::fs::read(self.dir.join("blobs").join(blob)).ok()?;
        (digest(&bytes) == blob)
            .then(|| String::from_utf8(bytes).ok())
            .flatten()
    }

    /// Stores `text`; its digest.
    pub fn put_blob(&self, text: &str) -> std::io::Result<String> {
        let blob = digest(text.as_bytes());
        let path = self.dir.join("blobs").join(&blob);
        if !path.is_file() {
            self.write(&path, text.as_bytes())?;
        }
        Ok(blob)
    }

    /// Records `entry` under its key.
    pub fn put_entry(&self, entry: &Entry) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        self.write(&self.entry_path(&entry.key), &json)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let parent = path.parent().unwrap_or(&self.dir);
        create_private_dir(&self.dir)?;
        std::fs::create_dir_all(parent)?;
        let mut tmp = parent.to_path_buf();
        tmp.push(format!(".tmp-{}-{}", std::process::id(), digest(bytes)));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// Creates `dir` readable by its owner only: fetched files may come from private projects.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_blobs_round_trip_and_damage_is_a_miss() {
        let tmp = tempfile::tempdir().unwrap();
        let key = "remote\thttps://x/a.yml";
        let cache = Cache::new(tmp.path());
        assert!(cache.entry(key).is_none());
        let blob = cache.put_blob("job:\n  script: echo\n").unwrap();
        let entry = Entry {
            key: "remote\thttps://x/a.yml".into(),
            resolved: format!("sha256:{blob}"),
            blob: Some(blob.clone()),
            at: "2026-01-01T00:00:00Z".into(),
        };
        cache.put_entry(&entry).unwrap();
        assert_eq!(cache.entry(&entry.key), Some(entry));
        assert_eq!(cache.blob(&blob).as_deref(), Some("job:\n  script: echo\n"));
        std::fs::write(tmp.path().join("includes/blobs").join(&blob), "changed").unwrap();
        assert_eq!(cache.blob(&blob), None, "a damaged blob is a miss");
    }
}
