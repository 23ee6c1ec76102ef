//! Files of a pipeline: listing the files under a directory (workspaces, artifacts,
//! `rules:exists`), and confinement — every file gantry reads or writes for a pipeline
//! (includes, components, templates, artifacts, caches, reports, `render` inside a job) goes
//! through [`confine`], so a symlink in a repository cannot lead gantry out of its checkout or
//! workspace.

use std::path::{Component, Path, PathBuf};

/// A path that leads out of the directory it must stay in (through a symlink, `..`, or an
/// absolute path), or through a dangling symlink. It says nothing of what it points at: the
/// file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The path as the pipeline wrote it (relative to the root where it was).
    pub path: PathBuf,
}

impl std::fmt::Display for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` leads outside its directory (a symlink, `..` or an absolute path); refused",
            self.path.display()
        )
    }
}

impl std::error::Error for Outside {}

/// `path` (relative to `root`, or absolute) with every symlink resolved, provided it stays
/// inside `root` (itself resolved). A path that does not exist yet (a file to write) is resolved
/// as far as it exists; the rest must be plain names. A dangling symlink is refused: writing
/// through it would create its target wherever it points.
pub fn confine(root: &Path, path: &Path) -> Result<PathBuf, Outside> {
    let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let outside = || Outside {
        path: shown.clone(),
    };
    let base = root.canonicalize().map_err(|_| outside())?;
    let full = root.join(path);
    let mut existing = full.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let resolved = loop {
        match existing.canonicalize() {
            Ok(c) => break c,
            Err(_) => {
                if std::fs::symlink_metadata(existing).is_ok() {
                    return Err(outside()); // dangling symlink (or unreadable link)
                }
                match (existing.parent(), existing.components().next_back()) {
                    (Some(parent), Some(Component::Normal(name))) => {
                        rest.push(name);
                        existing = parent;
                    }
                    (Some(parent), Some(Component::CurDir)) => existing = parent,
                    _ => return Err(outside()),
                }
            }
        }
    };
    let resolved = rest.iter().rev().fold(resolved, |p, name| p.join(name));
    if resolved.starts_with(&base) {
        Ok(resolved)
    } else {
        Err(outside())
    }
}

/// Files (and symlinks) under `root` as relative paths, sorted; does not follow directory
/// symlinks; skips top-level entries named in `skip_top` (e.g. `.git`); stops after `limit`.
pub fn list(root: &Path, skip_top: &[&str], limit: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    'walk: while let Some(rel) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if rel.as_os_str().is_empty() && skip_top.iter().any(|s| name == *s) {
                continue;
            }
            let child = rel.join(&name);
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(child),
                Ok(_) => {
                    out.push(child);
                    if out.len() >= limit {
                        break 'walk;
                    }
                }
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn confine_follows_symlinks_inside_and_refuses_them_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::write(root.join("dir/a.yml"), "a").unwrap();
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        symlink("dir/a.yml", root.join("inside.yml")).unwrap();
        symlink(tmp.path().join("secret"), root.join("leak.yml")).unwrap();
        symlink(tmp.path(), root.join("up")).unwrap();
        symlink(tmp.path().join("gone"), root.join("dangling")).unwrap();
        let ok = |p: &str| confine(&root, Path::new(p));
        let canonical_root = root.canonicalize().unwrap();
        assert_eq!(ok("inside.yml"), Ok(canonical_root.join("dir/a.yml")));
        assert_eq!(ok("dir/new/file"), Ok(canonical_root.join("dir/new/file")));
        assert_eq!(ok("./dir/a.yml"), Ok(canonical_root.join("dir/a.yml")));
        for bad in [
            "leak.yml",
            "up/secret",
            "up/new-file",
            "dangling",
            "dangling/x",
            "../secret",
            "dir/../../secret",
            "/etc/hostname",
        ] {
            let e = ok(bad).unwrap_err();
            assert!(e.to_string().contains("refused"), "{bad}: {e}");
        }
    }
}
