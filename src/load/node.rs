//! The spanned YAML tree every later stage reads: plain values, each with the place it came from.

use crate::source::Span;
use indexmap::IndexMap;

/// A YAML value with its source span and tag.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value was written (for aliases, merges, `extends` and `!reference`: the original place).
    pub span: Span,
    /// A local tag such as `!reference`, without core-schema tags.
    pub tag: Option<String>,
    /// True for quoted or block scalars (they are never resolved to numbers or booleans).
    pub quoted: bool,
}

/// The value of a [`Node`], typed the way GitLab's Ruby YAML loader types it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true`/`false` (and YAML 1.1's `yes`/`no`/`on`/`off`).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping (boxed: most nodes are scalars, and this keeps every node small).
    Map(Box<Map>),
}

/// One key of a mapping: where the key was written and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Span of the key.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// A mapping with string keys in the order written. Hashed with foldhash: SipHash showed up
/// in profiles of large pipelines, and keys here are not attacker-chosen server input.
pub type Map = IndexMap<String, Entry, foldhash::fast::RandomState>;

impl Node {
    /// A node with no tag.
    pub fn new(value: Value, span: Span) -> Self {
        Node {
            value,
            span,
            tag: None,
            quoted: false,
        }
    }

    /// Human name of the value's type, with article, for messages ("a string").
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is a mapping.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Scalar rendered as a string the way Ruby's `to_s` would (for variables and keys).
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(ruby_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            _ => None,
        }
    }

    /// Number of nodes in this subtree (saturating), used to bound alias expansion.
    pub fn size(&self) -> usize {
        match &self.value {
            Value::Seq(items) => items.iter().fold(1usize, |n, i| n.saturating_add(i.size())),
            Value::Map(map) => map
                .values()
                .fold(1usize, |n, e| n.saturating_add(e.value.size())),
            _ => 1,
        }
    }
}

/// Deep-merges `over` into `base` as Ruby's `Hash#deep_merge` does: mappings merge recursively,
/// everything else is replaced; keys already in `base` keep their position.
pub fn deep_merge(base: &mut Map, over: Map) {
    for (key, entry) in over {
        match base.get_mut(&key) {
            Some(existing) => match (&mut existing.value.value, entry.value.value) {
                (Value::Map(b), Value::Map(o)) => deep_merge(b, *o),
                (_, value) => {
                    existing.value = Node {
                        value,
                        ..entry.value
                    };
                    existing.key_span = entry.key_span;
                }
            },
            None => {
                base.insert(key, entry);
            }
        }
    }
}

/// A float as Ruby's `Float#to_s` writes it (what GitLab passes on for a float variable):
/// `1.0`, `0.5`, and scientific notation from 1e16 up and below 1e-4 (`1.0e+16`, `1.0e-05`).
pub fn ruby_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}
