//! jiayi (家医): the sync and coverage server for family-doctor contracting teams.
//!
//! The layout is docs/architecture.md's: `http` holds handlers only, `auth` the tokens and
//! the request extractor, `domain` the rules of the service, `sync` the tablet protocol,
//! `reports` the indicator dictionary and its queries, `db` the two storage backends.

pub mod access;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod error_codes;
pub mod http;
pub mod import;
pub mod ledger;
pub mod metrics;
pub mod openapi;
#[cfg(test)]
mod proptests;
pub mod reports;
pub mod schema;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod vocabulary;

pub use config::Config;
pub use error::AppError;

/// Reads the configuration from the environment and serves until stopped.
pub fn serve() -> Result<(), String> {
    limit_malloc_arenas();
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let mode = config.mode;
    let public_secret = config.jwt_secret == config::DEMO_SECRET;
    actix_web::rt::System::new().block_on(async move {
        let app = startup::Application::build(config)?;
        tracing::info!(
            port = app.port(),
            metrics_port = app.metrics_port(),
            ?mode,
            "jiayi listening"
        );
        if let Some(summary) = app.demo_loaded() {
            summary.print();
        }
        if mode == config::Mode::Demo {
            demo::print_logins(app.port(), public_secret);
        }
        let grace = app.state().config.shutdown_grace;
        let stopped = app.run_until_stopped().await.map_err(|e| e.to_string());
        exit_soon_after_stop(grace);
        stopped
    })
}

/// Bounds the exit after a stop. Leaving the runtime waits for its blocking threads, and
/// one may still be inside the database (SQLite's busy handler waits up to 10 s, and a
/// SQLite statement cannot be cancelled): past a short while the process exits anyway. A
/// transaction it cuts was never committed and is rolled back whole by the database; the
/// tablet's replay sends it again (docs/operations.md "Stopping and upgrading").
fn exit_soon_after_stop(grace: std::time::Duration) {
    let wait = std::time::Duration::from_secs(2).min(grace.max(std::time::Duration::from_millis(500)));
    let _ = std::thread::Builder::new().name("exit-watchdog".into()).spawn(move || {
        std::thread::sleep(wait);
        tracing::warn!("exiting with database work still running; its transaction is rolled back");
        std::process::exit(0);
    });
}

/// Backs the configured SQLite database up into `dest` while the server may be running,
/// checks the copy, and prints what it holds.
pub fn backup(dest: &std::path::Path) -> Result<(), String> {
    let url = config::database_url_from_env();
    let summary = db::backup::sqlite_into(&url, dest)?;
    println!(
        "backed up {} residents, change-log position {}, to {} ({} bytes); integrity check: ok",
        summary.residents,
        summary.position,
        dest.display(),
        summary.bytes
    );
    Ok(())
}

/// Imports one CSV file into the configured database.
/// Imports need no secrets: they store no ID numbers and issue no tokens.
pub fn import_file(kind: import::ImportKind, path: &std::path::Path) -> Result<(), String> {
    let pool = db::connect(&config::database_url_from_env(), 2)?;
    let summary = import::import(&pool, kind, path, true)?;
    // A population import fills tables faster than autovacuum (if it runs) notices.
    db::stats::analyze_logged(&pool, "after the import");
    summary.print();
    if summary.refused.is_empty() {
        Ok(())
    } else {
        Err(format!("{} row(s) refused", summary.refused.len()))
    }
}

/// Caps glibc's malloc at two arenas unless the operator set `MALLOC_ARENA_MAX`. glibc
/// gives each busy thread its own arena and rarely returns their memory: in the 500-tablet
/// storm (docs/benchmarks.md) the server peaked at 427 MB with the default and 291 MB with
/// two arenas, for a small loss of throughput.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only adjusts allocator settings; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
