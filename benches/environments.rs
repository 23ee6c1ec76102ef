//! `cargo bench --bench environments`: how long a pipeline waits for its environment — from
//! connecting to the cluster to a ready namespace with all its objects (ServiceAccount, Role,
//! RoleBinding, ResourceQuota, LimitRange, NetworkPolicy, token) — and how long teardown takes
//! (delete, then wait until the API no longer returns it). On the real cluster
//! GANTRY_TEST_KUBECONFIG names (the test cluster: `testing/cluster/up.sh DIR`), skipped with a
//! notice without one. `ROUNDS=N` changes the number of environments (default 30).

mod common;

use gantry::environment::config::{ClusterChoice, Settings};
use gantry::environment::{Environments, cluster};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[0]),
        ms(v[v.len() - 1])
    )
}

fn main() {
    let Some(kubeconfig) = common::cluster() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let choice = ClusterChoice {
        kubeconfig: Some(kubeconfig),
        context: None,
    };
    let (mut connect, mut ready, mut start_to_ready, mut teardown) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    rt.block_on(async {
        for round in 0..rounds {
            let t0 = Instant::now();
            let c = cluster::connect(&choice).await.expect("cluster");
            let t1 = Instant::now();
            let envs = Environments::new(
                c,
                Settings::default(),
                round as u64,
                &PathBuf::from("/bench"),
                false,
            );
            envs.access(
                &format!("bench-{}-{round}", std::process::id()),
                None,
                None,
                false,
            )
            .await
            .expect("environment");
            let t2 = Instant::now();
            let report = envs.teardown().await;
            let t3 = Instant::now();
            assert!(report.iter().all(|r| r.contains("deleted")), "{report:?}");
            connect.push(t1 - t0);
            ready.push(t2 - t1);
            start_to_ready.push(t2 - t0);
            teardown.push(t3 - t2);
        }
    });
    println!("{rounds} environments, sequentially:");
    println!("  connect + access check      {}", stats(connect));
    println!("  namespace + objects + token {}", stats(ready));
    println!("  pipeline start → ready      {}", stats(start_to_ready));
    println!("  teardown (deleted, gone)    {}", stats(teardown));
}
