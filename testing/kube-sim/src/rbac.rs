//! RBAC authorisation of ServiceAccount requests: Roles and ClusterRoles reached through
//! RoleBindings (in the request's namespace) and ClusterRoleBindings.

use crate::auth::User;
use crate::status::{ApiError, qualified};
use crate::store::Store;
use serde_json::{Value, json};

/// What a request wants to do, as RBAC sees it.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    /// RBAC verb (`get`, `list`, `watch`, `create`, ...).
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Plural resource; empty for non-resource URLs.
    pub resource: String,
    /// Subresource (`log`, `exec`, `token`, `status`) or "".
    pub subresource: String,
    /// Object name or "".
    pub name: String,
    /// Namespace or "" for cluster scope.
    pub namespace: String,
    /// Request path for non-resource requests (`/version`, `/api`).
    pub path: String,
}

fn contains(list: Option<&Value>, want: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .any(|x| x == "*" || x == want)
    })
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    if !contains(rule.get("verbs"), &a.verb) {
        return false;
    }
    if a.resource.is_empty() {
        return rule
            .get("nonResourceURLs")
            .and_then(Value::as_array)
            .is_some_and(|urls| {
                urls.iter().filter_map(Value::as_str).any(|u| {
                    u == "*"
                        || u == a.path
                        || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
                })
            });
    }
    if !contains(rule.get("apiGroups"), &a.group) {
        return false;
    }
    let full = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = rule
        .get("resources")
        .and_then(Value::as_array)
        .is_some_and(|rs| {
            rs.iter().filter_map(Value::as_str).any(|r| {
                r == "*"
                    || r == full
                    || (!a.subresource.is_empty() && r == format!("*/{}", a.subresource))
            })
        });
    if !resource_ok {
        return false;
    }
    match rule.get("resourceNames").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => names
            .iter()
            .filter_map(Value::as_str)
            .any(|n| !a.name.is_empty() && n == a.name),
        _ => true,
    }
}

fn subject_matches(binding: &Value, user: &User) -> bool {
    let groups = user.groups();
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
                let name = s.get("name").and_then(Value::as_str).unwrap_or("");
                match (kind, user) {
                    ("ServiceAccount", User::ServiceAccount { namespace, name: n }) => {
                        name == n
                            && s.get("namespace").and_then(Value::as_str)
                                == Some(namespace.as_str())
                    }
                    ("User", u) => name == u.username(),
                    ("Group", _) => groups.iter().any(|g| g == name),
                    _ => false,
                }
            })
        })
}

/// Requests every authenticated user may make (discovery, version, self reviews), as the
/// default `system:discovery`, `system:basic-user` and `system:public-info-viewer` roles allow.
fn always_allowed(a: &Attributes) -> bool {
    if a.resource.is_empty() {
        return a.verb == "get";
    }
    a.verb == "create"
        && matches!(
            (a.group.as_str(), a.resource.as_str()),
            ("authorization.k8s.io", "selfsubjectaccessreviews")
                | ("authorization.k8s.io", "selfsubjectrulesreviews")
                | ("authentication.k8s.io", "selfsubjectreviews")
        )
}

/// The rules that apply to `user` in `namespace` (cluster-wide ones always).
pub fn rules_for(store: &Store, user: &User, namespace: &str) -> Vec<Value> {
    let mut rules = Vec::new();
    let role_rules = |key: &str, ns: &str, name: &str| -> Vec<Value> {
        store
            .get(key, ns, name)
            .and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let (crbs, _) = store.list("rbac.authorization.k8s.io/clusterrolebindings", None);
    for b in crbs.iter().filter(|b| subject_matches(b, user)) {
        if b.pointer("/roleRef/kind").and_then(Value::as_str) == Some("ClusterRole") {
            let name = b
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            rules.extend(role_rules(
                "rbac.authorization.k8s.io/clusterroles",
                "",
                name,
            ));
        }
    }
    if !namespace.is_empty() {
        let (rbs, _) = store.list("rbac.authorization.k8s.io/rolebindings", Some(namespace));
        for b in rbs.iter().filter(|b| subject_matches(b, user)) {
            let name = b
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            match b.pointer("/roleRef/kind").and_then(Value::as_str) {
                Some("Role") => rules.extend(role_rules(
                    "rbac.authorization.k8s.io/roles",
                    namespace,
                    name,
                )),
                Some("ClusterRole") => rules.extend(role_rules(
                    "rbac.authorization.k8s.io/clusterroles",
                    "",
                    name,
                )),
                _ => {}
            }
        }
    }
    rules
}

/// Whether `user` may do `a`.
pub fn authorize(store: &Store, user: &User, a: &Attributes) -> bool {
    match user {
        User::Admin => true,
        User::ServiceAccount { .. } => {
            always_allowed(a)
                || rules_for(store, user, &a.namespace)
                    .iter()
                    .any(|r| rule_allows(r, a))
        }
    }
}

/// The 403 Kubernetes returns, with its exact message shape.
pub fn forbidden(user: &User, a: &Attributes) -> ApiError {
    let who = user.username();
    let message = if a.resource.is_empty() {
        format!(
            "forbidden: User \"{who}\" cannot {} path \"{}\"",
            a.verb, a.path
        )
    } else {
        let res = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let subject = if a.name.is_empty() {
            qualified(&a.group, &res)
        } else {
            format!("{} \"{}\"", qualified(&a.group, &res), a.name)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", a.namespace)
        };
        format!(
            "{subject} is forbidden: User \"{who}\" cannot {} resource \"{res}\" in API group \"{}\" {scope}",
            a.verb, a.group
        )
    };
    let mut e = ApiError::new(403, "Forbidden", message);
    e.details = Some(json!({"name": a.name, "group": a.group, "kind": a.resource}));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(verb: &str, resource: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: resource.into(),
            namespace: ns.into(),
            ..Default::default()
        }
    }

    #[test]
    fn role_binding_grants_only_its_namespace() {
        let s = Store::new(100);
        s.put(
            "rbac.authorization.k8s.io/roles",
            json!({"metadata": {"name": "r", "namespace": "a"},
                   "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]}]}),
            None,
        )
        .unwrap();
        s.put(
            "rbac.authorization.k8s.io/rolebindings",
            json!({"metadata": {"name": "b", "namespace": "a"},
                   "roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
                   "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "a"}]}),
            None,
        )
        .unwrap();
        let u = User::ServiceAccount {
            namespace: "a".into(),
            name: "sa".into(),
        };
        assert!(authorize(&s, &u, &attrs("create", "configmaps", "a")));
        assert!(!authorize(&s, &u, &attrs("create", "configmaps", "b")));
        assert!(!authorize(&s, &u, &attrs("list", "namespaces", "")));
        assert!(!authorize(&s, &u, &attrs("delete", "configmaps", "a")));
        let msg = forbidden(&u, &attrs("list", "namespaces", "")).message;
        assert_eq!(
            msg,
            "namespaces is forbidden: User \"system:serviceaccount:a:sa\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }
}
