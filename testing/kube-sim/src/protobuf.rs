//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`). kubectl 1.32's typed
//! commands (`create namespace`, `create secret`, `create token`, `auth can-i`, ...) send
//! protobuf and do not fall back to JSON on 415, so the kinds those commands create are decoded
//! here into JSON by a small schema per message (field number → JSON name and type).
//! Other kinds (everything `kubectl apply`/`create -f` sends) arrive as JSON anyway.

use crate::resources::ResourceType;
use crate::status::ApiError;
use base64::Engine;
use serde_json::{Map, Value, json};

/// How a field is decoded.
#[derive(Clone, Copy)]
enum F {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    IntOrString,
    Msg(&'static [(u32, &'static str, F)]),
    RepStr,
    RepMsg(&'static [(u32, &'static str, F)]),
    MapStr,
    MapBytes,
    MapQuantity,
}

type Schema = &'static [(u32, &'static str, F)];

const OWNER_REF: Schema = &[
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];
const OBJECT_META: Schema = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::Int),
    (8, "creationTimestamp", F::Time),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (13, "ownerReferences", F::RepMsg(OWNER_REF)),
    (14, "finalizers", F::RepStr),
];
const NAMESPACE: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "finalizers", F::RepStr)])),
];
const SECRET: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStr),
    (5, "immutable", F::Bool),
];
const CONFIG_MAP: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStr),
    (3, "binaryData", F::MapBytes),
    (4, "immutable", F::Bool),
];
const LOCAL_REF: Schema = &[(1, "name", F::Str)];
const SERVICE_ACCOUNT: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (3, "imagePullSecrets", F::RepMsg(LOCAL_REF)),
    (4, "automountServiceAccountToken", F::Bool),
];
const BOUND_REF: Schema = &[
    (1, "kind", F::Str),
    (2, "apiVersion", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
];
const TOKEN_REQUEST: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "audiences", F::RepStr),
            (3, "boundObjectRef", F::Msg(BOUND_REF)),
            (4, "expirationSeconds", F::Int),
        ]),
    ),
];
const RESOURCE_ATTRS: Schema = &[
    (1, "namespace", F::Str),
    (2, "verb", F::Str),
    (3, "group", F::Str),
    (4, "version", F::Str),
    (5, "resource", F::Str),
    (6, "subresource", F::Str),
    (7, "name", F::Str),
];
const NON_RESOURCE_ATTRS: Schema = &[(1, "path", F::Str), (2, "verb", F::Str)];
const SSAR: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "resourceAttributes", F::Msg(RESOURCE_ATTRS)),
            (2, "nonResourceAttributes", F::Msg(NON_RESOURCE_ATTRS)),
        ]),
    ),
];
const SSRR: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "namespace", F::Str)])),
];
const SSR: Schema = &[(1, "metadata", F::Msg(OBJECT_META))];
const POLICY_RULE: Schema = &[
    (1, "verbs", F::RepStr),
    (2, "apiGroups", F::RepStr),
    (3, "resources", F::RepStr),
    (4, "resourceNames", F::RepStr),
    (5, "nonResourceURLs", F::RepStr),
];
const ROLE: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "rules", F::RepMsg(POLICY_RULE)),
];
const SUBJECT: Schema = &[
    (1, "kind", F::Str),
    (2, "apiGroup", F::Str),
    (3, "name", F::Str),
    (4, "namespace", F::Str),
];
const ROLE_BINDING: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "subjects", F::RepMsg(SUBJECT)),
    (
        3,
        "roleRef",
        F::Msg(&[
            (1, "apiGroup", F::Str),
            (2, "kind", F::Str),
            (3, "name", F::Str),
        ]),
    ),
];
const QUOTA: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[(1, "hard", F::MapQuantity), (2, "scopes", F::RepStr)]),
    ),
];
const LABEL_SELECTOR: Schema = &[(1, "matchLabels", F::MapStr)];
const CONTAINER_PORT: Schema = &[
    (1, "name", F::Str),
    (2, "hostPort", F::Int),
    (3, "containerPort", F::Int),
    (4, "protocol", F::Str),
];
const ENV_VAR: Schema = &[(1, "name", F::Str), (2, "value", F::Str)];
const CONTAINER: Schema = &[
    (1, "name", F::Str),
    (2, "image", F::Str),
    (3, "command", F::RepStr),
    (4, "args", F::RepStr),
    (5, "workingDir", F::Str),
    (6, "ports", F::RepMsg(CONTAINER_PORT)),
    (7, "env", F::RepMsg(ENV_VAR)),
    (14, "imagePullPolicy", F::Str),
];
const POD_SPEC: Schema = &[
    (2, "containers", F::RepMsg(CONTAINER)),
    (3, "restartPolicy", F::Str),
    (4, "terminationGracePeriodSeconds", F::Int),
    (8, "serviceAccountName", F::Str),
];
const DEPLOYMENT: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "replicas", F::Int),
            (2, "selector", F::Msg(LABEL_SELECTOR)),
            (
                3,
                "template",
                F::Msg(&[
                    (1, "metadata", F::Msg(OBJECT_META)),
                    (2, "spec", F::Msg(POD_SPEC)),
                ]),
            ),
            (4, "strategy", F::Msg(&[(1, "type", F::Str)])),
            (5, "minReadySeconds", F::Int),
        ]),
    ),
];
const SERVICE_PORT: Schema = &[
    (1, "name", F::Str),
    (2, "protocol", F::Str),
    (3, "port", F::Int),
    (4, "targetPort", F::IntOrString),
];
const SERVICE: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "ports", F::RepMsg(SERVICE_PORT)),
            (2, "selector", F::MapStr),
            (3, "clusterIP", F::Str),
            (4, "type", F::Str),
        ]),
    ),
];

