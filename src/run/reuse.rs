//! The runner's hook into [`crate::reuse`]: before a job, gather its inputs and, when an earlier
//! successful run had the same key, restore that run's artifacts and reports and replay its log
//! instead of running it; after a job, hand its key and outputs to the jobs after it and store
//! a success.

use super::RunCtx;
use super::scheduler::Status;
use crate::executor::{Executor, Interactive};
use crate::plan::slug::slug;
use crate::report::run::{JobResult, ReusedFrom};
use crate::reuse::store::{Entry, NewEntry};
use crate::reuse::{Facts, Inputs};
use std::time::{Duration, Instant};

/// A job to run whose success is to be stored under `key`.
pub(super) struct Pending {
    key: String,
    inputs: Inputs,
    tree: String,
}

/// What the store says about a job.
pub(super) enum Lookup {
    /// Replayed: its result.
    Reused(Box<JobResult>),
    /// To run; stored afterwards if it has a key.
    Run(Option<Pending>),
}

/// Decides whether job `i` runs; replays it when it need not.
pub(super) async fn lookup<E: Executor>(
    ctx: &RunCtx<E>,
    i: usize,
    interactive: Interactive,
) -> Lookup {
    let Some(session) = ctx
        .options
        .reuse
        .as_ref()
        .filter(|_| interactive != Interactive::Instead)
    else {
        return Lookup::Run(None);
    };
    let job = &ctx.plan.jobs[i];
    if session.never(job).is_some() {
        return Lookup::Run(None);
    }
    let began = Instant::now();
    let listing = session.listing(ctx.checkouts.snapshot());
    let planned = super::job::with_dotenv(ctx, i);
    let mut images = Vec::new();
    if let Some(image) = &job.image {
        let d = ctx.executor.image_digest(job.executor, image).await;
        images.push(("image".to_string(), image.clone(), d));
    }
    for (n, s) in job.services.iter().enumerate() {
        let d = ctx.executor.image_digest(job.executor, &s.image).await;
        images.push((format!("service {n}"), s.image.clone(), d));
    }
    let mut deps = Vec::new();
    for dep in job.waits_for.iter().chain(&job.dependencies) {
        if deps.iter().any(|(d, _)| d == dep) {
            continue;
        }
        let state = session.handed_on(dep).unwrap_or_else(|| {
            let dir = ctx.run_dir.artifacts().join(slug(dep));
            format!("-:{}", session.outputs_of(&dir))
        });
        deps.push((dep.clone(), Ok(state)));
    }
    let inputs = session.inputs(
        &listing,
        Facts {
            plan: &ctx.plan,
            job: &planned,
            artifacts: ctx.files[i].artifacts.as_ref(),
            caches: &ctx.files[i].caches,
            cache_root: &ctx.cache_root,
            images,
            executor: ctx.executor.fingerprint(job.executor),
            deps,
        },
    );
    let inputs = match inputs {
        Ok(i) => i,
        Err(why) => {
            ctx.reporter
                .note(&format!("{}: not reusable: {why}", job.name));
            return Lookup::Run(None);
        }
    };
    let key = inputs.key();
    let pending = Pending {
        key: key.clone(),
        inputs,
        tree: listing.digest.clone(),
    };
    let dest = ctx.run_dir.artifacts().join(slug(&job.name));
    let restored = match session.store.restore(&key, &dest) {
        Ok(Some(r)) => r,
        Ok(None) => return Lookup::Run(Some(pending)),
        Err(e) => {
            ctx.reporter
                .note(&format!("{}: not reused: {e}; running it", job.name));
            return Lookup::Run(Some(pending));
        }
    };
    let entry = &restored.entry;
    if ctx.files[i].artifacts.is_some() {
        let paths = |l: &[String]| l.iter().map(|p| dest.join(p)).collect::<Vec<_>>();
        if let Err(e) =
            super::job::take_reports(ctx, i, &paths(&entry.dotenv), &paths(&entry.junit))
        {
            ctx.reporter
                .note(&format!("{}: not reused: {e}; running it", job.name));
            return Lookup::Run(Some(pending));
        }
        super::job::record_expiry(&dest, None, entry.files.len());
        if let Some(dir) = &ctx.options.artifacts_dir
            && let Err(e) = super::artifacts::restore(&dest, &dir.join(slug(&job.name)))
        {
            ctx.reporter.note(&format!("{}: {e}", job.name));
        }
    }
    session.finished(&job.name, Some(key), session.outputs_of(&dest));
    let from = ReusedFrom {
        date: crate::plan::iso8601(entry.created_at as i64, 0),
        duration: Duration::from_millis(entry.duration_ms),
    };
    ctx.reporter.replay(&job.name, &restored.log, &from);
    Lookup::Reused(Box::new(JobResult {
        name: job.name.clone(),
        stage: job.stage.clone(),
        status: "reused".into(),
        detail: None,
        duration: Some(began.elapsed()),
        exit_code: Some(0),
        attempts: 0,
        reused: Some(from),
    }))
}

/// After job `i` ran: tells later jobs what it hands on, and stores it when it succeeded.
pub(super) fn record<E>(
    ctx: &RunCtx<E>,
    i: usize,
    pending: Option<Pending>,
    status: &Status,
    duration: Option<Duration>,
) {
    let Some(session) = &ctx.options.reuse else {
        return;
    };
    let job = &ctx.plan.jobs[i];
    let dest = ctx.run_dir.artifacts().join(slug(&job.name));
    let outputs = session.outputs_of(&dest);
    let Some(p) = pending.filter(|_| *status == Status::Success) else {
        session.finished(&job.name, None, outputs);
        return;
    };
    let log = ctx
        .reporter
        .log_path(&job.name)
        .and_then(|l| std::fs::read(l).ok())
        .unwrap_or_default();
    let reports = |kind: &str| -> Vec<String> {
        ctx.files[i]
            .artifacts
            .as_ref()
            .and_then(|a| a.reports.get(kind))
            .map(|ps| ps.iter().map(|p| p.value.clone()).collect())
            .unwrap_or_default()
    };
    crate::reuse::trees::record(
        &session.store,
        &p.tree,
        &session.listing(ctx.checkouts.snapshot()).files,
    );
    let entry = Entry {
        format: crate::reuse::store::FORMAT,
        key: p.key.clone(),
        job: job.name.clone(),
        created_at: crate::reuse::store::now(),
        duration_ms: duration.map_or(0, |d| d.as_millis() as u64),
        pipeline: ctx.plan.pipeline.iid,
        inputs: p.inputs.0,
        tree: Some(p.tree),
        files: Vec::new(),
        outputs: String::new(),
        log_sha256: String::new(),
        dotenv: reports("dotenv"),
        junit: reports("junit"),
    };
    let stored = session.store.put(NewEntry {
        entry,
        artifacts: Some(&dest),
        log: &log,
    });
    match stored {
        Ok(_) => session.finished(&job.name, Some(p.key), outputs),
        Err(e) => {
            ctx.reporter
                .note(&format!("{}: could not store it for reuse: {e}", job.name));
            session.finished(&job.name, None, outputs);
        }
    }
}
