//! CSV for Excel: UTF-8 with a byte-order mark (without it Excel reads UTF-8 as the local
//! code page and Chinese turns to mojibake), CRLF line ends, Chinese headers, one row per
//! group × indicator so a pivot table can rearrange it.

use std::collections::BTreeMap;

use super::coverage::{CoverageReport, Figure};
use super::indicators::DICTIONARY;
use super::trend::TrendReport;
use crate::error::AppError;

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

const HEADERS: [&str; 10] = [
    "统计期",
    "地区代码",
    "分组代码",
    "分组名称",
    "指标编号",
    "指标名称",
    "分子",
    "分母",
    "比率",
    "分母来源",
];

/// How a denominator source reads in Chinese.
pub fn source_zh(source: &str) -> &'static str {
    match source {
        "imported" => "导入人口数",
        "registered" => "登记居民数",
        "computed" => "本表计数",
        _ => "",
    }
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec())
}

/// A text cell as Excel will not run it: a cell beginning with `=`, `+`, `-`, `@`, a tab
/// or a carriage return is a formula to a spreadsheet (OWASP "CSV injection"), so it gets a
/// leading apostrophe, which Excel hides. Names come from admins' imports and tablets, so
/// every text cell goes through here; the counts and rates are formatted from numbers by
/// this module and cannot start with those characters except a minus sign, which no count
/// or rate here has.
fn text_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

fn rows(
    w: &mut csv::Writer<Vec<u8>>,
    period: &str,
    region: &str,
    code: &str,
    name: &str,
    figures: &BTreeMap<String, Figure>,
) -> Result<(), AppError> {
    for i in DICTIONARY.iter() {
        let Some(f) = figures.get(i.id) else { continue };
        w.write_record([
            &*text_cell(period),
            &text_cell(region),
            &text_cell(code),
            &text_cell(name),
            &text_cell(i.id),
            &text_cell(i.name_zh),
            &f.numerator.to_string(),
            &f.denominator.map(|d| d.to_string()).unwrap_or_default(),
            &f.rate.map(|r| format!("{r:.4}")).unwrap_or_default(),
            &text_cell(source_zh(&f.denominator_source)),
        ])
        .map_err(AppError::internal)?;
    }
    Ok(())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, AppError> {
    w.into_inner().map_err(AppError::internal)
}

/// A coverage report as CSV: every group's rows, then the total's (分组代码 `合计`).
pub fn coverage_csv(r: &CoverageReport) -> Result<Vec<u8>, AppError> {
    let mut w = writer();
    w.write_record(HEADERS).map_err(AppError::internal)?;
    for g in &r.groups {
        rows(&mut w, &r.period, &r.region, &g.code, &g.name, &g.indicators)?;
    }
    rows(
        &mut w,
        &r.period,
        &r.region,
        "合计",
        &r.region_name,
        &r.total.indicators,
    )?;
    finish(w)
}

/// A trend as CSV: one block of rows per month.
pub fn trend_csv(r: &TrendReport) -> Result<Vec<u8>, AppError> {
    let mut w = writer();
    w.write_record(HEADERS).map_err(AppError::internal)?;
    for m in &r.months {
        rows(&mut w, &m.period, &r.region, &r.region, &r.region_name, &m.indicators)?;
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::coverage::{Group, GroupBy, Total};

    #[test]
    fn names_that_start_like_formulas_are_written_as_text() {
        let figure = Figure {
            numerator: 3,
            denominator: Some(4),
            rate: Some(0.75),
            denominator_source: "registered".into(),
            version: 1,
        };
        let indicators: BTreeMap<String, Figure> = [(DICTIONARY[0].id.to_string(), figure)].into();
        let hostile = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"];
        let report = CoverageReport {
            region: "431126".into(),
            region_name: "=1+1".into(),
            period: "2026".into(),
            period_start: "2026-01-01".into(),
            period_end: "2026-12-31".into(),
            dictionary_version: "v1".into(),
            group_by: GroupBy::Village,
            groups: hostile
                .iter()
                .map(|name| Group {
                    code: "-431126001".into(),
                    name: name.to_string(),
                    indicators: indicators.clone(),
                })
                .collect(),
            total: Total { indicators },
        };
        let bytes = coverage_csv(&report).unwrap();
        let mut reader = csv::Reader::from_reader(&bytes[BOM.len()..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), hostile.len() + 1);
        for (row, name) in rows.iter().zip(hostile) {
            assert_eq!(&row[3], format!("'{name}"));
            assert_eq!(&row[2], "'-431126001");
            assert_eq!((&row[6], &row[7], &row[8]), ("3", "4", "0.7500"));
        }
        assert_eq!(&rows[hostile.len()][3], "'=1+1");
        assert_eq!(&rows[0][0], "2026");
    }
}
