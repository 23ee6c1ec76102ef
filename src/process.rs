//! Processes judged from outside: whether an owner recorded by pid (and start time) is still
//! that live process, and stopping the job processes a dead gantry left behind — found by the
//! marker variable every job process carries, or by the process group recorded for it. One
//! mechanism for `gantry serve`'s start-up, `gantry gc` and the next `gantry run`.

pub mod watchdog;

use std::io::{Read, Write};
use std::path::Path;

/// Whether `pid` is a running process; a zombie (dead, waiting to be reaped) is not.
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.first().map(String::as_str), Some("Z" | "X")))
}

/// When `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22): with the pid it
/// names one process, even after the pid is reused.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid)?.get(19)?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name (state first).
fn stat(pid: i32) -> Option<Vec<String>> {
    if pid <= 0 {
        return None;
    }
    // One read (plus the one that sees the end): the file is short and reports no size, and
    // `read_to_string` would grow its buffer from 32 bytes, a read each time (a job's start
    // reads this once).
    let mut buf = Vec::with_capacity(1024);
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read_to_end(&mut buf))
        .ok()?;
    let text = String::from_utf8_lossy(&buf);
    let rest = text.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Whether the owner recorded as `pid` (started at `start`, when that was recorded) is gone:
/// not running, or its pid now belongs to a process that started at another time.
pub fn gone(pid: i32, start: Option<u64>) -> bool {
    if !alive(pid) {
        return true;
    }
    match (start, start_time(pid)) {
        (Some(recorded), Some(now)) => recorded != now,
        _ => false,
    }
}

/// This process's start time (see [`start_time`]).
pub fn own_start() -> u64 {
    start_time(std::process::id() as i32).unwrap_or(0)
}

/// Appends process group `pgid` (with its leader's start time) to the record `file`.
pub fn record_group(file: &Path, pgid: i32) {
    let start = start_time(pgid).unwrap_or(0);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        // One write, so a line is never torn by a concurrent job's.
        let _ = f.write_all(format!("{pgid} {start}\n").as_bytes());
    }
}

/// Kills the groups recorded in `file` whose leader is still the recorded process, then every
/// process whose environment sets `var` to one of `values` (with its group); returns what was
/// stopped. Never this process's own group.
pub fn kill_leftovers(file: Option<&Path>, var: &str, values: &[String]) -> Vec<String> {
    let mut killed = Vec::new();
    // SAFETY: getpgid/kill/killpg are plain syscalls on ids read from /proc or our own records.
    let own = unsafe { libc::getpgid(0) };
    if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
        for line in text.lines() {
            let mut parts = line.split_whitespace().map(|p| p.parse::<u64>().ok());
            let (Some(Some(pgid)), Some(Some(start))) = (parts.next(), parts.next()) else {
                continue;
            };
            let pgid = pgid as i32;
            if pgid > 1
                && pgid != own
                && start_time(pgid) == Some(start)
                && unsafe { libc::killpg(pgid, libc::SIGKILL) } == 0
            {
                killed.push(format!("process group {pgid}"));
            }
        }
    }
    if values.is_empty() {
        return killed;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return killed;
    };
    let prefix = format!("{var}=");
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(p.path().join("environ")) else {
            continue;
        };
        let label = environ
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .find_map(|kv| kv.strip_prefix(prefix.as_str()));
        if let Some(label) = label
            && values.iter().any(|m| m == label)
            && alive(pid)
        {
            let pgid = unsafe { libc::getpgid(pid) };
            let target = if pgid > 1 && pgid != own { -pgid } else { pid };
            if unsafe { libc::kill(target, libc::SIGKILL) } == 0 {
                killed.push(format!("process {pid} of {label}"));
            }
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_a_stable_start_time_and_others_are_gone() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert_eq!(start_time(me), Some(own_start()));
        assert!(!gone(me, Some(own_start())));
        assert!(!gone(me, None));
        // The same pid with another start time is another process: the recorded one is gone.
        assert!(gone(me, Some(own_start() + 1)));
        assert!(gone(i32::MAX, None));
    }
}
