//! Parses tokens into an [`Expr`] with GitLab's precedence: comparisons, then `&&`, then `||`.

use super::lexer::{Op, SyntaxError, Token, TokenKind, lex};
use regex::Regex;
use std::sync::Arc;

/// A parsed `rules:if` expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// `$NAME`.
    Variable(String),
    /// A quoted string.
    Str(String),
    /// A compiled `/pattern/flags` (RE2 semantics via the `regex` crate), shared: every job
    /// repeating a rule holds the same compiled pattern.
    Pattern(Arc<Regex>),
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A comparison or boolean operator applied to two operands.
    Binary(Box<Expr>, Op, Box<Expr>),
}

/// Parses an expression; errors carry the byte offset inside `text`.
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(SyntaxError {
            message: "expression is empty".into(),
            at: 0,
            len: text.len(),
        });
    }
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        text_len: text.len(),
    };
    let expr = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(SyntaxError {
            message: "unexpected token; operands must be joined by `&&` or `||`".into(),
            at: t.start,
            len: t.end - t.start,
        });
    }
    Ok(expr)
}

/// Compiles a GitLab `/pattern/flags` into a regex (`U` swaps greediness as in RE2).
/// Compiled patterns are cached: large pipelines repeat the same few rules in every job.
pub fn compile_pattern(source: &str, flags: &str) -> Result<Arc<Regex>, regex::Error> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<(String, String), Arc<Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    let key = (source.to_string(), flags.to_string());
    if let Some(r) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let regex = Arc::new(build_pattern(source, flags)?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < 4096 {
            c.insert(key, regex.clone());
        }
    });
    Ok(regex)
}

fn build_pattern(source: &str, flags: &str) -> Result<Regex, regex::Error> {
    let mut b = regex::RegexBuilder::new(source);
    b.case_insensitive(flags.contains('i'))
        .dot_matches_new_line(flags.contains('s'))
        .multi_line(flags.contains('m'))
        .swap_greed(flags.contains('U'))
        .size_limit(1 << 20);
    b.build()
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    text_len: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        self.chain(Op::Or, Self::and)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        self.chain(Op::And, Self::comparison)
    }

    /// `operand (op operand)*`, grouped from the left: one precedence level of `&&` or `||`,
    /// whose operands are the next tighter level.
    fn chain(
        &mut self,
        op: Op,
        operand: fn(&mut Self) -> Result<Expr, SyntaxError>,
    ) -> Result<Expr, SyntaxError> {
        let mut left = operand(self)?;
        while self.peek() == Some(&TokenKind::Op(op)) {
            self.pos += 1;
            let right = operand(self)?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(TokenKind::Op(op)) if op.is_comparison() => *op,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.primary()?;
        Ok(Expr::Binary(Box::new(left), op, Box::new(right)))
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(token) = self.tokens.get(self.pos) else {
            return Err(SyntaxError {
                message: "expression ends where a value was expected".into(),
                at: self.text_len,
                len: 0,
            });
        };
        self.pos += 1;
        let expr = match &token.kind {
            TokenKind::Variable(n) => Expr::Variable(n.clone()),
            TokenKind::Str(s) => Expr::Str(s.clone()),
            TokenKind::Null => Expr::Null,
            TokenKind::Bool(b) => Expr::Bool(*b),
            TokenKind::Pattern { source, flags } => {
                Expr::Pattern(compile_pattern(source, flags).map_err(|e| SyntaxError {
                    message: format!("invalid regular expression: {}", first_line(&e.to_string())),
                    at: token.start,
                    len: token.end - token.start,
                })?)
            }
            TokenKind::Open => {
                let inner = self.or()?;
                match self.tokens.get(self.pos) {
                    Some(t) if t.kind == TokenKind::Close => self.pos += 1,
                    Some(t) => {
                        return Err(SyntaxError {
                            message: "expected `)`".into(),
                            at: t.start,
                            len: t.end - t.start,
                        });
                    }
                    None => {
                        return Err(SyntaxError {
                            message: "`(` is never closed".into(),
                            at: token.start,
                            len: 1,
                        });
                    }
                }
                inner
            }
            _ => {
                return Err(SyntaxError {
                    message: "expected a variable, string, regular expression or `(` here".into(),
                    at: token.start,
                    len: token.end - token.start,
                });
            }
        };
        Ok(expr)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(s))
        .trim_start_matches("error: ")
        .to_string()
}
