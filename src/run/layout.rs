//! The state folder's layout, spelled in one place: a project's `.gantry/` under `gantry run`,
//! a repository's folder under `gantry serve`. `cache/` (caches between pipelines),
//! `workspaces/` (warm job slots), `trash/` (what is deleted in the background),
//! `pipelines/IID/` (one run: `owner.pid` while it runs, `jobs/`, `artifacts/`, `dotenv/`, `logs/`).
//! Also the sweep of what runs whose owner process is gone left there.

use crate::executor::docker::process_alive;
use std::path::{Path, PathBuf};

/// A state folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// One pipeline's folder in a [`StateDir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl StateDir {
    /// The state folder at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Caches kept between pipelines.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Warm job workspace slots, kept between pipelines.
    pub fn workspaces(&self) -> PathBuf {
        self.root.join("workspaces")
    }

    /// What runs moved aside for deletion in the background (named `PID-…`).
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// The folders of all pipelines.
    pub fn pipelines(&self) -> PathBuf {
        self.root.join("pipelines")
    }

    /// Pipeline `iid`'s folder.
    pub fn run(&self, iid: u64) -> RunDir {
        RunDir {
            path: self.pipelines().join(iid.to_string()),
        }
    }

    /// Stops the job processes of runs whose owner process is gone (all of them with `all`), then
    /// removes their job workspaces and what background deletion never finished; returns what
    /// went.
    pub fn sweep_workspaces(&self, all: bool) -> Vec<String> {
        // Job processes of dead runs first: they may still be writing into the workspaces.
        let mut removed = super::orphans::reap(&self.root, all);
        let Ok(runs) = std::fs::read_dir(self.pipelines()) else {
            return removed;
        };
        if let Ok(trash) = std::fs::read_dir(self.trash()) {
            for t in trash.flatten() {
                let owner = t
                    .file_name()
                    .to_string_lossy()
                    .split('-')
                    .next()
                    .and_then(|p| p.parse().ok());
                if (all || !owner.is_some_and(process_alive))
                    && super::pool::force_remove(&t.path()).is_ok()
                {
                    removed.push(format!("workspaces {}", t.path().display()));
                }
            }
        }
        for run in runs.flatten() {
            let run = RunDir { path: run.path() };
            let jobs = run.jobs();
            if !jobs.is_dir() {
                continue;
            }
            if !all && super::orphans::owned(run.path()) {
                continue;
            }
            if std::fs::remove_dir_all(&jobs).is_ok() {
                run.release();
                removed.push(format!("workspaces {}", jobs.display()));
            }
        }
        removed
    }
}

impl RunDir {
    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Job workspaces and the pipeline's pristine files, removed when it ends.
    pub fn jobs(&self) -> PathBuf {
        self.path.join("jobs")
    }

    /// The pipeline's clean copies of the project, which job workspaces are reset against.
    pub fn pristine(&self) -> PathBuf {
        self.jobs().join("pristine")
    }

    /// Where a job's discarded workspace goes during the run.
    pub fn job_trash(&self) -> PathBuf {
        self.jobs().join("trash")
    }

    /// Artifacts, one folder per job slug.
    pub fn artifacts(&self) -> PathBuf {
        self.path.join("artifacts")
    }

    /// Each job's `reports:dotenv` text (`<slug>.env`), kept with its artifacts so a job
    /// retried later in the same pipeline receives them.
    pub fn dotenv(&self) -> PathBuf {
        self.path.join("dotenv")
    }

    /// One log file per job.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    fn owner_file(&self) -> PathBuf {
        self.path.join("owner.pid")
    }

    /// Creates the folder and records this process as the run's owner.
    pub fn claim(&self) {
        let _ = std::fs::create_dir_all(&self.path);
        super::orphans::claim(&self.path);
    }

    /// The process that owns the run, if one is recorded.
    pub fn owner(&self) -> Option<i32> {
        std::fs::read_to_string(self.owner_file())
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    /// Forgets the owner: the run is over.
    pub fn release(&self) {
        super::orphans::release(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_keeps_runs_whose_owner_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path());
        let mine = state.run(1);
        mine.claim();
        std::fs::create_dir_all(mine.jobs()).unwrap();
        let dead = state.run(2);
        std::fs::create_dir_all(dead.jobs()).unwrap();
        std::fs::write(dead.path().join("owner.pid"), "999999999").unwrap();
        let removed = state.sweep_workspaces(false);
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(mine.jobs().is_dir());
        assert!(!dead.jobs().exists());
        assert_eq!(dead.owner(), None);
        assert_eq!(mine.owner(), Some(std::process::id() as i32));
        state.sweep_workspaces(true);
        assert!(!mine.jobs().exists());
    }
}
