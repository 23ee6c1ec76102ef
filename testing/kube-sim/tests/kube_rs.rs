//! kube-rs against kube-sim (API only): watch resumption after a dropped connection, 410 Gone
//! for compacted versions, 409 on a stale update, server-side apply with a field manager.

mod common;

use common::{client, with_cluster, with_options};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube_sim::{ClusterOptions, RuntimeMode};
use serde_json::json;
use std::time::Duration;

async fn namespace(c: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_the_last_seen_version_after_a_dropped_connection() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "w").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
            // The namespace controller adds kube-root-ca.crt; let it land before watching.
            for _ in 0..100 {
                if api.get_opt("kube-root-ca.crt").await.unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let list = api.list(&Default::default()).await.unwrap();
            let start = list.metadata.resource_version.clone().unwrap();

            let wp = WatchParams::default().timeout(30);
            let mut stream = api.watch(&wp, &start).await.unwrap().boxed();
            api.create(&PostParams::default(), &cm("a", "1"))
                .await
                .unwrap();
            let last_rv = match stream.try_next().await.unwrap() {
                Some(WatchEvent::Added(o)) => {
                    assert_eq!(o.metadata.name.as_deref(), Some("a"));
                    o.metadata.resource_version.unwrap()
                }
                other => panic!("expected ADDED a, got {other:?}"),
            };
            // The connection drops; changes happen while nobody watches.
            drop(stream);
            api.create(&PostParams::default(), &cm("b", "1"))
                .await
                .unwrap();
            api.patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"v": "2"}})),
            )
            .await
            .unwrap();
            api.delete("b", &Default::default()).await.unwrap();

            let mut resumed = api.watch(&wp, &last_rv).await.unwrap().boxed();
            let mut seen = Vec::new();
            while seen.len() < 3 {
                let ev = tokio::time::timeout(Duration::from_secs(10), resumed.try_next())
                    .await
                    .expect("events arrive")
                    .unwrap()
                    .expect("stream open");
                match ev {
                    WatchEvent::Added(o) => {
                        seen.push(format!("ADDED {}", o.metadata.name.unwrap()))
                    }
                    WatchEvent::Modified(o) => seen.push(format!(
                        "MODIFIED {} {}",
                        o.metadata.name.unwrap(),
                        o.data.unwrap()["v"]
                    )),
                    WatchEvent::Deleted(o) => {
                        seen.push(format!("DELETED {}", o.metadata.name.unwrap()))
                    }
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(e) => panic!("watch error {e:?}"),
                }
            }
            assert_eq!(seen, ["ADDED b", "MODIFIED a 2", "DELETED b"]);

            // Bookmarks arrive when allowed.
            let mut wp = WatchParams::default().timeout(10);
            wp.bookmarks = true;
            let mut s = api.watch(&wp, &last_rv).await.unwrap().boxed();
            let mut bookmark = false;
            for _ in 0..10 {
                if let Ok(Ok(Some(WatchEvent::Bookmark(_)))) =
                    tokio::time::timeout(Duration::from_secs(3), s.try_next()).await
                {
                    bookmark = true;
                    break;
                }
            }
            assert!(bookmark, "a BOOKMARK event arrives");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_version_gets_410_gone() {
    let opts = ClusterOptions {
        runtime: RuntimeMode::Disabled,
        event_history: 5,
        ..Default::default()
    };
    with_options(opts, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "g").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "g");
            for i in 0..10 {
                api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
                    .await
                    .unwrap();
            }
            let mut s = api
                .watch(&WatchParams::default().timeout(5), "2")
                .await
                .unwrap()
                .boxed();
            match s.next().await {
                Some(Ok(WatchEvent::Error(e))) => {
                    assert_eq!(e.code, 410);
                    assert!(
                        e.message.contains("too old resource version"),
                        "{}",
                        e.message
                    );
                }
                Some(Err(kube::Error::Api(e))) => assert_eq!(e.code, 410),
                other => panic!("expected 410 Gone, got {other:?}"),
            }
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_update_conflicts_with_409() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "u").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "u");
            let created = api
                .create(&PostParams::default(), &cm("c", "1"))
                .await
                .unwrap();
            let mut fresh = created.clone();
            fresh.data = Some([("v".to_string(), "2".to_string())].into());
            let updated = api
                .replace("c", &PostParams::default(), &fresh)
                .await
                .unwrap();
            assert_ne!(
                updated.metadata.resource_version,
                created.metadata.resource_version
            );

            let mut stale = created.clone();
            stale.data = Some([("v".to_string(), "3".to_string())].into());
            match api.replace("c", &PostParams::default(), &stale).await {
                Err(kube::Error::Api(e)) => {
                    assert_eq!(e.code, 409);
                    assert_eq!(e.reason, "Conflict");
                    assert!(
                        e.message.contains("the object has been modified"),
                        "{}",
                        e.message
                    );
                }
                other => panic!("expected 409, got {other:?}"),
            }
            let now = api.get("c").await.unwrap();
            assert_eq!(now.data.unwrap()["v"], "2");
            match api.create(&PostParams::default(), &cm("c", "9")).await {
                Err(kube::Error::Api(e)) => {
                    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"))
                }
                other => panic!("expected AlreadyExists, got {other:?}"),
            }
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_with_field_manager() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "a").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "a");
            let pp = PatchParams::apply("gantry-test");
            let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "labels": {"x": "1"}},
                               "data": {"keep": "1", "drop": "1"}});
            let o = api.patch("applied", &pp, &Patch::Apply(&first)).await.unwrap();
            let mf = o.metadata.managed_fields.clone().unwrap();
            assert_eq!(mf[0].manager.as_deref(), Some("gantry-test"));
            assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
            let fields = serde_json::to_value(&mf[0].fields_v1).unwrap();
            assert!(fields.to_string().contains("f:keep"), "{fields}");

            // Another writer's field survives; the manager's dropped field goes.
            api.patch("applied", &PatchParams::default(), &Patch::Merge(json!({"data": {"other": "x"}})))
                .await
                .unwrap();
            let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
                                "data": {"keep": "2"}});
            let o = api.patch("applied", &pp, &Patch::Apply(&second)).await.unwrap();
            let data = o.data.unwrap();
            assert_eq!(data.get("keep").map(String::as_str), Some("2"));
            assert_eq!(data.get("other").map(String::as_str), Some("x"));
            assert!(!data.contains_key("drop"), "{data:?}");
            assert!(o.metadata.labels.unwrap_or_default().is_empty());

            // Apply without a field manager is rejected as Kubernetes does.
            let err = client
                .request::<serde_json::Value>(
                    http::Request::patch("/api/v1/namespaces/a/configmaps/applied")
                        .header("content-type", "application/apply-patch+yaml")
                        .body(second.to_string().into_bytes())
                        .unwrap(),
                )
                .await;
            assert!(matches!(err, Err(kube::Error::Api(ref e)) if e.code == 400), "{err:?}");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_runtime_watcher_lists_then_follows_changes() {
    use kube::runtime::watcher;
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "r").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "r");
            api.create(&PostParams::default(), &cm("before", "1"))
                .await
                .unwrap();
            for config in [
                watcher::Config::default(),
                watcher::Config::default().streaming_lists(),
            ] {
                let mut events = watcher(api.clone(), config.labels("t=w")).boxed();
                let mut init_done = false;
                while !init_done {
                    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await {
                        Ok(Ok(Some(watcher::Event::InitDone))) => init_done = true,
                        Ok(Ok(Some(_))) => {}
                        other => panic!("watcher initialises, got {other:?}"),
                    }
                }
                let name = format!("w{}", crate_suffix());
                let mut labelled = cm(&name, "1");
                labelled.metadata.labels = Some([("t".to_string(), "w".to_string())].into());
                api.create(&PostParams::default(), &labelled).await.unwrap();
                loop {
                    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await {
                        Ok(Ok(Some(watcher::Event::Apply(o)))) => {
                            assert_eq!(o.metadata.name.as_deref(), Some(name.as_str()));
                            break;
                        }
                        Ok(Ok(Some(_))) => {}
                        other => panic!("watcher sees the new object, got {other:?}"),
                    }
                }
            }
        })
    })
    .await;
}

