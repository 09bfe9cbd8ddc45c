//! Audit rows as stored. Every entry goes to `audit_log` unless it is an op's entry for
//! one of the op's changes, which its ledger row carries instead (`journal`). The domain
//! builds entries (`domain::audit::Entry`) and reads the trail.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::audit_log;

/// An audit row as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub(crate) id: String,
    pub(crate) at: i64,
    pub(crate) clinical_at: Option<i64>,
    pub(crate) county_code: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) entity: Option<&'static str>,
    pub(crate) entity_id: Option<String>,
    pub(crate) detail: Option<String>,
}

/// Appends an entry now (outside a push batch's journal).
pub fn record(conn: &mut DbConn, row: AuditRow) -> Result<(), AppError> {
    diesel::insert_into(audit_log::table).values(row).execute(conn)?;
    Ok(())
}
