//! Findings of the fault and hostile-input review (issue 21), each through the CLI: long lines
//! that crashed the renderer, a plan error without a place, files read through symlinks out of
//! the checkout, jobs outliving a killed gantry, namespaces left by a killed run.

use crate::support::checks::json_lines;
use crate::support::{gantry, git};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A git repository holding `files`, committed.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q"]);
    for (name, text) in files {
        write(tmp.path(), name, text);
    }
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-q", "-m", "pipeline"]);
    tmp
}

fn assert_no_panic(what: &str, (code, out, err): &(i32, String, String)) {
    assert!(
        *code != 101 && !err.contains("panicked"),
        "{what} panicked (exit {code}):\n{err}\n{out}"
    );
}

// Finding 5: a diagnostic past column 65,535 crashed miette's renderer in lint, plan and run.
#[test]
fn a_diagnostic_on_a_very_long_line_is_rendered_shortened_not_a_panic() {
    let long = format!(
        "job: {{script: \"echo {}\", stage: nope}}\n",
        "a".repeat(65_600)
    );
    let dir = project(&[(".gitlab-ci.yml", &long)]);
    for cmd in ["lint", "plan", "run"] {
        let out = gantry(dir.path(), &[cmd]);
        assert_no_panic(cmd, &out);
        assert_eq!(out.0, 1, "{cmd}: {}{}", out.1, out.2);
        let text = format!("{}{}", out.1, out.2);
        assert!(
            text.contains(".gitlab-ci.yml:1:65631: error[unknown-stage]"),
            "{cmd}: {}",
            &text[..text.len().min(2000)]
        );
        assert!(text.contains("nope"), "{cmd}: the snippet shows the span");
        assert!(text.contains('…'), "{cmd}: the line is shown shortened");
        assert!(text.len() < 5_000, "{cmd}: {} bytes of output", text.len());
    }
}

// Finding 6: a need whose job rules leave out had no file:line in plan; lint said nothing.
#[test]
fn a_need_left_without_its_job_is_located_in_plan_and_warned_by_lint() {
    let ci = "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [build]\n";
    let dir = project(&[(".gitlab-ci.yml", ci)]);
    let (code, out, err) = gantry(dir.path(), &["plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}")
            .contains(".gitlab-ci.yml:7:11: `test` needs `build`, which is not in this pipeline"),
        "{out}{err}"
    );
    let (code, out, err) = gantry(dir.path(), &["run"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(".gitlab-ci.yml:7:11:"), "{err}");
    let (code, out, _) = gantry(dir.path(), &["lint"]);
    assert_eq!(code, 0, "a warning, not an error: {out}");
    assert!(
        out.contains(".gitlab-ci.yml:7:11: warning[need-may-be-missing]"),
        "{out}"
    );
    // The same rules on both jobs, or `optional: true`, leave nothing to warn about.
    for ci in [
        "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [build]\n  rules:\n    - if: '$NEVER == \"1\"'\n",
        "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [{job: build, optional: true}]\n",
        "build:\n  script: [make]\n  rules:\n    - when: on_success\ntest:\n  script: [make test]\n  needs: [build]\n",
    ] {
        let dir = project(&[(".gitlab-ci.yml", ci)]);
        let (code, out, _) = gantry(dir.path(), &["lint"]);
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("need-may-be-missing"), "{ci}\n{out}");
    }
}

/// What a file outside the checkout holds; it must never show up in gantry's output.
const SECRET: &str = "token: [SECRET-CONTENT-4711";

/// A directory outside the project whose files (YAML, dotenv, a JUnit report) all hold
/// [`SECRET`] or its marker.
fn outside() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("secret.yml", SECRET),
        ("templates/x.yml", SECRET),
        ("templates/x/template.yml", SECRET),
        ("t.yaml", SECRET),
        ("secret.env", "LEAKED=SECRET-CONTENT-4711\n"),
        ("report.xml", "<testsuite name=\"SECRET-CONTENT-4711\"/>"),
    ] {
        write(tmp.path(), name, content);
    }
    tmp
}

fn link(target: &Path, at: &Path) {
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::os::unix::fs::symlink(target, at).unwrap();
}

fn refused(what: &str, (code, out, err): &(i32, String, String)) {
    let text = format!("{out}{err}");
    assert_eq!(*code, 1, "{what}: {text}");
    crate::support::checks::refused_quietly(what, &text, "SECRET-CONTENT");
}

