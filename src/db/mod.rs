//! Storage: one connection type over SQLite and PostgreSQL, its pool, migrations, and the
//! few places where the two backends need different SQL.

pub mod backup;
pub mod bulk;
pub mod dialect;
pub mod raw;
pub mod stats;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;
use crate::error_codes::Code;

/// A connection to either backend. Queries written with diesel's DSL run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL (production).
    Pg(PgConnection),
    /// Embedded SQLite (demo, small counties).
    Sqlite(SqliteConnection),
}

/// A connection pool (r2d2), with an asynchronous queue in front of it for handlers.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    /// One turn per connection. Handlers wait for a turn here, asynchronously, before
    /// taking a blocking thread: waiting inside the blocking pool parked a thread (and
    /// its stack and allocator cache) per request, and 500 tablets pulling at once grew
    /// the server by ~130 MB that way.
    turns: Arc<tokio::sync::Semaphore>,
    settings: Settings,
}

impl Pool {
    /// Wraps an r2d2 pool whose manager set its connections up with `settings`.
    fn new(inner: r2d2::Pool<Manager>, settings: Settings) -> Pool {
        let turns = Arc::new(tokio::sync::Semaphore::new(inner.max_size() as usize));
        Pool { inner, turns, settings }
    }

    /// What the pool's connections were set up with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Per-pool session settings beyond the backend's defaults.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The longest one statement may run (the report pool's bound, docs/operations.md
    /// "Slow reports"): PostgreSQL cancels it itself; on either backend a request waiting
    /// longer is answered 503 `query_timeout`. `None`: no bound (the write pool, whose
    /// transactions must never be cut by a timer).
    pub statement_timeout: Option<Duration>,
    /// SQLite only: whether a commit waits until the write-ahead log reaches the disk.
    pub durability: Durability,
    /// PostgreSQL's `application_name` for these sessions ([`session_tag`] when `None`):
    /// one server's shutdown cancels the statements of its own sessions only.
    pub session_name: Option<String>,
}

/// How far a SQLite commit is on disk (defined with the configuration that chooses it).
pub use crate::config::Durability;

/// A fresh name for one server's PostgreSQL sessions (`application_name`,
/// `jiayi-<pid>-<8 hex>`): shutdown cancels the statements of that server only, never
/// those of another server process on the same database (or of another server in the
/// same process, as tests run them).
pub fn new_session_tag() -> String {
    format!(
        "jiayi-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The session name of pools opened without one of their own (commands, tools).
pub fn session_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(new_session_tag)
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}
/// A connection checked out of the pool.
pub type PooledConn = r2d2::PooledConnection<Manager>;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Whether a database URL names PostgreSQL (the one rule, in `config`).
pub use crate::config::is_postgres_url;

/// The SQLite file path of a `sqlite://` URL or a bare path.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// Opens one PostgreSQL connection; every PostgreSQL connection of the process goes
/// through here. Before the first, OpenSSL (libpq's TLS) is told not to clean up at
/// process exit: its exit handler frees state that other threads still inside libpq use
/// (a pooled connection closing, the report warm-up mid-query), and such exits died of
/// SIGSEGV, about one in twelve in a reproduction with six threads querying over TLS.
pub fn establish_pg(url: &str) -> diesel::ConnectionResult<PgConnection> {
    static OPENSSL: std::sync::Once = std::sync::Once::new();
    OPENSSL.call_once(|| {
        // SAFETY: initialisation with a null settings pointer is allowed, and the first
        // call decides whether the exit handler is registered.
        unsafe {
            openssl_sys::OPENSSL_init_ssl(openssl_sys::OPENSSL_INIT_NO_ATEXIT, std::ptr::null_mut());
        }
    });
    PgConnection::establish(url)
}

/// Opens connections by URL scheme, never by trial and error: a PostgreSQL URL that
/// cannot be reached is an error, not a new SQLite file.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    settings: Settings,
}

impl Manager {
    /// A manager for the given database URL.
    pub fn new(url: &str) -> Manager {
        Manager::with_settings(url, Settings::default())
    }

    /// A manager whose connections get `settings`.
    pub fn with_settings(url: &str, settings: Settings) -> Manager {
        Manager {
            url: url.to_string(),
            settings,
        }
    }
}

