//! Checks of `environment:` that need more than one job or Kubernetes' rules: `on_stop` names a
//! job that stops the same environment (`action: stop`), and a literal
//! `kubernetes:namespace` is a valid namespace name. (`action` values and `auto_stop_in`
//! durations are checked where they are decoded.)

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::model::{Job, Pipeline};

/// Runs the environment checks for every job.
pub fn check(p: &Pipeline, diags: &mut Diagnostics) {
    for job in p.jobs.values() {
        let start = diags.len();
        check_job(p, job, diags);
        diags.tag_job_since(start, &job.name);
    }
}

fn check_job(p: &Pipeline, job: &Job, diags: &mut Diagnostics) {
    let Some(env) = job.environment.as_deref() else {
        return;
    };
    if let Some(ns) = &env.kubernetes_namespace
        && !ns.value.contains('$')
        && let Err(why) = namespace_problem(&ns.value)
    {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                ns.span,
                format!("`kubernetes:namespace` `{}` is not a valid namespace name: {why}", ns.value),
            )
            .with_help("lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit"),
        );
    }
    // An unknown on_stop job is reported by the graph checks; here: what the target does.
    let Some(on_stop) = &env.on_stop else {
        return;
    };
    let Some(target) = p.jobs.get(&on_stop.value) else {
        return;
    };
    let stops = target
        .environment
        .as_deref()
        .and_then(|e| e.action.as_ref())
        .is_some_and(|a| a.value == "stop");
    if !stops {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                on_stop.span,
                format!(
                    "`on_stop` job `{}` does not stop an environment (it needs `environment:action: stop`)",
                    on_stop.value
                ),
            )
            .with_help(format!(
                "give `{}` `environment: {{name: {}, action: stop}}`",
                on_stop.value, env.name.value
            )),
        );
    } else if let Some(t) = target.environment.as_deref()
        && t.name.value != env.name.value
    {
        diags.push(Diagnostic::warning(
            Code::InvalidValue,
            t.name.span,
            format!(
                "`{}` stops environment `{}`, but `{}` names it as `on_stop` of `{}`",
                on_stop.value, t.name.value, job.name, env.name.value
            ),
        ));
    }
}

/// Why `name` is not a DNS-1123 label, if it is not.
fn namespace_problem(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("only lowercase letters, digits and `-` are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}
