//! Job processes of a run whose gantry died (SIGKILL, a crash, the machine's OOM killer). Every
//! job process carries [`MARKER`] set to its run directory, and the shell executor records each
//! job's process group in `<run dir>/processes`; the next `gantry run` in the project, `gantry
//! gc` and `gantry serve`'s start-up stop them (`process::kill_leftovers`) before anything
//! touches the workspaces they run in. The run's owner is `owner.pid` plus `owner.start` (its
//! start time), so a reused pid is not mistaken for the run's gantry.

use std::path::{Path, PathBuf};

/// Variable naming the run directory in every job process of a run.
pub const MARKER: &str = "GANTRY_RUN";

/// File (in the run directory) of the job process groups the run started.
pub const PROCESSES: &str = "processes";

/// Records this process as the owner of `run_dir`.
pub fn claim(run_dir: &Path) {
    let _ = std::fs::write(run_dir.join("owner.pid"), std::process::id().to_string());
    let _ = std::fs::write(
        run_dir.join("owner.start"),
        crate::process::own_start().to_string(),
    );
}

/// Drops the ownership records of a finished run.
pub fn release(run_dir: &Path) {
    crate::process::watchdog::forget(&run_dir.join(PROCESSES));
    for f in ["owner.pid", "owner.start", PROCESSES] {
        let _ = std::fs::remove_file(run_dir.join(f));
    }
}

/// Whether the run in `run_dir` has a live owner (pid alive and not reused).
pub fn owned(run_dir: &Path) -> bool {
    let read = |f: &str| {
        std::fs::read_to_string(run_dir.join(f))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    match read("owner.pid") {
        Some(pid) => !crate::process::gone(pid as i32, read("owner.start")),
        None => false,
    }
}

/// The record file of job process groups under the run directory `marker` names (the value of
/// [`MARKER`] in a job's environment).
pub fn processes_file(marker: &str) -> PathBuf {
    Path::new(marker).join(PROCESSES)
}

/// Stops the job processes of every run under `state_dir` (a project's `.gantry/`) whose owner
/// is gone (with `all`, of every run); returns what was stopped.
pub fn reap(state_dir: &Path, all: bool) -> Vec<String> {
    let mut stopped = Vec::new();
    let Ok(runs) = std::fs::read_dir(state_dir.join("pipelines")) else {
        return stopped;
    };
    for run in runs.flatten() {
        let dir = run.path();
        let file = dir.join(PROCESSES);
        let claimed = dir.join("owner.pid").exists();
        if !(file.exists() || claimed) || (!all && owned(&dir)) {
            continue;
        }
        let marker = dir.display().to_string();
        stopped.extend(crate::process::kill_leftovers(
            Some(&file),
            MARKER,
            &[marker],
        ));
        let _ = std::fs::remove_file(&file);
    }
    stopped
}
