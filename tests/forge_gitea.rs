//! `gantry serve` as the CI of a real Gitea (the test forge, `testing/forge/up.sh`): a private
//! repository whose webhook points at serve; a push runs a pipeline that serve clones with a
//! token, and the commit's statuses in Gitea go pending (waiting), pending (running), then
//! success or failure, linking to the pipeline's page; a missing or wrong clone credential
//! fails the pipeline naming the repository and the kind of credential; Gitea stopped while a
//! pipeline ends gets the status once it is back, across a restart of serve; a pull request's
//! pipeline has its own status line (`gantry/merge-request`) beside the branch's; a private
//! submodule on the same forge comes with the same token; a deploy key with pinned host keys
//! clones over SSH; a pull request from a second user's fork waits for approval and, once
//! approved, runs without the protected variable, while a push to the protected `main` gets
//! it; a schedule fires and its status reaches Gitea. The token is in no log, API answer,
//! database or mirror.

use crate::support::forge::{Gitea, run, state};
use crate::support::serve::*;
use crate::support::{gate, git};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const PASSES: &str = "ok:\n  script:\n    - echo fine on $CI_COMMIT_REF_NAME\n";
const FAILS: &str = "broken:\n  script:\n    - exit 3\n";
const SLOW: &str = "slow:\n  script:\n    - sleep 3\n    - echo done\n";
/// A job for branch and merge request pipelines alike (without `rules`, GitLab runs a job in
/// branch pipelines only).
const SAYS_SOURCE: &str = "ok:\n  rules:\n    - when: always\n  script:\n    - echo source $CI_PIPELINE_SOURCE iid $CI_MERGE_REQUEST_IID\n";
const WITH_LIB: &str =
    "variables:\n  GIT_SUBMODULE_STRATEGY: normal\nshow:\n  script:\n    - cat lib/README\n";

/// A config serving Gitea repository `full` (cloned with the forge's token, statuses back),
/// and, for the credential checks, the same source as `full-nocred` (no credential) and
/// `full-wrongtoken` (a wrong token).
fn config(tmp: &Path, g: &Gitea, full: &str) -> std::path::PathBuf {
    config_with(tmp, g, full, "")
}

/// [`config`] with `extra` settings (TOML) of repository `full`.
fn config_with(tmp: &Path, g: &Gitea, full: &str, extra: &str) -> std::path::PathBuf {
    let token = tmp.join("token");
    std::fs::write(&token, &g.token).unwrap();
    let wrong = tmp.join("wrong-token");
    std::fs::write(&wrong, "wrong-token-value-123\n").unwrap();
    let url = g.clone_url(full);
    let text = format!(
        r#"[[repository]]
name = "{full}"
source = "{url}"
forge = "gitea"
forge_url = "{forge}"
forge_token_file = "{token}"
clone_token_file = "{token}"
{extra}
[[repository]]
name = "{full}-nocred"
source = "{url}"

[[repository]]
name = "{full}-wrongtoken"
source = "{url}"
clone_token_file = "{wrong}"
"#,
        forge = g.url,
        token = token.display(),
        wrong = wrong.display(),
    );
    write_config(tmp, &text)
}

/// `gantry serve` on `tmp/data` with `config`'s repositories.
fn serve(tmp: &Path, g: &Gitea, full: &str) -> Server {
    serve_with(tmp, g, full, "")
}

/// [`serve`] with `extra` settings of repository `full` (see [`config_with`]).
fn serve_with(tmp: &Path, g: &Gitea, full: &str, extra: &str) -> Server {
    let config = config_with(tmp, g, full, extra);
    Server::start(&tmp.join("data"), &["--config", config.to_str().unwrap()])
}

/// A webhook of `full` to `server`'s `/hooks/gitea`.
fn hook(g: &Gitea, full: &str, server: &Server) {
    g.add_webhook(full, &format!("http://{}/hooks/gitea", server.addr), SECRET);
}

/// The webhook, then a push of `work`'s `main` to `full`: a pipeline starts.
fn hook_and_push(g: &Gitea, full: &str, server: &Server, work: &Path) {
    hook(g, full, server);
    g.push(work, full, "main", &g.token);
}

