//! A job's workspace: its own copy of the project, as CI would check it out — tracked files with
//! their uncommitted changes (untracked files only on request), never `.git` internals or
//! gantry's state directory.

use std::path::{Path, PathBuf};

/// The files a workspace gets, computed once per pipeline (relative paths).
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    files: Vec<PathBuf>,
    /// The project's object store, when it is a git repository.
    objects: Option<PathBuf>,
}

impl Snapshot {
    /// Lists the project's files: in git, the index plus (optionally) untracked, non-ignored
    /// files; outside git, everything but `.git` and `.gantry`.
    pub fn take(project: &Path, include_untracked: bool) -> Snapshot {
        let mut files = git_files(project, include_untracked).unwrap_or_else(|| walk(project));
        files.sort();
        let objects = git2::Repository::open(project)
            .ok()
            .map(|r| r.commondir().join("objects"));
        Snapshot {
            root: project.to_path_buf(),
            files,
            objects,
        }
    }

    /// Whether `rel` is one of the project's tracked files (what `untracked` excludes).
    pub fn tracks(&self, rel: &Path) -> bool {
        self.files
            .binary_search_by(|f| f.as_path().cmp(rel))
            .is_ok()
    }

    /// Copies the files into `dest` (created), as they are now in the work tree.
    pub fn copy_to(&self, dest: &Path) -> std::io::Result<usize> {
        std::fs::create_dir_all(dest)?;
        let mut copied = 0;
        for rel in &self.files {
            let from = self.root.join(rel);
            let to = dest.join(rel);
            let Ok(meta) = std::fs::symlink_metadata(&from) else {
                continue; // deleted in the work tree: a checkout of this state would not have it
            };
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&from)?;
                let _ = std::fs::remove_file(&to);
                std::os::unix::fs::symlink(target, &to)?;
            } else if meta.is_file() {
                std::fs::copy(&from, &to)?;
            } else {
                continue;
            }
            copied += 1;
        }
        Ok(copied)
    }
}

impl Snapshot {
    /// The project's git object store, which job repositories borrow (read-only).
    pub fn objects(&self) -> Option<&Path> {
        self.objects.as_deref()
    }

    /// Makes `dest` a git repository at `sha`, as CI's checkout would be: HEAD detached at the
    /// commit, the index matching it, the project's tags and `branch` as refs. Objects are not
    /// copied: the repository borrows the project's object store through `alternates`.
    pub fn init_git(&self, dest: &Path, sha: &str, branch: Option<&str>) -> Result<(), String> {
        let (Some(objects), Ok(oid)) = (&self.objects, git2::Oid::from_str(sha)) else {
            return Ok(());
        };
        if oid.is_zero() {
            return Ok(());
        }
        let e = |e: git2::Error| format!("preparing .git in the workspace: {}", e.message());
        let source = git2::Repository::open(&self.root).map_err(e)?;
        git2::Repository::init(dest).map_err(e)?;
        std::fs::write(
            dest.join(".git/objects/info/alternates"),
            format!("{}\n", objects.display()),
        )
        .map_err(|err| err.to_string())?;
        let repo = git2::Repository::open(dest).map_err(e)?;
        if let Ok(tags) = source.references_glob("refs/tags/*") {
            for r in tags.flatten() {
                if let (Ok(name), Some(target)) = (r.name(), r.target()) {
                    let _ = repo.reference(name, target, true, "gantry: tags of the project");
                }
            }
        }
        if let Some(b) = branch {
            let _ = repo.reference(
                &format!("refs/heads/{b}"),
                oid,
                true,
                "gantry: pipeline ref",
            );
        }
        repo.set_head_detached(oid).map_err(e)?;
        let tree = repo.find_commit(oid).and_then(|c| c.tree()).map_err(e)?;
        let mut index = repo.index().map_err(e)?;
        index.read_tree(&tree).map_err(e)?;
        index.write().map_err(e)?;
        Ok(())
    }
}

fn git_files(project: &Path, include_untracked: bool) -> Option<Vec<PathBuf>> {
    let repo = git2::Repository::open(project).ok()?;
    let index = repo.index().ok()?;
    let mut files: Vec<PathBuf> = index
        .iter()
        .filter(|e| e.mode != 0o160000) // submodules are not copied
        .map(|e| PathBuf::from(String::from_utf8_lossy(&e.path).into_owned()))
        .collect();
    if include_untracked {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        if let Ok(statuses) = repo.statuses(Some(&mut opts)) {
            for s in statuses.iter() {
                if s.status().contains(git2::Status::WT_NEW)
                    && let Ok(p) = s.path()
                {
                    files.push(PathBuf::from(p));
                }
            }
        }
    }
    files.retain(|p| !p.starts_with(".gantry"));
    Some(files)
}

fn walk(root: &Path) -> Vec<PathBuf> {
    crate::files::list(root, &[".git", ".gantry"], usize::MAX)
}
