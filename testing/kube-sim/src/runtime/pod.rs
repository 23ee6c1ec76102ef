//! A pod's life: the infra container owning its network namespace, init containers in order,
//! app containers under the restart policy with crash/pull back-off, probes, and a status
//! event whenever what Kubernetes would report changes. One supervisor task per pod.

use super::env::{self, Context};
use super::image;
use super::labels::{self, labels};
use super::state::{Ctr, Live, PodEntry, State, backoff};
use super::status::{pod_status, restart_policy, restarts};
use super::{Runtime, RuntimeError, RuntimeEvent, clock, probes, spec, volumes};
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the supervisor looks at the containers.
const TICK: Duration = Duration::from_millis(400);

/// Init or app container list.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Init,
    App,
}

fn list(live: &mut Live, w: Which) -> &mut Vec<Ctr> {
    match w {
        Which::Init => &mut live.init,
        Which::App => &mut live.containers,
    }
}

impl Runtime {
    /// See [`Runtime::start_pod`].
    pub(crate) async fn start_pod_impl(&self, pod: Value) -> Result<(), RuntimeError> {
        let s = |p: &str| env::str_at(&pod, p).map(str::to_string);
        let (Some(name), Some(uid)) = (s("/metadata/name"), s("/metadata/uid")) else {
            return Err(RuntimeError::BadRequest(
                "pod without metadata.name or metadata.uid".into(),
            ));
        };
        let namespace = s("/metadata/namespace").unwrap_or_else(|| "default".into());
        let existing = self.pod_entry(&namespace, &name);
        if let Some(e) = existing {
            if e.uid == uid {
                return Ok(());
            }
            self.delete_pod_impl(&namespace, &name, Duration::ZERO)
                .await;
        }
        let specs = |field: &str| -> Vec<Ctr> {
            pod.pointer(&format!("/spec/{field}"))
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
                .map(Ctr::new)
                .collect()
        };
        let live = Live {
            init: specs("initContainers"),
            containers: specs("containers"),
            initialized: specs("initContainers").is_empty(),
            ..Default::default()
        };
        if live.containers.is_empty() {
            return Err(RuntimeError::BadRequest(format!(
                "pod {namespace}/{name} has no containers"
            )));
        }
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let entry = Arc::new(PodEntry {
            namespace: namespace.clone(),
            name: name.clone(),
            uid,
            pod,
            live: std::sync::Mutex::new(live),
            stop,
        });
        if let Ok(mut pods) = self.inner.pods.lock() {
            pods.insert((namespace, name), entry.clone());
        }
        let rt = self.clone();
        tokio::spawn(async move { rt.supervise(entry, stop_rx).await });
        Ok(())
    }

