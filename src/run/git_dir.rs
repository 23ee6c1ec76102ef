//! Writes a workspace's `.git` once per pipeline, as CI's checkout would leave it: HEAD detached
//! at the commit, the index matching it, tags and the pipeline's branch as packed refs, and
//! (with `GIT_DEPTH`) a `shallow` boundary. No template files (hook samples, description):
//! every file written here is copied into every slot. Objects are borrowed from the project's
//! store through `alternates`, never copied.

use super::checkouts::CheckoutError;
use std::fmt::Write as _;
use std::path::Path;

/// What goes into one `.git`.
pub struct GitDirSpec<'a> {
    /// The repository whose objects are borrowed.
    pub source: &'a git2::Repository,
    /// Its object store (the `alternates` target).
    pub objects: &'a Path,
    /// The commit checked out.
    pub commit: git2::Oid,
    /// Branch to point at the commit (`None` for tags and submodules).
    pub branch: Option<&'a str>,
    /// Copy the source's tags.
    pub tags: bool,
    /// `GIT_DEPTH`.
    pub depth: Option<u32>,
}

/// Creates `dest` (a `.git` directory) from `spec`.
pub fn write(dest: &Path, spec: &GitDirSpec<'_>) -> Result<(), CheckoutError> {
    let io = |source| CheckoutError::WriteGit {
        dest: dest.to_path_buf(),
        source,
    };
    let g = |source| CheckoutError::Index { source };
    for dir in ["objects/info", "refs/heads", "refs/tags"] {
        std::fs::create_dir_all(dest.join(dir)).map_err(io)?;
    }
    std::fs::write(dest.join("HEAD"), format!("{}\n", spec.commit)).map_err(io)?;
    std::fs::write(
        dest.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n",
    )
    .map_err(io)?;
    std::fs::write(
        dest.join("objects/info/alternates"),
        format!("{}\n", spec.objects.display()),
    )
    .map_err(io)?;
    let mut refs: Vec<(String, git2::Oid)> = Vec::new();
    if spec.tags
        && let Ok(tags) = spec.source.references_glob("refs/tags/*")
    {
        for r in tags.flatten() {
            if let (Ok(name), Some(target)) = (r.name(), r.target()) {
                refs.push((name.to_string(), target));
            }
        }
    }
    if let Some(b) = spec.branch {
        refs.push((format!("refs/heads/{b}"), spec.commit));
    }
    if !refs.is_empty() {
        refs.sort();
        let mut text = String::new();
        for (name, oid) in refs {
            let _ = writeln!(text, "{oid} {name}");
        }
        std::fs::write(dest.join("packed-refs"), text).map_err(io)?;
    }
    let commit = spec.source.find_commit(spec.commit).map_err(g)?;
    let tree = commit.tree().map_err(g)?;
    let mut index = git2::Index::open(&dest.join("index")).map_err(g)?;
    index.read_tree(&tree).map_err(g)?;
    index.write().map_err(g)?;
    if let Some(depth) = spec.depth {
        let boundary = shallow_boundary(&commit, depth);
        if !boundary.is_empty() {
            let text: String = boundary.iter().map(|o| format!("{o}\n")).collect();
            std::fs::write(dest.join("shallow"), text).map_err(io)?;
        }
    }
    Ok(())
}

/// The commits a `--depth N` clone would have without parents: those N-1 generations below
/// the tip that still have parents.
fn shallow_boundary(tip: &git2::Commit<'_>, depth: u32) -> Vec<git2::Oid> {
    let mut seen = std::collections::HashSet::new();
    seen.insert(tip.id());
    let mut frontier = vec![tip.clone()];
    for _ in 1..depth {
        let mut next = Vec::new();
        for c in &frontier {
            for p in c.parents() {
                if seen.insert(p.id()) {
                    next.push(p);
                }
            }
        }
        if next.is_empty() {
            return Vec::new();
        }
        frontier = next;
    }
    let mut out: Vec<git2::Oid> = frontier
        .iter()
        .filter(|c| c.parent_count() > 0)
        .map(|c| c.id())
        .collect();
    out.sort();
    out
}
