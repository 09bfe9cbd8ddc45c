//! Builds and runs the application: pool, migrations, catalog, demo county, HTTP server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::auth::throttle::{LoginThrottle, ThrottleRules};
use crate::auth::tokens::Keys;
use crate::config::{Config, Mode};
use crate::db::{self, write_tx};
use crate::domain::catalog;
use crate::error::{json_error, path_error, query_error};
use crate::metrics::Metrics;
use crate::state::AppState;

/// A built server, bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    demo: Option<crate::demo::DemoSummary>,
}

impl Application {
    /// Connects, migrates, seeds the catalog, loads the demo county when asked, and binds.
    pub fn build(config: Config) -> Result<Application, String> {
        let pool = db::connect(&config.database_url, config.pool_size)?;
        // Reports get connections of their own so a long report never holds up sync; on
        // PostgreSQL they may read a replica (no migrations there: it follows the primary).
        let report_size = 2.max(config.pool_size / 2);
        let report_pool = match &config.report_database_url {
            // The database `connect` just prepared and migrated.
            None => db::open(&config.database_url, report_size)
                .map_err(|e| format!("cannot connect to the database: {e}"))?,
            Some(url) => {
                db::open(url, report_size).map_err(|e| format!("cannot connect to the report database: {e}"))?
            }
        };
        {
            let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
            write_tx(&mut conn, catalog::ensure).map_err(|e| format!("cannot seed the catalog: {e}"))?;
            // Ops quarantined before the kept form existed lose their clear ID numbers and phones.
            let rewritten = write_tx(&mut conn, |c| {
                crate::sync::quarantine::rewrite_stored(c, &config.id_hash_secret)
            })
            .map_err(|e| format!("cannot rewrite quarantined ops: {e}"))?;
            let grace = config.blob_grace.as_millis() as i64;
            let collected = write_tx(&mut conn, |c| {
                crate::sync::blob::collect_unreferenced(c, crate::time::now_ms(), grace)
            })
            .map_err(|e| format!("cannot collect blobs: {e}"))?;
            if rewritten + collected > 0 {
                tracing::info!(
                    rewritten,
                    collected,
                    "quarantined ops rewritten, unreferenced blobs collected"
                );
            }
        }
        let demo = match config.mode {
            Mode::Demo => crate::demo::load_if_empty(&pool, &config).map_err(|e| format!("demo county: {e}"))?,
            Mode::Production => None,
        };
        if let Some(summary) = &demo {
            tracing::info!(
                residents = summary.residents,
                contracts = summary.contracts,
                "demo county loaded"
            );
        }
        // The first report after a restart should not pay for counting the county.
        crate::reports::cache::warm(report_pool.clone());
        let listener = TcpListener::bind(&config.bind).map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = web::Data::new(AppState {
            pool,
            report_pool,
            keys: Keys::new(&config.jwt_secret),
            throttle: LoginThrottle::new(ThrottleRules {
                free_per_pair: config.login_free_failures,
                free_per_user: config.login_free_failures_per_user,
                free_per_address: config.login_free_failures_per_ip,
                max_backoff: config.login_max_backoff,
            }),
            metrics: Metrics::new(),
            sync_rate: crate::sync::rate_limit::DeviceRateLimiter::new(config.sync_rate_per_minute),
            push_gate: crate::sync::admission::PushGate::new(
                config.push_turns(),
                config.push_queue,
                config.push_queue_wait,
            ),
            openapi_json: crate::openapi::json(),
            config,
        });
        let workers = state.config.workers;
        let data = state.clone();
        let mut server = HttpServer::new(move || {
            let body_limit = data.config.max_body_bytes;
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(body_limit).error_handler(json_error))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .wrap(from_fn(crate::http::input::refuse_nul))
                .wrap(from_fn(crate::http::latency::track))
                .wrap(from_fn(crate::telemetry::request_id_header))
                .wrap(Compress::default())
                .wrap(TracingLogger::<crate::telemetry::RedactedRootSpan>::new())
                .configure(crate::http::routes)
                .default_service(web::to(crate::http::not_found))
        })
        .listen(listener)
        .map_err(|e| e.to_string())?;
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            state,
            demo,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state (tests reach the pool through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The demo county this start loaded, if it loaded one.
    pub fn demo_loaded(&self) -> Option<&crate::demo::DemoSummary> {
        self.demo.as_ref()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
