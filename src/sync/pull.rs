//! `GET /api/v1/sync/pull`: the changes in the caller's scope after a cursor, in server
//! order, each with the entity's current data (or `deleted: true`).

use std::collections::HashMap;

use diesel::prelude::*;

use super::{cursor, snapshot};
use crate::access::{Caller, Scope};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::ledger;

/// Default and largest page.
pub const DEFAULT_LIMIT: i64 = 500;
/// Largest page a client may ask for.
pub const MAX_LIMIT: i64 = 5000;

pub use jiayi_protocol::wire::{PullResponse, PulledChange};

/// The first `take` ledger rows after `after` in the caller's scope, in position order.
///
/// A team's villages are read one by one, each a range of the `(village_code, seq)` index
/// in order, and merged; every village after the first stops below the position that
/// already ends the page. One query over all of them (`village_code IN (…) ORDER BY seq`)
/// cannot read that index in position order, so SQLite walked the county's ledger from
/// the cursor and dropped the other teams' rows: in a county of n teams, about n rows read
/// for each one sent (docs/benchmarks.md, "Sync storm").
fn page_rows(conn: &mut DbConn, auth: &Caller, after: i64, take: i64) -> Result<Vec<LogRow>, AppError> {
    let columns = (
        ledger::seq,
        ledger::entity,
        ledger::entity_id,
        ledger::version,
        ledger::changed_at,
    );
    let after_cursor = || {
        ledger::table
            .filter(ledger::seq.gt(after))
            .order(ledger::seq)
            .limit(take)
            .select(columns)
            .into_boxed()
    };
    let in_county = || after_cursor().filter(ledger::county_code.eq(&auth.county_code));
    let villages = match &auth.scope {
        Scope::Team { villages, .. } => villages,
        scope => {
            let mut q = in_county();
            if let Scope::Township(t) = scope {
                q = q.filter(ledger::village_code.like(format!("{}%", &t[..9])));
            }
            return Ok(q.load(conn)?);
        }
    };
    let mut rows: Vec<LogRow> = Vec::new();
    for village in villages {
        // Once the page is full, only rows before its last one can still belong in it.
        let before = (rows.len() as i64 >= take).then(|| rows[take as usize - 1].seq);
        // No county condition: a village code names its county, and with one SQLite may
        // walk the county's index instead of the village's.
        let mut q = after_cursor().filter(ledger::village_code.eq(village));
        if let Some(b) = before {
            q = q.filter(ledger::seq.lt(b));
        }
        let more: Vec<LogRow> = q.load(conn)?;
        if more.is_empty() {
            continue;
        }
        rows.extend(more);
        rows.sort_unstable_by_key(|r| r.seq);
        rows.truncate(take as usize);
    }
    Ok(rows)
}

#[derive(Queryable)]
struct LogRow {
    seq: i64,
    entity: String,
    entity_id: String,
    version: i64,
    changed_at: i64,
}

/// Reads one page. `checkpoint` (the tablet's `X-Sync-Checkpoint`) is checked after the
/// cursor: a tablet whose last pull came before a backup point but whose pushes were
/// acknowledged after it learns of the restore here (`cursor::check_checkpoint`).
pub fn pull(
    conn: &mut DbConn,
    auth: &Caller,
    secret: &str,
    cursor_in: Option<&str>,
    checkpoint: Option<&str>,
    limit: Option<i64>,
) -> Result<PullResponse, AppError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            AppError::bad_request(Code::InvalidLimit, format!("limit must be 1–{MAX_LIMIT}")).with_field("limit"),
        );
    }
    // The position after which to read, and this database's mark there.
    let (after, after_mark) = match cursor_in.filter(|c| !c.is_empty()) {
        Some(c) => {
            let d = cursor::decode_marked(secret, &auth.scope, c)?;
            let here = crate::ledger::mark_at(conn, d.position)?;
            match d.mark {
                Some(mark) if mark != here => return Err(cursor::other_history()),
                // Issued before marks: at least never past what this database holds.
                None if d.position > crate::ledger::head(conn)? => return Err(cursor::other_history()),
                _ => (d.position, here),
            }
        }
        None => (0, crate::ledger::mark_at(conn, 0)?),
    };
    // After the cursor: a cursor of another scope answers `scope_changed` first.
    if let Some(c) = checkpoint {
        cursor::check_checkpoint(conn, c)?;
    }
    let mut rows = page_rows(conn, auth, after, limit + 1)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let (last, last_mark) = match rows.last() {
        Some(r) => (
            r.seq,
            crate::ledger::mark_of(r.seq, &r.entity, &r.entity_id, r.version, r.changed_at),
        ),
        None => (after, after_mark),
    };
    let own_team = auth.role.is_team_member();
    // An entity changed several times in the page appears once, at its last position, in
    // its current state; one that left the caller's scope comes as a tombstone for them.
    let mut last_pos: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        last_pos.insert((r.entity.as_str(), r.entity_id.as_str()), i);
    }
    let mut current: HashMap<&str, HashMap<String, snapshot::Snapshot>> = HashMap::new();
    for entity in snapshot::ENTITIES {
        let ids: Vec<&str> = rows
            .iter()
            .filter(|r| r.entity == entity)
            .map(|r| r.entity_id.as_str())
            .collect();
        current.insert(entity, snapshot::load(conn, entity, &ids, own_team)?);
    }
    // Each record is sent once (at its last position), so its loaded state is moved into
    // the answer rather than copied.
    let changes = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| last_pos.get(&(r.entity.as_str(), r.entity_id.as_str())) == Some(i))
        .filter_map(|(_, r)| {
            let snap = current.get_mut(r.entity.as_str())?.remove(&r.entity_id)?;
            let visible = !snap.deleted && auth.scope.covers_village(&snap.village_code);
            Some(PulledChange {
                entity: r.entity.clone(),
                id: r.entity_id.clone(),
                version: snap.version,
                deleted: !visible,
                merged_into: snap.merged_into.filter(|_| snap.deleted),
                data: visible.then_some(snap.data),
            })
        })
        .collect();
    Ok(PullResponse {
        changes,
        cursor: cursor::encode_marked(secret, &auth.scope, last, &last_mark),
        has_more,
    })
}
