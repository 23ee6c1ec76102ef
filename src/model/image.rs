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
        Value::Str(s) => Some(plain(Spanned::new(s.clone(), node.span))),
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
    let mut image = plain(ctx.string(&name.value, &format!("{what}:name"))?);
    image.entrypoint = m
        .get("entrypoint")
        .map(|e| strings(ctx.string_list(&e.value, "`entrypoint`")));
    if let Some(d) = m.get("docker").and_then(|d| ctx.map(&d.value, "`docker`")) {
        ctx.check_keys(d, &["user", "platform"], "`docker`");
        image.user = d
            .get("user")
            .and_then(|u| ctx.string(&u.value, "`docker:user`"))
            .map(|s| s.value);
        image.platform = d
            .get("platform")
            .and_then(|p| ctx.string(&p.value, "`docker:platform`"))
            .map(|s| s.value);
    }
    if let Some(p) = m.get("pull_policy") {
        let values = match &p.value.value {
            Value::Seq(items) => items.iter().collect(),
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
    for item in items {
        match &item.value {
            Value::Str(s) => out.push(Service {
                image: plain(Spanned::new(s.clone(), item.span)),
                alias: None,
                command: None,
                variables: Variables::new(),
            }),
            Value::Map(m) => {
                ctx.check_keys(m, keywords::SERVICE, "a service");
                let Some(image) = image_from_map(m, item, ctx, "a service") else {
                    continue;
                };
                out.push(Service {
                    image,
                    alias: m
                        .get("alias")
                        .and_then(|a| ctx.string(&a.value, "`alias`"))
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
