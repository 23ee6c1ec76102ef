//! `gantry gc`: removes what crashed runs left behind — containers and networks labelled
//! `gantry.pipeline` whose creating process is gone, and job workspaces of runs whose owner
//! process is gone, the warm workspace slots no run holds, and (given a cluster) environment
//! namespaces whose pipeline process is gone or whose expiry passed. With `--all`, also those of
//! runs still going.

use super::usage_error;
use crate::cli::GcArgs;
use crate::executor::docker::{self, DockerExecutor};
use crate::run::layout::StateDir;
use std::path::Path;
use std::process::ExitCode;

/// Runs the sweep for the project holding `file` (its `.gantry/`) and the Docker engine.
pub fn gc(file: &Path, args: &GcArgs) -> ExitCode {
    let project = super::env::project_of(file);
    let (choice, settings) = match super::cluster_settings(&project, &args.cluster) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let state = StateDir::new(project.join(".gantry"));
    let mut removed = state.sweep_workspaces(args.all);
    // Warm workspace slots no run holds (runs keep them between pipelines, as runners do).
    removed.extend(crate::run::pool::sweep_slots(&state.workspaces()));
    // The reuse store: to its bound, least recently used first, and what dead runs half-wrote.
    match crate::project::config::ProjectConfig::load(&project) {
        Ok(c) => removed
            .extend(crate::reuse::store::Store::new(state.root()).prune(c.reuse.max_size, true)),
        Err(e) => return usage_error(e.to_string()),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    runtime.block_on(async {
        match docker::connect().await {
            Ok(d) => {
                if args.all {
                    removed.extend(DockerExecutor::sweep_all(&d).await);
                } else {
                    removed.extend(DockerExecutor::sweep(&d, None).await);
                }
            }
            Err(e) => println!("docker: skipped ({e})"),
        }
        // Namespaces only on a cluster the user named.
        if choice.is_set() {
            let swept = match crate::environment::cluster::connect(&choice).await {
                Ok(c) => {
                    // Job pods first (also in namespaces gantry did not make), then namespaces.
                    match crate::executor::kubernetes::gc::sweep(&c, args.all).await {
                        Ok(r) => removed.extend(r),
                        Err(e) => println!("kubernetes pods: skipped ({e})"),
                    }
                    crate::environment::gc::sweep(&c, args.all, settings.delete_timeout).await
                }
                Err(e) => Err(e),
            };
            match swept {
                Ok(r) => removed.extend(r),
                Err(e) => println!("kubernetes: skipped ({e})"),
            }
        }
    });
    if removed.is_empty() {
        println!("nothing to remove");
    }
    for r in &removed {
        println!("removed {r}");
    }
    ExitCode::SUCCESS
}
