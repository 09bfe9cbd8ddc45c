//! What every handler shares.

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::Keys;
use crate::config::Config;
use crate::db::Pool;
use crate::metrics::Metrics;
use crate::sync::admission::PushGate;
use crate::sync::rate_limit::DeviceRateLimiter;

/// Shared application state.
pub struct AppState {
    /// Connections for writes and sync.
    pub pool: Pool,
    /// Connections for reports, so a long report never holds up sync.
    pub report_pool: Pool,
    /// The configuration it started with.
    pub config: Config,
    /// Token and cursor signing keys.
    pub keys: Keys,
    /// Failed-login counters.
    pub throttle: LoginThrottle,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Per-device sync request rate.
    pub sync_rate: DeviceRateLimiter,
    /// Admission control for push batches.
    pub push_gate: PushGate,
    /// This API's OpenAPI document, rendered once at start-up by the composition root.
    pub openapi_json: String,
    /// The database's upkeep as read at start-up (backend, autovacuum), for `/readyz`.
    pub upkeep: crate::db::stats::Upkeep,
    /// Refreshes planner statistics as pushes fill the tables.
    pub stats: crate::db::stats::StatsKeeper,
}
