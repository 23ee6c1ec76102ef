//! `gantry env list` and the cluster choice shared by `run`, `gc` and `env`: command line over
//! `.gantry/config.toml`, never the ambient kubeconfig.

use super::{CmdError, usage_error};
use crate::cli::{ClusterArgs, EnvArgs, EnvCommand};
use crate::environment::config::{ClusterChoice, Settings};
use crate::environment::{cluster, gc};
use crate::project::config::ProjectConfig;
use std::path::Path;
use std::process::ExitCode;

/// The cluster the user named (possibly none) and the environment settings of `project`.
pub fn cluster_settings(
    project: &Path,
    args: &ClusterArgs,
) -> Result<(ClusterChoice, Settings), CmdError> {
    let cli = ClusterChoice {
        kubeconfig: args.kubeconfig.clone(),
        context: args.kube_context.clone(),
    };
    let config = ProjectConfig::load(project)?;
    Ok((config.cluster.overridden_by(&cli), config.environments))
}

/// The project directory holding `file` (its git work tree, else its directory).
pub(super) fn project_of(file: &Path) -> std::path::PathBuf {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    git2::Repository::discover(dir)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.components().collect()))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// Runs `gantry env …`.
pub fn env(file: &Path, args: &EnvArgs) -> ExitCode {
    let EnvCommand::List(cluster_args) = &args.command;
    let (choice, _) = match cluster_settings(&project_of(file), cluster_args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if !choice.is_set() {
        return usage_error(
            "no cluster named: pass --kubeconfig and/or --kube-context, or set [kubernetes] in .gantry/config.toml",
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let listed = runtime.block_on(async {
        let c = cluster::connect(&choice).await?;
        gc::list(&c).await
    });
    let live = match listed {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    if live.is_empty() {
        println!("no environments");
        return ExitCode::SUCCESS;
    }
    let now = crate::environment::now();
    let rows: Vec<[String; 5]> = live
        .iter()
        .map(|l| {
            [
                if l.terminating {
                    format!("{} (terminating)", l.namespace)
                } else {
                    l.namespace.clone()
                },
                format!("{} (pid {} on {})", l.pipeline, l.pid.unwrap_or(0), l.host),
                gc::human(l.age),
                match l.expires_at {
                    Some(e) if e > now => format!("in {}", gc::human(e - now)),
                    Some(_) => "expired".into(),
                    None => "-".into(),
                },
                l.context.clone(),
            ]
        })
        .collect();
    let header = ["NAMESPACE", "PIPELINE", "AGE", "EXPIRES", "CONTEXT"].map(String::from);
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| crate::report::pad(cell, *w))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    ExitCode::SUCCESS
}