/// Pragmas every SQLite connection gets (docs/architecture.md, "Storage conventions").
/// `busy_timeout` comes first: switching a fresh file to WAL takes a lock that the pool's
/// other new connections must wait for. The page cache stays at SQLite's 2 MiB: a larger
/// one sped push up by ~10 % but every pooled connection fills its own, and under 500
/// simultaneous pulls eight 32 MiB caches doubled the server's memory.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;";

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        if is_postgres_url(&self.url) {
            let mut c = establish_pg(&self.url).map_err(r2d2::Error::ConnectionError)?;
            // diesel prepares its statements once per connection; PostgreSQL then settles on
            // a generic plan chosen while the tables were still small (a fresh county), and
            // keeps scanning whole tables as they grow until autovacuum happens to analyze
            // them. Planning each execution costs a little and keeps the plans right
            // (push on a growing database: ~1,500 → ~3,200 ops/s, docs/benchmarks.md).
            c.batch_execute("SET plan_cache_mode = force_custom_plan")
                .map_err(r2d2::Error::QueryError)?;
            let name = self.settings.session_name.as_deref().unwrap_or(session_tag());
            c.batch_execute(&format!("SET application_name = '{name}'"))
                .map_err(r2d2::Error::QueryError)?;
            let mut conn = DbConn::Pg(c);
            dialect::set_statement_timeout(&mut conn, self.settings.statement_timeout)
                .map_err(|e| r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(e.to_string().into())))?;
            Ok(conn)
        } else {
            sqlite_without_memory_statistics();
            let mut c = SqliteConnection::establish(sqlite_path(&self.url)).map_err(r2d2::Error::ConnectionError)?;
            c.batch_execute(SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
            let synchronous = match self.settings.durability {
                Durability::Full => "PRAGMA synchronous = FULL",
                Durability::Normal => "PRAGMA synchronous = NORMAL",
            };
            c.batch_execute(synchronous).map_err(r2d2::Error::QueryError)?;
            Ok(DbConn::Sqlite(c))
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Creates the SQLite file's directory if needed, builds the pool and runs migrations.
pub fn connect(url: &str, size: u32) -> Result<Pool, String> {
    connect_with(url, size, Settings::default())
}

/// [`connect`], each connection set up with `settings`.
pub fn connect_with(url: &str, size: u32, settings: Settings) -> Result<Pool, String> {
    if !is_postgres_url(url) {
        let path = std::path::Path::new(sqlite_path(url));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // WAL is a property of the file: set it once, alone, before the pool opens its
        // connections together (they would otherwise race for the switch).
        Manager::new(url)
            .connect()
            .map_err(|e| format!("cannot open the database: {e}"))?;
    }
    let pool = open_with(url, size, settings).map_err(|e| format!("cannot connect to the database: {e}"))?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    migrate(&mut conn)?;
    drop(conn);
    Ok(pool)
}

/// A pool of `size` connections to a database already prepared (by [`connect`], or a
/// PostgreSQL replica that follows its primary): no migrations.
pub fn open(url: &str, size: u32) -> Result<Pool, r2d2::PoolError> {
    open_with(url, size, Settings::default())
}

/// [`open`], each connection set up with `settings`.
pub fn open_with(url: &str, size: u32, settings: Settings) -> Result<Pool, r2d2::PoolError> {
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .connection_timeout(CONNECTION_WAIT)
        .build(Manager::with_settings(url, settings.clone()))?;
    Ok(Pool::new(pool, settings))
}

/// Applies pending migrations of the connection's backend.
pub fn migrate(conn: &mut DbConn) -> Result<(), String> {
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| format!("migration failed: {e}"))?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

/// Applies the pending migrations whose directory name sorts before `first_left_out`
/// (e.g. `2026-12-04-000003`) and no others: how an upgrade test builds a database as an
/// older release left it, to fill it before the rest run.
#[doc(hidden)]
pub fn migrate_before(conn: &mut DbConn, first_left_out: &str) -> Result<(), String> {
    fn older<DB: diesel::backend::Backend, C: MigrationHarness<DB>>(
        c: &mut C,
        source: EmbeddedMigrations,
        first_left_out: &str,
    ) -> diesel::migration::Result<()> {
        for m in c.pending_migrations(source)? {
            if m.name().to_string().as_str() < first_left_out {
                c.run_migration(&*m)?;
            }
        }
        Ok(())
    }
    match conn {
        DbConn::Pg(c) => older(c, PG_MIGRATIONS, first_left_out),
        DbConn::Sqlite(c) => older(c, SQLITE_MIGRATIONS, first_left_out),
    }
    .map_err(|e| format!("migration failed: {e}"))
}

/// Reverts the newest applied migration and returns its name: how an upgrade test puts
/// rows a newer release wrote into the shape the release before kept them, to run the
/// migration on them again.
#[doc(hidden)]
pub fn revert_last(conn: &mut DbConn) -> Result<String, String> {
    match conn {
        DbConn::Pg(c) => c.revert_last_migration(PG_MIGRATIONS),
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
    }
    .map(|v| v.to_string())
    .map_err(|e| format!("reverting a migration failed: {e}"))
}

/// Turns SQLite's memory statistics off before its first connection, as SQLite advises
/// for speed: they are kept under one process-wide mutex that every allocation of every
/// connection takes, and a storm's pulls run many connections at once (their profile, in
/// docs/benchmarks.md "Sync storm", spent a fifth of the server's time waiting on locks).
/// jiayi never reads them. Once SQLite is initialised the setting can no longer change and
/// the call is refused, which is harmless: the first call came first.
fn sqlite_without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` with SQLITE_CONFIG_MEMSTATUS takes one int; called once,
        // before this process opens any SQLite connection through the pool.
        let rc = unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialised already: memory statistics stay on");
        }
    });
}

/// How long a request waits for a database connection before it is answered 503.
const CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs a database closure on actix's blocking pool, never on an async worker, once one
/// of the pool's connections is free. On a pool with a statement timeout the request
/// waits at most that long (and a little more, so PostgreSQL's own cancel answers first):
/// SQLite cannot cancel a running statement, so its request is answered 503
/// `query_timeout` while the statement finishes in the background and frees its turn.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
{
    let pool = pool.clone();
    // As long as r2d2 would wait for a connection before answering 503.
    let turn = tokio::time::timeout(CONNECTION_WAIT, pool.turns.clone().acquire_owned())
        .await
        .map_err(|_| AppError::database_unavailable())?
        .map_err(AppError::internal)?;
    let bound = pool.settings().statement_timeout;
    let work = actix_web::web::block(move || {
        let _turn = turn;
        let mut conn = pool.get()?;
        f(&mut conn)
    });
    match bound {
        None => work.await.map_err(AppError::internal)?,
        Some(limit) => match tokio::time::timeout(limit + STATEMENT_TIMEOUT_MARGIN, work).await {
            Ok(done) => done.map_err(AppError::internal)?,
            Err(_) => Err(AppError::query_timeout()),
        },
    }
}

/// How much longer than the statement timeout a request waits before it answers itself.
const STATEMENT_TIMEOUT_MARGIN: Duration = Duration::from_secs(2);

/// Writers to SQLite in this process queue here. SQLite allows one writer at a time
/// anyway; waiting on its busy handler means sleeping in growing steps, which turned a
/// 70 ms push into a one-second one under contention.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` in a write transaction. On SQLite the writer takes the process's write turn,
/// and the first statement writes, so the database lock is taken up front instead of
/// failing on upgrade (another process, such as `jiayi import`, may be writing too).
pub fn write_tx<T, F>(conn: &mut DbConn, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError>,
{
    let _turn = matches!(conn, DbConn::Sqlite(_)).then(|| SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner()));
    let mut failed: Option<AppError> = None;
    let result = conn.transaction(|c| {
        if let DbConn::Sqlite(s) = c {
            s.batch_execute("UPDATE sync_counters SET value = value WHERE name = 'ledger'")?;
        }
        f(c).inspect_err(|e| failed = Some(e.clone()))
    });
    match (result, failed) {
        // The rollback after the failure failed too: SQLite rolls a transaction back itself
        // on some errors (a full disk, SQLITE_FULL), so there was none left to roll back.
        // Nothing was kept either way; the first error is what the caller must hear.
        (Err(after), Some(first)) if after.code != first.code => {
            tracing::warn!("the rollback after a failed write did not run; the database had rolled it back itself");
            Err(first)
        }
        (result, _) => result,
    }
}

/// [`write_tx`], run again (up to three times in all) when the transaction clashed with a
/// concurrent one and was rolled back whole (a PostgreSQL deadlock or serialisation
/// failure): the caller sees the clash only if it keeps happening.
pub fn write_tx_retrying<T, F>(conn: &mut DbConn, mut f: F) -> Result<T, AppError>
where
    F: FnMut(&mut DbConn) -> Result<T, AppError>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match write_tx(conn, &mut f) {
            Err(e) if e.code == Code::WriteClash && tries < 3 => {
                tracing::info!(
                    tries,
                    "write transaction clashed with a concurrent one; running it again"
                );
            }
            other => return other,
        }
    }
}

/// Is the database answering?
pub fn ping(conn: &mut DbConn) -> Result<(), AppError> {
    conn.batch_execute("SELECT 1").map_err(AppError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement that runs past the pool's bound answers 503 `query_timeout` at the bound
    /// (plus the margin), not when it finally ends; the pool without a bound waits for it.
    #[actix_web::test]
    async fn a_bounded_pool_answers_past_its_statement_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        connect(&url, 1).unwrap();
        let bounded = open_with(
            &url,
            1,
            Settings {
                statement_timeout: Some(Duration::from_millis(100)),
                ..Settings::default()
            },
        )
        .unwrap();
        let started = std::time::Instant::now();
        let slow = |_: &mut DbConn| {
            std::thread::sleep(Duration::from_millis(3_500));
            Ok(())
        };
        let e = run(&bounded, slow).await.unwrap_err();
        assert_eq!(e.code, Code::QueryTimeout);
        assert_eq!(e.retry_after, Some(10));
        assert!(
            started.elapsed() < Duration::from_millis(3_000),
            "{:?}",
            started.elapsed()
        );
        let unbounded = open(&url, 1).unwrap();
        let quick = |c: &mut DbConn| ping(c);
        run(&unbounded, quick).await.unwrap();
    }
}
