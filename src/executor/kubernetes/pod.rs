//! The pod a job runs in, as Kubernetes JSON: the job image kept alive by a sleep loop (gantry
//! execs the script into it), the workspace and scratch directories on emptyDirs at the same
//! paths as on the host (so every path in the job's variables stays valid), labels naming the
//! pipeline and job, and a deadline; beside it one container per service (`services.rs`) under
//! `hostAliases` on 127.0.0.1, and for a passed-through `docker:dind` the node's Docker socket.
//! Pure: building it needs no cluster.

use super::services::Container;
use super::settings::PodSettings;
use crate::environment::name::dns_label;
use crate::environment::objects;
use serde_json::{Value, json};
use std::path::Path;

/// Label: the job's name, as a label value.
pub const JOB: &str = "gantry.job";
/// The container the script runs in.
pub const CONTAINER: &str = "build";

/// Where the node's Docker socket is, and where the build container gets it.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Keeps the container up until the pod is deleted; exits promptly on SIGTERM.
pub const KEEPALIVE: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/// What a job's pod is made of.
#[derive(Clone, Debug)]
pub struct PodPlan<'a> {
    /// Pod name (a DNS-1123 label).
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Image, after `--image-map`.
    pub image: &'a str,
    /// `image:entrypoint` of the job (`[""]` clears the image's).
    pub entrypoint: Option<&'a [String]>,
    /// Job variables.
    pub env: &'a [(String, String)],
    /// `CI_PROJECT_DIR`.
    pub workspace: &'a Path,
    /// Where the generated scripts live.
    pub scratch: &'a Path,
    /// Owner labels (pipeline, pid, host).
    pub labels: &'a [(String, String)],
    /// Job name.
    pub job: &'a str,
    /// `activeDeadlineSeconds`: the cluster's own stop, should gantry itself die.
    pub deadline: Option<u64>,
    /// `imagePullPolicy`.
    pub pull: &'a str,
    /// Seconds between SIGTERM and SIGKILL when the pod is deleted.
    pub grace: u64,
    /// User to run as (numeric only: Kubernetes has no user names).
    pub user: Option<i64>,
    /// Service containers beside the build container.
    pub services: &'a [Container],
    /// Mount the node's Docker socket into the build container (dind pass-through).
    pub docker_socket: bool,
    /// Resources, placement, identity, extra labels (config and overrides resolved).
    pub settings: &'a PodSettings,
}

/// `value` as a container env value Kubernetes leaves alone: it expands `$(VAR)` and turns
/// `$$` into `$`, so every `$` is doubled.
pub fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

fn env_list(env: &[(String, String)]) -> Vec<Value> {
    env.iter()
        .map(|(k, v)| json!({"name": k, "value": literal(v)}))
        .collect()
}

/// The JSON of one service container.
fn service(c: &Container, pull: &str, settings: &PodSettings) -> Value {
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imagePullPolicy": pull,
        "env": env_list(&c.env),
    });
    if let Some(cmd) = &c.command {
        v["command"] = json!(cmd);
    }
    if let Some(args) = &c.args {
        v["args"] = json!(args);
    }
    if c.privileged {
        v["securityContext"] = json!({"privileged": true});
    }
    // The kubelet checks the port; the job's script waits for the container to be Ready.
    if let Some(port) = c.health_port {
        v["readinessProbe"] = json!({
            "tcpSocket": {"port": port},
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 1,
        });
    }
    if let Some(r) = settings.service.json() {
        v["resources"] = r;
    }
    v
}

/// A pod name for `job` of `pipeline`: a DNS-1123 label unique per attempt.
pub fn pod_name(pipeline: &str, job: &str, unique: &str) -> String {
    let head = dns_label(&format!("{pipeline}-{job}"));
    let keep = 62usize.saturating_sub(unique.len());
    let head: String = head.chars().take(keep).collect();
    format!("{}-{unique}", head.trim_end_matches('-'))
}

