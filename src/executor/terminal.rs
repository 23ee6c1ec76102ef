//! Interactive shells on gantry's own terminal (`gantry shell JOB`, `gantry run
//! --shell-on-failure`): one session at a time, the terminal in raw mode while it lasts (so
//! Ctrl-C is a byte for the shell, not a signal for gantry), keystrokes relayed to the shell's
//! terminal — a local pseudo-terminal, a container's TTY, a pod's exec TTY — and its output to
//! ours, with the run's other output held back until the shell ends.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Why an interactive shell could not be had or did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// An interactive shell needs a terminal.
    #[error(
        "{what} needs an interactive terminal, but standard input is not one (a pipe, a file or /dev/null); run it from a terminal"
    )]
    NotATerminal {
        /// The command or option that needs one.
        what: String,
    },
    /// A pseudo-terminal could not be opened or wired.
    #[error("openpty: {source}")]
    Pty {
        /// The system's error.
        source: std::io::Error,
    },
    /// The interactive shell could not be started.
    #[error("cannot start the shell: {source}")]
    Start {
        /// The system's error.
        source: std::io::Error,
    },
    /// The interactive shell's process could not be waited for.
    #[error("{source}")]
    Wait {
        /// The system's error.
        source: std::io::Error,
    },
    /// The interactive shell did not exit after its terminal closed.
    #[error("the shell did not exit")]
    Stuck,
}

/// Refuses when standard input is not a terminal.
pub fn require_terminal(what: &str) -> Result<(), TerminalError> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        Ok(())
    } else {
        Err(TerminalError::NotATerminal {
            what: what.to_string(),
        })
    }
}

/// The terminal's size as (rows, columns), if it has one.
pub fn size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the zeroed struct or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Raw mode on standard input for as long as it lives.
struct Raw(Option<libc::termios>);

impl Raw {
    fn enter() -> Raw {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a struct they fill; failures leave it alone.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Raw(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Raw(Some(saved))
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, t);
            }
        }
    }
}

static SESSION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static HOLD: AtomicBool = AtomicBool::new(false);

/// Whether the run's console output is to be held back (a shell owns the terminal).
pub fn held() -> bool {
    HOLD.load(Ordering::Relaxed)
}

/// Relays between this terminal and a shell: keystrokes to `input`, `output` to our standard
/// output, until `output` ends (the shell exited). Returns after restoring the terminal.
pub async fn relay<W, R>(banner: &str, mut input: W, mut output: R)
where
    W: AsyncWrite + Unpin + Send,
    R: AsyncRead + Unpin + Send,
{
    let _one = SESSION.lock().await;
    HOLD.store(true, Ordering::Relaxed);
    {
        let mut err = std::io::stderr();
        let _ = std::io::Write::write_all(&mut err, banner.as_bytes());
    }
    let raw = Raw::enter();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || read_keys(&tx, &stop))
    };
    let mut stdout = std::io::stdout();
    let mut buf = vec![0u8; 16 * 1024];
    let mut keys_open = true;
    loop {
        tokio::select! {
            n = output.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = std::io::Write::write_all(&mut stdout, &buf[..n]);
                    let _ = std::io::Write::flush(&mut stdout);
                }
            },
            k = rx.recv(), if keys_open => match k {
                Some(k) => {
                    if input.write_all(&k).await.is_err() || input.flush().await.is_err() {
                        keys_open = false;
                    }
                }
                None => {
                    keys_open = false;
                    let _ = input.shutdown().await;
                }
            },
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    drop(raw);
    HOLD.store(false, Ordering::Relaxed);
    crate::report::run::release_held();
}

/// Reads keystrokes from standard input until `stop`, polling so it never outlives the session.
fn read_keys(tx: &mpsc::UnboundedSender<Vec<u8>>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        let n = unsafe { libc::poll(&mut fds, 1, 50) };
        if n <= 0 {
            continue;
        }
        // SAFETY: read into a stack buffer of its length.
        let got = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if got <= 0 {
            return; // end of input: the sender drops, the shell's input is closed
        }
        if tx.send(buf[..got as usize].to_vec()).is_err() {
            return;
        }
    }
}

/// A local pseudo-terminal: the side a shell runs on, and ours.
pub struct Pty {
    /// Our side, to relay through.
    pub master: OwnedFd,
    /// The shell's side (its stdin, stdout, stderr and controlling terminal).
    pub slave: OwnedFd,
}

impl Pty {
    /// Opens one the size of this terminal.
    pub fn open() -> Result<Pty, TerminalError> {
        Pty::sized(size())
    }

    /// Opens one of (rows, columns) `size` (0 × 0 without one).
    pub fn sized(size: Option<(u16, u16)>) -> Result<Pty, TerminalError> {
        let (mut m, mut s) = (0, 0);
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if let Some((rows, cols)) = size {
            ws.ws_row = rows;
            ws.ws_col = cols;
        }
        // SAFETY: openpty writes two descriptors; null name and termios are allowed.
        let rc =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        if rc != 0 {
            return Err(TerminalError::Pty {
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: both descriptors were just opened and are owned here alone.
        Ok(unsafe {
            Pty {
                master: OwnedFd::from_raw_fd(m),
                slave: OwnedFd::from_raw_fd(s),
            }
        })
    }

    /// Makes the slave `command`'s stdin, stdout, stderr and controlling terminal, in a
    /// session of its own (as a login shell has it: job control and `^C` work). The command
    /// holds copies of the slave: drop it and [`Pty::slave`] after spawning, or the master
    /// never sees the end of the output.
    pub fn attach(&self, command: &mut std::process::Command) -> Result<(), TerminalError> {
        use std::os::unix::process::CommandExt;
        let io = || {
            self.slave
                .try_clone()
                .map(std::process::Stdio::from)
                .map_err(|source| TerminalError::Pty { source })
        };
        command.stdin(io()?).stdout(io()?).stderr(io()?);
        let slave = self.slave.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(slave);
                Ok(())
            });
        }
        Ok(())
    }
}

/// `command` on the pty's slave as its controlling terminal, in a session of its own; relays
/// until it exits and returns its exit code.
pub async fn run_on_pty(
    banner: &str,
    mut command: std::process::Command,
) -> Result<i32, TerminalError> {
    let pty = Pty::open()?;
    pty.attach(&mut command)?;
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TerminalError::Start { source })?;
    drop(pty.slave);
    let master = std::fs::File::from(pty.master);
    let reader = tokio::fs::File::from_std(
        master
            .try_clone()
            .map_err(|source| TerminalError::Pty { source })?,
    );
    let writer = tokio::fs::File::from_std(master);
    relay(banner, writer, reader).await;
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .map_err(|_| TerminalError::Stuck)?
        .map_err(|source| TerminalError::Wait { source })?;
    Ok(status.code().unwrap_or(128))
}

/// The line shown when a shell opens: which job, where, and how to leave.
pub fn banner(job: &super::JobSpec, place: &str) -> String {
    format!(
        "gantry: shell for job `{}` {place}, in {} (its variables are set; masked ones are never printed by gantry). Leave with `exit` or Ctrl-D.\r\n",
        job.name,
        job.workspace.display()
    )
}

/// The command line that starts an interactive shell: bash if the image has it, else sh.
pub const SHELL_COMMAND: &str =
    "if command -v bash >/dev/null 2>&1; then exec bash --norc -i; else exec sh -i; fi";

/// `PS1` of the shells gantry opens: the job's name, then the directory.
pub fn prompt(job: &str) -> String {
    format!("[{job}] \\w \\$ ")
}
