//! What GitLab merge requests and GitHub pull requests have in common, in GitLab's variable
//! names: both forges' handlers fill one [`MergeRequest`] so the pipelines they create agree.

use super::{Outcome, put, valid_sha};
use crate::serve::db::NewPipeline;

/// A merge (pull) request that starts a pipeline, already validated.
pub struct MergeRequest<'a> {
    /// Repository path on the forge.
    pub repo: &'a str,
    /// Project-local number (`iid` on GitLab, `number` on GitHub).
    pub iid: i64,
    /// Instance-wide id, when the forge sends one.
    pub id: Option<i64>,
    /// Source branch.
    pub source: &'a str,
    /// Target branch.
    pub target: &'a str,
    /// Head commit of the source branch.
    pub sha: &'a str,
    /// The commit before this update, when the forge sends one.
    pub before: Option<&'a str>,
    /// Title.
    pub title: Option<&'a str>,
    /// Description (body).
    pub description: Option<&'a str>,
}

impl MergeRequest<'_> {
    /// The `CI_MERGE_REQUEST_*` variables GitLab sets for a merge request pipeline.
    pub fn variables(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("CI_MERGE_REQUEST_IID".to_string(), self.iid.to_string()),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME".into(),
                self.source.into(),
            ),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA".into(), self.sha.into()),
            (
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME".into(),
                self.target.into(),
            ),
            ("CI_MERGE_REQUEST_EVENT_TYPE".into(), "detached".into()),
            ("CI_MERGE_REQUEST_PROJECT_PATH".into(), self.repo.into()),
        ];
        if let Some(id) = self.id {
            vars.push(("CI_MERGE_REQUEST_ID".into(), id.to_string()));
        }
        put(&mut vars, "CI_MERGE_REQUEST_TITLE", self.title);
        put(&mut vars, "CI_MERGE_REQUEST_DESCRIPTION", self.description);
        vars
    }

    /// The pipeline to run, with `variables` (this request's and the forge's own).
    pub fn pipeline(&self, variables: Vec<(String, String)>) -> Outcome {
        Outcome::Run(Box::new(NewPipeline {
            repository: self.repo.to_string(),
            git_ref: self.source.to_string(),
            kind: "merge_request".into(),
            sha: self.sha.to_lowercase(),
            before_sha: self.before.filter(|s| valid_sha(s)).map(str::to_lowercase),
            source: "merge_request_event".into(),
            target_branch: Some(self.target.to_string()),
            variables,
            only_job: None,
            retried_from: None,
        }))
    }
}
