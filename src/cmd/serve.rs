//! `gantry serve`: reads the configuration (file, flags, environment), sets up structured logs
//! and runs the server until SIGTERM.

use super::usage_error;
use crate::cli::{ExecutorKind, ServeArgs};
use crate::serve::config::{Config, ExecutorChoice, Overrides};
use std::process::ExitCode;

/// Runs the server.
pub fn serve(args: &ServeArgs) -> ExitCode {
    let over = Overrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        repos: args.repos.clone(),
        webhook_secret: args.webhook_secret.clone(),
        api_token: args.api_token.clone(),
        concurrency: args.concurrency,
        repo_concurrency: args.repo_concurrency,
        executor: args.executor.map(|k| match k {
            ExecutorKind::Auto => ExecutorChoice::Auto,
            ExecutorKind::Shell => ExecutorChoice::Shell,
            ExecutorKind::Docker => ExecutorChoice::Docker,
            ExecutorKind::Kubernetes => ExecutorChoice::Kubernetes,
        }),
        kubeconfig: args.cluster.kubeconfig.clone(),
        kube_context: args.cluster.kube_context.clone(),
        watch: args.watch.clone(),
        log_limit: args.log_limit,
        max_body: args.max_body,
        queue_limit: args.queue_limit,
        shutdown_grace: args.shutdown_grace,
        watch_interval: args.watch_interval,
    };
    let config = match Config::load(args.config.as_deref(), over) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let runtime = match super::logged_runtime() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    match runtime.block_on(crate::serve::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(e),
    }
}
