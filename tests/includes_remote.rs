//! Network includes fetched as GitLab's server fetches them (issue 28): `project` with a ref
//! and several files, `remote`, `template` and `component` at every kind of version, through a
//! stand-in for GitLab's REST API on loopback (`support::gitlab_api`); the include cache
//! (repeated lints touch no network, `--offline`, `--refresh`, the lock-like listing); GitLab's
//! limits; diagnostics located in fetched files; the token never shown; and the checks an
//! unread include could satisfy reported as warnings naming it.

use crate::support::Test;
use crate::support::checks::diagnostic_codes as codes;
use crate::support::gitlab_api::{Content, FakeGitLab, Project};
use std::path::Path;

const SHA_A: &str = "aaaaaaaa11111111111111111111111111111111";
const SHA_B: &str = "bbbbbbbb22222222222222222222222222222222";

/// A pipeline test fetching from `server`, caching in `cache`.
fn online(server: &FakeGitLab, cache: &Path, pipeline: &str) -> Test {
    Test::new()
        .pipeline(pipeline)
        .env("GANTRY_OFFLINE", "0")
        .env("GANTRY_CACHE_DIR", cache.to_str().unwrap())
        .env("CI_SERVER_URL", &server.url)
}

/// `gantry lint` refuses the pipeline of `test`, saying each of `says`.
fn lint_refuses(test: Test, says: &[&str]) {
    let run = test.args(["lint"]).run().code(1);
    for text in says {
        assert!(
            run.stdout.contains(text),
            "expected {text:?} in:\n{}",
            run.stdout
        );
    }
}

fn job_names(run: &crate::support::builder::Run) -> Vec<String> {
    crate::support::job_names(&run.json())
}

fn library() -> Project {
    Project::new().commit(
        SHA_A,
        &["main", "v1"],
        &[
            (
                "ci/build.yml",
                "lib-build:\n  stage: build\n  script: make\n",
            ),
            (
                "ci/test.yml",
                "include:\n  - local: /ci/nested.yml\nlib-test:\n  script: make test\n",
            ),
            ("ci/nested.yml", "lib-nested:\n  script: make nested\n"),
            ("ci/bad.yml", "lib-bad:\n  scirpt: make\n"),
        ],
    )
}

#[test]
fn project_includes_fetch_every_file_at_the_ref_with_nested_local_files() {
    let server = FakeGitLab::start(Content::new().project("group/lib", library()));
    let cache = tempfile::tempdir().unwrap();
    let pipeline = concat!(
        "include:\n  - project: group/lib\n    ref: v1\n    file: [ci/build.yml, /ci/test.yml]\n",
        "app:\n  needs: [lib-build, lib-test, lib-nested]\n  script: echo\n",
    );
    let run = online(&server, cache.path(), pipeline)
        .args(["lint", "--format", "json"])
        .run()
        .success();
    let doc = run.json();
    assert_eq!(codes(&doc), Vec::<(String, String)>::new(), "{doc:#}");
    let run = run.again(&["plan", "--format", "json"]).success();
    let mut names = job_names(&run);
    names.sort();
    assert_eq!(names, ["app", "lib-build", "lib-nested", "lib-test"]);
}

#[test]
fn remote_template_and_redirected_includes_are_read() {
    let server = FakeGitLab::start(
        Content::new()
            .remote("ci/remote.yml", "from-remote:\n  script: echo remote\n")
            .remote("ci/moved.yml", "from-moved:\n  script: echo moved\n")
            .template("Hello", "from-template:\n  script: echo template\n")
            .project(
                "gitlab-org/gitlab",
                Project::new().commit(
                    SHA_A,
                    &["main"],
                    &[(
                        "lib/gitlab/ci/templates/Jobs/Nested.gitlab-ci.yml",
                        "from-nested:\n  script: echo nested\n",
                    )],
                ),
            ),
    );
    let pipeline = format!(
        concat!(
            "include:\n  - remote: {url}/files/ci/remote.yml\n  - {url}/redirect/ci/moved.yml\n",
            "  - template: Hello.gitlab-ci.yml\n  - template: Jobs/Nested.gitlab-ci.yml\n",
            "app:\n  needs: [from-remote, from-moved, from-template, from-nested]\n  script: echo\n",
        ),
        url = server.url
    );
    let cache = tempfile::tempdir().unwrap();
    let run = online(&server, cache.path(), &pipeline)
        .args(["lint", "--format", "json"])
        .run()
        .success();
    let doc = run.json();
    assert_eq!(codes(&doc), Vec::<(String, String)>::new(), "{doc:#}");
}

