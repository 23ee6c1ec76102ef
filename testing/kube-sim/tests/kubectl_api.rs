//! The real /usr/bin/kubectl (1.32) against kube-sim without Docker: discovery, typed create
//! commands (which send protobuf), apply (client- and server-side), tokens, can-i, namespace
//! deletion. Pods stay Pending here, with a condition saying there is no runtime.

mod common;

use base64::Engine;
use common::{kubectl, kubectl_ok, with_cluster};
use kube_sim::RuntimeMode;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, name: deals}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kube-sim-test/busybox:1
        imagePullPolicy: Never
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: "one"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_api_resources_and_namespaces() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let v = kubectl_ok(c, &["version", "-o", "json"]).await;
            let v: serde_json::Value = serde_json::from_str(&v).unwrap();
            assert_eq!(v["serverVersion"]["minor"], "32");

            let res = kubectl_ok(c, &["api-resources"]).await;
            let line = |name: &str| {
                res.lines()
                    .find(|l| l.split_whitespace().next() == Some(name))
                    .map(String::from)
            };
            let deploy = line("deployments").expect("deployments listed");
            assert!(
                deploy.contains("apps/v1") && deploy.contains("Deployment"),
                "{deploy}"
            );
            let ns = line("namespaces").expect("namespaces listed");
            assert!(ns.contains("false"), "namespaces are cluster-scoped: {ns}");
            assert!(line("rolebindings").is_some() && line("networkpolicies").is_some());

            let out = kubectl_ok(c, &["get", "ns"]).await;
            assert!(out.contains("default") && out.contains("Active"), "{out}");
            assert!(
                out.lines().next().unwrap_or("").contains("STATUS"),
                "server-side table: {out}"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_creates_secret_token_and_can_i() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let out = kubectl_ok(c, &["create", "namespace", "demo"]).await;
            assert_eq!(out.trim(), "namespace/demo created");
            let phase =
                kubectl_ok(c, &["get", "ns", "demo", "-o", "jsonpath={.status.phase}"]).await;
            assert_eq!(phase, "Active");
            let again = kubectl(c, &["create", "namespace", "demo"]).await;
            assert!(
                !again.ok && again.stderr.contains("AlreadyExists"),
                "{}",
                again.stderr
            );

            kubectl_ok(
                c,
                &[
                    "create",
                    "secret",
                    "-n",
                    "demo",
                    "docker-registry",
                    "gitlab-registry",
                    "--docker-server=registry.example",
                    "--docker-username=ci",
                    "--docker-password=s3cret",
                    "--docker-email=ci@example.com",
                ],
            )
            .await;
            let ty = kubectl_ok(
                c,
                &[
                    "get",
                    "secret",
                    "gitlab-registry",
                    "-n",
                    "demo",
                    "-o",
                    "jsonpath={.type}",
                ],
            )
            .await;
            assert_eq!(ty, "kubernetes.io/dockerconfigjson");
            let data = kubectl_ok(
                c,
                &[
                    "get",
                    "secret",
                    "gitlab-registry",
                    "-n",
                    "demo",
                    "-o",
                    "jsonpath={.data.\\.dockerconfigjson}",
                ],
            )
            .await;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .unwrap();
            let cfg: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
            assert_eq!(cfg["auths"]["registry.example"]["username"], "ci");

            // The default ServiceAccount appears with the namespace; its token authenticates.
            let token = kubectl_ok(c, &["create", "token", "default", "-n", "demo"]).await;
            let token = token.trim();
            assert_eq!(token.split('.').count(), 3, "JWT-shaped token: {token}");
            let who = kubectl_ok(
                c,
                &[
                    "auth",
                    "whoami",
                    "--token",
                    token,
                    "-o",
                    "jsonpath={.status.userInfo.username}",
                ],
            )
            .await;
            assert_eq!(who, "system:serviceaccount:demo:default");

            assert_eq!(
                kubectl_ok(c, &["auth", "can-i", "create", "pods", "-n", "demo"])
                    .await
                    .trim(),
                "yes"
            );
            let no = kubectl(
                c,
                &[
                    "auth", "can-i", "create", "pods", "-n", "demo", "--token", token,
                ],
            )
            .await;
            assert!(
                !no.ok && no.stdout.trim() == "no",
                "{} {}",
                no.stdout,
                no.stderr
            );
            let bad = kubectl(c, &["get", "pods", "-n", "demo", "--token", "not-a-token"]).await;
            assert!(
                !bad.ok && bad.stderr.contains("Unauthorized"),
                "{}",
                bad.stderr
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_multi_document_client_and_server_side() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("app.yaml");
            std::fs::write(&file, MANIFEST).unwrap();
            let f = file.to_str().unwrap();
            kubectl_ok(c, &["create", "ns", "app"]).await;
            let out = kubectl_ok(c, &["apply", "-n", "app", "-f", f]).await;
            for want in [
                "deployment.apps/web created",
                "service/web created",
                "configmap/settings created",
            ] {
                assert!(out.contains(want), "{out}");
            }
            // The Deployment made its pods; without a runtime they stay Pending and say why.
            let mut reasons = String::new();
            for _ in 0..50 {
                reasons = kubectl_ok(
                    c,
                    &[
                        "get",
                        "pods",
                        "-n",
                        "app",
                        "-l",
                        "app=web",
                        "-o",
                        "jsonpath={.items[*].status.conditions[0].reason}",
                    ],
                )
                .await;
                if reasons.split_whitespace().count() == 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(reasons, "NoContainerRuntime NoContainerRuntime");
            let owner = kubectl_ok(
                c,
                &[
                    "get",
                    "pods",
                    "-n",
                    "app",
                    "-o",
                    "jsonpath={.items[0].metadata.ownerReferences[0].kind}",
                ],
            )
            .await;
            assert_eq!(owner, "Deployment");

            std::fs::write(&file, MANIFEST.replace("mode: \"one\"", "mode: \"two\"")).unwrap();
            let out = kubectl_ok(c, &["apply", "-n", "app", "-f", f]).await;
            assert!(
                out.contains("configmap/settings configured")
                    && out.contains("deployment.apps/web unchanged"),
                "{out}"
            );
            let mode = kubectl_ok(
                c,
                &[
                    "get",
                    "cm",
                    "settings",
                    "-n",
                    "app",
                    "-o",
                    "jsonpath={.data.mode}",
                ],
            )
            .await;
            assert_eq!(mode, "two");

            let out = kubectl_ok(c, &["apply", "--server-side", "-n", "app", "-f", f]).await;
            assert!(out.contains("serverside-applied"), "{out}");
            let managers = kubectl_ok(
                c,
                &[
                    "get",
                    "svc",
                    "web",
                    "-n",
                    "app",
                    "-o",
                    "jsonpath={.metadata.managedFields[*].manager}",
                ],
            )
            .await;
            assert!(
                managers.split_whitespace().any(|m| m == "kubectl"),
                "{managers}"
            );

            // A template change through client-side apply (strategic merge patch of the
            // containers list) bumps the generation; the controller observes it.
            let changed = MANIFEST.replace("mode: \"one\"", "mode: \"two\"").replace("\"-h\", \"/www\"]", "\"-h\", \"/www\"]\n        env:\n        - {name: COLOR, value: blue}");
            std::fs::write(&file, changed).unwrap();
            // kubectl diff patches with dryRun=All: it shows the change and stores nothing.
            let diff = kubectl(c, &["diff", "-n", "app", "-f", f]).await;
            assert!(diff.stdout.contains("+        - name: COLOR"), "{} {}", diff.stdout, diff.stderr);
            let generation = kubectl_ok(c, &["get", "deploy", "web", "-n", "app", "-o", "jsonpath={.metadata.generation}"]).await;
            assert_eq!(generation, "1");
            let out = kubectl_ok(c, &["apply", "-n", "app", "-f", f]).await;
            assert!(out.contains("deployment.apps/web configured"), "{out}");
            let mut gens = String::new();
            for _ in 0..50 {
                gens = kubectl_ok(c, &["get", "deploy", "web", "-n", "app", "-o", "jsonpath={.metadata.generation} {.status.observedGeneration} {.spec.template.spec.containers[0].env[0].value} {.spec.template.spec.containers[0].image}"]).await;
                if gens.starts_with("2 2") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(gens, "2 2 blue kube-sim-test/busybox:1");

            // kubectl scale goes through the scale subresource; the controller follows.
            let out =
                kubectl_ok(c, &["scale", "deployment/web", "-n", "app", "--replicas=3"]).await;
            assert!(out.contains("deployment.apps/web scaled"), "{out}");
            let mut updated = String::new();
            for _ in 0..50 {
                updated = kubectl_ok(c, &["get", "deploy", "web", "-n", "app", "-o", "jsonpath={.spec.replicas} {.status.updatedReplicas}"]).await;
                if updated == "3 3" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(updated, "3 3", "spec.replicas and pods of the current template");

            let unknown = kubectl(c, &["get", "widgets"]).await;
            assert!(
                !unknown.ok && unknown.stderr.contains("doesn't have a resource type"),
                "{}",
                unknown.stderr
            );
            let raw = kubectl(c, &["get", "--raw", "/apis/nope.example/v1/things"]).await;
            assert!(!raw.ok && raw.stderr.contains("NotFound"), "{}", raw.stderr);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_namespace_waits_until_contents_and_namespace_are_gone() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            kubectl_ok(c, &["create", "ns", "doomed"]).await;
            kubectl_ok(
                c,
                &[
                    "create",
                    "configmap",
                    "x",
                    "-n",
                    "doomed",
                    "--from-literal=a=b",
                ],
            )
            .await;
            let out = kubectl_ok(c, &["delete", "ns", "doomed"]).await;
            assert!(out.contains("namespace \"doomed\" deleted"), "{out}");
            let gone = kubectl(c, &["get", "ns", "doomed"]).await;
            assert!(
                !gone.ok && gone.stderr.contains("NotFound"),
                "{}",
                gone.stderr
            );
            let cms = kubectl_ok(c, &["get", "cm", "-n", "doomed", "-o", "name"]).await;
            assert_eq!(cms.trim(), "");
            let create = kubectl(c, &["create", "configmap", "y", "-n", "doomed"]).await;
            assert!(
                !create.ok && create.stderr.contains("not found"),
                "{}",
                create.stderr
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_create_commands_send_protobuf_that_is_decoded() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            kubectl_ok(c, &["create", "ns", "typed"]).await;
            let n = ["-n", "typed"];
            let run = |args: Vec<&'static str>| async move {
                let mut all = args.clone();
                all.extend(["-n", "typed"]);
                kubectl_ok(c, &all).await
            };
            run(vec!["create", "configmap", "cm", "--from-literal=k=v", "--from-literal=x=y"]).await;
            run(vec!["create", "secret", "generic", "sec", "--from-literal=pw=hunter2"]).await;
            run(vec!["create", "serviceaccount", "robot"]).await;
            run(vec!["create", "role", "reader", "--verb=get,list", "--resource=pods,configmaps"]).await;
            run(vec!["create", "rolebinding", "robot-reads", "--role=reader", "--serviceaccount=typed:robot"]).await;
            run(vec!["create", "deployment", "dep", "--image=kube-sim-test/busybox:1", "--replicas=2", "--port=8080"]).await;
            run(vec!["create", "service", "clusterip", "svc", "--tcp=80:8080"]).await;
            run(vec!["create", "quota", "q", "--hard=pods=5,requests.cpu=1"]).await;
            kubectl_ok(c, &["create", "clusterrole", "cr", "--verb=get", "--non-resource-url=/healthz"]).await;
            kubectl_ok(c, &["create", "clusterrolebinding", "crb", "--clusterrole=cr", "--group=system:authenticated"]).await;

            let get = |kind: &'static str, name: &'static str, path: &'static str| async move {
                let mut args = vec!["get", kind, name, "-o"];
                let jp = format!("jsonpath={path}");
                args.push(&jp);
                if kind != "clusterrole" && kind != "clusterrolebinding" {
                    args.extend(n);
                }
                kubectl_ok(c, &args).await
            };
            assert_eq!(get("cm", "cm", "{.data.k}{.data.x}").await, "vy");
            assert_eq!(get("secret", "sec", "{.data.pw}").await, "aHVudGVyMg==");
            assert_eq!(get("sa", "robot", "{.metadata.name}").await, "robot");
            assert_eq!(get("role", "reader", "{.rules[0].verbs}").await, "[\"get\",\"list\"]");
            assert_eq!(get("rolebinding", "robot-reads", "{.roleRef.kind}/{.roleRef.name} {.subjects[0].kind}:{.subjects[0].namespace}:{.subjects[0].name}").await, "Role/reader ServiceAccount:typed:robot");
            assert_eq!(get("deploy", "dep", "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}").await, "2 dep kube-sim-test/busybox:1 8080");
            assert_eq!(get("svc", "svc", "{.spec.ports[0].port}->{.spec.ports[0].targetPort} {.spec.selector.app}").await, "80->8080 svc");
            assert_eq!(get("quota", "q", "{.spec.hard.pods}").await, "5");
            assert_eq!(get("clusterrole", "cr", "{.rules[0].nonResourceURLs}").await, "[\"/healthz\"]");
            assert_eq!(get("clusterrolebinding", "crb", "{.subjects[0].kind}:{.subjects[0].name}").await, "Group:system:authenticated");
        })
    })
    .await;
}
