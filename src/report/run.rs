//! What `gantry run` shows: live job output with an aligned, coloured job-name prefix (or one
//! JSON event per line), GitLab section markers collapsed, masked values hidden, one log file per
//! job, a summary table, and a JUnit report.

use super::mask::LineMasker;
use crate::executor::{OutputSink, Stream};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How output is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Prefixed lines for people.
    Human {
        /// ANSI colours.
        color: bool,
        /// Only job starts, ends and the summary, not job output.
        quiet: bool,
        /// Keep a live status line of running jobs at the bottom (TTY only).
        status: bool,
    },
    /// One JSON object per line.
    Json,
    /// Nothing on standard output: a [`RunObserver`] gets the events (`gantry serve`).
    Silent,
}

/// Receives a run's events as they happen, so a caller other than the console (`gantry serve`)
/// can record statuses and logs without a second runner.
pub trait RunObserver: Send + Sync {
    /// A job's needs and stage are satisfied: it waits for a slot (GitLab's `pending`).
    fn job_pending(&self, _job: &str) {}
    /// A job attempt starts.
    fn job_started(&self, job: &str, attempt: u32);
    /// A job ends (or is skipped, canceled, left manual).
    fn job_finished(&self, result: &JobResult);
    /// One complete line of job output, masked, section markers collapsed, ANSI kept.
    fn job_line(&self, job: &str, stream: Stream, line: &str);
    /// A line about the pipeline itself.
    fn note(&self, text: &str);
}

/// One row of the final summary.
#[derive(Clone, Debug)]
pub struct JobResult {
    /// Concrete job name.
    pub name: String,
    /// Stage.
    pub stage: String,
    /// `success`, `failed`, `skipped`, …
    pub status: String,
    /// Why it was skipped or failed, if known.
    pub detail: Option<String>,
    /// Wall time of the last attempt.
    pub duration: Option<Duration>,
    /// Exit code of the last attempt.
    pub exit_code: Option<i32>,
    /// Attempts made.
    pub attempts: u32,
    /// Set when the job was not run but reused (`gantry run --reuse`): the original run.
    pub reused: Option<ReusedFrom>,
}

/// The earlier run a reused job's result comes from.
#[derive(Clone, Debug)]
pub struct ReusedFrom {
    /// When it finished, `YYYY-MM-DDTHH:MM:SS+00:00`.
    pub date: String,
    /// How long the job took then.
    pub duration: Duration,
}

/// Shared, thread-safe output for one pipeline run.
pub struct Reporter {
    mode: Mode,
    width: usize,
    colors: HashMap<String, u8>,
    log_dir: Option<PathBuf>,
    secrets: Vec<String>,
    logs: Mutex<HashMap<String, Option<std::fs::File>>>,
    out: Mutex<Console>,
    observer: Option<Arc<dyn RunObserver>>,
}

/// Standard output plus the live status line drawn below the log lines.
struct Console {
    stdout: std::io::Stdout,
    status: Option<StatusLine>,
}

/// Which jobs are running, redrawn after every line of output.
#[derive(Default)]
struct StatusLine {
    running: Vec<String>,
    done: usize,
    total: usize,
    drawn: bool,
}

impl StatusLine {
    fn text(&self, width: usize) -> String {
        let text = format!(
            "▶ {}/{} done · running: {}",
            self.done,
            self.total,
            if self.running.is_empty() {
                "-".to_string()
            } else {
                self.running.join(", ")
            }
        );
        if text.chars().count() > width {
            let cut: String = text.chars().take(width.saturating_sub(1)).collect();
            format!("{cut}…")
        } else {
            text
        }
    }
}

/// Console lines that arrived while an interactive shell owned the terminal.
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Prints the lines held back while a shell owned the terminal.
pub fn release_held() {
    let lines = std::mem::take(&mut *HELD.lock().unwrap_or_else(|e| e.into_inner()));
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

const PALETTE: [u8; 6] = [36, 33, 35, 32, 34, 31];

/// Milliseconds since the epoch, with microsecond precision (the benchmark measures
/// scheduling latency from these).
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
}

