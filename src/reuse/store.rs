//! The reuse store under `.gantry/reuse/`: one directory per successful job run, named by its
//! input key, holding `entry.json` (inputs, outputs with digests, date, duration), the masked
//! `log` and the `artifacts/` tree. Entries are written into a temporary directory and renamed
//! into place, so a crash leaves a partial entry nobody reads; every file restored is checked
//! against its recorded digest, and an entry that fails the check is deleted, never used.
//! Bounded in size: after a run, the least recently used entries go until it fits.

use super::error::{Corruption, StoreError};
use super::files::{hex, sha256_file};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Version of the entry format; entries of another version are ignored.
pub const FORMAT: u32 = 1;

/// One file of an entry's artifacts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredFile {
    /// Path relative to the workspace.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
}

/// `entry.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// [`FORMAT`].
    pub format: u32,
    /// The input key (the directory's name).
    pub key: String,
    /// Concrete job name.
    pub job: String,
    /// When the run that made it finished (seconds since the epoch).
    pub created_at: u64,
    /// How long that run's job took, in milliseconds.
    pub duration_ms: u64,
    /// Pipeline IID of that run.
    pub pipeline: u64,
    /// Named inputs → digest (variables only as keyed hashes).
    pub inputs: BTreeMap<String, String>,
    /// Digest of the workspace listing (see `trees/`), for saying which files changed.
    pub tree: Option<String>,
    /// Artifacts, sorted by path.
    pub files: Vec<StoredFile>,
    /// Digest over `files` (what later jobs receive).
    pub outputs: String,
    /// SHA-256 of `log`.
    pub log_sha256: String,
    /// `reports:dotenv` paths (inside the artifacts).
    pub dotenv: Vec<String>,
    /// `reports:junit` paths (inside the artifacts).
    pub junit: Vec<String>,
}

/// The store of one project.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id(),
        unique()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Digest over an entry's artifact list: what later jobs receive from it.
pub fn outputs_digest(files: &[StoredFile]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(format!("{}\0{}\0{:o}\n", f.path, f.sha256, f.mode & 0o777).as_bytes());
    }
    hex(&h.finalize())
}

/// What a run hands over to be stored.
pub struct NewEntry<'a> {
    /// The entry's metadata (files, digests and `outputs` are filled in by [`Store::put`]).
    pub entry: Entry,
    /// The job's collected artifacts (a directory; may be missing: no artifacts).
    pub artifacts: Option<&'a Path>,
    /// The job's masked log.
    pub log: &'a [u8],
}

/// A verified entry restored from the store.
pub struct Restored {
    /// Its metadata.
    pub entry: Entry,
    /// Its log.
    pub log: String,
}

