//! Liveness, readiness, metrics and the OpenAPI document.

use actix_web::HttpResponse;

use super::State;
use crate::db;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers. The details say which backend it is and, on
/// PostgreSQL, whether autovacuum runs (jiayi keeps planner statistics either way).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready: `{ \"status\": \"ready\", \"database\": { \"backend\", \"autovacuum\" } }`"),
        (status = 503, description = "database_unavailable", body = crate::error::ErrorBody)))]
pub async fn readyz(state: State) -> Result<HttpResponse, crate::AppError> {
    db::run(&state.pool, db::ping).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": state.upkeep })))
}

/// The metrics listener's only route (`JIAYI_METRICS_BIND`, docs/operations.md): kept out
/// of `routes`, which is the API's address and its OpenAPI document.
pub fn metrics_routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route("/metrics", actix_web::web::get().to(metrics));
}

/// Prometheus metrics in the text exposition format, on the metrics listener only
/// (`JIAYI_METRICS_BIND`), so not in the API's document.
pub async fn metrics(state: State) -> Result<HttpResponse, crate::AppError> {
    let open = db::run(&state.pool, crate::domain::review::queue::open_everywhere).await?;
    state.metrics.review_queue_open.set(open);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/api-docs/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}
