//! A job's trace: output masked line by line (`report::mask`), kept whole in memory, and sent
//! to GitLab in increments (`PATCH /api/v4/jobs/:id/trace` with `Content-Range`), as GitLab
//! Runner does: a 416 answer names the size GitLab has and the runner resends from there; the
//! answer's `Job-Status` tells the runner that the job was canceled.

use super::client::{Answer, Client, ClientError};
use crate::executor::{OutputSink, Stream};
use crate::report::mask::LineMasker;
use bytes::Bytes;
use http::Method;
use std::sync::Mutex;
use std::time::Duration;

/// The masked output of one job.
pub struct Trace {
    state: Mutex<State>,
}

struct State {
    masker: LineMasker,
    text: Vec<u8>,
}

impl Trace {
    /// An empty trace that hides `secrets`.
    pub fn new(secrets: Vec<String>) -> Self {
        Trace {
            state: Mutex::new(State {
                masker: LineMasker::new(secrets),
                text: Vec::new(),
            }),
        }
    }

    /// A line of the runner's own, masked too.
    pub fn line(&self, text: &str) {
        self.write(Stream::Stdout, format!("{text}\n").as_bytes());
    }

    /// Ends the last unterminated line.
    pub fn finish(&self) {
        if let Ok(mut s) = self.state.lock()
            && let Some(last) = s.masker.finish()
        {
            s.text.extend_from_slice(last.as_bytes());
            s.text.push(b'\n');
        }
    }

    /// The bytes from `offset` on.
    pub fn since(&self, offset: usize) -> Vec<u8> {
        self.state
            .lock()
            .map(|s| s.text.get(offset..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }

    /// Size and CRC-32 of the whole trace, as the final update reports them.
    pub fn summary(&self) -> (usize, String) {
        self.state
            .lock()
            .map(|s| {
                (
                    s.text.len(),
                    format!("crc32:{:08x}", crc32fast::hash(&s.text)),
                )
            })
            .unwrap_or_else(|_| (0, String::new()))
    }
}

impl OutputSink for Trace {
    fn write(&self, _stream: Stream, data: &[u8]) {
        if let Ok(mut s) = self.state.lock() {
            for line in s.masker.push(data) {
                s.text.extend_from_slice(line.as_bytes());
                s.text.push(b'\n');
            }
        }
    }
}

/// What GitLab said about the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// Still running.
    Running,
    /// Canceled (or being canceled): stop the job.
    Cancel,
}

/// `Job-Status` (and 403: the job is no longer running) as [`Remote`].
pub fn remote(answer: &Answer) -> Remote {
    let stopped = matches!(
        answer.header("Job-Status"),
        Some("canceled" | "canceling" | "failed" | "success")
    );
    if stopped || answer.status == 403 {
        Remote::Cancel
    } else {
        Remote::Running
    }
}

/// Sends a trace in increments.
pub struct Uploader {
    client: Client,
    path: String,
    token: String,
    sent: usize,
    /// How often to send, as GitLab last asked (`X-GitLab-Trace-Update-Interval`).
    pub interval: Duration,
}

impl Uploader {
    /// An uploader for job `id`.
    pub fn new(client: Client, id: u64, token: String) -> Self {
        Uploader {
            client,
            path: format!("/api/v4/jobs/{id}/trace"),
            token,
            sent: 0,
            interval: Duration::from_secs(3),
        }
    }

    /// Sends what GitLab does not have yet; `None` when there was nothing new.
    pub async fn push(&mut self, trace: &Trace) -> Result<Option<Remote>, ClientError> {
        let data = trace.since(self.sent);
        if data.is_empty() {
            return Ok(None);
        }
        let range = format!("{}-{}", self.sent, self.sent + data.len() - 1);
        let len = data.len();
        let answer = self
            .client
            .send(
                Method::PATCH,
                &self.path,
                &[
                    ("JOB-TOKEN", &self.token),
                    ("Content-Type", "text/plain"),
                    ("Content-Range", &range),
                ],
                Bytes::from(data),
            )
            .await?;
        if let Some(secs) = answer
            .header("X-GitLab-Trace-Update-Interval")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            self.interval = Duration::from_secs(secs);
        }
        match answer.status {
            202 => self.sent += len,
            // GitLab has a different size: resend from where it is.
            416 => {
                if let Some(end) = answer
                    .header("Range")
                    .and_then(|r| r.rsplit('-').next())
                    .and_then(|e| e.parse::<usize>().ok())
                {
                    self.sent = end.min(self.sent + len);
                }
            }
            _ => {}
        }
        Ok(Some(remote(&answer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_is_masked_and_sliced_by_offset() {
        let t = Trace::new(vec!["hunter22".into()]);
        t.write(Stream::Stdout, b"password hunter");
        t.write(Stream::Stderr, b"22 ok\npartial");
        assert_eq!(t.since(0), b"password [MASKED] ok\n");
        t.finish();
        assert_eq!(t.since(21), b"partial\n");
        let (size, sum) = t.summary();
        assert_eq!(size, 29);
        assert!(sum.starts_with("crc32:"));
    }
}
