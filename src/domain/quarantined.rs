//! Quarantined ops as the review queue reads and resolves them (docs/review.md): an op a
//! push refused but kept, with why. The push writes them (`sync::quarantine`); the review
//! workflow lists, re-applies and resolves them through the rows read and written here.

use diesel::prelude::*;

use super::conflict::Resolution;
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::quarantine;
use crate::vocabulary::ItemStatus;

/// A quarantined op as the review queue shows it.
#[derive(Debug, Queryable)]
pub struct Row {
    /// Its id.
    pub id: String,
    /// The village, if known.
    pub village_code: Option<String>,
    /// The device that sent it.
    pub device_id: String,
    /// That device's user.
    pub user_id: String,
    /// The op's id, if it had a readable one.
    pub op_id: Option<String>,
    /// Entity kind, if known.
    pub entity: Option<String>,
    /// The op as sent (JSON text, sealed).
    pub raw: String,
    /// Why it was refused: the code.
    pub error_code: String,
    /// The field refused.
    pub error_field: Option<String>,
    /// The refusal's message.
    pub error_message: String,
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
    /// When the server received it.
    pub received_at: i64,
}

/// The quarantined ops with these ids (in no order).
pub fn load(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Row>, AppError> {
    Ok(quarantine::table
        .filter(quarantine::id.eq_any(ids))
        .select((
            quarantine::id,
            quarantine::village_code,
            quarantine::device_id,
            quarantine::user_id,
            quarantine::op_id,
            quarantine::entity,
            quarantine::raw,
            quarantine::error_code,
            quarantine::error_field,
            quarantine::error_message,
            quarantine::status,
            quarantine::resolution,
            quarantine::resolution_reason,
            quarantine::resolved_by,
            quarantine::resolved_at,
            quarantine::received_at,
        ))
        .load(conn)?)
}

/// A quarantined op's raw text and who sent it: (raw, user id, device id).
pub fn sent(conn: &mut DbConn, id: &str) -> Result<(String, String, String), AppError> {
    Ok(quarantine::table
        .find(id)
        .select((quarantine::raw, quarantine::user_id, quarantine::device_id))
        .first(conn)?)
}

/// Marks the quarantined op resolved, only if still open; false if it was not (a
/// concurrent decision took it).
pub fn resolve(conn: &mut DbConn, id: &str, r: &Resolution) -> Result<bool, AppError> {
    let n = diesel::update(
        quarantine::table
            .find(id)
            .filter(quarantine::status.eq(ItemStatus::Open.as_str())),
    )
    .set((
        quarantine::status.eq(ItemStatus::Resolved.as_str()),
        quarantine::resolution.eq(r.decision),
        quarantine::resolution_reason.eq(r.reason),
        quarantine::resolved_by.eq(r.by),
        quarantine::resolved_at.eq(r.at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
