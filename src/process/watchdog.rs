//! Keeps a job from outliving its gantry without running any code in the child between fork and
//! exec. A `pre_exec` hook (the old `PR_SET_PDEATHSIG` one) makes std fork the whole
//! multi-threaded gantry for every job instead of using `posix_spawn` (vfork + exec): a
//! measurable cost per job, and PDEATHSIG fires when the spawning *thread* ends, not the process.
//! An exec'd wrapper (`setpriv --pdeathsig KILL`) costs another exec per job (measured: several
//! milliseconds on a loaded 2-core machine, more than the fork it would save).
//!
//! Instead, one small `sh` per gantry process, started with the first job, learns from a pipe
//! where the jobs are recorded: one line per run naming its record file (`run::orphans`; the
//! shell executor appends `PGID START` for each job there anyway), or, for a job without one,
//! `+PGID` when it starts and `-PGID` when it has ended. Nothing crosses the pipe per job of a
//! run, so the watchdog does not wake up while jobs start (measured: its byte-by-byte `read`
//! of two lines per job cost more than the fork it replaced). Only gantry holds the pipe's
//! write end (close-on-exec, so no job inherits it); when gantry ends — normally, by a crash or
//! SIGKILL — the kernel closes it, the watchdog reads end-of-file and kills every group still
//! listed, and every recorded group whose leader still has the recorded start time (a group id
//! the system reused is never touched). The watchdog sits in its own process group and ignores
//! the terminal's signals, so a Ctrl-C meant for gantry does not take it away first. What this
//! cannot see (gantry killed in the microseconds between spawning a job and recording its group,
//! or a process that left its group with `setsid`) carries the `GANTRY_RUN` marker and is
//! stopped by the next run, `gantry gc` or `gantry serve`'s start-up (`run::orphans`).

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The watchdog, builtins only (no fork per line): groups in one string, record files in
/// another (one per line). At the end a recorded group's leader must still have the recorded
/// start time (`/proc/PGID/stat` field 22) to be killed.
const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
set -f
groups=' '
files=''
nl='
'
while IFS= read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) g=${line#-}
        case $groups in *" $g "*) groups="${groups%% $g *} ${groups#* $g }" ;; esac ;;
    f*) files="$files${line#f}$nl" ;;
    u*) f=${line#u}
        case $files in *"$f$nl"*) files="${files%%"$f$nl"*}${files#*"$f$nl"}" ;; esac ;;
  esac
