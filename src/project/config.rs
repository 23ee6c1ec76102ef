//! The executors' tables of `.gantry/config.toml` (`[executor]`, `[kubernetes.executor]`): one
//! way to read a table, so a missing file or table means defaults everywhere alike.

use std::path::{Path, PathBuf};

/// The project's config file that names an unreadable or malformed table.
#[derive(Debug)]
pub struct FileError {
    /// `.gantry/config.toml` of the project.
    pub path: PathBuf,
    /// What is wrong (the parser's message has line and column).
    pub message: String,
}

/// The table at `keys` of the project's `.gantry/config.toml`; `None` when the file or the
/// table is absent.
pub fn section(project: &Path, keys: &[&str]) -> Result<Option<toml::Value>, FileError> {
    let path = project.join(".gantry").join("config.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(FileError {
                path,
                message: e.to_string(),
            });
        }
    };
    let table: toml::Value = match toml::from_str::<toml::Table>(&text) {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            return Err(FileError {
                path,
                message: e.to_string(),
            });
        }
    };
    Ok(keys.iter().try_fold(&table, |v, k| v.get(k)).cloned())
}
