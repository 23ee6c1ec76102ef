//! Checks across jobs: stages exist, `needs` and `dependencies` point at real, earlier jobs,
//! and `needs` contain no cycle.

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::suggest;
use crate::model::Pipeline;
use crate::model::rules::Need;

/// GitLab's default for the per-instance plan limit `ci_needs_size_limit` (needs per job).
const DEFAULT_NEEDS_LIMIT: usize = 50;

/// Runs every cross-job check.
pub fn check(p: &Pipeline, diags: &mut Diagnostics) {
    for job in p.jobs.values() {
        let start = diags.len();
        check_stage(p, job, diags);
        if let Some(needs) = &job.needs {
            check_needs(p, job, needs, diags);
        }
        check_dependencies(p, job, diags);
        check_on_stop(p, job, diags);
        diags.tag_job_since(start, &job.name);
    }
    check_cycles(p, diags);
}

fn check_stage(p: &Pipeline, job: &crate::model::Job, diags: &mut Diagnostics) {
    if p.stage_index(&job.stage.value).is_some() {
        return;
    }
    let names: Vec<&str> = p.stages.iter().map(|s| s.value.as_str()).collect();
    let mut d = Diagnostic::error(
        Code::UnknownStage,
        job.stage.span,
        format!(
            "stage `{}` of job `{}` is not in `stages`",
            job.stage.value, job.name
        ),
    );
    d = match suggest(&job.stage.value, names.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!("declared stages: {}", names.join(", "))),
    };
    diags.push(d);
}

fn check_needs(p: &Pipeline, job: &crate::model::Job, needs: &[Need], diags: &mut Diagnostics) {
    // Not a YAML rule: GitLab checks it when it creates the pipeline, against the instance's
    // plan limit `ci_needs_size_limit` (50 unless an administrator changed it), so a pipeline
    // of a self-managed instance may well have more. A warning, never a refusal.
    if needs.len() > DEFAULT_NEEDS_LIMIT {
        diags.push(
            Diagnostic::warning(
                Code::NeedsLimit,
                needs[DEFAULT_NEEDS_LIMIT].job.span,
                format!(
                    "job `{}` has {} needs; a GitLab instance allows {DEFAULT_NEEDS_LIMIT} unless its administrator raised the limit",
                    job.name,
                    needs.len()
                ),
            )
            .with_help(
                "the limit is the instance's plan limit `ci_needs_size_limit` (default 50, GitLab.com too), checked when a pipeline creates this job",
            ),
        );
    }
    let own_stage = p.stage_index(&job.stage.value);
    for need in needs.iter().filter(|n| !n.external) {
        let name = &need.job.value;
        if *name == job.name {
            diags.error(
                Code::SelfNeed,
                need.job.span,
                format!("job `{name}` needs itself"),
            );
            continue;
        }
        let Some(target) = p.job_or_instance(name) else {
            if p.hidden.contains_key(name) {
                diags.push(
                    Diagnostic::error(
                        Code::HiddenJobReference,
                        need.job.span,
                        format!("`{name}` is a hidden job (it starts with `.`) and never runs, so it cannot be needed"),
                    )
                    .with_help(format!("to reuse its configuration write `extends: {name}`")),
                );
            } else if !need.optional {
                unknown_job(p, need.job.span, name, "needs", Code::UnknownNeed, diags);
            }
            continue;
        };
        if let (Some(own), Some(theirs)) = (own_stage, p.stage_index(&target.stage.value))
            && theirs > own
        {
            diags.push(
                Diagnostic::error(
                    Code::NeedsLaterStage,
                    need.job.span,
                    format!(
                        "job `{}` (stage `{}`) needs `{name}`, which runs in the later stage `{}`",
                        job.name, job.stage.value, target.stage.value
                    ),
                )
                .with_help("a job can only need jobs of its own or earlier stages"),
            );
        }
        if !need.optional
            && can_be_left_out(target)
            && rule_signature(job) != rule_signature(target)
        {
            diags.push(
                Diagnostic::warning(
                    Code::NeedMayBeMissing,
                    need.job.span,
                    format!(
                        "`{}` needs `{name}`, whose `rules` can leave it out of the pipeline; then the pipeline cannot be created",
                        job.name
                    ),
                )
                .with_help(format!(
                    "give both jobs the same `rules`, or write `needs: [{{job: {name}, optional: true}}]`"
                )),
            );
        }
    }
}

/// Whether `job`'s `rules` can exclude it: no rule without conditions adds it before a
/// conditional `when: never` or the end of the list.
fn can_be_left_out(job: &crate::model::Job) -> bool {
    use crate::model::rules::When;
    let Some(rules) = &job.rules else {
        return false;
    };
    for rule in rules {
        let never = rule.when.as_ref().is_some_and(|w| w.value == When::Never);
        if rule.condition.is_none() && rule.changes.is_none() && rule.exists.is_none() {
            return never;
        }
        if never {
            return true;
        }
    }
    true
}

type Signature<'a> = Vec<(Option<&'a str>, Option<String>, Vec<&'a str>, Vec<&'a str>)>;

