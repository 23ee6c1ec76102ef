//! The type of the project's reuse settings, which `project::config` reads from
//! `.gantry/config.toml`: `reuse = true` turns `--reuse` on, `[reuse_store] max_size` bounds
//! the store, `[jobs.NAME] inputs = [globs]` narrows what a job depends on and
//! `[jobs.NAME] reuse = false` opts a job out.

use super::error::{SettingsError, SizeError};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Default bound on the store's size: 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// What the config file says about reuse.
#[derive(Clone, Debug)]
pub struct ReuseConfig {
    /// `reuse = true`: behave as with `--reuse`.
    pub enabled: bool,
    /// Most bytes the store keeps (least recently used entries go first).
    pub max_size: u64,
    /// Per-job settings, by definition or concrete name.
    pub jobs: BTreeMap<String, JobSettings>,
    /// Every job's `inputs` globs in one matcher, so a workspace path is matched once for all
    /// jobs: glob `i` belongs to the `[jobs.NAME]` table `input_owners[i]`.
    pub all_inputs: GlobSet,
    /// See `all_inputs`.
    pub input_owners: Vec<String>,
}

/// `[jobs.NAME]`.
#[derive(Clone, Debug, Default)]
pub struct JobSettings {
    /// Globs of the workspace files the job depends on; `None`: all of them.
    pub inputs: Option<Vec<String>>,
    /// The matcher for `inputs`.
    pub matcher: Option<GlobSet>,
    /// `reuse = false`.
    pub opt_out: bool,
}

impl Default for ReuseConfig {
    fn default() -> ReuseConfig {
        ReuseConfig {
            enabled: false,
            max_size: DEFAULT_MAX_SIZE,
            jobs: BTreeMap::new(),
            all_inputs: GlobSet::empty(),
            input_owners: Vec::new(),
        }
    }
}

impl PartialEq for ReuseConfig {
    fn eq(&self, other: &ReuseConfig) -> bool {
        self.enabled == other.enabled
            && self.max_size == other.max_size
            && self.jobs.len() == other.jobs.len()
            && self
                .jobs
                .iter()
                .zip(&other.jobs)
                .all(|((a, x), (b, y))| a == b && x.inputs == y.inputs && x.opt_out == y.opt_out)
    }
}

#[derive(Deserialize)]
struct RawJob {
    inputs: Option<Vec<String>>,
    reuse: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    max_size: Option<toml::Value>,
}

impl ReuseConfig {
    /// Reads the settings from the config file's `reuse`, `reuse_store` and `jobs` values;
    /// errors name the table they are about.
    pub fn from_values(
        reuse: Option<&toml::Value>,
        store: Option<&toml::Value>,
        jobs: Option<&toml::Value>,
    ) -> Result<ReuseConfig, SettingsError> {
        let mut config = ReuseConfig::default();
        let mut table = toml::Table::new();
        for (k, v) in [("reuse", reuse), ("reuse_store", store), ("jobs", jobs)] {
            if let Some(v) = v {
                table.insert(k.to_string(), v.clone());
            }
        }
        match table.get("reuse") {
            None => {}
            Some(toml::Value::Boolean(b)) => config.enabled = *b,
            Some(v) => {
                return Err(SettingsError::NotABool { value: v.clone() });
            }
        }
        if let Some(store) = table.get("reuse_store") {
            let raw: RawStore = store
                .clone()
                .try_into()
                .map_err(|source| SettingsError::Store { source })?;
            if let Some(size) = raw.max_size {
                config.max_size =
                    parse_size(&size).map_err(|source| SettingsError::MaxSize { source })?;
            }
        }
        let mut all_inputs = GlobSetBuilder::new();
        if let Some(toml::Value::Table(jobs)) = table.get("jobs") {
            for (name, v) in jobs {
                let Some(raw) = v.clone().try_into::<RawJob>().ok().filter(|_| v.is_table()) else {
                    return Err(SettingsError::JobShape { job: name.clone() });
                };
                let matcher = match &raw.inputs {
                    None => None,
                    Some(globs) => {
                        let mut b = GlobSetBuilder::new();
                        for g in globs {
                            let glob = Glob::new(g).map_err(|source| SettingsError::Glob {
                                job: name.clone(),
                                glob: g.clone(),
                                source,
                            })?;
                            b.add(glob.clone());
                            all_inputs.add(glob);
                            config.input_owners.push(name.clone());
                        }
                        Some(b.build().map_err(|source| SettingsError::Globs {
                            job: name.clone(),
                            source,
                        })?)
                    }
                };
                config.jobs.insert(
                    name.clone(),
                    JobSettings {
                        inputs: raw.inputs,
                        matcher,
                        opt_out: raw.reuse == Some(false),
                    },
                );
            }
        }
        config.all_inputs = all_inputs
            .build()
            .map_err(|source| SettingsError::AllGlobs { source })?;
        Ok(config)
    }