#[test]
fn what_gitlab_refuses_is_an_error_located_at_the_include() {
    let server = FakeGitLab::start(
        Content::new()
            .remote("ci/notes.txt", "x: 1\n")
            .project("group/lib", library()),
    );
    let cache = tempfile::tempdir().unwrap();
    for (include, says) in [
        (
            format!("remote: {}/files/missing.yml", server.url),
            "HTTP code `404`",
        ),
        (
            format!("remote: {}/files/ci/notes.txt", server.url),
            ".yml or .yaml",
        ),
        (format!("remote: {}/big.yml", server.url), "larger than"),
        (
            "project: group/lib\n    file: ci/none.yml".to_string(),
            "does not exist",
        ),
        (
            "project: group/lib\n    ref: v9\n    file: ci/build.yml".to_string(),
            "reference `v9` does not exist",
        ),
    ] {
        let pipeline = format!("include:\n  - {include}\napp:\n  script: echo\n");
        lint_refuses(
            online(&server, cache.path(), &pipeline),
            &[".gitlab-ci.yml:", "error[invalid-include]", says],
        );
    }
}

#[test]
fn diagnostics_in_a_fetched_file_are_located_in_it() {
    let server = FakeGitLab::start(Content::new().project("group/lib", library()));
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "include:\n  - project: group/lib\n    file: ci/bad.yml\napp:\n  script: echo\n";
    let at = format!("{}/group/lib@aaaaaaaa:ci/bad.yml:2:3", server.host());
    lint_refuses(online(&server, cache.path(), pipeline), &[&at, "scirpt"]);
}

/// A component project: `templates/lint` at five commits, four of them released (one a
/// pre-release), `main` at the fifth; each commit's job is named after its version.
fn kit() -> Project {
    let commits = [
        (
            "1.0.0",
            "1000000000000000000000000000000000000000",
            "lint.yml",
        ),
        (
            "1.2.0",
            "1200000000000000000000000000000000000000",
            "lint/template.yml",
        ),
        (
            "1.2.5",
            "1250000000000000000000000000000000000000",
            "lint.yml",
        ),
        (
            "2.0.0-rc1",
            "2000000000000000000000000000000000000000",
            "lint.yml",
        ),
        (
            "main",
            "5555555555555555555555555555555555555555",
            "lint.yml",
        ),
    ];
    let mut project = Project::new();
    for (version, sha, file) in commits {
        let path = format!("templates/{file}");
        let job = format!("kit-lint-{version}:\n  script: echo {version}\n");
        if version == "main" {
            project = project.commit(sha, &["main"], &[(&path, &job)]);
        } else {
            project = project
                .commit(sha, &[], &[(&path, &job)])
                .release(version, sha);
        }
    }
    project
}

#[test]
fn component_versions_resolve_as_gitlab_resolves_them() {
    let server = FakeGitLab::start(Content::new().project("tools/kit", kit()));
    let host = server.host();
    for (version, job) in [
        ("~latest", "kit-lint-1.2.5"),
        ("1", "kit-lint-1.2.5"),
        ("1.2", "kit-lint-1.2.5"),
        ("1.0", "kit-lint-1.0.0"),
        ("1.2.0", "kit-lint-1.2.0"),
        ("2.0.0-rc1", "kit-lint-2.0.0-rc1"),
        ("main", "kit-lint-main"),
        ("1200000000000000000000000000000000000000", "kit-lint-1.2.0"),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let pipeline = format!(
            "include:\n  - component: {host}/tools/kit/lint@{version}\napp:\n  needs: [{job}]\n  script: echo\n"
        );
        let run = online(&server, cache.path(), &pipeline)
            .args(["plan", "--format", "json"])
            .run()
            .success();
        assert!(
            job_names(&run).contains(&job.to_string()),
            "{version}: {}",
            run.stdout
        );
    }
    let cache = tempfile::tempdir().unwrap();
    let pipeline = format!(
        "include:\n  - component: {host}/tools/kit/lint@3\n  - component: {host}/tools/kit/nope@1.2.5\napp:\n  script: echo\n"
    );
    lint_refuses(
        online(&server, cache.path(), &pipeline),
        &["`3` does not exist", "component `nope` not found"],
    );
}

