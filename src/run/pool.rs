//! The workspace pool of one pipeline: one slot per concurrently running job, reused from job to
//! job the way a GitLab runner reuses its build directory. Between jobs a slot is reset to the
//! pipeline's [`Manifest`] by comparing against it — stat data first, content only when the stat
//! data cannot tell — restoring or removing only what differs, so a job's set-up costs what the
//! previous job changed, not the size of the repository. Like a runner's build directories,
//! slot directories (`.gantry/workspaces/slotN`) outlive the pipeline, locked while one uses
//! them, so the next pipeline starts warm; `gantry gc` removes them.

use super::git_vars::{Clean, Strategy};
use super::manifest::{Entry, Kind, Manifest};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The slots of one pipeline, under one directory (`.gantry/workspaces`).
#[derive(Debug)]
pub struct Pool {
    root: PathBuf,
    trash: PathBuf,
    free: Mutex<Vec<Slot>>,
    next: Mutex<usize>,
}

impl Pool {
    /// A pool whose slots live under `root`; what a job throws away (`GIT_STRATEGY` clone or
    /// empty) is moved into `trash`, for deletion after the run. Nothing is created until a
    /// slot is leased.
    pub fn new(root: PathBuf, trash: PathBuf) -> Pool {
        Pool {
            root,
            trash,
            free: Mutex::new(Vec::new()),
            next: Mutex::new(0),
        }
    }

    /// A free slot (the most recently used one, else the first slot directory no other run
    /// holds); back in the pool when dropped. The caller bounds concurrency, so there are
    /// never more slots than jobs running at once.
    pub fn lease(&self) -> Lease<'_> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let slot = reused.unwrap_or_else(|| {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let id = *next;
                *next += 1;
                if let Some(slot) = Slot::claim(&self.root, &self.trash, id) {
                    return slot;
                }
            }
        });
        Lease { pool: self, slot }
    }
}

/// A slot lent to one job.
#[derive(Debug)]
pub struct Lease<'a> {
    pool: &'a Pool,
    slot: Slot,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        &self.slot
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Slot {
        &mut self.slot
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let slot = std::mem::replace(&mut self.slot, Slot::placeholder());
        self.pool
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot);
    }
}

/// Stat data that changes whenever a file's content, kind, mode or links do (ctime cannot be
/// set).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sig {
    ino: u64,
    nlink: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl Sig {
    fn of(m: &std::fs::Metadata) -> Sig {
        Sig {
            ino: m.ino(),
            nlink: m.nlink(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
        }
    }
}

/// What the slot wrote at a path: its stat data then, and where the content came from.
#[derive(Debug)]
struct Record {
    sig: Sig,
    source: PathBuf,
}

/// What a reset did, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetStats {
    /// Files, symlinks and directories written.
    pub restored: usize,
    /// Paths removed (a directory counts once).
    pub removed: usize,
    /// Files whose content had to be compared because their stat data was too recent to trust.
    pub compared: usize,
}

/// How to prepare a slot for one job.
pub struct Checkout<'a> {
    /// `GIT_STRATEGY`.
    pub strategy: Strategy,
    /// `GIT_CHECKOUT`: restore the work tree (otherwise only `.git`).
    pub checkout: bool,
    /// `GIT_CLEAN_FLAGS`.
    pub clean: &'a Clean,
    /// The work tree (paths relative to the workspace).
    pub tree: &'a Manifest,
    /// The `.git` directory (paths start with `.git/`), when the project is a repository.
    pub git: Option<&'a Manifest>,
}

/// One reusable workspace (`ws/`) and its scratch directory (`tmp/`).
#[derive(Debug)]
pub struct Slot {
    id: usize,
    dir: PathBuf,
    trash: PathBuf,
    /// Held (an exclusive `flock`) while this run uses the slot directory.
    _lock: Option<std::fs::File>,
    /// The permissions a new directory gets here (umask applied): what a fresh copy has.
    dir_mode: u32,
    known: HashMap<PathBuf, Record>,
    /// A file-system timestamp taken when the last job started: anything we wrote at or after
    /// it may have been changed by that job without its stat data showing it.
    marker: Option<(i64, i64)>,
    discarded: usize,
}

