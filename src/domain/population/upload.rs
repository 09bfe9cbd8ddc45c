//! Population denominators through the admin API: rows as JSON or as the CSV that
//! `jiayi import population` reads, stored all together or not at all, every refused row
//! named with the reason.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Caller;
use crate::db::{write_tx, DbConn};
use crate::domain::{audit, population};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;

/// The mark a spreadsheet may put before UTF-8 text (the reports' CSV carry it too).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One denominator.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationRow {
    /// 12-digit region code in the caller's county.
    pub region_code: String,
    /// Year, 2000–2100.
    pub year: i32,
    /// `resident` (常住), `registered` (户籍), `key_total`, `elderly`, `child`, or a tag code.
    pub category: String,
    /// Head count.
    pub count: i64,
}

/// The JSON form of a population upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationUpload {
    /// The rows; each replaces the stored figure for its region, year and category.
    pub rows: Vec<PopulationRow>,
}

/// Why one row was refused.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RowError {
    /// JSON: the row's position (1 = first); CSV: the line number (1 = header).
    pub row: usize,
    /// Stable error code.
    pub code: String,
    /// The column at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Explanation.
    pub message: String,
}

/// The answer to a stored upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PopulationStored {
    /// Rows stored.
    pub stored: usize,
}

/// What an upload came to.
pub enum Outcome {
    /// Every row stored.
    Stored(usize),
    /// Nothing stored; these rows were refused.
    Refused(Vec<RowError>),
}

fn row_error(row: usize, e: &AppError) -> RowError {
    RowError {
        row,
        code: e.code.to_string(),
        field: e.field.clone(),
        message: e.message.clone(),
    }
}

/// Upload rows numbered for error messages, each parsed or refused.
pub type NumberedRows = Vec<(usize, Result<PopulationRow, RowError>)>;

/// Reads a CSV upload (`region_code,year,category,count`, a header row first) into rows
/// numbered by line; unreadable rows become row errors.
pub fn parse_csv(body: &[u8]) -> Result<NumberedRows, AppError> {
    let body = body.strip_prefix(BOM).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|_| AppError::bad_request(Code::MalformedCsv, "the CSV header row cannot be read"))?
        .clone();
    let expected = ["region_code", "year", "category", "count"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(AppError::invalid(
            Code::InvalidHeader,
            "header",
            "the header row must be region_code,year,category,count",
        ));
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.push((
                    line,
                    Err(RowError {
                        row: line,
                        code: "malformed_row".into(),
                        field: None,
                        message: "the row cannot be read as CSV".into(),
                    }),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != 4 {
            out.push((
                line,
                Err(RowError {
                    row: line,
                    code: "malformed_row".into(),
                    field: None,
                    message: format!("expected 4 fields, found {}", record.len()),
                }),
            ));
            continue;
        }
        let parsed = (|| {
            let year = record[1]
                .parse()
                .map_err(|_| AppError::invalid(Code::InvalidYear, "year", "year must be a whole number"))?;
            let count = record[3]
                .parse()
                .map_err(|_| AppError::invalid(Code::InvalidCount, "count", "count must be a whole number"))?;
            Ok::<_, AppError>(PopulationRow {
                region_code: record[0].to_string(),
                year,
                category: record[2].to_string(),
                count,
            })
        })();
        out.push((line, parsed.map_err(|e| row_error(line, &e))));
    }
    Ok(out)
}

/// Stores the rows in one transaction when every one is valid and in the caller's county;
/// otherwise stores nothing and names every refused row.
pub fn store(conn: &mut DbConn, auth: &Caller, rows: NumberedRows) -> Result<Outcome, AppError> {
    if rows.is_empty() {
        return Err(AppError::invalid(Code::NoRows, "rows", "the upload holds no rows"));
    }
    let mut refused = Vec::new();
    let result = write_tx(conn, |c| {
        let mut stored = 0;
        for (n, row) in &rows {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    refused.push(e.clone());
                    continue;
                }
            };
            match population::set(
                c,
                &row.region_code,
                row.year,
                &row.category,
                row.count,
                Some(&auth.county_code),
            ) {
                Ok(()) => stored += 1,
                Err(e) if matches!(e.kind, Kind::Internal | Kind::Unavailable) => return Err(e),
                Err(e) => refused.push(row_error(*n, &e)),
            }
        }
        if !refused.is_empty() {
            // Rolls the transaction back: nothing half-stored.
            return Err(AppError::invalid(Code::InvalidRows, "rows", "rows refused"));
        }
        audit::record_now(
            c,
            audit::Entry::actor(auth, "population_set").detail(serde_json::json!({ "rows": stored })),
        )?;
        Ok(stored)
    });
    match result {
        Ok(n) => Ok(Outcome::Stored(n)),
        Err(e) if e.code == Code::InvalidRows => Ok(Outcome::Refused(refused)),
        Err(e) => Err(e),
    }
}
