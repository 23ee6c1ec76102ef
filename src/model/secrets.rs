//! `secrets:`, `id_tokens:` and `release:` — keywords gantry does not act on locally (no
//! secret provider, no OIDC issuer, no releases), but whose shape it checks as GitLab does.

use super::decode::Ctx;
use super::keywords;
use super::steps::require;
use crate::diagnostic::{Code, Diagnostic};
use crate::load::node::{Node, Value};

/// Checks `secrets:`: every secret names exactly one provider.
pub fn check_secrets(node: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(node, "`secrets`") else {
        return;
    };
    for (name, e) in m {
        let what = format!("secret `{name}`");
        let Some(s) = ctx.map(&e.value, &what) else {
            continue;
        };
        let allowed: Vec<&str> = keywords::SECRET_PROVIDERS
            .iter()
            .chain(keywords::SECRET_OPTIONS)
            .copied()
            .collect();
        ctx.check_keys(s, &allowed, &what);
        let providers: Vec<&str> = keywords::SECRET_PROVIDERS
            .iter()
            .copied()
            .filter(|p| s.contains_key(*p))
            .collect();
        if providers.is_empty() {
            ctx.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    e.value.span,
                    format!("{what} names no secret provider"),
                )
                .with_help(format!(
                    "add one of: {}",
                    keywords::SECRET_PROVIDERS.join(", ")
                )),
            );
        }
        if s.contains_key("gcp_secret_manager") && !s.contains_key("token") {
            ctx.error(
                Code::InvalidValue,
                e.value.span,
                format!("{what} uses `gcp_secret_manager`, which needs `token:`"),
            );
        }
        if let Some(f) = s.get("file") {
            ctx.bool(&f.value, "`secrets:file`");
        }
        if let Some(t) = s.get("token") {
            ctx.string(&t.value, "`secrets:token`");
        }
        for provider in providers {
            check_provider(provider, &s[provider].value, ctx);
        }
    }
}

fn check_provider(provider: &str, v: &Node, ctx: &mut Ctx) {
    let what = format!("`{provider}`");
    let (keys, required): (&[&str], &[&str]) = match provider {
        "vault" if matches!(v.value, Value::Str(_)) => return,
        "vault" => (&["engine", "path", "field"], &["engine", "path", "field"]),
        "aws_secrets_manager" if matches!(v.value, Value::Str(_)) => return,
        "aws_secrets_manager" => (
            &[
                "secret_id",
                "version_id",
                "version_stage",
                "region",
                "role_arn",
                "role_session_name",
                "field",
            ],
            &["secret_id"],
        ),
        "gcp_secret_manager" => (&["name", "version"], &["name"]),
        _ => (&["name", "version"], &["name"]),
    };
    let Some(m) = ctx.map(v, &what) else {
        return;
    };
    ctx.check_keys(m, keys, &what);
    require(m, required, v, &what, ctx);
    if let Some(engine) = m.get("engine")
        && let Some(em) = ctx.map(&engine.value, "`vault:engine`")
    {
        ctx.check_keys(em, &["name", "path"], "`vault:engine`");
        require(em, &["name", "path"], &engine.value, "`vault:engine`", ctx);
    }
}

/// Checks `id_tokens:`: every token has `aud` (a string or a non-empty list of unique strings).
pub fn check_id_tokens(node: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(node, "`id_tokens`") else {
        return;
    };
    for (name, e) in m {
        let what = format!("ID token `{name}`");
        let Some(t) = ctx.map(&e.value, &what) else {
            continue;
        };
        ctx.check_keys(t, &["aud"], &what);
        match t.get("aud") {
            None => ctx.error(
                Code::InvalidValue,
                e.value.span,
                format!("{what} needs `aud:`"),
            ),
            Some(a) if matches!(a.value.value, Value::Seq(_)) => {
                if let Some(items) = ctx.unique_items(&a.value, "`aud`") {
                    for i in items {
                        ctx.string(i, "each `aud`");
                    }
                }
            }
            Some(a) => {
                ctx.string(&a.value, "`aud`");
            }
        }
    }
}

/// Checks `release:`: `tag_name` and `description` are required.
pub fn check_release(node: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(node, "`release`") else {
        return;
    };
    ctx.check_keys(m, keywords::RELEASE, "`release`");
    require(m, &["tag_name", "description"], node, "`release`", ctx);
    for (key, e) in m {
        match key.as_str() {
            "tag_name" | "description" => {
                ctx.non_empty(&e.value, &format!("`release:{key}`"));
            }
            "milestones" => {
                ctx.list_of_strings(&e.value, "`release:milestones`");
            }
            "assets" => check_assets(&e.value, ctx),
            _ if keywords::RELEASE.contains(&key.as_str()) => {
                ctx.string(&e.value, &format!("`release:{key}`"));
            }
            _ => {}
        }
    }
}

/// `release:assets`: `links`, a non-empty list of `{name, url, filepath, link_type}`.
fn check_assets(node: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(node, "`release:assets`") else {
        return;
    };
    ctx.check_keys(m, &["links"], "`release:assets`");
    require(m, &["links"], node, "`release:assets`", ctx);
    let Some(links) = m.get("links") else {
        return;
    };
    let Some(items) = links.value.as_seq() else {
        return ctx.type_error(&links.value, "`release:assets:links`", "a list of links");
    };
    if items.is_empty() {
        ctx.error(
            Code::InvalidValue,
            links.value.span,
            "`release:assets:links` cannot be an empty list",
        );
    }
    for link in items {
        let Some(l) = ctx.map(link, "a release link") else {
            continue;
        };
        ctx.check_keys(
            l,
            &["name", "url", "filepath", "link_type"],
            "a release link",
        );
        require(l, &["name", "url"], link, "a release link", ctx);
        for key in ["name", "url"] {
            if let Some(e) = l.get(key) {
                ctx.non_empty(&e.value, &format!("a release link's `{key}`"));
            }
        }
        if let Some(t) = l.get("link_type") {
            ctx.choice(
                &t.value,
                "`link_type`",
                &["runbook", "package", "image", "other"],
            );
        }
    }
}
