//! Pod volumes as Docker sees them: `emptyDir` (and `hostPath`) become mounts shared by the
//! pod's containers; `configMap`, `secret`, `projected`, `downwardAPI` and the service-account
//! token become files copied into each container before it starts (updates to the source
//! objects are not propagated).

use super::env::{ConfigError, Context, data, str_at};
use bollard::models::{Mount, MountType};
use serde_json::Value;

/// Where Kubernetes mounts the service-account credentials.
pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a container gets: mounts plus files to copy in.
#[derive(Default)]
pub struct Plan {
    /// Docker mounts (emptyDir volumes, hostPath binds).
    pub mounts: Vec<Mount>,
    /// (absolute path, content, mode) copied into the container before it starts.
    pub files: Vec<(String, Vec<u8>, u32)>,
}

/// The Docker volume backing an `emptyDir` of a pod.
pub fn empty_dir_volume(uid: &str, volume: &str) -> String {
    format!(
        "kube-sim-{}-{}",
        super::labels::safe(uid),
        super::labels::safe(volume)
    )
}

/// The names of the pod's emptyDir volumes (the pod creates them, labelled, before containers).
pub fn empty_dirs(pod: &Value) -> Vec<String> {
    volumes(pod)
        .filter(|v| v.get("emptyDir").is_some())
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect()
}

fn volumes(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/spec/volumes")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
}

/// Mounts and files for `container`; `token` is the service account's bearer token.
pub fn plan(
    ctx: &Context,
    container: &Value,
    uid: &str,
    token: Option<&str>,
    ca_pem: &str,
) -> Result<Plan, ConfigError> {
    let mut plan = Plan::default();
    let mounts = container.get("volumeMounts").and_then(|m| m.as_array());
    let mut sa_mounted = false;
    for m in mounts.into_iter().flatten() {
        let name = m.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let path = m.get("mountPath").and_then(|n| n.as_str()).unwrap_or("");
        let read_only = m.get("readOnly").and_then(|r| r.as_bool()).unwrap_or(false);
        let sub = m
            .get("subPath")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty());
        sa_mounted |= path.trim_end_matches('/') == SA_DIR;
        let Some(vol) =
            volumes(ctx.pod).find(|v| v.get("name").and_then(|n| n.as_str()) == Some(name))
        else {
            return Err(format!(
                "volume {name:?} is mounted but not defined in the pod"
            ));
        };
        if vol.get("emptyDir").is_some() {
            if sub.is_some() {
                return Err("subPath on an emptyDir volume is not supported by kube-sim".into());
            }
            plan.mounts.push(Mount {
                target: Some(path.to_string()),
                source: Some(empty_dir_volume(uid, name)),
                typ: Some(MountType::VOLUME),
                read_only: Some(read_only),
                ..Default::default()
            });
        } else if let Some(host) = str_at(vol, "/hostPath/path") {
            plan.mounts.push(Mount {
                target: Some(path.to_string()),
                source: Some(host.to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(read_only),
                ..Default::default()
            });
        } else {
            let files = volume_files(ctx, vol, token, ca_pem)?;
            for (rel, content, mode) in files {
                match sub {
                    Some(s) if s == rel => plan.files.push((path.to_string(), content, mode)),
                    Some(s) if rel.starts_with(&format!("{s}/")) => plan.files.push((
                        format!("{}/{}", path.trim_end_matches('/'), &rel[s.len() + 1..]),
                        content,
                        mode,
                    )),
                    Some(_) => {}
                    None => plan.files.push((
                        format!("{}/{rel}", path.trim_end_matches('/')),
                        content,
                        mode,
                    )),
                }
            }
        }
    }
    let automount = ctx
        .pod
        .pointer("/spec/automountServiceAccountToken")
        .and_then(|a| a.as_bool())
        .unwrap_or(true);
    if automount && !sa_mounted {
        for (rel, content, mode) in sa_files(ctx, token, ca_pem) {
            plan.files.push((format!("{SA_DIR}/{rel}"), content, mode));
        }
    }
    Ok(plan)
}

/// `token`, `ca.crt`, `namespace` of the projected service-account volume.
fn sa_files(ctx: &Context, token: Option<&str>, ca_pem: &str) -> Vec<(String, Vec<u8>, u32)> {
    let mut files = vec![
        ("ca.crt".to_string(), ca_pem.as_bytes().to_vec(), 0o644),
        (
            "namespace".to_string(),
            ctx.field("metadata.namespace")
                .unwrap_or_default()
                .into_bytes(),
            0o644,
        ),
    ];
    if let Some(t) = token {
        files.push(("token".to_string(), t.as_bytes().to_vec(), 0o644));
    }
    files
}

