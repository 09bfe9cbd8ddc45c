//! Report periods: a calendar year `2026` or a month `2026-03`, as clinical dates.

use chrono::{Datelike, Months, NaiveDate};

use crate::error::AppError;
use crate::error_codes::Code;

/// A closed date range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
}

impl Period {
    /// Parses `YYYY` or `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Period, AppError> {
        let bad = || {
            AppError::bad_request(Code::InvalidPeriod, "period must be a year (2026) or a month (2026-03)")
                .with_field("period")
        };
        let (y, m) = match s.split_once('-') {
            None => (s, None),
            Some((y, m)) => (y, Some(m)),
        };
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // The year's range is checked where every period is built (`months_from`).
        let year: i32 = y.parse().map_err(|_| bad())?;
        match m {
            None => Period::months_from(year, 1, 12),
            Some(m) if m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
                Period::months_from(year, m.parse().map_err(|_| bad())?, 1)
            }
            Some(_) => None,
        }
        .ok_or_else(bad)
    }

    /// `months` calendar months from the first of `month` in `year` (2000–2100); `None`
    /// when that is not a date. Years, quarters and months are all built here.
    pub fn months_from(year: i32, month: u32, months: u32) -> Option<Period> {
        if !(2000..=2100).contains(&year) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        let end = start.checked_add_months(Months::new(months))?.pred_opt()?;
        Some(Period { start, end })
    }

    /// Quarter `q` (1–4) of `year`.
    pub fn quarter(year: i32, q: u32) -> Option<Period> {
        (1..=4).contains(&q).then(|| Period::months_from(year, 3 * q - 2, 3))?
    }

    /// The year the period falls in (population denominators are per year).
    pub fn year(&self) -> i32 {
        self.start.year()
    }

    /// The latest birth date of someone aged at least `years` on the period's last day.
    pub fn born_by_for_age(&self, years: u32) -> NaiveDate {
        self.end.checked_sub_months(Months::new(12 * years)).unwrap_or(self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_months() {
        let y = Period::parse("2026").unwrap();
        assert_eq!(
            (y.start.to_string(), y.end.to_string()),
            ("2026-01-01".into(), "2026-12-31".into())
        );
        let feb = Period::parse("2024-02").unwrap();
        assert_eq!(feb.end.to_string(), "2024-02-29");
        for bad in ["", "26", "2026-13", "2026-1", "1999", "2026-03-01", "abcd"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(y.born_by_for_age(65).to_string(), "1961-12-31");
        let q4 = Period::quarter(2026, 4).unwrap();
        assert_eq!(
            (q4.start.to_string(), q4.end.to_string()),
            ("2026-10-01".into(), "2026-12-31".into())
        );
        assert_eq!(Period::quarter(2024, 1).unwrap().end.to_string(), "2024-03-31");
        assert!(Period::quarter(2026, 0).is_none() && Period::quarter(2026, 5).is_none());
    }
}
