//! Prometheus metrics in the text exposition format: queue depth, running pipelines and jobs,
//! pipeline and job durations, queue latency, webhook results.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

const BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

/// A cumulative histogram with fixed buckets (seconds).
#[derive(Debug, Default)]
pub struct Histogram {
    inner: Mutex<(Vec<u64>, u64, f64)>,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let mut h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if h.0.is_empty() {
            h.0 = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                h.0[i] += 1;
            }
        }
        h.1 += 1;
        h.2 += v;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                h.0.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            h.1, h.2, h.1
        );
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    webhooks: Mutex<BTreeMap<(String, String), u64>>,
    pipelines: Mutex<BTreeMap<String, u64>>,
    running_jobs: AtomicI64,
    /// Seconds pipelines wait in the queue.
    pub queue_latency: Histogram,
    pipeline_duration: Histogram,
    job_duration: Histogram,
}

impl Metrics {
    /// Counts a webhook by forge and result (`queued`, `ignored`, `unauthorized`, …).
    pub fn webhook(&self, forge: &str, result: &str) {
        let mut w = self.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        *w.entry((forge.to_string(), result.to_string()))
            .or_default() += 1;
    }

    /// Counts a finished pipeline.
    pub fn pipeline_finished(&self, status: &str, seconds: f64) {
        let mut p = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        *p.entry(status.to_string()).or_default() += 1;
        self.pipeline_duration.observe(seconds);
    }

    /// A job started.
    pub fn job_started(&self) {
        self.running_jobs.fetch_add(1, Ordering::SeqCst);
    }

    /// A started job ended.
    pub fn job_finished(&self, seconds: f64) {
        self.running_jobs.fetch_sub(1, Ordering::SeqCst);
        self.job_duration.observe(seconds);
    }

    /// The exposition text.
    pub fn render(&self, queue_depth: usize, running_pipelines: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP gantry_queue_depth Pipelines waiting to start.\n# TYPE gantry_queue_depth gauge\ngantry_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP gantry_running_pipelines Pipelines running.\n# TYPE gantry_running_pipelines gauge\ngantry_running_pipelines {running_pipelines}"
        );
        let _ = writeln!(
            out,
            "# HELP gantry_running_jobs Jobs running.\n# TYPE gantry_running_jobs gauge\ngantry_running_jobs {}",
            self.running_jobs.load(Ordering::SeqCst)
        );
        let _ = writeln!(
            out,
            "# HELP gantry_webhooks_total Webhooks received, by forge and result.\n# TYPE gantry_webhooks_total counter"
        );
        for ((forge, result), n) in self
            .webhooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gantry_webhooks_total{{forge=\"{forge}\",result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP gantry_pipelines_total Pipelines finished, by status.\n# TYPE gantry_pipelines_total counter"
        );
        for (status, n) in self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(out, "gantry_pipelines_total{{status=\"{status}\"}} {n}");
        }
        self.queue_latency.render(
            &mut out,
            "gantry_queue_latency_seconds",
            "Time pipelines waited in the queue.",
        );
        self.pipeline_duration.render(
            &mut out,
            "gantry_pipeline_duration_seconds",
            "Pipeline durations.",
        );
        self.job_duration
            .render(&mut out, "gantry_job_duration_seconds", "Job durations.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let m = Metrics::default();
        m.webhook("gitlab", "queued");
        m.webhook("gitlab", "queued");
        m.pipeline_finished("success", 2.0);
        let text = m.render(3, 1);
        assert!(text.contains("gantry_queue_depth 3\n"), "{text}");
        assert!(text.contains("gantry_webhooks_total{forge=\"gitlab\",result=\"queued\"} 2\n"));
        assert!(
            text.contains("gantry_pipeline_duration_seconds_bucket{le=\"5\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("gantry_pipeline_duration_seconds_bucket{le=\"1\"} 0\n"));
    }
}