/// `tmp/gantry.toml` holding `text`.
fn write_config(tmp: &Path, text: &str) -> PathBuf {
    let file = tmp.join("gantry.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The forge's lock, held for a test.
type Lock = Box<dyn std::any::Any>;

/// What [`case`] sets up: the forge, its lock, the directory, the repository's full name, the
/// local repository and its commit.
type Case = (Gitea, Lock, tempfile::TempDir, String, PathBuf, String);

/// The test forge (`None`: skip), held shared or, for a test that stops it, `alone`; in a new
/// temporary directory a new private repository of it (its full name) and a local one
/// (`work`) with `pipeline` committed (its commit).
fn case(prefix: &str, pipeline: &str, alone: bool) -> Option<Case> {
    let g = gate::forge()?;
    let lock: Lock = if alone {
        Box::new(gate::FORGE.alone())
    } else {
        Box::new(gate::FORGE.shared())
    };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let sha = repo(&work, pipeline);
    let full = g.create_repo(&Gitea::unique(prefix), true);
    Some((g, lock, tmp, full, work, sha))
}

/// A [`case`] (shared) whose `main` is on the forge, served with `extra` settings of its
/// repository (no webhook yet).
fn served(prefix: &str, pipeline: &str, extra: &str) -> Option<(Case, Server)> {
    let case = case(prefix, pipeline, false)?;
    let (g, _, tmp, full, work, _) = &case;
    g.push(work, full, "main", &g.token);
    let server = serve_with(tmp.path(), g, full, extra);
    Some((case, server))
}

/// The end of the pipeline a signed Gitea push of repository `name` to `sha` starts.
fn pushed(server: &Server, name: &str, sha: &str) -> Value {
    let r = gitea_push(server, name, sha);
    assert_eq!(r.status, 201, "{}", r.text());
    server.wait_done(r.json()["id"].as_i64().unwrap(), 90)
}

/// `p` failed for a reason naming repository `name` and `credential`.
fn failed_naming(p: &Value, name: &str, credential: &str) {
    assert_eq!(p["status"], "failed", "{p:#}");
    let reason = p["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains(name) && reason.contains(credential),
        "{reason}"
    );
}

/// Serve's pipeline of commit `sha`.
fn pipeline_of(server: &Server, sha: &str) -> Value {
    find_pipeline(server, sha, None).unwrap_or_else(|| panic!("no pipeline of {sha}"))
}

/// Serve's pipeline of commit `sha` started by `source` (any: `None`), if there is one.
fn find_pipeline(server: &Server, sha: &str, source: Option<&str>) -> Option<Value> {
    let list = server.api("/pipelines?per_page=100");
    list["pipelines"].as_array().and_then(|all| {
        all.iter()
            .find(|p| p["sha"] == sha && source.is_none_or(|s| p["source"] == s))
            .cloned()
    })
}

/// A Gitea push webhook of `name` to `sha`, signed as Gitea signs it.
fn gitea_push(server: &Server, name: &str, sha: &str) -> Resp {
    let body = json!({"ref": "refs/heads/main", "before": ZERO, "after": sha,
        "repository": {"full_name": name}, "pusher": {"login": "gantry-admin"}})
    .to_string();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    request(
        &server.addr,
        "POST",
        "/hooks/gitea",
        &[
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", &sig),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// The token is in none of serve's log, API answers, database and mirrors.
fn token_kept(server: &Server, token: &str) {
    if let Some(place) = held(server, token, &[]) {
        panic!("{place} holds the token");
    }
}

/// Where `secret` is among serve's log, its API's answers (the pipelines, the repositories and
/// the `more` paths) and the files of its data directory (database, mirrors, logs,
/// artifacts); `None`: nowhere.
fn held(server: &Server, secret: &str, more: &[String]) -> Option<String> {
    if server.stderr().contains(secret) {
        return Some("the log".into());
    }
    let mut paths = vec!["/pipelines".to_string(), "/repositories".to_string()];
    paths.extend_from_slice(more);
    for path in paths {
        if server.api(&path).to_string().contains(secret) {
            return Some(format!("the API's {path}"));
        }
    }
    let mut stack = vec![server.data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && let Some(at) = bytes
                    .windows(secret.len())
                    .position(|w| w == secret.as_bytes())
            {
                // What is around it (the secret itself left out) says how it got there.
                let around =
                    &bytes[at.saturating_sub(120)..(at + secret.len() + 100).min(bytes.len())];
                let around = String::from_utf8_lossy(around).replace(secret, "<SECRET>");
                return Some(format!("{} ({around:?})", p.display()));
            }
        }
    }
    None
}

#[test]
fn a_push_to_a_private_gitea_repository_runs_and_the_commit_shows_its_statuses() {
    let Some((g, _lock, tmp, full, work, sha)) = case("app", PASSES, false) else {
        return;
    };
    let server = serve(tmp.path(), &g, &full);
    hook_and_push(&g, &full, &server, &work);

    let statuses = g.wait_statuses(&full, &sha, 120, |s| {
        s.last().is_some_and(|l| state(l) != "pending")
    });
    let seen: Vec<(&str, &str)> = statuses
        .iter()
        .map(|s| (state(s), s["description"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(seen.len(), 3, "{statuses:#?}");
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        ["pending", "pending", "success"]
    );
    assert!(seen[0].1.contains("waiting"), "{seen:?}");
    assert!(seen[1].1.contains("running"), "{seen:?}");
    assert!(seen[2].1.contains("passed"), "{seen:?}");
    let p = pipeline_of(&server, &sha);
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["source"], "push");
    assert_eq!(p["status"], "success", "{p:#}");
    let link = format!("http://{}/pipelines/{id}", server.addr);
    for s in &statuses {
        assert_eq!(s["context"], "gantry/pipeline");
        assert_eq!(s["target_url"], link.as_str());
    }
    let page = server.get(&format!("/pipelines/{id}"), Some(TOKEN));
    assert_eq!(
        page.status, 200,
        "the link opens serve's page of the pipeline"
    );
    assert!(page.text().contains("<html"), "{}", page.text());
    let p = server.wait_pipeline(id, 30, |p| p["forge_status"]["state"] == "success");
    assert_eq!(p["forge_status"]["outcome"], "delivered", "{p:#}");
    let job = Server::job(&server.wait_done(id, 10), "ok")["id"]
        .as_i64()
        .unwrap();
    assert!(server.log(job).contains("fine on main"));

    // A failing commit ends `failure`.
    let bad = commit(&work, FAILS, "break it");
    g.push(&work, &full, "main", &g.token);
    let statuses = g.wait_statuses(&full, &bad, 120, |s| {
        s.last().is_some_and(|l| state(l) != "pending")
    });
    assert_eq!(state(statuses.last().unwrap()), "failure", "{statuses:#?}");

    // The same private repository without a credential, and with a wrong one.
    let p = pushed(&server, &format!("{full}-nocred"), &sha);
    failed_naming(&p, &format!("{full}-nocred"), "no credential");
    let p = pushed(&server, &format!("{full}-wrongtoken"), &sha);
    failed_naming(&p, &format!("{full}-wrongtoken"), "HTTPS clone token");
    assert!(
        !p["reason"].to_string().contains("wrong-token-value-123"),
        "{p:#}"
    );
    token_kept(&server, &g.token);
    token_kept(&server, "wrong-token-value-123");
}

#[test]
fn statuses_reach_gitea_after_an_outage_across_a_restart_of_serve() {
    // This test stops the forge: no other forge test runs meanwhile.
    let Some((g, _lock, tmp, full, work, sha)) = case("outage", SLOW, true) else {
        return;
    };
    let config = config(tmp.path(), &g, &full);
    let args = ["--config", config.to_str().unwrap()];
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &args);
    hook_and_push(&g, &full, &server, &work);
    g.wait_statuses(&full, &sha, 120, |s| {
        s.iter().any(|s| {
            s["description"]
                .as_str()
                .is_some_and(|d| d.contains("running"))
        })
    });

    // Gitea goes away while the pipeline ends: its end waits in serve's outbox.
    g.stop();
    let id = pipeline_of(&server, &sha)["id"].as_i64().unwrap();
    assert_eq!(server.wait_done(id, 60)["status"], "success");
    let p = server.wait_pipeline(id, 30, |p| {
        p["forge_status"]["state"] == "success"
            && p["forge_status"]["last_result"]
                .as_str()
                .is_some_and(|r| r.contains("cannot reach the forge"))
    });
    assert_eq!(p["forge_status"]["outcome"], "waiting", "{p:#}");
    assert!(server.terminate(30), "serve did not stop");

    // Gitea back, serve started again on its data: the latest status arrives.
    g.start();
    let server = Server::start(&data, &args);
    let statuses = g.wait_statuses(&full, &sha, 90, |s| {
        s.last().is_some_and(|l| state(l) == "success")
    });
    assert!(
        statuses
            .last()
            .and_then(|s| s["description"].as_str())
            .is_some_and(|d| d.contains("passed")),
        "{statuses:#?}"
    );
    let p = server.wait_pipeline(id, 30, |p| p["forge_status"]["outcome"] == "delivered");
    assert_eq!(p["forge_status"]["state"], "success", "{p:#}");
    token_kept(&server, &g.token);
}

/// A new ed25519 key pair at `path` (and `path.pub`); the public key line.
fn key_pair(path: &Path) -> String {
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gantry-test", "-f"])
        .arg(path));
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

#[test]
fn a_deploy_key_with_pinned_host_keys_clones_over_ssh() {
    let Some((g, _lock, tmp, full, work, sha)) = case("ssh", PASSES, false) else {
        return;
    };
    g.push(&work, &full, "main", &g.token);
    let key = tmp.path().join("deploy");
    g.add_deploy_key(&full, &key_pair(&key));
    let known = tmp.path().join("known_hosts");
    std::fs::write(&known, g.known_hosts() + "\n").unwrap();
    // The same repository with host keys that are not the server's.
    let other = tmp.path().join("other-host");
    let forged = key_pair(&other);
    let wrong_known = tmp.path().join("wrong_known_hosts");
    std::fs::write(&wrong_known, format!("[127.0.0.1]:{} {forged}", g.ssh_port)).unwrap();
    let url = g.ssh_url(&full);
    let repository = |name: &str, known: &Path| {
        format!(
            "[[repository]]\nname = \"{name}\"\nsource = \"{url}\"\nssh_key_file = \"{}\"\nknown_hosts_file = \"{}\"\n",
            key.display(),
            known.display()
        )
    };
    let text = repository(&full, &known) + &repository(&format!("{full}-forged"), &wrong_known);
    let file = write_config(tmp.path(), &text);
    let server = Server::start(
        &tmp.path().join("data"),
        &["--config", file.to_str().unwrap()],
    );
    let p = pushed(&server, &full, &sha);
    assert_eq!(p["status"], "success", "{p:#}\n{}", server.stderr());
    let p = pushed(&server, &format!("{full}-forged"), &sha);
    failed_naming(&p, &format!("{full}-forged"), "SSH deploy key");
    let private = std::fs::read_to_string(&key).unwrap();
    let secret_line = private.lines().nth(1).unwrap();
    token_kept(&server, secret_line);
}

#[test]
fn a_private_submodule_on_the_same_forge_is_fetched_with_the_clone_token() {
    let Some((g, _lock, tmp, full, work, _)) = case("super", PASSES, false) else {
        return;
    };
    // The submodule: another private repository of the same forge, next to the project.
    let lib = g.create_repo(&Gitea::unique("lib"), true);
    let lib_work = tmp.path().join("lib");
    repo(&lib_work, PASSES);
    std::fs::write(lib_work.join("README"), "from the private submodule\n").unwrap();
    let lib_sha = commit(&lib_work, PASSES, "readme");
    g.push(&lib_work, &lib, "main", &g.token);
    let lib_name = lib.rsplit('/').next().unwrap();
    std::fs::write(
        work.join(".gitmodules"),
        format!("[submodule \"lib\"]\n\tpath = lib\n\turl = ../{lib_name}.git\n"),
    )
    .unwrap();
    std::fs::create_dir_all(work.join("lib")).unwrap();
    let gitlink = format!("160000,{lib_sha},lib");
    git(&work, &["update-index", "--add", "--cacheinfo", &gitlink]);
    let sha = commit(&work, WITH_LIB, "with its library");
    g.push(&work, &full, "main", &g.token);
    let server = serve(tmp.path(), &g, &full);
    let p = pushed(&server, &full, &sha);
    assert_eq!(p["status"], "success", "{p:#}\n{}", server.stderr());
    let job = Server::job(&p, "show")["id"].as_i64().unwrap();
    assert!(
        server.log(job).contains("from the private submodule"),
        "{}",
        server.log(job)
    );
    token_kept(&server, &g.token);
}

#[test]
fn a_pull_request_runs_its_own_pipeline_with_its_own_status_line() {
    let Some(((g, _lock, _tmp, full, work, _), server)) = served("pr", PASSES, "") else {
        return;
    };
    hook(&g, &full, &server);
    git(&work, &["checkout", "-q", "-b", "topic"]);
    let sha = commit(&work, SAYS_SOURCE, "a topic");
    g.push(&work, &full, "topic", &g.token);
    let number = g.open_pull_request(&full, "topic", "main");

    // The branch's pipeline and the pull request's, each on its own line of the commit.
    let lines = ["gantry/pipeline", "gantry/merge-request"];
    let statuses = g.wait_statuses(&full, &sha, 120, |s| {
        lines.iter().all(|c| {
            s.iter()
                .any(|x| x["context"] == *c && state(x) == "success")
        })
    });
    let mr = find_pipeline(&server, &sha, Some("merge_request_event"))
        .expect("a merge request pipeline");
    let id = mr["id"].as_i64().unwrap();
    // Gitea's payload names the same repository on both sides: not a fork.
    assert_eq!(server.api(&format!("/pipelines/{id}"))["trusted"], true);
    let link = format!("http://{}/pipelines/{id}", server.addr);
    for s in statuses.iter().filter(|s| s["context"] == lines[1]) {
        assert_eq!(s["target_url"], link.as_str(), "{statuses:#?}");
    }
    let job = Server::job(&server.wait_done(id, 10), "ok")["id"]
        .as_i64()
        .unwrap();
    let log = server.log(job);
    assert!(
        log.contains(&format!("source merge_request_event iid {number}")),
        "{log}"
    );
}

/// The protected variable's value (not masked: only its absence keeps it out of a log).
const PROTECTED_VALUE: &str = "gitea-prot3cted-v4lue-9876";

/// A job printing the protected variable and keeping it in an artifact.
const PRINTS_SECRET: &str = "show:\n  rules:\n    - when: always\n  script:\n    - echo \"secret=[$DEPLOY_TOKEN] source=$CI_PIPELINE_SOURCE\"\n    - mkdir -p out && echo \"[$DEPLOY_TOKEN]\" > out/token.txt\n  artifacts:\n    paths: [out/]\n";

/// A job of scheduled pipelines only.
const NIGHTLY: &str = "nightly:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"schedule\"\n  script:\n    - echo \"scheduled source=$CI_PIPELINE_SOURCE nightly=$NIGHTLY\"\n";

/// The first of `statuses` on line `context` that `pick` takes.
fn status_on<'a>(
    statuses: &'a [Value],
    context: &str,
    pick: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    statuses.iter().find(|s| s["context"] == context && pick(s))
}

/// Serve's pipeline a Gitea status links to, checking that the link is serve's page of it.
fn linked_pipeline(server: &Server, status: &Value) -> Value {
    let link = status["target_url"].as_str().unwrap_or("");
    let id: i64 = link
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pipeline link: {status:#}"));
    assert_eq!(link, format!("http://{}/pipelines/{id}", server.addr));
    server.api(&format!("/pipelines/{id}"))
}

/// The output of job `name` of finished pipeline `id`, which must have succeeded; the job.
fn job_output(server: &Server, id: i64, name: &str) -> (Value, String) {
    let p = server.wait_done(id, 90);
    assert_eq!(p["status"], "success", "{p:#}\n{}", server.stderr());
    let job = Server::job(&p, name).clone();
    let log = server.log(job["id"].as_i64().unwrap());
    (job, log)
}

#[test]
fn a_pull_request_from_a_fork_waits_for_approval_and_runs_without_the_protected_variable() {
    // `main` starts without printing the variable: its push pipeline gets it but keeps it.
    let Some((g, _lock, tmp, full, work, first)) = case("forked", PASSES, false) else {
        return;
    };
    let vars = tmp.path().join("variables.yml");
    std::fs::write(
        &vars,
        format!("DEPLOY_TOKEN: {{value: \"{PROTECTED_VALUE}\", protected: true}}\n"),
    )
    .unwrap();
    let extra = format!(
        "variables_file = \"{}\"\nprotected = [\"main\"]\n",
        vars.display()
    );
    let server = serve_with(tmp.path(), &g, &full, &extra);
    hook_and_push(&g, &full, &server, &work);
    g.wait_statuses(&full, &first, 120, |s| {
        status_on(s, "gantry/pipeline", |x| state(x) == "success").is_some()
    });

    // A second user forks the private repository and asks to merge a commit printing it.
    let user = Gitea::unique("eve");
    let token = g.user_token(&user, &g.create_user(&user));
    g.add_reader(&full, &user);
    let fork = g.fork(&full, &token);
    // Its branch is named like the protected one: a fork's `main` is not the repository's.
    let sha = commit(&work, PRINTS_SECRET, "print it");
    g.push(&work, &fork, "main", &token);
    g.wait_branch(&token, &fork, "main", Some(&sha));
    g.open_pull_request_from(&token, &fork, &full, "main", "main");

    // Gitea's webhook makes a pipeline that waits, and the pull request shows it waiting.
    let line = "gantry/merge-request";
    let waits = |s: &Value| {
        s["description"]
            .as_str()
            .is_some_and(|d| d.contains("waits for approval"))
    };
    let statuses = g.wait_statuses(&full, &sha, 120, |s| status_on(s, line, waits).is_some());
    let waiting = status_on(&statuses, line, waits).unwrap();
    assert_eq!(state(waiting), "pending", "{statuses:#?}");
    let id = linked_pipeline(&server, waiting)["id"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let p = server.api(&format!("/pipelines/{id}"));
    assert_eq!(
        (&p["status"], &p["source"], &p["trusted"]),
        (
            &json!("manual"),
            &json!("merge_request_event"),
            &json!(false)
        ),
        "{p:#}"
    );
    assert!(
        p["untrusted_reason"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("fork {fork}"))),
        "{p:#}"
    );
    assert!(p["jobs"].as_array().unwrap().is_empty(), "{p:#}");

    // Approved with the API token, it runs without the protected variable.
    let r = server.api_post(&format!("/pipelines/{id}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let (job, log) = job_output(&server, id, "show");
    assert!(
        log.contains("secret=[] source=merge_request_event"),
        "{log}"
    );
    assert!(
        log.contains("withheld (an untrusted pipeline): DEPLOY_TOKEN"),
        "{log}"
    );
    let jid = job["id"].as_i64().unwrap();
    let artifact = server.get(
        &format!("/api/v1/jobs/{jid}/artifacts/out/token.txt"),
        Some(TOKEN),
    );
    assert_eq!(
        (artifact.status, artifact.text().trim()),
        (200, "[]"),
        "the artifact"
    );
    g.wait_statuses(&full, &sha, 60, |s| {
        status_on(s, line, |x| state(x) == "success").is_some()
    });
    let answers = [format!("/pipelines/{id}"), format!("/jobs/{jid}")];
    assert_eq!(held(&server, PROTECTED_VALUE, &answers), None);

    // The same commit pushed to the protected `main` of the repository itself gets it, and
    // the same search finds it then.
    g.push(&work, &full, "main", &g.token);
    let statuses = g.wait_statuses(&full, &sha, 120, |s| {
        status_on(s, "gantry/pipeline", |x| state(x) == "success").is_some()
    });
    let done = status_on(&statuses, "gantry/pipeline", |x| state(x) == "success").unwrap();
    let id = linked_pipeline(&server, done)["id"].as_i64().unwrap();
    let (_, log) = job_output(&server, id, "show");
    assert!(
        log.contains(&format!("secret=[{PROTECTED_VALUE}] source=push")),
        "{log}"
    );
    assert!(held(&server, PROTECTED_VALUE, &[]).is_some());
    token_kept(&server, &g.token);
}

#[test]
fn a_schedule_runs_a_pipeline_cloned_from_gitea_and_reports_its_status() {
    // Every third second (seconds first), without any webhook or push to serve.
    let extra = "[[repository.schedule]]\ncron = \"*/3 * * * * *\"\nref = \"main\"\nvariables = { NIGHTLY = \"from-gitea\" }\n";
    let Some(((g, _lock, _tmp, full, _, sha), server)) = served("nightly", NIGHTLY, extra) else {
        return;
    };
    let line = "gantry/schedule";
    let statuses = g.wait_statuses(&full, &sha, 120, |s| {
        status_on(s, line, |x| state(x) == "success").is_some()
    });
    let done = status_on(&statuses, line, |x| state(x) == "success").unwrap();
    let p = linked_pipeline(&server, done);
    assert_eq!(
        (&p["source"], &p["sha"], &p["ref"]),
        (&json!("schedule"), &json!(sha), &json!("main")),
        "{p:#}"
    );
    let (_, log) = job_output(&server, p["id"].as_i64().unwrap(), "nightly");
    assert!(
        log.contains("scheduled source=schedule nightly=from-gitea"),
        "{log}"
    );
    token_kept(&server, &g.token);
}
