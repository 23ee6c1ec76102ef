//! The namespace a job's environment lives in: `environment:kubernetes:namespace` when given,
//! else `<CI_PROJECT_NAME>-<CI_COMMIT_REF_SLUG>-<CI_COMMIT_SHORT_SHA>-<CI_PIPELINE_IID>`, made a
//! valid DNS-1123 label (lowercase alphanumerics and `-`, ≤ 63, alphanumeric at both ends). The
//! pipeline's iid is part of it so two runs of the same commit never share (or fight over) one.

use crate::plan::{Plan, PlannedJob};
use sha2::{Digest, Sha256};

/// Longest Kubernetes namespace name.
pub const MAX: usize = 63;

/// The namespace job `job` of `plan` gets, or `None` when it has no `environment:`.
pub fn namespace_of(plan: &Plan, job: &PlannedJob) -> Option<String> {
    let env = job.environment.as_ref()?;
    if let Some(ns) = env.namespace.as_deref().filter(|n| !n.trim().is_empty()) {
        return Some(dns_label(ns));
    }
    let vars = plan.variables(job);
    let scope = vars.scope();
    let get = |k: &str| scope.value(k).map(|v| v.into_owned()).unwrap_or_default();
    Some(dns_label(&format!(
        "{}-{}-{}-{}",
        get("CI_PROJECT_NAME"),
        get("CI_COMMIT_REF_SLUG"),
        get("CI_COMMIT_SHORT_SHA"),
        get("CI_PIPELINE_IID")
    )))
}

/// `text` as a DNS-1123 label: lowercased, other characters become `-`, runs of `-` squeezed,
/// trimmed; when longer than 63 it is cut and a 6-hex hash of the whole text keeps it unique.
pub fn dns_label(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (s.is_empty() || s.ends_with('-'))) {
            s.push(c);
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        return format!("env-{}", short_hash(text));
    }
    if s.len() <= MAX {
        return s;
    }
    let hash = short_hash(text);
    let head = s[..MAX - hash.len() - 1].trim_end_matches('-');
    format!("{head}-{hash}")
}

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(3)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn short_names_are_cleaned_only() {
        assert_eq!(dns_label("shop-main-1a2b3c4d"), "shop-main-1a2b3c4d");
        assert_eq!(dns_label("My_Shop--Feature/X-"), "my-shop-feature-x");
        assert_eq!(dns_label("__"), format!("env-{}", short_hash("__")));
    }

    #[test]
    fn long_names_are_cut_with_a_hash_that_tells_them_apart() {
        let a = dns_label(&format!("{}-main-aaaaaaaa", "p".repeat(70)));
        let b = dns_label(&format!("{}-main-bbbbbbbb", "p".repeat(70)));
        assert!(valid(&a) && valid(&b), "{a} {b}");
        assert_eq!(a.len(), MAX);
        assert_ne!(a, b);
        // A cut that lands on a dash does not leave `--` or a trailing dash.
        let c = dns_label(&format!("{}-{}", "q".repeat(55), "r".repeat(20)));
        assert!(valid(&c) && !c.contains("--"), "{c}");
    }
}
