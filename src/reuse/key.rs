//! A job's input key: named inputs, each with a digest, and one SHA-256 over all of them. The
//! names let `gantry plan --reuse` say which input changed; the digests never hold a variable's
//! value (values enter only as HMAC-SHA256 under the project's own key). docs/reuse.md defines
//! every input.

use super::files::hex;
use crate::model::artifacts::Artifacts;
use crate::plan::PlannedJob;
use crate::plan::variables::Scope;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Predefined variables that differ between two runs of the same work (pipeline and job ids,
/// tokens derived from them, the slot a job got): left out of the key.
pub const PER_RUN: &[&str] = &[
    "CI_PIPELINE_ID",
    "CI_PIPELINE_IID",
    "CI_PIPELINE_URL",
    "CI_PIPELINE_CREATED_AT",
    "CI_JOB_ID",
    "CI_JOB_URL",
    "CI_JOB_TOKEN",
    "CI_JOB_STARTED_AT",
    "CI_BUILD_ID",
    "CI_BUILD_TOKEN",
    "CI_REGISTRY_PASSWORD",
    "CI_PROJECT_DIR",
    "CI_BUILDS_DIR",
    "CI_CONCURRENT_ID",
    "CI_CONCURRENT_PROJECT_ID",
    "GIT_CEILING_DIRECTORIES",
];

/// Named inputs of one job, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs(pub BTreeMap<String, String>);

impl Inputs {
    /// Adds an input.
    pub fn set(&mut self, name: impl Into<String>, digest: impl Into<String>) {
        self.0.insert(name.into(), digest.into());
    }

    /// The key: SHA-256 over every name and digest (and the format version).
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("gantry-reuse-{}\n", super::store::FORMAT).as_bytes());
        for (k, v) in &self.0 {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([b'\n']);
        }
        hex(&h.finalize())
    }

    /// What differs from `earlier`: added, removed and changed input names.
    pub fn changes_since(&self, earlier: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match earlier.get(k) {
                None => out.push(format!("{k} (new)")),
                Some(w) if w != v => out.push(k.clone()),
                _ => {}
            }
        }
        for k in earlier.keys() {
            if !self.0.contains_key(k) {
                out.push(format!("{k} (gone)"));
            }
        }
        out
    }
}

/// Keyed hash of a variable's value: equal values give equal digests under one project's
/// key, and nothing about the value can be read back from it.
pub fn keyed(secret_key: &[u8], name: &str, value: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret_key) else {
        return String::new(); // HMAC accepts keys of any length
    };
    mac.update(name.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn digest_of(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// The job's definition as it runs: scripts, image options, services' settings, timeout,
/// allow_failure, and what it keeps as artifacts (values only: moving a line in the YAML
/// changes nothing).
pub fn definition(job: &PlannedJob, artifacts: Option<&Artifacts>) -> String {
    let services: Vec<_> = job
        .services
        .iter()
        .map(|s| serde_json::json!([s.image, s.alias, s.entrypoint, s.command, s.variables]))
        .collect();
    let artifacts = artifacts.map(|a| {
        let v = |l: &[crate::source::Spanned<String>]| {
            l.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
        };
        serde_json::json!({
            "paths": v(&a.paths),
            "exclude": v(&a.exclude),
            "when": a.when.as_ref().map(|w| w.value.clone()),
            "untracked": a.untracked,
            "reports": a.reports.iter().map(|(k, p)| (k.clone(), v(p))).collect::<BTreeMap<_, _>>(),
        })
    });
    let doc = serde_json::json!({
        "name": job.name,
        "stage": job.stage,
        "before_script": job.before_script,
        "script": job.script,
        "after_script": job.after_script,
        "image": job.image,
        "entrypoint": job.image_options.0,
        "user": job.image_options.1,
        "services": services,
        "timeout": job.timeout,
        "allow_failure": format!("{:?}", job.allow_failure),
        "artifacts": artifacts,
    });
    digest_of(&doc.to_string())
}

/// One input per variable the job sees (but [`PER_RUN`]), value keyed-hashed; file-type
/// variables are marked as such.
pub fn variables(inputs: &mut Inputs, scope: &Scope<'_>, secret_key: &[u8]) {
    for v in scope.resolved() {
        if PER_RUN.contains(&v.name.as_str()) {
            continue;
        }
        let kind = if v.file { "file:" } else { "" };
        inputs.set(
            format!("variable {}", v.name),
            format!("{kind}{}", keyed(secret_key, &v.name, &v.value)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_depend_on_the_key_and_hide_the_value() {
        let a = keyed(b"k1", "TOKEN", "hunter2hunter2");
        assert_eq!(a, keyed(b"k1", "TOKEN", "hunter2hunter2"));
        assert_ne!(a, keyed(b"k2", "TOKEN", "hunter2hunter2"));
        assert_ne!(a, keyed(b"k1", "TOKEN", "hunter3hunter3"));
        assert!(!a.contains("hunter"));
    }

    #[test]
    fn changes_name_what_differs() {
        let mut a = Inputs::default();
        a.set("files", "1");
        a.set("image", "x");
        let mut b = a.clone();
        b.set("files", "2");
        b.set("variable X", "v");
        assert_ne!(a.key(), b.key());
        assert_eq!(b.changes_since(&a.0), vec!["files", "variable X (new)"]);
        assert_eq!(a.changes_since(&b.0), vec!["files", "variable X (gone)"]);
    }
}
