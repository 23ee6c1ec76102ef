//! `gantry render` from the command line and from inside a job.

use crate::support::Test;

#[test]
fn renders_the_environment_and_vars_to_a_file() {
    let run = Test::new()
        .no_git()
        .file(
            "deploy.yaml.j2",
            "name: {{ APP | slug }}\nns: {{ RENDER_TEST_NS }}\n---\nkind: Secret\n",
        )
        .args(["render", "deploy.yaml.j2", "-o", "deploy.yaml"])
        .args(["--var", "APP=Web_App"])
        .env("RENDER_TEST_NS", "from-env")
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(run.dir.join("deploy.yaml")).unwrap(),
        "name: web-app\nns: from-env\n---\nkind: Secret\n"
    );
}

#[test]
fn an_undefined_variable_fails_naming_file_and_line() {
    let run = Test::new()
        .no_git()
        .file("t.yaml", "a: 1\nb: {{ NOT_SET_ANYWHERE }}\n")
        .args(["render", "t.yaml"])
        .run()
        .code(1)
        .stderr_has("t.yaml:2: undefined variable `NOT_SET_ANYWHERE`");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn shell_jobs_find_gantry_on_their_path_and_render_with_job_variables() {
    Test::new()
        .name("render-job")
        .pipeline(
            "variables:\n  TAG: v1.2\njob:\n  script:\n    - gantry render manifest.j2 -o out.yaml\n    - cat out.yaml\n",
        )
        .file(
            "manifest.j2",
            "image: app:{{ TAG }}\nproject: {{ CI_PROJECT_NAME }}\n",
        )
        .args(["run", "--executor", "shell"])
        // A PATH without the build directory: the job must still find this gantry.
        .env("PATH", "/usr/bin:/bin")
        .run()
        .success()
        .stdout_has("image: app:v1.2")
        .stdout_has("project: render-job");
}
