//! YAML text → spanned [`Node`] trees, built from saphyr-parser events.
//!
//! Building the tree ourselves (rather than using a DOM crate) lets us keep spans on every node,
//! apply `<<` merge keys exactly as Ruby's Psych does (GitLab repeats `<<` in one mapping), report
//! duplicate keys, and bound depth and alias expansion so hostile input cannot exhaust memory.

use super::node::{Entry, Map, Node, Value};
use super::scalar::resolve_plain;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use std::collections::HashMap;

/// Bounds on what one file may contain.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Deepest accepted nesting of sequences and mappings (GitLab: 100).
    pub max_depth: usize,
    /// Most nodes a document may hold once aliases are expanded ("billion laughs" guard).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 100,
            max_nodes: 1_000_000,
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
        tag: Option<String>,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        start: Span,
        anchor: usize,
        tag: Option<String>,
    },
}

struct Builder<'a> {
    file: &'a SourceFile,
    id: FileId,
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
    nodes: usize,
    diags: &'a mut Diagnostics,
    /// Columns added at the start of each line (0-based) when the text was re-indented for
    /// the parser ([`relax_flow_indentation`]); spans are mapped back through it.
    shifts: Vec<usize>,
}

/// Parses every document of `file`; returns `None` when the text is not valid YAML
/// (the reason is in `diags`).
pub fn parse(
    file: &SourceFile,
    id: FileId,
    limits: Limits,
    diags: &mut Diagnostics,
) -> Option<Vec<Node>> {
    parse_text(file, id, limits, diags, &file.text, Vec::new())
}

fn parse_text(
    file: &SourceFile,
    id: FileId,
    limits: Limits,
    diags: &mut Diagnostics,
    text: &str,
    shifts: Vec<usize>,
) -> Option<Vec<Node>> {
    let start = diags.len();
    let retried = !shifts.is_empty();
    let mut b = Builder {
        file,
        id,
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
        nodes: 0,
        diags,
        shifts,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(e) => e,
            Err(err) => {
                // libyaml (GitLab's parser, through Psych) does not check indentation inside
                // flow collections and quoted scalars; saphyr does. Parse again with those lines
                // indented past their key, which changes no value.
                if !retried
                    && err.info().starts_with("invalid indentation")
                    && !err.info().contains("anchor")
                    && let Some((relaxed, shifts)) = relax_flow_indentation(text)
                {
                    b.diags.truncate(start);
                    return parse_text(file, id, limits, b.diags, &relaxed, shifts);
                }
                let m = err.marker();
                let mut col = b.unshift(m.line(), m.col());
                if err.info().contains("tab") {
                    // The scanner stops after the tab; point at the tab itself.
                    let line = file
                        .text
                        .lines()
                        .nth(m.line().saturating_sub(1))
                        .unwrap_or("");
                    if let Some(tab) = line.chars().take(col + 1).position(|c| c == '\t') {
                        col = tab;
                    }
                }
                let span = b.point(m.line(), col);
                let code = if err.info().contains("recursion limit") {
                    Code::YamlLimit
                } else {
                    Code::YamlSyntax
                };
                let mut d = Diagnostic::error(code, span, format!("invalid YAML: {}", err.info()));
                if err.info().contains("tab") {
                    d = d.with_help("YAML indentation must use spaces, not tabs");
                } else if err.info().contains("quoted scalar") {
                    d = d.with_help(
                        "a quoted string that starts here may be missing its closing quote",
                    );
                }
                b.diags.push(d);
                return None;
            }
        };
        let span = b.span(span);
        if !b.event(event, span) {
            return None;
        }
    }
    Some(b.documents)
}

