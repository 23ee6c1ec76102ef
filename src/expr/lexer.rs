//! Tokens of GitLab's `rules:if` language (`lib/gitlab/ci/pipeline/expression/lexeme/*`).

/// Most tokens GitLab accepts in one expression.
pub const MAX_TOKENS: usize = 100;

/// One token and the byte range it covers in the expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// Kinds of token.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// `$NAME`.
    Variable(String),
    /// `"text"` or `'text'` (no escapes, as in GitLab).
    Str(String),
    /// `/pattern/flags`.
    Pattern { source: String, flags: String },
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// One of the two-character operators.
    Op(Op),
}

/// Binary operators. The lexer reads them and the parser builds them into expressions, so they
/// are one type: a token's operator is the expression's operator, with no mapping between
/// two enums to keep in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Equals,
    /// `!=`
    NotEquals,
    /// `=~`
    Matches,
    /// `!~`
    NotMatches,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl Op {
    /// Every operator with its spelling: the lexer's one table.
    const SPELLINGS: [(&'static str, Op); 6] = [
        ("==", Op::Equals),
        ("!=", Op::NotEquals),
        ("=~", Op::Matches),
        ("!~", Op::NotMatches),
        ("&&", Op::And),
        ("||", Op::Or),
    ];

    /// The operator spelled `text`, if it is one.
    fn spelled(text: &str) -> Option<Op> {
        Self::SPELLINGS
            .iter()
            .find(|(spelling, _)| *spelling == text)
            .map(|(_, op)| *op)
    }

    /// `==`, `!=`, `=~` and `!~`, which bind tighter than `&&` and `||`.
    pub fn is_comparison(self) -> bool {
        !matches!(self, Op::And | Op::Or)
    }
}

/// A lexing or parsing error at a byte offset of the expression.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Byte offset where it is.
    pub at: usize,
    /// Length in bytes of the offending text (at least 1 where there is text).
    pub len: usize,
}

/// Splits `text` into tokens.
pub fn lex(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = text.get(i..i + 2).unwrap_or("");
        if let Some(op) = Op::spelled(two) {
            i += 2;
            push(&mut tokens, TokenKind::Op(op), start, i)?;
            continue;
        }
        let kind = match c {
            b'(' => TokenKind::Open,
            b')' => TokenKind::Close,
            b'$' => {
                let name_len = text[i + 1..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                let name = &text[i + 1..i + 1 + name_len];
                if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
                    return Err(SyntaxError {
                        message: "`$` must be followed by a variable name".into(),
                        at: i,
                        len: 1,
                    });
                }
                i += 1 + name_len;
                push(&mut tokens, TokenKind::Variable(name.to_string()), start, i)?;
                continue;
            }
            b'"' | b'\'' => {
                let Some(close) = text[i + 1..].find(c as char) else {
                    return Err(SyntaxError {
                        message: "string is not closed".into(),
                        at: i,
                        len: text.len() - i,
                    });
                };
                let s = text[i + 1..i + 1 + close].to_string();
                i += close + 2;
                push(&mut tokens, TokenKind::Str(s), start, i)?;
                continue;
            }
            b'/' => {
                let (source, flags, end) = pattern(text, i)?;
                i = end;
                push(&mut tokens, TokenKind::Pattern { source, flags }, start, i)?;
                continue;
            }
            b'=' | b'!' | b'&' | b'|' => {
                let suggestion = match c {
                    b'=' => "`==` to compare or `=~` to match",
                    b'!' => "`!=` or `!~`",
                    b'&' => "`&&`",
                    _ => "`||`",
                };
                return Err(SyntaxError {
                    message: format!("`{}` is not an operator; use {suggestion}", c as char),
                    at: i,
                    len: 1,
                });
            }
            _ => {
                let word_len = text[i..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                let word = &text[i..i + word_len];
                let kind = match word {
                    "null" => TokenKind::Null,
                    "true" => TokenKind::Bool(true),
                    "false" => TokenKind::Bool(false),
                    _ => {
                        let len = text[i..]
                            .chars()
                            .next()
                            .map_or(1, char::len_utf8)
                            .max(word_len);
                        let hint = if word_len > 0 {
                            " (variables start with `$`, strings are quoted)"
                        } else {
                            ""
                        };
                        return Err(SyntaxError {
                            message: format!("unknown lexeme `{}`{hint}", &text[i..i + len]),
                            at: i,
                            len,
                        });
                    }
                };
                i += word_len;
                push(&mut tokens, kind, start, i)?;
                continue;
            }
        };
        i += 1;
        push(&mut tokens, kind, start, i)?;
    }
    Ok(tokens)
}

fn push(
    tokens: &mut Vec<Token>,
    kind: TokenKind,
    start: usize,
    end: usize,
) -> Result<(), SyntaxError> {
    if tokens.len() == MAX_TOKENS {
        return Err(SyntaxError {
            message: format!("expression has more than {MAX_TOKENS} tokens"),
            at: start,
            len: end - start,
        });
    }
    tokens.push(Token { kind, start, end });
    Ok(())
}

/// Reads `/source/flags` starting at the opening slash; `\/` is a literal slash.
fn pattern(text: &str, open: usize) -> Result<(String, String, usize), SyntaxError> {
    let bytes = text.as_bytes();
    let mut j = open + 1;
    let mut source = String::new();
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if bytes.get(j + 1) == Some(&b'/') => {
                source.push('/');
                j += 2;
            }
            b'/' => {
                let flags: String = text[j + 1..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                if let Some(bad) = flags.chars().find(|f| !"ismU".contains(*f)) {
                    return Err(SyntaxError {
                        message: format!(
                            "unknown regular expression flag `{bad}` (allowed: i, s, m, U)"
                        ),
                        at: j + 1,
                        len: flags.len(),
                    });
                }
                if source.is_empty() {
                    return Err(SyntaxError {
                        message: "empty regular expression".into(),
                        at: open,
                        len: 2,
                    });
                }
                let end = j + 1 + flags.len();
                return Ok((source, flags, end));
            }
            _ => {
                let ch = text[j..].chars().next().unwrap_or('\0');
                source.push(ch);
                j += ch.len_utf8();
            }
        }
    }
    Err(SyntaxError {
        message: "regular expression is not closed with `/`".into(),
        at: open,
        len: text.len() - open,
    })
}
