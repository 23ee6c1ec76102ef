//! Helpers shared by the integration tests: throw-away git repositories and the gantry binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs git with a fixed identity and default branch; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test User",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=master",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository `name` holding `pipeline` as .gitlab-ci.yml, committed on `master`.
pub fn repo(name: &str, pipeline: &str, message: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", message]);
    (tmp, dir)
}

/// `gantry ARGS` in `dir` with colours off; (exit code, stdout, stderr).
pub fn gantry(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_VAR_PIPELINE_KIND")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lists the workspace (every path, `.git` included: kind, mode, content hash), one line each
/// prefixed with `ls|`. POSIX sh, so busybox images can run it too.
pub const LIST_SH: &str = "find . | LC_ALL=C sort | while IFS= read -r p; do\n\
  if [ -L \"$p\" ]; then echo \"ls| L $p -> $(readlink \"$p\")\"\n\
  elif [ -f \"$p\" ]; then echo \"ls| F $p $(stat -c %a \"$p\") $(sha256sum < \"$p\" | cut -c1-16)\"\n\
  else echo \"ls| D $p $(stat -c %a \"$p\")\"; fi\n\
done\n";

/// What the dirty job does: new files and directories, an ignored file, a deleted and two edited
/// tracked files (one keeping its size, right after the job starts), modes, a symlink, and the
/// untracked file removed. It lists the workspace first, as a fresh slot holds it.
pub const DIRTY: &str = concat!(
    "    - sh list.sh\n",
    "    - printf BBBB > same.txt\n",
    "    - echo changed >> a.txt\n",
    "    - rm b.txt\n",
    "    - mkdir -p newdir/deep && echo x > newdir/deep/x && echo y > new.txt\n",
    "    - echo junk > ignored.log\n",
    "    - chmod 700 dir && chmod 755 dir/c.txt\n",
    "    - ln -s /etc/passwd link\n",
    "    - rm -f u.txt\n",
    "    - echo slot=$CI_CONCURRENT_ID\n",
);

pub fn lines(events: &[serde_json::Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "log" && e["job"] == job)
        .map(|e| e["line"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The `ls|` lines a job printed (each job lists once).
pub fn listing(events: &[serde_json::Value], job: &str) -> Vec<String> {
    let out: Vec<String> = lines(events, job)
        .iter()
        .filter_map(|l| l.strip_prefix("ls| ").map(str::to_string))
        .collect();
    assert!(out.len() > 5, "{job} listed nothing: {out:?}");
    out
}

/// A repository with tracked files, an uncommitted edit, an ignore rule and an untracked file.
pub fn project(pipeline: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = repo("app", pipeline, "c");
    std::fs::write(dir.join("list.sh"), LIST_SH).unwrap();
    std::fs::write(dir.join("a.txt"), "committed a\n").unwrap();
    std::fs::write(dir.join("b.txt"), "committed b\n").unwrap();
    std::fs::write(dir.join("same.txt"), "AAAA").unwrap();
    std::fs::create_dir(dir.join("dir")).unwrap();
    std::fs::write(dir.join("dir/c.txt"), "c\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.log\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "files"]);
    std::fs::write(dir.join("a.txt"), "committed a\nuncommitted edit\n").unwrap();
    std::fs::write(dir.join("u.txt"), "untracked\n").unwrap();
    (t, dir)
}

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
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut m, mut s) = (0, 0);
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    ws.ws_row = 40;
    ws.ws_col = 120;
    // SAFETY: openpty fills two descriptors.
    assert_eq!(
        unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) },
        0
    );
    // SAFETY: just opened, owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    let sfd = slave.as_raw_fd();
    let io = || std::process::Stdio::from(slave.try_clone().unwrap());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(io())
        .stdout(io())
        .stderr(io());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(sfd);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("gantry");
    // The command holds copies of the slave: all must go for the master to see the end.
    drop(cmd);
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

/// Builds `tag`, a `FROM scratch` image holding Debian's static busybox (and a page in `/www`
/// for service tests); Docker's build cache makes a rebuild cheap.
pub fn busybox_image(tag: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed");
    std::fs::copy(busybox, ctx.path().join("busybox")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /www /tmp && echo hello-from-service > /www/index.html\nEXPOSE 8080\n",
    )
    .unwrap();
    let o = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "building {tag}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Makes locally built Docker `images` available to the nodes of the real cluster
/// GANTRY_TEST_KUBECONFIG names, with the command GANTRY_TEST_LOAD_IMAGE gives (run by `sh -c`
/// with the images as its arguments: `testing/cluster/load-image.sh DIR` for the project's test
/// cluster, `kind load docker-image` for kind). Without both it does nothing: kube-sim's pods
/// run on this Docker engine.
pub fn load_into_cluster(images: &[&str]) {
    if std::env::var_os("GANTRY_TEST_KUBECONFIG").is_none() {
        return;
    }
    let Ok(load) = std::env::var("GANTRY_TEST_LOAD_IMAGE") else {
        eprintln!("NOTICE: GANTRY_TEST_LOAD_IMAGE is unset; {images:?} must be on the nodes");
        return;
    };
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("{load} \"$@\""))
        .arg("load-image")
        .args(images)
        .output()
        .expect("running GANTRY_TEST_LOAD_IMAGE");
    assert!(
        o.status.success(),
        "GANTRY_TEST_LOAD_IMAGE ({load}) failed for {images:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The admin kubeconfig of the real cluster GANTRY_TEST_KUBECONFIG names, or `None` for
/// kube-sim; with GANTRY_REQUIRE_CLUSTER=1 (CI) `None` fails the test instead.
pub fn real_cluster() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_TEST_KUBECONFIG").map(PathBuf::from);
    assert!(
        path.is_some() || std::env::var("GANTRY_REQUIRE_CLUSTER").as_deref() != Ok("1"),
        "GANTRY_REQUIRE_CLUSTER=1 but GANTRY_TEST_KUBECONFIG names no cluster"
    );
    path
}

/// A job in `image` with a list of four caches: two pull-push (one keyed by the ref), one
/// `pull`, one `push`. It prints what each cache brought (`NAME=from-IID` or `NAME=miss`) and
/// writes its own pipeline IID into all four.
pub fn cache_list_pipeline(image: &str) -> String {
    format!(
        "job:\n  image: {image}\n  cache:\n    - key: deps-$CI_COMMIT_REF_SLUG\n      paths: [deps/]\n    - key: tools\n      paths: [tools/]\n    - key: seed\n      paths: [seed/]\n      policy: pull\n    - key: report\n      paths: [report/]\n      policy: push\n  script:\n    - for d in deps tools seed report; do if [ -f $d/v ]; then echo \"$d=$(cat $d/v)\"; else echo $d=miss; fi; done\n    - mkdir -p deps tools seed report\n    - echo from-$CI_PIPELINE_IID | tee deps/v tools/v seed/v report/v\n"
    )
}

/// What two runs of [`cache_list_pipeline`] in `dir` must show (`first`, `second`: their
/// output): pull-push caches restored on the second run, the `pull` one never saved, the
/// `push` one saved but never restored.
pub fn assert_cache_lists(dir: &Path, first: &str, second: &str) {
    for miss in ["deps=miss", "tools=miss", "seed=miss", "report=miss"] {
        assert!(first.contains(&format!("job │ {miss}")), "{miss}: {first}");
    }
    for held in ["deps=from-1", "tools=from-1", "seed=miss", "report=miss"] {
        assert!(
            second.contains(&format!("job │ {held}")),
            "{held}: {second}"
        );
    }
    let cache = dir.join(".gantry/cache");
    assert_eq!(
        std::fs::read_to_string(cache.join("report/report/v")).unwrap_or_default(),
        "from-2\n"
    );
    assert!(!cache.join("seed").exists(), "a pull cache was saved");
}
