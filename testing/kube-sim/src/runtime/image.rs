//! Images: the local busybox infra image (built once from busybox-static, since nothing can be
//! pulled) and the pod containers' images under their pull policy, never hanging on a pull.

use super::RuntimeError;
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use std::time::Duration;

/// The infra/helper image: `FROM scratch` + busybox with its applets installed.
pub const INFRA_IMAGE: &str = "kube-sim/busybox-infra:1";

/// How long a pull may take before it counts as failed.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds [`INFRA_IMAGE`] from the host's static busybox unless the engine already has it.
pub async fn ensure_infra_image(docker: &Docker) -> Result<(), RuntimeError> {
    if docker.inspect_image(INFRA_IMAGE).await.is_ok() {
        return Ok(());
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .ok_or_else(|| {
            RuntimeError::Config(
                "no /bin/busybox on this host: install busybox-static so kube-sim can build its infra image".into(),
            )
        })?;
    let io = |e| RuntimeError::Io {
        context: format!("packing {busybox} into the infra image's build context"),
        source: e,
    };
    let binary = std::fs::read(busybox).map_err(io)?;
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/tmp\"]\n";
    let mut tar = tar::Builder::new(Vec::new());
    super::volumes::append_file(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)
        .map_err(io)?;
    super::volumes::append_file(&mut tar, "busybox", &binary, 0o755).map_err(io)?;
    let context = tar.into_inner().map_err(io)?;
    let opts = BuildImageOptionsBuilder::new()
        .t(INFRA_IMAGE)
        .rm(true)
        .labels(&std::collections::HashMap::from([(
            super::labels::LABEL_OWNER,
            "1",
        )]))
        .build();
    let mut build = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    while let Some(item) = build.next().await {
        let info = item.map_err(|e| RuntimeError::docker("building the infra image", e))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Config(format!(
                "building the infra image: {err}"
            )));
        }
    }
    Ok(())
}

/// Why an image is unusable: the container's waiting reason and message.
#[derive(Debug, Clone)]
pub struct ImageFailure {
    /// `ErrImagePull` or `ErrImageNeverPull`.
    pub reason: &'static str,
    /// What kubectl shows.
    pub message: String,
}

/// The effective pull policy: Kubernetes defaults to Always for `:latest`/untagged images.
pub fn pull_policy(container: &serde_json::Value, image: &str) -> String {
    if let Some(p) = container.get("imagePullPolicy").and_then(|p| p.as_str()) {
        return p.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
        "IfNotPresent".into()
    } else {
        "Always".into()
    }
}

/// Makes `image` available under `policy`. A failed `Always` pull of an image present
/// locally uses the local one (no registry is reachable in tests); documented in the README.
pub async fn ensure_image(docker: &Docker, image: &str, policy: &str) -> Result<(), ImageFailure> {
    let present = docker.inspect_image(image).await.is_ok();
    match policy {
        "Never" if present => return Ok(()),
        "Never" => {
            return Err(ImageFailure {
                reason: "ErrImageNeverPull",
                message: format!(
                    "Container image \"{image}\" is not present with pull policy of Never"
                ),
            });
        }
        "IfNotPresent" if present => return Ok(()),
        _ => {}
    }
    match pull(docker, image).await {
        Ok(()) => Ok(()),
        Err(_) if present => Ok(()),
        Err(e) => Err(ImageFailure {
            reason: "ErrImagePull",
            message: format!("failed to pull image \"{image}\": {e}"),
        }),
    }
}

async fn pull(docker: &Docker, image: &str) -> Result<(), String> {
    let (from, tag) = split_tag(image);
    let opts = CreateImageOptionsBuilder::new()
        .from_image(&from)
        .tag(&tag)
        .build();
    let work = async {
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| e.to_string())?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(err);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(PULL_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", PULL_TIMEOUT.as_secs())),
    }
}

/// `repo[:tag]` → (repo, tag), defaulting the tag to `latest`; digests stay in the repo part.
fn split_tag(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_policies() {
        assert_eq!(split_tag("a/b:1"), ("a/b".into(), "1".into()));
        assert_eq!(
            split_tag("reg:5000/b"),
            ("reg:5000/b".into(), "latest".into())
        );
        let c = serde_json::json!({});
        assert_eq!(pull_policy(&c, "x/y:1"), "IfNotPresent");
        assert_eq!(pull_policy(&c, "x/y"), "Always");
        assert_eq!(pull_policy(&c, "x/y:latest"), "Always");
        let c = serde_json::json!({"imagePullPolicy": "Never"});
        assert_eq!(pull_policy(&c, "x/y"), "Never");
    }
}
