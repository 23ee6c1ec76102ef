//! The Docker side of kube-sim driven directly (no API server): pods really run, status follows
//! them, Service names resolve per namespace, logs/exec work, shutdown reaps everything.
//! Without a Docker engine these tests skip with a notice; with GANTRY_REQUIRE_DOCKER=1 (CI)
//! a missing engine fails them. The test image is built locally from busybox-static.

use futures_util::{SinkExt, StreamExt};
use kube_sim::runtime::{
    ExecRequest, LogOptions, ObjectLookup, Runtime, RuntimeConfig, RuntimeEvent, ServicePort,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const IMAGE: &str = "kube-sim-test/busybox:1";

fn docker(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Builds the test image once; false (after a notice) when no engine is reachable.
fn engine() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        if !docker(&["info"]).0 {
            assert!(
                std::env::var("GANTRY_REQUIRE_DOCKER").as_deref() != Ok("1"),
                "GANTRY_REQUIRE_DOCKER=1 but no Docker engine is reachable"
            );
            eprintln!("NOTICE: no Docker engine reachable; kube-sim runtime tests skipped");
            return false;
        }
        let ctx = tempfile::tempdir().unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect("busybox-static is installed");
        std::fs::copy(busybox, ctx.path().join("busybox")).unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             RUN mkdir -p /www /tmp && echo hello-from-pod > /www/index.html\n",
        )
        .unwrap();
        let (ok, out) = docker(&["build", "-q", "-t", IMAGE, ctx.path().to_str().unwrap()]);
        assert!(ok, "building {IMAGE}: {out}");
        true
    })
}

macro_rules! require_engine {
    () => {
        if !engine() {
            return;
        }
    };
}

/// ConfigMaps/Secrets/tokens held in memory.
#[derive(Default)]
struct Store(Mutex<HashMap<(String, String, String), Value>>);

impl ObjectLookup for Store {
    fn get(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap()
            .get(&(namespace.into(), kind.into(), name.into()))
            .cloned()
    }
    fn service_account_token(&self, namespace: &str, sa: &str) -> Option<String> {
        Some(format!("token-of-{namespace}-{sa}"))
    }
}

struct Sim {
    rt: Runtime,
    events: UnboundedReceiver<RuntimeEvent>,
    store: Arc<Store>,
    instance: String,
    /// Last status per pod name, and events seen.
    statuses: HashMap<String, Value>,
    seen: Vec<(String, String, String)>,
}

impl Sim {
    async fn new(test: &str) -> Sim {
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let store = Arc::new(Store::default());
        let instance = format!("t{}-{test}", std::process::id());
        let rt = Runtime::connect(RuntimeConfig {
            instance: instance.clone(),
            api_host: "172.17.0.1".into(),
            api_port: 6443,
            ca_pem: "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n".into(),
            lookup: store.clone(),
            events: tx,
        })
        .await
        .expect("runtime connects");
        Sim {
            rt,
            events,
            store,
            instance,
            statuses: HashMap::new(),
            seen: Vec::new(),
        }
    }

    fn put(&self, ns: &str, kind: &str, name: &str, obj: Value) {
        self.store
            .0
            .lock()
            .unwrap()
            .insert((ns.into(), kind.into(), name.into()), obj);
    }

    async fn start(&self, ns: &str, name: &str, spec: Value) {
        let uid = format!("uid-{name}-{}", std::process::id());
        self.rt
            .ensure_namespace(ns)
            .await
            .expect("namespace network");
        let pod = json!({"metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": spec});
        self.rt.start_pod(pod).await.expect("pod starts");
    }

