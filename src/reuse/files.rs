//! Content digests of the files a job can see, fast on a second run: a stat cache
//! (`.gantry/reuse/hashes`: size, mtime, ctime, inode → SHA-256) means only files whose stat
//! changed are read again. A file changed in the same instant it was hashed ("racily clean",
//! as git calls it) is never cached, so an edit cannot hide behind an unchanged timestamp.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a file's stat said when it was hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
}

impl Stat {
    fn of(m: &std::fs::Metadata) -> Stat {
        Stat {
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            ino: m.ino(),
        }
    }
}

/// Digests of files by absolute path, with the stat cache behind them. Keyed by the path's
/// bytes with foldhash: `Path`'s component-wise hashing under SipHash was a tenth of a fully
/// reused run.
#[derive(Debug, Default)]
pub struct Hasher {
    cache: HashMap<OsString, (Stat, String), foldhash::fast::RandomState>,
    /// Cached entries looked up since loading (when it equals the cache's size, nothing was
    /// deleted and `retain_under` has nothing to do).
    hits: usize,
    changed: bool,
}

/// Files at or above this many are stat'ed by several threads.
const PARALLEL_STAT: usize = 512;

/// `symlink_metadata` of every path, in order; several threads for many paths (each stat is
/// a path walk in the kernel, and a workspace has thousands).
pub fn stat_all(paths: &[PathBuf]) -> Vec<Option<std::fs::Metadata>> {
    let stat = |p: &PathBuf| std::fs::symlink_metadata(p).ok();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if paths.len() < PARALLEL_STAT || threads < 2 {
        return paths.iter().map(stat).collect();
    }
    let chunk = paths.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                (
                    part,
                    s.spawn(move || part.iter().map(stat).collect::<Vec<_>>()),
                )
            })
            .collect();
        // A thread that could not finish leaves its part to this one: every path keeps its
        // place, so no file is ever paired with another's stat.
        parts
            .into_iter()
            .flat_map(|(part, h)| h.join().unwrap_or_else(|_| part.iter().map(stat).collect()))
            .collect()
    })
}

/// Seconds within which a just-modified file is not cached (it may change again unseen).
const RACY_NS: i128 = 2_000_000_000;

impl Hasher {
    /// Loads the cache at `path` (empty when missing or unreadable).
    pub fn load(path: &Path) -> Hasher {
        let mut h = Hasher::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return h;
        };
        for line in text.lines() {
            let mut f = line.splitn(6, ' ');
            let (Some(d), Some(s), Some(m), Some(c), Some(i), Some(p)) =
                (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Ok(size), Ok(mtime_ns), Ok(ctime_ns), Ok(ino)) =
                (s.parse(), m.parse(), c.parse(), i.parse())
            else {
                continue;
            };
            h.cache.insert(
                OsString::from(p),
                (
                    Stat {
                        size,
                        mtime_ns,
                        ctime_ns,
                        ino,
                    },
                    d.to_string(),
                ),
            );
        }
        h
    }

    /// Writes the cache to `path` atomically, if anything changed.
    pub fn save(&self, path: &Path) {
        if !self.changed {
            return;
        }
        let mut out = String::with_capacity(self.cache.len() * 120);
        for (p, (s, d)) in &self.cache {
            let Some(p) = p.to_str().filter(|p| !p.contains('\n')) else {
                continue;
            };
            out.push_str(&format!(
                "{d} {} {} {} {} {p}\n",
                s.size, s.mtime_ns, s.ctime_ns, s.ino
            ));
        }
        let _ = super::store::write_atomically(path, out.as_bytes());
    }

    /// The digest of what is at `abs`: `F<x>:<sha256>` for a file (`x` when executable),
    /// `L:<sha256 of the target>` for a symlink; `None` when it is gone or not a file.
    pub fn digest(&mut self, abs: &Path) -> Option<String> {
        let meta = std::fs::symlink_metadata(abs).ok();
        self.digest_stated(abs, meta)
    }

    /// [`Hasher::digest`] with `abs`'s `symlink_metadata` already taken ([`stat_all`]).
    pub fn digest_stated(&mut self, abs: &Path, meta: Option<std::fs::Metadata>) -> Option<String> {
        let meta = meta?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(abs).ok()?;
            return Some(format!(
                "L:{}",
                hex(&Sha256::digest(target.as_os_str().as_encoded_bytes()))
            ));
        }
        if !meta.is_file() {
            return None;
        }
        let exec = if meta.mode() & 0o111 != 0 { "x" } else { "" };
        let stat = Stat::of(&meta);
        let key: &OsStr = abs.as_os_str();
        if let Some((s, d)) = self.cache.get(key) {
            self.hits += 1;
            if *s == stat {
                return Some(format!("F{exec}:{d}"));
            }
        }
        let d = sha256_file(abs).ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        if now - stat.mtime_ns > RACY_NS {
            if self
                .cache
                .insert(key.to_os_string(), (stat, d.clone()))
                .is_none()
            {
                self.hits += 1;
            }
            self.changed = true;
        }
        Some(format!("F{exec}:{d}"))
    }

    /// Drops cached paths under `root` that are not in `keep` (deleted files), so the cache
    /// does not grow without bound.
    pub fn retain_under(&mut self, root: &Path, keep: &std::collections::HashSet<PathBuf>) {
        let before = self.cache.len();
        self.cache
            .retain(|p, _| !Path::new(p).starts_with(root) || keep.contains(Path::new(p)));
        self.changed |= self.cache.len() != before;
    }

    /// Whether every cached entry was looked up since loading: then no cached file was
    /// deleted, and `retain_under` would keep everything.
    pub fn all_seen(&self) -> bool {
        self.hits >= self.cache.len()
    }
}

/// SHA-256 of a file's content, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Every file of a directory tree with its digest (relative path, sorted) — for caches.
pub fn tree(hasher: &mut Hasher, root: &Path) -> Vec<(PathBuf, String)> {
    crate::files::list(root, &[], usize::MAX)
        .into_iter()
        .filter_map(|rel| hasher.digest(&root.join(&rel)).map(|d| (rel, d)))
        .collect()
}

/// One digest over `(path, digest)` pairs.
pub fn fold<'a>(entries: impl IntoIterator<Item = (&'a Path, &'a str)>) -> String {
    let mut h = Sha256::new();
    for (p, d) in entries {
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(d.as_bytes());
        h.update([b'\n']);
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_digests_follow_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, "one").unwrap();
        let mut h = Hasher::default();
        let first = h.digest(&f).unwrap();
        std::fs::write(&f, "two").unwrap();
        let second = h.digest(&f).unwrap();
        assert_ne!(first, second);
        let cache = dir.path().join("cache");
        // Old enough to be cached: set an mtime in the past.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let third = h.digest(&f).unwrap();
        assert_eq!(second, third);
        h.save(&cache);
        let mut again = Hasher::load(&cache);
        assert_eq!(again.digest(&f).unwrap(), third);
        assert!(again.cache.contains_key(f.as_os_str()));
        std::fs::write(&f, "six").unwrap(); // same size, new stat
        assert_ne!(again.digest(&f).unwrap(), third);
    }
}
