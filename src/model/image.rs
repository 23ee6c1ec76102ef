//! `image:` and `services:`.

use super::decode::Ctx;
use super::keywords;
use super::variables::{self, Variables};
use crate::load::node::{Map, Node, Value};
use crate::source::Spanned;

/// A container image.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Image reference (`alpine:3.20`).
    pub name: Spanned<String>,
    /// Entrypoint override.
    pub entrypoint: Option<Vec<String>>,
    /// `docker: {user}`.
    pub user: Option<String>,
    /// `docker: {platform}`.
    pub platform: Option<String>,
    /// `pull_policy:` values.
    pub pull_policy: Vec<String>,
}

/// A service container.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The image.
    pub image: Image,
    /// Extra hostname.
    pub alias: Option<String>,
    /// Command override.
    pub command: Option<Vec<String>>,
    /// Service-only variables.
    pub variables: Variables,
}

/// Decodes `image:`.
pub fn decode_image(node: &Node, ctx: &mut Ctx) -> Option<Image> {
    match &node.value {
        Value::Str(_) => ctx.non_empty(node, "`image`").map(plain),
        Value::Map(m) => {
            ctx.check_keys(m, keywords::IMAGE, "`image`");
            image_from_map(m, node, ctx, "`image`")
        }
        _ => {
            ctx.type_error(node, "`image`", "an image name or a mapping with `name`");
            None
        }
    }
}

fn plain(name: Spanned<String>) -> Image {
    Image {
        name,
        entrypoint: None,
        user: None,
        platform: None,
        pull_policy: Vec::new(),
    }
}

fn image_from_map(m: &Map, node: &Node, ctx: &mut Ctx, what: &str) -> Option<Image> {
    let Some(name) = m.get("name") else {
        ctx.error(
            crate::diagnostic::Code::InvalidValue,
            node.span,
            format!("{what} in mapping form needs `name:`"),
        );
        return None;
    };
    let mut image = plain(ctx.non_empty(&name.value, &format!("{what}:name"))?);
    image.entrypoint = m.get("entrypoint").map(|e| {
        if e.value.as_seq().is_some_and(<[Node]>::is_empty) {
            ctx.error(
                crate::diagnostic::Code::InvalidValue,
                e.value.span,
                "`entrypoint` cannot be an empty list",
            );
        }
        strings(ctx.list_of_strings(&e.value, "`entrypoint`"))
    });
    if let Some(d) = m.get("docker").and_then(|d| ctx.map(&d.value, "`docker`")) {
        ctx.check_keys(d, &["user", "platform"], "`docker`");
        image.user = d
            .get("user")
            .and_then(|u| user(&u.value, ctx, "`docker:user`", false));
        image.platform = d
            .get("platform")
            .and_then(|p| ctx.non_empty(&p.value, "`docker:platform`"))
            .map(|s| s.value);
    }
    if let Some(k) = m
        .get("kubernetes")
        .and_then(|k| ctx.map(&k.value, "`kubernetes`"))
    {
        ctx.check_keys(k, &["user"], "`kubernetes`");
        if let Some(u) = k.get("user") {
            user(&u.value, ctx, "`kubernetes:user`", true);
        }
    }
    if let Some(p) = m.get("pull_policy") {
        let values: Vec<&Node> = match &p.value.value {
            Value::Seq(_) => ctx
                .unique_items(&p.value, "`pull_policy`")
                .unwrap_or_default()
                .iter()
                .collect(),
            _ => vec![&p.value],
        };
        image.pull_policy = values
            .into_iter()
            .filter_map(|v| ctx.choice(v, "`pull_policy`", keywords::PULL_POLICY))
            .map(|s| s.value)
            .collect();
    }
    Some(image)
}

/// Decodes `services:`.
pub fn decode_services(node: &Node, ctx: &mut Ctx) -> Vec<Service> {
    let Some(items) = node.as_seq() else {
        ctx.type_error(node, "`services`", "a list of services");
        return Vec::new();
    };
    let mut out = Vec::new();
    // `Entry::Services` is a `ComposableArray`: nested lists (from `!reference`) are flattened.
    for item in items.iter().flat_map(super::decode::flat_items) {
        match &item.value {
            Value::Str(_) => {
                if let Some(name) = ctx.non_empty(item, "a service") {
                    out.push(Service {
                        image: plain(name),
                        alias: None,
                        command: None,
                        variables: Variables::new(),
                    });
                }
            }
            Value::Map(m) => {
                ctx.check_keys(m, keywords::SERVICE, "a service");
                let Some(image) = image_from_map(m, item, ctx, "a service") else {
                    continue;
                };
                out.push(Service {
                    image,
                    alias: m
                        .get("alias")
                        .and_then(|a| ctx.non_empty(&a.value, "`alias`"))
                        .map(|s| s.value),
                    command: m
                        .get("command")
                        .map(|c| strings(ctx.string_list(&c.value, "`command`"))),
                    variables: m
                        .get("variables")
                        .map(|v| variables::decode(&v.value, ctx, "service `variables`"))
                        .unwrap_or_default(),
                });
            }
            _ => ctx.type_error(item, "a service", "an image name or a mapping with `name`"),
        }
    }
    out
}

fn strings(list: Vec<Spanned<String>>) -> Vec<String> {
    list.into_iter().map(|s| s.value).collect()
}

/// A container user: 1 to 255 characters (Kubernetes also takes a numeric UID).
fn user(node: &Node, ctx: &mut Ctx, what: &str, numeric: bool) -> Option<String> {
    if numeric && let Value::Int(i) = node.value {
        return Some(i.to_string());
    }
    let s = ctx.non_empty(node, what)?;
    if s.value.chars().count() > 255 {
        ctx.error(
            crate::diagnostic::Code::InvalidValue,
            node.span,
            format!("{what} is longer than 255 characters"),
        );
        return None;
    }
    Some(s.value)
}
