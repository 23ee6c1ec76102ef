//! Listings of the workspaces keys were computed from (`.gantry/reuse/trees/<digest>`: one
//! `digest path` line per file), written once per distinct workspace, so `gantry plan --reuse`
//! can name the files that changed since a job's last successful run.

use super::store::{Store, write_atomically};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Records `files` under `digest` unless already there.
pub fn record(store: &Store, digest: &str, files: &[(PathBuf, String)]) {
    let path = store.root().join("trees").join(digest);
    if path.exists() {
        return;
    }
    let mut text = String::with_capacity(files.len() * 100);
    for (p, d) in files {
        if let Some(p) = p.to_str().filter(|p| !p.contains('\n')) {
            text.push_str(d);
            text.push(' ');
            text.push_str(p);
            text.push('\n');
        }
    }
    let _ = write_atomically(&path, text.as_bytes());
}

fn read(store: &Store, digest: &str) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(store.root().join("trees").join(digest)).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(d, p)| (p.to_string(), d.to_string()))
            .collect(),
    )
}

/// Files of `now` (filtered by `keep`) that differ from the listing `earlier`: changed,
/// added, removed; at most `limit` names, then a count.
pub fn changed_files(
    store: &Store,
    earlier: &str,
    now: &[(PathBuf, String)],
    keep: &dyn Fn(&Path) -> bool,
    limit: usize,
) -> Option<String> {
    let before = read(store, earlier)?;
    let mut changed = Vec::new();
    let mut seen = HashSet::new();
    for (p, d) in now.iter().filter(|(p, _)| keep(p)) {
        let name = p.to_string_lossy().into_owned();
        match before.get(&name) {
            Some(b) if b == d => {}
            Some(_) => changed.push(name.clone()),
            None => changed.push(format!("{name} (new)")),
        }
        seen.insert(name);
    }
    for p in before.keys() {
        if !seen.contains(p) && keep(Path::new(p)) {
            changed.push(format!("{p} (deleted)"));
        }
    }
    let n = changed.len();
    changed.truncate(limit);
    let mut s = changed.join(", ");
    if n > limit {
        s.push_str(&format!(" and {} more", n - limit));
    }
    Some(s)
}

/// Removes listings no entry refers to.
pub fn prune(store: &Store) -> Vec<String> {
    let used: HashSet<String> = store
        .keys()
        .iter()
        .filter_map(|k| store.get(k).and_then(|e| e.tree))
        .collect();
    let mut removed = Vec::new();
    if let Ok(rd) = std::fs::read_dir(store.root().join("trees")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) && std::fs::remove_file(e.path()).is_ok() {
                removed.push(format!("reuse workspace listing {name}"));
            }
        }
    }
    removed
}
