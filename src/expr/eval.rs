//! Evaluates an [`Expr`] as GitLab does: undefined variables are `null`, a bare value is true
//! when non-empty, `=~` is an unanchored search whose right side may be a variable holding `/re/`.

use super::lexer::Op;
use super::parser::{Expr, compile_pattern};
use std::borrow::Cow;

/// Where expression variables come from.
pub trait Lookup {
    /// The (expanded) value of `name`, or `None` when it is not defined.
    fn get(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<S: std::hash::BuildHasher> Lookup for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        std::collections::HashMap::get(self, name).map(|s| Cow::Borrowed(s.as_str()))
    }
}

enum Val<'a> {
    Null,
    Str(Cow<'a, str>),
    Pattern(Cow<'a, std::sync::Arc<regex::Regex>>),
    Bool(bool),
}

impl Val<'_> {
    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Str(s) => !s.is_empty(),
            Val::Pattern(_) => true,
            Val::Bool(b) => *b,
        }
    }
}

/// True when `expr` holds for `vars`.
pub fn evaluate(expr: &Expr, vars: &dyn Lookup) -> bool {
    value(expr, vars).truthy()
}

fn value<'a>(expr: &'a Expr, vars: &'a dyn Lookup) -> Val<'a> {
    match expr {
        Expr::Variable(n) => vars.get(n).map_or(Val::Null, Val::Str),
        Expr::Str(s) => Val::Str(Cow::Borrowed(s.as_str())),
        Expr::Pattern(r) => Val::Pattern(Cow::Borrowed(r)),
        Expr::Null => Val::Null,
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Binary(l, op, r) => Val::Bool(match op {
            Op::And => value(l, vars).truthy() && value(r, vars).truthy(),
            Op::Or => value(l, vars).truthy() || value(r, vars).truthy(),
            Op::Equals => equals(&value(l, vars), &value(r, vars)),
            Op::NotEquals => !equals(&value(l, vars), &value(r, vars)),
            Op::Matches => matches(&value(l, vars), value(r, vars)),
            Op::NotMatches => !matches(&value(l, vars), value(r, vars)),
        }),
    }
}

fn equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Bool(x), Val::Str(y)) | (Val::Str(y), Val::Bool(x)) => x.to_string() == *y,
        (Val::Pattern(x), Val::Pattern(y)) => x.as_str() == y.as_str(),
        _ => false,
    }
}

fn matches(left: &Val, right: Val) -> bool {
    let text = match left {
        Val::Str(s) => s.as_ref(),
        _ => "",
    };
    let regex = match right {
        Val::Pattern(r) => r,
        // A variable holding "/re/flags" is used as a pattern (GitLab 15.0+).
        Val::Str(s) => match as_pattern(&s) {
            Some(r) => Cow::Owned(r),
            None => return false,
        },
        _ => return false,
    };
    regex.is_match(text)
}

fn as_pattern(s: &str) -> Option<std::sync::Arc<regex::Regex>> {
    let body = s.strip_prefix('/')?;
    let close = body.rfind('/')?;
    let (source, flags) = (&body[..close], &body[close + 1..]);
    if flags.chars().any(|f| !"ismU".contains(f)) {
        return None;
    }
    compile_pattern(&source.replace("\\/", "/"), flags).ok()
}
