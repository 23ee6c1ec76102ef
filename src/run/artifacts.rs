//! Artifacts: files a job keeps for later jobs. Patterns are matched inside the workspace only —
//! a path that leaves it (`..`, absolute, or a symlink pointing out, also through a symlinked
//! directory: `files::confine`) is refused, not followed, when collecting and when restoring.
//! Also `reports:dotenv` parsing.

use globset::{GlobBuilder, GlobSetBuilder};
use std::path::{Component, Path, PathBuf};

/// Why artifacts (or a cache) could not be collected; the message names the pattern or file.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A pattern that is absolute or climbs out of the workspace.
    #[error(
        "artifact path `{pattern}` leaves the workspace; paths must be relative and stay inside it"
    )]
    Leaves {
        /// As written.
        pattern: String,
    },
    /// A pattern that is not a glob.
    #[error("artifact pattern `{pattern}`: {source}")]
    Pattern {
        /// As written (normalised).
        pattern: String,
        /// The glob parser's error.
        source: globset::Error,
    },
    /// The patterns do not build into one matcher.
    #[error("{source}")]
    Patterns {
        /// The builder's error.
        source: globset::Error,
    },
    /// A matched file leads outside the workspace.
    #[error(
        "artifact `{}` is a symlink (or in a symlinked directory) leading outside the workspace, or a dangling one; refused",
        path.display()
    )]
    Outside {
        /// Relative to the workspace.
        path: PathBuf,
    },
    /// A file could not be copied.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (relative to the workspace) or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// Copies the files matching `paths` (minus `exclude`) from `workspace` into `store`.
/// Returns the relative paths kept; errors name the offending pattern or file.
pub fn collect(
    workspace: &Path,
    paths: &[String],
    exclude: &[String],
    store: &Path,
) -> Result<Vec<PathBuf>, CollectError> {
    for p in paths.iter().chain(exclude) {
        check_pattern(p)?;
    }
    let files = list(workspace);
    let mut include = GlobSetBuilder::new();
    let mut exact: Vec<PathBuf> = Vec::new();
    for p in paths {
        let p = normalize(p);
        if p.contains(['*', '?', '[', '{']) {
            include.add(glob(&p)?);
            include.add(glob(&format!("{p}/**"))?);
        } else {
            exact.push(PathBuf::from(p));
        }
    }
    let include = include
        .build()
        .map_err(|source| CollectError::Patterns { source })?;
    let mut ex = GlobSetBuilder::new();
    for p in exclude {
        let p = normalize(p);
        ex.add(glob(&p)?);
        ex.add(glob(&format!("{p}/**"))?);
    }
    let ex = ex
        .build()
        .map_err(|source| CollectError::Patterns { source })?;
    let mut kept = Vec::new();
    for rel in files {
        let wanted = include.is_match(&rel) || exact.iter().any(|e| rel.starts_with(e));
        if !wanted || ex.is_match(&rel) {
            continue;
        }
        let from = crate::files::confine(workspace, &rel)
            .map_err(|_| CollectError::Outside { path: rel.clone() })?;
        let to = store.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CollectError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::copy(&from, &to).map_err(|source| CollectError::Io {
            path: rel.clone(),
            source,
        })?;
        kept.push(rel);
    }
    Ok(kept)
}

/// Copies a stored artifact tree into a workspace; a file whose place there resolves outside
/// it (a symlinked directory of the checkout, say) is refused, not written through.
pub fn restore(store: &Path, workspace: &Path) -> std::io::Result<usize> {
    // The destination may be new (`--artifacts-dir`): it is the root the files must stay in.
    std::fs::create_dir_all(workspace)?;
    let mut n = 0;
    for rel in list(store) {
        let to = crate::files::confine(workspace, &rel).map_err(std::io::Error::other)?;
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(store.join(&rel), to)?;
        n += 1;
    }
    Ok(n)
}

fn check_pattern(p: &str) -> Result<(), CollectError> {
    let path = Path::new(p);
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(CollectError::Leaves {
            pattern: p.to_string(),
        });
    }
    Ok(())
}

fn normalize(p: &str) -> String {
    p.trim_start_matches("./").trim_end_matches('/').to_string()
}

fn glob(p: &str) -> Result<globset::Glob, CollectError> {
    GlobBuilder::new(p)
        .literal_separator(true)
        .build()
        .map_err(|source| CollectError::Pattern {
            pattern: p.to_string(),
            source,
        })
}

/// Every file under `root`, relative, without following directory symlinks.
pub fn list(root: &Path) -> Vec<PathBuf> {
    crate::files::list(root, &[], usize::MAX)
}

/// Parses a dotenv report: `KEY=VALUE` lines; blank lines and `#` comments are ignored,
/// matching surrounding quotes are removed. Returns the variables and the bad lines.
pub fn parse_dotenv(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut vars = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        match line.split_once('=') {
            Some((k, v)) if crate::model::variables::valid_name(k.trim()) => {
                let v = v.trim();
                let v = if v.len() >= 2
                    && ((v.starts_with('"') && v.ends_with('"'))
                        || (v.starts_with('\'') && v.ends_with('\'')))
                {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                vars.push((k.trim().to_string(), v.to_string()));
            }
            _ => bad.push(line.to_string()),
        }
    }
    (vars, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv() {
        let (vars, bad) = parse_dotenv("A=1\n# c\nexport B=\"two words\"\n\nnot a var\nC='x=y'\n");
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x=y".into())
            ]
        );
        assert_eq!(bad, ["not a var"]);
    }

    #[test]
    fn refuses_escapes() {
        let ws = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(ws.path(), &["../x".into()], &[], store.path()),
            Err(CollectError::Leaves { pattern }) if pattern == "../x"
        ));
        assert!(collect(ws.path(), &["/etc/passwd".into()], &[], store.path()).is_err());
        std::os::unix::fs::symlink("/etc/hostname", ws.path().join("link")).unwrap();
        assert!(
            collect(ws.path(), &["link".into()], &[], store.path())
                .unwrap_err()
                .to_string()
                .contains("outside the workspace")
        );
    }

    #[test]
    fn globs_directories_and_excludes() {
        let ws = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        for f in [
            "out/a.txt",
            "out/sub/b.txt",
            "out/sub/skip.tmp",
            "report.xml",
            "other/c.txt",
        ] {
            let p = ws.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        let kept = collect(
            ws.path(),
            &["out/".into(), "*.xml".into()],
            &["**/*.tmp".into()],
            store.path(),
        )
        .unwrap();
        let kept: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(kept, ["out/a.txt", "out/sub/b.txt", "report.xml"]);
        assert_eq!(
            std::fs::read_to_string(store.path().join("out/sub/b.txt")).unwrap(),
            "out/sub/b.txt"
        );
    }
}
