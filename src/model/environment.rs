//! `environment:` — where a job deploys, including the Kubernetes namespace it uses.

use super::decode::Ctx;
use super::keywords;
use crate::load::node::{Node, Value};
use crate::source::Spanned;

/// A deployment environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    /// Name (may contain variables, e.g. `review/$CI_COMMIT_REF_SLUG`).
    pub name: Spanned<String>,
    /// URL shown for the environment.
    pub url: Option<Spanned<String>>,
    /// Job that stops the environment.
    pub on_stop: Option<Spanned<String>>,
    /// `start` (default), `prepare`, `stop`, `verify` or `access`.
    pub action: Option<Spanned<String>>,
    /// Seconds before the environment is stopped automatically.
    pub auto_stop_in: Option<Spanned<u64>>,
    /// `kubernetes: {namespace}`.
    pub kubernetes_namespace: Option<Spanned<String>>,
    /// `deployment_tier`.
    pub deployment_tier: Option<Spanned<String>>,
}

/// Decodes `environment:` (a name or a mapping).
pub fn decode_environment(node: &Node, ctx: &mut Ctx) -> Option<Environment> {
    let m = match &node.value {
        Value::Str(s) => {
            return Some(Environment {
                name: Spanned::new(s.clone(), node.span),
                url: None,
                on_stop: None,
                action: None,
                auto_stop_in: None,
                kubernetes_namespace: None,
                deployment_tier: None,
            });
        }
        Value::Map(m) => m,
        _ => {
            ctx.type_error(node, "`environment`", "a name or a mapping with `name`");
            return None;
        }
    };
    ctx.check_keys(m, keywords::ENVIRONMENT, "`environment`");
    let Some(name) = m.get("name") else {
        ctx.error(
            crate::diagnostic::Code::InvalidValue,
            node.span,
            "`environment` needs `name:`",
        );
        return None;
    };
    let kubernetes_namespace = m.get("kubernetes").and_then(|k| {
        let km = ctx.map(&k.value, "`environment:kubernetes`")?;
        ctx.check_keys(
            km,
            &[
                "namespace",
                "agent",
                "flux_resource_path",
                "dashboard",
                "managed_resources",
            ],
            "`environment:kubernetes`",
        );
        km.get("namespace")
            .and_then(|n| ctx.text(&n.value, "`kubernetes:namespace`"))
    });
    Some(Environment {
        name: ctx.text(&name.value, "`environment:name`")?,
        url: m.get("url").and_then(|u| url(&u.value, ctx)),
        on_stop: m
            .get("on_stop")
            .and_then(|u| ctx.text(&u.value, "`environment:on_stop`")),
        action: m.get("action").and_then(|a| {
            ctx.choice(
                &a.value,
                "`environment:action`",
                keywords::ENVIRONMENT_ACTION,
            )
        }),
        auto_stop_in: m.get("auto_stop_in").and_then(|a| match a.value.as_str() {
            Some("never") => Some(Spanned::new(u64::MAX, a.value.span)),
            // GitLab expands variables here when the job runs.
            Some(v) if v.contains('$') => None,
            _ => ctx.duration(&a.value, "`environment:auto_stop_in`"),
        }),
        kubernetes_namespace,
        deployment_tier: m.get("deployment_tier").and_then(|t| {
            if t.value.as_str().is_some_and(|v| v.contains('$')) {
                return ctx.string(&t.value, "`environment:deployment_tier`");
            }
            ctx.choice(
                &t.value,
                "`environment:deployment_tier`",
                keywords::DEPLOYMENT_TIER,
            )
        }),
    })
}

/// `environment:url`: an http(s) URL, or text starting with a variable that holds one.
fn url(node: &Node, ctx: &mut Ctx) -> Option<Spanned<String>> {
    let s = ctx.string(node, "`environment:url`")?;
    if keywords::valid_environment_url(&s.value) {
        return Some(s);
    }
    ctx.push(
        crate::diagnostic::Diagnostic::error(
            crate::diagnostic::Code::InvalidValue,
            node.span,
            format!("`environment:url` `{}` is not an http(s) URL", s.value),
        )
        .with_help("write e.g. `https://$CI_ENVIRONMENT_SLUG.example.com`"),
    );
    None
}
