//! Counted facts, remembered until the data changes. Every write that can change a count
//! (residents, tags, moves, contracts, visits, surveys — through sync or the domain
//! functions) appends to the county's change log, so the county's newest change-log
//! position is a version of its data: facts counted at one position are exact for as long
//! as the position stays. Population rows, regions and teams are read fresh on every
//! report (they are small), so they need no version here.
//!
//! The version is read before counting: a write that lands during a count leaves an entry
//! filed under the older position, which the next report simply recounts.
//!
//! Years are kept resident by resident (`contributions::Detail`), for the whole county:
//! each resident's cell, flags, follow-ups and referrals, each contract's cell and flags,
//! and the sums per cell. When
//! the county's position has moved, the change-log entries since the entry's position say
//! which residents changed; only they are recounted (the same queries restricted to
//! them), their old contributions subtracted and the new ones added. Too many changed
//! residents, or a change-log entity this module does not know, means a full recount.
//! Township and village reports of a year read the county's entry. Months keep the
//! grouped count above (twelve months resident by resident would cost twelve times the
//! memory for a report read far less often).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;

use super::contributions::{uuid_key, uuid_text, Detail};
use super::detail;
use super::facts::{self, CodeRange, FactTable};
use super::period::Period;
use super::snapshots;
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
struct Version {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// The county's newest change-log position.
fn data_version(conn: &mut DbConn, county: &str) -> Result<i64, AppError> {
    let rows = raw::load::<Version>(
        conn,
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS v FROM ledger WHERE county_code = ?",
        &[Bind::from(county)],
    )?;
    Ok(rows.first().map_or(0, |r| r.v))
}

/// The facts of a county's villages in `range` over a period: from memory when nothing in
/// the county changed since they were counted, else counted now.
pub fn count(conn: &mut DbConn, county: &str, range: &CodeRange, p: &Period) -> Result<FactTable, AppError> {
    let database = crate::db::dialect::database_identity(conn)?;
    if is_year(p) {
        if let Some(table) = count_year(conn, &database, county, range, p)? {
            return Ok(table);
        }
    }
    let key = Key {
        database,
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
    details().lock().unwrap_or_else(|e| e.into_inner()).slots.clear();
}

// ------------------------------------------------------------ years, resident by resident

/// County-years kept resident by resident (~30 MB each for a 430,000-resident county:
/// the current year and the last, and one more).
const DETAIL_CAPACITY: usize = 3;
/// More changed residents than this: a full count is about as fast, and simpler.
pub const MAX_INCREMENTAL: usize = 5_000;
/// Distinct change-log entries read before giving up on an incremental refresh.
const MAX_ENTRIES: i64 = 4 * MAX_INCREMENTAL as i64;
/// Residents (or records) bound per restricted query.
const CHUNK: usize = 400;

fn is_year(p: &Period) -> bool {
    use chrono::Datelike;
    p.start.month() == 1
        && p.start.day() == 1
        && p.end.month() == 12
        && p.end.day() == 31
        && p.start.year() == p.end.year()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DetailKey {
    database: String,
    county: String,
    start: chrono::NaiveDate,
}

type Slot = Arc<Mutex<Option<Detail>>>;

#[derive(Default)]
struct Details {
    slots: HashMap<DetailKey, (u64, Slot)>,
    tick: u64,
}

fn details() -> &'static Mutex<Details> {
    static DETAILS: OnceLock<Mutex<Details>> = OnceLock::new();
    DETAILS.get_or_init(Default::default)
}

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = Text)]
    entity: String,
    #[diesel(sql_type = Text)]
    entity_id: String,
}

