//! The run's hook into `environment` before a job: when a job with `environment:` starts, its
//! namespace is prepared and its credentials become variables and files (`stop.rs` does the
//! other end). Without a cluster (`RunOptions::environments` is `None`) none of this does
//! anything.

use super::RunCtx;
use crate::environment::{Access, name};
use crate::plan::variables::Origin;
use std::path::Path;

/// What the model says about a job's environment that the plan does not keep.
#[derive(Clone, Debug, Default)]
pub(super) struct EnvFacts {
    /// `environment:auto_stop_in`, seconds (`u64::MAX` for `never`).
    pub auto_stop_in: Option<u64>,
    /// `environment:on_stop`: the job that stops it.
    pub on_stop: Option<String>,
}

/// Adds job `i`'s environment credentials to `env` (files under `scratch/kube/`, which every
/// executor mounts) and its token to `secrets`. Nothing when the job has no environment or no
/// cluster is configured.
pub(super) async fn add_job_env<E>(
    ctx: &RunCtx<E>,
    i: usize,
    env: &mut Vec<(String, String)>,
    secrets: &mut Vec<String>,
    scratch: &Path,
) -> Result<(), super::job::JobError> {
    let Some(envs) = &ctx.options.environments else {
        return Ok(());
    };
    let job = &ctx.plan.jobs[i];
    let Some(ns) = name::namespace_of(&ctx.plan, job) else {
        return Ok(());
    };
    let registry = registry(ctx, i);
    let access = envs
        .access(
            &ns,
            ctx.files[i].env.auto_stop_in,
            registry,
            job.image.is_some(),
        )
        .await;
    for line in envs.take_notes() {
        ctx.reporter.note(&format!("{}: {line}", job.name));
    }
    let access = access.map_err(super::job::JobError::Environment)?;
    ctx.reporter
        .note(&format!("{}: environment namespace {ns} ready", job.name));
    let vars = write_files(&access, scratch).map_err(super::job::JobError::Kubeconfig)?;
    env.retain(|(k, _)| !vars.iter().any(|(v, _)| v == k));
    reexpand(ctx, i, env, &vars);
    env.extend(vars);
    if job.environment.as_ref().is_some_and(|e| e.tier.is_none())
        && let Some(e) = &job.environment
    {
        env.push(("CI_ENVIRONMENT_TIER".into(), tier_of(&e.name).into()));
    }
    secrets.push(access.token);
    Ok(())
}

/// Variables that refer to the injected ones (`NAMESPACE: $KUBE_NAMESPACE`) see their values,
/// as the runner's late expansion does in GitLab.
fn reexpand<E>(
    ctx: &RunCtx<E>,
    i: usize,
    env: &mut [(String, String)],
    injected: &[(String, String)],
) {
    let job = &ctx.plan.jobs[i];
    let mut vars = ctx.plan.variables(job);
    for (k, v) in env.iter().chain(injected) {
        if k.starts_with("CI_") || k.starts_with("KUBE") {
            vars = vars.with(k, v);
        }
    }
    let scope = vars.scope();
    let refers = |text: &str| {
        injected
            .iter()
            .any(|(k, _)| text.contains(&format!("${k}")) || text.contains(&format!("${{{k}}}")))
    };
    for (k, v) in env.iter_mut() {
        if let Some(raw) = scope.raw(k)
            && raw.expand
            && !raw.file
            && refers(&raw.value)
            && let Some(value) = scope.value(k)
        {
            *v = value.into_owned();
        }
    }
}

fn write_files(a: &Access, scratch: &Path) -> std::io::Result<Vec<(String, String)>> {
    let dir = scratch.join("kube");
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config");
    std::fs::write(&config, &a.kubeconfig)?;
    let mut vars = vec![
        ("KUBECONFIG".to_string(), config.display().to_string()),
        ("KUBE_URL".into(), a.server.clone()),
        ("KUBE_TOKEN".into(), a.token.clone()),
        ("KUBE_NAMESPACE".into(), a.namespace.clone()),
    ];
    if let Some(pem) = &a.ca_pem {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pem)?;
        vars.push(("KUBE_CA_PEM_FILE".into(), ca.display().to_string()));
        vars.push(("KUBE_CA_PEM".into(), pem.clone()));
    }
    Ok(vars)
}

/// GitLab's guess of a tier from the environment's name.
fn tier_of(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if has(&["prod", "live"]) {
        "production"
    } else if has(&["stag", "model", "demo"]) {
        "staging"
    } else if has(&[
        "test", "tst", "int", "acpt", "accept", "qa", "qc", "control", "quality",
    ]) {
        "testing"
    } else if has(&["dev", "review", "trunk"]) {
        "development"
    } else {
        "other"
    }
}

/// Registry credentials the user set (not gantry's placeholders): (server, user, password).
fn registry<E>(ctx: &RunCtx<E>, i: usize) -> Option<(String, String, String)> {
    let vars = ctx.plan.variables(&ctx.plan.jobs[i]);
    let scope = vars.scope();
    let user_set = |k: &str| scope.raw(k).filter(|v| v.origin != Origin::Predefined);
    let password = user_set("CI_REGISTRY_PASSWORD")?;
    let get = |k: &str| scope.value(k).map(|v| v.into_owned());
    Some((
        get("CI_REGISTRY")?,
        get("CI_REGISTRY_USER")?,
        scope.expand(&password.value),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiers_follow_gitlabs_guess() {
        assert_eq!(super::tier_of("production"), "production");
        assert_eq!(super::tier_of("staging"), "staging");
        assert_eq!(super::tier_of("test-for-ci"), "testing");
        assert_eq!(super::tier_of("review/feature"), "development");
        assert_eq!(super::tier_of("somewhere"), "other");
    }
}
