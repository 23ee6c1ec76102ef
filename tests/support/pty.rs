//! gantry on a pseudo-terminal, driven as a person at a keyboard would (interactive shells,
//! prompts): for tests of what only a terminal shows.

use gantry::executor::terminal::Pty;
use std::path::Path;

/// `gantry ARGS` in `dir` on a fresh pseudo-terminal (its controlling terminal), driven like a
/// person would: for each (wait-for, type) step, wait until the output holds `wait-for`, then
/// type. Returns the exit code and everything it printed. Gives up after `timeout`.
pub fn on_pty(
    dir: &Path,
    args: &[&str],
    steps: &[(&str, &str)],
    timeout: std::time::Duration,
) -> (i32, String) {
    use std::io::{Read, Write};
    let pty = Pty::sized(Some((40, 120))).expect("a pseudo-terminal");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb");
    pty.attach(&mut cmd).expect("the pseudo-terminal attached");
    let mut child = cmd.spawn().expect("gantry");
    // The command holds copies of the slave: all must go for the master to see the end.
    drop(cmd);
    let Pty { master, slave } = pty;
    drop(slave);
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let sink = out.clone();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut writer = std::fs::File::from(master);
    let deadline = std::time::Instant::now() + timeout;
    let text =
        |o: &std::sync::Mutex<Vec<u8>>| String::from_utf8_lossy(&o.lock().unwrap()).into_owned();
    let mut seen = 0;
    for (wait, typed) in steps {
        loop {
            let found = {
                let o = out.lock().unwrap();
                o[seen.min(o.len())..]
                    .windows(wait.len())
                    .position(|w| w == wait.as_bytes())
            };
            if let Some(at) = found {
                seen += at + wait.len();
                break;
            }
            let t = text(&out);
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("waited for {wait:?}; got:\n{t}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        writer.write_all(typed.as_bytes()).unwrap();
    }
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("gantry did not exit; got:\n{}", text(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(writer);
    let _ = pump.join();
    let t = text(&out);
    (code, t)
}
