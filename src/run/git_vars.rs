//! GitLab's per-job checkout variables — `GIT_STRATEGY`, `GIT_CHECKOUT`, `GIT_CLEAN_FLAGS`,
//! `GIT_DEPTH`, `GIT_SUBMODULE_STRATEGY` — read from a job's variables, so `variables:` in the
//! YAML decide how its workspace is prepared, as on a GitLab runner.

use crate::plan::variables::Scope;

/// How the workspace gets the project (`GIT_STRATEGY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Reuse the slot's workspace, resetting it to the snapshot (GitLab's default).
    Fetch,
    /// A fresh copy: the slot's previous workspace is thrown away first.
    Clone,
    /// Touch nothing: whatever the slot holds (nothing for a new slot) is the workspace.
    None,
    /// An empty directory: no files, no repository.
    Empty,
}

/// Which submodules are checked out (`GIT_SUBMODULE_STRATEGY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Submodules {
    /// Submodule directories stay empty.
    None,
    /// Top-level submodules at their recorded commits.
    Normal,
    /// Submodules of submodules too.
    Recursive,
}

/// What `git clean` would remove between jobs (`GIT_CLEAN_FLAGS`, `-ffdx` by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clean {
    /// `none`: nothing is removed (files are still restored).
    pub enabled: bool,
    /// `-d`: untracked directories too.
    pub dirs: bool,
    /// `-x`: ignored files too (the standard ignore rules are not used).
    pub ignored: bool,
    /// `-X`: only ignored files.
    pub only_ignored: bool,
    /// `-e PATTERN`: extra ignore patterns.
    pub excludes: Vec<String>,
}

/// `GIT_CLEAN_FLAGS` gantry cannot honour (the job then cleans with `-ffdx`, with a warning).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CleanFlagsError {
    /// `-e` at the end.
    #[error("`-e` needs a pattern")]
    NoPattern,
    /// A flag `git clean` has but gantry does not implement.
    #[error("unsupported flag `-{flag}`")]
    Flag {
        /// The flag letter.
        flag: char,
    },
    /// Something that is not a flag.
    #[error("unsupported argument `{argument}`")]
    Argument {
        /// As written.
        argument: String,
    },
}

impl Clean {
    /// GitLab's default, `-ffdx`: everything the snapshot does not have goes.
    pub fn everything() -> Clean {
        Clean {
            enabled: true,
            dirs: true,
            ignored: true,
            only_ignored: false,
            excludes: Vec::new(),
        }
    }

    /// Whether every extra file and directory is removed without asking about ignore rules.
    pub fn removes_all(&self) -> bool {
        self.enabled && self.dirs && self.ignored && !self.only_ignored && self.excludes.is_empty()
    }

    fn parse(text: &str) -> Result<Clean, CleanFlagsError> {
        let text = text.trim();
        if text == "none" {
            return Ok(Clean {
                enabled: false,
                ..Clean::everything()
            });
        }
        let mut c = Clean {
            enabled: true,
            dirs: false,
            ignored: false,
            only_ignored: false,
            excludes: Vec::new(),
        };
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if let Some(p) = w.strip_prefix("--exclude=") {
                c.excludes.push(p.to_string());
            } else if w == "-e" || w == "--exclude" {
                let p = words.next().ok_or(CleanFlagsError::NoPattern)?;
                c.excludes.push(p.to_string());
            } else if let Some(p) = w.strip_prefix("-e") {
                c.excludes.push(p.to_string());
            } else if let Some(flags) = w.strip_prefix('-').filter(|f| !f.starts_with('-')) {
                for f in flags.chars() {
                    match f {
                        'f' | 'q' => {}
                        'd' => c.dirs = true,
                        'x' => c.ignored = true,
                        'X' => c.only_ignored = true,
                        _ => return Err(CleanFlagsError::Flag { flag: f }),
                    }
                }
            } else if w == "--force" || w == "--quiet" {
            } else {
                return Err(CleanFlagsError::Argument {
                    argument: w.to_string(),
                });
            }
        }
        Ok(c)
    }
}

/// Everything that decides how one job's workspace is prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSettings {
    /// `GIT_STRATEGY`.
    pub strategy: Strategy,
    /// `GIT_CHECKOUT` (`false`: `.git` only, the work tree is left alone).
    pub checkout: bool,
    /// `GIT_CLEAN_FLAGS`.
    pub clean: Clean,
    /// `GIT_DEPTH` (0 or unset: full history).
    pub depth: Option<u32>,
    /// `GIT_SUBMODULE_STRATEGY`.
    pub submodules: Submodules,
}

impl GitSettings {
    /// Reads the variables; unknown values fall back to GitLab's default and are reported in
    /// the second element (the job still runs, as on a runner).
    pub fn from_scope(scope: &Scope<'_>) -> (GitSettings, Vec<String>) {
        let mut warnings = Vec::new();
        let value = |name: &str| {
            scope
                .value(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let strategy = match value("GIT_STRATEGY").as_deref() {
            None | Some("fetch") => Strategy::Fetch,
            Some("clone") => Strategy::Clone,
            Some("none") => Strategy::None,
            Some("empty") => Strategy::Empty,
            Some(other) => {
                warnings.push(format!(
                    "GIT_STRATEGY `{other}` is not clone, fetch, none or empty; using fetch"
                ));
                Strategy::Fetch
            }
        };
        let checkout = match value("GIT_CHECKOUT").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                warnings.push(format!(
                    "GIT_CHECKOUT `{other}` is not true or false; checking out"
                ));
                true
            }
        };
        let clean = match value("GIT_CLEAN_FLAGS") {
            None => Clean::everything(),
            Some(text) => Clean::parse(&text).unwrap_or_else(|e| {
                warnings.push(format!("GIT_CLEAN_FLAGS `{text}`: {e}; using -ffdx"));
                Clean::everything()
            }),
        };
        let depth = match value("GIT_DEPTH") {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => {
                    warnings.push(format!(
                        "GIT_DEPTH `{text}` is not a number; using the full history"
                    ));
                    None
                }
            },
        };
        let submodules = match value("GIT_SUBMODULE_STRATEGY").as_deref() {
            None | Some("none") => Submodules::None,
            Some("normal") => Submodules::Normal,
            Some("recursive") => Submodules::Recursive,
            Some(other) => {
                warnings.push(format!(
                    "GIT_SUBMODULE_STRATEGY `{other}` is not none, normal or recursive; using none"
                ));
                Submodules::None
            }
        };
        (
            GitSettings {
                strategy,
                checkout,
                clean,
                depth,
                submodules,
            },
            warnings,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_flags_parse_like_git_clean() {
        assert!(Clean::parse("-ffdx").unwrap().removes_all());
        let c = Clean::parse("-ffd -e keep.me --exclude=*.log").unwrap();
        assert!(c.dirs && !c.ignored && !c.removes_all());
        assert_eq!(c.excludes, vec!["keep.me", "*.log"]);
        assert!(!Clean::parse("none").unwrap().enabled);
        assert!(Clean::parse("-ffX").unwrap().only_ignored);
        assert_eq!(Clean::parse("-n"), Err(CleanFlagsError::Flag { flag: 'n' }));
        assert_eq!(Clean::parse("-f -e"), Err(CleanFlagsError::NoPattern));
    }
}
