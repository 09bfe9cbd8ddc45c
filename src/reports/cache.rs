//! Counted facts, remembered until the data changes. Every write that can change a count
//! (residents, tags, moves, contracts, visits, surveys — through sync or the domain
//! functions) appends to the county's change log, so the county's newest change-log
//! position is a version of its data: facts counted at one position are exact for as long
//! as the position stays. Population rows, regions and teams are read fresh on every
//! report (they are small), so they need no version here.
//!
//! The version is read before counting: a write that lands during a count leaves an entry
//! filed under the older position, which the next report simply recounts.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;

use super::facts::{self, CodeRange, FactTable};
use super::period::Period;
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;

/// Entries kept (a county's year, its months, a few townships: a few hundred KB each at most).
const CAPACITY: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    database: String,
    county: String,
    lo: String,
    hi: String,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
    version: i64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, (u64, FactTable)>,
    tick: u64,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

#[derive(QueryableByName)]
struct Identity {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// Which database this connection reads (one process may serve several, as tests do).
fn database_identity(conn: &mut DbConn) -> Result<String, AppError> {
    let sql = match conn {
        DbConn::Sqlite(_) => "SELECT 'sqlite:' || file AS id FROM pragma_database_list WHERE name = 'main'",
        DbConn::Pg(_) => {
            "SELECT 'pg:' || current_database() || '@' || COALESCE(CAST(inet_server_addr() AS TEXT), 'socket') \
             || ':' || COALESCE(CAST(inet_server_port() AS TEXT), '') || '/' || \
             CAST(pg_postmaster_start_time() AS TEXT) AS id"
        }
    };
    let rows = raw::load::<Identity>(conn, sql, &[])?;
    Ok(rows.into_iter().next().map(|r| r.id).unwrap_or_default())
}

/// The county's newest change-log position.
fn data_version(conn: &mut DbConn, county: &str) -> Result<i64, AppError> {
    let rows = raw::load::<Version>(
        conn,
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS v FROM change_log WHERE county_code = ?",
        &[Bind::from(county)],
    )?;
    Ok(rows.first().map_or(0, |r| r.v))
}

/// The facts of a county's villages in `range` over a period: from memory when nothing in
/// the county changed since they were counted, else counted now.
pub fn count(conn: &mut DbConn, county: &str, range: &CodeRange, p: &Period) -> Result<FactTable, AppError> {
    let key = Key {
        database: database_identity(conn)?,
        county: county.to_string(),
        lo: range.lo.clone(),
        hi: range.hi.clone(),
        start: p.start,
        end: p.end,
        version: data_version(conn, county)?,
    };
    {
        let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
        c.tick += 1;
        let tick = c.tick;
        if let Some(entry) = c.entries.get_mut(&key) {
            entry.0 = tick;
            return Ok(entry.1.clone());
        }
    }
    let table = facts::count(conn, county, range, p)?;
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.entries.len() >= CAPACITY {
        if let Some(oldest) = c.entries.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| k.clone()) {
            c.entries.remove(&oldest);
        }
    }
    c.tick += 1;
    let tick = c.tick;
    c.entries.insert(key, (tick, table.clone()));
    Ok(table)
}

/// Forgets every entry (benchmarks time the counting itself with it).
pub fn clear() {
    cache().lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
}
