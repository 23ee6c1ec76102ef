//! `gantry render` from the command line and from inside a job.

mod common;

use common::{gantry, repo};
use std::process::Command;

#[test]
fn renders_the_environment_and_vars_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("deploy.yaml.j2");
    std::fs::write(
        &tpl,
        "name: {{ APP | slug }}\nns: {{ RENDER_TEST_NS }}\n---\nkind: Secret\n",
    )
    .unwrap();
    let out = tmp.path().join("deploy.yaml");
    let status = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["render", tpl.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .args(["--var", "APP=Web_App"])
        .env("RENDER_TEST_NS", "from-env")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "name: web-app\nns: from-env\n---\nkind: Secret\n"
    );
}

#[test]
fn an_undefined_variable_fails_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("t.yaml"),
        "a: 1\nb: {{ NOT_SET_ANYWHERE }}\n",
    )
    .unwrap();
    let (code, out, err) = gantry(tmp.path(), &["render", "t.yaml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("t.yaml:2: undefined variable `NOT_SET_ANYWHERE`"),
        "{err}"
    );
}

#[test]
fn shell_jobs_find_gantry_on_their_path_and_render_with_job_variables() {
    let (_tmp, dir) = repo(
        "render-job",
        "variables:\n  TAG: v1.2\njob:\n  script:\n    - gantry render manifest.j2 -o out.yaml\n    - cat out.yaml\n",
        "init",
    );
    std::fs::write(
        dir.join("manifest.j2"),
        "image: app:{{ TAG }}\nproject: {{ CI_PROJECT_NAME }}\n",
    )
    .unwrap();
    common::git(&dir, &["add", "."]);
    common::git(&dir, &["commit", "-q", "-m", "template"]);
    // A PATH without the build directory: the job must still find this gantry.
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--executor", "shell"])
        .current_dir(&dir)
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("image: app:v1.2"), "{stdout}");
    assert!(stdout.contains("project: render-job"), "{stdout}");
}
