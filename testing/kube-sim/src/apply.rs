//! Server-side apply, simplified: the applied configuration is merged like a strategic merge
//! patch; fields the same field manager applied before and now omits are removed; the
//! manager's `managedFields` entry (FieldsV1) records what it owns. Conflicts between managers
//! are not detected (every apply behaves as if `force=true`).

use crate::patch::{merge_key, strategic_merge};
use serde_json::{Map, Value, json};

/// Removes from `target` what `before` set and `after` no longer sets.
fn remove_dropped(target: &mut Value, before: &Value, after: &Value, field: &str) {
    match (target, before, after) {
        (Value::Object(t), Value::Object(b), a) => {
            for (k, bv) in b {
                match a.get(k) {
                    None => {
                        t.remove(k);
                    }
                    Some(av) => {
                        if let Some(tv) = t.get_mut(k) {
                            remove_dropped(tv, bv, av, k);
                        }
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(b), Value::Array(a)) => {
            let Some(key) = merge_key(field, b.iter().find(|x| x.is_object())) else {
                return;
            };
            for bi in b {
                let id = bi.get(key);
                match a.iter().find(|ai| ai.get(key) == id) {
                    None => t.retain(|ti| ti.get(key) != id),
                    Some(ai) => {
                        if let Some(ti) = t.iter_mut().find(|ti| ti.get(key) == id) {
                            remove_dropped(ti, bi, ai, "");
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// FieldsV1 of an applied configuration (`f:` for fields, `k:` for keyed list elements).
pub fn fields_v1(v: &Value, field: &str) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                out.insert(format!("f:{k}"), fields_v1(child, k));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let Some(key) = merge_key(field, items.iter().find(|x| x.is_object())) else {
                return json!({});
            };
            let mut out = Map::new();
            for item in items {
                if let Some(id) = item.get(key) {
                    let mut sub = match fields_v1(item, "") {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    sub.insert(".".into(), json!({}));
                    out.insert(format!("k:{}", json!({ key: id })), Value::Object(sub));
                }
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

/// The object after `manager` applies `applied` (previously applied `last`) to `existing`.
pub fn apply(
    existing: Option<&Value>,
    applied: &Value,
    last: Option<&Value>,
    manager: &str,
    now: &str,
) -> Value {
    let mut obj = existing.cloned().unwrap_or_else(|| json!({}));
    if let Some(last) = last {
        remove_dropped(&mut obj, last, applied, "");
    }
    strategic_merge(&mut obj, applied);
    let mut owned = applied.clone();
    if let Some(m) = owned.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("name");
            md.remove("namespace");
            md.remove("resourceVersion");
            md.remove("managedFields");
        }
    }
    let api_version = applied.get("apiVersion").cloned().unwrap_or(Value::Null);
    let entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(&owned, ""),
    });
    let md = crate::meta::metadata_mut(&mut obj);
    let mut fields: Vec<Value> = md
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    fields.retain(|f| {
        !(f.get("manager").and_then(Value::as_str) == Some(manager)
            && f.get("operation").and_then(Value::as_str) == Some("Apply"))
    });
    fields.push(entry);
    md.insert("managedFields".into(), Value::Array(fields));
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_removes_fields_the_manager_dropped() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let o1 = apply(None, &first, None, "m", "t");
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let o2 = apply(Some(&o1), &second, Some(&first), "m", "t");
        assert_eq!(o2["data"], json!({"a": "1"}));
        assert_eq!(o2["metadata"]["managedFields"][0]["manager"], "m");
        assert!(o2["metadata"]["managedFields"][0]["fieldsV1"]["f:data"]["f:a"].is_object());
    }
}
