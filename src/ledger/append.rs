//! Appending to the ledger: one row per applied change, in server order (docs/architecture.md,
//! "The ledger"). Its `seq` is the axis of pull cursors.
//!
//! A writer locks the counter row (`SELECT … FOR UPDATE`) before taking the next position
//! (`MAX(seq) + 1`) and holds the lock until commit, so on PostgreSQL writers take
//! positions one at a time and commit in position order: a pull can never see position
//! n+1 while n is still in flight (docs/architecture.md, "Ledger positions": the skipped-change hazard). SQLite has one
//! writer anyway. The row is locked, not updated: updating one row hundreds of times in a
//! transaction makes PostgreSQL walk an ever longer chain of row versions.

use diesel::prelude::*;

use std::cell::RefCell;

use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::ledger;

use super::audit::AuditRow;
use super::journal::Journal;

/// A change to record.
#[derive(Debug, Clone)]
pub struct Change {
    county_code: String,
    village_code: Option<String>,
    team_id: Option<String>,
    entity: &'static str,
    entity_id: String,
    version: i64,
    deleted: bool,
    op_id: Option<String>,
    device_id: Option<String>,
    at: i64,
}

impl Change {
    /// Whether this change was made by op `op_id` of device `device_id` at `at`.
    pub(crate) fn by_op(&self, device_id: &str, op_id: &str) -> bool {
        self.op_id.as_deref() == Some(op_id) && self.device_id.as_deref() == Some(device_id)
    }
    /// Whether an audit entry describes this change: the same record, county, device and
    /// server time.
    pub(crate) fn described_by(&self, a: &AuditRow) -> bool {
        a.entity == Some(self.entity)
            && a.entity_id.as_deref() == Some(self.entity_id.as_str())
            && a.county_code.as_deref() == Some(self.county_code.as_str())
            && a.device_id == self.device_id
            && a.at == self.at
    }
}

impl Change {
    /// A change made at server time `at` by device `device_id` (its internal id), in
    /// answer to op `op_id` if it was one.
    pub fn new(
        op_id: Option<&str>,
        device_id: &str,
        at: i64,
        county: &str,
        entity: &'static str,
        id: &str,
        version: i64,
    ) -> Change {
        Change {
            county_code: county.to_string(),
            village_code: None,
            team_id: None,
            entity,
            entity_id: id.to_string(),
            version,
            deleted: false,
            op_id: op_id.map(str::to_string),
            device_id: Some(device_id.to_string()),
            at,
        }
    }
    /// The village whose tablets must learn of it.
    pub fn village(mut self, v: &str) -> Change {
        self.village_code = Some(v.to_string());
        self
    }
    /// The team concerned.
    pub fn team(mut self, t: &str) -> Change {
        self.team_id = Some(t.to_string());
        self
    }
    /// Marks a tombstone.
    pub fn deleted(mut self, d: bool) -> Change {
        self.deleted = d;
        self
    }
}

/// A change-log row as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ledger)]
pub struct ChangeRow {
    pub(crate) seq: i64,
    county_code: String,
    village_code: Option<String>,
    team_id: Option<String>,
    pub(crate) entity: &'static str,
    pub(crate) entity_id: String,
    version: i64,
    deleted: bool,
    pub(crate) op_id: Option<String>,
    pub(crate) device_id: Option<String>,
    changed_at: i64,
    /// What the op's idempotency record carried, on the op's first row (`journal`).
    pub(crate) user_id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) result: Option<String>,
    pub(crate) digest: Option<String>,
    /// What the op's audit entry carried, on the row that stands for it (`journal`).
    pub(crate) audit_id: Option<String>,
    pub(crate) audit_action: Option<&'static str>,
    pub(crate) clinical_at: Option<i64>,
    pub(crate) detail: Option<String>,
}

impl Change {
    /// The row under position `seq`.
    pub(crate) fn into_row(self, seq: i64) -> ChangeRow {
        ChangeRow {
            seq,
            county_code: self.county_code,
            village_code: self.village_code,
            team_id: self.team_id,
            entity: self.entity,
            entity_id: self.entity_id,
            version: self.version,
            deleted: self.deleted,
            op_id: self.op_id,
            device_id: self.device_id,
            changed_at: self.at,
            user_id: None,
            status: None,
            result: None,
            digest: None,
            audit_id: None,
            audit_action: None,
            clinical_at: None,
            detail: None,
        }
    }
}

/// Locks the position counter until commit (PostgreSQL; SQLite's writer already holds
/// the database) and returns the newest position.
pub(crate) fn lock_head(conn: &mut DbConn) -> Result<i64, AppError> {
    crate::db::dialect::lock_counter(conn, "ledger")?;
    head(conn)
}

/// Records a change and returns its position. Inside a push batch the change joins the
/// batch's journal and gets a provisional (negative) position, made final when the batch
/// is written; the entity row's `change_seq` is corrected then.
pub fn append(conn: &mut DbConn, journal: Option<&RefCell<Journal>>, c: &Change) -> Result<i64, AppError> {
    if let Some(j) = journal {
        return Ok(j.borrow_mut().change(c.clone()));
    }
    let seq = lock_head(conn)? + 1;
    diesel::insert_into(ledger::table)
        .values(c.clone().into_row(seq))
        .execute(conn)?;
    Ok(seq)
}

/// The newest position this connection can see (committed, or its own transaction's).
pub fn head(conn: &mut DbConn) -> Result<i64, AppError> {
    let max: Option<i64> = ledger::table.select(diesel::dsl::max(ledger::seq)).first(conn)?;
    Ok(max.unwrap_or(0))
}

/// What this database holds at a position: a short hash of the last change at or before it
/// (`"0"` before the first). Cursors carry it, so a cursor that names a position of another
/// history — one issued before a restore from an older backup, whose positions the restored
/// database hands out again to other changes — is refused instead of skipping them
/// (docs/sync-protocol.md §3, "Re-sync").
pub fn mark_at(conn: &mut DbConn, position: i64) -> Result<String, AppError> {
    Ok(last_at_or_before(conn, position)?.1)
}

/// The position and mark of the last change at or before `position` (`(0, "0")` before
/// the first).
fn last_at_or_before(conn: &mut DbConn, position: i64) -> Result<(i64, String), AppError> {
    let row: Option<(i64, String, String, i64, i64)> = ledger::table
        .filter(ledger::seq.le(position))
        .order(ledger::seq.desc())
        .select((
            ledger::seq,
            ledger::entity,
            ledger::entity_id,
            ledger::version,
            ledger::changed_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => (0, "0".to_string()),
        Some((seq, entity, id, version, at)) => (seq, mark_of(seq, &entity, &id, version, at)),
    })
}

/// The mark of one change-log row (see [`mark_at`]), for a caller that holds the row.
pub fn mark_of(seq: i64, entity: &str, entity_id: &str, version: i64, changed_at: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{seq}|{entity}|{entity_id}|{version}|{changed_at}").as_bytes());
    hex::encode(&digest[..6])
}

/// The newest position this connection can see and this database's mark there: what a
/// push answer's `checkpoint` names (every op it acknowledges lies at or before it).
pub fn head_mark(conn: &mut DbConn) -> Result<(i64, String), AppError> {
    last_at_or_before(conn, i64::MAX)
}
