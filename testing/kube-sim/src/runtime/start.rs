//! Starting one container of a pod: image under its pull policy (ErrImagePull), environment and
//! volume files (CreateContainerConfigError), create, copy files in, start (StartError), and the
//! bookkeeping of restarts and previous instances.

use super::env::{self, Context};
use super::labels::{self, labels};
use super::pod::{Which, list};
use super::state::{PodEntry, State, backoff};
use super::{Runtime, clock, image, spec, volumes};
use bollard::query_parameters::UploadToContainerOptionsBuilder;
use std::time::{Duration, Instant};

impl Runtime {
    /// Pulls the image per policy, builds the container, copies its files in and starts it.
    pub(crate) async fn start_container(&self, e: &PodEntry, w: Which, i: usize) -> Result<(), ()> {
        let (spec_json, name, img, restart_count, infra, ip) = {
            let Ok(mut live) = e.live.lock() else {
                return Err(());
            };
            let infra = live.infra.clone().unwrap_or_default();
            let ip = live.ip.clone();
            let c = &list(&mut live, w)[i];
            (
                c.spec.clone(),
                c.name.clone(),
                c.image.clone(),
                c.restart_count,
                infra,
                ip,
            )
        };
        let set_waiting = |reason: &str, message: String, retry: Option<Duration>, pull: bool| {
            if let Ok(mut live) = e.live.lock() {
                let c = &mut list(&mut live, w)[i];
                c.state = State::Waiting {
                    reason: reason.into(),
                    message,
                };
                c.next_try = retry.map(|d| Instant::now() + d);
                if pull {
                    c.pull_failed_at = Some(Instant::now());
                }
            }
        };
        let policy = image::pull_policy(&spec_json, &img);
        let pulling = policy != "Never" && self.inner.docker.inspect_image(&img).await.is_err();
        if pulling {
            self.event(e, false, "Pulling", format!("Pulling image \"{img}\""));
        }
        if let Err(f) = image::ensure_image(&self.inner.docker, &img, &policy).await {
            let failures = e
                .live
                .lock()
                .map(|mut l| {
                    let c = &mut list(&mut l, w)[i];
                    c.failures += 1;
                    c.failures
                })
                .unwrap_or(1);
            self.event(e, true, "Failed", f.message.clone());
            self.event(e, true, "Failed", format!("Error: {}", f.reason));
            set_waiting(f.reason, f.message, Some(backoff(failures)), true);
            return Err(());
        }
        let pulled = if pulling {
            format!("Successfully pulled image \"{img}\"")
        } else {
            format!("Container image \"{img}\" already present on machine")
        };
        let ctx = Context {
            pod: &e.pod,
            pod_ip: &ip,
            lookup: &*self.inner.config.lookup,
            api_host: &self.inner.config.api_host,
            api_port: self.inner.config.api_port,
        };
        let sa = env::str_at(&e.pod, "/spec/serviceAccountName").unwrap_or("default");
        let token = self
            .inner
            .config
            .lookup
            .service_account_token(&e.namespace, sa);
        let built = env::environment(&ctx, &spec_json).and_then(|env| {
            volumes::plan(
                &ctx,
                &spec_json,
                &e.uid,
                token.as_deref(),
                &self.inner.config.ca_pem,
            )
            .map(|p| (env, p))
        });
        let (envs, plan) = match built {
            Ok(x) => x,
            Err(msg) => {
                // Retried every 2s: one event per distinct error, not one per attempt.
                let repeated = e.live.lock().is_ok_and(|mut l| {
                    matches!(&list(&mut l, w)[i].state, State::Waiting { message, .. } if *message == msg)
                });
                if !repeated {
                    self.event(e, true, "Failed", format!("Error: {msg}"));
                }
                set_waiting(
                    "CreateContainerConfigError",
                    msg,
                    Some(Duration::from_secs(2)),
                    false,
                );
                return Err(());
            }
        };
        self.event(e, false, "Pulled", pulled);
        let mut l = labels(
            &self.inner.config.instance,
            &e.namespace,
            &e.name,
            &e.uid,
            if w == Which::Init {
                "init"
            } else {
                "container"
            },
        );
        l.insert(labels::LABEL_CONTAINER.into(), name.clone());
        let body = spec::container_body(
            e.pod.pointer("/spec/securityContext"),
            &spec_json,
            &img,
            envs,
            plan.mounts,
            &infra,
            l,
        );
        let cname = format!(
            "{}-{}-{}",
            self.pod_prefix(e),
            labels::safe(&name),
            restart_count
                + u32::from(
                    e.live
                        .lock()
                        .map(|mut l| list(&mut l, w)[i].id.is_some())
                        .unwrap_or(false)
                )
        );
        let id = match self.create(&cname, body).await {
            // Deleted meanwhile: the deletion may already have collected the ids.
            Ok(id) if *e.stop.borrow() => {
                self.remove_container(&id).await;
                return Err(());
            }
            Ok(id) => id,
            Err(err) => {
                self.event(e, true, "Failed", format!("Error: {err}"));
                set_waiting(
                    "CreateContainerError",
                    err.to_string(),
                    Some(Duration::from_secs(2)),
                    false,
                );
                return Err(());
            }
        };
        if !plan.files.is_empty() {
            let uploaded = match volumes::tar_of(&plan.files) {
                Ok(tar) => {
                    let opts = UploadToContainerOptionsBuilder::new().path("/").build();
                    self.inner
                        .docker
                        .upload_to_container(&id, Some(opts), bollard::body_full(tar.into()))
                        .await
                        .map_err(|err| err.to_string())
                }
                Err(err) => Err(err.to_string()),
            };
            if let Err(msg) = uploaded {
                self.remove_container(&id).await;
                set_waiting(
                    "CreateContainerConfigError",
                    format!("copying volume files: {msg}"),
                    Some(Duration::from_secs(2)),
                    false,
                );
                return Err(());
            }
        }
        self.event(e, false, "Created", format!("Created container {name}"));
        if let Err(err) = self.inner.docker.start_container(&id, None).await {
            self.event(e, true, "Failed", format!("Error: {err}"));
            // Kubernetes reports a start failure (e.g. executable not found) as exit 128.
            let old = e.live.lock().ok().and_then(|mut live| {
                let c = &mut list(&mut live, w)[i];
                let had = c.id.is_some();
                let old = c.previous.take();
                c.previous = c.id.replace(id.clone());
                if had {
                    c.restart_count += 1;
                }
                old
            });
            if let Some(old) = old {
                self.remove_container(&old).await;
            }
            let terminated = State::Terminated {
                exit_code: 128,
                reason: "StartError".into(),
                started_at: clock::now(),
                finished_at: clock::now(),
                container_id: id.clone(),
            };
            self.exited(e, w, i, terminated);
            return Err(());
        }
        let image_id = self
            .inner
            .docker
            .inspect_image(&img)
            .await
            .ok()
            .and_then(|i| i.id)
            .unwrap_or_default();
        let started = self
            .inner
            .docker
            .inspect_container(&id, None)
            .await
            .ok()
            .and_then(|i| i.state)
            .and_then(|s| s.started_at)
            .map(|s| clock::trim_docker(&s))
            .unwrap_or_else(clock::now);
        let old = if let Ok(mut live) = e.live.lock() {
            let c = &mut list(&mut live, w)[i];
            let had = c.id.is_some();
            let old_prev = c.previous.take();
            c.previous = c.id.replace(id.clone());
            if had {
                c.restart_count += 1;
            }
            c.image_id = image_id;
            c.pull_failed_at = None;
            c.next_try = None;
            c.state = State::Running {
                started_at: started,
            };
            // Without probes a running container is started and ready.
            c.startup_done = c.spec.get("startupProbe").is_none();
            c.ready = c.startup_done && c.spec.get("readinessProbe").is_none();
            c.started_instant = Some(Instant::now());
            old_prev
        } else {
            None
        };
        // Keep only the previous instance (for `logs --previous`).
        if let Some(old) = old {
            self.remove_container(&old).await;
        }
        self.event(e, false, "Started", format!("Started container {name}"));
        Ok(())
    }
}
