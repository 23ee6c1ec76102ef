//! Source files and spans: every value gantry reads remembers the file, byte range, line and column it came from.

use std::path::PathBuf;
use std::sync::Arc;

/// Index of a file inside a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A location in a source file: byte range for snippets, line and column (both 1-based) for humans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// File the span points into.
    pub file: FileId,
    /// Byte offset of the first character.
    pub offset: u32,
    /// Length in bytes (may be 0).
    pub len: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl Span {
    /// Span shifted `chars` characters to the right on the same line, `len` bytes long.
    /// Used to point inside a single-line scalar such as a `rules:if` expression.
    pub fn within(self, text: &str, byte_offset: usize, len: usize) -> Span {
        let prefix = text.get(..byte_offset).unwrap_or(text);
        Span {
            offset: self.offset + byte_offset as u32,
            len: len as u32,
            col: self.col + prefix.chars().count() as u32,
            ..self
        }
    }
}

/// A value together with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One loaded file.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given or resolved on disk.
    pub path: PathBuf,
    /// Name shown in diagnostics (relative where possible).
    pub name: String,
    /// Full text, shared with the diagnostic renderer.
    pub text: Arc<String>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Byte offset of a (1-based line, 0-based character column) position.
    pub fn byte_offset(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        match rest.char_indices().nth(col) {
            Some((i, _)) => start + i,
            None => self.text.len(),
        }
    }
}

/// All files read for one pipeline: the main file and everything it includes.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Registers a file and returns its id.
    pub fn add(&mut self, path: PathBuf, name: String, text: String) -> FileId {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            path,
            name,
            text: Arc::new(text),
            line_starts,
        });
        FileId(self.files.len() as u32 - 1)
    }

    /// The file behind `id`.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Display name of the file behind `id` (empty when unknown).
    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map(|f| f.name.as_str()).unwrap_or("")
    }

    /// All files, in load order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}
