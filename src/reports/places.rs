//! The regions a report is over, read as the reports need them: a region's code, name and
//! county, and the villages under it. The region rules (codes, creating regions) are the
//! domain's; a report only reads the table.

use diesel::prelude::*;

use crate::access::region::village_prefix;
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::regions;

/// A region a report counts over.
#[derive(Debug, Clone, Queryable)]
pub struct Place {
    /// 12-digit division code.
    pub code: String,
    /// Name.
    pub name: String,
    /// County code.
    pub county_code: String,
}

/// The region with this code.
pub fn find(conn: &mut DbConn, code: &str) -> Result<Option<Place>, AppError> {
    Ok(regions::table
        .find(code)
        .select((regions::code, regions::name, regions::county_code))
        .first(conn)
        .optional()?)
}

/// Villages under a region (itself, if it is a village), sorted by code.
pub fn villages_under(conn: &mut DbConn, code: &str) -> Result<Vec<Place>, AppError> {
    let prefix = village_prefix(code)?;
    Ok(regions::table
        .filter(regions::level.eq("village"))
        .filter(regions::code.like(format!("{prefix}%")))
        .order(regions::code)
        .select((regions::code, regions::name, regions::county_code))
        .load(conn)?)
}
