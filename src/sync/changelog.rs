//! The change log: one row per applied change, in server order. Its `seq` is the axis of
//! pull cursors.
//!
//! Positions come from a counter row updated inside the writing transaction. The update
//! holds the row lock until commit, so on PostgreSQL writers take positions one at a time
//! and commit in position order: a pull can never see position n+1 while n is still in
//! flight (DESIGN §4, the skipped-change hazard). SQLite has one writer anyway.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::domain::WriteCtx;
use crate::error::AppError;
use crate::schema::{change_log, sync_counters};

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
    /// A change by the writer of `ctx`.
    pub fn new(ctx: &WriteCtx, county: &str, entity: &'static str, id: &str, version: i64) -> Change {
        Change {
            county_code: county.to_string(),
            village_code: None,
            team_id: None,
            entity,
            entity_id: id.to_string(),
            version,
            deleted: false,
            op_id: ctx.op_id.map(str::to_string),
            device_id: Some(ctx.auth.device_id.clone()),
            at: ctx.now,
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

/// Takes the next position and records the change under it.
pub fn append(conn: &mut DbConn, c: &Change) -> Result<i64, AppError> {
    diesel::update(sync_counters::table.find("change_log"))
        .set(sync_counters::value.eq(sync_counters::value + 1))
        .execute(conn)?;
    let seq: i64 = sync_counters::table
        .find("change_log")
        .select(sync_counters::value)
        .first(conn)?;
    diesel::insert_into(change_log::table)
        .values((
            change_log::seq.eq(seq),
            change_log::county_code.eq(&c.county_code),
            change_log::village_code.eq(&c.village_code),
            change_log::team_id.eq(&c.team_id),
            change_log::entity.eq(c.entity),
            change_log::entity_id.eq(&c.entity_id),
            change_log::version.eq(c.version),
            change_log::deleted.eq(c.deleted),
            change_log::op_id.eq(&c.op_id),
            change_log::device_id.eq(&c.device_id),
            change_log::changed_at.eq(c.at),
        ))
        .execute(conn)?;
    Ok(seq)
}

/// The newest position committed.
pub fn head(conn: &mut DbConn) -> Result<i64, AppError> {
    Ok(sync_counters::table
        .find("change_log")
        .select(sync_counters::value)
        .first(conn)?)
}