/// What decides whether `job` is added: its rules' conditions, `changes`, `exists` and `when`s.
fn rule_signature(job: &crate::model::Job) -> Option<Signature<'_>> {
    let rules = job.rules.as_ref()?;
    Some(
        rules
            .iter()
            .map(|r| {
                (
                    r.condition.as_ref().map(|c| c.text.value.as_str()),
                    r.when.as_ref().map(|w| format!("{:?}", w.value)),
                    r.changes
                        .iter()
                        .flat_map(|c| c.paths.iter().map(|p| p.value.as_str()))
                        .collect(),
                    r.exists
                        .iter()
                        .flatten()
                        .map(|e| e.value.as_str())
                        .collect(),
                )
            })
            .collect(),
    )
}

fn unknown_job(
    p: &Pipeline,
    span: crate::source::Span,
    name: &str,
    key: &str,
    code: Code,
    diags: &mut Diagnostics,
) {
    let mut d = Diagnostic::error(
        code,
        span,
        format!("`{key}` names `{name}`, but there is no such job"),
    );
    if let Some(s) = suggest(name, p.jobs.keys().map(String::as_str)) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    diags.push(d);
}

fn check_dependencies(p: &Pipeline, job: &crate::model::Job, diags: &mut Diagnostics) {
    let Some(deps) = &job.dependencies else {
        return;
    };
    let own_stage = p.stage_index(&job.stage.value);
    for dep in deps {
        let name = &dep.value;
        let Some(target) = p.job_or_instance(name) else {
            if p.hidden.contains_key(name) {
                diags.error(
                    Code::HiddenJobReference,
                    dep.span,
                    format!("`{name}` is a hidden job and has no artifacts to depend on"),
                );
            } else {
                unknown_job(
                    p,
                    dep.span,
                    name,
                    "dependencies",
                    Code::InvalidDependency,
                    diags,
                );
            }
            continue;
        };
        if let Some(needs) = &job.needs {
            if !needs.iter().any(|n| n.job.value == *name) {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidDependency,
                        dep.span,
                        format!("`{name}` is in `dependencies` but not in `needs`"),
                    )
                    .with_help("with `needs`, every dependency must also be needed"),
                );
            }
            continue;
        }
        let Some((own, theirs)) = own_stage.zip(p.stage_index(&target.stage.value)) else {
            continue;
        };
        // GitLab refuses dependencies "not defined in current or prior stages": a later stage
        // is an error, the same stage is valid but races (the job does not wait for it).
        if theirs > own {
            diags.push(
                Diagnostic::error(
                    Code::InvalidDependency,
                    dep.span,
                    format!(
                        "`{name}` runs in the later stage `{}`, after `{}`, so its artifacts are not there yet",
                        target.stage.value, job.stage.value
                    ),
                )
                .with_help("dependencies must come from the same or earlier stages"),
            );
        } else if theirs == own {
            diags.push(
                Diagnostic::warning(
                    Code::InvalidDependency,
                    dep.span,
                    format!(
                        "`{name}` runs in the same stage `{}`; the job does not wait for it, so its artifacts may not be there",
                        job.stage.value
                    ),
                )
                .with_help(format!("add `needs: [\"{name}\"]` to wait for it")),
            );
        }
    }
}

fn check_on_stop(p: &Pipeline, job: &crate::model::Job, diags: &mut Diagnostics) {
    if let Some(on_stop) = job.environment.as_ref().and_then(|e| e.on_stop.as_ref())
        && !on_stop.value.contains('$')
        && !p.jobs.contains_key(&on_stop.value)
    {
        unknown_job(
            p,
            on_stop.span,
            &on_stop.value,
            "environment:on_stop",
            Code::UnknownNeed,
            diags,
        );
    }
}

/// Reports each cycle in the `needs` graph once, at the need that closes it.
fn check_cycles(p: &Pipeline, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let index = |name: &str| {
        p.jobs
            .get_index_of(name)
            .or_else(|| p.jobs.get_index_of(&p.job_or_instance(name)?.name))
    };
    let mut marks = vec![Mark::New; p.jobs.len()];
    for start in 0..p.jobs.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (job, next need to look at); the stack is the current path.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Active;
        while let Some(&mut (job, ref mut next)) = stack.last_mut() {
            let needs = p.jobs[job].needs.as_deref().unwrap_or(&[]);
            let Some(need) = needs.get(*next) else {
                marks[job] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            let Some(target) = index(&need.job.value).filter(|&t| t != job) else {
                continue;
            };
            match marks[target] {
                Mark::New => {
                    marks[target] = Mark::Active;
                    stack.push((target, 0));
                }
                Mark::Active => {
                    let from = stack.iter().position(|(j, _)| *j == target).unwrap_or(0);
                    let mut path: Vec<&str> = stack[from..]
                        .iter()
                        .map(|(j, _)| p.jobs[*j].name.as_str())
                        .collect();
                    path.push(&p.jobs[target].name);
                    diags.push(
                        Diagnostic::error(
                            Code::NeedsCycle,
                            need.job.span,
                            format!("`needs` form a cycle: {}", path.join(" → ")),
                        )
                        .in_job(&p.jobs[job].name),
                    );
                }
                Mark::Done => {}
            }
        }
    }
}
