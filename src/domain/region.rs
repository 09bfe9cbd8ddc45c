//! Administrative regions (统计用区划代码): county `XXXXXX000000`, township `XXXXXXXXX000`,
//! village `XXXXXXXXXXXX`; a code's parent follows from its prefix.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::regions;
use crate::time::now_ms;

// The code's structure is plain data the reports read too, so it lives in `access`.
pub use crate::access::region::{county_of, parse_code, Level};

/// A region row.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = regions)]
pub struct Region {
    /// 12-digit division code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `county`, `township` or `village`.
    pub level: String,
    /// Parent code (none for a county).
    pub parent_code: Option<String>,
    /// County code.
    pub county_code: String,
    /// Created (server, epoch ms).
    #[serde(skip)]
    pub created_at: i64,
}

/// Finds a region.
pub fn find(conn: &mut DbConn, code: &str) -> Result<Option<Region>, AppError> {
    Ok(regions::table
        .find(code)
        .select(Region::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a region under its existing parent. `county` restricts where (an admin's county).
pub fn create(conn: &mut DbConn, code: &str, name: &str, county: Option<&str>) -> Result<Region, AppError> {
    let (level, parent) = parse_code(code)?;
    let name = super::validate::text(name, "name", 100)?;
    let county_code = county_of(code);
    if let Some(c) = county {
        if c != county_code {
            return Err(AppError::forbidden("that region is outside your county"));
        }
    }
    if let Some(p) = &parent {
        if find(conn, p)?.is_none() {
            return Err(AppError::invalid(
                Code::UnknownParentRegion,
                "code",
                format!("create the parent region {p} first"),
            ));
        }
    }
    if find(conn, code)?.is_some() {
        return Err(AppError::conflict(
            Code::RegionExists,
            format!("region {code} already exists"),
        ));
    }
    let r = Region {
        code: code.to_string(),
        name,
        level: level.as_str().to_string(),
        parent_code: parent,
        county_code,
        created_at: now_ms(),
    };
    diesel::insert_into(regions::table)
        .values((
            regions::code.eq(&r.code),
            regions::name.eq(&r.name),
            regions::level.eq(&r.level),
            regions::parent_code.eq(&r.parent_code),
            regions::county_code.eq(&r.county_code),
            regions::created_at.eq(r.created_at),
        ))
        .execute(conn)?;
    if level == Level::County {
        // A county is never without its catalog: BASIC and the satisfaction questionnaire.
        super::catalog::ensure_county(conn, &r.code)?;
    }
    Ok(r)
}

/// Direct children of a region, by code.
pub fn children(conn: &mut DbConn, code: &str) -> Result<Vec<Region>, AppError> {
    Ok(regions::table
        .filter(regions::parent_code.eq(code))
        .order(regions::code)
        .select(Region::as_select())
        .load(conn)?)
}
