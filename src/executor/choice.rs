//! Which executor runs each job under `--executor auto`: Docker for jobs with an image, the shell
//! for the rest — unless a rule of `[executor]` in `.gantry/config.toml` picks another per job
//! by tag or image pattern (`rules = [{ tags = ["k8s"], executor = "kubernetes" },
//! { image = "*/heavy-*", executor = "kubernetes" }]`; the first matching rule wins). Pure
//! (`project::config` reads the table).

use serde::Deserialize;

/// An executor a rule can name.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// This machine's shell.
    Shell,
    /// A Docker container.
    Docker,
    /// A pod on the cluster named by `--kubeconfig`/`--kube-context`/`[kubernetes]`.
    Kubernetes,
}

impl Kind {
    /// The name `gantry plan` shows.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Docker => "docker",
            Kind::Kubernetes => "kubernetes",
        }
    }
}

/// One rule: every criterion given must hold.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The job has all of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The job's image matches this glob (`*` within a path segment, `**` across).
    pub image: Option<String>,
    /// Where matching jobs run.
    pub executor: Kind,
}

/// `[executor]` of the config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// In order; the first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn image_matches(pattern: &str, image: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(image))
}

impl Rule {
    fn matches(&self, image: Option<&str>, tags: &[String]) -> bool {
        if self.tags.is_empty() && self.image.is_none() {
            return false;
        }
        let tags_ok = self.tags.iter().all(|t| tags.contains(t));
        let image_ok = match (&self.image, image) {
            (None, _) => true,
            (Some(p), Some(i)) => image_matches(p, i),
            (Some(_), None) => false,
        };
        tags_ok && image_ok
    }
}

impl Rules {
    /// The executor of a job with `image` and `tags` under `--executor auto`.
    pub fn choose(&self, image: Option<&str>, tags: &[String]) -> Kind {
        self.rules
            .iter()
            .find(|r| r.matches(image, tags))
            .map(|r| r.executor)
            // A job without an image has nothing to run in Docker: the shell.
            .map(|k| match (k, image) {
                (Kind::Docker, None) => Kind::Shell,
                (k, _) => k,
            })
            .unwrap_or(if image.is_some() {
                Kind::Docker
            } else {
                Kind::Shell
            })
    }

    /// Checks the patterns, so a typo is reported before any job runs.
    pub fn check(&self) -> Result<(), RuleError> {
        for r in &self.rules {
            if r.tags.is_empty() && r.image.is_none() {
                return Err(RuleError::Empty {
                    executor: r.executor.name(),
                });
            }
            if let Some(p) = &r.image {
                globset::Glob::new(p).map_err(|source| RuleError::Pattern {
                    pattern: p.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }
}

/// A mistake in an `[executor]` rule, found before any job runs.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The rule matches nothing.
    #[error("[executor] rule for {executor} names neither tags nor image")]
    Empty {
        /// The rule's executor.
        executor: &'static str,
    },
    /// The image pattern is not a glob.
    #[error("[executor] image `{pattern}`: {source}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// The glob parser's error.
        source: globset::Error,
    },
}

/// Sets every planned job's executor: `forced` for all (`--executor shell|kubernetes`), else
/// per job by `rules` (`--executor auto`, and what `gantry plan` shows).
pub fn assign(plan: &mut crate::plan::Plan, forced: Option<Kind>, rules: &Rules) {
    for job in &mut plan.jobs {
        job.executor = forced
            .unwrap_or_else(|| rules.choose(job.image.as_deref(), &job.tags))
            .name();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        toml::from_str(
            r#"rules = [
                { tags = ["k8s"], executor = "kubernetes" },
                { image = "*/heavy-*", executor = "kubernetes" },
                { tags = ["local"], executor = "shell" },
            ]"#,
        )
        .unwrap()
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_without_a_matching_rule() {
        let r = rules();
        assert_eq!(r.choose(Some("alpine:3"), &[]), Kind::Docker);
        assert_eq!(r.choose(None, &tags(&["other"])), Kind::Shell);
        assert_eq!(Rules::default().choose(Some("x"), &[]), Kind::Docker);
    }

    #[test]
    fn tags_and_image_patterns_pick_kubernetes() {
        let r = rules();
        assert_eq!(
            r.choose(Some("alpine:3"), &tags(&["k8s", "x"])),
            Kind::Kubernetes
        );
        assert_eq!(r.choose(Some("team/heavy-build:1"), &[]), Kind::Kubernetes);
        // `*` stays within a path segment.
        assert_eq!(r.choose(Some("a/b/heavy-build:1"), &[]), Kind::Docker);
        assert_eq!(r.choose(Some("alpine:3"), &tags(&["local"])), Kind::Shell);
        // The first match wins.
        assert_eq!(
            r.choose(Some("team/heavy-x"), &tags(&["local"])),
            Kind::Kubernetes
        );
    }

    #[test]
    fn a_docker_rule_for_a_job_without_image_stays_shell() {
        let r = Rules {
            rules: vec![Rule {
                tags: tags(&["d"]),
                image: None,
                executor: Kind::Docker,
            }],
        };
        assert_eq!(r.choose(None, &tags(&["d"])), Kind::Shell);
    }
}
