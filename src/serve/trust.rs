//! Trust, as GitLab draws it. A repository's `protected` ref patterns decide which pipelines
//! get its `protected: true` variables and `CI_COMMIT_REF_PROTECTED=true`. A merge (pull)
//! request from a fork, or by an author outside `trusted_authors`, is *untrusted*: anyone can
//! open one on a public repository, and its commit chooses what the jobs run. Such a pipeline
//! is created waiting for approval (status `manual`) and runs only once someone holding the
//! API token approves it; even then it gets no protected variables, no privileged
//! `docker:dind`, no host Docker socket, and the cluster only where the operator allows it.
//!
//! The verdict is computed from the pipeline's trigger and the operator's current settings
//! each time it matters (at creation, when it starts, in the API), never stored: a pipeline
//! that somehow reached the queue unapproved is held again by the dispatcher.

use super::App;
use super::api::pipeline_row;
use super::config::RepoConfig;
use super::db::{DbError, NewPipeline, PipelineRow, rfc3339};
use super::error::{ApiError, id};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use std::sync::Arc;

/// The target project's id of a merge request pipeline (GitLab's variable; the webhooks set it
/// for every forge from the payload the forge signed).
pub const PROJECT_ID: &str = "CI_MERGE_REQUEST_PROJECT_ID";
/// The source project's id: equal to [`PROJECT_ID`] unless the request comes from a fork.
pub const SOURCE_PROJECT_ID: &str = "CI_MERGE_REQUEST_SOURCE_PROJECT_ID";
/// The source project's path, for saying which fork.
pub const SOURCE_PROJECT_PATH: &str = "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH";

/// The protected ref patterns compiled; `*` matches any characters, `/` included, as in
/// GitLab's protected branch wildcards.
pub fn patterns(list: &[String]) -> Result<globset::GlobSet, globset::Error> {
    let mut set = globset::GlobSetBuilder::new();
    for p in list {
        set.add(
            globset::GlobBuilder::new(p)
                .literal_separator(false)
                .build()?,
        );
    }
    set.build()
}

/// Whether `p` runs on a protected ref: a branch or tag matching one of the repository's
/// patterns. Merge request pipelines run on the request's head, never protected.
pub fn ref_protected(repo: &RepoConfig, p: &NewPipeline) -> bool {
    matches!(p.kind.as_str(), "branch" | "tag")
        && patterns(&repo.protected).is_ok_and(|set| set.is_match(&p.git_ref))
}

fn variable<'a>(p: &'a NewPipeline, name: &str) -> Option<&'a str> {
    p.variables
        .iter()
        .rfind(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Why `p` is untrusted, or `None`. Only merge request pipelines can be: a push, a tag, an API
/// call, a schedule or a watched branch all come from someone with write access. A request is
/// trusted only when the payload shows it comes from the repository itself (source project id
/// equal to the target's: a payload without them counts as a fork) and, where the operator
/// lists `trusted_authors`, its author is one of them.
pub fn untrusted(repo: &RepoConfig, p: &NewPipeline) -> Option<String> {
    if p.source != "merge_request_event" {
        return None;
    }
    let same = matches!(
        (variable(p, SOURCE_PROJECT_ID), variable(p, PROJECT_ID)),
        (Some(s), Some(t)) if s == t
    );
    if !same {
        return Some(match variable(p, SOURCE_PROJECT_PATH) {
            Some(path) => format!("merge request from the fork {path}"),
            None => "merge request from another project (a fork)".into(),
        });
    }
    if !repo.trusted_authors.is_empty() {
        let author = variable(p, "GITLAB_USER_LOGIN");
        if !author.is_some_and(|a| repo.trusted_authors.iter().any(|t| t == a)) {
            return Some(format!(
                "merge request by {}, who is not in trusted_authors",
                author.unwrap_or("an unknown user")
            ));
        }
    }
    None
}

/// What a pipeline may have, from its trust and ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    /// Why it is untrusted (`None`: trusted).
    pub untrusted: Option<String>,
    /// Its ref is protected and it is trusted: protected variables, `CI_COMMIT_REF_PROTECTED`.
    pub ref_protected: bool,
    /// The host's Docker socket for `docker:dind` (trusted, and the operator opted in).
    pub host_socket: bool,
    /// A real privileged `docker:dind` (trusted, and the operator asked for it).
    pub privileged_dind: bool,
    /// The repository's cluster (trusted, or the operator allows untrusted pipelines there).
    pub cluster: bool,
}

