//! The trend: every indicator month by month for a year, over the same reach as a
//! coverage report's total.

use std::collections::BTreeMap;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coverage::{self, Figure, Population};
use super::indicators::DICTIONARY_VERSION;
use super::period::Period;
use crate::access::Caller;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;

/// One month's figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendPoint {
    /// `YYYY-MM`.
    pub period: String,
    /// Indicator id → figures, as a coverage report's total for that month.
    pub indicators: BTreeMap<String, Figure>,
}

/// Month-by-month figures of a region.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendReport {
    /// Region code.
    pub region: String,
    /// The region's name.
    pub region_name: String,
    /// The year.
    pub year: i32,
    /// Indicator dictionary version.
    pub dictionary_version: String,
    /// January onwards; a month that has not begun yet (China Standard Time) is left out.
    pub months: Vec<TrendPoint>,
}

/// Computes the trend of a region for a year.
pub fn trend(conn: &mut DbConn, auth: &Caller, region: &str, year: &str) -> Result<TrendReport, AppError> {
    let whole = Period::parse(year)?;
    if year.contains('-') {
        return Err(
            AppError::bad_request(Code::InvalidPeriod, "a trend covers a year: give year=2026").with_field("year"),
        );
    }
    let reach = coverage::reach(conn, auth, region)?;
    let pop = Population::load(conn, &reach.root.county_code, whole.year())?;
    let today = crate::time::today_cst();
    let mut months = Vec::new();
    for m in 1..=12u32 {
        let label = format!("{}-{m:02}", whole.year());
        let p = Period::parse(&label)?;
        if p.start > today {
            break;
        }
        let table = coverage::count_in_reach(conn, &reach, &p)?;
        months.push(TrendPoint {
            period: label,
            indicators: coverage::total_figures(&reach, &table, &pop),
        });
    }
    Ok(TrendReport {
        region: reach.root.code.clone(),
        region_name: reach.root.name.clone(),
        year: whole.start.year(),
        dictionary_version: DICTIONARY_VERSION.into(),
        months,
    })
}
