//! Authentication: bearer tokens. The admin token is fixed per instance; ServiceAccount tokens
//! are minted by TokenRequest (JWT-shaped, looked up in memory; not signature-checked JWTs).

use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub enum User {
    /// The admin of the kubeconfig (member of `system:masters`; never authorised by RBAC).
    Admin,
    /// A ServiceAccount authenticated by a token from TokenRequest.
    ServiceAccount {
        /// Namespace of the ServiceAccount.
        namespace: String,
        /// Name of the ServiceAccount.
        name: String,
    },
}

impl User {
    /// The user name as Kubernetes prints it in messages and reviews.
    pub fn username(&self) -> String {
        match self {
            User::Admin => "kube-sim-admin".to_string(),
            User::ServiceAccount { namespace, name } => {
                format!("system:serviceaccount:{namespace}:{name}")
            }
        }
    }

    /// Groups the user belongs to (RBAC subjects of kind Group match these).
    pub fn groups(&self) -> Vec<String> {
        match self {
            User::Admin => vec!["system:masters".into(), "system:authenticated".into()],
            User::ServiceAccount { namespace, .. } => vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }
}

struct SaToken {
    namespace: String,
    name: String,
    expires: i64,
}

/// The tokens this instance accepts.
pub struct Tokens {
    admin: String,
    service_accounts: Mutex<HashMap<String, SaToken>>,
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

impl Tokens {
    /// A token set with a fresh random admin token.
    pub fn new() -> Tokens {
        Tokens {
            admin: format!("kube-sim-admin.{}", b64url(&crate::meta::random_bytes(24))),
            service_accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The admin bearer token (written into the kubeconfig).
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// Resolves an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Option<User> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        if token == self.admin {
            return Some(User::Admin);
        }
        let map = self
            .service_accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let t = map.get(token)?;
        (t.expires > crate::meta::now_secs()).then(|| User::ServiceAccount {
            namespace: t.namespace.clone(),
            name: t.name.clone(),
        })
    }

    /// Mints a ServiceAccount token valid for `ttl_seconds`; returns it and its expiry (epoch s).
    pub fn mint(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        ttl_seconds: i64,
        audiences: &[String],
    ) -> (String, i64) {
        let now = crate::meta::now_secs();
        let exp = now + ttl_seconds.max(600);
        let header = json!({"alg": "RS256", "kid": "kube-sim"});
        let claims = json!({
            "aud": audiences,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        });
        let token = format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes()),
            b64url(&crate::meta::random_bytes(32))
        );
        self.service_accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                SaToken {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    expires: exp,
                },
            );
        (token, exp)
    }

    /// Forgets every token of a ServiceAccount (it was deleted).
    pub fn revoke(&self, namespace: &str, name: &str) {
        self.service_accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| !(t.namespace == namespace && t.name == name));
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new()
    }
}