    /// The settings of the job with concrete name `name` and definition name `definition`
    /// (the concrete name wins).
    pub fn job(&self, name: &str, definition: &str) -> Option<&JobSettings> {
        self.jobs.get(name).or_else(|| self.jobs.get(definition))
    }

    /// [`ReuseConfig::job`] with the name of the `[jobs.NAME]` table it came from.
    pub fn job_entry(&self, name: &str, definition: &str) -> Option<(&str, &JobSettings)> {
        self.jobs
            .get_key_value(name)
            .or_else(|| self.jobs.get_key_value(definition))
            .map(|(k, s)| (k.as_str(), s))
    }
}

/// `1048576`, `"512 MiB"`, `"2GiB"`, `"10 MB"`.
fn parse_size(v: &toml::Value) -> Result<u64, SizeError> {
    match v {
        toml::Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num.parse().map_err(|_| SizeError::NotANumber {
                text: s.to_string(),
            })?;
            let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "k" | "kb" => 1_000,
                "kib" => 1 << 10,
                "m" | "mb" => 1_000_000,
                "mib" => 1 << 20,
                "g" | "gb" => 1_000_000_000,
                "gib" => 1 << 30,
                u => {
                    return Err(SizeError::Unit {
                        unit: u.to_string(),
                    });
                }
            };
            n.checked_mul(mult).ok_or_else(|| SizeError::TooLarge {
                text: s.to_string(),
            })
        }
        other => Err(SizeError::Type {
            value: other.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        let s = |t: &str| parse_size(&toml::Value::String(t.into()));
        assert_eq!(s("2GiB"), Ok(2 << 30));
        assert_eq!(s("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size(&toml::Value::Integer(5)), Ok(5));
        assert!(matches!(s("ten"), Err(SizeError::NotANumber { .. })));
        assert_eq!(
            s("3 parsecs"),
            Err(SizeError::Unit {
                unit: "parsecs".into()
            })
        );
    }

    #[test]
    fn job_settings_by_concrete_then_definition_name() {
        let t: toml::Table = toml::from_str(
            "reuse = true\n[reuse_store]\nmax_size = \"1 MiB\"\n[jobs.build]\ninputs = [\"src/**\"]\n[jobs.deploy]\nreuse = false\n",
        )
        .unwrap();
        let c =
            ReuseConfig::from_values(t.get("reuse"), t.get("reuse_store"), t.get("jobs")).unwrap();
        assert!(c.enabled);
        assert_eq!(c.max_size, 1 << 20);
        let b = c.job("build", "build").unwrap();
        assert!(b.matcher.as_ref().unwrap().is_match("src/a/b.rs"));
        assert!(!b.matcher.as_ref().unwrap().is_match("README.md"));
        assert!(c.job("deploy 1/2", "deploy").unwrap().opt_out);
        assert!(c.job("test", "test").is_none());
    }
}
