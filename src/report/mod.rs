//! `report`: how results are shown — console text and JSON.
//! May not touch: pipeline semantics; it only formats what other stages produced.

pub mod lint;
pub mod mask;
pub mod plan;
pub mod run;

/// `text` left-aligned in `width` columns (characters). `format!`'s `{:<w$}` panics on widths
/// above 65,535, and a job name built from a matrix value can be longer than that.
pub fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    let mut out = String::with_capacity(text.len() + width.saturating_sub(n));
    out.push_str(text);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    out
}

#[cfg(test)]
mod pad_tests {
    #[test]
    fn pads_by_characters_at_any_width() {
        assert_eq!(super::pad("é", 3), "é  ");
        assert_eq!(super::pad("long", 2), "long");
        let wide = "x".repeat(70_000);
        assert_eq!(super::pad("", wide.len()), " ".repeat(70_000));
    }
}
