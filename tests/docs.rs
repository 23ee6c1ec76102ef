//! Every fenced example in README.md and docs/*.md is checked against the real gantry, so the
//! documentation cannot drift from what the binary does. A block's info string says what it is:
//!
//! - `console`: each `$ COMMAND` line (with `\` continuations) runs in `sh` in a fresh git
//!   project holding the bundled `pipelines/` and `docs/examples/`, with this build's `gantry`
//!   first on `PATH`; what follows it up to the next `$` line is its expected output
//!   (stdout and stderr merged). `…` alone on a line stands for any lines, inside a line for any
//!   text; durations, dates, commit hashes, ports and the project's path are normalised. A
//!   `gantry serve` is stopped once it has printed as many lines as the block shows (its
//!   `127.0.0.1:8080` becomes a free port).
//! - `yaml`: a pipeline that `gantry lint` must accept; `yaml broken`: one it must reject, and
//!   the next block must show every `file:line:col: error[…]` line lint printed; `yaml
//!   variables`: a project variables file `gantry plan --variables-file` must accept.
//!   `file=PATH` additionally requires the block to equal that file of the repository.
//! - `toml project`: a `.gantry/config.toml`, which `gantry lint` must accept; `toml
//!   serve`: a `gantry serve --config` file, read by the server's loader (absolute paths are
//!   moved under a temporary directory, and local repository sources created there).
//! - `sh`: commands for the reader to type (they need root, a cluster or a registry): `sh -n`
//!   must accept them, and every `gantry SUBCOMMAND --option` in them must exist.
//! - `text`: shown as it is (illustrative output that needs more than this test can set up).
//!
//! Any other info string, or none, fails the test: not checking a block is a visible choice.

use crate::support;

