//! RBAC: a ServiceAccount bound to a namespaced Role may create ConfigMaps in its namespace,
//! and gets 403 (Kubernetes' message) in another namespace and for listing namespaces.

mod common;

use common::{client, client_for, kubectl_with, with_cluster};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube_sim::RuntimeMode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_reaches_its_namespace_and_nothing_else() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let admin = client(c).await;
            let ns_api: Api<Namespace> = Api::all(admin.clone());
            for n in ["team", "other"] {
                let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": n}})).unwrap();
                ns_api.create(&PostParams::default(), &ns).await.unwrap();
            }
            let sa_api: Api<ServiceAccount> = Api::namespaced(admin.clone(), "team");
            let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "job"}})).unwrap();
            sa_api.create(&PostParams::default(), &sa).await.unwrap();
            let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "edit-cm", "namespace": "team"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list"]}]});
            let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "job-edit", "namespace": "team"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "edit-cm"},
                "subjects": [{"kind": "ServiceAccount", "name": "job", "namespace": "team"}]});
            for (path, body) in [
                ("/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles", role),
                ("/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings", binding),
            ] {
                admin
                    .request::<serde_json::Value>(
                        http::Request::post(path)
                            .header("content-type", "application/json")
                            .body(body.to_string().into_bytes())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
            }
            let tr: serde_json::Value = admin
                .request(
                    http::Request::post("/api/v1/namespaces/team/serviceaccounts/job/token")
                        .header("content-type", "application/json")
                        .body(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}).to_string().into_bytes())
                        .unwrap(),
                )
                .await
                .unwrap();
            let token = tr["status"]["token"].as_str().unwrap().to_string();

            let dir = tempfile::tempdir().unwrap();
            let kc = dir.path().join("sa-kubeconfig");
            std::fs::write(&kc, c.kubeconfig_for_token(&token, "team")).unwrap();
            let sa_client = client_for(&kc).await;

            let mine: Api<ConfigMap> = Api::namespaced(sa_client.clone(), "team");
            let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "ok"}, "data": {"a": "b"}})).unwrap();
            mine.create(&PostParams::default(), &cm).await.expect("allowed in its namespace");

            let theirs: Api<ConfigMap> = Api::namespaced(sa_client.clone(), "other");
            match theirs.create(&PostParams::default(), &cm).await {
                Err(kube::Error::Api(e)) => {
                    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
                    assert_eq!(
                        e.message,
                        "configmaps is forbidden: User \"system:serviceaccount:team:job\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"other\""
                    );
                }
                other => panic!("expected 403, got {other:?}"),
            }
            let all_ns: Api<Namespace> = Api::all(sa_client.clone());
            match all_ns.list(&Default::default()).await {
                Err(kube::Error::Api(e)) => {
                    assert_eq!(e.code, 403);
                    assert_eq!(
                        e.message,
                        "namespaces is forbidden: User \"system:serviceaccount:team:job\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
                    );
                }
                other => panic!("expected 403, got {other:?}"),
            }
            match mine.delete("ok", &Default::default()).await {
                Err(kube::Error::Api(e)) => assert_eq!(e.code, 403),
                other => panic!("delete is not granted, got {other:?}"),
            }

            // kubectl agrees, through SelfSubjectAccessReview.
            let yes = kubectl_with(&kc, &["auth", "can-i", "create", "configmaps", "-n", "team"]).await;
            assert_eq!(yes.stdout.trim(), "yes", "{}", yes.stderr);
            let no = kubectl_with(&kc, &["auth", "can-i", "create", "configmaps", "-n", "other"]).await;
            assert_eq!(no.stdout.trim(), "no", "{}", no.stderr);
            let denied = kubectl_with(&kc, &["get", "namespaces"]).await;
            assert!(!denied.ok && denied.stderr.contains("forbidden"), "{}", denied.stderr);
        })
    })
    .await;
}
