//! One time representation: instants are epoch milliseconds UTC on the server side;
//! clinical instants arrive as RFC 3339 with the tablet's offset, and their local date
//! is kept as `YYYY-MM-DD` for period arithmetic.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The server's clock now.
pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// A clinical instant as the tablet reported it.
#[derive(Debug, Clone, Copy)]
pub struct ClinicalTime {
    /// UTC epoch milliseconds.
    pub at: Millis,
    /// The calendar date where it happened (the tablet's offset applied).
    pub local_date: NaiveDate,
}

/// Parses an RFC 3339 instant with an offset; `None` when malformed.
pub fn parse_clinical(s: &str) -> Option<ClinicalTime> {
    let dt: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(s).ok()?;
    let year = dt.naive_local().date().format("%Y").to_string();
    // Year 0 and 5-digit years are not clinical times; keep the range sane.
    if !(1900..=9999).contains(&year.parse::<i32>().unwrap_or(0)) {
        return None;
    }
    Some(ClinicalTime {
        at: dt.timestamp_millis(),
        local_date: dt.naive_local().date(),
    })
}

/// Parses a `YYYY-MM-DD` date in a sane range.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let y = d.format("%Y").to_string().parse::<i32>().ok()?;
    (1900..=9999).contains(&y).then_some(d)
}

/// Formats a date as `YYYY-MM-DD`.
pub fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Formats epoch milliseconds as RFC 3339 UTC.
pub fn fmt_instant(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Today's date in China Standard Time (UTC+8), the calendar the service runs on.
pub fn today_cst() -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    Utc::now().with_timezone(&cst).date_naive()
}