    /// The live entry of a pod.
    pub(crate) fn pod_entry(&self, namespace: &str, name: &str) -> Option<Arc<PodEntry>> {
        self.inner
            .pods
            .lock()
            .ok()?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// `kube-sim-<instance>-<namespace>-<pod>-<uid prefix>`: unique across instances.
    fn pod_prefix(&self, e: &PodEntry) -> String {
        format!(
            "kube-sim-{}-{}-{}-{}",
            labels::safe(&self.inner.config.instance),
            labels::safe(&e.namespace),
            labels::safe(&e.name),
            labels::short(&e.uid)
        )
    }

    /// Sends a Kubernetes Event about the pod.
    fn event(&self, e: &PodEntry, warning: bool, reason: &str, message: String) {
        let _ = self.inner.config.events.send(RuntimeEvent::PodEvent {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            uid: e.uid.clone(),
            type_: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            message,
        });
    }

    /// Recomputes the status and sends it when it changed.
    fn publish(&self, e: &PodEntry) {
        let status = {
            let Ok(mut live) = e.live.lock() else { return };
            let status = pod_status(&mut live, &e.pod, &self.inner.config.api_host);
            if live.last_sent.as_ref() == Some(&status) {
                return;
            }
            live.last_sent = Some(status.clone());
            status
        };
        let _ = self.inner.config.events.send(RuntimeEvent::PodStatus {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            uid: e.uid.clone(),
            status,
        });
    }

    async fn supervise(self, e: Arc<PodEntry>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if let Ok(mut live) = e.live.lock() {
            live.start_time = Some(clock::now());
        }
        self.event(
            &e,
            false,
            "Scheduled",
            format!(
                "Successfully assigned {}/{} to kube-sim",
                e.namespace, e.name
            ),
        );
        self.publish(&e);
        let setup = tokio::select! {
            r = self.setup_infra(&e) => r,
            _ = stop.changed() => return,
        };
        if let Err(err) = setup {
            self.event(&e, true, "FailedCreatePodSandBox", err.to_string());
            if let Ok(mut live) = e.live.lock() {
                live.failed = Some(("FailedCreatePodSandBox".into(), err.to_string()));
            }
            self.publish(&e);
            return;
        }
        self.publish(&e);
        loop {
            if *stop.borrow() {
                return;
            }
            self.step(&e).await;
            self.publish(&e);
            let done = e
                .live
                .lock()
                .map(|l| {
                    matches!(
                        super::status::phase(&l, restart_policy(&e.pod)),
                        "Succeeded" | "Failed"
                    )
                })
                .unwrap_or(true);
            if done {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Creates the pod's network (namespace), emptyDir volumes and infra container; records the IP.
    async fn setup_infra(&self, e: &PodEntry) -> Result<(), RuntimeError> {
        let network = self.network(&e.namespace).await?;
        image::ensure_infra_image(&self.inner.docker).await?;
        let inst = &self.inner.config.instance;
        for v in volumes::empty_dirs(&e.pod) {
            let req = bollard::models::VolumeCreateRequest {
                name: Some(volumes::empty_dir_volume(&e.uid, &v)),
                labels: Some(labels(inst, &e.namespace, &e.name, &e.uid, "volume")),
                ..Default::default()
            };
            self.inner.docker.create_volume(req).await.map_err(|err| {
                RuntimeError::docker(format!("creating emptyDir volume {v}"), err)
            })?;
        }
        let hostname = env::str_at(&e.pod, "/spec/hostname").unwrap_or(&e.name);
        let body = ContainerCreateBody {
            image: Some(image::INFRA_IMAGE.into()),
            entrypoint: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done".into(),
            ]),
            hostname: Some(hostname.chars().take(63).collect()),
            labels: Some(labels(inst, &e.namespace, &e.name, &e.uid, "infra")),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![e.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let name = format!("{}-infra", self.pod_prefix(e));
        let id = self.create(&name, body).await?;
        if let Ok(mut live) = e.live.lock() {
            live.infra = Some(id.clone());
        }
        self.inner
            .docker
            .start_container(&id, None)
            .await
            .map_err(|err| RuntimeError::docker("starting the pod's infra container", err))?;
        let info = self
            .inner
            .docker
            .inspect_container(&id, None)
            .await
            .map_err(|err| RuntimeError::docker("inspecting the pod's infra container", err))?;
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(&network).and_then(|ep| ep.ip_address.clone()))
            .unwrap_or_default();
        if let Ok(mut live) = e.live.lock() {
            live.ip = ip;
        }
        Ok(())
    }

    /// Creates a labelled container (removing a stale one of the same name first).
    pub(crate) async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, RuntimeError> {
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        match self
            .inner
            .docker
            .create_container(Some(opts.clone()), body.clone())
            .await
        {
            Ok(r) => Ok(r.id),
            Err(_) => {
                self.remove_container(name).await;
                self.inner
                    .docker
                    .create_container(Some(opts), body)
                    .await
                    .map(|r| r.id)
                    .map_err(|err| RuntimeError::docker(format!("creating container {name}"), err))
            }
        }
    }

    /// Force-removes a container and its anonymous volumes.
    pub(crate) async fn remove_container(&self, id: &str) {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let _ = self.inner.docker.remove_container(id, Some(opts)).await;
    }

    /// One supervision round: init containers in order, then app containers and probes.
    async fn step(&self, e: &PodEntry) {
        let initialized = e.live.lock().map(|l| l.initialized).unwrap_or(false);
        if !initialized {
            let n = e.live.lock().map(|l| l.init.len()).unwrap_or(0);
            for i in 0..n {
                self.drive(e, Which::Init, i).await;
                let (done, ok) = e
                    .live
                    .lock()
                    .map(|l| match &l.init[i].state {
                        State::Terminated { exit_code, .. } => (true, *exit_code == 0),
                        _ => (false, false),
                    })
                    .unwrap_or((false, false));
                if !(done && ok) {
                    return;
                }
            }
            if let Ok(mut l) = e.live.lock() {
                l.initialized = true;
            }
        }
        let n = e.live.lock().map(|l| l.containers.len()).unwrap_or(0);
        for i in 0..n {
            self.drive(e, Which::App, i).await;
            self.probe(e, i).await;
        }
    }

    /// Moves one container forward: start when due, observe when running, restart per policy.
    async fn drive(&self, e: &PodEntry, w: Which, i: usize) {
        let policy = restart_policy(&e.pod).to_string();
        // Init containers restart on failure unless the policy is Never.
        let init_policy = if policy == "Never" {
            "Never"
        } else {
            "OnFailure"
        };
        let (state, due, id, name, image) = {
            let Ok(mut live) = e.live.lock() else { return };
            let c = &mut list(&mut live, w)[i];
            // ErrImagePull turns into ImagePullBackOff while waiting for the next attempt.
            if let (State::Waiting { reason, .. }, Some(t)) = (&c.state, c.pull_failed_at)
                && reason == "ErrImagePull"
                && t.elapsed() > Duration::from_secs(2)
            {
                c.state = State::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: format!("Back-off pulling image \"{}\"", c.image),
                };
            }
            let due = c.next_try.is_none_or(|t| Instant::now() >= t);
            (
                c.state.clone(),
                due,
                c.id.clone(),
                c.name.clone(),
                c.image.clone(),
            )
        };
        match state {
            State::Running { .. } => {
                let Some(id) = id else { return };
                let Ok(info) = self.inner.docker.inspect_container(&id, None).await else {
                    return;
                };
                let st = info.state.unwrap_or_default();
                if st.running == Some(true) {
                    return;
                }
                let code = st.exit_code.unwrap_or(-1);
                let reason = if st.oom_killed == Some(true) {
                    "OOMKilled"
                } else if code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                let pol = if w == Which::Init {
                    init_policy
                } else {
                    policy.as_str()
                };
                let again = restarts(pol, code);
                if let Ok(mut live) = e.live.lock() {
                    let c = &mut list(&mut live, w)[i];
                    c.ready = false;
                    c.readiness = Default::default();
                    c.liveness = Default::default();
                    let terminated = State::Terminated {
                        exit_code: code,
                        reason: reason.into(),
                        started_at: st
                            .started_at
                            .as_deref()
                            .map(clock::trim_docker)
                            .unwrap_or_default(),
                        finished_at: st
                            .finished_at
                            .as_deref()
                            .map(clock::trim_docker)
                            .unwrap_or_default(),
                        container_id: id.clone(),
                    };
                    if again {
                        c.failures += 1;
                        let delay = backoff(c.failures);
                        c.next_try = Some(Instant::now() + delay);
                        c.last_state = Some(terminated);
                        c.state = State::Waiting {
                            reason: "CrashLoopBackOff".into(),
                            message: format!(
                                "back-off {}s restarting failed container={name} pod={}_{}({})",
                                delay.as_secs(),
                                e.name,
                                e.namespace,
                                e.uid
                            ),
                        };
                    } else {
                        c.state = terminated;
                    }
                }
                if again {
                    self.event(
                        e,
                        true,
                        "BackOff",
                        "Back-off restarting failed container".into(),
                    );
                }
            }
            State::Terminated { .. } => {}
            State::Waiting { .. } if due => {
                if let Err(why) = self.start_container(e, w, i).await {
                    let _ = (why, &image);
                }
            }
            State::Waiting { .. } => {}
        }
    }

    /// Pulls the image per policy, builds the container, copies its files in and starts it.
    async fn start_container(&self, e: &PodEntry, w: Which, i: usize) -> Result<(), ()> {
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
        if policy != "Never" && !self.inner.docker.inspect_image(&img).await.is_ok() {
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
                self.event(e, true, "Failed", format!("Error: {msg}"));
                set_waiting(
                    "CreateContainerConfigError",
                    msg,
                    Some(Duration::from_secs(2)),
                    false,
                );
                return Err(());
            }
        };
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
        let body = spec::container_body(&spec_json, &img, envs, plan.mounts, &infra, l);
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
            if let Ok(mut live) = e.live.lock() {
                let c = &mut list(&mut live, w)[i];
                let old = c.id.replace(id.clone());
                c.previous = old.or(c.previous.take());
                c.state = State::Terminated {
                    exit_code: 128,
                    reason: "StartError".into(),
                    started_at: clock::now(),
                    finished_at: clock::now(),
                    container_id: id.clone(),
                };
            }
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
            // Without a readiness probe a running container is ready.
            c.ready = c.spec.get("readinessProbe").is_none();
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

    /// Runs the container's readiness and liveness probes when due.
    async fn probe(&self, e: &PodEntry, i: usize) {
        let (spec_json, id, infra, ip, mut rd, mut lv, started) = {
            let Ok(live) = e.live.lock() else { return };
            let c = &live.containers[i];
            if !matches!(c.state, State::Running { .. }) {
                return;
            }
            (
                c.spec.clone(),
                c.id.clone().unwrap_or_default(),
                live.infra.clone().unwrap_or_default(),
                live.ip.clone(),
                c.readiness.clone(),
                c.liveness.clone(),
                c.started_instant.unwrap_or_else(Instant::now),
            )
        };
        let mut ready = None;
        if let Some(p) = spec_json.get("readinessProbe") {
            ready = probes::tick(
                &self.inner.docker,
                &infra,
                &id,
                &spec_json,
                p,
                &ip,
                &mut rd,
                started,
            )
            .await;
        }
        let mut dead = false;
        if let Some(p) = spec_json.get("livenessProbe") {
            dead = probes::tick(
                &self.inner.docker,
                &infra,
                &id,
                &spec_json,
                p,
                &ip,
                &mut lv,
                started,
            )
            .await
                == Some(false);
        }
        let name = spec_json
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let mut unready = false;
        if let Ok(mut live) = e.live.lock() {
            let c = &mut live.containers[i];
            if c.id.as_deref() != Some(id.as_str()) {
                return;
            }
            c.readiness = rd;
            c.liveness = lv;
            if let Some(r) = ready {
                unready = c.ready && !r;
                c.ready = r;
            }
        }
        if unready {
            self.event(
                e,
                true,
                "Unhealthy",
                format!("Readiness probe failed for container {name}"),
            );
        }
        if dead {
            self.event(
                e,
                true,
                "Unhealthy",
                format!("Liveness probe failed for container {name}"),
            );
            self.event(
                e,
                false,
                "Killing",
                format!("Container {name} failed liveness probe, will be restarted"),
            );
            let opts = StopContainerOptionsBuilder::new()
                .t(grace_secs(&e.pod))
                .build();
            let _ = self.inner.docker.stop_container(&id, Some(opts)).await;
        }
    }

    /// See [`Runtime::delete_pod`].
    pub(crate) async fn delete_pod_impl(&self, namespace: &str, name: &str, grace: Duration) {
        let key = (namespace.to_string(), name.to_string());
        let Some(e) = self.inner.pods.lock().ok().and_then(|mut p| p.remove(&key)) else {
            return;
        };
        let _ = e.stop.send(true);
        let (ids, infra) = e
            .live
            .lock()
            .map(|l| {
                let mut ids = Vec::new();
                for c in l.init.iter().chain(l.containers.iter()) {
                    let running = matches!(c.state, State::Running { .. });
                    ids.extend(c.id.clone().map(|id| (id, running, c.name.clone())));
                    ids.extend(c.previous.clone().map(|id| (id, false, c.name.clone())));
                }
                (ids, l.infra.clone())
            })
            .unwrap_or_default();
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let stops = ids.iter().map(|(id, running, cname)| {
            if *running {
                self.event(&e, false, "Killing", format!("Stopping container {cname}"));
            }
            let opts = StopContainerOptionsBuilder::new().t(secs).build();
            async move {
                let _ = self.inner.docker.stop_container(id, Some(opts)).await;
                self.remove_container(id).await;
            }
        });
        futures_util::future::join_all(stops).await;
        if let Some(infra) = infra {
            self.remove_container(&infra).await;
        }
        for v in volumes::empty_dirs(&e.pod) {
            let _ = self
                .inner
                .docker
                .remove_volume(
                    &volumes::empty_dir_volume(&e.uid, &v),
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
        }
        self.pod_gone(namespace, name).await;
    }

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

/// The pod's terminationGracePeriodSeconds (default 30).
fn grace_secs(pod: &Value) -> i32 {
    pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(|g| g.as_i64())
        .and_then(|g| i32::try_from(g).ok())
        .unwrap_or(30)
}
