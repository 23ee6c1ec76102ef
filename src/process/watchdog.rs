//! Keeps a job from outliving its gantry without running any code in the child between fork and
//! exec. A `pre_exec` hook (the old `PR_SET_PDEATHSIG` one) makes std fork the whole
//! multi-threaded gantry for every job instead of using `posix_spawn` (vfork + exec): a
//! measurable cost per job, and PDEATHSIG fires when the spawning *thread* ends, not the process.
//! An exec'd wrapper (`setpriv --pdeathsig KILL`) costs another exec per job (measured: several
//! milliseconds on a loaded 2-core machine, more than the fork it would save).
//!
//! Instead, one small `sh` per gantry process, started with the first job, reads process group
//! ids from a pipe: `+PGID` when a job starts, `-PGID` when it has ended. Only gantry holds the
//! pipe's write end (close-on-exec, so no job inherits it); when gantry ends — normally, by a
//! crash or SIGKILL — the kernel closes it, the watchdog reads end-of-file and kills every group
//! still listed. The watchdog sits in its own process group and ignores the terminal's signals,
//! so a Ctrl-C meant for gantry does not take it away first. What this cannot see (gantry killed
//! in the microseconds between spawning a job and announcing its group, or a process that left
//! its group with `setsid`) carries the `GANTRY_RUN` marker and is stopped by the next run,
//! `gantry gc` or `gantry serve`'s start-up (`run::orphans`).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The watchdog: a set of groups kept in a string with builtins only (no fork per line).
const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
groups=' '
while read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) g=${line#-}
        case $groups in *" $g "*) groups="${groups%% $g *} ${groups#* $g }" ;; esac ;;
  esac
done
for g in $groups; do kill -9 -"$g" 2>/dev/null; done
"#;

/// The write end of the watchdog's pipe; `None` when it could not be started.
fn pipe() -> &'static Option<Mutex<ChildStdin>> {
    static PIPE: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();
    PIPE.get_or_init(|| {
        // Not in the project (nothing to hold a directory), not on gantry's output (a caller
        // reading it to its end would wait for the watchdog too).
        let child = Command::new("/bin/sh")
            .args(["-c", SCRIPT])
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        // The watchdog is never waited for: it must outlive this process to do its work.
        child.stdin.map(Mutex::new)
    })
}

fn send(line: &str) {
    if let Some(pipe) = pipe()
        && let Ok(mut w) = pipe.lock()
    {
        // A dead watchdog (EPIPE) leaves the marker-based reaping; nothing to do here.
        let _ = w.write_all(line.as_bytes());
    }
}

/// Process group `pgid` is a job's: killed should this process end before the guard drops.
/// Dropping the guard kills the group (whatever the job left running ends with it) and takes
/// it off the watchdog's list, so a group id the system reuses later is never touched.
#[must_use = "the group is only watched while the guard lives"]
pub struct Guard(i32);

/// Watches process group `pgid` (see [`Guard`]).
pub fn watch(pgid: i32) -> Guard {
    send(&format!("+{pgid}\n"));
    Guard(pgid)
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: killpg only sends a signal; a group already gone yields ESRCH.
        unsafe {
            libc::killpg(self.0, libc::SIGKILL);
        }
        send(&format!("-{}\n", self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn group_alive(pgid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::killpg(pgid, 0) == 0 }
    }

    fn wait_gone(pgid: i32) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while group_alive(pgid) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        !group_alive(pgid)
    }

    #[test]
    fn the_script_kills_listed_groups_at_end_of_file_and_spares_removed_ones() {
        let spawn_group = || {
            Command::new("sleep")
                .arg("30")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let (mut kept, mut removed) = (spawn_group(), spawn_group());
        let (k, r) = (kept.id() as i32, removed.id() as i32);
        let mut dog = Command::new("/bin/sh")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut w = dog.stdin.take().unwrap();
        write!(w, "+{r}\n+{k}\n-{r}\n").unwrap();
        w.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            group_alive(k) && group_alive(r),
            "killed before end of file"
        );
        drop(w);
        dog.wait().unwrap();
        let _ = kept.wait();
        assert!(wait_gone(k), "a listed group outlived the watchdog's pipe");
        assert!(group_alive(r), "a group taken off the list was killed");
        let _ = removed.kill();
        let _ = removed.wait();
    }

    #[test]
    fn dropping_the_guard_kills_the_group() {
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pg = child.id() as i32;
        drop(watch(pg));
        let _ = child.wait();
        assert!(wait_gone(pg));
    }
}
