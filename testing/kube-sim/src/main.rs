//! kube-sim: a Kubernetes-API-compatible test cluster whose pods run as Docker containers.
//! Test infrastructure only; never linked into `gantry`.
//!
//! `kube-sim --listen 127.0.0.1:0 --kubeconfig FILE [--state-dir DIR] [--no-runtime|--require-runtime]`
//! `kube-sim --cleanup`

use kube_sim::{Cluster, ClusterOptions, RuntimeMode};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: kube-sim --listen ADDR --kubeconfig FILE [--state-dir DIR] [--instance NAME] [--no-runtime | --require-runtime]\n       kube-sim --cleanup";

enum Command {
    Serve(ClusterOptions),
    Cleanup,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut opts = ClusterOptions::default();
    let mut kubeconfig = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--cleanup" => return Ok(Command::Cleanup),
            "--listen" => {
                let v = value("--listen")?;
                opts.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value("--kubeconfig")?)),
            "--state-dir" => opts.state_dir = Some(PathBuf::from(value("--state-dir")?)),
            "--instance" => opts.instance = Some(value("--instance")?),
            "--no-runtime" => opts.runtime = RuntimeMode::Disabled,
            "--require-runtime" => opts.runtime = RuntimeMode::Required,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    opts.kubeconfig = Some(kubeconfig.ok_or_else(|| format!("--kubeconfig is required\n{USAGE}"))?);
    Ok(Command::Serve(opts))
}

async fn serve(opts: ClusterOptions) -> ExitCode {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kube-sim: installing the SIGTERM handler: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cluster = match Cluster::start(opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kube-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "kube-sim: serving {} (instance {}, runtime {}), kubeconfig {}",
        cluster.url(),
        cluster.instance(),
        if cluster.has_runtime() {
            "docker"
        } else {
            "none"
        },
        cluster.kubeconfig_path().display()
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("kube-sim: stopping, removing containers and networks");
    cluster.stop().await;
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kube-sim: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve(opts) => rt.block_on(serve(opts)),
        Command::Cleanup => match rt.block_on(kube_sim::runtime::cleanup_all()) {
            Ok(n) => {
                eprintln!("kube-sim: removed {n} containers and networks");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kube-sim --cleanup: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
