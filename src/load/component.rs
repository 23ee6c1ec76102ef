//! `include: component:` resolved offline. A component of this project
//! (`$CI_SERVER_FQDN/$CI_PROJECT_PATH/NAME@VERSION`, the way component authors test their own
//! components) is read from `templates/NAME.yml` or `templates/NAME/template.yml` of the
//! working tree; components of other projects from a local checkout named with
//! `--component-dir HOST/GROUP/PROJECT=DIR`. The version is not checked out: the files on disk
//! are used, whatever `@VERSION` says.

use std::path::{Path, PathBuf};

/// A parsed component reference `PROJECT_PREFIX/NAME@VERSION`.
#[derive(Debug, PartialEq)]
pub struct Reference<'a> {
    /// Everything before the last `/` of the path: `HOST/GROUP/PROJECT`.
    pub project: &'a str,
    /// The component's name.
    pub name: &'a str,
    /// The version after `@`.
    pub version: &'a str,
}

/// Why a component reference is malformed.
#[derive(Debug, PartialEq)]
pub enum Malformed {
    /// No `@VERSION`, or more than one `@`.
    Version,
    /// Fewer than `HOST/PROJECT/NAME` path segments, or an empty one.
    Path,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::Version => "needs exactly one `@VERSION` (a tag, branch, SHA or `~latest`)",
            Malformed::Path => "needs the form `HOST/GROUP/PROJECT/NAME@VERSION`",
        })
    }
}

/// Parses `HOST/…/PROJECT/NAME@VERSION`.
pub fn parse(raw: &str) -> Result<Reference<'_>, Malformed> {
    let (path, version) = raw.split_once('@').ok_or(Malformed::Version)?;
    if version.is_empty() || version.contains('@') || version.chars().any(char::is_whitespace) {
        return Err(Malformed::Version);
    }
    let (project, name) = path.rsplit_once('/').ok_or(Malformed::Path)?;
    let segments: Vec<&str> = project.split('/').collect();
    if name.is_empty()
        || segments.len() < 2
        || segments.iter().any(|s| s.is_empty())
        || path.chars().any(char::is_whitespace)
    {
        return Err(Malformed::Path);
    }
    Ok(Reference {
        project,
        name,
        version,
    })
}

/// Whether `project` (as written, before expansion) names this project.
pub fn is_same_project(project: &str) -> bool {
    matches!(
        project,
        "$CI_SERVER_FQDN/$CI_PROJECT_PATH"
            | "${CI_SERVER_FQDN}/${CI_PROJECT_PATH}"
            | "$CI_SERVER_HOST/$CI_PROJECT_PATH"
            | "${CI_SERVER_HOST}/${CI_PROJECT_PATH}"
    )
}

/// The component's file inside the project checked out at `dir`, if it exists.
pub fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let templates = dir.join("templates");
    [
        templates.join(format!("{name}.yml")),
        templates.join(name).join("template.yml"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// What a component's own file may interpolate as `$[[ component.KEY ]]` when its header
/// declares `spec:component: [KEY, …]` (GitLab's `Header::Component`: name, sha, version,
/// reference).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The component's name.
    pub name: String,
    /// The commit it was read at (for a working-tree component: the version as written).
    pub sha: String,
    /// The catalog version it resolved to, else the version as written.
    pub version: String,
    /// The version as written after `@`.
    pub reference: String,
}

impl Context {
    /// The value of `key`, if it is one GitLab allows.
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "name" => Some(&self.name),
            "sha" => Some(&self.sha),
            "version" => Some(&self.version),
            "reference" => Some(&self.reference),
            _ => None,
        }
    }
}

/// A `--component-dir` (or `[components]` entry) that is not `HOST/GROUP/PROJECT=DIR`.
#[derive(Debug, thiserror::Error)]
#[error("--component-dir `{option}`: expected HOST/GROUP/PROJECT=DIR")]
pub struct DirOptionError {
    /// As given.
    pub option: String,
}

/// Parses one `--component-dir HOST/GROUP/PROJECT=DIR`.
pub fn parse_dir_option(option: &str) -> Result<(String, PathBuf), DirOptionError> {
    let malformed = || DirOptionError {
        option: option.to_string(),
    };
    let (project, dir) = option.split_once('=').ok_or_else(malformed)?;
    let project = project.trim_end_matches('/');
    if project.split('/').count() < 2 || project.split('/').any(str::is_empty) || dir.is_empty() {
        return Err(malformed());
    }
    Ok((project.to_string(), PathBuf::from(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_as_gitlab_writes_them() {
        let r = parse("$CI_SERVER_FQDN/$CI_PROJECT_PATH/lint@~latest").unwrap();
        assert_eq!(
            (r.project, r.name, r.version),
            ("$CI_SERVER_FQDN/$CI_PROJECT_PATH", "lint", "~latest")
        );
        assert!(is_same_project(r.project));
        assert_eq!(parse("gitlab.com/g/p/c"), Err(Malformed::Version));
        assert_eq!(parse("gitlab.com/g/p/c@"), Err(Malformed::Version));
        assert_eq!(parse("gitlab.com/g/p/c@1@2"), Err(Malformed::Version));
        assert_eq!(parse("gitlab.com/c@1.0"), Err(Malformed::Path));
        assert_eq!(parse("gitlab.com//c@1.0"), Err(Malformed::Path));
        assert!(parse("gitlab.com/g/sub/p/c@1.0").is_ok());
        assert_eq!(
            parse_dir_option("gitlab.com/g/p=../p").unwrap(),
            ("gitlab.com/g/p".to_string(), PathBuf::from("../p"))
        );
        assert!(parse_dir_option("gitlab.com=../p").is_err());
        assert!(parse_dir_option("gitlab.com/g/p").is_err());
    }
}