    /// Waits until `pod`'s status satisfies `pred`; panics with the last status on timeout.
    async fn wait(&mut self, pod: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.statuses.get(pod)
                && pred(s)
            {
                return s.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(RuntimeEvent::PodStatus { name, status, .. })) => {
                    self.statuses.insert(name, status);
                }
                Ok(Some(RuntimeEvent::PodEvent {
                    name,
                    reason,
                    message,
                    ..
                })) => {
                    self.seen.push((name, reason, message));
                }
                _ => panic!(
                    "timeout waiting on pod {pod}; last status: {:#}",
                    self.statuses.get(pod).cloned().unwrap_or_default()
                ),
            }
        }
    }

    async fn logs(&self, ns: &str, pod: &str, container: Option<&str>, opts: LogOptions) -> String {
        let mut s = self.rt.logs(ns, pod, container, opts).await.expect("logs");
        let mut out = Vec::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), s.next())
            .await
            .expect("log stream stalls")
        {
            out.extend_from_slice(&chunk.expect("log chunk"));
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Objects on the engine labelled with this instance.
    fn leftovers(&self) -> Vec<String> {
        let filter = format!("label=kube-sim.instance={}", self.instance);
        let mut all = Vec::new();
        for args in [
            vec!["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
            vec![
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ],
            vec!["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"],
        ] {
            let (ok, out) = docker(&args);
            assert!(ok, "{out}");
            all.extend(
                out.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
        }
        all
    }

    /// `docker exec` in a pod container (found by its labels) — the test's view from inside.
    fn exec_in(&self, pod: &str, container: &str, cmd: &[&str]) -> (bool, String) {
        let (_, id) = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=kube-sim.instance={}", self.instance),
            "--filter",
            &format!("label=kube-sim.pod={pod}"),
            "--filter",
            &format!("label=kube-sim.container={container}"),
        ]);
        let id = id.lines().next().expect("container of the pod").to_string();
        let mut args = vec!["exec", id.as_str()];
        args.extend_from_slice(cmd);
        docker(&args)
    }

    async fn finish(self) {
        self.rt.shutdown().await;
        assert_eq!(
            self.leftovers(),
            Vec::<String>::new(),
            "labelled objects left after shutdown"
        );
    }
}

/// A failed test still removes its instance's objects (through the CLI, as Drop cannot await).
impl Drop for Sim {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let filter = format!("label=kube-sim.instance={}", self.instance);
        for (list, rm) in [
            (vec!["ps", "-aq"], vec!["rm", "-f"]),
            (vec!["network", "ls", "-q"], vec!["network", "rm"]),
            (vec!["volume", "ls", "-q"], vec!["volume", "rm", "-f"]),
        ] {
            let mut args = list.clone();
            args.extend(["--filter", filter.as_str()]);
            let (_, ids) = docker(&args);
            let mut args = rm.clone();
            args.extend(ids.split_whitespace());
            if args.len() > rm.len() {
                docker(&args);
            }
        }
    }
}

fn phase(s: &Value) -> &str {
    s["phase"].as_str().unwrap_or("")
}