/// Files (relative path, content, mode) of a file-backed volume.
fn volume_files(
    ctx: &Context,
    vol: &Value,
    token: Option<&str>,
    ca_pem: &str,
) -> Result<Vec<(String, Vec<u8>, u32)>, ConfigError> {
    if let Some(cm) = vol.get("configMap") {
        return object_files(ctx, "ConfigMap", cm, "name");
    }
    if let Some(s) = vol.get("secret") {
        return object_files(ctx, "Secret", s, "secretName");
    }
    if let Some(d) = vol.get("downwardAPI") {
        return downward_files(ctx, d);
    }
    if let Some(p) = vol.get("projected") {
        let mut files = Vec::new();
        for src in p
            .get("sources")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(cm) = src.get("configMap") {
                files.extend(object_files(ctx, "ConfigMap", cm, "name")?);
            } else if let Some(s) = src.get("secret") {
                files.extend(object_files(ctx, "Secret", s, "name")?);
            } else if let Some(d) = src.get("downwardAPI") {
                files.extend(downward_files(ctx, d)?);
            } else if let Some(t) = src.get("serviceAccountToken") {
                let path = t.get("path").and_then(|p| p.as_str()).unwrap_or("token");
                files.push((
                    path.to_string(),
                    token.unwrap_or("").as_bytes().to_vec(),
                    0o644,
                ));
            }
        }
        // kube-api-access-* volumes name the CA via a configMap kube-root-ca.crt; serve ours.
        for f in files.iter_mut() {
            if f.0 == "ca.crt" && f.1.is_empty() {
                f.1 = ca_pem.as_bytes().to_vec();
            }
        }
        return Ok(files);
    }
    let name = vol.get("name").and_then(|n| n.as_str()).unwrap_or("");
    Err(format!(
        "volume {name:?}: this volume type is not supported by kube-sim"
    ))
}

fn object_files(
    ctx: &Context,
    kind: &str,
    src: &Value,
    name_field: &str,
) -> Result<Vec<(String, Vec<u8>, u32)>, ConfigError> {
    let name = src.get(name_field).and_then(|n| n.as_str()).unwrap_or("");
    let optional = src
        .get("optional")
        .and_then(|o| o.as_bool())
        .unwrap_or(false);
    let mode = src
        .get("defaultMode")
        .and_then(|m| m.as_u64())
        .unwrap_or(0o644) as u32;
    let Some(obj) = ctx.lookup.get(
        ctx.pod
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str())
            .unwrap_or("default"),
        kind,
        name,
    ) else {
        if optional || (kind == "ConfigMap" && name == "kube-root-ca.crt") {
            // kube-root-ca.crt is published by kube-sim itself: an empty ca.crt is filled in.
            return Ok(if name == "kube-root-ca.crt" {
                vec![("ca.crt".into(), Vec::new(), mode)]
            } else {
                Vec::new()
            });
        }
        return Err(format!(
            "{} \"{name}\" not found",
            kind.to_ascii_lowercase()
        ));
    };
    let all = data(&obj);
    match src.get("items").and_then(|i| i.as_array()) {
        None => Ok(all.into_iter().map(|(k, v)| (k, v, mode)).collect()),
        Some(items) => {
            let mut out = Vec::new();
            for it in items {
                let key = it.get("key").and_then(|k| k.as_str()).unwrap_or("");
                let path = it.get("path").and_then(|k| k.as_str()).unwrap_or(key);
                let m = it
                    .get("mode")
                    .and_then(|m| m.as_u64())
                    .map(|m| m as u32)
                    .unwrap_or(mode);
                match all.iter().find(|(k, _)| k == key) {
                    Some((_, v)) => out.push((path.to_string(), v.clone(), m)),
                    None if optional => {}
                    None => return Err(format!("couldn't find key {key} in {kind} {name}")),
                }
            }
            Ok(out)
        }
    }
}

fn downward_files(ctx: &Context, d: &Value) -> Result<Vec<(String, Vec<u8>, u32)>, ConfigError> {
    let mut out = Vec::new();
    for it in d
        .get("items")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
    {
        let path = it.get("path").and_then(|p| p.as_str()).unwrap_or("");
        if let Some(f) = it.pointer("/fieldRef/fieldPath").and_then(|f| f.as_str()) {
            out.push((path.to_string(), ctx.field(f)?.into_bytes(), 0o644));
        }
    }
    Ok(out)
}

/// A tar archive (paths relative to `/`) holding `files` and their parent directories.
pub fn tar_of(files: &[(String, Vec<u8>, u32)]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _, _) in files {
        let rel = path.trim_start_matches('/');
        let mut acc = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for p in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(p);
            if dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                tar.append_data(&mut h, format!("{acc}/"), std::io::empty())?;
            }
        }
    }
    for (path, content, mode) in files {
        append_file(&mut tar, path.trim_start_matches('/'), content, *mode)?;
    }
    tar.into_inner()
}

/// Appends one regular file to a tar archive.
pub fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    content: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append_data(&mut h, path, content)
}