impl Reporter {
    /// A reporter for jobs named `names`; per-job logs go to `log_dir`, `secrets` are masked.
    pub fn new(
        mode: Mode,
        names: &[String],
        log_dir: Option<PathBuf>,
        secrets: Vec<String>,
    ) -> Arc<Reporter> {
        Self::observed(mode, names, log_dir, secrets, None)
    }

    /// Like [`Reporter::new`], also handing every event to `observer`.
    pub fn observed(
        mode: Mode,
        names: &[String],
        log_dir: Option<PathBuf>,
        secrets: Vec<String>,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Arc<Reporter> {
        if let Some(d) = &log_dir {
            let _ = std::fs::create_dir_all(d);
        }
        Arc::new(Reporter {
            mode,
            width: names
                .iter()
                .map(|n| n.chars().count())
                .max()
                .unwrap_or(0)
                .min(40),
            colors: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), PALETTE[i % PALETTE.len()]))
                .collect(),
            log_dir,
            secrets,
            logs: Mutex::new(HashMap::new()),
            out: Mutex::new(Console {
                stdout: std::io::stdout(),
                status: matches!(mode, Mode::Human { status: true, .. }).then(|| StatusLine {
                    total: names.len(),
                    ..StatusLine::default()
                }),
            }),
            observer,
        })
    }

    fn emit(&self, line: &str) {
        self.emit_then(line, |_| {});
    }

    /// Prints `line` above the status line, after applying `update` to the status.
    fn emit_then(&self, line: &str, update: impl FnOnce(&mut StatusLine)) {
        if self.mode == Mode::Silent {
            return;
        }
        if crate::executor::terminal::held() {
            // A shell owns the terminal: the line waits until it closes.
            HELD.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line.to_string());
            return;
        }
        let Ok(mut console) = self.out.lock() else {
            return;
        };
        let Console { stdout, status } = &mut *console;
        let mut out = stdout.lock();
        let Some(status) = status else {
            let _ = writeln!(out, "{line}");
            return;
        };
        update(status);
        if status.drawn {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{line}");
        let _ = write!(out, "{}", status.text(100));
        let _ = out.flush();
        status.drawn = true;
    }

    /// Removes the status line (before the summary).
    fn clear_status(&self) {
        if let Ok(mut console) = self.out.lock()
            && let Some(status) = console.status.take()
            && status.drawn
        {
            let _ = write!(console.stdout, "\r\x1b[2K");
        }
    }

    fn event(&self, value: serde_json::Value) {
        if self.mode == Mode::Json {
            self.emit(&value.to_string());
        }
    }

    fn prefix(&self, job: &str) -> String {
        let name: String = job.chars().take(self.width).collect();
        let pad = " ".repeat(self.width.saturating_sub(name.chars().count()));
        match self.mode {
            Mode::Human { color: true, .. } => {
                let c = self.colors.get(job).copied().unwrap_or(37);
                format!("\x1b[{c}m{name}{pad}\x1b[0m │ ")
            }
            _ => format!("{name}{pad} │ "),
        }
    }

    /// A line about the pipeline itself (not from a job).
    pub fn note(&self, text: &str) {
        if let Some(o) = &self.observer {
            o.note(text);
        }
        match self.mode {
            Mode::Silent => {}
            Mode::Json => self.event(json!({"event": "note", "time": now_ms(), "text": text})),
            Mode::Human { .. } => self.emit(text),
        }
    }

    /// The pipeline starts.
    pub fn pipeline_started(&self, iid: u64, jobs: usize, executor: &str) {
        match self.mode {
            Mode::Silent => {}
            Mode::Json => self.event(json!({"event": "pipeline_started", "time": now_ms(), "iid": iid, "jobs": jobs, "executor": executor})),
            Mode::Human { .. } => self.emit(&format!("pipeline #{iid}: {jobs} job{} ({executor} executor)", if jobs == 1 { "" } else { "s" })),
        }
    }

    /// A job may start and waits for a slot (only the observer hears it).
    pub fn job_pending(&self, job: &str) {
        if let Some(o) = &self.observer {
            o.job_pending(job);
        }
    }

    /// A job attempt starts.
    pub fn job_started(&self, job: &str, attempt: u32) {
        if let Some(o) = &self.observer {
            o.job_started(job, attempt);
        }
        match self.mode {
            Mode::Silent => {}
            Mode::Json => self.event(
                json!({"event": "job_started", "time": now_ms(), "job": job, "attempt": attempt}),
            ),
            Mode::Human { .. } => {
                let again = if attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                let name = job.to_string();
                self.emit_then(&format!("{}▶ started{again}", self.prefix(job)), |s| {
                    if !s.running.contains(&name) {
                        s.running.push(name);
                    }
                });
            }
        }
    }

    /// A job ends (or is skipped).
    pub fn job_finished(&self, r: &JobResult) {
        if let Some(o) = &self.observer {
            o.job_finished(r);
        }
        match self.mode {
            Mode::Silent => {}
            Mode::Json => {
                let mut e = json!({
                    "event": "job_finished", "time": now_ms(), "job": r.name, "stage": r.stage, "status": r.status,
                    "detail": r.detail, "exit_code": r.exit_code, "attempts": r.attempts,
                    "duration_ms": r.duration.map(|d| d.as_millis() as u64),
                });
                if let Some(from) = &r.reused {
                    e["reused"] = json!(true);
                    e["reused_from"] =
                        json!({"date": from.date, "duration_ms": from.duration.as_millis() as u64});
                }
                self.event(e);
            }
            Mode::Human { .. } => {
                let mark = match r.status.as_str() {
                    "success" => "✓",
                    "reused" => "↺",
                    "failed" => "✗",
                    s if s.starts_with("failed") => "!",
                    _ => "·",
                };
                let took = r
                    .duration
                    .map(|d| format!(" in {}", human(d)))
                    .unwrap_or_default();
                let code = r
                    .exit_code
                    .filter(|c| *c != 0)
                    .map(|c| format!(", exit {c}"))
                    .unwrap_or_default();
                let detail = r
                    .detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                let line = format!(
                    "{}{mark} {}{took}{code}{detail}",
                    self.prefix(&r.name),
                    r.status
                );
                self.emit_then(&line, |s| {
                    s.running.retain(|n| *n != r.name);
                    s.done += 1;
                });
            }
        }
    }

    /// One complete, already-masked line of job output.
    fn job_line(&self, job: &str, stream: Stream, line: &str) {
        self.job_line_of(job, stream, line, false);
    }

    /// Where `job`'s log goes, if logs are kept.
    pub fn log_path(&self, job: &str) -> Option<PathBuf> {
        self.log_dir
            .as_ref()
            .map(|d| d.join(format!("{}.log", crate::plan::slug::slug(job))))
    }

    /// Replays the masked `log` of an earlier run of `job`, marked as reused.
    pub fn replay(&self, job: &str, log: &str, from: &ReusedFrom) {
        if let Some(o) = &self.observer {
            o.job_started(job, 1);
        }
        match self.mode {
            Mode::Silent => {}
            Mode::Json => self.event(json!({
                "event": "job_started", "time": now_ms(), "job": job, "attempt": 1, "reused": true,
            })),
            Mode::Human { .. } => self.emit(&format!(
                "{}↺ reused: output of the run of {} (took {})",
                self.prefix(job),
                from.date,
                human(from.duration)
            )),
        }
        for line in log.lines() {
            self.job_line_of(job, Stream::Stdout, line, true);
        }
    }

    fn job_line_of(&self, job: &str, stream: Stream, line: &str, reused: bool) {
        if let Some(dir) = &self.log_dir
            && let Ok(mut logs) = self.logs.lock()
        {
            // A log that cannot be created is skipped (None), not retried for every line.
            let file = logs.entry(job.to_string()).or_insert_with(|| {
                let path = dir.join(format!("{}.log", crate::plan::slug::slug(job)));
                std::fs::File::create(path).ok()
            });
            if let Some(file) = file {
                let _ = writeln!(file, "{line}");
            }
        }
        let Some(shown) = collapse_sections(line) else {
            return;
        };
        if let Some(o) = &self.observer {
            o.job_line(job, stream, &shown);
        }
        match self.mode {
            Mode::Silent => {}
            Mode::Json => {
                let mut e = json!({
                    "event": "log", "time": now_ms(), "job": job,
                    "stream": if stream == Stream::Stderr { "stderr" } else { "stdout" }, "line": strip_ansi(&shown),
                });
                if reused {
                    e["reused"] = json!(true);
                }
                self.event(e);
            }
            Mode::Human { quiet: true, .. } => {}
            Mode::Human { color, .. } => {
                let text = if color { shown } else { strip_ansi(&shown) };
                self.emit(&format!("{}{text}", self.prefix(job)));
            }
        }
    }

    /// An output sink for one job attempt.
    pub fn sink(self: &Arc<Self>, job: &str, extra_secrets: &[String]) -> Arc<JobSink> {
        let mut secrets = self.secrets.clone();
        secrets.extend(extra_secrets.iter().cloned());
        Arc::new(JobSink {
            reporter: self.clone(),
            job: job.to_string(),
            masker: Mutex::new(LineMasker::new(secrets)),
        })
    }

    /// The summary table.
    pub fn summary(&self, results: &[JobResult], outcome: &str, elapsed: Duration) {
        self.clear_status();
        match self.mode {
            Mode::Silent => {}
            Mode::Json => self.event(json!({"event": "pipeline_finished", "time": now_ms(), "status": outcome, "duration_ms": elapsed.as_millis() as u64})),
            Mode::Human { .. } => {
                let w = results.iter().map(|r| r.name.chars().count()).max().unwrap_or(3).max(3);
                let sw = results.iter().map(|r| r.stage.chars().count()).max().unwrap_or(5).max(5);
                let mut t = format!("\n{}  {}  {:<16}  {:>9}  EXIT\n", super::pad("JOB", w), super::pad("STAGE", sw), "STATUS", "DURATION");
                for r in results {
                    let d = r.duration.map(human).unwrap_or_else(|| "-".into());
                    let code = r.exit_code.map_or("-".to_string(), |c| c.to_string());
                    t.push_str(&format!("{}  {}  {:<16}  {d:>9}  {code}\n", super::pad(&r.name, w), super::pad(&r.stage, sw), r.status));
                }
                t.push_str(&format!("\npipeline {outcome} in {}", human(elapsed)));
                self.emit(&t);
            }
        }
    }
}

