//! The `rules:if` expression language: lexing, parsing and evaluation against variables.

mod eval;
mod lexer;
mod parser;

pub use eval::{Lookup, evaluate};
pub use lexer::{MAX_TOKENS, Op, SyntaxError};
pub use parser::{Expr, compile_pattern, parse};
