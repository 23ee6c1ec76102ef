//! `gantry serve` with the Docker executor: a server killed (SIGKILL) while a job runs in a
//! container; the restarted server marks the pipeline interrupted, keeps the earlier log and
//! leaves no container or network of the dead server behind. Without an engine this test
//! skips with a notice; with GANTRY_REQUIRE_DOCKER=1 (CI) a missing engine fails it.

use crate::support::images::BUSYBOX;
use crate::support::serve::*;
use crate::support::{docker, gate, images};
use std::time::Duration;

/// Containers and networks labelled as created by process `pid`.
fn owned_by(pid: u32) -> Vec<String> {
    let filter = format!("label=gantry.pid={pid}");
    let (_, c) = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    let (_, n) = docker(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ]);
    c.lines()
        .chain(n.lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn killed_mid_container_job_the_restart_reaps_its_containers_and_keeps_history() {
    if !gate::docker() {
        return;
    }
    // The killed server's containers are orphans until the restart reaps them: no test that
    // looks for orphans may run meanwhile.
    let _alone = gate::DOCKER.alone();
    images::busybox();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let yml = format!(
        "boxed:\n  image: {BUSYBOX}\n  script:\n    - echo in-container-before-kill\n    - sleep 120\n"
    );
    let sha = repo(&src, &yml);
    let data = tmp.path().join("data");
    let args = [
        "--repo".to_string(),
        format!("group/app={}", src.display()),
        "--executor".into(),
        "auto".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::start(&data, &args);
    let pid = server.child.id();
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_pipeline(id, 120, |p| {
        p["jobs"].as_array().is_some_and(|j| !j.is_empty())
    });
    let job = Server::job(&p, "boxed")["id"].as_i64().unwrap();
    server.poll(120, || {
        match server.log(job).contains("in-container-before-kill") {
            true => Ok(()),
            false => Err("the container job never started".to_string()),
        }
    });
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !owned_by(pid).is_empty(),
        "the job's container and network exist while it runs"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let restarted = Server::start(&data, &args);
    assert_eq!(
        owned_by(pid),
        Vec::<String>::new(),
        "containers/networks of the killed server were reaped"
    );
    let p = restarted.interrupted(id);
    assert_eq!(Server::job(&p, "boxed")["status"], "failed");
    assert!(restarted.log(job).contains("in-container-before-kill"));
}