impl Slot {
    /// Slot `id` under `root`, unless another run holds it. Without a lock file (read-only
    /// state directory) the slot is used unlocked; creating its directories will say why not.
    fn claim(root: &Path, trash: &Path, id: usize) -> Option<Slot> {
        let _ = std::fs::create_dir_all(root);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(format!("slot{id}.lock")))
            .ok();
        if let Some(f) = &lock
            && !try_lock(f)
        {
            return None;
        }
        let probe = root.join(format!("slot{id}.probe"));
        let _ = std::fs::remove_dir(&probe);
        let dir_mode = std::fs::create_dir(&probe)
            .and_then(|_| std::fs::metadata(&probe))
            .map_or(0o755, |m| m.mode() & 0o7777);
        let _ = std::fs::remove_dir(&probe);
        Some(Slot {
            id,
            dir: root.join(format!("slot{id}")),
            trash: trash.to_path_buf(),
            _lock: lock,
            dir_mode,
            known: HashMap::new(),
            marker: None,
            discarded: 0,
        })
    }

    fn placeholder() -> Slot {
        Slot {
            id: usize::MAX,
            dir: PathBuf::new(),
            trash: PathBuf::new(),
            _lock: None,
            dir_mode: 0o755,
            known: HashMap::new(),
            marker: None,
            discarded: 0,
        }
    }

    /// The slot's number (GitLab's `CI_CONCURRENT_ID`).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The job's project directory.
    pub fn workspace(&self) -> PathBuf {
        self.dir.join("ws")
    }

    /// The job's scratch directory (scripts, file variables; these go for every job).
    pub fn scratch(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Makes the workspace what `c` asks for, and an empty scratch directory.
    pub fn prepare(&mut self, c: &Checkout<'_>) -> std::io::Result<ResetStats> {
        let mut stats = ResetStats::default();
        // Scripts are overwritten in place (no new inode per job); file variables are not
        // left for the next job to read.
        let scratch = self.scratch();
        std::fs::create_dir_all(&scratch)?;
        force_remove(&scratch.join("vars"))?;
        let ws = self.workspace();
        match c.strategy {
            Strategy::None => std::fs::create_dir_all(&ws)?,
            Strategy::Empty => {
                self.discard()?;
                std::fs::create_dir_all(&ws)?;
            }
            Strategy::Clone | Strategy::Fetch => {
                if c.strategy == Strategy::Clone {
                    self.discard()?;
                }
                std::fs::create_dir_all(&ws)?;
                if let Some(git) = c.git {
                    self.sync(
                        git,
                        Path::new(".git"),
                        None,
                        &Clean::everything(),
                        &mut stats,
                    )?;
                }
                if c.checkout {
                    let skip = c.git.map(|_| Path::new(".git"));
                    self.sync(c.tree, Path::new(""), skip, c.clean, &mut stats)?;
                }
            }
        }
        self.stamp()?;
        Ok(stats)
    }

    /// Moves the workspace aside (deleted with the pipeline's slots, not now).
    fn discard(&mut self) -> std::io::Result<()> {
        let ws = self.workspace();
        self.known.clear();
        if std::fs::symlink_metadata(&ws).is_err() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.trash)?;
        self.discarded += 1;
        let to = self
            .trash
            .join(format!("slot{}-{}", self.id, self.discarded));
        if std::fs::rename(&ws, &to).is_err() {
            force_remove(&ws)?;
        }
        Ok(())
    }

    /// Takes a file-system timestamp now (see `marker`).
    fn stamp(&mut self) -> std::io::Result<()> {
        let path = self.dir.join("marker");
        std::fs::write(&path, b"x")?;
        let m = std::fs::metadata(&path)?;
        self.marker = Some((m.mtime(), m.mtime_nsec()));
        Ok(())
    }

    fn racy(&self, sig: &Sig) -> bool {
        self.marker.is_none_or(|m| sig.ctime >= m || sig.mtime >= m)
    }

    /// Brings `ws/base` to exactly the entries of `m` under `base` (all of `m` when `base` is
    /// empty), leaving `skip` alone. Extra paths go as `clean` says.
    fn sync(
        &mut self,
        m: &Manifest,
        base: &Path,
        skip: Option<&Path>,
        clean: &Clean,
        stats: &mut ResetStats,
    ) -> std::io::Result<()> {
        let ws = self.workspace();
        let mut seen = vec![false; m.len()];
        if !base.as_os_str().is_empty() {
            let abs = ws.join(base);
            match std::fs::symlink_metadata(&abs) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    force_remove(&abs)?;
                    stats.removed += 1;
                }
                Err(_) => {}
            }
        }
        let ignore = Ignore::new(&ws, clean);
        let mut stack = vec![base.to_path_buf()];
        let mut first = true;
        while let Some(rel) = stack.pop() {
            let entries = match std::fs::read_dir(ws.join(&rel)) {
                Ok(rd) => rd,
                Err(e) if first && e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            first = false;
            for e in entries {
                let e = e?;
                let child = rel.join(e.file_name());
                if skip == Some(child.as_path()) {
                    continue;
                }
                let is_dir = e.file_type()?.is_dir();
                let Some((i, entry)) = m.get(&child) else {
                    self.extra(&ws, &child, is_dir, clean, &ignore, stats)?;
                    continue;
                };
                let abs = ws.join(&child);
                if entry.kind == Kind::Dir && is_dir {
                    let wanted = self
                        .known
                        .get(&child)
                        .map_or(self.dir_mode, |rec| rec.sig.mode & 0o7777);
                    // DirEntry::metadata is an fstatat on the open directory: no path walk.
                    let meta = e.metadata()?;
                    if meta.mode() & 0o7777 != wanted {
                        std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(wanted))?;
                    }
                    seen[i] = true;
                    stack.push(child);
                } else if entry.kind != Kind::Dir
                    && self.unchanged(&abs, &e.metadata()?, entry, stats)?
                {
                    seen[i] = true;
                } else {
                    force_remove(&abs)?;
                    self.known.remove(&child);
                }
            }
        }
        for (i, entry) in m.entries().iter().enumerate() {
            if seen[i]
                || !entry.rel.starts_with(base)
                || skip.is_some_and(|s| entry.rel.starts_with(s))
            {
                continue;
            }
            if self.create(&ws, entry)? {
                stats.restored += 1;
            }
        }
        Ok(())
    }

    /// Whether the file at `abs` is still what the slot wrote from `entry.source`. Stat data
    /// decides when the slot wrote it (and not within the last job's first timestamp tick);
    /// otherwise — a slot left by an earlier run, a new source — kind, mode, size, links and
    /// content are compared, and a match is remembered.
    fn unchanged(
        &mut self,
        abs: &Path,
        meta: &std::fs::Metadata,
        entry: &Entry,
        stats: &mut ResetStats,
    ) -> std::io::Result<bool> {
        let sig = Sig::of(meta);
        if let Some(rec) = self.known.get(&entry.rel)
            && rec.source == entry.source
            && rec.sig == sig
            && !self.racy(&sig)
        {
            return Ok(true);
        }
        let Ok(source) = std::fs::symlink_metadata(&entry.source) else {
            return Ok(false);
        };
        let kind_ok = match entry.kind {
            Kind::File => meta.is_file() && source.is_file(),
            Kind::Symlink => meta.file_type().is_symlink() && source.file_type().is_symlink(),
            Kind::Dir => false,
        };
        if !kind_ok
            || (entry.kind == Kind::File
                && (meta.mode() != source.mode() || meta.len() != source.len() || sig.nlink != 1))
        {
            return Ok(false);
        }
        stats.compared += 1;
        if !same_content(abs, &entry.source, entry.kind)? {
            return Ok(false);
        }
        self.known.insert(
            entry.rel.clone(),
            Record {
                sig,
                source: entry.source.clone(),
            },
        );
        Ok(true)
    }

    /// Writes `entry` into the workspace; false when its source has gone. Parents come first
    /// in a manifest, so the parent directory is only created here when it is unexpectedly gone.
    fn create(&mut self, ws: &Path, entry: &Entry) -> std::io::Result<bool> {
        let abs = ws.join(&entry.rel);
        let write = |abs: &Path| -> std::io::Result<bool> {
            match entry.kind {
                Kind::Dir => std::fs::create_dir(abs).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists && abs.is_dir() {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?,
                Kind::File => {
                    std::fs::copy(&entry.source, abs)?;
                }
                Kind::Symlink => {
                    let Ok(target) = std::fs::read_link(&entry.source) else {
                        return Ok(false);
                    };
                    std::os::unix::fs::symlink(target, abs)?;
                }
            }
            Ok(true)
        };
        let written = match write(&abs) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if entry.kind != Kind::Dir && std::fs::symlink_metadata(&entry.source).is_err() {
                    return Ok(false); // deleted in the work tree since the snapshot
                }
                if let Some(parent) = abs.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                write(&abs)?
            }
            other => other?,
        };
        if !written {
            return Ok(false);
        }
        let meta = std::fs::symlink_metadata(&abs)?;
        self.known.insert(
            entry.rel.clone(),
            Record {
                sig: Sig::of(&meta),
                source: entry.source.clone(),
            },
        );
        Ok(true)
    }

    /// A path the clean workspace does not have: removed, or kept, as `git clean` would.
    fn extra(
        &mut self,
        ws: &Path,
        rel: &Path,
        is_dir: bool,
        clean: &Clean,
        ignore: &Ignore,
        stats: &mut ResetStats,
    ) -> std::io::Result<()> {
        if !clean.enabled {
            return Ok(());
        }
        let abs = ws.join(rel);
        if clean.removes_all() {
            force_remove(&abs)?;
            stats.removed += 1;
            return Ok(());
        }
        let ignored = ignore.is_ignored(rel, is_dir);
        // `Ignore` already applies `-x` (only `-e` patterns count), so kept = ignored.
        let keep = if clean.only_ignored {
            !ignored
        } else {
            ignored
        };
        if !is_dir {
            if !keep {
                force_remove(&abs)?;
                stats.removed += 1;
            }
            return Ok(());
        }
        if !clean.dirs {
            return Ok(()); // git clean without -d leaves untracked directories alone
        }
        if ignored && !keep {
            force_remove(&abs)?;
            stats.removed += 1;
            return Ok(());
        }
        if ignored && keep {
            return Ok(());
        }
        for e in std::fs::read_dir(&abs)? {
            let e = e?;
            let is_dir = e.file_type()?.is_dir();
            self.extra(ws, &rel.join(e.file_name()), is_dir, clean, ignore, stats)?;
        }
        let _ = std::fs::remove_dir(&abs); // only once empty
        Ok(())
    }
}

