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
use crate::error::{json_error, path_error, query_error, AppError};
use crate::metrics::Metrics;
use crate::state::AppState;

/// A built server, bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener (`JIAYI_METRICS_BIND`) and its port.
    metrics: Option<(Server, u16)>,
    state: web::Data<AppState>,
    demo: Option<crate::demo::DemoSummary>,
}

impl Application {
    /// Connects, migrates, seeds each county's catalog, loads the demo county when asked, and binds.
    pub fn build(config: Config) -> Result<Application, String> {
        let durability = config.sqlite_durability;
        let session_name = db::new_session_tag();
        let pool = db::connect_with(
            &config.database_url,
            config.pool_size,
            db::Settings {
                durability,
                session_name: Some(session_name.clone()),
                ..db::Settings::default()
            },
        )?;
        // Reports get connections of their own so a long report never holds up sync; on
        // PostgreSQL they may read a replica (no migrations there: it follows the primary).
        let report_size = 2.max(config.pool_size / 2);
        // Reads there are bounded: a report that cannot finish answers 503, it does not hold
        // a connection for minutes (docs/operations.md "Slow reports").
        let bounded = db::Settings {
            statement_timeout: Some(config.report_timeout),
            durability,
            session_name: Some(session_name.clone()),
        };
        let report_pool = match &config.report_database_url {
            // The database `connect` just prepared and migrated.
            None => db::open_with(&config.database_url, report_size, bounded)
                .map_err(|e| format!("cannot connect to the database: {e}"))?,
            Some(url) => db::open_with(url, report_size, bounded)
                .map_err(|e| format!("cannot connect to the report database: {e}"))?,
        };
        let upkeep = {
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
            db::stats::upkeep(&mut conn).map_err(|e| format!("cannot read the database settings: {e}"))?
        };
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
        if upkeep.autovacuum == Some(false) {
            tracing::warn!(
                "PostgreSQL runs with autovacuum = off: jiayi analyzes its own tables at start-up, after imports \
                 and after large pushes, but dead rows are not vacuumed; schedule VACUUM (docs/operations.md)"
            );
        }
        // Tables filled while nothing analyzed them (an import, autovacuum off or behind)
        // get statistics before the first report plans over them.
        db::stats::analyze_logged(&pool, "at start-up");
        // The first report after a restart should not pay for counting the county.
        crate::reports::cache::warm(report_pool.clone(), pool.clone());
        let listener = TcpListener::bind(&config.bind).map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = web::Data::new(AppState {
            pool,
            report_pool,
            keys: Keys::new(&config.jwt_secret),
            throttle: LoginThrottle::new(
                ThrottleRules {
                    free_per_pair: config.login_free_failures,
                    free_per_user: config.login_free_failures_per_user,
                    free_per_address: config.login_free_failures_per_ip,
                    max_backoff: config.login_max_backoff,
                },
                &config.id_hash_secret,
            ),
            metrics: Metrics::new(),
            sync_rate: crate::sync::rate_limit::DeviceRateLimiter::new(config.sync_rate_per_minute),
            push_gate: crate::sync::admission::PushGate::new(
                config.push_turns(),
                config.push_queue,
                config.push_queue_wait,
            ),
            openapi_json: crate::openapi::json(),
            upkeep,
            stats: db::stats::StatsKeeper::new(config.analyze_every_rows),
            config,
        });
        let workers = state.config.workers;
        let grace = state.config.shutdown_grace;
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
        .map_err(|e| e.to_string())?
        .shutdown_timeout(grace.as_secs());
        if workers > 0 {
            server = server.workers(workers);
        }
        let metrics = match state.config.metrics_bind.clone() {
            None => None,
            Some(bind) => {
                let listener =
                    TcpListener::bind(&bind).map_err(|e| format!("cannot listen on JIAYI_METRICS_BIND={bind}: {e}"))?;
                let port = listener.local_addr().map_err(|e| e.to_string())?.port();
                let data = state.clone();
                // One worker: a scrape every few seconds, nothing else on this address.
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .configure(crate::http::health::metrics_routes)
                        .default_service(web::to(crate::http::not_found))
                })
                .listen(listener)
                .map_err(|e| e.to_string())?
                .workers(1)
                .shutdown_timeout(1)
                .run();
                Some((server, port))
            }
        };
        Ok(Application {
            port,
            metrics,
            server: server.run(),
            state,
            demo,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `JIAYI_METRICS_BIND` set one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, p)| *p)
    }

    /// Shared state (tests reach the pool through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The demo county this start loaded, if it loaded one.
    pub fn demo_loaded(&self) -> Option<&crate::demo::DemoSummary> {
        self.demo.as_ref()
    }

    /// Serves until stopped. After a stop (SIGTERM, SIGINT) requests in flight get the
    /// shutdown grace to finish; then this server's database statements are cancelled,
    /// so a handler stuck behind a lock rolls back instead of holding the exit.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let collector = collect_blobs_periodically(self.state.clone());
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let served = self.server.await;
        collector.abort();
        if let Some((task, handle)) = metrics {
            handle.stop(false).await;
            let _ = task.await;
        }
        let config = &self.state.config;
        // SQLite statements cannot be cancelled from outside: nothing to connect for.
        let urls: Vec<String> = std::iter::once(config.database_url.clone())
            .chain(config.report_database_url.clone())
            .filter(|u| db::is_postgres_url(u))
            .collect();
        let session_name = self.state.pool.settings().session_name.clone().unwrap_or_default();
        // A connection of its own: the pool's may all be held by the stuck handlers.
        let cancelled = actix_web::rt::task::spawn_blocking(move || {
            let mut n = 0;
            for url in urls {
                let mut conn =
                    diesel::r2d2::ManageConnection::connect(&db::Manager::new(&url)).map_err(AppError::internal)?;
                n += db::dialect::cancel_statements_of(&mut conn, &session_name)?;
            }
            Ok::<usize, AppError>(n)
        })
        .await;
        match cancelled {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::warn!(cancelled = n, "statements still running at shutdown were cancelled"),
            Ok(Err(e)) => tracing::warn!(error = %e, "statements running at shutdown not cancelled"),
            Err(e) => tracing::warn!(error = %e, "statements running at shutdown not cancelled"),
        }
        // What the report cache counted, kept for the next start: the first report after a
        // restart then reads it instead of counting the county again. Bounded by the grace.
        let (reports, writes) = (self.state.report_pool.clone(), self.state.pool.clone());
        let kept = tokio::time::timeout(
            config.shutdown_grace.max(std::time::Duration::from_secs(1)),
            actix_web::rt::task::spawn_blocking(move || crate::reports::cache::persist(&reports, &writes)),
        )
        .await;
        match kept {
            Ok(Ok(Ok(n))) => tracing::info!(entries = n, "report counts kept for the next start"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "report counts not kept"),
            _ => tracing::warn!("report counts not kept: the shutdown grace ran out"),
        }
        served
    }

    /// A server handle, to stop it from outside (tests, embedding).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Collects unreferenced blobs every `blob_collect_every` while the server runs: a server
/// that is never restarted would otherwise keep every junk upload for ever. The first
/// round comes one interval after start-up, which has just collected.
fn collect_blobs_periodically(state: web::Data<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = state.config.blob_collect_every;
        let grace = state.config.blob_grace.as_millis() as i64;
        let mut ticks = tokio::time::interval(every);
        // A round missed while the machine slept is not made up with a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let collected = db::run(&state.pool, move |c| {
                write_tx(c, |c| {
                    crate::sync::blob::collect_unreferenced(c, crate::time::now_ms(), grace)
                })
            })
            .await;
            match collected {
                Ok(0) => {}
                Ok(collected) => tracing::info!(collected, "unreferenced blobs collected"),
                // The next round tries again; a busy or briefly unreachable database is no reason to stop.
                Err(e) => tracing::warn!(error = %e, "unreferenced blobs not collected"),
            }
        }
    })
}