#[test]
fn a_cached_lint_touches_no_network_and_lists_what_resolved_to_what() {
    let server = FakeGitLab::start(
        Content::new()
            .project("group/lib", library())
            .project("tools/kit", kit())
            .remote("r.yml", "from-remote:\n  script: echo\n"),
    );
    let cache = tempfile::tempdir().unwrap();
    let pipeline = format!(
        concat!(
            "include:\n  - project: group/lib\n    file: ci/build.yml\n",
            "  - remote: {url}/files/r.yml\n  - component: {host}/tools/kit/lint@~latest\n",
            "app:\n  needs: [lib-build, from-remote, kit-lint-1.2.5]\n  script: echo\n",
        ),
        url = server.url,
        host = server.host()
    );
    let run = online(&server, cache.path(), &pipeline)
        .args(["lint", "--format", "json"])
        .run()
        .success();
    assert_eq!(codes(&run.json()), Vec::<(String, String)>::new());
    let fetched = server.requests();
    assert!(fetched >= 3, "{:?}", server.paths());

    let run = run.again(&["lint"]).success();
    let run = run.again(&["plan"]).success();
    assert_eq!(server.requests(), fetched, "cached: {:?}", server.paths());

    let run = run.again(&["lint", "--list-includes"]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let host = server.host();
    assert!(
        lines[0].starts_with(&format!(
            "project\t{host}/group/lib@HEAD:ci/build.yml\t{SHA_A}\t"
        )),
        "{}",
        run.stdout
    );
    assert!(lines[1].starts_with(&format!("remote\t{}/files/r.yml\tsha256:", server.url)));
    assert!(lines[2].starts_with(&format!(
        "component\t{host}/tools/kit/lint@~latest\t1.2.5 1250000000000000000000000000000000000000\t"
    )));
    assert_eq!(server.requests(), fetched);

    let run = run
        .again(&["lint", "--list-includes", "--format", "json"])
        .success();
    let listed = run.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed:#}");
    assert_eq!(listed[0]["resolved"], SHA_A);

    // --offline with the cache: the same pipeline, still no request.
    let run = run
        .again(&["lint", "--offline", "--format", "json"])
        .success();
    assert_eq!(codes(&run.json()), Vec::<(String, String)>::new());
    assert_eq!(server.requests(), fetched);
}

#[test]
fn offline_without_a_cache_leaves_includes_unread_and_refresh_re_resolves() {
    let server = FakeGitLab::start(Content::new().project("group/lib", library()));
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "include:\n  - project: group/lib\n    file: ci/build.yml\napp:\n  needs: [lib-build]\n  script: echo\n";
    let run = online(&server, cache.path(), pipeline)
        .args(["lint", "--offline", "--format", "json"])
        .run()
        .success();
    let doc = run.json();
    assert!(
        codes(&doc).contains(&("warning".into(), "include-offline".into())),
        "{doc:#}"
    );
    assert!(
        codes(&doc).contains(&("warning".into(), "unknown-need".into())),
        "the need the include would satisfy is a warning: {doc:#}"
    );
    assert_eq!(server.requests(), 0);
    let run = run.again(&["lint", "--offline", "--strict"]).code(1);

    // Fetch once, then move `main` to a commit whose file defines another job.
    let run = run.again(&["lint"]).success();
    server.change(|c| {
        let p = c.project_mut("group/lib");
        p.add_commit(SHA_B, &[("ci/build.yml", "lib-build-2:\n  script: make\n")]);
        p.set_ref("main", SHA_B);
    });
    let run = run.again(&["lint", "--format", "json"]).success();
    assert_eq!(
        codes(&run.json()),
        Vec::<(String, String)>::new(),
        "cached: still `main` at A"
    );
    let run = run
        .again(&["lint", "--refresh", "--format", "json"])
        .code(1);
    let doc = run.json();
    assert!(
        codes(&doc).contains(&("error".into(), "unknown-need".into())),
        "refreshed: `main` is B, without lib-build: {doc:#}"
    );
}

#[test]
fn the_token_is_sent_to_the_instance_and_never_shown_or_stored() {
    let token = "glpat-very-s3cret-value";
    let server = FakeGitLab::start(
        Content::new()
            .token(token)
            .project("group/private", library().private()),
    );
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "include:\n  - project: group/private\n    file: ci/build.yml\napp:\n  needs: [lib-build]\n  script: echo\n";

    // Without a token the project is hidden: unread (a warning saying how to give one).
    let run = online(&server, cache.path(), pipeline)
        .args(["lint"])
        .run()
        .success();
    assert!(run.stdout.contains("GITLAB_TOKEN"), "{}", run.stdout);

    let with = |t: &str| {
        online(&server, cache.path(), pipeline)
            .env("GITLAB_TOKEN", t)
            .args(["lint", "--refresh"])
            .run()
    };
    let wrong = with("glpat-wrong");
    assert!(wrong.stdout.contains("HTTP 401"), "{}", wrong.stdout);
    assert!(!wrong.stdout.contains("glpat-wrong") && !wrong.stderr.contains("glpat-wrong"));

    let run = with(token).success();
    assert!(run.stdout.contains("valid"), "{}", run.stdout);
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
    let run = run.again(&["lint", "--list-includes"]).success();
    assert!(!run.stdout.contains(token));
    assert!(crate::support::assert_nowhere_under(cache.path(), token) > 0);
}

#[test]
fn includes_nesting_deeper_than_gitlab_allows_are_refused() {
    let mut files: Vec<(String, String)> = (0..110)
        .map(|i| {
            (
                format!("ci/{i}.yml"),
                format!(
                    "include:\n  - local: ci/{}.yml\njob-{i}:\n  script: echo\n",
                    i + 1
                ),
            )
        })
        .collect();
    files.push(("ci/110.yml".into(), "last:\n  script: echo\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let server = FakeGitLab::start(
        Content::new().project("group/deep", Project::new().commit(SHA_A, &["main"], &refs)),
    );
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "include:\n  - project: group/deep\n    file: ci/0.yml\napp:\n  script: echo\n";
    lint_refuses(
        online(&server, cache.path(), pipeline),
        &["nest deeper than 100 levels"],
    );
}

/// A `!reference` to a job of an unread include, and an `on_stop` job whose `action: stop`
/// comes through `extends:` of a base from one: GitLab runs both, so they are warnings
/// naming the include (errors with `--strict`), and clean once the include is read.
#[test]
fn what_an_unread_include_could_supply_is_a_warning_naming_it() {
    let lib = Project::new().commit(
        SHA_A,
        &["main"],
        &[(
            "ci/base.yml",
            concat!(
                ".python:\n  image: python:3\n  script: python -V\n",
                ".stop-base:\n  environment:\n    name: review\n    action: stop\n",
            ),
        )],
    );
    let server = FakeGitLab::start(Content::new().project("group/lib", lib));
    let cache = tempfile::tempdir().unwrap();
    let pipeline = concat!(
        "include:\n  - project: group/lib\n    file: ci/base.yml\n",
        "python: !reference [.python]\n",
        "deploy:\n  script: echo\n  environment:\n    name: review\n    on_stop: stop\n",
        "stop:\n  extends: .stop-base\n  script: echo\n  when: manual\n",
    );
    let run = online(&server, cache.path(), pipeline)
        .args(["lint", "--offline", "--format", "json"])
        .run()
        .success();
    let doc = run.json();
    let diags = doc["diagnostics"].as_array().unwrap();
    assert!(diags.iter().all(|d| d["severity"] == "warning"), "{doc:#}");
    for d in diags.iter().filter(|d| d["code"] != "include-offline") {
        assert!(
            d["help"].as_str().unwrap_or_default().contains("group/lib"),
            "names the include: {d:#}"
        );
    }
    assert!(
        !doc.to_string().contains("its value is null"),
        "no follow-on error: {doc:#}"
    );
    let run = run.again(&["lint", "--offline", "--strict"]).code(1);
    let run = run.again(&["lint", "--format", "json"]).success();
    assert_eq!(
        codes(&run.json()),
        Vec::<(String, String)>::new(),
        "read: clean"
    );
}

/// A component's file interpolates `$[[ component.* ]]` (what its header declares in
/// `spec:component`) with the version it resolved to, the version as written and the commit.
#[test]
fn a_component_sees_its_resolved_version_and_commit() {
    let file = concat!(
        "spec:\n  component: [name, version, reference, sha]\n---\n",
        "\"$[[ component.name ]]-$[[ component.version ]]-$[[ component.sha | truncate(0,4) ]]\":\n",
        "  script: echo $[[ component.reference ]]\n",
    );
    let sha = "1250000000000000000000000000000000000000";
    let server = FakeGitLab::start(
        Content::new().project(
            "tools/fmt",
            Project::new()
                .commit(sha, &[], &[("templates/fmt.yml", file)])
                .release("1.2.5", sha),
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let pipeline = format!(
        "include:\n  - component: {}/tools/fmt/fmt@~latest\n",
        server.host()
    );
    let run = online(&server, cache.path(), &pipeline)
        .args(["plan", "--format", "json"])
        .run()
        .success();
    assert_eq!(job_names(&run), ["fmt-1.2.5-1250"], "{}", run.stdout);
}

/// `integrity: sha256-…` (base64 of the SHA-256) must match the fetched file.
#[test]
fn remote_integrity_is_checked() {
    use base64::Engine;
    use sha2::Digest;
    let text = "checked:\n  script: echo\n";
    let server = FakeGitLab::start(Content::new().remote("c.yml", text));
    let good = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text));
    let cache = tempfile::tempdir().unwrap();
    let pipeline = |integrity: &str| {
        format!(
            "include:\n  - remote: {}/files/c.yml\n    integrity: sha256-{integrity}\napp:\n  needs: [checked]\n  script: echo\n",
            server.url
        )
    };
    online(&server, cache.path(), &pipeline(&good))
        .args(["lint"])
        .run()
        .success();
    lint_refuses(
        online(&server, cache.path(), &pipeline("AAAA")),
        &["does not match its `integrity`", "error[invalid-include]"],
    );
}
