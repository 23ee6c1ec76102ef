//! GitLab's slug algorithms, exactly: ref/project/job slugs (`CI_COMMIT_REF_SLUG`, …) and the
//! shorter, DNS-safe environment slug (`CI_ENVIRONMENT_SLUG`).

use sha2::{Digest, Sha256};

/// The text lowercased, with every character outside `a-z0-9` replaced by `-`.
fn dashed(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(char::to_lowercase).map(|c| {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        }
    })
}

/// `CI_COMMIT_REF_SLUG` and friends: lowercase, every character outside `a-z0-9` becomes `-`
/// (runs are not collapsed), cut to 63 characters, leading and trailing `-` removed.
pub fn slug(text: &str) -> String {
    let replaced: String = dashed(text).take(63).collect();
    replaced.trim_matches('-').to_string()
}

/// `CI_ENVIRONMENT_SLUG` (`Gitlab::Slug::Environment`): at most 24 characters, starts with a
/// letter, no repeated dashes; when anything had to change, a hash suffix keeps it unique.
pub fn environment_slug(name: &str) -> String {
    environment_slug_with(name, &suffix(name))
}

fn environment_slug_with(name: &str, suffix: &str) -> String {
    let mut s: String = dashed(name).collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("env-{s}");
    }
    let mut squeezed = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '-' && squeezed.ends_with('-')) {
            squeezed.push(c);
        }
    }
    if squeezed.len() > 24 || squeezed != name {
        let mut short: String = squeezed.chars().take(17).collect();
        if !short.ends_with('-') {
            short.push('-');
        }
        short.push_str(suffix);
        short
    } else {
        squeezed.trim_end_matches('-').to_string()
    }
}

/// Last six base-36 digits of the SHA-256 of `name`, read as one big number.
fn suffix(name: &str) -> String {
    base36_tail(Sha256::digest(name.as_bytes()).to_vec())
}

fn base36_tail(mut number: Vec<u8>) -> String {
    let mut digits = Vec::new();
    while digits.len() < 6 && number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 36) as u8;
            remainder = acc % 36;
        }
        digits.push(std::char::from_digit(remainder, 36).unwrap_or('0'));
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_slugs_do_not_collapse_dashes() {
        assert_eq!(slug("feature/Add--thing"), "feature-add--thing");
        assert_eq!(slug("--weird__name--"), "weird--name");
        assert_eq!(slug("v1.2.3"), "v1-2-3");
        assert_eq!(slug(&"a".repeat(70)).len(), 63);
        assert_eq!(slug(&format!("{}-b", "a".repeat(62))), "a".repeat(62));
        assert_eq!(slug("Ünïcode"), "n-code");
    }

    #[test]
    fn environment_slugs_match_gitlabs_spec_table() {
        // spec/lib/gitlab/slug/environment_spec.rb stubs the digest as "a" * 64: suffix q517sa.
        let table = [
            ("staging-12345678901234567", "staging-123456789-q517sa"),
            ("9-staging-123456789012345", "env-9-staging-123-q517sa"),
            ("staging-1234567890123456", "staging-1234567890123456"),
            ("staging-1234567890123456-", "staging-123456789-q517sa"),
            ("production", "production"),
            ("PRODUCTION", "production-q517sa"),
            ("review/1-foo", "review-1-foo-q517sa"),
            ("1-foo", "env-1-foo-q517sa"),
            ("1/foo", "env-1-foo-q517sa"),
            ("foo-", "foo"),
            ("foo--bar", "foo-bar-q517sa"),
            ("foo**bar", "foo-bar-q517sa"),
            ("*-foo", "env-foo-q517sa"),
            ("staging-12345678-", "staging-12345678"),
            ("staging-12345678-01234567", "staging-12345678-q517sa"),
            ("", "env-q517sa"),
        ];
        for (name, expected) in table {
            assert_eq!(environment_slug_with(name, "q517sa"), expected, "{name:?}");
        }
        assert_eq!(suffix_of_hex(&"a".repeat(64)), "q517sa");
    }

    #[test]
    fn environment_slug_suffix_is_the_real_sha256() {
        // Expected values computed independently with Python's hashlib.
        assert_eq!(environment_slug("review/feature"), "review-feature-3v0q3s");
        assert_eq!(environment_slug("PRODUCTION"), "production-vl4voz");
    }

    fn suffix_of_hex(hex: &str) -> String {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        base36_tail(bytes)
    }
}