impl Store {
    /// The store under `state_dir` (`.gantry/`).
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join("reuse"),
        }
    }

    /// `.gantry/reuse/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entries(&self) -> PathBuf {
        self.root.join("entries")
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.entries().join(key)
    }

    /// The entry for `key` when it exists and reads back (not yet verified).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.entry_dir(key).join("entry.json")).ok()?;
        let e: Entry = serde_json::from_str(&text).ok()?;
        (e.format == FORMAT && e.key == key).then_some(e)
    }

    /// The entry the last successful run of `job` left (for saying what changed since).
    pub fn latest(&self, job: &str) -> Option<Entry> {
        let key = std::fs::read_to_string(self.root.join("latest").join(slug(job))).ok()?;
        self.get(key.trim())
    }

    /// Stores a successful run atomically; returns the stored entry.
    pub fn put(&self, new: NewEntry<'_>) -> Result<Entry, StoreError> {
        let mut entry = new.entry;
        let entries = self.entries();
        let tmp = entries.join(format!(".tmp-{}-{}", std::process::id(), unique()));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let result = (|| -> Result<Entry, StoreError> {
            let art = tmp.join("artifacts");
            std::fs::create_dir_all(&art).map_err(io(&art))?;
            let mut files = Vec::new();
            if let Some(src) = new.artifacts.filter(|p| p.is_dir()) {
                for rel in crate::files::list(src, &[], usize::MAX) {
                    let from = src.join(&rel);
                    let meta = std::fs::metadata(&from).map_err(io(&from))?;
                    let to = art.join(&rel);
                    if let Some(p) = to.parent() {
                        std::fs::create_dir_all(p).map_err(io(p))?;
                    }
                    std::fs::copy(&from, &to).map_err(io(&rel))?;
                    use std::os::unix::fs::PermissionsExt;
                    files.push(StoredFile {
                        path: rel.to_string_lossy().into_owned(),
                        sha256: sha256_file(&to).map_err(io(&to))?,
                        size: meta.len(),
                        mode: meta.permissions().mode() & 0o777,
                    });
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            entry.outputs = outputs_digest(&files);
            entry.files = files;
            entry.log_sha256 = hex(&Sha256::digest(new.log));
            entry.format = FORMAT;
            let (log, json, used) = (tmp.join("log"), tmp.join("entry.json"), tmp.join("used"));
            std::fs::write(&log, new.log).map_err(io(&log))?;
            let text =
                serde_json::to_vec_pretty(&entry).map_err(|source| StoreError::Json { source })?;
            std::fs::write(&json, text).map_err(io(&json))?;
            std::fs::write(&used, now().to_string()).map_err(io(&used))?;
            let dest = self.entry_dir(&entry.key);
            if dest.exists() {
                let _ = std::fs::remove_dir_all(&dest);
            }
            std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
            let latest = self.root.join("latest").join(slug(&entry.job));
            write_atomically(&latest, entry.key.as_bytes()).map_err(io(&latest))?;
            Ok(entry)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Verifies the entry for `key` and copies its artifacts into `dest` (which is replaced).
    /// A missing entry is `Ok(None)`; a corrupt one is deleted and reported as `Err`.
    pub fn restore(&self, key: &str, dest: &Path) -> Result<Option<Restored>, StoreError> {
        let Some(entry) = self.get(key) else {
            if self.entry_dir(key).exists() {
                self.remove(key);
                return Err(StoreError::Unreadable);
            }
            return Ok(None);
        };
        match self.verify_into(&entry, dest) {
            Ok(log) => {
                let _ = std::fs::write(self.entry_dir(key).join("used"), now().to_string());
                Ok(Some(Restored { entry, log }))
            }
            Err(why) => {
                self.remove(key);
                let _ = std::fs::remove_dir_all(dest);
                Err(StoreError::Corrupt { why })
            }
        }
    }

    fn verify_into(&self, entry: &Entry, dest: &Path) -> Result<String, Corruption> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| Corruption::Io { path, source }
        };
        let dir = self.entry_dir(&entry.key);
        let log = std::fs::read(dir.join("log")).map_err(io(Path::new("log")))?;
        if hex(&Sha256::digest(&log)) != entry.log_sha256 {
            return Err(Corruption::LogDigest);
        }
        let art = dir.join("artifacts");
        let present = crate::files::list(&art, &[], usize::MAX);
        if present.len() != entry.files.len() {
            return Err(Corruption::Count {
                present: present.len(),
                stored: entry.files.len(),
            });
        }
        if outputs_digest(&entry.files) != entry.outputs {
            return Err(Corruption::ListDigest);
        }
        let _ = std::fs::remove_dir_all(dest);
        for f in &entry.files {
            let rel = Path::new(&f.path);
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Corruption::Escapes {
                    path: f.path.clone(),
                });
            }
            let from = art.join(rel);
            let meta = std::fs::symlink_metadata(&from).map_err(io(rel))?;
            if !meta.is_file() || meta.len() != f.size {
                return Err(Corruption::NotStored {
                    path: f.path.clone(),
                });
            }
            let to = dest.join(rel);
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p).map_err(io(p))?;
            }
            // Copy, then check the copy: what later jobs read is what was verified.
            std::fs::copy(&from, &to).map_err(io(rel))?;
            if sha256_file(&to).map_err(io(&to))? != f.sha256 {
                return Err(Corruption::Digest {
                    path: f.path.clone(),
                });
            }
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(f.mode));
        }
        String::from_utf8(log).map_err(|_| Corruption::LogUtf8)
    }

    /// Deletes the entry for `key`.
    pub fn remove(&self, key: &str) {
        let _ = crate::run::pool::force_remove(&self.entry_dir(key));
    }

    /// Entries with their size and last use, oldest use first.
    fn listing(&self) -> Vec<(String, u64, u64)> {
        let Ok(rd) = std::fs::read_dir(self.entries()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let used = std::fs::read_to_string(e.path().join("used"))
                .ok()
                .and_then(|u| u.trim().parse().ok())
                .unwrap_or(0);
            let size = self.get(&name).map_or(0, |en| {
                en.files.iter().map(|f| f.size).sum::<u64>()
                    + std::fs::metadata(e.path().join("log")).map_or(0, |m| m.len())
            });
            out.push((name, size, used));
        }
        out.sort_by_key(|(n, _, used)| (*used, n.clone()));
        out
    }

    /// Deletes least recently used entries until the store holds at most `max_bytes`, and
    /// unreadable entries; with `stale`, also temporaries of runs that died and listings no
    /// entry refers to. Returns what was removed, for the user.
    pub fn prune(&self, max_bytes: u64, stale: bool) -> Vec<String> {
        let mut removed = Vec::new();
        let mut listing = self.listing();
        listing.retain(|(name, _, _)| {
            if self.get(name).is_none() {
                self.remove(name);
                removed.push(format!("unreadable reuse entry {name}"));
                false
            } else {
                true
            }
        });
        let mut total: u64 = listing.iter().map(|(_, s, _)| *s).sum();
        for (name, size, _) in &listing {
            if total <= max_bytes {
                break;
            }
            self.remove(name);
            total -= size;
            removed.push(format!("reuse entry {name} (least recently used)"));
        }
        if stale {
            if let Ok(rd) = std::fs::read_dir(self.entries()) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let pid = name
                        .strip_prefix(".tmp-")
                        .and_then(|r| r.split('-').next())
                        .and_then(|p| p.parse().ok());
                    if let Some(pid) = pid
                        && !crate::executor::docker::process_alive(pid)
                        && crate::run::pool::force_remove(&e.path()).is_ok()
                    {
                        removed.push(format!("partial reuse entry {name}"));
                    }
                }
            }
            removed.extend(super::trees::prune(self));
        }
        removed
    }

    /// Keys of every entry (for pruning listings).
    pub fn keys(&self) -> Vec<String> {
        self.listing().into_iter().map(|(n, _, _)| n).collect()
    }
}