/// Ignore rules for a clean that keeps some untracked files: the work tree's `.gitignore`s
/// (unless `-x`) plus `-e` patterns.
struct Ignore {
    repo: Option<git2::Repository>,
    excludes: Option<globset::GlobSet>,
}

impl Ignore {
    fn new(ws: &Path, clean: &Clean) -> Ignore {
        if clean.removes_all() || !clean.enabled {
            return Ignore {
                repo: None,
                excludes: None,
            };
        }
        let repo = (!clean.ignored || clean.only_ignored)
            .then(|| git2::Repository::open(ws).ok())
            .flatten();
        let mut set = globset::GlobSetBuilder::new();
        for p in &clean.excludes {
            let p = p.trim_start_matches('/');
            let p = if p.contains('/') {
                p.to_string()
            } else {
                format!("**/{p}")
            };
            if let Ok(g) = globset::Glob::new(p.trim_end_matches('/')) {
                set.add(g);
            }
        }
        Ignore {
            repo,
            excludes: set.build().ok(),
        }
    }

    fn excluded(&self, rel: &Path) -> bool {
        self.excludes.as_ref().is_some_and(|s| s.is_match(rel))
    }

    fn is_ignored(&self, rel: &Path, is_dir: bool) -> bool {
        if self.excluded(rel) {
            return true;
        }
        let Some(repo) = &self.repo else {
            return false;
        };
        let path = if is_dir {
            PathBuf::from(format!("{}/", rel.display()))
        } else {
            rel.to_path_buf()
        };
        repo.is_path_ignored(&path).unwrap_or(false)
    }
}