impl Builder<'_> {
    /// A parser column on `line` (1-based) as a column of the file as written.
    fn unshift(&self, line: usize, col: usize) -> usize {
        let added = line
            .checked_sub(1)
            .and_then(|l| self.shifts.get(l))
            .copied()
            .unwrap_or(0);
        col.saturating_sub(added)
    }

    fn point(&self, line: usize, col: usize) -> Span {
        let col = self.unshift(line, col);
        Span {
            file: self.id,
            offset: self.file.byte_offset(line, col) as u32,
            len: 0,
            line: line as u32,
            col: col as u32 + 1,
        }
    }

    fn span(&self, s: saphyr_parser::Span) -> Span {
        let start = self.point(s.start.line(), s.start.col());
        let end = self
            .file
            .byte_offset(s.end.line(), self.unshift(s.end.line(), s.end.col()))
            as u32;
        Span {
            len: end.saturating_sub(start.offset),
            ..start
        }
    }

    fn limit(&mut self, span: Span, message: String) -> bool {
        self.diags
            .push(Diagnostic::error(Code::YamlLimit, span, message));
        false
    }

    /// Handles one event; false stops parsing.
    fn event(&mut self, event: Event<'_>, span: Span) -> bool {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = local_tag(tag.as_deref());
                let quoted = style != ScalarStyle::Plain;
                let forced_str = tag.as_deref() == Some("!!str");
                let value = if quoted || forced_str {
                    Value::Str(text.into_owned())
                } else {
                    resolve_plain(&text)
                };
                let node = Node {
                    value,
                    span,
                    tag: tag.filter(|t| !t.starts_with("!!")),
                    quoted,
                };
                self.complete(node, anchor, span)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return self.limit(span, "alias refers to an unknown anchor".into());
                };
                let size = node.size();
                self.nodes = self.nodes.saturating_add(size);
                if self.nodes > self.limits.max_nodes {
                    return self.limit(
                        span,
                        format!(
                            "aliases expand to more than {} nodes (a \"billion laughs\" document?)",
                            self.limits.max_nodes
                        ),
                    );
                }
                let node = node.clone();
                self.complete(node, 0, span)
            }
            Event::SequenceStart(anchor, tag) => {
                if !self.enter(span) {
                    return false;
                }
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start: span,
                    anchor,
                    tag: local_tag(tag.as_deref()),
                });
                true
            }
            Event::MappingStart(anchor, tag) => {
                if !self.enter(span) {
                    return false;
                }
                self.stack.push(Frame::Map {
                    pairs: Vec::new(),
                    key: None,
                    start: span,
                    anchor,
                    tag: local_tag(tag.as_deref()),
                });
                true
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    items,
                    start,
                    anchor,
                    tag,
                }) => {
                    let mut node = Node::new(Value::Seq(items), join(start, span));
                    node.tag = tag;
                    self.complete(node, anchor, span)
                }
                _ => self.limit(span, "unbalanced sequence".into()),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    pairs,
                    start,
                    anchor,
                    tag,
                    ..
                }) => {
                    let map = self.build_map(pairs);
                    let mut node = Node::new(Value::Map(Box::new(map)), join(start, span));
                    node.tag = tag;
                    self.complete(node, anchor, span)
                }
                _ => self.limit(span, "unbalanced mapping".into()),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => true,
        }
    }

    fn enter(&mut self, span: Span) -> bool {
        if self.stack.len() >= self.limits.max_depth {
            return self.limit(
                span,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            );
        }
        true
    }

    /// Attaches a finished node to its parent (or ends the document).
    fn complete(&mut self, node: Node, anchor: usize, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(1);
        if self.nodes > self.limits.max_nodes {
            return self.limit(
                span,
                format!("document has more than {} nodes", self.limits.max_nodes),
            );
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { pairs, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
        true
    }

    /// Builds a mapping the way Psych's `revive_hash` does: entries apply in order, later wins,
    /// and each `<<` merges its mapping (or list of mappings, first wins) over what came before.
    fn build_map(&mut self, pairs: Vec<(Node, Node)>) -> Map {
        let mut map = Map::with_capacity_and_hasher(pairs.len(), Default::default());
        // Which entries (by index) were written explicitly, and where: merged keys may be
        // overridden silently, explicit ones repeated are a mistake.
        let mut explicit: Vec<Option<Span>> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let is_merge = !key.quoted && key.tag.is_none() && key.as_str() == Some("<<");
            if is_merge {
                self.merge_into(&mut map, value);
                continue;
            }
            let Some(name) = key.scalar_string() else {
                self.diags.push(Diagnostic::error(
                    Code::InvalidType,
                    key.span,
                    format!("mapping keys must be scalars, found {}", key.kind_name()),
                ));
                continue;
            };
            let (index, _) = map.insert_full(
                name.clone(),
                Entry {
                    key_span: key.span,
                    value,
                },
            );
            if index >= explicit.len() {
                explicit.resize(index + 1, None);
            }
            if let Some(first) = explicit[index].replace(key.span) {
                self.diags.push(
                    Diagnostic::warning(
                        Code::DuplicateKey,
                        key.span,
                        format!(
                            "duplicate key `{name}`; this later value replaces the earlier one"
                        ),
                    )
                    .with_help(format!(
                        "the first `{name}` is at line {}; remove one of them",
                        first.line
                    )),
                );
            }
        }
        map
    }

    fn merge_into(&mut self, map: &mut Map, value: Node) {
        match value.value {
            Value::Map(source) => {
                for (k, e) in *source {
                    map.insert(k, e);
                }
            }
            Value::Seq(items) => {
                let mut merged = Map::default();
                for item in items.into_iter().rev() {
                    match item.value {
                        Value::Map(source) => {
                            for (k, e) in *source {
                                merged.insert(k, e);
                            }
                        }
                        _ => self.diags.push(Diagnostic::error(
                            Code::InvalidMerge,
                            item.span,
                            format!(
                                "`<<` merges mappings, but this item is {}",
                                item.kind_name()
                            ),
                        )),
                    }
                }
                for (k, e) in merged {
                    map.insert(k, e);
                }
            }
            _ => self.diags.push(
                Diagnostic::error(
                    Code::InvalidMerge,
                    value.span,
                    format!(
                        "`<<` merges a mapping or a list of mappings, not {}",
                        value.kind_name()
                    ),
                )
                .with_help("write `<<: *anchor` where the anchor names a mapping"),
            ),
        }
    }
}

