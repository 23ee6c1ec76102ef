//! RFC 3339 timestamps as Kubernetes writes them (second precision, UTC), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, e.g. `2026-11-28T04:10:00Z`.
pub fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_unix(secs as i64)
}

/// Seconds since the epoch → RFC 3339 UTC.
pub fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Docker's `2026-11-28T04:10:00.123456789Z` → `2026-11-28T04:10:00Z`.
pub fn trim_docker(ts: &str) -> String {
    match ts.find('.') {
        Some(i) => format!("{}Z", &ts[..i]),
        None => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format_unix(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(
            super::trim_docker("2024-01-02T03:04:05.999Z"),
            "2024-01-02T03:04:05Z"
        );
    }
}