fn same_content(a: &Path, b: &Path, kind: Kind) -> std::io::Result<bool> {
    if kind == Kind::Symlink {
        return Ok(std::fs::read_link(a).ok() == std::fs::read_link(b).ok());
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return Ok(false);
    };
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(fb.read(&mut bb)? == 0);
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Takes an exclusive `flock` on `f` without waiting; false when another process holds it.
fn try_lock(f: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; it only takes or refuses an advisory lock.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes the slot directories under `root` that no run holds (for `gantry gc`).
pub fn sweep_slots(root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("slot") || name.ends_with(".lock") {
            continue;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(format!("{name}.lock")));
        if lock.as_ref().is_ok_and(try_lock) && force_remove(&e.path()).is_ok() {
            removed.push(format!("workspaces {}", e.path().display()));
        }
    }
    removed
}

/// Deletes `dir` without making anyone wait: moved into `trash` at once, then removed there by
/// a detached `rm -rf` that outlives gantry (thousands of unlinks cost seconds on a busy disk).
/// Falls back to deleting now; `gantry gc` sweeps whatever a crash leaves in `trash`.
pub fn delete_in_background(dir: &Path, trash: &Path) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let to = trash.join(format!("{}-{nanos}", std::process::id()));
    if std::fs::create_dir_all(trash)
        .and_then(|_| std::fs::rename(dir, &to))
        .is_err()
    {
        return force_remove(dir);
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg(&to)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if spawned.is_err() {
        force_remove(&to)?;
    }
    Ok(())
}

/// Removes a file, symlink or directory tree, even one a job made read-only.
pub fn force_remove(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    // Something inside was not writable: open every directory up, then try again.
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch<'a>(tree: &'a Manifest, clean: &'a Clean) -> Checkout<'a> {
        Checkout {
            strategy: Strategy::Fetch,
            checkout: true,
            clean,
            tree,
            git: None,
        }
    }

    #[test]
    fn a_reset_restores_only_what_changed_even_within_one_timestamp_tick() {
        let src = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(src.path().join(format!("f{i}")), "AAAA").unwrap();
        }
        let mut m = Manifest::default();
        for i in 0..20 {
            m.add_from(src.path(), Path::new(&format!("f{i}")));
        }
        let m = m.finish();
        let slots = tempfile::tempdir().unwrap();
        let pool = Pool::new(slots.path().join("ws"), slots.path().join("trash"));
        let clean = Clean::everything();
        let mut slot = pool.lease();
        let first = slot.prepare(&fetch(&m, &clean)).unwrap();
        assert_eq!(first.restored, 20);
        // Same size, written at once: its stat data may not change at all within a tick.
        let ws = slot.workspace();
        std::fs::write(ws.join("f3"), "BBBB").unwrap();
        std::fs::write(ws.join("extra"), "x").unwrap();
        let second = slot.prepare(&fetch(&m, &clean)).unwrap();
        assert_eq!(std::fs::read_to_string(ws.join("f3")).unwrap(), "AAAA");
        assert!(!ws.join("extra").exists());
        assert_eq!((second.restored, second.removed), (1, 1), "{second:?}");
        let third = slot.prepare(&fetch(&m, &clean)).unwrap();
        assert_eq!((third.restored, third.removed), (0, 0), "{third:?}");
    }
}
