//! Renders a [`Plan`]: aligned text (with `--explain` reasons), JSON, Mermaid, Graphviz DOT,
//! and `--show-script` (a job's environment and script as it would run, masked values hidden).

use crate::model::rules::AllowFailure;
use crate::plan::{Plan, PlannedJob};
use std::fmt::Write;

/// Human-readable plan.
pub fn text(plan: &Plan, explain: bool) -> String {
    let mut out = String::new();
    let p = &plan.pipeline;
    let _ = writeln!(
        out,
        "Pipeline for {} `{}` ({}) at {} · IID {}{}",
        p.kind.replace('_', " "),
        p.r#ref,
        p.source,
        &p.sha[..8.min(p.sha.len())],
        p.iid,
        p.name
            .as_ref()
            .map(|n| format!(" · {n}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "Workflow: {}", plan.workflow.reason);
    if !plan.workflow.runs {
        return out;
    }
    let width = plan
        .jobs
        .iter()
        .map(|j| j.name.chars().count())
        .max()
        .unwrap_or(0);
    for stage in &plan.stages {
        let _ = writeln!(out, "\n{stage}");
        for job in plan
            .jobs
            .iter()
            .filter(|j| j.level.is_none() && j.stage == *stage)
        {
            job_text(&mut out, plan, job, width, explain, 1);
        }
    }
    let _ = write!(
        out,
        "\n{} job{} in {} stage{}",
        plan.jobs.len(),
        s(plan.jobs.len()),
        plan.stages.len(),
        s(plan.stages.len())
    );
    if plan.excluded.is_empty() {
        out.push('\n');
    } else if explain {
        let _ = writeln!(out, "; not added:");
        for e in &plan.excluded {
            let _ = writeln!(out, "  {} ({}): {}", e.name, e.stage, e.reason);
        }
    } else {
        let _ = writeln!(out, "; {} not added (see --explain)", plan.excluded.len());
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for e in &plan.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// One job's lines at `depth` (1 for this pipeline's jobs), and a trigger job's downstream
/// pipeline nested under it, stage by stage.
fn job_text(
    out: &mut String,
    plan: &Plan,
    job: &PlannedJob,
    width: usize,
    explain: bool,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let runner = match (&job.trigger, &job.image) {
        (Some(_), _) => "trigger".to_string(),
        (None, Some(image)) if job.executor != "shell" => format!("{} {image}", job.executor),
        _ => job.executor.to_string(),
    };
    let _ = writeln!(
        out,
        "{indent}{}  {:<10}  {}",
        super::pad(&job.name, width),
        job.when,
        runner
    );
    let mut details = Vec::new();
    if let Some(needs) = &job.needs {
        let names: Vec<&str> = needs.iter().map(|n| n.job.as_str()).collect();
        details.push(format!("needs: [{}]", names.join(", ")));
    }
    match &job.allow_failure {
        AllowFailure::Bool(true) => details.push("allow_failure".into()),
        AllowFailure::ExitCodes(c) => details.push(format!("allow_failure on exit {c:?}")),
        AllowFailure::Bool(false) => {}
    }
    if let Some(s) = job.start_in {
        details.push(format!("start_in: {s}s"));
    }
    if !job.services.is_empty() {
        let names: Vec<&str> = job.services.iter().map(|s| s.image.as_str()).collect();
        details.push(format!("services: {}", names.join(", ")));
    }
    if let Some(env) = &job.environment {
        // The namespace it gets when run with a cluster (`--kubeconfig`/`--kube-context`).
        let ns = crate::environment::name::namespace_of(plan, job)
            .map(|n| format!(", namespace {n}"))
            .unwrap_or_default();
        details.push(format!("environment: {} ({}{ns})", env.name, env.action));
    }
    if let Some(t) = &job.trigger {
        details.push(downstream_line(t));
    }
    let pad = super::pad("", width);
    if !details.is_empty() {
        let _ = writeln!(out, "{indent}{pad}  {}", details.join(" · "));
    }
    if explain {
        let _ = writeln!(out, "{indent}{pad}  why: {}", job.reason);
    }
    let Some(t) = &job.trigger else {
        return;
    };
    for stage in &t.downstream.stages {
        let _ = writeln!(out, "{indent}  {stage}");
        for child in
            crate::plan::downstream::children(plan, &job.name).filter(|c| c.stage == *stage)
        {
            job_text(out, plan, child, width, explain, depth + 2);
        }
    }
    if explain {
        for e in &t.downstream.excluded {
            let _ = writeln!(
                out,
                "{indent}  not added: {} ({}): {}",
                e.name, e.stage, e.reason
            );
        }
    }
}

/// What a trigger job starts, in one line.
fn downstream_line(t: &crate::plan::downstream::PlannedTrigger) -> String {
    let d = &t.downstream;
    let what = match &t.project {
        Some(p) => format!("downstream: project {p}"),
        None => "downstream: child pipeline".to_string(),
    };
    let how = if t.depend { ", strategy: depend" } else { "" };
    let state = if let Some(why) = &d.unavailable {
        format!(" — not run here: {why}")
    } else if let Some(why) = &d.not_created {
        format!(" — not created: {why}")
    } else if let Some((job, artifact)) = &d.generated {
        format!(" — generated by `{job}` as {artifact}")
    } else {
        format!(
            " ({} job{}, source {})",
            d.jobs.len(),
            s(d.jobs.len()),
            d.source
        )
    };
    format!("{what}{how}{state}")
}

fn s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The plan as JSON.
pub fn json(plan: &Plan) -> String {
    let Ok(mut value) = serde_json::to_value(plan) else {
        return String::new();
    };
    // Each environment job's namespace when run with a cluster, as `environment.kube_namespace`.
    if let Some(jobs) = value.get_mut("jobs").and_then(|j| j.as_array_mut()) {
        for (row, job) in jobs.iter_mut().zip(&plan.jobs) {
            if let (Some(env), Some(ns)) = (
                row.get_mut("environment").and_then(|e| e.as_object_mut()),
                crate::environment::name::namespace_of(plan, job),
            ) {
                env.insert("kube_namespace".into(), ns.into());
            }
        }
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// Edges to draw: needs as written, stage order as "after every job of the previous stage".
fn edges<'a>(plan: &'a Plan) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for job in &plan.jobs {
        let preds: Vec<&str> = match &job.needs {
            Some(n) => n.iter().map(|n| n.job.as_str()).collect(),
            None => {
                // Stages order the jobs of one pipeline; a downstream pipeline's first
                // stage follows its trigger job.
                let level = |o: &'a PlannedJob| o.level.as_ref().map(|l| l.trigger.as_str());
                let previous = plan
                    .jobs
                    .iter()
                    .filter(|o| level(o) == level(job) && o.stage_index < job.stage_index)
                    .map(|o| o.stage_index)
                    .max();
                match (previous, level(job)) {
                    (None, Some(trigger)) => vec![trigger],
                    _ => plan
                        .jobs
                        .iter()
                        .filter(|o| level(o) == level(job) && Some(o.stage_index) == previous)
                        .map(|o| o.name.as_str())
                        .collect(),
                }
            }
        };
        out.extend(preds.into_iter().map(|p| (p, job.name.as_str())));
    }
    out
}

/// A Mermaid flowchart, one subgraph per stage.
pub fn mermaid(plan: &Plan) -> String {
    let index: std::collections::HashMap<&str, usize> = plan
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let id = |name: &str| index.get(name).map_or("x".into(), |i| format!("j{i}"));
    let mut out = String::from("flowchart LR\n");
    let node = |out: &mut String, job: &PlannedJob, indent: &str| {
        let _ = writeln!(
            out,
            "{indent}{}[\"{}<br/><small>{}</small>\"]",
            id(&job.name),
            escape(&job.name),
            job.when
        );
    };
    for (key, label, jobs) in groups(plan) {
        let _ = writeln!(out, "  subgraph {key}[\"{}\"]", escape(&label));
        for job in jobs {
            node(&mut out, job, "    ");
        }
        out.push_str("  end\n");
    }
    for (from, to) in edges(plan) {
        let _ = writeln!(out, "  {} --> {}", id(from), id(to));
    }
    out
}

/// A Graphviz digraph, one cluster per stage.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n");
    let node = |out: &mut String, job: &PlannedJob| {
        let style = if job.when == "on_success" {
            ""
        } else {
            ", style=dashed"
        };
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{}\\n{}\"{style}];",
            escape(&job.name),
            escape(&job.name),
            job.when
        );
    };
    for (key, label, jobs) in groups(plan) {
        let _ = writeln!(
            out,
            "  subgraph cluster_{key} {{\n    label=\"{}\";",
            escape(&label)
        );
        for job in jobs {
            node(&mut out, job);
        }
        out.push_str("  }\n");
    }
    for (from, to) in edges(plan) {
        let _ = writeln!(out, "  \"{}\" -> \"{}\";", escape(from), escape(to));
    }
    out.push_str("}\n");
    out
}

/// The boxes a drawing groups jobs in: (key, label, jobs) for each stage of this pipeline,
/// then each downstream pipeline (its direct jobs; a child's children get their own box).
fn groups(plan: &Plan) -> Vec<(String, String, Vec<&PlannedJob>)> {
    let mut out: Vec<(String, String, Vec<&PlannedJob>)> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(si, stage)| {
            let jobs = plan
                .jobs
                .iter()
                .filter(|j| j.level.is_none() && j.stage == *stage)
                .collect();
            (format!("s{si}"), stage.clone(), jobs)
        })
        .collect();
    for (ti, trigger) in plan.jobs.iter().enumerate() {
        if trigger.trigger.is_some() {
            let jobs = crate::plan::downstream::children(plan, &trigger.name).collect();
            out.push((
                format!("d{ti}"),
                format!("downstream of {}", trigger.name),
                jobs,
            ));
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A job's environment (masked values hidden) and its script, as it would run.
pub fn show_script(plan: &Plan, job: &PlannedJob) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} (stage {}, {}{})",
        job.name,
        job.stage,
        job.executor,
        job.image
            .as_ref()
            .map(|i| format!(" {i}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "# environment");
    for v in plan.variables(job).scope().resolved() {
        let value = if v.masked {
            "[MASKED]".to_string()
        } else {
            v.value.clone()
        };
        let kind = if v.file { " (file)" } else { "" };
        let _ = writeln!(out, "{}={}{kind}", v.name, shell_quote(&value));
    }
    let sections = [
        ("before_script", &job.before_script),
        ("script", &job.script),
        ("after_script", &job.after_script),
    ];
    for (name, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# {name}");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@,+=".contains(&b))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}
