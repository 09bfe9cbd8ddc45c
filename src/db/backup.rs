//! Online backups of an SQLite database (docs/operations.md, "Backups"). `VACUUM INTO`
//! writes a consistent copy from one read transaction: tablets keep pushing while it runs,
//! and the copy holds exactly the commits made before it started, never half of one.
//! PostgreSQL has its own tools (`pg_dump`, `pg_basebackup` with WAL archiving).

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::{is_postgres_url, raw, sqlite_path, DbConn, Manager};

/// What a finished backup holds.
#[derive(Debug)]
pub struct BackupSummary {
    /// Residents in the copy.
    pub residents: i64,
    /// The copy's last change-log position: pull cursors beyond it were issued after the
    /// backup.
    pub position: i64,
    /// Size of the copy.
    pub bytes: u64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// Copies the SQLite database at `url` into `dest` (which must not exist) and checks the
/// copy with `PRAGMA integrity_check`.
pub fn sqlite_into(url: &str, dest: &Path) -> Result<BackupSummary, String> {
    if is_postgres_url(url) {
        return Err(
            "DATABASE_URL names PostgreSQL: back it up with pg_dump, or pg_basebackup with WAL archiving \
             (docs/operations.md, \"Backups\")"
                .into(),
        );
    }
    if dest.exists() {
        return Err(format!(
            "{} exists already: a backup never overwrites a file",
            dest.display()
        ));
    }
    let source = Path::new(sqlite_path(url));
    if !source.exists() {
        return Err(format!("no database at {}", source.display()));
    }
    let target = dest.to_str().ok_or("the backup path must be valid UTF-8")?;
    let mut conn = diesel::r2d2::ManageConnection::connect(&Manager::new(url))
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let quoted = target.replace('\'', "''");
    conn.batch_execute(&format!("VACUUM INTO '{quoted}'"))
        .map_err(|e| format!("backup failed: {e}"))?;
    let mut copy =
        diesel::sqlite::SqliteConnection::establish(target).map_err(|e| format!("cannot open the copy: {e}"))?;
    let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut copy)
        .map_err(|e| format!("cannot check the copy: {e}"))?;
    if check.len() != 1 || check[0].integrity_check != "ok" {
        let found: Vec<&str> = check.iter().map(|c| c.integrity_check.as_str()).collect();
        return Err(format!("the copy failed its integrity check: {}", found.join("; ")));
    }
    let mut copy = DbConn::Sqlite(copy);
    let count = |c: &mut DbConn, sql: &str| -> Result<i64, String> {
        raw::load::<Count>(c, sql, &[])
            .map_err(|e| format!("cannot read the copy: {e}"))
            .map(|r| r.first().map_or(0, |r| r.n))
    };
    let residents = count(&mut copy, "SELECT COUNT(*) AS n FROM residents")?;
    let position = count(&mut copy, "SELECT COALESCE(MAX(seq), 0) AS n FROM ledger")?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        residents,
        position,
        bytes,
    })
}
