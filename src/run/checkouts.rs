//! The clean workspaces of one pipeline, as manifests slots are reset to: the work tree (one per
//! submodule strategy) and `.git` (one per `GIT_DEPTH`), each built the first time a job asks.
//! What is not in the user's work tree (`.git`, submodules at their recorded commits) is written
//! once into a pristine directory beside the slots.

use super::git_vars::Submodules;
use super::manifest::{Kind, Manifest};
use super::workspace::Snapshot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a job's clean checkout (work tree, submodules, `.git`) could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The project's repository cannot be opened.
    #[error("opening the project's repository: {}", source.message())]
    OpenRepository {
        /// libgit2's error.
        source: git2::Error,
    },
    /// A `.git` file or directory cannot be written.
    #[error("writing {}: {source}", dest.display())]
    WriteGit {
        /// The `.git` directory.
        dest: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The commit's index cannot be written into `.git`.
    #[error("preparing .git: {}", source.message())]
    Index {
        /// libgit2's error.
        source: git2::Error,
    },
    /// The prepared `.git` cannot be listed.
    #[error("preparing .git: {source}")]
    GitTree {
        /// The system's error.
        source: std::io::Error,
    },
    /// A submodule has no repository to read from.
    #[error(
        "submodule `{}` is not initialised in your repository (run `git submodule update --init`)",
        path.display()
    )]
    SubmoduleMissing {
        /// The submodule's path.
        path: PathBuf,
    },
    /// The submodule's repository lacks the recorded commit.
    #[error(
        "submodule `{}`: its recorded commit {commit} is not in {} (run `git submodule update`)",
        path.display(),
        repository.display()
    )]
    SubmoduleCommit {
        /// The submodule's path.
        path: PathBuf,
        /// The commit the project records.
        commit: git2::Oid,
        /// The repository searched.
        repository: PathBuf,
    },
    /// A submodule's commit has no readable tree.
    #[error("submodule `{}`: {}", path.display(), source.message())]
    SubmoduleObject {
        /// The submodule's path.
        path: PathBuf,
        /// libgit2's error.
        source: git2::Error,
    },
    /// An object of a submodule's tree cannot be read (`path` is the entry).
    #[error("{}: {}", path.display(), source.message())]
    Object {
        /// Where.
        path: PathBuf,
        /// libgit2's error.
        source: git2::Error,
    },
    /// A submodule's file cannot be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A written submodule cannot be listed.
    #[error("submodule `{}`: {source}", path.display())]
    SubmoduleTree {
        /// The submodule's path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// Manifests of the pipeline's clean workspaces, built on demand and shared by all slots.
#[derive(Debug)]
pub struct Checkouts {
    snapshot: Snapshot,
    pristine: PathBuf,
    commit: Option<git2::Oid>,
    branch: Option<String>,
    trees: Mutex<HashMap<Submodules, Arc<Manifest>>>,
    gits: Mutex<HashMap<Option<u32>, Arc<Manifest>>>,
    read_only: Mutex<Vec<PathBuf>>,
}

impl Checkouts {
    /// Workspaces of `snapshot` at commit `sha` (no `.git` when it is zero or not a commit),
    /// with `branch` as a ref; pristine files go under `pristine`.
    pub fn new(snapshot: Snapshot, sha: &str, branch: Option<&str>, pristine: PathBuf) -> Self {
        let commit = git2::Oid::from_str(sha)
            .ok()
            .filter(|o| !o.is_zero() && snapshot.objects().is_some());
        let read_only = snapshot
            .objects()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        Checkouts {
            snapshot,
            pristine,
            commit,
            branch: branch.map(str::to_string),
            trees: Mutex::new(HashMap::new()),
            gits: Mutex::new(HashMap::new()),
            read_only: Mutex::new(read_only),
        }
    }

    /// The snapshot the work trees come from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Host paths jobs read but must not change (object stores borrowed through `alternates`).
    pub fn read_only(&self) -> Vec<PathBuf> {
        self.read_only
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The clean work tree with `submodules` checked out.
    pub fn tree(&self, submodules: Submodules) -> Result<Arc<Manifest>, CheckoutError> {
        let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = trees.get(&submodules) {
            return Ok(m.clone());
        }
        let root = self.snapshot.root();
        let mut m = Manifest::default();
        for rel in self.snapshot.files() {
            m.add_from(root, rel);
        }
        for (path, _) in self.snapshot.gitlinks() {
            m.add(path, Kind::Dir, PathBuf::new()); // git leaves submodule directories empty
        }
        if submodules != Submodules::None && !self.snapshot.gitlinks().is_empty() {
            let repo = git2::Repository::open(root)
                .map_err(|source| CheckoutError::OpenRepository { source })?;
            let dest = self.pristine.join(match submodules {
                Submodules::Recursive => "submodules-recursive",
                _ => "submodules",
            });
            let _ = super::pool::force_remove(&dest);
            for (path, oid) in self.snapshot.gitlinks() {
                let stores = super::submodules::materialise(
                    &repo,
                    path,
                    *oid,
                    &dest,
                    submodules == Submodules::Recursive,
                )?;
                self.read_only
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(stores);
                m.add_tree(&dest.join(path), path).map_err(|source| {
                    CheckoutError::SubmoduleTree {
                        path: path.clone(),
                        source,
                    }
                })?;
            }
        }
        let m = Arc::new(m.finish());
        trees.insert(submodules, m.clone());
        Ok(m)
    }

    /// The clean `.git` (paths under `.git/`), or `None` outside a repository.
    pub fn git(&self, depth: Option<u32>) -> Result<Option<Arc<Manifest>>, CheckoutError> {
        let (Some(commit), Some(objects)) = (self.commit, self.snapshot.objects()) else {
            return Ok(None);
        };
        let mut gits = self.gits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = gits.get(&depth) {
            return Ok(Some(m.clone()));
        }
        let dest = self.pristine.join(match depth {
            Some(d) => format!("git-depth-{d}"),
            None => "git".into(),
        });
        let _ = super::pool::force_remove(&dest);
        let source = git2::Repository::open(self.snapshot.root())
            .map_err(|source| CheckoutError::OpenRepository { source })?;
        super::git_dir::write(
            &dest,
            &super::git_dir::GitDirSpec {
                source: &source,
                objects,
                commit,
                branch: self.branch.as_deref(),
                tags: true,
                depth,
            },
        )?;
        let mut m = Manifest::default();
        m.add(Path::new(".git"), Kind::Dir, PathBuf::new());
        m.add_tree(&dest, Path::new(".git"))
            .map_err(|source| CheckoutError::GitTree { source })?;
        let m = Arc::new(m.finish());
        gits.insert(depth, m.clone());
        Ok(Some(m))
    }
}
