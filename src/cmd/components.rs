//! Where other projects' CI/CD components are checked out: `--component-dir
//! HOST/GROUP/PROJECT=DIR` on the command line, and the `[components]` table of
//! `.gantry/config.toml` (`"HOST/GROUP/PROJECT" = "DIR"`, DIR relative to the project). The
//! command line wins for a project named in both. Other tables of the file belong to other
//! readers and are ignored here.

use crate::load::component::parse_dir_option;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    components: BTreeMap<String, PathBuf>,
}

/// Component checkouts from the command line and `project/.gantry/config.toml`.
pub fn component_dirs(
    project: &Path,
    options: &[String],
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut dirs: Vec<(String, PathBuf)> = options
        .iter()
        .map(|o| parse_dir_option(o))
        .collect::<Result<_, _>>()?;
    let path = project.join(".gantry").join("config.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dirs),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (name, dir) in file.components {
        let (name, _) = parse_dir_option(&format!("{name}={}", dir.display()))
            .map_err(|e| format!("{}: [components] {e}", path.display()))?;
        if !dirs.iter().any(|(n, _)| *n == name) {
            dirs.push((name, project.join(dir)));
        }
    }
    Ok(dirs)
}