/// `text` as a label value (≤ 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends).
pub fn label_value(text: &str) -> String {
    let v: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The Pod object.
pub fn pod(p: &PodPlan) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(objects::MANAGED_BY.0.into(), objects::MANAGED_BY.1.into());
    // Configured labels first: gantry's own (teardown and gc find pods by them) win.
    for (k, v) in &p.settings.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    for (k, v) in p.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    labels.insert(JOB.into(), label_value(p.job).into());
    let keepalive = vec!["sh".to_string(), "-c".into(), KEEPALIVE.into()];
    // As GitLab's Kubernetes executor honouring the entrypoint: an explicit entrypoint runs
    // with the keep-alive shell as its arguments (entrypoints that `exec "$@"` hand over to it);
    // none (or `[""]`) means the image's entrypoint is replaced by the shell.
    let (command, args) = match p.entrypoint.filter(|e| !e.iter().all(|s| s.is_empty())) {
        Some(e) => (e.to_vec(), keepalive),
        None => (keepalive, Vec::new()),
    };
    let mut env = env_list(p.env);
    let mut mounts = vec![
        json!({"name": "workspace", "mountPath": p.workspace.display().to_string()}),
        json!({"name": "scratch", "mountPath": p.scratch.display().to_string()}),
    ];
    let mut volumes = vec![
        json!({"name": "workspace", "emptyDir": {}}),
        json!({"name": "scratch", "emptyDir": {}}),
    ];
    if p.docker_socket {
        env.push(json!({"name": "DOCKER_HOST", "value": format!("unix://{DOCKER_SOCKET}")}));
        mounts.push(json!({"name": "docker-sock", "mountPath": DOCKER_SOCKET}));
        volumes.push(
            json!({"name": "docker-sock", "hostPath": {"path": DOCKER_SOCKET, "type": "Socket"}}),
        );
    }
    let mut container = json!({
        "name": CONTAINER,
        "image": p.image,
        "imagePullPolicy": p.pull,
        "command": command,
        "env": env,
        "workingDir": p.workspace.display().to_string(),
        "volumeMounts": mounts,
    });
    if !args.is_empty() {
        container["args"] = json!(args);
    }
    if let Some(uid) = p.user {
        container["securityContext"] = json!({"runAsUser": uid});
    }
    if let Some(r) = p.settings.build.json() {
        container["resources"] = r;
    }
    let mut containers = vec![container];
    containers.extend(p.services.iter().map(|c| service(c, p.pull, p.settings)));
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": p.grace,
        "containers": containers,
        "volumes": volumes,
    });
    let hostnames: Vec<&String> = p.services.iter().flat_map(|c| &c.hostnames).collect();
    if !hostnames.is_empty() {
        spec["hostAliases"] = json!([{"ip": "127.0.0.1", "hostnames": hostnames}]);
    }
    if let Some(d) = p.deadline {
        spec["activeDeadlineSeconds"] = json!(d);
    }
    let s = p.settings;
    if !s.node_selector.is_empty() {
        spec["nodeSelector"] = json!(s.node_selector);
    }
    if !s.tolerations.is_empty() {
        spec["tolerations"] = json!(s.tolerations);
    }
    if let Some(sa) = &s.service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    if !s.image_pull_secrets.is_empty() {
        let names: Vec<Value> = s
            .image_pull_secrets
            .iter()
            .map(|n| json!({"name": n}))
            .collect();
        spec["imagePullSecrets"] = json!(names);
    }
    let mut metadata = json!({"name": p.name, "namespace": p.namespace, "labels": labels});
    if !s.annotations.is_empty() {
        metadata["annotations"] = json!(s.annotations);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static NONE: std::sync::LazyLock<PodSettings> = std::sync::LazyLock::new(PodSettings::default);

    fn plan<'a>(entrypoint: Option<&'a [String]>, env: &'a [(String, String)]) -> PodPlan<'a> {
        PodPlan {
            name: "p",
            namespace: "ns",
            image: "img:1",
            entrypoint,
            env,
            workspace: Path::new("/w/job"),
            scratch: Path::new("/w/scratch"),
            labels: &[],
            job: "build: [a, b]",
            deadline: Some(90),
            pull: "Never",
            grace: 3,
            user: None,
            services: &[],
            docker_socket: false,
            settings: &NONE,
        }
    }

    #[test]
    fn pod_keeps_paths_labels_and_deadline() {
        let env = [("CI_PROJECT_DIR".to_string(), "/w/job".to_string())];
        let p = pod(&plan(None, &env));
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"][2], KEEPALIVE);
        assert!(c.get("args").is_none());
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/w/job");
        assert_eq!(c["env"][0]["value"], "/w/job");
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(p["spec"]["activeDeadlineSeconds"], 90);
        assert_eq!(p["metadata"]["labels"][JOB], "build___a__b");
    }

    #[test]
    fn explicit_entrypoint_gets_the_keepalive_as_arguments() {
        let e = vec!["/init".to_string()];
        let p = pod(&plan(Some(&e), &[]));
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["/init"]));
        assert_eq!(c["args"][2], KEEPALIVE);
        let cleared = vec![String::new()];
        let p = pod(&plan(Some(&cleared), &[]));
        assert_eq!(p["spec"]["containers"][0]["command"][0], "sh");
    }

    #[test]
    fn values_stay_literal() {
        let env = [("A".to_string(), "$(HOME) $$x $".to_string())];
        let p = pod(&plan(None, &env));
        assert_eq!(
            p["spec"]["containers"][0]["env"][0]["value"],
            "$$(HOME) $$$$x $$"
        );
    }

    #[test]
    fn docker_socket_is_the_nodes() {
        let mut pl = plan(None, &[]);
        pl.docker_socket = true;
        let p = pod(&pl);
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["volumeMounts"][2]["mountPath"], DOCKER_SOCKET);
        assert_eq!(c["env"][0]["name"], "DOCKER_HOST");
        assert_eq!(c["env"][0]["value"], "unix:///var/run/docker.sock");
        assert_eq!(p["spec"]["volumes"][2]["hostPath"]["path"], DOCKER_SOCKET);
        assert!(
            pod(&plan(None, &[]))["spec"]["volumes"]
                .as_array()
                .unwrap()
                .len()
                == 2
        );
    }

    #[test]
    fn services_share_the_pod_under_host_aliases() {
        let svc = [
            Container {
                name: "svc-0".into(),
                image: "web:1".into(),
                command: Some(vec!["httpd".into()]),
                args: Some(vec!["-f".into()]),
                env: vec![("P".into(), "1".into())],
                privileged: false,
                hostnames: vec!["web".into(), "www".into()],
                health_port: None,
            },
            Container {
                name: "svc-1".into(),
                image: "docker:dind".into(),
                command: None,
                args: None,
                env: Vec::new(),
                privileged: true,
                hostnames: vec!["docker".into()],
                health_port: Some(2375),
            },
        ];
        let mut pl = plan(None, &[]);
        pl.services = &svc;
        let p = pod(&pl);
        let cs = &p["spec"]["containers"];
        assert_eq!(cs[1]["name"], "svc-0");
        assert_eq!(cs[1]["command"], json!(["httpd"]));
        assert_eq!(cs[1]["args"], json!(["-f"]));
        assert_eq!(cs[1]["env"][0]["value"], "1");
        assert_eq!(cs[1]["imagePullPolicy"], "Never");
        assert!(cs[1].get("securityContext").is_none());
        assert!(cs[2].get("command").is_none());
        assert_eq!(cs[2]["securityContext"]["privileged"], true);
        assert!(cs[1].get("readinessProbe").is_none());
        assert_eq!(cs[2]["readinessProbe"]["tcpSocket"]["port"], 2375);
        assert_eq!(
            p["spec"]["hostAliases"],
            json!([{"ip": "127.0.0.1", "hostnames": ["web", "www", "docker"]}])
        );
        assert!(pod(&plan(None, &[]))["spec"].get("hostAliases").is_none());
    }

    #[test]
    fn settings_land_on_the_pod() {
        use std::collections::BTreeMap;
        let settings = PodSettings {
            build: super::super::settings::Resources {
                requests: BTreeMap::from([("cpu".into(), "250m".into())]),
                limits: BTreeMap::from([("memory".into(), "1Gi".into())]),
            },
            service: super::super::settings::Resources {
                requests: BTreeMap::from([("memory".into(), "64Mi".into())]),
                limits: BTreeMap::new(),
            },
            node_selector: BTreeMap::from([("kubernetes.io/os".into(), "linux".into())]),
            tolerations: vec![json!({"key": "gpu", "operator": "Exists"})],
            service_account: Some("builder".into()),
            image_pull_secrets: vec!["gantry-registry".into()],
            labels: BTreeMap::from([
                ("team".into(), "a".into()),
                ("gantry.pipeline".into(), "forged".into()),
            ]),
            annotations: BTreeMap::from([("note".into(), "hi".into())]),
            ..PodSettings::default()
        };
        let svc = [Container {
            name: "svc-0".into(),
            image: "db".into(),
            command: None,
            args: None,
            env: Vec::new(),
            privileged: false,
            hostnames: Vec::new(),
            health_port: None,
        }];
        let owner = [("gantry.pipeline".to_string(), "7".to_string())];
        let mut pl = plan(None, &[]);
        pl.settings = &settings;
        pl.services = &svc;
        pl.labels = &owner;
        let p = pod(&pl);
        let spec = &p["spec"];
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}})
        );
        assert_eq!(
            spec["containers"][1]["resources"],
            json!({"requests": {"memory": "64Mi"}})
        );
        assert_eq!(spec["nodeSelector"]["kubernetes.io/os"], "linux");
        assert_eq!(spec["tolerations"][0]["key"], "gpu");
        assert_eq!(spec["serviceAccountName"], "builder");
        assert_eq!(
            spec["imagePullSecrets"],
            json!([{"name": "gantry-registry"}])
        );
        assert_eq!(p["metadata"]["labels"]["team"], "a");
        assert_eq!(p["metadata"]["labels"]["gantry.pipeline"], "7");
        assert_eq!(p["metadata"]["annotations"]["note"], "hi");
        let bare = pod(&plan(None, &[]));
        for key in [
            "nodeSelector",
            "tolerations",
            "serviceAccountName",
            "imagePullSecrets",
        ] {
            assert!(bare["spec"].get(key).is_none(), "{key}");
        }
        assert!(bare["spec"]["containers"][0].get("resources").is_none());
    }

    #[test]
    fn names_are_dns_labels() {
        let n = pod_name("gantry-7", &"Very Long Job Name ".repeat(8), "abc12");
        assert!(n.len() <= 63 && n.ends_with("-abc12"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
