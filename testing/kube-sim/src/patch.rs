//! The three patch formats kubectl and kube-rs send: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch (merge keys for the lists of built-in kinds).

use crate::status::ApiError;
use serde_json::{Map, Value};

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), ApiError> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok((path[..idx].to_string(), unescape(&path[idx + 1..])))
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let p = doc
        .pointer_mut(&parent)
        .ok_or_else(|| ApiError::invalid(format!("path {parent:?} does not exist")))?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("bad array index {last:?}")))?;
                if i > a.len() {
                    return Err(ApiError::invalid(format!("index {i} out of bounds")));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(ApiError::invalid(format!("{parent:?} is not a container"))),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, last) = split_pointer(path)?;
    let p = doc
        .pointer_mut(&parent)
        .ok_or_else(|| ApiError::invalid(format!("path {parent:?} does not exist")))?;
    match p {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| ApiError::invalid(format!("path {path:?} does not exist"))),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| ApiError::invalid(format!("bad array index {last:?}")))?;
            if i >= a.len() {
                return Err(ApiError::invalid(format!("index {i} out of bounds")));
            }
            Ok(a.remove(i))
        }
        _ => Err(ApiError::invalid(format!("{parent:?} is not a container"))),
    }
}

/// RFC 6902 operations: add, remove, replace, move, copy, test.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array of operations"))?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match kind {
            "add" => add_at(doc, path, value)?,
            "remove" => {
                remove_at(doc, path)?;
            }
            "replace" => {
                let slot = doc
                    .pointer_mut(path)
                    .ok_or_else(|| ApiError::invalid(format!("path {path:?} does not exist")))?;
                *slot = value;
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).unwrap_or("");
                let v = if kind == "move" {
                    remove_at(doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| ApiError::invalid(format!("path {from:?} does not exist")))?
                };
                add_at(doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value) {
                    return Err(ApiError::invalid(format!(
                        "test operation failed at {path:?}"
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown JSON patch op {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The merge key of a list field of a built-in kind, judged from its name and elements.
pub fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    let has = |k: &str| sample.is_some_and(|s| s.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" => Some("port"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

/// Lists of scalars that strategic merge patch merges as sets.
fn is_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Strategic merge patch as kubectl computes it: maps merge, lists with a merge key merge by
/// key (`$patch: delete` removes an element), `$setElementOrder`/`$retainKeys` are honoured
/// loosely (order and retain hints are ignored), `$deleteFromPrimitiveList` removes values.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = p.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
            Value::Array(items) => {
                let sample = items.iter().find(|i| i.is_object());
                let key = merge_key(k, sample);
                let existing = t.get_mut(k);
                match (key, existing) {
                    (Some(key), Some(Value::Array(cur))) => merge_list(cur, items, key),
                    (None, Some(Value::Array(cur))) if is_set_list(k) => {
                        for i in items {
                            if !cur.contains(i) {
                                cur.push(i.clone());
                            }
                        }
                    }
                    (Some(_), _) => {
                        let cleaned: Vec<Value> = items
                            .iter()
                            .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                            .map(strip_directives)
                            .collect();
                        t.insert(k.clone(), Value::Array(cleaned));
                    }
                    (None, _) => {
                        t.insert(
                            k.clone(),
                            Value::Array(items.iter().map(strip_directives).collect()),
                        );
                    }
                }
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key);
        let pos = cur.iter().position(|c| id.is_some() && c.get(key) == id);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut cur[i], item),
            (None, false) => cur.push(strip_directives(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_null() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"a": [1, 2], "b": "x"});
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/a/-", "value": 3},
                     {"op": "replace", "path": "/b", "value": "y"},
                     {"op": "remove", "path": "/a/0"}]),
        )
        .unwrap();
        assert_eq!(t, json!({"a": [2, 3], "b": "y"}));
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/b", "value": "z"}])).is_err());
    }

    #[test]
    fn strategic_merge_by_key() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "a"}],
                              "containers": [{"name": "a", "image": "3"}, {"name": "b", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "a", "image": "3"}]}})
        );
    }
}