// Finding 1 (load side): includes, wildcards, templates and components through symlinks.
#[test]
fn includes_templates_and_components_cannot_leave_the_checkout_through_symlinks() {
    let out = outside();
    let o = out.path();
    let cases: [(&str, &str); 6] = [
        ("a symlinked file", "include: [{local: leak.yml}]\n"),
        (
            "a symlinked directory",
            "include: [{local: conf/secret.yml}]\n",
        ),
        (
            "a wildcard through a symlinked directory",
            "include: [{local: 'conf/*.yml'}]\n",
        ),
        ("a `**` wildcard", "include: [{local: 'conf/**.yml'}]\n"),
        (
            "a component of this project",
            "include: [{component: '$CI_SERVER_FQDN/$CI_PROJECT_PATH/x@1'}]\n",
        ),
        (
            "a template of --template-dir",
            "include: [{template: Leak.gitlab-ci.yml}]\n",
        ),
    ];
    for (what, include) in cases {
        let ci = format!("{include}job: {{script: [echo]}}\n");
        let dir = project(&[(".gitlab-ci.yml", &ci)]);
        let d = dir.path();
        link(&o.join("secret.yml"), &d.join("leak.yml"));
        link(o, &d.join("conf"));
        if what.contains("component") {
            std::fs::remove_file(d.join("conf")).unwrap();
            link(&o.join("templates"), &d.join("templates"));
        }
        let templates = tempfile::tempdir().unwrap();
        link(
            &o.join("secret.yml"),
            &templates.path().join("Leak.gitlab-ci.yml"),
        );
        let tdir = templates.path().to_string_lossy().into_owned();
        refused(
            &format!("lint with {what}"),
            &gantry(d, &["lint", "--template-dir", &tdir]),
        );
        if !what.contains("template-dir") {
            refused(&format!("plan with {what}"), &gantry(d, &["plan"]));
        }
    }
    // A symlink that stays inside the repository is followed as before.
    let dir = project(&[
        (".gitlab-ci.yml", "include: [{local: alias.yml}]\n"),
        ("real/jobs.yml", "job: {script: [echo]}\n"),
    ]);
    link(Path::new("real/jobs.yml"), &dir.path().join("alias.yml"));
    let (code, out, err) = gantry(dir.path(), &["lint"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Waits (at most a minute) for `path`, failing early if `child` ends first.
fn wait_for(path: &Path, child: &mut std::process::Child) {
    let start = std::time::Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gantry ended ({status}) before {} appeared", path.display());
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Live processes working in `project`'s state directory (job workspaces live there).
fn job_processes(project: &Path) -> Vec<i32> {
    let state = project.join(".gantry").canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            let pid: i32 = p.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(p.path().join("cwd")).ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(')')?.1.trim_start().starts_with('Z');
            (!zombie && cwd.starts_with(&state)).then_some(pid)
        })
        .collect()
}

fn spawn_run(dir: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--executor", "shell", "--grace", "1"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

// Finding 2: shell jobs survived SIGKILL of `gantry run`, and `gantry gc` left them running.
// Issue 25: the kernel's PDEATHSIG (a `pre_exec` hook that made every job fork all of gantry)
// gave way to gantry's watchdog, which kills each job's whole process group when gantry dies.
#[test]
fn jobs_of_a_killed_run_are_stopped_by_the_watchdog_gc_and_the_next_run() {
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().display().to_string();
    // The job (the shell itself runs `touch`), and one that leaves a background child in
    // its group and one that leaves the group (`setsid`), which only the marker can find. `bg`
    // says it started only once the escaped process runs in its own session: killed before
    // `setsid`, it would still be in bg's group and die with it, leaving nothing to reap.
    let ci = format!(
        "fg:\n  script: ['echo $$ > {m}/fg-group; touch {m}/fg-started; sleep 2.5 > /dev/null; touch {m}/fg-ran']\n\
         bg:\n  script: ['echo $$ > {m}/bg-group; (sleep 2.5; touch {m}/bg-ran) & setsid sh -c \"touch {m}/esc-started; sleep 2.5; touch {m}/esc-ran\" & until [ -e {m}/esc-started ]; do sleep 0.01; done; touch {m}/bg-started; wait']\n"
    );
    let group = |name: &str| -> i32 {
        let text = std::fs::read_to_string(marks.path().join(name)).unwrap();
        text.trim().parse().unwrap()
    };
    for reaper in ["gc", "run"] {
        let dir = project(&[(".gitlab-ci.yml", &ci)]);
        for f in ["fg-ran", "bg-ran", "esc-ran", "esc-started"] {
            let _ = std::fs::remove_file(marks.path().join(f));
        }
        let mut child = spawn_run(dir.path());
        wait_for(&marks.path().join("fg-started"), &mut child);
        wait_for(&marks.path().join("bg-started"), &mut child);
        std::fs::remove_file(marks.path().join("fg-started")).unwrap();
        std::fs::remove_file(marks.path().join("bg-started")).unwrap();
        let groups = [group("fg-group"), group("bg-group")];
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        // Both jobs' groups end with gantry, without any help.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let alive = |g: i32| unsafe { libc::killpg(g, 0) } == 0;
        while groups.iter().any(|g| alive(*g)) && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            !groups.iter().any(|g| alive(*g)),
            "a job's process group {groups:?} outlived its killed gantry"
        );
        assert!(
            !job_processes(dir.path()).is_empty(),
            "nothing left to reap (the `setsid` process): the test proves nothing"
        );
        let (code, out, err) = match reaper {
            "gc" => gantry(dir.path(), &["gc"]),
            _ => {
                // The next run in the project, of a pipeline that finishes at once.
                write(dir.path(), ".gitlab-ci.yml", "quick: {script: ['true']}\n");
                gantry(dir.path(), &["run", "--executor", "shell"])
            }
        };
        assert_eq!(code, 0, "{reaper}: {out}{err}");
        assert!(
            job_processes(dir.path()).is_empty(),
            "{reaper} left job processes"
        );
        assert!(
            format!("{out}{err}").contains("process"),
            "{reaper} says what it stopped: {out}{err}"
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
        for f in ["fg-ran", "bg-ran", "esc-ran"] {
            assert!(
                !marks.path().join(f).exists(),
                "after {reaper}, a job of the killed run still ran to `touch {f}`"
            );
        }
    }
}

// Finding 1 (run side): artifacts and caches (collected and restored), dotenv and JUnit
// reports, and `gantry render` in a job, each through a symlink and a symlinked directory.
#[test]
fn a_run_reads_and_writes_nothing_outside_the_workspace_through_symlinks() {
    let out = outside();
    let o = out.path();
    let drop = o.join("dropzone");
    std::fs::create_dir_all(&drop).unwrap();
    let g = env!("CARGO_BIN_EXE_gantry");
    let ci = format!(
        "stages: [make, use]\n\
         art-make:\n  stage: make\n  script: ['rm out && mkdir out && echo hi > out/x.txt']\n  artifacts: {{paths: [out/]}}\n\
         art-use:\n  stage: use\n  needs: [art-make]\n  script: ['true']\n\
         art-link:\n  stage: make\n  script: ['true']\n  artifacts: {{paths: [leak.env]}}\n\
         dotenv-dir:\n  stage: make\n  script: ['true']\n  artifacts: {{reports: {{dotenv: conf/secret.env}}}}\n\
         dotenv-link:\n  stage: make\n  script: ['true']\n  artifacts: {{reports: {{dotenv: leak.env}}}}\n\
         junit-dir:\n  stage: make\n  script: ['true']\n  artifacts: {{reports: {{junit: conf/report.xml}}}}\n\
         cache-make:\n  stage: make\n  script: ['rm out && mkdir out && echo hi > out/c.txt']\n  cache: {{key: k, paths: [out/], policy: push}}\n\
         cache-use:\n  stage: use\n  needs: [cache-make]\n  script: ['test ! -e out/c.txt']\n  cache: {{key: k, paths: [out/], policy: pull}}\n\
         cache-link:\n  stage: make\n  script: ['true']\n  cache: {{key: l, paths: [leak.env]}}\n\
         render-dir:\n  stage: make\n  script: ['{g} render conf/t.yaml']\n\
         render-link:\n  stage: make\n  script: ['{g} render leak.yaml']\n\
         render-out:\n  stage: make\n  script: ['echo hi | {g} render - -o out/written.txt']\n"
    );
    let dir = project(&[(".gitlab-ci.yml", &ci)]);
    let d = dir.path();
    link(&drop, &d.join("out"));
    link(o, &d.join("conf"));
    link(&o.join("secret.env"), &d.join("leak.env"));
    link(&o.join("t.yaml"), &d.join("leak.yaml"));
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "symlinks"]);
    let junit = d.join("junit.xml");
    let (code, stdout, stderr) = gantry(
        d,
        &[
            "run",
            "--executor",
            "shell",
            "--format",
            "json",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let text = format!("{stdout}{stderr}");
    assert_eq!(code, 1, "{text}");
    let status = |job: &str| -> String {
        json_lines(&stdout)
            .into_iter()
            .find(|e| e["event"] == "job_finished" && e["job"] == job)
            .and_then(|e| e["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no result for {job}:\n{text}"))
    };
    for job in [
        "art-use",
        "art-link",
        "dotenv-dir",
        "dotenv-link",
        "junit-dir",
        "cache-link",
        "render-dir",
        "render-link",
        "render-out",
    ] {
        assert_eq!(status(job), "failed", "{job}:\n{text}");
    }
    // The cache was saved from a real directory, but restoring it must not write through `out`.
    assert_eq!(status("cache-use"), "success", "{text}");
    assert!(text.contains("refused"), "{text}");
    if std::env::var_os("SHOW").is_some() {
        eprintln!("{text}");
    }
    assert!(
        !text.contains("SECRET-CONTENT"),
        "an error quotes a refused file:\n{text}"
    );
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(!junit.contains("SECRET-CONTENT"), "{junit}");
    let written: Vec<_> = std::fs::read_dir(&drop)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        written.is_empty(),
        "written outside the workspace: {written:?}"
    );
}
