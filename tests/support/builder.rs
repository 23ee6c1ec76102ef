//! The common test in one expression: a repository holding some files (a pipeline, mostly),
//! gantry run in it with some arguments, and assertions on what it printed and how it exited:
//!
//! ```ignore
//! Test::new()
//!     .pipeline("job:\n  script: echo hi\n")
//!     .args(["run"])
//!     .run()
//!     .success()
//!     .stdout_has("job │ hi");
//! ```
//!
//! Written once so that the set-up every test used to spell out (a temporary directory, `git
//! init`, the identity, a commit, the binary's path, colours off) is not spelled out again.

use std::path::{Path, PathBuf};

/// A repository and a gantry command to run in it.
pub struct Test {
    name: String,
    committed: Vec<(String, String)>,
    uncommitted: Vec<(String, String)>,
    git: bool,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Default for Test {
    fn default() -> Self {
        Test::new()
    }
}

impl Test {
    /// An empty repository `app` (branch `master`), no arguments.
    pub fn new() -> Test {
        Test {
            name: "app".into(),
            committed: Vec::new(),
            uncommitted: Vec::new(),
            git: true,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The repository's directory name (it shows in project paths and names).
    pub fn name(mut self, name: &str) -> Test {
        self.name = name.into();
        self
    }

    /// `.gitlab-ci.yml`, committed.
    pub fn pipeline(self, yaml: &str) -> Test {
        self.file(".gitlab-ci.yml", yaml)
    }

    /// A file at `path` (directories made as needed), committed.
    pub fn file(mut self, path: &str, content: &str) -> Test {
        self.committed.push((path.into(), content.into()));
        self
    }

    /// A file written after the commit: an uncommitted change.
    pub fn uncommitted(mut self, path: &str, content: &str) -> Test {
        self.uncommitted.push((path.into(), content.into()));
        self
    }

    /// A plain directory, not a git repository.
    pub fn no_git(mut self) -> Test {
        self.git = false;
        self
    }

    /// gantry's arguments.
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// An environment variable for gantry.
    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Makes the repository without running anything: (its temporary home, its directory).
    pub fn create(&self) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(&self.name);
        std::fs::create_dir(&dir).unwrap();
        let write = |files: &[(String, String)]| {
            for (path, content) in files {
                let at = dir.join(path);
                std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                std::fs::write(at, content).unwrap();
            }
        };
        write(&self.committed);
        if self.git {
            super::git(&dir, &["init", "-q"]);
            super::git(&dir, &["add", "-A"]);
            super::git(&dir, &["commit", "-q", "--allow-empty", "-m", "test"]);
        }
        write(&self.uncommitted);
        (tmp, dir)
    }

    /// Makes the repository without running gantry (exit code 0, no output): for a test that
    /// runs several commands in it with [`Run::again`].
    pub fn prepare(self) -> Run {
        let (tmp, dir) = self.create();
        Run {
            code: 0,
            stdout: String::new(),
            stderr: String::new(),
            dir,
            env: self.env,
            tmp,
        }
    }

    /// Makes the repository and runs gantry in it.
    pub fn run(self) -> Run {
        let (tmp, dir) = self.create();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut run = Run::in_dir(tmp, dir, &args, &self.env);
        run.env = self.env;
        run
    }
}

/// What a gantry run did, and the repository it ran in (kept until the run is dropped).
pub struct Run {
    /// Exit code (-1 for a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The repository.
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    tmp: tempfile::TempDir,
}

impl Run {
    fn in_dir(
        tmp: tempfile::TempDir,
        dir: PathBuf,
        args: &[&str],
        env: &[(String, String)],
    ) -> Run {
        let out = super::gantry_command(&dir)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir,
            env: Vec::new(),
            tmp,
        }
    }

    /// gantry again in the same repository (its state from this run kept) with `args`.
    pub fn again(self, args: &[&str]) -> Run {
        let env = self.env.clone();
        let mut run = Run::in_dir(self.tmp, self.dir, args, &env);
        run.env = env;
        run
    }

    /// The temporary directory holding the repository (room for files beside it).
    pub fn home(&self) -> &Path {
        self.tmp.path()
    }

    fn context(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts exit code 0.
    pub fn success(self) -> Run {
        self.code(0)
    }

    /// Asserts exit code `code`.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{}", self.context());
        self
    }

    /// Asserts stdout holds `text`.
    pub fn stdout_has(self, text: &str) -> Run {
        self.holds("stdout", text, true)
    }

    /// Asserts stdout does not hold `text`.
    pub fn stdout_lacks(self, text: &str) -> Run {
        self.holds("stdout", text, false)
    }

    /// Asserts stderr holds `text`.
    pub fn stderr_has(self, text: &str) -> Run {
        self.holds("stderr", text, true)
    }

    /// Asserts stderr does not hold `text`.
    pub fn stderr_lacks(self, text: &str) -> Run {
        self.holds("stderr", text, false)
    }

    /// Asserts that `stream` ("stdout" or "stderr") holds `text`, or does not.
    fn holds(self, stream: &str, text: &str, want: bool) -> Run {
        let output = if stream == "stdout" {
            &self.stdout
        } else {
            &self.stderr
        };
        let missing = if want { "no " } else { "" };
        assert!(
            output.contains(text) == want,
            "{missing}{text:?} in {stream}\n{}",
            self.context()
        );
        self
    }

    /// Stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.context()))
    }

    /// Stdout as JSON lines (`--format json` events).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.context()))
            })
            .collect()
    }
}