#[derive(QueryableByName)]
struct Owner {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Binds `?` placeholders for a list.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// The residents whose facts may differ between positions `from` and `to`; `None` when
/// there are too many or an entry is of a kind this module does not know.
fn changed_residents(
    conn: &mut DbConn,
    d: &Detail,
    county: &str,
    from: i64,
    to: i64,
) -> Result<Option<HashSet<String>>, AppError> {
    let entries = raw::load::<Entry>(
        conn,
        "SELECT DISTINCT entity, entity_id FROM ledger WHERE county_code = ? AND seq > ? AND seq <= ? LIMIT ?",
        &[
            Bind::from(county),
            Bind::from(from),
            Bind::from(to),
            Bind::from(MAX_ENTRIES + 1),
        ],
    )?;
    if entries.len() as i64 > MAX_ENTRIES {
        return Ok(None);
    }
    let mut residents = HashSet::new();
    let mut records: HashMap<&'static str, Vec<String>> = HashMap::new();
    for e in entries {
        let table = match e.entity.as_str() {
            "resident" => {
                residents.insert(e.entity_id);
                continue;
            }
            "contract" => {
                // The resident it counted for before (a merge re-points contracts).
                if let Some(c) = uuid_key(&e.entity_id).and_then(|k| d.contracts.get(&k)) {
                    residents.insert(uuid_text(c.resident));
                }
                "contracts"
            }
            "visit" => "visits",
            "survey" => "survey_responses",
            "referral" => "referrals",
            // Reasons for not signing count in no figure.
            "not_signed" => continue,
            _ => return Ok(None),
        };
        records.entry(table).or_default().push(e.entity_id);
    }
    for (table, ids) in records {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT resident_id AS id FROM {table} WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let binds: Vec<Bind> = chunk.iter().map(|s| Bind::from(s.as_str())).collect();
            for o in raw::load::<Owner>(conn, &sql, &binds)? {
                residents.insert(o.id);
            }
        }
        if residents.len() > MAX_INCREMENTAL {
            return Ok(None);
        }
    }
    Ok((residents.len() <= MAX_INCREMENTAL).then_some(residents))
}

/// Brings an entry from its position to `to` by recounting the residents that changed;
/// false when a full count is needed instead. Nothing in the entry changes until every
/// query has succeeded.
fn refresh(conn: &mut DbConn, d: &mut Detail, county: &str, p: &Period, to: i64) -> Result<bool, AppError> {
    let Some(changed) = changed_residents(conn, d, county, d.version, to)? else {
        return Ok(false);
    };
    let ids: Vec<String> = changed.into_iter().collect();
    let mut keys = HashSet::new();
    for id in &ids {
        match uuid_key(id) {
            Some(k) => keys.insert(k),
            None => return Ok(false),
        };
    }
    let (mut residents, mut contracts) = (Vec::new(), Vec::new());
    for chunk in ids.chunks(CHUNK) {
        let (r, c) = detail::count_detail(conn, county, p, Some(chunk))?;
        residents.extend(r);
        contracts.extend(c);
    }
    d.remove(&keys);
    if d.add(residents, contracts).is_none() {
        return Ok(false);
    }
    d.version = to;
    INCREMENTAL.fetch_add(1, Ordering::Relaxed);
    Ok(true)
}

static INCREMENTAL: AtomicU64 = AtomicU64::new(0);
static FULL: AtomicU64 = AtomicU64::new(0);
static LOADED: AtomicU64 = AtomicU64::new(0);

/// How many year entries were loaded from a kept count since start.
pub fn loaded_count() -> u64 {
    LOADED.load(Ordering::Relaxed)
}

/// Keeps every county-year counted in memory for this database (`reports`' connections
/// read it) in the database itself (`writes`: a replica takes none), for the next start.
pub fn persist(reports: &crate::db::Pool, writes: &crate::db::Pool) -> Result<usize, AppError> {
    let identity = {
        let mut c = reports.get().map_err(AppError::internal)?;
        crate::db::dialect::database_identity(&mut c)?
    };
    let slots: Vec<(DetailKey, Slot)> = {
        let all = details().lock().unwrap_or_else(|e| e.into_inner());
        all.slots
            .iter()
            .filter(|(k, _)| k.database == identity)
            .map(|(k, (_, s))| (k.clone(), s.clone()))
            .collect()
    };
    let mut conn = writes.get().map_err(AppError::internal)?;
    let mut kept = 0;
    for (key, slot) in slots {
        let p = Period::parse(&chrono::Datelike::year(&key.start).to_string())?;
        // Encoded under the entry's lock, written after it: reports wait only for the copy.
        let encoded = {
            let entry = slot.lock().unwrap_or_else(|e| e.into_inner());
            entry.as_ref().map(|d| (d.version, d.encode()))
        };
        if let Some((version, data)) = encoded {
            snapshots::save(&mut conn, &key.county, &p, version, &data)?;
            kept += 1;
        }
    }
    Ok(kept)
}

/// How many year entries were refreshed incrementally and counted in full since start.
pub fn refresh_counts() -> (u64, u64) {
    (INCREMENTAL.load(Ordering::Relaxed), FULL.load(Ordering::Relaxed))
}

