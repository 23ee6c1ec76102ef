//! A project with every kind of workspace change (edits, deletions, modes, symlinks, ignored
//! and untracked files) and what a job lists of it, shared by the shell, Docker and Kubernetes
//! workspace tests; and the cache-list pipeline they all check the same way.

use super::{git, repo};
use std::path::Path;

/// Lists the workspace (every path, `.git` included: kind, mode, content hash), one line each
/// prefixed with `ls|`. POSIX sh, so busybox images can run it too.
pub const LIST_SH: &str = "find . | LC_ALL=C sort | while IFS= read -r p; do\n\
  if [ -L \"$p\" ]; then echo \"ls| L $p -> $(readlink \"$p\")\"\n\
  elif [ -f \"$p\" ]; then echo \"ls| F $p $(stat -c %a \"$p\") $(sha256sum < \"$p\" | cut -c1-16)\"\n\
  else echo \"ls| D $p $(stat -c %a \"$p\")\"; fi\n\
done\n";

/// What the dirty job does: new files and directories, an ignored file, a deleted and two edited
/// tracked files (one keeping its size, right after the job starts), modes, a symlink, and the
/// untracked file removed. It lists the workspace first, as a fresh slot holds it.
pub const DIRTY: &str = concat!(
    "    - sh list.sh\n",
    "    - printf BBBB > same.txt\n",
    "    - echo changed >> a.txt\n",
    "    - rm b.txt\n",
    "    - mkdir -p newdir/deep && echo x > newdir/deep/x && echo y > new.txt\n",
    "    - echo junk > ignored.log\n",
    "    - chmod 700 dir && chmod 755 dir/c.txt\n",
    "    - ln -s /etc/passwd link\n",
    "    - rm -f u.txt\n",
    "    - echo slot=$CI_CONCURRENT_ID\n",
);

pub fn lines(events: &[serde_json::Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "log" && e["job"] == job)
        .map(|e| e["line"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The `ls|` lines a job printed (each job lists once).
pub fn listing(events: &[serde_json::Value], job: &str) -> Vec<String> {
    let out: Vec<String> = lines(events, job)
        .iter()
        .filter_map(|l| l.strip_prefix("ls| ").map(str::to_string))
        .collect();
    assert!(out.len() > 5, "{job} listed nothing: {out:?}");
    out
}

/// A repository with tracked files, an uncommitted edit, an ignore rule and an untracked file.
pub fn project(pipeline: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = repo("app", pipeline, "c");
    std::fs::write(dir.join("list.sh"), LIST_SH).unwrap();
    std::fs::write(dir.join("a.txt"), "committed a\n").unwrap();
    std::fs::write(dir.join("b.txt"), "committed b\n").unwrap();
    std::fs::write(dir.join("same.txt"), "AAAA").unwrap();
    std::fs::create_dir(dir.join("dir")).unwrap();
    std::fs::write(dir.join("dir/c.txt"), "c\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.log\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "files"]);
    std::fs::write(dir.join("a.txt"), "committed a\nuncommitted edit\n").unwrap();
    std::fs::write(dir.join("u.txt"), "untracked\n").unwrap();
    (t, dir)
}

/// A job in `image` with a list of four caches: two pull-push (one keyed by the ref), one
/// `pull`, one `push`. It prints what each cache brought (`NAME=from-IID` or `NAME=miss`) and
/// writes its own pipeline IID into all four.
pub fn cache_list_pipeline(image: &str) -> String {
    format!(
        "job:\n  image: {image}\n  cache:\n    - key: deps-$CI_COMMIT_REF_SLUG\n      paths: [deps/]\n    - key: tools\n      paths: [tools/]\n    - key: seed\n      paths: [seed/]\n      policy: pull\n    - key: report\n      paths: [report/]\n      policy: push\n  script:\n    - for d in deps tools seed report; do if [ -f $d/v ]; then echo \"$d=$(cat $d/v)\"; else echo $d=miss; fi; done\n    - mkdir -p deps tools seed report\n    - echo from-$CI_PIPELINE_IID | tee deps/v tools/v seed/v report/v\n"
    )
}

/// What two runs of [`cache_list_pipeline`] in `dir` must show (`first`, `second`: their
/// output): pull-push caches restored on the second run, the `pull` one never saved, the
/// `push` one saved but never restored.
pub fn assert_cache_lists(dir: &Path, first: &str, second: &str) {
    for miss in ["deps=miss", "tools=miss", "seed=miss", "report=miss"] {
        assert!(first.contains(&format!("job │ {miss}")), "{miss}: {first}");
    }
    for held in ["deps=from-1", "tools=from-1", "seed=miss", "report=miss"] {
        assert!(
            second.contains(&format!("job │ {held}")),
            "{held}: {second}"
        );
    }
    let cache = dir.join(".gantry/cache");
    assert_eq!(
        std::fs::read_to_string(cache.join("report/report/v")).unwrap_or_default(),
        "from-2\n"
    );
    assert!(!cache.join("seed").exists(), "a pull cache was saved");
}