use regex::Regex;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One fenced block: where it is, its info string and its lines.
struct Block {
    at: String,
    kind: String,
    attrs: Vec<String>,
    body: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pages whose examples are checked: README.md and every docs/*.md.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The fenced blocks of `page`, in order.
fn blocks(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap();
    let name = page.strip_prefix(root()).unwrap().display().to_string();
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let indent = line.len() - trimmed.len();
                    open = Some((
                        i + 1,
                        info.trim().to_string(),
                        " ".repeat(indent),
                        Vec::new(),
                    ));
                }
            }
            Some((start, info, indent, lines)) => {
                if trimmed == "```" {
                    let mut words = info.split_whitespace().map(str::to_string);
                    out.push(Block {
                        at: format!("{name}:{start}"),
                        kind: words.next().unwrap_or_default(),
                        attrs: words.collect(),
                        body: lines.join("\n") + "\n",
                    });
                    open = None;
                } else {
                    lines.push(
                        line.strip_prefix(indent.as_str())
                            .unwrap_or(line)
                            .to_string(),
                    );
                }
            }
        }
    }
    assert!(open.is_none(), "{name}: a fenced block is never closed");
    out
}

#[test]
fn every_example_in_the_docs_holds() {
    let mut failures = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for page in pages() {
        let blocks = blocks(&page);
        for (i, block) in blocks.iter().enumerate() {
            let label = match block.attrs.first() {
                Some(a) if !a.contains('=') => format!("{} {a}", block.kind),
                _ => block.kind.clone(),
            };
            *counts.entry(label).or_default() += 1;
            let result = match (block.kind.as_str(), block.attrs.first().map(String::as_str)) {
                ("console", _) => check_console(block),
                ("yaml", Some("broken")) => check_broken(block, blocks.get(i + 1)),
                ("yaml", Some("variables")) => check_variables(block),
                ("yaml", _) => check_pipeline(block),
                ("toml", Some("project")) => check_project_config(block),
                ("toml", Some("serve")) => check_serve_config(block),
                ("sh", _) => check_sh(block),
                ("text", _) => Ok(()),
                ("", _) => Err(
                    "no info string: say what the block is (`text` if nothing checks it)".into(),
                ),
                (other, _) => Err(format!("unknown kind `{other}`")),
            }
            .and_then(|()| check_file_attr(block));
            if let Err(e) = result {
                failures.push(format!("{} ({} block): {e}", block.at, block.kind));
            }
        }
    }
    eprintln!("docs examples by kind: {counts:?}");
    let checked: usize = counts
        .iter()
        .filter(|(k, _)| k.as_str() != "text")
        .map(|(_, n)| n)
        .sum();
    assert!(
        checked >= 10,
        "only {checked} checked examples found: is the parser broken?"
    );
    assert!(
        failures.is_empty(),
        "{} examples do not hold:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `file=PATH`: the block must be that file of the repository, byte for byte.
fn check_file_attr(block: &Block) -> Result<(), String> {
    for attr in &block.attrs {
        if let Some(path) = attr.strip_prefix("file=") {
            let file = std::fs::read_to_string(root().join(path))
                .map_err(|e| format!("file={path}: {e}"))?;
            if file != block.body {
                return Err(format!("the block differs from {path}"));
            }
        }
    }
    Ok(())
}

fn gantry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gantry"))
}

/// Writes `body` as `name` in a new temporary directory; (dir, file).
fn scratch(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, body).unwrap();
    (dir, file)
}

fn check_pipeline(block: &Block) -> Result<(), String> {
    let (dir, _) = scratch(".gitlab-ci.yml", &block.body);
    let (code, out, err) = support::gantry(dir.path(), &["lint"]);
    match code {
        0 => Ok(()),
        _ => Err(format!("gantry lint exits {code}:\n{out}{err}")),
    }
}

/// A `broken` pipeline must fail lint, with every diagnostic it prints shown in the next block.
fn check_broken(block: &Block, next: Option<&Block>) -> Result<(), String> {
    let (dir, _) = scratch("broken.yml", &block.body);
    let (code, out, err) = support::gantry(dir.path(), &["lint", "-f", "broken.yml"]);
    if code != 1 {
        return Err(format!(
            "gantry lint must reject it, but exits {code}:\n{out}{err}"
        ));
    }
    let shown = next.map_or("", |b| b.body.as_str());
    let header = Regex::new(r"^broken\.yml(:\d+:\d+: error\[[a-z-]+\]: .*)$").unwrap();
    let mut found = 0;
    for line in out.lines().chain(err.lines()) {
        if let Some(c) = header.captures(line) {
            found += 1;
            if !shown.lines().any(|s| s.ends_with(&c[1])) {
                return Err(format!("the next block does not show lint's `{line}`"));
            }
        }
    }
    match found {
        0 => Err(format!(
            "lint printed no `file:line:col: error[…]` line:\n{out}{err}"
        )),
        _ => Ok(()),
    }
}

fn check_variables(block: &Block) -> Result<(), String> {
    let (dir, _) = scratch("variables.yml", &block.body);
    accepted(dir.path(), &["plan", "--variables-file", "variables.yml"])
}

/// `gantry lint` reads the project's `.gantry/config.toml` and refuses one it cannot use.
fn check_project_config(block: &Block) -> Result<(), String> {
    let (dir, _) = scratch(".gantry/config.toml", &block.body);
    accepted(dir.path(), &["lint"])
}

/// `gantry ARGS` on a one-job pipeline in `dir` succeeds.
fn accepted(dir: &Path, args: &[&str]) -> Result<(), String> {
    std::fs::write(dir.join(".gitlab-ci.yml"), "job:\n  script: [echo]\n").unwrap();
    match support::gantry(dir, args) {
        (0, _, _) => Ok(()),
        (code, out, err) => Err(format!(
            "gantry {} exits {code}:\n{out}{err}",
            args.join(" ")
        )),
    }
}

fn check_serve_config(block: &Block) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    let moved = Regex::new(r#""/(srv|etc|var)/"#)
        .unwrap()
        .replace_all(&block.body, format!("\"{base}/$1/").as_str())
        .into_owned();
    let source = Regex::new(r#"(?m)^source = "(/[^"]+)""#).unwrap();
    for c in source.captures_iter(&moved) {
        std::fs::create_dir_all(&c[1]).unwrap();
    }
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, &moved).unwrap();
    let over = gantry::serve::config::Overrides::default();
    gantry::serve::config::Config::load(Some(file.as_path()), over)
        .map(|_| ())
        .map_err(|e| format!("the serve config loader refuses it: {e}"))
}

/// `sh -n` accepts the block, and every option given to a gantry subcommand exists.
fn check_sh(block: &Block) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-n", "-c", &block.body])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!("sh -n: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let joined = block.body.replace("\\\n", " ");
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "gantry") else {
            continue;
        };
        // A nested subcommand (`gantry runner register`) has options of its own.
        let path: Vec<&str> = words[at + 1..]
            .iter()
            .take(2)
            .take_while(|w| {
                w.starts_with(|c: char| c.is_ascii_lowercase())
                    && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .copied()
            .collect();
        if path.is_empty() {
            continue;
        }
        let sub = path.join(" ");
        let help = helps.entry(sub.clone()).or_insert_with(|| {
            let mut args = path.clone();
            args.push("--help");
            let (_, out, err) = support::gantry(&root(), &args);
            out + &err
        });
        if !help.contains("Usage: gantry") {
            return Err(format!("`gantry {sub}` is no subcommand: {help}"));
        }
        for word in &words[at + 1 + path.len()..] {
            if let Some(option) = word.strip_prefix("--") {
                let option = option.split('=').next().unwrap_or_default();
                let named = Regex::new(&format!(r"--{}\b[^-]", regex::escape(option))).unwrap();
                if !named.is_match(help) {
                    return Err(format!("`gantry {sub}` has no option `--{option}`"));
                }
            }
        }
    }
    Ok(())
}

/// A git project (branch `main`) with the repository's bundled examples, as a reader's
/// checkout of gantry would have them.
fn example_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    for sub in ["pipelines", "docs/examples"] {
        copy_tree(&root().join(sub), &dir.join(sub));
    }
    support::git(&dir, &["init", "-q", "-b", "main"]);
    support::git(&dir, &["add", "."]);
    support::git(&dir, &["commit", "-q", "-m", "examples"]);
    (tmp, dir)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The commands of a console block and the output shown after each.
fn commands(body: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in body.lines() {
        if continued {
            let (command, _) = out.last_mut().unwrap();
            command.push('\n');
            command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            out.push((command.to_string(), Vec::new()));
            continued = line.ends_with('\\');
        } else if let Some((_, expected)) = out.last_mut() {
            expected.push(line.to_string());
        }
    }
    out
}

fn check_console(block: &Block) -> Result<(), String> {
    let commands = commands(&block.body);
    if commands.is_empty() {
        return Err("no `$ command` line".into());
    }
    let (_tmp, dir) = example_project();
    for (command, expected) in commands {
        let serve = command.contains("gantry serve");
        let output = if serve {
            run_server(
                &dir,
                &command.replace("127.0.0.1:8080", "127.0.0.1:0"),
                expected.len(),
            )?
        } else {
            run_command(&dir, &command)?
        };
        let project = dir.display().to_string();
        let actual: Vec<String> = output
            .lines()
            .map(|l| normalise(&l.replace(&project, "/path/to/project")))
            .collect();
        let wanted: Vec<String> = expected.iter().map(|l| normalise(l)).collect();
        if !matches(&wanted, &actual) {
            return Err(format!(
                "`$ {command}` prints (normalised):\n{}\n\nthe block shows (normalised):\n{}",
                actual.join("\n"),
                wanted.join("\n")
            ));
        }
    }
    Ok(())
}

fn shell(dir: &Path, command: &str) -> Command {
    let bin_dir = gantry_bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("exec 2>&1\n{command}")])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    // The reader's examples assume no gantry settings in the environment (GANTRY_VAR_*,
    // GANTRY_CONFIG, GANTRY_LISTEN, … would change what the commands print).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GANTRY_") {
            cmd.env_remove(name);
        }
    }
    // No example may reach the network for an include (the bundled pipelines include
    // GitLab templates); offline, an unread include prints what it always printed.
    cmd.env("GANTRY_OFFLINE", "1").env(
        "GANTRY_CACHE_DIR",
        std::env::temp_dir().join("gantry-tests-no-include-cache"),
    );
    cmd
}

/// Runs a command to its end; one that takes over two minutes is stopped and fails the block.
fn run_command(dir: &Path, command: &str) -> Result<String, String> {
    let mut child = shell(dir, command)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("`{command}` still runs after 120 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap().map_err(|e| e.to_string())
}

/// Starts a long-running command, collects `lines` lines of output (at most 60 s), stops it.
fn run_server(dir: &Path, command: &str, lines: usize) -> Result<String, String> {
    let mut child = shell(dir, &format!("exec {command}"))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < lines {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(got.join("\n"))
}

/// What varies between two runs of the same example, replaced by fixed words; runs of spaces
/// become one (column widths follow the durations).
fn normalise(line: &str) -> String {
    static RULES: std::sync::LazyLock<Vec<(Regex, &str)>> = std::sync::LazyLock::new(|| {
        [
            (
                r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?",
                "<time>",
            ),
            (r"\b\d+(\.\d+)?(ms|s)\b", "<dur>"),
            (r"\b[0-9a-f]{8,64}\b", "<sha>"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
            (r"\bpid \d+", "pid <pid>"),
            (r"/tmp/[^/\s]+", "/tmp/<tmp>"),
            (r" +", " "),
        ]
        .into_iter()
        .map(|(r, to)| (Regex::new(r).unwrap(), to))
        .collect()
    });
    let mut line = line.to_string();
    for (re, to) in RULES.iter() {
        line = re.replace_all(&line, *to).into_owned();
    }
    line.trim_end().to_string()
}

/// Whether `actual` is what `wanted` shows: `…` alone matches any lines, `…` in a line any text.
fn matches(wanted: &[String], actual: &[String]) -> bool {
    let Some((first, rest)) = wanted.split_first() else {
        return actual.is_empty();
    };
    if first == "…" {
        return (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]));
    }
    let Some((line, after)) = actual.split_first() else {
        return false;
    };
    line_matches(first, line) && matches(rest, after)
}

fn line_matches(wanted: &str, actual: &str) -> bool {
    if !wanted.contains('…') {
        return wanted == actual;
    }
    let pattern: Vec<String> = wanted.split('…').map(regex::escape).collect();
    Regex::new(&format!("^{}$", pattern.join(".*")))
        .unwrap()
        .is_match(actual)
}

/// Every subcommand path (`run`, `env list`, …) and every long option of the CLI definition.
fn cli_tree() -> (Vec<String>, Vec<String>) {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, subs: &mut Vec<String>, longs: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long()
                && !longs.iter().any(|l| l == long)
            {
                longs.push(long.to_string());
            }
        }
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name()).trim().to_string();
            subs.push(path.clone());
            walk(sub, &path, subs, longs);
        }
    }
    let (mut subs, mut longs) = (Vec::new(), Vec::new());
    walk(&gantry::cli::Cli::command(), "", &mut subs, &mut longs);
    assert!(subs.iter().any(|s| s == "run") && subs.iter().any(|s| s == "env list"));
    assert!(longs.iter().any(|l| l == "file") && longs.iter().any(|l| l == "kubeconfig"));
    (subs, longs)
}

#[test]
fn completions_name_every_subcommand_and_option() {
    let (subs, longs) = cli_tree();
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, err) = support::gantry(&root(), &["completions", shell]);
        assert_eq!(code, 0, "gantry completions {shell}: {err}");
        for sub in &subs {
            let last = sub.rsplit(' ').next().unwrap();
            assert!(
                script.contains(last),
                "{shell} completion lacks subcommand `{sub}`"
            );
        }
        for long in &longs {
            let option = match shell {
                "fish" => format!("-l {long}"),
                _ => format!("--{long}"),
            };
            assert!(
                script.contains(&option),
                "{shell} completion lacks `--{long}`"
            );
        }
    }
    let out = Command::new("bash")
        .args(["-n", "-c"])
        .arg(support::gantry(&root(), &["completions", "bash"]).1)
        .output();
    if let Ok(out) = out {
        assert!(
            out.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, _, err) = support::gantry(&root(), &["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error: {err}");
}

/// Renders a page with groff (as `man` does, UTF-8 input) and returns its warnings; None when
/// groff is not installed.
fn groff_warnings(page: &Path) -> Option<String> {
    let out = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .ok()?;
    assert!(out.status.success(), "groff fails on {}", page.display());
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn man_page_documents_every_subcommand_and_option() {
    let (subs, longs) = cli_tree();
    let (code, page, err) = support::gantry(&root(), &["man"]);
    assert_eq!(code, 0, "gantry man: {err}");
    assert!(page.contains(".TH gantry 1"), "no .TH header:\n{page}");
    for sub in &subs {
        let heading = format!(".SH \"GANTRY {}\"", sub.to_uppercase());
        assert!(
            page.contains(&heading),
            "the page lacks the section `{heading}`"
        );
    }
    for long in &longs {
        let roff = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
        assert!(
            page.contains(&roff),
            "the page does not document `--{long}`"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("gantry.1");
    std::fs::write(&single, &page).unwrap();
    let (code, _, err) = support::gantry(
        &root(),
        &[
            "man",
            "--dir",
            &dir.path().join("man1").display().to_string(),
        ],
    );
    assert_eq!(code, 0, "gantry man --dir: {err}");
    let mut pages = vec![single];
    for sub in &subs {
        let file = dir
            .path()
            .join("man1")
            .join(format!("gantry-{}.1", sub.replace(' ', "-")));
        assert!(
            file.is_file(),
            "gantry man --dir wrote no {}",
            file.display()
        );
        pages.push(file);
    }
    match pages
        .iter()
        .map(|p| groff_warnings(p).map(|w| (p, w)))
        .collect::<Option<Vec<_>>>()
    {
        None => eprintln!("NOTICE: groff is not installed; the manual pages were not rendered"),
        Some(all) => {
            for (page, warnings) in all {
                assert!(
                    warnings.is_empty(),
                    "groff warns on {}:\n{warnings}",
                    page.display()
                );
            }
        }
    }
}

/// Every relative link of README.md and docs/*.md leads to a file of the repository, and every
/// page under docs/ is linked from the README.
#[test]
fn links_lead_somewhere_and_every_page_is_linked() {
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for c in link.captures_iter(&text) {
            let target = c[1].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") {
                continue;
            }
            if !page.parent().unwrap().join(target).exists() {
                broken.push(format!("{}: {}", page.display(), &c[1]));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for page in pages().iter().skip(1) {
        let name = format!("](docs/{})", page.file_name().unwrap().to_string_lossy());
        assert!(readme.contains(&name), "README.md does not link {name}");
    }
}

/// The README's two set-up commands are the ones CI runs (`.ci/run`), so the first thing a
/// newcomer types is known to work.
#[test]
fn setup_commands_are_what_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let setup = readme
        .split("## Set-up: two commands")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README.md has a `## Set-up: two commands` section with an sh block");
    let commands: Vec<&str> = setup
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "two set-up commands: {commands:?}");
    for command in commands {
        assert!(
            ci.lines().any(|l| l.trim().starts_with(command)),
            "`{command}` is not what .ci/run runs"
        );
    }
}
