//! Hand-written SQL (reports, bulk paths) on both backends. Queries are written with `?`
//! placeholders; PostgreSQL gets them renumbered as `$1, $2, …`.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};

use super::DbConn;
use crate::error::AppError;

/// A bound parameter.
#[derive(Debug, Clone)]
pub enum Bind {
    /// TEXT.
    Text(String),
    /// BIGINT.
    Int(i64),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_string())
    }
}
impl From<String> for Bind {
    fn from(s: String) -> Self {
        Bind::Text(s)
    }
}
impl From<i64> for Bind {
    fn from(v: i64) -> Self {
        Bind::Int(v)
    }
}

/// `?` → `$n` for PostgreSQL. Question marks inside string literals are not supported
/// (report SQL has none).
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

macro_rules! boxed {
    ($sql:expr, $binds:expr, $db:ty) => {{
        let mut q = diesel::sql_query($sql).into_boxed::<$db>();
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s.clone()),
                Bind::Int(v) => q.bind::<BigInt, _>(*v),
            };
        }
        q
    }};
}

macro_rules! bound {
    ($conn:expr, $sql:expr, $binds:expr, $db:ty, $finish:ident) => {{
        boxed!($sql, $binds, $db).$finish($conn)
    }};
}

/// Runs a SELECT and maps rows by column name.
pub fn load<T>(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> Result<Vec<T>, AppError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    let rows = match conn {
        DbConn::Pg(c) => bound!(c, pg_placeholders(sql), binds, diesel::pg::Pg, load),
        DbConn::Sqlite(c) => bound!(c, sql.to_string(), binds, diesel::sqlite::Sqlite, load),
    };
    Ok(rows?)
}

/// Runs a SELECT and hands each row to `f` as it arrives, holding one row at a time
/// (PostgreSQL in row-by-row mode, SQLite stepping its statement): a county's full count
/// folds 430,000 rows without keeping them (docs/benchmarks.md, "FHIR export").
pub fn for_each<T>(conn: &mut DbConn, sql: &str, binds: &[Bind], mut f: impl FnMut(T)) -> Result<(), AppError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    match conn {
        DbConn::Pg(c) => {
            let q = boxed!(pg_placeholders(sql), binds, diesel::pg::Pg);
            for row in q.load_iter::<T, diesel::pg::PgRowByRowLoadingMode>(c)? {
                f(row?);
            }
        }
        DbConn::Sqlite(c) => {
            let q = boxed!(sql.to_string(), binds, diesel::sqlite::Sqlite);
            for row in q.load_iter::<T, diesel::connection::DefaultLoadingMode>(c)? {
                f(row?);
            }
        }
    }
    Ok(())
}

/// Runs a statement and returns the number of rows it touched.
pub fn execute(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> Result<usize, AppError> {
    let n = match conn {
        DbConn::Pg(c) => bound!(c, pg_placeholders(sql), binds, diesel::pg::Pg, execute),
        DbConn::Sqlite(c) => bound!(c, sql.to_string(), binds, diesel::sqlite::Sqlite, execute),
    };
    Ok(n?)
}
