//! Population denominators (人口数) per region, year and category; `upload` stores an
//! administrator's rows all together or not at all.

pub mod upload;

use diesel::prelude::*;

use super::region;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::population;
use crate::time::now_ms;

/// Categories besides the tag codes.
pub const BASE_CATEGORIES: [&str; 5] = ["resident", "registered", "key_total", "elderly", "child"];

/// Is this a category a population row may carry?
pub fn is_category(c: &str) -> bool {
    BASE_CATEGORIES.contains(&c) || super::resident::RECORDED_TAGS.contains(&c)
}

/// Sets (inserts or replaces) one denominator. `county` restricts where.
pub fn set(
    conn: &mut DbConn,
    region_code: &str,
    year: i32,
    category: &str,
    count: i64,
    county: Option<&str>,
) -> Result<(), AppError> {
    let r = region::find(conn, region_code)?
        .ok_or_else(|| AppError::invalid(Code::UnknownRegion, "region_code", "no such region"))?;
    if county.is_some_and(|c| c != r.county_code) {
        return Err(AppError::forbidden("that region is outside your county"));
    }
    if !(2000..=2100).contains(&year) {
        return Err(AppError::invalid(
            Code::InvalidYear,
            "year",
            "year must be between 2000 and 2100",
        ));
    }
    if !is_category(category) {
        return Err(AppError::invalid(
            Code::InvalidCategory,
            "category",
            "unknown population category",
        ));
    }
    if !(0..=100_000_000).contains(&count) {
        return Err(AppError::invalid(
            Code::InvalidCount,
            "count",
            "count must be between 0 and 100000000",
        ));
    }
    let key = population::table.find((region_code, year, category));
    let updated = diesel::update(key)
        .set((population::head_count.eq(count), population::updated_at.eq(now_ms())))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(population::table)
            .values((
                population::region_code.eq(region_code),
                population::year.eq(year),
                population::category.eq(category),
                population::head_count.eq(count),
                population::county_code.eq(&r.county_code),
                population::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
    }
    Ok(())
}
