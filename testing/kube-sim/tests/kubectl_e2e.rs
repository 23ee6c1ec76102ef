//! End to end with Docker: the real kubectl deploys a Deployment + Service + ConfigMap, waits
//! with `rollout status`, `wait --for=condition=Ready` and the founding pipeline's exact
//! jsonpath readiness loop, execs into a pod, follows logs of a pod that fetched the Service by
//! name over HTTP, and deletes the namespace (containers gone, checked through the Docker API).
//! kube-rs exec reports the exit code. Skips without Docker unless GANTRY_REQUIRE_DOCKER=1.

mod common;

use common::{client, docker_ready, kubectl, kubectl_ok, labelled, sh, with_cluster};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use kube_sim::RuntimeMode;
use std::time::Duration;

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: deals
spec:
  replicas: 2
  selector:
    matchLabels: {app: deals}
  template:
    metadata:
      labels: {app: deals, name: deals}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kube-sim-test/busybox:1
        imagePullPolicy: Never
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        ports:
        - containerPort: 8080
          name: http
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: deals
spec:
  selector: {app: deals}
  ports:
  - port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: deals-config
data:
  greeting: hello
"#;

const CLIENT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: kube-sim-test/busybox:1
    imagePullPolicy: Never
    command: ["sh", "-c", "echo start; wget -qO- http://deals/ && wget -qO- http://deals.shop.svc.cluster.local/; echo end"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_deploys_waits_execs_logs_and_reaches_a_service_by_name() {
    if !docker_ready() {
        return;
    }
    with_cluster(RuntimeMode::Required, |c| {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let app = dir.path().join("app.yaml");
            std::fs::write(&app, APP).unwrap();
            let client_pod = dir.path().join("client.yaml");
            std::fs::write(&client_pod, CLIENT).unwrap();

            let container_url = c.container_url().expect("Docker present: a container URL");
            assert!(container_url.starts_with("https://") && !container_url.contains("127.0.0.1"));
            kubectl_ok(c, &["create", "ns", "shop"]).await;
            let out = kubectl_ok(c, &["apply", "--namespace", "shop", "-f", app.to_str().unwrap()]).await;
            assert!(out.contains("deployment.apps/deals created"), "{out}");
            let out = kubectl_ok(c, &["rollout", "status", "deployment/deals", "-n", "shop", "--timeout=120s"]).await;
            assert!(out.contains("successfully rolled out"), "{out}");
            let out = kubectl_ok(c, &["wait", "--for=condition=Ready", "pod", "-l", "app=deals", "-n", "shop", "--timeout=60s"]).await;
            assert_eq!(out.matches("condition met").count(), 2, "{out}");

            // The founding pipeline's readiness loop, verbatim.
            let founding = sh(
                c,
                "NAMESPACE=shop; until kubectl get pods -o=jsonpath='{.items[?(@.metadata.labels.name==\"deals\")].status.conditions[*].status}' -n $NAMESPACE | grep -v False; do sleep 1; done",
                Duration::from_secs(60),
            )
            .await;
            assert!(founding.ok && founding.stdout.contains("True"), "{} {}", founding.stdout, founding.stderr);

            // Endpoints list both ready pods.
            let mut ips = String::new();
            for _ in 0..40 {
                ips = kubectl_ok(c, &["get", "endpoints", "deals", "-n", "shop", "-o", "jsonpath={.subsets[0].addresses[*].ip}"]).await;
                if ips.split_whitespace().count() == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            assert_eq!(ips.split_whitespace().count(), 2, "endpoints: {ips:?}");

            let pod = kubectl_ok(c, &["get", "pods", "-n", "shop", "-l", "app=deals", "-o", "jsonpath={.items[0].metadata.name}"]).await;
            let hostname = kubectl_ok(c, &["exec", "-n", "shop", &pod, "--", "cat", "/etc/hostname"]).await;
            assert_eq!(hostname.trim(), pod);

            // Another pod fetches the Service by name (short and fully qualified) over HTTP.
            kubectl_ok(c, &["apply", "-n", "shop", "-f", client_pod.to_str().unwrap()]).await;
            let mut logs = String::new();
            for _ in 0..60 {
                let out = kubectl(c, &["logs", "-f", "client", "-n", "shop"]).await;
                if out.ok && out.stdout.contains("end") {
                    logs = out.stdout;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            assert_eq!(logs.matches("hello-from-pod").count(), 2, "client output: {logs:?}");
            // The runtime reports the exit shortly after the output ends.
            let mut phase = String::new();
            for _ in 0..40 {
                phase = kubectl_ok(c, &["get", "pod", "client", "-n", "shop", "-o", "jsonpath={.status.phase}"]).await;
                if phase == "Succeeded" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            assert_eq!(phase, "Succeeded");

            // kube-rs exec reports the exit code on the error channel.
            let pods: Api<Pod> = Api::namespaced(client(c).await, "shop");
            let mut proc = pods
                .exec(&pod, ["sh", "-c", "echo out; exit 3"], &AttachParams::default().stderr(false))
                .await
                .expect("exec starts");
            let status = proc.take_status().expect("status channel").await.expect("a status");
            let mut stdout = String::new();
            if let Some(mut out) = proc.stdout() {
                use tokio::io::AsyncReadExt;
                out.read_to_string(&mut stdout).await.unwrap();
            }
            proc.join().await.unwrap();
            assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
            let code = status
                .details
                .and_then(|d| d.causes)
                .and_then(|c| c.into_iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message);
            assert_eq!(code.as_deref(), Some("3"));
            assert_eq!(stdout.trim(), "out");

            // kube-rs port-forward reaches the pod's HTTP port from the host.
            let mut pf = pods.portforward(&pod, &[8080]).await.expect("port-forward starts");
            let mut conn = pf.take_stream(8080).expect("a stream for port 8080");
            {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                conn.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n").await.unwrap();
                let mut response = String::new();
                tokio::time::timeout(Duration::from_secs(20), conn.read_to_string(&mut response))
                    .await
                    .expect("the pod answers")
                    .unwrap();
                assert!(response.contains("hello-from-pod"), "{response}");
            }
            drop(conn);
            pf.abort();

            // kubectl run -i --rm attaches to the new pod, then deletes it.
            let attached = kubectl_ok(c, &["run", "once", "-n", "shop", "-i", "--rm", "--image", common::IMAGE, "--image-pull-policy=Never", "--restart=Never", "--", "sh", "-c", "sleep 1; echo attached-output"]).await;
            assert!(attached.contains("attached-output"), "{attached}");

            // A forced delete does not wait for the pod's grace period.
            let started = std::time::Instant::now();
            kubectl_ok(c, &["delete", "pod", "client", "-n", "shop", "--grace-period=0", "--force"]).await;
            let gone = kubectl(c, &["get", "pod", "client", "-n", "shop"]).await;
            assert!(!gone.ok && started.elapsed() < Duration::from_secs(20));

            let out = kubectl_ok(c, &["delete", "ns", "shop", "--timeout=120s"]).await;
            assert!(out.contains("deleted"), "{out}");
            let gone = kubectl(c, &["get", "ns", "shop"]).await;
            assert!(!gone.ok, "namespace is gone");
            let (containers, networks) = labelled(c.instance()).await;
            assert_eq!((containers, networks), (0, 0), "the namespace's containers and network are removed");
        })
    })
    .await;
}
