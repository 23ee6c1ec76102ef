//! What a job's workspace holds, taken once per pipeline: the project as CI would check it out —
//! tracked files with their uncommitted changes (untracked files only on request), never `.git`
//! internals or gantry's state directory.

use std::path::{Path, PathBuf};

/// The files a workspace gets, computed once per pipeline (relative paths).
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    files: Vec<PathBuf>,
    gitlinks: Vec<(PathBuf, git2::Oid)>,
    /// The project's object store, when it is a git repository.
    objects: Option<PathBuf>,
}

impl Snapshot {
    /// Lists the project's files: in git, the index plus (optionally) untracked, non-ignored
    /// files; outside git, everything but `.git` and `.gantry`.
    pub fn take(project: &Path, include_untracked: bool) -> Snapshot {
        let (mut files, gitlinks) =
            git_files(project, include_untracked).unwrap_or_else(|| (walk(project), Vec::new()));
        files.sort();
        let objects = git2::Repository::open(project)
            .ok()
            .map(|r| r.commondir().join("objects"));
        Snapshot {
            root: project.to_path_buf(),
            files,
            gitlinks,
            objects,
        }
    }

    /// Whether `rel` is one of the project's tracked files (what `untracked` excludes).
    pub fn tracks(&self, rel: &Path) -> bool {
        self.files
            .binary_search_by(|f| f.as_path().cmp(rel))
            .is_ok()
    }

    /// Project root the files are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files (relative paths, sorted).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Submodules recorded in the index: path and commit.
    pub fn gitlinks(&self) -> &[(PathBuf, git2::Oid)] {
        &self.gitlinks
    }

    /// The project's git object store, which job repositories borrow (read-only).
    pub fn objects(&self) -> Option<&Path> {
        self.objects.as_deref()
    }
}

type Listing = (Vec<PathBuf>, Vec<(PathBuf, git2::Oid)>);

fn git_files(project: &Path, include_untracked: bool) -> Option<Listing> {
    let repo = git2::Repository::open(project).ok()?;
    let index = repo.index().ok()?;
    let path = |e: &git2::IndexEntry| PathBuf::from(String::from_utf8_lossy(&e.path).into_owned());
    let mut files = Vec::new();
    let mut gitlinks = Vec::new();
    for e in index.iter() {
        if e.mode == 0o160000 {
            gitlinks.push((path(&e), e.id)); // submodules: see GIT_SUBMODULE_STRATEGY
        } else {
            files.push(path(&e));
        }
    }
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
    Some((files, gitlinks))
}

fn walk(root: &Path) -> Vec<PathBuf> {
    crate::files::list(root, &[".git", ".gantry"], usize::MAX)
}
