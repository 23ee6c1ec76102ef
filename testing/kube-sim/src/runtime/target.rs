//! Which Docker container a logs/exec/attach request means: the named (or default) container
//! of the pod, its current or previous instance, with Kubernetes' error messages.

use super::state::State;
use super::{Runtime, RuntimeError, env};

impl Runtime {
    /// Upload helper for tests and exec: the current Docker id of a pod container.
    pub(crate) fn container_id(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<String, RuntimeError> {
        let e = self
            .pod_entry(namespace, pod)
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("pod {namespace}/{pod}"),
            })?;
        let live = e
            .live
            .lock()
            .map_err(|_| RuntimeError::BadRequest("pod state poisoned".into()))?;
        let c = match container {
            Some(n) => live
                .containers
                .iter()
                .chain(live.init.iter())
                .find(|c| c.name == n)
                .ok_or_else(|| {
                    RuntimeError::BadRequest(format!("container {n} is not valid for pod {pod}"))
                })?,
            None => {
                let default = env::str_at(
                    &e.pod,
                    "/metadata/annotations/kubectl.kubernetes.io~1default-container",
                );
                match default.and_then(|d| live.containers.iter().find(|c| c.name == d)) {
                    Some(c) => c,
                    None if live.containers.len() == 1 => &live.containers[0],
                    None => {
                        let names: Vec<&str> =
                            live.containers.iter().map(|c| c.name.as_str()).collect();
                        return Err(RuntimeError::BadRequest(format!(
                            "a container name must be specified for pod {pod}, choose one of: [{}]",
                            names.join(" ")
                        )));
                    }
                }
            }
        };
        let id = if previous {
            c.previous.clone()
        } else {
            c.id.clone()
        };
        match (id, &c.state) {
            (Some(id), _) => Ok(id),
            (None, State::Waiting { reason, .. }) if !previous => {
                Err(RuntimeError::BadRequest(format!(
                    "container \"{}\" in pod \"{pod}\" is waiting to start: {reason}",
                    c.name
                )))
            }
            _ => Err(RuntimeError::BadRequest(format!(
                "previous terminated container \"{}\" in pod \"{pod}\" not found",
                c.name
            ))),
        }
    }
}
