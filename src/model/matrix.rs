//! `parallel:matrix` entries (`VAR: value | [values]`), shared by a job's `parallel:` and the
//! `needs:parallel:matrix` that selects some of its instances.

use super::decode::Ctx;
use crate::diagnostic::Code;
use crate::load::node::Node;
use indexmap::IndexMap;

/// One `parallel:matrix` entry: variable → values.
pub type MatrixEntry = IndexMap<String, Vec<String>>;

/// Decodes a `matrix:` list of `VAR: value | [values]` mappings.
pub fn decode_matrix(node: &Node, ctx: &mut Ctx) -> Vec<MatrixEntry> {
    let Some(items) = node.as_seq() else {
        ctx.type_error(node, "`matrix`", "a list of mappings");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(m) = ctx.map(item, "each `matrix` entry") else {
            continue;
        };
        let mut entry = MatrixEntry::new();
        for (var, e) in m {
            let values: Vec<String> = ctx
                .string_list(&e.value, &format!("matrix variable `{var}`"))
                .into_iter()
                .map(|s| s.value)
                .collect();
            if values.is_empty() {
                ctx.error(
                    Code::InvalidValue,
                    e.value.span,
                    format!("matrix variable `{var}` has no values"),
                );
            }
            entry.insert(var.clone(), values);
        }
        out.push(entry);
    }
    out
}