fn slug(job: &str) -> String {
    // Job names can hold `/` and spaces; the slug plus a hash keeps distinct names apart.
    format!(
        "{}-{}",
        crate::plan::slug::slug(job),
        &hex(&Sha256::digest(job.as_bytes()))[..12]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            format: FORMAT,
            key: key.into(),
            job: "build".into(),
            created_at: now(),
            duration_ms: 5,
            pipeline: 1,
            inputs: BTreeMap::new(),
            tree: None,
            files: Vec::new(),
            outputs: String::new(),
            log_sha256: String::new(),
            dotenv: Vec::new(),
            junit: Vec::new(),
        }
    }

    #[test]
    fn a_stored_entry_restores_and_a_tampered_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let art = dir.path().join("art");
        std::fs::create_dir_all(art.join("out")).unwrap();
        std::fs::write(art.join("out/bin"), "binary").unwrap();
        store
            .put(NewEntry {
                entry: entry("k1"),
                artifacts: Some(&art),
                log: b"line\n",
            })
            .unwrap();
        assert_eq!(store.latest("build").unwrap().key, "k1");
        let dest = dir.path().join("dest");
        let r = store.restore("k1", &dest).unwrap().unwrap();
        assert_eq!(r.log, "line\n");
        assert_eq!(
            std::fs::read_to_string(dest.join("out/bin")).unwrap(),
            "binary"
        );
        // Same size, other content: the digest check catches it and the entry goes.
        std::fs::write(store.entry_dir("k1").join("artifacts/out/bin"), "BINARY").unwrap();
        assert!(matches!(
            store.restore("k1", &dest),
            Err(StoreError::Corrupt {
                why: Corruption::Digest { path }
            }) if path == "out/bin"
        ));
        assert!(store.get("k1").is_none());
        assert!(store.restore("k1", &dest).unwrap().is_none());
    }

    #[test]
    fn prune_drops_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for (k, used) in [("old", 1), ("new", 2)] {
            store
                .put(NewEntry {
                    entry: entry(k),
                    artifacts: None,
                    log: &[b'x'; 100],
                })
                .unwrap();
            std::fs::write(store.entry_dir(k).join("used"), used.to_string()).unwrap();
        }
        std::fs::create_dir_all(store.entries().join(".tmp-999999999-0")).unwrap();
        let removed = store.prune(150, true);
        assert!(removed.iter().any(|r| r.contains("old")), "{removed:?}");
        assert!(store.get("new").is_some());
        assert!(store.get("old").is_none());
        assert!(!store.entries().join(".tmp-999999999-0").exists());
    }
}
