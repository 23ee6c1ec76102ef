//! `GIT_SUBMODULE_STRATEGY`: submodules checked out at the commits the project records for them
//! (not whatever the user's submodule work trees hold), written once per pipeline into a
//! pristine directory that slots copy from. Objects come from the user's submodule
//! repositories, which are only read.

use super::checkouts::CheckoutError;
use std::path::{Path, PathBuf};

/// Writes the submodule at `path` (recorded commit `commit`) of `parent` into `dest/path`,
/// with its own `.git`; with `recursive`, its submodules too. Returns the object stores read.
pub fn materialise(
    parent: &git2::Repository,
    path: &Path,
    commit: git2::Oid,
    dest: &Path,
    recursive: bool,
) -> Result<Vec<PathBuf>, CheckoutError> {
    let repo = open(parent, path).ok_or_else(|| CheckoutError::SubmoduleMissing {
        path: path.to_path_buf(),
    })?;
    let objects = repo.commondir().join("objects");
    let c = repo
        .find_commit(commit)
        .map_err(|_| CheckoutError::SubmoduleCommit {
            path: path.to_path_buf(),
            commit,
            repository: repo.path().to_path_buf(),
        })?;
    let tree = c.tree().map_err(|source| CheckoutError::SubmoduleObject {
        path: path.to_path_buf(),
        source,
    })?;
    let root = dest.join(path);
    std::fs::create_dir_all(&root).map_err(|source| CheckoutError::Write {
        path: root.clone(),
        source,
    })?;
    let mut nested = Vec::new();
    write_tree(&repo, &tree, &root, Path::new(""), &mut nested)?;
    super::git_dir::write(
        &root.join(".git"),
        &super::git_dir::GitDirSpec {
            source: &repo,
            objects: &objects,
            commit,
            branch: None,
            tags: false,
            depth: None,
        },
    )?;
    let mut stores = vec![objects];
    if recursive {
        for (sub, oid) in nested {
            stores.extend(materialise(&repo, &sub, oid, &root, true)?);
        }
    }
    Ok(stores)
}

/// The submodule's repository: its checkout in the parent's work tree, else `.git/modules/…`.
fn open(parent: &git2::Repository, path: &Path) -> Option<git2::Repository> {
    if let Ok(sm) = parent.find_submodule(&path.to_string_lossy())
        && let Ok(r) = sm.open()
    {
        return Some(r);
    }
    let name = parent
        .find_submodule(&path.to_string_lossy())
        .ok()
        .and_then(|s| s.name().ok().map(str::to_string))
        .unwrap_or_else(|| path.to_string_lossy().into_owned());
    git2::Repository::open(parent.path().join("modules").join(name)).ok()
}

/// Writes `tree` under `root/prefix`; collects gitlinks (nested submodules) into `nested`.
fn write_tree(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    root: &Path,
    prefix: &Path,
    nested: &mut Vec<(PathBuf, git2::Oid)>,
) -> Result<(), CheckoutError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |p: &Path, source| CheckoutError::Write {
        path: p.to_path_buf(),
        source,
    };
    let object = |p: &Path, source| CheckoutError::Object {
        path: p.to_path_buf(),
        source,
    };
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        let rel = prefix.join(name);
        let abs = root.join(&rel);
        match entry.filemode() {
            0o040000 => {
                std::fs::create_dir_all(&abs).map_err(|e| io(&abs, e))?;
                let sub = repo.find_tree(entry.id()).map_err(|e| object(&rel, e))?;
                write_tree(repo, &sub, root, &rel, nested)?;
            }
            0o160000 => {
                std::fs::create_dir_all(&abs).map_err(|e| io(&abs, e))?;
                nested.push((rel, entry.id()));
            }
            mode => {
                let blob = repo.find_blob(entry.id()).map_err(|e| object(&rel, e))?;
                if mode == 0o120000 {
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    std::os::unix::fs::symlink(target, &abs).map_err(|e| io(&abs, e))?;
                } else {
                    std::fs::write(&abs, blob.content()).map_err(|e| io(&abs, e))?;
                    let perm = if mode == 0o100755 { 0o755 } else { 0o644 };
                    std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(perm))
                        .map_err(|e| io(&abs, e))?;
                }
            }
        }
    }
    Ok(())
}