/// What pipeline `p` of `repo` may have.
pub fn grants(repo: &RepoConfig, p: &NewPipeline) -> Grants {
    let untrusted = untrusted(repo, p);
    let trusted = untrusted.is_none();
    Grants {
        ref_protected: trusted && ref_protected(repo, p),
        host_socket: trusted && repo.docker_socket,
        privileged_dind: trusted && repo.privileged_dind,
        cluster: trusted || repo.untrusted_cluster,
        untrusted,
    }
}

impl Grants {
    /// Lines for the top of every job's log saying what the pipeline was denied (`withheld`:
    /// the names of the protected variables left out; `cluster`: whether the repository has
    /// one); `None` when nothing was.
    pub fn notice(&self, repo: &RepoConfig, withheld: &[String], cluster: bool) -> Option<String> {
        let mut lines = Vec::new();
        if let Some(why) = &self.untrusted {
            lines.push(format!("gantry: untrusted pipeline ({why})"));
            let mut denied = Vec::new();
            if repo.privileged_dind {
                denied.push("a privileged docker:dind");
            }
            if repo.docker_socket {
                denied.push("the host's Docker socket");
            }
            if cluster && !self.cluster {
                denied.push("the cluster");
            }
            if !denied.is_empty() {
                lines.push(format!("gantry: denied: {}", denied.join(", ")));
            }
        }
        if !withheld.is_empty() {
            let why = if self.untrusted.is_some() {
                "an untrusted pipeline"
            } else {
                "the ref is not protected"
            };
            lines.push(format!(
                "gantry: protected variables withheld ({why}): {}",
                withheld.join(", ")
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

/// At creation: an untrusted pipeline waits for approval (`manual`) instead of queueing;
/// the row as it is then, or `None` for a trusted one (the caller queues it).
pub fn hold(app: &App, row: &PipelineRow) -> Result<Option<PipelineRow>, DbError> {
    let Some(why) = app
        .config
        .repo(&row.new.repository)
        .and_then(|r| untrusted(r, &row.new))
    else {
        return Ok(None);
    };
    app.db
        .set_pipeline_status(row.id, "manual", Some(&waiting(&why)))?;
    tracing::info!(pipeline = row.id, %why, "untrusted pipeline waits for approval");
    let held = app.db.pipeline(row.id)?.unwrap_or_else(|| row.clone());
    app.publish_pipeline(&held);
    Ok(Some(held))
}

/// The reason shown while an untrusted pipeline waits.
pub fn waiting(why: &str) -> String {
    format!("waiting for approval: {why}")
}

/// The pipeline's API shape with its trust: `trusted`, `untrusted_reason`, `approved_at`,
/// `ref_protected`.
pub fn json(app: &App, row: &PipelineRow) -> Value {
    let mut v = row.json();
    let grants = app
        .config
        .repo(&row.new.repository)
        .map(|r| grants(r, &row.new));
    let approved = app.db.approved_at(row.id).ok().flatten();
    v["trusted"] = grants.as_ref().is_none_or(|g| g.untrusted.is_none()).into();
    v["untrusted_reason"] = grants.as_ref().and_then(|g| g.untrusted.clone()).into();
    v["ref_protected"] = grants.as_ref().is_some_and(|g| g.ref_protected).into();
    v["approved_at"] = approved.map(rfc3339).into();
    v
}

/// `POST /api/v1/pipelines/{id}/approve`: an untrusted pipeline waiting for approval is
/// queued (it still runs without protected variables, privileged engines or sockets).
pub async fn approve(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = pipeline_row(&app, id(&raw)?)?;
    let pid = row.id;
    // Approving for a repository no longer served, or into a full queue, would strand it.
    if app.config.repo(&row.new.repository).is_none() {
        return Err(ApiError::not_found("its repository is no longer served"));
    }
    if *app.shutdown.borrow() || app.queue.depth() >= app.config.queue_limit {
        return Err(ApiError::unavailable(
            "the server is shutting down or its queue is full",
        ));
    }
    if !app.db.approve(pid)? {
        return Err(ApiError::conflict(format!(
            "pipeline is {}: only a pipeline waiting for approval can be approved",
            row.status
        )));
    }
    let row = pipeline_row(&app, pid)?;
    tracing::info!(pipeline = pid, "untrusted pipeline approved");
    app.publish_pipeline(&row);
    app.queue.push(&row);
    Ok(Json(json(&app, &row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(toml_extra: &str) -> RepoConfig {
        toml::from_str(&format!("name = \"g/a\"\nsource = \"/x\"\n{toml_extra}")).unwrap()
    }

    fn mr(vars: &[(&str, &str)]) -> NewPipeline {
        NewPipeline {
            kind: "merge_request".into(),
            git_ref: "feature".into(),
            source: "merge_request_event".into(),
            variables: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..NewPipeline::default()
        }
    }

    #[test]
    fn forks_and_unlisted_authors_are_untrusted() {
        let open = repo("");
        let same = [(SOURCE_PROJECT_ID, "1"), (PROJECT_ID, "1")];
        assert_eq!(untrusted(&open, &mr(&same)), None);
        let fork = mr(&[
            (SOURCE_PROJECT_ID, "2"),
            (PROJECT_ID, "1"),
            (SOURCE_PROJECT_PATH, "eve/app"),
        ]);
        assert!(untrusted(&open, &fork).unwrap().contains("eve/app"));
        // No project ids in the payload: counted as a fork.
        assert!(untrusted(&open, &mr(&[])).is_some());
        let listed = repo("trusted_authors = [\"alice\"]");
        let by = |who: &str| {
            let mut p = mr(&same);
            p.variables.push(("GITLAB_USER_LOGIN".into(), who.into()));
            p
        };
        assert_eq!(untrusted(&listed, &by("alice")), None);
        assert!(
            untrusted(&listed, &by("mallory"))
                .unwrap()
                .contains("mallory")
        );
        assert!(untrusted(&listed, &mr(&same)).is_some(), "no author");
        // A push is trusted whoever made it.
        let push = NewPipeline {
            source: "push".into(),
            ..by("mallory")
        };
        assert_eq!(untrusted(&listed, &push), None);
    }

    #[test]
    fn protected_refs_and_what_untrusted_pipelines_are_denied() {
        let r =
            repo("protected = [\"main\", \"v*\"]\nprivileged_dind = true\ndocker_socket = true");
        let on = |kind: &str, name: &str| NewPipeline {
            kind: kind.into(),
            git_ref: name.into(),
            source: "push".into(),
            ..NewPipeline::default()
        };
        assert!(ref_protected(&r, &on("branch", "main")));
        assert!(ref_protected(&r, &on("tag", "v1.2")));
        assert!(!ref_protected(&r, &on("branch", "feature/main")));
        assert!(!ref_protected(&r, &on("merge_request", "main")));
        let g = grants(&r, &on("branch", "main"));
        assert!(g.ref_protected && g.host_socket && g.privileged_dind && g.cluster);
        assert_eq!(g.notice(&r, &[], true), None);
        let g = grants(&r, &mr(&[]));
        assert!(!g.ref_protected && !g.host_socket && !g.privileged_dind && !g.cluster);
        let notice = g.notice(&r, &["TOKEN".into()], true).unwrap();
        assert!(notice.contains("privileged docker:dind"), "{notice}");
        assert!(notice.contains("the cluster"), "{notice}");
        assert!(
            notice.contains("withheld (an untrusted pipeline): TOKEN"),
            "{notice}"
        );
        let allowed = repo("untrusted_cluster = true");
        assert!(grants(&allowed, &mr(&[])).cluster);
        assert!(patterns(&["[".into()]).is_err());
    }
}
