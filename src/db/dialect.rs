//! What the two backends do differently, in one place (docs/architecture.md: backend
//! branches live only in `src/db`). SQLite has one writer at a time, so the locks
//! PostgreSQL needs between concurrent transactions are no-ops there.

use super::raw::{self, Bind};
use super::DbConn;
use crate::error::AppError;

/// Whether only one transaction writes at a time (SQLite): checks that guard against a
/// concurrent writer's uncommitted rows have nothing to guard against.
pub fn writers_are_serial(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Sqlite(_))
}

/// Makes transactions taking the same `key` wait for each other until commit
/// (PostgreSQL's transaction-scoped advisory lock).
pub fn advisory_xact_lock(conn: &mut DbConn, key: &str) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        raw::execute(
            conn,
            "SELECT CAST(COUNT(pg_advisory_xact_lock(hashtext(?))) AS BIGINT) AS n",
            &[key.into()],
        )?;
    }
    Ok(())
}

/// Locks rows of `table` by id until the transaction ends, in id order so two
/// transactions cannot deadlock. `FOR NO KEY UPDATE`: writers of the same rows take
/// turns, but inserting a child row that references one (a foreign-key check, `KEY
/// SHARE`) does not wait.
pub fn lock_rows(conn: &mut DbConn, table: &'static str, ids: &[String]) -> Result<(), AppError> {
    lock_by(conn, table, "id", ids)
}

/// [`lock_rows`] for a table whose text primary key is the column `key`.
pub fn lock_keys(conn: &mut DbConn, table: &'static str, keys: &[String]) -> Result<(), AppError> {
    lock_by(conn, table, "key", keys)
}

fn lock_by(conn: &mut DbConn, table: &'static str, column: &'static str, ids: &[String]) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql =
                format!("SELECT {column} FROM {table} WHERE {column} IN ({marks}) ORDER BY {column} FOR NO KEY UPDATE");
            let binds: Vec<Bind> = chunk.iter().map(|k| (*k).clone().into()).collect();
            raw::execute(conn, &sql, &binds)?;
        }
    }
    Ok(())
}

/// Locks the `sync_counters` row `name` until the transaction ends.
pub fn lock_counter(conn: &mut DbConn, name: &str) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        raw::execute(
            conn,
            "SELECT value FROM sync_counters WHERE name = ? FOR UPDATE",
            &[name.into()],
        )?;
    }
    Ok(())
}

/// Lets PostgreSQL reuse plans for the rest of the transaction. Connections plan every
/// statement afresh (`db::Manager`: generic plans made while a county's tables were small
/// go bad as they grow). A push batch's multi-row inserts, whose foreign-key checks are
/// one primary-key look-up per row, are what this is for: planning each of those again
/// took about a seventh of PostgreSQL's time on a push (docs/benchmarks.md).
pub fn generic_plans_for_writes(conn: &mut DbConn) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        diesel::connection::SimpleConnection::batch_execute(conn, "SET LOCAL plan_cache_mode = auto")?;
    }
    Ok(())
}

/// Which database this connection reads: the file on SQLite; the database, server and
/// the server's start time on PostgreSQL (one process may serve several, as tests do).
pub fn database_identity(conn: &mut DbConn) -> Result<String, AppError> {
    #[derive(diesel::QueryableByName)]
    struct Identity {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
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

/// Bounds each statement of this session (PostgreSQL's `statement_timeout`; `None` lifts
/// the bound). SQLite has no such setting: `db::run` answers for it instead.
pub fn set_statement_timeout(conn: &mut DbConn, limit: Option<std::time::Duration>) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        let ms = limit.map_or(0, |d| d.as_millis().max(1));
        diesel::connection::SimpleConnection::batch_execute(conn, &format!("SET statement_timeout = {ms}"))?;
    }
    Ok(())
}

/// Cancels the statements this process's sessions are running (PostgreSQL; named by
/// `session_name`, see [`super::Settings`]): on shutdown, so a report or a push stuck behind a lock ends
/// now, its transaction rolled back whole. Answers how many were cancelled; SQLite
/// statements cannot be cancelled from outside and answer 0.
pub fn cancel_statements_of(conn: &mut DbConn, session_name: &str) -> Result<usize, AppError> {
    #[derive(diesel::QueryableByName)]
    struct Cancelled {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    if let DbConn::Sqlite(_) = conn {
        return Ok(0);
    }
    let rows = raw::load::<Cancelled>(
        conn,
        "SELECT COUNT(*) FILTER (WHERE pg_cancel_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = ? AND pid <> pg_backend_pid() AND state = 'active'",
        &[Bind::Text(session_name.to_string())],
    )?;
    Ok(rows.first().map_or(0, |r| r.n as usize))
}
