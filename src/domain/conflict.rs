//! Conflict records as stored (docs/review.md): each keeps the side a sync rule did not
//! apply, until a supervisor decides. The review workflow opens, lists and resolves them;
//! the rows are read and written here.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::conflicts;
use crate::vocabulary::ItemStatus;

/// A conflict row to insert, its values as they are kept (sealed, JSON text).
pub struct NewRow<'a> {
    /// The row's id.
    pub id: &'a str,
    /// The county.
    pub county_code: &'a str,
    /// The village, if known.
    pub village_code: Option<&'a str>,
    /// The conflict kind's text.
    pub kind: &'a str,
    /// Entity kind.
    pub entity: &'a str,
    /// The record concerned.
    pub entity_id: &'a str,
    /// The other record involved.
    pub other_entity_id: Option<&'a str>,
    /// The fields that clashed, comma-separated.
    pub field: Option<String>,
    /// The op that made it.
    pub op_id: Option<&'a str>,
    /// The device that sent the op.
    pub device_id: &'a str,
    /// The server side.
    pub server_value: Option<String>,
    /// The client side.
    pub client_value: Option<String>,
    /// When it is opened.
    pub created_at: i64,
}

/// Inserts an open conflict.
pub fn insert(conn: &mut DbConn, c: NewRow) -> Result<(), AppError> {
    diesel::insert_into(conflicts::table)
        .values((
            conflicts::id.eq(c.id),
            conflicts::county_code.eq(c.county_code),
            conflicts::village_code.eq(c.village_code),
            conflicts::kind.eq(c.kind),
            conflicts::entity.eq(c.entity),
            conflicts::entity_id.eq(c.entity_id),
            conflicts::other_entity_id.eq(c.other_entity_id),
            conflicts::field.eq(c.field),
            conflicts::op_id.eq(c.op_id),
            conflicts::device_id.eq(c.device_id),
            conflicts::server_value.eq(c.server_value),
            conflicts::client_value.eq(c.client_value),
            conflicts::status.eq(ItemStatus::Open.as_str()),
            conflicts::created_at.eq(c.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A conflict row as the review queue shows it.
#[derive(Debug, Queryable)]
pub struct Row {
    /// Its id.
    pub id: String,
    /// The village, if known.
    pub village_code: Option<String>,
    /// The conflict kind's text.
    pub kind: String,
    /// Entity kind.
    pub entity: String,
    /// The record concerned.
    pub entity_id: String,
    /// The other record involved.
    pub other_entity_id: Option<String>,
    /// The fields that clashed.
    pub field: Option<String>,
    /// The op that made it.
    pub op_id: Option<String>,
    /// The device that sent the op.
    pub device_id: Option<String>,
    /// The server side (JSON text).
    pub server_value: Option<String>,
    /// The client side (JSON text).
    pub client_value: Option<String>,
    /// `open` or `resolved`.
    pub status: String,
    /// The decision taken.
    pub resolution: Option<String>,
    /// The supervisor's reason.
    pub resolution_reason: Option<String>,
    /// Who decided.
    pub resolved_by: Option<String>,
    /// When.
    pub resolved_at: Option<i64>,
    /// When it was opened.
    pub created_at: i64,
}

/// The conflicts with these ids (in no order).
pub fn load(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Row>, AppError> {
    Ok(conflicts::table
        .filter(conflicts::id.eq_any(ids))
        .select((
            conflicts::id,
            conflicts::village_code,
            conflicts::kind,
            conflicts::entity,
            conflicts::entity_id,
            conflicts::other_entity_id,
            conflicts::field,
            conflicts::op_id,
            conflicts::device_id,
            conflicts::server_value,
            conflicts::client_value,
            conflicts::status,
            conflicts::resolution,
            conflicts::resolution_reason,
            conflicts::resolved_by,
            conflicts::resolved_at,
            conflicts::created_at,
        ))
        .load(conn)?)
}

/// The two sides a conflict keeps, as stored: (server, client).
pub fn sides(conn: &mut DbConn, id: &str) -> Result<(Option<String>, Option<String>), AppError> {
    Ok(conflicts::table
        .find(id)
        .select((conflicts::server_value, conflicts::client_value))
        .first(conn)?)
}

/// A supervisor's decision on an item, as stored with it.
pub struct Resolution<'a> {
    /// The decision's text.
    pub decision: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Who decided.
    pub by: &'a str,
    /// When.
    pub at: i64,
}

/// Marks the conflict resolved, only if still open; false if it was not (a concurrent
/// decision took it).
pub fn resolve(conn: &mut DbConn, id: &str, r: &Resolution) -> Result<bool, AppError> {
    let n = diesel::update(
        conflicts::table
            .find(id)
            .filter(conflicts::status.eq(ItemStatus::Open.as_str())),
    )
    .set((
        conflicts::status.eq(ItemStatus::Resolved.as_str()),
        conflicts::resolution.eq(r.decision),
        conflicts::resolution_reason.eq(r.reason),
        conflicts::resolved_by.eq(r.by),
        conflicts::resolved_at.eq(r.at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
