//! What a clean workspace holds: every directory, file and symlink by relative path, each file
//! with the host path its content comes from. A slot is reset by comparing itself against one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kind of a manifest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory (created empty; its content are other entries).
    Dir,
    /// A regular file, copied with its permissions.
    File,
    /// A symbolic link, recreated with the source's target.
    Symlink,
}

/// One path of a clean workspace.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the workspace.
    pub rel: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Where the content comes from (unused for directories).
    pub source: PathBuf,
}

/// The expected content of a workspace (or of its `.git`), looked up by path.
#[derive(Debug, Default)]
pub struct Manifest {
    entries: Vec<Entry>,
    by_path: HashMap<PathBuf, usize>,
}

impl Manifest {
    /// Adds `rel` (and its missing parent directories).
    pub fn add(&mut self, rel: &Path, kind: Kind, source: PathBuf) {
        if let Some(parent) = rel.parent()
            && !parent.as_os_str().is_empty()
            && !self.by_path.contains_key(parent)
        {
            self.add(parent, Kind::Dir, PathBuf::new());
        }
        if let Some(&i) = self.by_path.get(rel) {
            self.entries[i] = Entry {
                rel: rel.to_path_buf(),
                kind,
                source,
            };
            return;
        }
        self.by_path.insert(rel.to_path_buf(), self.entries.len());
        self.entries.push(Entry {
            rel: rel.to_path_buf(),
            kind,
            source,
        });
    }

    /// Adds the file or symlink at `root/rel` as it is now; nothing if it is gone or special.
    pub fn add_from(&mut self, root: &Path, rel: &Path) {
        let source = root.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&source) else {
            return; // deleted in the work tree: a checkout of this state would not have it
        };
        let kind = if meta.file_type().is_symlink() {
            Kind::Symlink
        } else if meta.is_file() {
            Kind::File
        } else {
            return;
        };
        self.add(rel, kind, source);
    }

    /// Adds every file, symlink and directory under `root` at `prefix/…`.
    pub fn add_tree(&mut self, root: &Path, prefix: &Path) -> std::io::Result<()> {
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in std::fs::read_dir(root.join(&rel))? {
                let e = e?;
                let child = rel.join(e.file_name());
                let ty = e.file_type()?;
                if ty.is_dir() {
                    self.add(&prefix.join(&child), Kind::Dir, PathBuf::new());
                    stack.push(child);
                } else {
                    let kind = if ty.is_symlink() {
                        Kind::Symlink
                    } else {
                        Kind::File
                    };
                    self.add(&prefix.join(&child), kind, root.join(&child));
                }
            }
        }
        Ok(())
    }

    /// Everything, parents before children once [`Manifest::finish`] has run.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at `rel`, with its index.
    pub fn get(&self, rel: &Path) -> Option<(usize, &Entry)> {
        self.by_path.get(rel).map(|&i| (i, &self.entries[i]))
    }

    /// Sorts entries by path (so parents come first) and rebuilds the lookup.
    pub fn finish(mut self) -> Manifest {
        self.entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        self.by_path = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.rel.clone(), i))
            .collect();
        self
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
