//! `pods/log`: the container's Docker log stream (stdout and stderr interleaved, as the
//! kubelet serves them), with follow, tailLines, timestamps, sinceSeconds and previous.

use super::{LogOptions, Runtime, RuntimeError};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

impl Runtime {
    /// See [`Runtime::logs`].
    pub(crate) async fn logs_impl(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        opts: LogOptions,
    ) -> Result<BoxStream<'static, Result<bytes::Bytes, RuntimeError>>, RuntimeError> {
        let id = self.container_id(namespace, pod, container, opts.previous)?;
        let mut b = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(opts.follow)
            .timestamps(opts.timestamps);
        b = match opts.tail_lines {
            Some(n) if n >= 0 => b.tail(&n.to_string()),
            _ => b.tail("all"),
        };
        if let Some(s) = opts.since_seconds {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            b = b.since((now - s).max(0) as i32);
        }
        let docker = self.inner.docker.clone();
        let stream = docker
            .logs(&id, Some(b.build()))
            .map(|item| {
                item.map(|out| out.into_bytes())
                    .map_err(|e| RuntimeError::docker("reading container logs", e))
            })
            .boxed();
        Ok(stream)
    }
}
