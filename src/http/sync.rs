//! Sync endpoints (DESIGN §4). Every request carries `X-Sync-Protocol: 1`.

use actix_web::{web, HttpRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::error::{AppError, ErrorBody, Kind};
use crate::sync::pull::{self, PullResponse};
use crate::sync::push::{self, PushLimits, PushRequest, PushResponse};

/// Protocol versions this server speaks.
pub const SUPPORTED_PROTOCOLS: [&str; 1] = ["1"];

fn require_protocol(req: &HttpRequest) -> Result<(), AppError> {
    let v = req
        .headers()
        .get("x-sync-protocol")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if SUPPORTED_PROTOCOLS.contains(&v.trim()) {
        Ok(())
    } else {
        Err(AppError::new(
            Kind::UpgradeRequired,
            "unsupported_protocol",
            format!("send X-Sync-Protocol with one of: {}", SUPPORTED_PROTOCOLS.join(", ")),
        )
        .with_field("X-Sync-Protocol"))
    }
}

/// Pushes a batch of ops recorded offline.
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync", security(("bearer" = [])), request_body = PushRequest,
    params(("X-Sync-Protocol" = String, Header, description = "sync protocol version, `1`")),
    responses(
        (status = 200, description = "one result per op, in order", body = PushResponse),
        (status = 400, description = "malformed_json", body = ErrorBody),
        (status = 401, description = "missing_token, invalid_token, token_expired, device_revoked", body = ErrorBody),
        (status = 413, description = "payload_too_large, too_many_ops", body = ErrorBody),
        (status = 422, description = "device_mismatch, invalid_field", body = ErrorBody),
        (status = 426, description = "unsupported_protocol", body = ErrorBody)))]
pub async fn push(
    state: State,
    req: HttpRequest,
    auth: Auth,
    body: web::Json<PushRequest>,
) -> Result<web::Json<PushResponse>, AppError> {
    require_protocol(&req)?;
    let st = state.clone();
    let res = db::run(&state.pool, move |c| {
        let limits = PushLimits {
            max_ops: st.config.max_batch_ops,
            max_skew_ms: st.config.max_clock_skew.as_millis() as i64,
            id_hash_secret: &st.config.id_hash_secret,
        };
        push::push(c, &auth, &body, &limits)
    })
    .await?;
    for r in &res.results {
        state.metrics.push_ops.with_label_values(&[r.status.as_str()]).inc();
    }
    Ok(web::Json(res))
}

/// Pull parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PullParams {
    /// The cursor of the last page; absent for the beginning.
    pub cursor: Option<String>,
    /// Page size, 1–5000 (default 500).
    pub limit: Option<i64>,
}

/// Pulls the changes in the caller's scope after a cursor.
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync", security(("bearer" = [])),
    params(PullParams, ("X-Sync-Protocol" = String, Header, description = "sync protocol version, `1`")),
    responses(
        (status = 200, body = PullResponse),
        (status = 400, description = "invalid_cursor, invalid_limit, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "resync_required: the cursor belongs to another scope", body = ErrorBody),
        (status = 426, description = "unsupported_protocol", body = ErrorBody)))]
pub async fn pull(
    state: State,
    req: HttpRequest,
    auth: Auth,
    q: web::Query<PullParams>,
) -> Result<web::Json<PullResponse>, AppError> {
    require_protocol(&req)?;
    let st = state.clone();
    let q = q.into_inner();
    let res = db::run(&state.pool, move |c| {
        pull::pull(c, &auth, &st.config.jwt_secret, q.cursor.as_deref(), q.limit)
    })
    .await?;
    state.metrics.pull_pages.inc();
    Ok(web::Json(res))
}
