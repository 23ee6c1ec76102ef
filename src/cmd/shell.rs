//! `gantry shell JOB`: an interactive shell in one job's environment. The pipeline is cut to
//! the job and what it needs; those jobs are reused from the store or run, then the job's
//! executor opens a shell where its script would run (see `executor::Interactive`), and
//! teardown removes everything the shell had (containers, services, pods, namespaces).

use super::{CmdError, usage_error};
use crate::cli::RunArgs;
use crate::plan::Plan;
use std::path::Path;
use std::process::ExitCode;

/// Opens the shell; refuses without a terminal on standard input.
pub fn shell(file: &Path, args: &RunArgs) -> ExitCode {
    if let Err(e) = crate::executor::terminal::require_terminal("gantry shell") {
        return usage_error(e);
    }
    let [job] = args.pipeline.jobs.as_slice() else {
        return usage_error("gantry shell takes one job: gantry shell JOB [options of gantry run]");
    };
    let mut args = args.clone();
    args.pipeline.needs = true;
    args.shell_on_failure = false;
    super::run::run_with(file, &args, Some(job))
}

/// The concrete name of `name` in `plan`: itself, or the only instance of a parallel job.
pub(super) fn concrete(plan: &Plan, name: &str) -> Result<String, CmdError> {
    if plan.jobs.iter().any(|j| j.name == name) {
        return Ok(name.to_string());
    }
    let instances: Vec<&str> = plan
        .jobs
        .iter()
        .filter(|j| j.job == name)
        .map(|j| j.name.as_str())
        .collect();
    match instances.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(plan.not_in_pipeline(name).into()),
        many => Err(CmdError::Ambiguous {
            name: name.to_string(),
            instances: many.iter().map(|s| s.to_string()).collect(),
        }),
    }
}
