//! Watches local repositories: a new commit on a watched branch starts a `push` pipeline (the
//! last commit seen is kept in the database, so a restart neither misses nor repeats one).

use super::App;
use super::config::Source;
use super::db::NewPipeline;
use std::sync::Arc;
use std::time::Duration;

/// Polls every `watch_interval` seconds.
pub async fn watch(app: Arc<App>) {
    let watched: Vec<_> = app
        .config
        .repositories
        .iter()
        .filter(|r| !r.watch.is_empty())
        .filter_map(|r| match r.origin() {
            Source::Path(p) => Some((r.name.clone(), p, r.watch.clone())),
            Source::Url(_) => None,
        })
        .collect();
    if watched.is_empty() {
        return;
    }
    let mut stop = app.shutdown.subscribe();
    loop {
        for (name, path, branches) in &watched {
            for branch in branches {
                let (p, b) = (path.clone(), branch.clone());
                let head = tokio::task::spawn_blocking(move || {
                    let repo = git2::Repository::open(&p).ok()?;
                    let obj = repo.revparse_single(&format!("refs/heads/{b}")).ok()?;
                    Some(obj.peel_to_commit().ok()?.id().to_string())
                })
                .await
                .ok()
                .flatten();
                let Some(sha) = head else { continue };
                let key = format!("watch:{name}:{branch}");
                let seen = app.db.setting(&key).ok().flatten();
                if seen.as_deref() == Some(sha.as_str()) {
                    continue;
                }
                let _ = app.db.set_setting(&key, &sha);
                let Some(before) = seen else { continue }; // first look: remember only
                let mut variables = vec![("CI_COMMIT_BEFORE_SHA".to_string(), before.clone())];
                variables.push(("GANTRY_TRIGGER".into(), "watcher".into()));
                let queued = app.enqueue(NewPipeline {
                    repository: name.clone(),
                    git_ref: branch.clone(),
                    kind: "branch".into(),
                    sha,
                    before_sha: Some(before),
                    source: "push".into(),
                    target_branch: None,
                    variables,
                    only_job: None,
                    retried_from: None,
                });
                if let Err(e) = queued {
                    tracing::warn!(repository = %name, branch = %branch, "watcher: {e:?}");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(app.config.watch_interval.max(1))) => {}
            _ = stop.changed() => return,
        }
    }
}
