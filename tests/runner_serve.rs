//! `gantry runner` pointed at a `gantry serve` (issue 29): how a team adds machines. Two real
//! runner processes (shell executor), one tagged `fast` and one taking untagged jobs, run a
//! served repository's pipeline: tags route jobs, artifacts travel between runners' jobs
//! through the server, exit codes and masking reach the server's logs, and a canceled pipeline
//! stops the job still running on a runner.

use crate::support::serve::*;
use crate::support::{gantry_command, runner_run, terminate};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Child;

/// A `gantry runner run` registered with `server` in `dir`, stopped with SIGTERM at the end.
struct Runner {
    child: Child,
    log: PathBuf,
}

impl Runner {
    /// Creates a runner on the server (API token), registers this machine with its token into
    /// `dir/runner.toml` and starts it.
    fn start(server: &Server, dir: &Path, tags: &[&str], untagged: bool) -> Runner {
        std::fs::create_dir_all(dir).unwrap();
        let body = json!({"description": dir.display().to_string(), "tags": tags, "run_untagged": untagged});
        let r = server.api_post("/runners", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        let token = r.json()["token"].as_str().expect("token").to_string();
        let file = dir.join("runner.toml");
        let url = format!("http://{}", server.addr);
        let out = gantry_command(dir)
            .args(["runner", "register", "--url", &url, "--executor", "shell"])
            .arg("--config")
            .arg(&file)
            .env("GANTRY_RUNNER_TOKEN", &token)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace("check_interval = 3.0", "check_interval = 0.2"),
        )
        .unwrap();
        let (child, log) = runner_run(dir, &file);
        Runner { child, log }
    }

    /// SIGTERM (a graceful stop); whether the runner exited within `secs`.
    fn stop(&mut self, secs: u64) -> bool {
        terminate(&mut self.child, secs)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !self.stop(10) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether a process runs `sleep ARG` (the job's command, found through `/proc`).
fn sleeping(arg: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    let wanted = format!("sleep\0{arg}\0");
    dir.flatten().any(|p| {
        std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c.ends_with(wanted.as_bytes()))
    })
}

const PIPELINE: &str = r#"
quick:
  tags: [fast]
  script: [echo "built in $CI_BUILDS_DIR"]
build:
  script:
    - mkdir -p out
    - echo "made by build" > out/made.txt
    - echo "built in $CI_BUILDS_DIR with $SECRET"
  artifacts:
    paths: [out/]
use:
  needs: [build]
  script: [cat out/made.txt]
broken:
  script: [echo breaking, exit 3]
"#;

/// Unlikely to be any other process's `sleep` argument.
const NAP: &str = "4173";

#[test]
fn runners_pointed_at_serve_run_its_pipelines_and_stop_canceled_jobs() {
    let (tmp, server, sha) = coordinator(PIPELINE, 600);
    let fast_dir = tmp.path().join("fast");
    let any_dir = tmp.path().join("any");
    let mut fast = Runner::start(&server, &fast_dir, &["fast"], false);
    let mut any = Runner::start(&server, &any_dir, &[], true);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 120);
    let logs = [fast.log.clone(), any.log.clone()];
    let runner_logs = || {
        let read = |f: &PathBuf| std::fs::read_to_string(f).unwrap_or_default();
        format!("fast:\n{}\nany:\n{}", read(&logs[0]), read(&logs[1]))
    };
    let log_of = |name: &str| server.log(Server::job(&p, name)["id"].as_i64().unwrap());

    // Tags route: `quick` ran in the tagged runner's builds directory, `build` in the other's.
    let quick = log_of("quick");
    let fast_builds = format!("built in {}", fast_dir.join("builds").display());
    assert!(quick.contains(&fast_builds), "{quick}\n{}", runner_logs());
    let build = log_of("build");
    let any_builds = format!("built in {}", any_dir.join("builds").display());
    assert!(build.contains(&any_builds), "{build}\n{}", runner_logs());
    // The masked variable reached the job and is masked in what the server keeps.
    assert!(
        build.contains("with [MASKED]") && !build.contains(MASKED),
        "{build}"
    );
    assert!(!server.stderr().contains(MASKED), "{}", server.stderr());
    // The artifact went up from one job and down into its dependent.
    let used = log_of("use");
    assert!(used.contains("made by build"), "{used}\n{}", runner_logs());
    for job in ["quick", "build", "use"] {
        assert_eq!(Server::job(&p, job)["status"], "success", "{p:#}");
    }
    let broken = Server::job(&p, "broken");
    assert_eq!(
        (&broken["status"], &broken["exit_code"]),
        (&json!("failed"), &json!(3)),
        "{p:#}"
    );
    assert!(log_of("broken").contains("breaking"));
    assert_eq!(p["status"], "failed", "{p:#}");

    // A canceled pipeline stops the job still running on its runner.
    let sleeper = format!("nap:\n  script: [echo napping, sleep {NAP}]\n");
    let next = commit(&tmp.path().join("app"), &sleeper, "sleep");
    let id = server.push_main(&sha, &next);
    server.wait_job_log(id, "nap", "napping");
    server.poll(30, || match sleeping(NAP) {
        true => Ok(()),
        false => Err(format!("no `sleep {NAP}` runs:\n{}", runner_logs())),
    });
    let r = server.api_post(&format!("/pipelines/{id}/cancel"), &json!({}));
    assert!(r.status < 300, "{}", r.text());
    server.poll(30, || match sleeping(NAP) {
        false => Ok(()),
        true => Err(format!("`sleep {NAP}` still runs:\n{}", runner_logs())),
    });
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "canceled", "{p:#}");

    let stopped = (fast.stop(30), any.stop(30));
    assert_eq!(stopped, (true, true), "{}", runner_logs());
    // The tagged runner's only job ended long ago: its stop waits for nothing.
    let fast_log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(
        fast_log.contains("runner stopped") && !fast_log.contains("waiting for running jobs"),
        "{fast_log}"
    );
}