/// `1.2s`, `3m04s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// GitLab section markers: `section_start:TS:NAME[opts]\r\e[0KHeader` shows as `» Header`,
/// `section_end:…` lines disappear.
fn collapse_sections(line: &str) -> Option<String> {
    let clear = "\r\x1b[0K";
    if let Some(rest) = line.strip_prefix("section_start:") {
        let (marker, header) = rest.split_once(clear).unwrap_or((rest, ""));
        let name = marker
            .split(':')
            .nth(1)
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("");
        let title = if header.trim().is_empty() {
            name
        } else {
            header.trim()
        };
        return Some(format!("» {title}"));
    }
    if line.starts_with("section_end:") {
        let after = line.split_once(clear).map(|(_, a)| a).unwrap_or("");
        return (!after.trim().is_empty()).then(|| after.to_string());
    }
    Some(line.replace(clear, ""))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Output of one job attempt: assembles lines, masks them, hands them to the reporter.
pub struct JobSink {
    reporter: Arc<Reporter>,
    job: String,
    masker: Mutex<LineMasker>,
}

impl JobSink {
    /// Emits a final unterminated line, if any.
    pub fn flush(&self) {
        let last = self.masker.lock().ok().and_then(|mut m| m.finish());
        if let Some(line) = last {
            self.reporter.job_line(&self.job, Stream::Stdout, &line);
        }
    }
}

impl OutputSink for JobSink {
    fn write(&self, stream: Stream, data: &[u8]) {
        let lines = match self.masker.lock() {
            Ok(mut m) => m.push(data),
            Err(_) => return,
        };
        for line in lines {
            self.reporter.job_line(&self.job, stream, &line);
        }
    }
}

/// A JUnit document: one test case per job, then the suites of collected `reports:junit` files.
pub fn junit(results: &[JobResult], collected: &[(String, String)]) -> String {
    let failures = results.iter().filter(|r| r.status == "failed").count();
    let skipped = results
        .iter()
        .filter(|r| {
            !matches!(r.status.as_str(), "success" | "reused") && !r.status.starts_with("failed")
        })
        .count();
    let total: f64 = results
        .iter()
        .filter_map(|r| r.duration)
        .map(|d| d.as_secs_f64())
        .sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    x.push_str(&format!(
        "  <testsuite name=\"gantry pipeline\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        results.len()
    ));
    for r in results {
        let time = r.duration.map_or(0.0, |d| d.as_secs_f64());
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\"",
            esc(&r.stage),
            esc(&r.name)
        ));
        let detail = esc(r.detail.as_deref().unwrap_or(""));
        match r.status.as_str() {
            "success" => x.push_str("/>\n"),
            "reused" => x.push_str(">\n      <system-out>reused from an earlier run</system-out>\n    </testcase>\n"),
            "failed" => x.push_str(&format!(
                ">\n      <failure message=\"exit code {}\">{detail}</failure>\n    </testcase>\n",
                r.exit_code.map_or("-".into(), |c| c.to_string())
            )),
            s if s.starts_with("failed") => x.push_str(&format!(">\n      <system-out>allowed failure, exit code {}</system-out>\n    </testcase>\n", r.exit_code.map_or("-".into(), |c| c.to_string()))),
            s => x.push_str(&format!(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", esc(&format!("{s}{}", r.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())))),
        }
    }
    x.push_str("  </testsuite>\n");
    for (_, report) in collected {
        if let Some(suites) = suites_of(report) {
            x.push_str(&suites);
            x.push('\n');
        }
    }
    x.push_str("</testsuites>\n");
    x
}

/// The `<testsuite>` elements of a JUnit file (its root may be `<testsuites>` or `<testsuite>`).
fn suites_of(report: &str) -> Option<String> {
    let body = report.trim();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim(),
        None => body,
    };
    if body.starts_with("<testsuites") {
        let open_end = body.find('>')?;
        let close = body.rfind("</testsuites>")?;
        Some(body[open_end + 1..close].trim().to_string())
    } else if body.starts_with("<testsuite") && body.ends_with('>') {
        Some(body.to_string())
    } else {
        None
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_lists_running_jobs_and_fits_the_width() {
        let s = StatusLine {
            running: vec!["build".into(), "lint".into()],
            done: 3,
            total: 9,
            drawn: false,
        };
        assert_eq!(s.text(100), "▶ 3/9 done · running: build, lint");
        assert_eq!(s.text(12).chars().count(), 12);
        assert!(s.text(12).ends_with('…'));
    }

    #[test]
    fn sections_collapse() {
        assert_eq!(
            collapse_sections(
                "section_start:1700000000:build_step[collapsed=true]\r\x1b[0KBuilding"
            )
            .as_deref(),
            Some("» Building")
        );
        assert_eq!(
            collapse_sections("section_end:1700000000:build_step\r\x1b[0K"),
            None
        );
        assert_eq!(collapse_sections("plain").as_deref(), Some("plain"));
    }
}