/// A year's facts from the county's resident-by-resident entry, refreshed or counted as
/// needed; `None` when the county's ids cannot be kept this way.
fn count_year(
    conn: &mut DbConn,
    database: &str,
    county: &str,
    range: &CodeRange,
    p: &Period,
) -> Result<Option<FactTable>, AppError> {
    let key = DetailKey {
        database: database.to_string(),
        county: county.to_string(),
        start: p.start,
    };
    let version = data_version(conn, county)?;
    let slot = {
        let mut all = details().lock().unwrap_or_else(|e| e.into_inner());
        all.tick += 1;
        let tick = all.tick;
        let slot = all.slots.entry(key.clone()).or_insert_with(|| (tick, Arc::default()));
        slot.0 = tick;
        let slot = slot.1.clone();
        while all.slots.len() > DETAIL_CAPACITY {
            let oldest = all
                .slots
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => all.slots.remove(&k),
                None => break,
            };
        }
        slot
    };
    // Held while counting: a second report on the same county-year waits for this one
    // rather than counting the same changes again.
    let mut entry = slot.lock().unwrap_or_else(|e| e.into_inner());
    // The first count since this server started: what the last one kept, brought up to
    // date below like any entry.
    if entry.is_none() {
        *entry = snapshots::load(conn, county, p)?;
        if let Some(d) = entry.as_ref() {
            LOADED.fetch_add(1, Ordering::Relaxed);
            tracing::info!(county, version = d.version, "report count loaded from the last start");
        }
    }
    if let Some(d) = entry.as_mut() {
        // An entry at a later position than the one read here was refreshed by a report
        // that read after this one: newer, never older, than what was asked.
        if d.version >= version || refresh(conn, d, county, p, version)? {
            return Ok(Some(d.table(range)));
        }
    }
    // Folded row by row as the rows arrive (a county's rows are never all held at once).
    let d = std::cell::RefCell::new(Detail::new(version));
    let usable = std::cell::Cell::new(true);
    detail::count_detail_each(
        conn,
        county,
        p,
        None,
        |r| {
            if usable.get() && d.borrow_mut().add_resident(r).is_none() {
                usable.set(false);
            }
        },
        |c| {
            if usable.get() && d.borrow_mut().add_contract(c).is_none() {
                usable.set(false);
            }
        },
    )?;
    FULL.fetch_add(1, Ordering::Relaxed);
    let d = d.into_inner();
    if !usable.get() {
        *entry = None;
        return Ok(None);
    }
    let table = d.table(range);
    *entry = Some(d);
    Ok(Some(table))
}

/// Memory held by the resident-by-resident entries: (entries, approximate bytes).
pub fn detail_stats() -> (usize, usize) {
    let slots: Vec<Slot> = {
        let all = details().lock().unwrap_or_else(|e| e.into_inner());
        all.slots.values().map(|(_, s)| s.clone()).collect()
    };
    let mut n = 0;
    let mut bytes = 0;
    for s in slots {
        if let Some(d) = s.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            n += 1;
            bytes += d.bytes();
        }
    }
    (n, bytes)
}

/// Counts the current year of every county.
fn count_every_county(conn: &mut crate::db::DbConn) -> Result<usize, AppError> {
    use diesel::prelude::*;
    let counties: Vec<String> = crate::schema::regions::table
        .filter(crate::schema::regions::level.eq("county"))
        .select(crate::schema::regions::code)
        .load(conn)?;
    let year = chrono::Datelike::year(&crate::time::today_cst());
    let p = Period::parse(&year.to_string())?;
    for c in &counties {
        count(conn, c, &CodeRange::prefix(&c[..6]), &p)?;
    }
    Ok(counties.len())
}

/// Counts the current year of every county in the background, so that the first report
/// after a restart reads a warm entry (or waits for this count rather than starting its own).
/// What the last run kept is loaded and brought up to date; what had to be counted in
/// full is kept (through `writes`) for the next start.
pub fn warm(pool: crate::db::Pool, writes: crate::db::Pool) {
    let spawned = std::thread::Builder::new().name("report-warm".into()).spawn(move || {
        let started = std::time::Instant::now();
        let result = (|| -> Result<usize, AppError> {
            let mut conn = pool.get().map_err(AppError::internal)?;
            // The start-up count of a whole county may take longer than one report is
            // allowed; it runs unbounded, and the connection gets its bound back after.
            crate::db::dialect::set_statement_timeout(&mut conn, None)?;
            let full = FULL.load(Ordering::Relaxed);
            let counted = count_every_county(&mut conn);
            crate::db::dialect::set_statement_timeout(&mut conn, pool.settings().statement_timeout)?;
            drop(conn);
            if counted.is_ok() && FULL.load(Ordering::Relaxed) > full {
                persist(&pool, &writes)?;
            }
            counted
        })();
        match result {
            Ok(n) => tracing::info!(
                counties = n,
                ms = started.elapsed().as_millis() as u64,
                "report facts warmed"
            ),
            Err(e) => tracing::warn!(error = %e, "report facts not warmed"),
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "report warm-up not started");
    }
}
