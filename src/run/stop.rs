//! The run's hook into `environment` after the pipeline: the environments' `on_stop` jobs that
//! have not run are run (once), then the namespaces go. Apart from `environments.rs` because it
//! runs jobs (`job.rs`), which themselves call into `environments.rs`.

use super::RunCtx;
use super::scheduler::Start;
use crate::environment::name;
use crate::executor::Executor;
use crate::report::run::JobResult;
use std::sync::Arc;
use tokio::sync::watch;

/// After the pipeline: runs each `on_stop` job of an environment that was used and whose stop
/// job has not run, then tears the namespaces down (kept ones: only marks them). Returns what teardown did.
pub(super) async fn finish<E: Executor>(
    ctx: &Arc<RunCtx<E>>,
    results: &mut [Option<JobResult>],
    abort: watch::Receiver<bool>,
) -> Vec<String> {
    let Some(envs) = ctx.options.environments.clone() else {
        return Vec::new();
    };
    // Kept environments stay alive: their `on_stop` jobs run when they are stopped.
    if envs.keeps() {
        return envs.teardown().await;
    }
    let plan = &ctx.plan;
    let ran = |r: &Option<JobResult>| r.as_ref().is_some_and(|r| r.attempts > 0);
    let mut stops: Vec<usize> = Vec::new();
    for (i, job) in plan.jobs.iter().enumerate() {
        if !ran(&results[i]) || name::namespace_of(plan, job).is_none() {
            continue;
        }
        let Some(stop) = &ctx.files[i].env.on_stop else {
            continue;
        };
        if let Some(s) = plan
            .jobs
            .iter()
            .position(|j| j.name == *stop || j.job == *stop)
            && !ran(&results[s])
            && !stops.contains(&s)
        {
            stops.push(s);
        }
    }
    for s in stops {
        ctx.reporter.note(&format!(
            "running `{}` to stop its environment",
            plan.jobs[s].name
        ));
        let (_, result) = super::job::execute(ctx.clone(), s, Start::Now, abort.clone()).await;
        ctx.reporter.job_finished(&result);
        results[s] = Some(result);
    }
    envs.teardown().await
}
