//! The state directory (`.gantry/`): the local pipeline counter behind `CI_PIPELINE_IID`.

use std::path::Path;

const COUNTER: &str = "pipeline-iid";

/// The IID the next pipeline will get (planning does not consume it).
pub fn peek_pipeline_iid(state_dir: &Path) -> u64 {
    last(state_dir) + 1
}

/// Takes the next IID and records it (for `run`). Runs started at the same time in one
/// project take turns (a lock file), so no two get the same IID — nor its run directory and
/// environment namespaces.
pub fn next_pipeline_iid(state_dir: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(state_dir)?;
    // The state directory ignores itself, so it never shows up in `git status`.
    let ignore = state_dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(ignore, "*\n")?;
    }
    let lock = std::fs::File::create(state_dir.join(format!("{COUNTER}.lock")))?;
    lock.lock()?;
    let next = last(state_dir) + 1;
    let tmp = state_dir.join(format!("{COUNTER}.tmp"));
    std::fs::write(&tmp, next.to_string())?;
    std::fs::rename(tmp, state_dir.join(COUNTER))?;
    Ok(next)
}

fn last(state_dir: &Path) -> u64 {
    std::fs::read_to_string(state_dir.join(COUNTER))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_advances_only_when_taken() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(peek_pipeline_iid(dir.path()), 1);
        assert_eq!(peek_pipeline_iid(dir.path()), 1);
        assert_eq!(next_pipeline_iid(dir.path()).unwrap(), 1);
        assert_eq!(next_pipeline_iid(dir.path()).unwrap(), 2);
        assert_eq!(peek_pipeline_iid(dir.path()), 3);
    }
}