fn condition(s: &Value, kind: &str) -> Option<bool> {
    s["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| c["status"] == "True")
}

fn container<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["containerStatuses"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_of_a_pod_share_empty_dir_and_localhost() {
    require_engine!();
    let mut sim = Sim::new("share").await;
    sim.start("share", "duo", json!({
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [
            {"name": "server", "image": IMAGE, "command": ["sh", "-c", "echo shared-file > /data/f; httpd -f -p 8080 -h /data"],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "client", "image": IMAGE,
             "command": ["sh", "-c", "until wget -qO- http://127.0.0.1:8080/f; do sleep 0.2; done; cat /data/f; hostname; sleep 3600"],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
        ]
    })).await;
    let s = sim
        .wait("duo", 60, |s| {
            phase(s) == "Running" && condition(s, "Ready") == Some(true)
        })
        .await;
    assert!(
        s["podIP"].as_str().is_some_and(|ip| !ip.is_empty()),
        "{s:#}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let logs = loop {
        let l = sim
            .logs("share", "duo", Some("client"), LogOptions::default())
            .await;
        if l.contains("duo") || Instant::now() > deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        logs, "shared-file\nshared-file\nduo\n",
        "over localhost, from the shared emptyDir, pod hostname"
    );
    let err = sim
        .rt
        .logs("share", "duo", None, LogOptions::default())
        .await
        .err()
        .expect("two containers need a name");
    assert!(
        err.to_string().contains("choose one of: [server client]"),
        "{err}"
    );
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_and_volumes_come_from_configmaps_secrets_and_the_pod() {
    require_engine!();
    let mut sim = Sim::new("env").await;
    sim.put(
        "envns",
        "ConfigMap",
        "settings",
        json!({"kind": "ConfigMap", "data": {"greeting": "hi", "colour": "blue"}}),
    );
    sim.put(
        "envns",
        "Secret",
        "creds",
        json!({"kind": "Secret", "type": "Opaque", "data": {"password": "czNjcjN0"}}),
    );
    sim.start("envns", "envpod", json!({
        "restartPolicy": "Never",
        "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}, {"name": "sec", "secret": {"secretName": "creds"}}],
        "containers": [{"name": "main", "image": IMAGE,
            "command": ["sh", "-c"],
            "args": ["echo G=$GREETING P=$PASS N=$NAME NS=$NS IP=$IP C=$CFG_colour X=$(GREETING)-x; cat /etc/cfg/colour; echo; cat /etc/sec/password; echo; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; echo K=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"],
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
            "env": [
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            ],
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "sec", "mountPath": "/etc/sec"}]}]
    })).await;
    let s = sim.wait("envpod", 60, |s| phase(s) == "Succeeded").await;
    let ip = s["podIP"].as_str().unwrap_or("?").to_string();
    assert_eq!(
        container(&s, "main")["state"]["terminated"]["exitCode"],
        0,
        "{s:#}"
    );
    let logs = sim
        .logs("envns", "envpod", None, LogOptions::default())
        .await;
    assert_eq!(
        logs,
        format!(
            "G=hi P=s3cr3t N=envpod NS=envns IP={ip} C=blue X=hi-x\nblue\ns3cr3t\nenvns\ntoken-of-envns-default\nK=172.17.0.1:6443\n"
        )
    );
    // A missing configmap is a config error, not a crash.
    sim.start("envns", "broken", json!({"containers": [{"name": "main", "image": IMAGE, "command": ["true"],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]}]})).await;
    let s = sim
        .wait("broken", 30, |s| {
            container(s, "main")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
        })
        .await;
    assert_eq!(
        container(&s, "main")["state"]["waiting"]["message"],
        "configmap \"absent\" not found"
    );
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_reports_err_image_pull_then_back_off() {
    require_engine!();
    let mut sim = Sim::new("pull").await;
    sim.start(
        "pull",
        "nopull",
        json!({"containers": [{"name": "main", "image": "kube-sim-test/does-not-exist:1"}]}),
    )
    .await;
    let s = sim
        .wait("nopull", 45, |s| {
            container(s, "main")["state"]["waiting"]["reason"] == "ErrImagePull"
        })
        .await;
    assert_eq!(phase(&s), "Pending");
    sim.wait("nopull", 20, |s| {
        container(s, "main")["state"]["waiting"]["reason"] == "ImagePullBackOff"
    })
    .await;
    assert!(
        sim.seen
            .iter()
            .any(|(p, r, m)| p == "nopull" && r == "Failed" && m.contains("does-not-exist")),
        "{:?}",
        sim.seen
    );
    sim.start("pull", "never", json!({"containers": [{"name": "main", "image": "kube-sim-test/does-not-exist:2", "imagePullPolicy": "Never"}]})).await;
    sim.wait("never", 20, |s| {
        container(s, "main")["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    })
    .await;
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_probes_drive_the_ready_condition() {
    require_engine!();
    let mut sim = Sim::new("ready").await;
    let probe = |handler: Value| {
        let mut p = json!({"periodSeconds": 1, "failureThreshold": 1});
        p.as_object_mut()
            .unwrap()
            .extend(handler.as_object().unwrap().clone());
        p
    };
    sim.start("ready", "probed", json!({"containers": [
        {"name": "http", "image": IMAGE, "command": ["sh", "-c", "sleep 2; mkdir -p /w; echo ok > /w/healthz; httpd -f -p 8080 -h /w"],
         "readinessProbe": probe(json!({"httpGet": {"path": "/healthz", "port": 8080}}))},
        {"name": "tcp", "image": IMAGE, "command": ["sh", "-c", "sleep 2; nc -ll -p 9090 -e cat"],
         "readinessProbe": probe(json!({"tcpSocket": {"port": 9090}}))},
        {"name": "exec", "image": IMAGE, "command": ["sh", "-c", "sleep 2; touch /tmp/ok; sleep 5; rm /tmp/ok; sleep 3600"],
         "readinessProbe": probe(json!({"exec": {"command": ["test", "-f", "/tmp/ok"]}}))}
    ]})).await;
    let s = sim.wait("probed", 30, |s| phase(s) == "Running").await;
    assert_eq!(
        condition(&s, "Ready"),
        Some(false),
        "not ready before the probes pass: {s:#}"
    );
    let s = sim
        .wait("probed", 30, |s| condition(s, "Ready") == Some(true))
        .await;
    for c in ["http", "tcp", "exec"] {
        assert_eq!(container(&s, c)["ready"], true, "{s:#}");
    }
    let s = sim
        .wait("probed", 30, |s| condition(s, "Ready") == Some(false))
        .await;
    assert_eq!(
        container(&s, "exec")["ready"],
        false,
        "the exec probe fails again: {s:#}"
    );
    assert_eq!(container(&s, "http")["ready"], true);
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_and_restart_policies() {
    require_engine!();
    let mut sim = Sim::new("exit").await;
    sim.start("exit", "fails", json!({"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", "exit 3"]}]})).await;
    sim.start("exit", "crashes", json!({"containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", "echo boom; exit 2"]}]})).await;
    let s = sim.wait("fails", 30, |s| phase(s) == "Failed").await;
    let t = &container(&s, "main")["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(3), Some("Error")),
        "{s:#}"
    );
    let s = sim
        .wait("crashes", 30, |s| {
            container(s, "main")["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        })
        .await;
    assert_eq!(phase(&s), "Running");
    assert_eq!(
        container(&s, "main")["lastState"]["terminated"]["exitCode"],
        2,
        "{s:#}"
    );
    let s = sim
        .wait("crashes", 40, |s| {
            container(s, "main")["restartCount"].as_u64() >= Some(1)
        })
        .await;
    assert!(container(&s, "main")["restartCount"].as_u64() >= Some(1));
    let prev = sim
        .logs(
            "exit",
            "crashes",
            None,
            LogOptions {
                previous: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(prev, "boom\n");
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_tail_timestamps_and_follow() {
    require_engine!();
    let mut sim = Sim::new("logs").await;
    sim.start(
        "logs",
        "talker",
        json!({"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE,
        "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 3; echo late"]}]}),
    )
    .await;
    sim.wait("talker", 30, |s| phase(s) == "Running").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tail = sim
        .logs(
            "logs",
            "talker",
            None,
            LogOptions {
                tail_lines: Some(2),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(tail, "line4\nline5\n");
    let started = Instant::now();
    let followed = sim
        .logs(
            "logs",
            "talker",
            None,
            LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        followed, "line1\nline2\nline3\nline4\nline5\nlate\n",
        "follow ends when the container exits"
    );
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "follow waited for the late line"
    );
    let stamped = sim
        .logs(
            "logs",
            "talker",
            None,
            LogOptions {
                timestamps: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await;
    let (ts, line) = stamped
        .trim_end()
        .split_once(' ')
        .expect("timestamp prefix");
    assert!(ts.starts_with("20") && ts.ends_with('Z'), "{stamped}");
    assert_eq!(line, "late");
    sim.finish().await;
}

/// A WebSocket exec through a tiny axum server; (stdout, stderr, status JSON).
async fn ws_exec(
    rt: &Runtime,
    ns: &str,
    pod: &str,
    command: &[&str],
    protocol: &str,
    stdin: Option<&[u8]>,
) -> (String, String, Value) {
    use axum::extract::{State, WebSocketUpgrade};
    let req = ExecRequest {
        namespace: ns.into(),
        pod: pod.into(),
        container: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        stdin: stdin.is_some(),
        stdout: true,
        stderr: true,
        tty: false,
        attach: false,
    };
    let app = axum::Router::new()
        .route(
            "/exec",
            axum::routing::get(
                |State((rt, req)): State<(Runtime, ExecRequest)>, ws: WebSocketUpgrade| async move {
                    rt.exec_upgrade(ws, req)
                },
            ),
        )
        .with_state((rt.clone(), req));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut request = format!("ws://{addr}/exec").into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("{protocol}, v4.channel.k8s.io").parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    if let Some(data) = stdin {
        let mut m = vec![0u8];
        m.extend_from_slice(data);
        ws.send(Message::Binary(m.into())).await.unwrap();
        ws.send(Message::Binary(vec![255u8, 0].into()))
            .await
            .unwrap();
    }
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), Value::Null);
    while let Some(Ok(msg)) = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("exec stalls")
    {
        if let Message::Binary(b) = msg {
            match b.first() {
                Some(1) => out.extend_from_slice(&b[1..]),
                Some(2) => err.extend_from_slice(&b[1..]),
                Some(3) => status = serde_json::from_slice(&b[1..]).expect("status JSON"),
                _ => {}
            }
        }
    }
    server.abort();
    (
        String::from_utf8_lossy(&out).into(),
        String::from_utf8_lossy(&err).into(),
        status,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_over_websocket_returns_output_and_exit_status() {
    require_engine!();
    let mut sim = Sim::new("exec").await;
    sim.start(
        "exec",
        "shell",
        json!({"containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"]}]}),
    )
    .await;
    sim.wait("shell", 30, |s| phase(s) == "Running").await;
    let (out, err, status) = ws_exec(
        &sim.rt,
        "exec",
        "shell",
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
        "v4.channel.k8s.io",
        None,
    )
    .await;
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "ExitCode", "message": "7"})
    );
    let (out, _, status) = ws_exec(
        &sim.rt,
        "exec",
        "shell",
        &["cat", "/etc/hostname"],
        "v5.channel.k8s.io",
        None,
    )
    .await;
    assert_eq!(
        (out.as_str(), status["status"].as_str()),
        ("shell\n", Some("Success"))
    );
    let (out, _, status) = ws_exec(
        &sim.rt,
        "exec",
        "shell",
        &["cat"],
        "v5.channel.k8s.io",
        Some(b"piped-in"),
    )
    .await;
    assert_eq!(
        (out.as_str(), status["status"].as_str()),
        ("piped-in", Some("Success")),
        "v5 closes stdin"
    );
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn service_names_resolve_inside_their_namespace_only() {
    require_engine!();
    let mut sim = Sim::new("dns").await;
    sim.start("alpha", "web", json!({"containers": [{"name": "main", "image": IMAGE, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}]})).await;
    sim.start(
        "alpha",
        "client",
        json!({"containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"]}]}),
    )
    .await;
    sim.start(
        "beta",
        "outsider",
        json!({"containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"]}]}),
    )
    .await;
    for p in ["web", "client", "outsider"] {
        sim.wait(p, 30, |s| phase(s) == "Running").await;
    }
    let port = ServicePort {
        name: Some("http".into()),
        port: 80,
        target_port: 8080,
        protocol: "TCP".into(),
    };
    sim.rt
        .set_service_backends("alpha", "websvc", vec!["web".into()], vec![port.clone()])
        .await;
    for name in ["websvc", "websvc.alpha", "websvc.alpha.svc.cluster.local"] {
        let url = format!("http://{name}/");
        let (ok, out) = sim.exec_in("client", "main", &["wget", "-qO-", &url]);
        assert!(
            ok && out == "hello-from-pod\n",
            "{url} from the same namespace: {out}"
        );
    }
    let (ok, out) = sim.exec_in(
        "outsider",
        "main",
        &["wget", "-qO-", "http://websvc.alpha/"],
    );
    assert!(!ok, "another namespace must not reach the service: {out}");
    // No backends: the name stops resolving.
    sim.rt
        .set_service_backends("alpha", "websvc", vec![], vec![port])
        .await;
    let (ok, out) = sim.exec_in("client", "main", &["wget", "-qO-", "http://websvc/"]);
    assert!(!ok, "without backends the name must not resolve: {out}");
    sim.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_pod_and_shutting_down_leave_nothing_labelled() {
    require_engine!();
    let mut sim = Sim::new("reap").await;
    sim.start("reap", "gone", json!({"volumes": [{"name": "d", "emptyDir": {}}],
        "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"], "volumeMounts": [{"name": "d", "mountPath": "/d"}]}]})).await;
    sim.start("reap", "kept", json!({"volumes": [{"name": "d", "emptyDir": {}}],
        "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"], "volumeMounts": [{"name": "d", "mountPath": "/d"}]}]})).await;
    sim.wait("gone", 30, |s| phase(s) == "Running").await;
    sim.wait("kept", 30, |s| phase(s) == "Running").await;
    let port = ServicePort {
        name: None,
        port: 80,
        target_port: 80,
        protocol: "TCP".into(),
    };
    sim.rt
        .set_service_backends("reap", "svc", vec!["kept".into()], vec![port])
        .await;
    sim.rt
        .delete_pod("reap", "gone", Duration::from_secs(1))
        .await;
    let left = sim.leftovers();
    assert!(
        !left
            .iter()
            .any(|n| n.contains("-gone-") || n.contains("uid-gone")),
        "deleted pod left {left:?}"
    );
    assert!(
        left.iter().any(|n| n.contains("-kept-")),
        "the other pod still runs: {left:?}"
    );
    sim.finish().await;
}
