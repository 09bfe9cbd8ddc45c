//! Bulk inserts. `MultiConnection` cannot build multi-row inserts (its backend lacks the
//! dialect), so they run on the inner connection. On PostgreSQL one statement per chunk
//! keeps round trips few (docs/benchmarks.md, "Sync push, raw inserts and bootstrap"). SQLite has no
//! round trips: there one prepared single-row statement, kept in diesel's statement cache,
//! runs once per row — building and preparing a fresh 200-row statement each time cost
//! about as much as SQLite's own work (push ≈ 17,500 → 20,000 ops/s, docs/benchmarks.md).

/// Rows per INSERT statement: well under both backends' bind-parameter limits.
pub const CHUNK: usize = 200;

/// Inserts `rows` (a slice of `Insertable` structs) into `table` in chunks, on either backend.
#[macro_export]
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        let rows = $rows;
        let mut n = 0usize;
        for chunk in rows.chunks($crate::db::bulk::CHUNK) {
            n += match &mut *$conn {
                $crate::db::DbConn::Pg(c) => diesel::insert_into($table).values(chunk).execute(c),
                $crate::db::DbConn::Sqlite(c) => {
                    let mut k = 0usize;
                    for row in chunk {
                        k += diesel::insert_into($table).values(row).execute(c)?;
                    }
                    Ok(k)
                }
            }?;
        }
        Ok::<usize, $crate::error::AppError>(n)
    }};
}
