//! Masking: every occurrence of a masked value in job output becomes `[MASKED]`, also when the
//! value arrives split across reads. Output is handled line by line; a very long line without
//! a newline is flushed in parts, always keeping back enough bytes that a value crossing the cut
//! is still whole in the next part.

/// Shown instead of a masked value.
pub const MASK: &str = "[MASKED]";
/// A line longer than this is flushed without waiting for its newline.
const FLUSH_AT: usize = 64 * 1024;

/// Splits a byte stream into masked lines.
#[derive(Debug, Default)]
pub struct LineMasker {
    secrets: Vec<String>,
    longest: usize,
    pending: Vec<u8>,
}

impl LineMasker {
    /// A masker for `secrets` (empty ones are ignored).
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let longest = secrets.first().map_or(0, String::len);
        LineMasker {
            secrets,
            longest,
            pending: Vec::new(),
        }
    }

    /// Masks `text` outright.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Feeds a chunk; returns the complete (masked) lines it finished, without newlines.
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            lines.push(self.mask(text.trim_end_matches('\r')));
        }
        if self.pending.len() > FLUSH_AT {
            let masked = self.mask(&String::from_utf8_lossy(&self.pending));
            let keep = self.longest.saturating_sub(1);
            let mut cut = masked.len().saturating_sub(keep);
            while !masked.is_char_boundary(cut) {
                cut -= 1;
            }
            lines.push(masked[..cut].to_string());
            self.pending = masked.as_bytes()[cut..].to_vec();
        }
        lines
    }

    /// The last, unterminated line, if any.
    pub fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
        Some(self.mask(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_values_split_across_chunks() {
        let mut m = LineMasker::new(vec!["s3cr3t-value".into(), "".into()]);
        let mut out = m.push(b"token=s3cr");
        out.extend(m.push(b"3t-val"));
        out.extend(m.push(b"ue and again s3cr3t-value\nnext"));
        assert_eq!(out, ["token=[MASKED] and again [MASKED]"]);
        assert_eq!(m.finish().as_deref(), Some("next"));
    }

    #[test]
    fn long_lines_flush_without_leaking_a_split_secret() {
        let secret = "abcdefgh-secret".to_string();
        let mut m = LineMasker::new(vec![secret.clone()]);
        let mut body = "x".repeat(FLUSH_AT + 10);
        body.push_str(&secret[..5]);
        let mut out = m.push(body.as_bytes());
        out.extend(m.push(format!("{}\n", &secret[5..]).as_bytes()));
        let joined = out.concat();
        assert!(
            !joined.contains(&secret[..5]) || joined.contains(MASK),
            "split secret leaked"
        );
        assert!(joined.ends_with(MASK));
    }

    #[test]
    fn a_longer_secret_is_masked_before_one_it_contains() {
        let m = LineMasker::new(vec!["password".into(), "password123".into()]);
        assert_eq!(m.mask("password123 password"), "[MASKED] [MASKED]");
    }
}