fn crate_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            namespace(&client, "sel").await;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
            let rv = api
                .list(&Default::default())
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap();
            let wp = WatchParams::default().labels("team=a").timeout(20);
            let mut s = api.watch(&wp, &rv).await.unwrap().boxed();
            api.create(&PostParams::default(), &cm("x", "1"))
                .await
                .unwrap();
            let label =
                |v: Option<&str>| Patch::Merge(json!({"metadata": {"labels": {"team": v}}}));
            api.patch("x", &PatchParams::default(), &label(Some("a")))
                .await
                .unwrap();
            api.patch("x", &PatchParams::default(), &label(Some("b")))
                .await
                .unwrap();
            let mut seen = Vec::new();
            while seen.len() < 2 {
                let ev = tokio::time::timeout(Duration::from_secs(10), s.try_next())
                    .await
                    .expect("events arrive")
                    .unwrap()
                    .expect("stream open");
                match ev {
                    WatchEvent::Added(o) => {
                        seen.push(format!("ADDED {}", o.metadata.name.unwrap()))
                    }
                    WatchEvent::Modified(o) => {
                        seen.push(format!("MODIFIED {}", o.metadata.name.unwrap()))
                    }
                    WatchEvent::Deleted(o) => {
                        seen.push(format!("DELETED {}", o.metadata.name.unwrap()))
                    }
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(e) => panic!("watch error {e:?}"),
                }
            }
            assert_eq!(seen, ["ADDED x", "DELETED x"]);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_verbs_and_bodies_get_status_errors() {
    with_cluster(RuntimeMode::Disabled, |c| {
        Box::pin(async move {
            let client = client(c).await;
            let cases: Vec<(http::Request<Vec<u8>>, u16, &str)> = vec![
                (
                    http::Request::get("/apis/widgets.example/v1/widgets")
                        .body(vec![])
                        .unwrap(),
                    404,
                    "NotFound",
                ),
                (
                    http::Request::get("/api/v1/namespaces/default/pods/p/bogus")
                        .body(vec![])
                        .unwrap(),
                    404,
                    "NotFound",
                ),
                (
                    http::Request::put("/api/v1/namespaces/default/configmaps")
                        .body(b"{}".to_vec())
                        .unwrap(),
                    405,
                    "MethodNotAllowed",
                ),
                (
                    http::Request::post("/api/v1/namespaces/default/configmaps")
                        .header("content-type", "application/json")
                        .body(b"{not json".to_vec())
                        .unwrap(),
                    400,
                    "BadRequest",
                ),
                (
                    http::Request::post("/api/v1/namespaces/nowhere/configmaps")
                        .header("content-type", "application/json")
                        .body(br#"{"metadata":{"name":"x"}}"#.to_vec())
                        .unwrap(),
                    404,
                    "NotFound",
                ),
                (
                    http::Request::patch("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
                        .header("content-type", "text/plain")
                        .body(b"{}".to_vec())
                        .unwrap(),
                    415,
                    "UnsupportedMediaType",
                ),
            ];
            for (req, code, reason) in cases {
                let what = format!("{} {}", req.method(), req.uri());
                match client.request::<serde_json::Value>(req).await {
                    Err(kube::Error::Api(e)) => {
                        assert_eq!(
                            (e.code, e.reason.as_str()),
                            (code, reason),
                            "{what}: {}",
                            e.message
                        );
                    }
                    other => panic!("{what}: expected a {code} Status, got {other:?}"),
                }
            }
        })
    })
    .await;
}
