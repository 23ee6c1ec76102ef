//! Job workspaces from the pool: a slot reused by the next job is exactly as clean as a fresh
//! copy; `GIT_STRATEGY`, `GIT_CLEAN_FLAGS`, `GIT_CHECKOUT`, `GIT_DEPTH` and
//! `GIT_SUBMODULE_STRATEGY` behave as on a GitLab runner; the user's work tree is never written.

use crate::support::checks::json_lines;
use crate::support::workspace::{DIRTY, lines, listing, project};
use crate::support::{gantry, git, repo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn run_json(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["run", "--format", "json", "--executor", "shell"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    let events = json_lines(&out);
    assert_eq!(code, 0, "{out}\n{err}");
    events
}

/// Every file of the work tree (not `.gantry`, nor `.git`, which `git status` itself rewrites):
/// content and modification time.
fn tree_state(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".gantry" || n == ".git") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else {
                let content = std::fs::read(&p).unwrap_or_default();
                out.insert(p.display().to_string(), (content, meta.modified().unwrap()));
            }
        }
    }
    out
}

fn slot_is_reset_to_a_fresh_copy(include_untracked: bool) {
    let pipeline = format!(
        "stages: [dirty, check, fresh]\n\
         dirty:\n  stage: dirty\n  script:\n{DIRTY}\
         check:\n  stage: check\n  script:\n    - sh list.sh\n    - echo slot=$CI_CONCURRENT_ID\n\
         fresh:\n  stage: fresh\n  variables:\n    GIT_STRATEGY: clone\n  script:\n    - sh list.sh\n"
    );
    let (_t, dir) = project(&pipeline);
    let before = tree_state(&dir);
    let status = git(&dir, &["status", "--porcelain"]);
    let mut args = vec!["-j", "1"];
    if include_untracked {
        args.push("--include-untracked");
    }
    let ev = run_json(&dir, &args);
    let fresh = listing(&ev, "dirty");
    assert!(
        fresh.iter().any(|l| l.starts_with("F ./u.txt")) == include_untracked,
        "untracked file present only with --include-untracked: {fresh:?}"
    );
    assert!(
        fresh.iter().any(|l| l.starts_with("F ./.git/HEAD")),
        "{fresh:?}"
    );
    assert!(
        !fresh
            .iter()
            .any(|l| l.contains("hooks") || l.contains(".sample")),
        "no template files in .git: {fresh:?}"
    );
    assert!(lines(&ev, "dirty").contains(&"slot=0".to_string()));
    assert!(
        lines(&ev, "check").contains(&"slot=0".to_string()),
        "same slot"
    );
    assert_eq!(
        listing(&ev, "check"),
        fresh,
        "the next job saw traces of the last"
    );
    assert_eq!(
        listing(&ev, "fresh"),
        fresh,
        "GIT_STRATEGY clone is a fresh copy"
    );
    let after = tree_state(&dir);
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "the user's work tree was written: {changed:?}"
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), status);
}

#[test]
fn a_job_leaves_no_trace_for_the_next_job_on_the_same_slot() {
    slot_is_reset_to_a_fresh_copy(false);
}

#[test]
fn a_job_leaves_no_trace_with_include_untracked_either() {
    slot_is_reset_to_a_fresh_copy(true);
}

#[test]
fn git_changes_in_a_job_do_not_reach_the_next_one() {
    let pipeline = "stages: [one, two]\n\
         commit:\n  stage: one\n  script:\n    - echo head=$(git rev-parse HEAD)\n    - echo more >> a.txt\n    - git -c user.name=t -c user.email=t@e commit -qam in-job\n    - git tag job-tag\n    - git checkout -q -b job-branch\n\
         after:\n  stage: two\n  script:\n    - echo head=$(git rev-parse HEAD)\n    - if git rev-parse -q --verify job-tag; then exit 1; fi\n    - if git rev-parse -q --verify job-branch; then exit 1; fi\n    - test -z \"$(git status --porcelain --untracked-files=no | grep -v a.txt)\"\n";
    let (_t, dir) = project(pipeline);
    let ev = run_json(&dir, &["-j", "1"]);
    let head = |job| {
        lines(&ev, job)
            .into_iter()
            .find(|l| l.starts_with("head="))
            .unwrap_or_default()
    };
    assert_eq!(head("after"), head("commit"));
    assert_eq!(
        head("after"),
        format!("head={}", git(&dir, &["rev-parse", "HEAD"]))
    );
}

#[test]
fn strategies_none_and_empty_behave_as_gitlab_documents() {
    let pipeline = "stages: [one, two, three, four]\n\
         leave:\n  stage: one\n  script: [touch left-behind.txt]\n\
         none:\n  stage: two\n  variables:\n    GIT_STRATEGY: none\n  script:\n    - test -e left-behind.txt\n    - test -e a.txt\n\
         empty:\n  stage: three\n  variables:\n    GIT_STRATEGY: empty\n  script:\n    - echo entries=$(ls -A | wc -l)\n\
         fetch:\n  stage: four\n  script:\n    - test ! -e left-behind.txt\n    - test -e a.txt\n    - git rev-parse HEAD\n";
    let (_t, dir) = project(pipeline);
    let ev = run_json(&dir, &["-j", "1"]);
    assert!(
        lines(&ev, "empty").contains(&"entries=0".to_string()),
        "{:?}",
        lines(&ev, "empty")
    );
}

