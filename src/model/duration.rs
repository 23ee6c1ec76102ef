//! GitLab duration strings (`1h 30m`, `2 hrs 30 mins`, `one week`, `1 day and 2 hours`,
//! `1:30:00`, `3600`), read the way GitLab's ChronicDuration fork reads them: number words are
//! numerized, `h:m:s` is a clock time, a number without a unit is seconds, the join words `and`,
//! `with` and `plus` are skipped, and — as ChronicDuration does without `raise_exceptions` —
//! other words are dropped (reported back so lint can warn about them).

/// A parsed duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Total seconds.
    pub seconds: u64,
    /// Words GitLab ignores (neither a number nor a unit), in order.
    pub ignored: Vec<String>,
}

/// Parses a duration into seconds; `None` when the text is not a duration.
pub fn parse_duration(text: &str) -> Option<u64> {
    parse(text)
        .filter(|p| p.ignored.is_empty())
        .map(|p| p.seconds)
}

/// Parses a duration, keeping the words GitLab would drop; `None` when nothing in the text is a
/// duration.
pub fn parse(text: &str) -> Option<Parsed> {
    let text = text.trim().to_ascii_lowercase();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Parsed {
            seconds: secs,
            ignored: Vec::new(),
        });
    }
    if let Some(secs) = clock(&text) {
        return Some(Parsed {
            seconds: secs,
            ignored: Vec::new(),
        });
    }
    let mut total = 0.0f64;
    let mut ignored = Vec::new();
    let mut pending: Option<f64> = None;
    let mut parts = 0;
    for token in tokens(&text) {
        if let Ok(n) = token.parse::<f64>() {
            if let Some(p) = pending.replace(n) {
                total += p; // a number without a unit is seconds
                parts += 1;
            }
            continue;
        }
        if let Some(n) = number_word(&token) {
            // "twenty one" numerizes to 21.
            pending = Some(match pending {
                Some(p) if p >= 20.0 && p % 10.0 == 0.0 && n < 10.0 => p + n,
                Some(p) => {
                    total += p;
                    parts += 1;
                    n
                }
                None => n,
            });
            continue;
        }
        if let Some(factor) = unit(&token) {
            total += pending.take().unwrap_or(1.0) * factor;
            parts += 1;
            continue;
        }
        if !matches!(token.as_str(), "and" | "with" | "plus") {
            ignored.push(token);
        }
    }
    if let Some(p) = pending {
        total += p;
        parts += 1;
    }
    (parts > 0).then(|| Parsed {
        seconds: total.round() as u64,
        ignored,
    })
}

/// Words and numbers: `1h30m` → `1`, `h`, `30`, `m`; commas and other punctuation separate.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_is_num = false;
    for c in text.chars() {
        let is_num = c.is_ascii_digit() || (c == '.' && cur_is_num);
        let is_word = c.is_ascii_alphabetic();
        if (!(is_num || is_word) || is_num != cur_is_num) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if is_num || is_word {
            cur.push(c);
            cur_is_num = is_num;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `h:mm:ss` or `m:ss` (ChronicDuration's time format).
fn clock(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts
        .iter()
        .try_fold(0u64, |acc, p| Some(acc * 60 + p.parse::<u64>().ok()?))
}

fn number_word(word: &str) -> Option<f64> {
    const ONES: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: &[&str] = &[
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = ONES.iter().position(|w| *w == word) {
        return Some(i as f64);
    }
    if let Some(i) = TENS.iter().position(|w| *w == word) {
        return Some(20.0 + 10.0 * i as f64);
    }
    match word {
        "a" | "an" => Some(1.0),
        "half" => Some(0.5),
        _ => None,
    }
}

fn unit(word: &str) -> Option<f64> {
    Some(match word {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "dy" | "day" | "days" => 86_400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => 604_800.0,
        "mo" | "mos" | "mon" | "mons" | "month" | "months" => 2_592_000.0,
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_duration};

    #[test]
    fn gitlab_durations() {
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("1h 30m"), Some(5400));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("30 minutes"), Some(1800));
        assert_eq!(parse_duration("2 days and 1 hour"), Some(176_400));
        assert_eq!(parse_duration("1 day and 2 hours"), Some(93_600));
        assert_eq!(parse_duration("2 hrs 30 mins"), Some(9000));
        assert_eq!(parse_duration("1 week"), Some(604_800));
        assert_eq!(parse_duration("one week"), Some(604_800));
        assert_eq!(parse_duration("twenty one days"), Some(21 * 86_400));
        assert_eq!(parse_duration("an hour"), Some(3600));
        assert_eq!(parse_duration("1.5 hours"), Some(5400));
        assert_eq!(parse_duration("1:30:00"), Some(5400));
        assert_eq!(parse_duration("3 mins, 4 secs"), Some(184));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn unknown_words_are_dropped_as_gitlab_does() {
        let p = parse("10 parsecs").unwrap();
        assert_eq!(p.seconds, 10);
        assert_eq!(p.ignored, vec!["parsecs".to_string()]);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse("soon"), None);
    }
}
