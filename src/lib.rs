//! jiayi (家医): the sync and coverage server for family-doctor contracting teams.
//!
//! The layout follows `DESIGN.md` §2: `http` holds handlers only, `auth` the tokens and
//! the request extractor, `domain` the rules of the service, `sync` the tablet protocol,
//! `reports` the indicator dictionary and its queries, `db` the two storage backends.

pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod import;
pub mod metrics;
pub mod openapi;
pub mod reports;
pub mod schema;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod time;

pub use config::Config;
pub use error::AppError;

/// Reads the configuration from the environment and serves until stopped.
pub fn serve() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let mode = config.mode;
    actix_web::rt::System::new().block_on(async move {
        let app = startup::Application::build(config)?;
        tracing::info!(port = app.port(), ?mode, "jiayi listening");
        if mode == config::Mode::Demo {
            print_demo_logins(app.port());
        }
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// Imports one CSV file into the configured database.
pub fn import_file(kind: import::ImportKind, path: &std::path::Path) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let pool = db::connect(&config.database_url, 2)?;
    let summary = import::import(&pool, kind, path, true)?;
    summary.print();
    if summary.refused.is_empty() {
        Ok(())
    } else {
        Err(format!("{} row(s) refused", summary.refused.len()))
    }
}

/// Tells whoever started a demo server how to log in.
fn print_demo_logins(port: u16) {
    println!(
        "\njiayi demo county is being served on http://127.0.0.1:{port}\n\
         log in (password for all: jiayi-demo):\n\
         \x20 admin        county administrator (县卫健局)\n\
         \x20 supervisor1  township supervisor (乡镇督导)\n\
         \x20 doctor1      family doctor, team T01\n\
         \x20 doctor2      family doctor, team T02\n\
         e.g. curl -s -X POST http://127.0.0.1:{port}/api/v1/auth/login -H 'content-type: application/json' \\\n\
         \x20      -d '{{\"username\":\"doctor1\",\"password\":\"jiayi-demo\",\"device_id\":\"my-laptop-01\",\"device_name\":\"laptop\"}}'\n"
    );
}