fn schema_for(kind: &str) -> Option<Schema> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "Secret" => SECRET,
        "ConfigMap" => CONFIG_MAP,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "TokenRequest" => TOKEN_REQUEST,
        "SelfSubjectAccessReview" => SSAR,
        "SelfSubjectRulesReview" => SSRR,
        "SelfSubjectReview" => SSR,
        "Role" | "ClusterRole" => ROLE,
        "RoleBinding" | "ClusterRoleBinding" => ROLE_BINDING,
        "ResourceQuota" => QUOTA,
        "Deployment" => DEPLOYMENT,
        "Service" => SERVICE,
        _ => return None,
    })
}

fn bad(msg: &str) -> ApiError {
    ApiError::bad_request(format!("couldn't decode protobuf body: {msg}"))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, ApiError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = (tag >> 3) as u32;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Wire::Fixed
            }
            2 => {
                let len = self.varint()? as usize;
                let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
                let end = end.ok_or_else(|| bad("length beyond the body"))?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            5 => {
                self.pos += 4;
                Wire::Fixed
            }
            w => return Err(bad(&format!("unsupported wire type {w}"))),
        };
        Ok(Some((field, wire)))
    }
}

fn string(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn map_entry(b: &[u8]) -> Result<(String, Option<&[u8]>), ApiError> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), None);
    while let Some((f, w)) = r.next()? {
        if let Wire::Bytes(x) = w {
            match f {
                1 => k = String::from_utf8_lossy(x).into_owned(),
                2 => v = Some(x),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn decode_msg(buf: &[u8], schema: Schema) -> Result<Value, ApiError> {
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, wire)) = r.next()? {
        let Some((_, name, ty)) = schema.iter().find(|(n, _, _)| *n == field) else {
            continue;
        };
        let name = name.to_string();
        match (ty, wire) {
            (F::Str, Wire::Bytes(b)) => {
                if !b.is_empty() {
                    out.insert(name, string(b));
                }
            }
            (F::Bytes, Wire::Bytes(b)) => {
                out.insert(
                    name,
                    base64::engine::general_purpose::STANDARD.encode(b).into(),
                );
            }
            (F::Int, Wire::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (F::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (F::Time, Wire::Bytes(b)) => {
                let t = decode_msg(b, &[(1, "seconds", F::Int)])?;
                if let Some(s) = t.get("seconds").and_then(Value::as_i64).filter(|s| *s != 0) {
                    let time =
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64);
                    out.insert(name, crate::meta::rfc3339(time).into());
                }
            }
            (F::IntOrString, Wire::Bytes(b)) => {
                let v = decode_msg(
                    b,
                    &[
                        (1, "type", F::Int),
                        (2, "intVal", F::Int),
                        (3, "strVal", F::Str),
                    ],
                )?;
                let val = if v.get("type").and_then(Value::as_i64) == Some(1) {
                    v.get("strVal").cloned().unwrap_or(json!(""))
                } else {
                    v.get("intVal").cloned().unwrap_or(json!(0))
                };
                out.insert(name, val);
            }
            (F::Msg(s), Wire::Bytes(b)) => {
                out.insert(name, decode_msg(b, s)?);
            }
            (F::RepStr, Wire::Bytes(b)) => {
                let e = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(string(b));
                }
            }
            (F::RepMsg(s), Wire::Bytes(b)) => {
                let item = decode_msg(b, s)?;
                let e = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(item);
                }
            }
            (F::MapStr | F::MapBytes | F::MapQuantity, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                let v = v.unwrap_or(&[]);
                let val = match ty {
                    F::MapStr => string(v),
                    F::MapBytes => base64::engine::general_purpose::STANDARD.encode(v).into(),
                    _ => decode_msg(v, &[(1, "string", F::Str)])?
                        .get("string")
                        .cloned()
                        .unwrap_or(json!("0")),
                };
                let e = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = e.as_object_mut() {
                    m.insert(k, val);
                }
            }
            _ => return Err(bad(&format!("field {field} has an unexpected wire type"))),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-framed protobuf body into the JSON object it stands for.
pub fn decode(rt: &ResourceType, body: &[u8]) -> Result<Value, ApiError> {
    let inner = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s\\0 magic prefix"))?;
    let unknown = decode_msg(
        inner,
        &[
            (
                1,
                "typeMeta",
                F::Msg(&[(1, "apiVersion", F::Str), (2, "kind", F::Str)]),
            ),
            (2, "raw", F::Bytes),
        ],
    )?;
    let kind = unknown
        .pointer("/typeMeta/kind")
        .and_then(Value::as_str)
        .unwrap_or(rt.kind)
        .to_string();
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_default();
    let schema = schema_for(&kind).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("kube-sim cannot decode {kind} from protobuf; send it as application/json"),
        )
    })?;
    let mut obj = decode_msg(&raw, schema)?;
    obj["kind"] = kind.into();
    if let Some(av) = unknown.pointer("/typeMeta/apiVersion") {
        obj["apiVersion"] = av.clone();
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![((n << 3) | 2) as u8, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_namespace_envelope() {
        let meta = field(1, b"demo");
        let ns = field(1, &meta);
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &ns));
        let rt = crate::resources::find("", "v1", "namespaces").unwrap();
        let v = decode(rt, &body).unwrap();
        assert_eq!(v["metadata"]["name"], "demo");
        assert_eq!(v["kind"], "Namespace");
    }
}