done
for g in $groups; do kill -9 -"$g" 2>/dev/null; done
IFS=$nl
for f in $files; do
  IFS=' '
  while read -r g s; do
    st=''
    read -r st < /proc/"$g"/stat 2>/dev/null || continue
    set -- ${st##*) }
    [ $# -ge 20 ] || continue
    eval "now=\${20}"
    [ "$now" = "$s" ] && kill -9 -"$g" 2>/dev/null
  done < "$f"
  IFS=$nl
done
"#;

struct Pipe {
    stdin: ChildStdin,
    /// Record files already announced, so each crosses the pipe once.
    files: HashSet<PathBuf>,
}

static PIPE: OnceLock<Option<Mutex<Pipe>>> = OnceLock::new();

/// The watchdog's pipe, started on first use; `None` when it could not be started.
fn pipe() -> &'static Option<Mutex<Pipe>> {
    PIPE.get_or_init(|| {
        let child = start_script().ok()?;
        // The watchdog is never waited for: it must outlive this process to do its work.
        child.stdin.map(|stdin| {
            Mutex::new(Pipe {
                stdin,
                files: HashSet::new(),
            })
        })
    })
}

/// The watchdog's `sh`, reading its list from the returned child's stdin; the tests start it
/// the same way as gantry does.
fn start_script() -> std::io::Result<Child> {
    // Not in the project (nothing to hold a directory), not on gantry's output (a caller
    // reading it to its end would wait for the watchdog too).
    Command::new("/bin/sh")
        .args(["-c", SCRIPT])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

fn send(line: &str) {
    if let Some(pipe) = pipe()
        && let Ok(mut p) = pipe.lock()
    {
        // A dead watchdog (EPIPE) leaves the marker-based reaping; nothing to do here.
        let _ = p.stdin.write_all(line.as_bytes());
    }
}

/// How a job's process group is known to the watchdog.
#[derive(Clone, Copy)]
pub enum Record<'a> {
    /// Appended to this record file (`PGID START` lines) by the caller.
    File(&'a Path),
    /// Not recorded anywhere: the watchdog keeps the group itself.
    None,
}

/// Process group `pgid` is a job's: killed should this process end before the guard drops.
/// Dropping the guard kills the group (whatever the job left running ends with it); a group
/// the watchdog keeps itself is taken off its list, so a group id the system reuses later is
/// never touched.
#[must_use = "the group is only watched while the guard lives"]
pub struct Guard {
    pgid: i32,
    listed: bool,
}

/// Watches process group `pgid` (see [`Guard`]). With a record file, the file is announced
/// once (the first time it is seen) and nothing else crosses the pipe for this job.
pub fn watch(pgid: i32, record: Record<'_>) -> Guard {
    let listed = match record {
        Record::File(file) => {
            if let Some(pipe) = pipe()
                && let Ok(mut p) = pipe.lock()
                && !p.files.contains(file)
                && file.to_str().is_some_and(|f| !f.contains('\n'))
            {
                let line = format!("f{}\n", file.display());
                if p.stdin.write_all(line.as_bytes()).is_ok() {
                    p.files.insert(file.to_path_buf());
                }
            }
            false
        }
        Record::None => {
            send(&format!("+{pgid}\n"));
            true
        }
    };
    Guard { pgid, listed }
}

/// The run whose record file is `file` has ended: its groups are no longer the watchdog's.
pub fn forget(file: &Path) {
    // Never starts a watchdog: a run without shell jobs announced nothing.
    if let Some(Some(pipe)) = PIPE.get()
        && let Ok(mut p) = pipe.lock()
        && p.files.remove(file)
    {
        let _ = p
            .stdin
            .write_all(format!("u{}\n", file.display()).as_bytes());
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: killpg only sends a signal; a group already gone yields ESRCH.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
        if self.listed {
            send(&format!("-{}\n", self.pgid));
        }
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

    /// A `sleep 30` leading a process group of its own, as a shell job's is.
    fn sleeping_group() -> Child {
        Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
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
        let (mut kept, mut removed) = (sleeping_group(), sleeping_group());
        let (k, r) = (kept.id() as i32, removed.id() as i32);
        let mut dog = start_script().unwrap();
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
    fn the_script_kills_recorded_groups_whose_leader_is_the_recorded_process() {
        let (mut recorded, reused, forgotten) =
            (sleeping_group(), sleeping_group(), sleeping_group());
        let (a, b, c) = (
            recorded.id() as i32,
            reused.id() as i32,
            forgotten.id() as i32,
        );
        let dir = tempfile::tempdir().unwrap();
        let (kept, dropped) = (dir.path().join("kept"), dir.path().join("dropped"));
        let start = |pg| crate::process::start_time(pg).unwrap();
        // `b` is recorded with another start time: the id now names another process.
        std::fs::write(&kept, format!("{a} {}\n{b} {}\n", start(a), start(b) + 1)).unwrap();
        std::fs::write(&dropped, format!("{c} {}\n", start(c))).unwrap();
        let mut dog = start_script().unwrap();
        let mut w = dog.stdin.take().unwrap();
        write!(
            w,
            "f{}\nf{}\nu{}\n",
            kept.display(),
            dropped.display(),
            dropped.display()
        )
        .unwrap();
        drop(w);
        dog.wait().unwrap();
        let _ = recorded.wait();
        assert!(
            wait_gone(a),
            "a recorded group outlived the watchdog's pipe"
        );
        assert!(
            group_alive(b),
            "a group recorded with another start time was killed"
        );
        assert!(
            group_alive(c),
            "a group of a forgotten record file was killed"
        );
        for mut p in [reused, forgotten] {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    #[test]
    fn dropping_the_guard_kills_the_group() {
        let mut child = sleeping_group();
        let pg = child.id() as i32;
        drop(watch(pg, Record::None));
        let _ = child.wait();
        assert!(wait_gone(pg));
    }
}
