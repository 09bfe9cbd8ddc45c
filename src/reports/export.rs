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
            period,
            region,
            code,
            name,
            i.id,
            i.name_zh,
            &f.numerator.to_string(),
            &f.denominator.map(|d| d.to_string()).unwrap_or_default(),
            &f.rate.map(|r| format!("{r:.4}")).unwrap_or_default(),
            source_zh(&f.denominator_source),
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