#[test]
fn clean_flags_and_checkout_false_keep_what_they_say() {
    let pipeline = "stages: [one, two, three, four]\n\
         dirty:\n  stage: one\n  script:\n    - echo x > keep.log\n    - echo y > extra.txt\n    - mkdir untracked-dir && touch untracked-dir/f\n    - echo mod >> a.txt\n\
         no-x:\n  stage: two\n  variables:\n    GIT_CLEAN_FLAGS: -ffd\n  script:\n    - test -e keep.log\n    - test ! -e extra.txt\n    - test ! -e untracked-dir\n    - test \"$(tail -1 a.txt)\" = 'uncommitted edit'\n    - echo z > extra2.txt\n    - echo mod >> a.txt\n\
         no-clean:\n  stage: three\n  variables:\n    GIT_CLEAN_FLAGS: none\n  script:\n    - test -e extra2.txt\n    - test \"$(tail -1 a.txt)\" = 'uncommitted edit'\n    - echo mod >> a.txt\n\
         no-checkout:\n  stage: four\n  variables:\n    GIT_CHECKOUT: 'false'\n  script:\n    - test \"$(tail -1 a.txt)\" = mod\n    - git rev-parse HEAD\n";
    let (_t, dir) = project(pipeline);
    run_json(&dir, &["-j", "1"]);
}

#[test]
fn git_depth_limits_the_history_jobs_see() {
    let pipeline = "deep:\n  script: [echo count=$(git rev-list --count HEAD)]\n\
         shallow:\n  variables:\n    GIT_DEPTH: '1'\n  script: [echo count=$(git rev-list --count HEAD)]\n";
    let (_t, dir) = project(pipeline);
    git(&dir, &["commit", "-qam", "third"]);
    let ev = run_json(&dir, &["-j", "1"]);
    assert!(
        lines(&ev, "deep").contains(&"count=3".to_string()),
        "{ev:?}"
    );
    assert!(lines(&ev, "shallow").contains(&"count=1".to_string()));
}

#[test]
fn submodules_are_checked_out_at_their_recorded_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = |name: &str, file: &str, text: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        git(&d, &["init", "-q"]);
        std::fs::write(d.join(file), text).unwrap();
        git(&d, &["add", "."]);
        git(&d, &["commit", "-qm", "first"]);
        d
    };
    let inner = mk("inner", "inner.txt", "inner v1\n");
    let lib = mk("lib", "lib.txt", "lib v1\n");
    let sub = |d: &Path, url: &Path, at: &str| {
        git(
            d,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                url.to_str().unwrap(),
                at,
            ],
        );
        git(d, &["commit", "-qm", &format!("add {at}")]);
    };
    sub(&lib, &inner, "inner");
    let recorded = git(&lib, &["rev-parse", "HEAD"]);
    let pipeline = "none:\n  script:\n    - test -d lib\n    - test -z \"$(ls -A lib)\"\n\
         normal:\n  variables:\n    GIT_SUBMODULE_STRATEGY: normal\n  script:\n    - cat lib/lib.txt\n    - echo lib-head=$(git -C lib rev-parse HEAD)\n    - test -z \"$(ls -A lib/inner)\"\n\
         recursive:\n  variables:\n    GIT_SUBMODULE_STRATEGY: recursive\n  script:\n    - cat lib/lib.txt\n    - cat lib/inner/inner.txt\n";
    let (_t, dir) = repo("app", pipeline, "c");
    git(
        &dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib.to_str().unwrap(),
            "lib",
        ],
    );
    git(
        &dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "--init",
            "--recursive",
        ],
    );
    git(&dir, &["commit", "-qm", "add lib"]);
    // Move the user's submodule checkout past the recorded commit: jobs must not see this.
    std::fs::write(dir.join("lib/lib.txt"), "lib v2\n").unwrap();
    git(&dir.join("lib"), &["commit", "-qam", "v2"]);
    let ev = run_json(&dir, &["-j", "1"]);
    let normal = lines(&ev, "normal");
    assert!(normal.contains(&"lib v1".to_string()), "{normal:?}");
    assert!(
        normal.contains(&format!("lib-head={recorded}")),
        "{normal:?}"
    );
    let rec = lines(&ev, "recursive");
    assert!(rec.contains(&"inner v1".to_string()), "{rec:?}");
}

#[test]
fn the_next_pipeline_reuses_the_slot_and_still_starts_clean() {
    let pipeline = format!(
        "stages: [dirty, check]\n\
         dirty:\n  stage: dirty\n  script:\n{DIRTY}\
         check:\n  stage: check\n  script:\n    - sh list.sh\n    - echo slot=$CI_CONCURRENT_ID\n    - echo dir=$CI_PROJECT_DIR\n"
    );
    let (_t, dir) = project(&pipeline);
    let first = run_json(&dir, &["-j", "1", "dirty"]);
    let fresh = listing(&first, "dirty");
    let second = run_json(&dir, &["-j", "1", "check"]);
    assert!(lines(&second, "check").contains(&"slot=0".to_string()));
    let ws = dir.join(".gantry/workspaces/slot0/ws");
    assert!(
        lines(&second, "check").contains(&format!("dir={}", ws.display())),
        "{:?}",
        lines(&second, "check")
    );
    assert_eq!(listing(&second, "check"), fresh, "traces of the last run");
    let (code, out, _) = gantry(&dir, &["gc"]);
    assert_eq!(code, 0);
    assert!(out.contains("workspaces"), "{out}");
    assert!(!ws.exists(), "gc removes slots no run holds");
}