fn join(start: Span, end: Span) -> Span {
    Span {
        len: (end.offset + end.len).saturating_sub(start.offset),
        ..start
    }
}

/// `!reference` stays `!reference`; core-schema tags become `!!name`.
fn local_tag(tag: Option<&Tag>) -> Option<String> {
    let tag = tag?;
    if tag.handle == "!" {
        Some(format!("!{}", tag.suffix))
    } else if tag.is_yaml_core_schema() || tag.handle == "!!" {
        Some(format!("!!{}", tag.suffix))
    } else {
        Some(format!("{}{}", tag.handle, tag.suffix))
    }
}

/// Re-indents the lines that continue a flow collection (`[…]`, `{…}`) or a quoted scalar to
/// one column past the key they belong to, where they are indented less: libyaml accepts those
/// lines at any indentation, saphyr does not, and inside flow collections and quoted scalars
/// leading spaces change no value. Returns the new text and the columns added per line, or
/// `None` when no line needed it.
fn relax_flow_indentation(text: &str) -> Option<(String, Vec<usize>)> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut shifts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut min_col = 0usize;
    let mut block_scalar: Option<usize> = None;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        if let Some(parent) = block_scalar {
            if blank || indent > parent {
                out.push_str(line);
                shifts.push(0);
                continue;
            }
            block_scalar = None;
        }
        let mut shift = 0;
        if (depth > 0 || quote.is_some()) && !blank && indent < min_col {
            shift = min_col - indent;
            out.extend(std::iter::repeat_n(' ', shift));
            changed = true;
        }
        out.push_str(line);
        shifts.push(shift);
        // The column of the line's key: past indentation and `- ` sequence indicators.
        let body = &line[indent..];
        let key_col = indent + (body.len() - body.trim_start_matches(['-', ' ']).len());
        let mut value_start = depth == 0 && quote.is_none();
        let mut prev = ' ';
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match quote {
                Some('"') => match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => quote = None,
                    _ => {}
                },
                Some(_) => {
                    if c == '\'' {
                        if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                            chars.next();
                        } else {
                            quote = None;
                        }
                    }
                }
                None => {
                    let at_start =
                        value_start || (depth > 0 && matches!(prev, ' ' | '[' | '{' | ',' | ':'));
                    match c {
                        '#' if prev == ' ' || prev == '\t' => break,
                        '"' | '\'' if at_start => {
                            if depth == 0 {
                                min_col = key_col + 1;
                            }
                            quote = Some(c);
                        }
                        '[' | '{' if at_start => {
                            if depth == 0 {
                                min_col = key_col + 1;
                            }
                            depth += 1;
                        }
                        ']' | '}' if depth > 0 => depth -= 1,
                        '|' | '>' if value_start && depth == 0 => {
                            block_scalar = Some(key_col);
                            break;
                        }
                        ':' if depth == 0
                            && (body[i + 1..].is_empty()
                                || body[i + 1..].starts_with([' ', '\n', '\r'])) =>
                        {
                            value_start = true;
                            prev = ' ';
                            continue;
                        }
                        ' ' | '\t' | '\r' | '\n' => {}
                        '-' if value_start && body[i + 1..].starts_with([' ', '\n']) => {}
                        _ => value_start = false,
                    }
                }
            }
            prev = c;
        }
    }
    changed.then_some((out, shifts))
}

#[cfg(test)]
mod relax_tests {
    use super::relax_flow_indentation;

    #[test]
    fn flow_lines_are_indented_past_their_key() {
        let text = "j:\n    needs: [\n        \"a\",\n    ]\n";
        let (out, shifts) = relax_flow_indentation(text).unwrap();
        assert_eq!(out, "j:\n    needs: [\n        \"a\",\n     ]\n");
        assert_eq!(shifts, vec![0, 0, 0, 1]);
        let quoted = "j:\n  v: \"abc\n def\"\n";
        assert_eq!(
            relax_flow_indentation(quoted).unwrap().0,
            "j:\n  v: \"abc\n   def\"\n"
        );
        // Brackets inside plain scalars, comments and block scalars are not flow.
        assert_eq!(
            relax_flow_indentation("a: echo [x\nb: |\n  [y\nc: 1 # [\n"),
            None
        );
    }
}
