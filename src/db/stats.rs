//! Planner statistics. PostgreSQL plans every report over them, and a county's DBA may run
//! with autovacuum off, lagging, or not yet run after a bulk import: a county report over
//! freshly filled tables without statistics did not finish in eleven minutes, and answered
//! in under two seconds after `ANALYZE` (docs/operations.md "Planner statistics"). So jiayi
//! keeps them itself: at start-up, after imports, and after every so many pushed rows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use diesel::connection::SimpleConnection;

use super::raw;
use super::{DbConn, Pool};
use crate::error::AppError;

/// A table is analyzed again once this many of its rows changed since its last `ANALYZE`
/// (and at least a tenth of it): PostgreSQL's own autovacuum defaults are 50 rows + 10 %.
const MIN_CHANGED_ROWS: i64 = 200;

/// What the server knows of its database's upkeep, for the log and `/readyz`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Upkeep {
    /// `postgresql` or `sqlite`.
    pub backend: &'static str,
    /// PostgreSQL's `autovacuum` setting; `None` on SQLite (which has none).
    pub autovacuum: Option<bool>,
}

/// Reads the backend and its autovacuum setting.
pub fn upkeep(conn: &mut DbConn) -> Result<Upkeep, AppError> {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    Ok(match conn {
        DbConn::Sqlite(_) => Upkeep {
            backend: "sqlite",
            autovacuum: None,
        },
        DbConn::Pg(_) => {
            let rows = raw::load::<Setting>(conn, "SELECT setting FROM pg_settings WHERE name = 'autovacuum'", &[])?;
            Upkeep {
                backend: "postgresql",
                autovacuum: rows.first().map(|r| r.setting == "on"),
            }
        }
    })
}

/// Analyzes every table of jiayi's schema whose statistics are missing or stale, and
/// answers their names. On SQLite, `PRAGMA optimize` (which analyzes only what needs it).
/// On a read-only replica there is nothing to do: statistics come from the primary.
pub fn analyze_stale(conn: &mut DbConn) -> Result<Vec<String>, AppError> {
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("PRAGMA optimize")?;
        return Ok(Vec::new());
    }
    let stale = raw::load::<Table>(
        conn,
        "SELECT s.relname AS name FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze >= ? \
           AND s.n_mod_since_analyze > 0.1 * GREATEST(c.reltuples, 0) ORDER BY s.relname",
        &[raw::Bind::Int(MIN_CHANGED_ROWS)],
    )?;
    let mut analyzed = Vec::with_capacity(stale.len());
    for t in stale {
        // Names come from the catalog; quoted all the same.
        if !t
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        conn.batch_execute(&format!("ANALYZE \"{}\"", t.name))?;
        analyzed.push(t.name);
    }
    Ok(analyzed)
}

/// Keeps statistics fresh while tablets push: every `every_rows` rows written, a
/// background thread runs [`analyze_stale`] on a connection of the write pool (one such
/// thread at a time; a push never waits for it).
pub struct StatsKeeper {
    every_rows: u64,
    written: AtomicU64,
    running: Arc<AtomicBool>,
}

impl StatsKeeper {
    /// A keeper that looks again after `every_rows` written rows (0: never).
    pub fn new(every_rows: u64) -> StatsKeeper {
        StatsKeeper {
            every_rows,
            written: AtomicU64::new(0),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Counts `rows` written; past the threshold, starts a look in the background.
    pub fn note_written(&self, rows: u64, pool: &Pool) {
        if self.every_rows == 0 || rows == 0 {
            return;
        }
        let before = self.written.fetch_add(rows, Ordering::Relaxed);
        if before + rows < self.every_rows {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.written.store(0, Ordering::Relaxed);
        let running = self.running.clone();
        let pool = pool.clone();
        let spawned = std::thread::Builder::new().name("analyze".into()).spawn(move || {
            // PostgreSQL publishes a backend's row counts once it is idle, at most once a
            // second and later when its statistics lock is busy: look a few times.
            for wait_ms in [1_000, 3_000, 10_000] {
                std::thread::sleep(std::time::Duration::from_millis(wait_ms));
                if analyze_logged(&pool, "after pushes") != 0 {
                    break;
                }
            }
            running.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.running.store(false, Ordering::Release);
        }
    }
}

/// [`analyze_stale`] on a pooled connection, its outcome logged; never fails the caller.
/// Answers how many tables it analyzed.
pub fn analyze_logged(pool: &Pool, when: &'static str) -> usize {
    let started = std::time::Instant::now();
    let result = pool
        .get()
        .map_err(AppError::internal)
        .and_then(|mut c| analyze_stale(&mut c));
    match result {
        Ok(tables) => {
            if !tables.is_empty() {
                tracing::info!(
                    when,
                    tables = tables.join(","),
                    ms = started.elapsed().as_millis() as u64,
                    "planner statistics refreshed"
                );
            }
            tables.len()
        }
        Err(e) => {
            tracing::warn!(when, error = %e, "planner statistics not refreshed");
            0
        }
    }
}
