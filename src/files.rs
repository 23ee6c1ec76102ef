//! Listing the files under a directory — for workspaces, artifacts and `rules:exists` alike.

use std::path::{Path, PathBuf};

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
