//! `gantry shell JOB` and `gantry run --shell-on-failure` with the shell executor, driven
//! through a pseudo-terminal as a person would type. Docker and Kubernetes: tests/docker.rs and
//! tests/kube_executor.rs.

use crate::support::checks::assert_in_order;
use crate::support::pty::on_pty;
use crate::support::{Test, gantry, repo};
use std::time::Duration;

const PIPELINE: &str = "stages: [build, test]
compile:
  stage: build
  script:
    - mkdir -p out && echo built-binary > out/bin
    - echo VERSION=v42 > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
unit:
  stage: test
  needs: [compile]
  variables:
    GREETING: hello-from-unit
  script:
    - echo the-script-ran
";

#[test]
fn gantry_shell_opens_in_the_jobs_workspace_with_its_variables_and_needs_artifacts() {
    let (_t, dir) = Test::new()
        .pipeline(PIPELINE)
        .uncommitted(
            ".gantry/variables.yml",
            "TOKEN: {value: hunter2-very-secret, masked: true}\n",
        )
        .create();
    let (code, out) = on_pty(
        &dir,
        &["shell", "unit"],
        &[
            ("[unit]", "cat out/bin; echo v=$VERSION g=$GREETING; pwd\r"),
            (
                "g=hello-from-unit",
                "test -n \"$TOKEN\" && echo token-is-$((1+1))\r",
            ),
            ("token-is-2", "echo sleeping-now; sleep 30; echo slept\r"),
            // Ctrl-C goes to the shell's foreground job, not to gantry.
            ("sleeping-now\r\n", "\x03"),
            ("[unit]", "echo still-$((2+3))\r"),
            ("still-5", "exit\r"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("built-binary"), "{out}");
    assert!(out.contains("v=v42 g=hello-from-unit"), "{out}");
    assert!(out.contains("token-is-2"), "{out}");
    assert!(out.contains(".gantry/workspaces/"), "{out}");
    assert!(
        !out.contains("the-script-ran"),
        "the shell replaces the script: {out}"
    );
    assert!(!out.contains("\nslept"), "Ctrl-C stopped the sleep: {out}");
    assert!(!out.contains("hunter2-very-secret"), "{out}");
    // What it needed was run and stored: a second shell reuses it.
    let (code, out) = on_pty(
        &dir,
        &["shell", "unit"],
        &[("[unit]", "cat out/bin; exit 0\r")],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("reused") && out.contains("built-binary"),
        "{out}"
    );
}

#[test]
fn a_shell_needs_a_terminal() {
    let (_t, dir) = repo("app", PIPELINE, "c");
    let (code, _, err) = gantry(&dir, &["shell", "unit"]);
    assert_eq!(code, 2);
    assert!(err.contains("needs an interactive terminal"), "{err}");
    let (code, _, err) = gantry(&dir, &["run", "--shell-on-failure"]);
    assert_eq!(code, 2);
    assert!(err.contains("needs an interactive terminal"), "{err}");
    assert!(!dir.join(".gantry/pipelines").exists(), "nothing ran");
}

#[test]
fn shell_on_failure_opens_at_the_failed_state_then_the_pipeline_goes_on() {
    let (_t, dir) = repo(
        "app",
        "broken:\n  script:\n    - echo state-at-failure > state.txt\n    - exit 4\n  after_script:\n    - echo after-script-ran\n\
         tidy:\n  stage: .post\n  when: always\n  script: [echo cleanup-job-ran]\n",
        "c",
    );
    let (code, out) = on_pty(
        &dir,
        &["run", "--shell-on-failure"],
        &[
            ("[broken]", "cat state.txt; echo shell-$CI_JOB_NAME\r"),
            ("shell-broken\r\n", "exit\r"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1, "the job stays failed: {out}");
    assert_in_order(
        &out,
        &["state-at-failure", "after-script-ran", "cleanup-job-ran"],
    );
}
