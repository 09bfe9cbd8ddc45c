//! Sync endpoints (docs/sync-protocol.md). Every request carries `X-Sync-Protocol: 1` and is counted
//! against the device's request rate.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::error::{AppError, ErrorBody, Kind};
use crate::error_codes::Code;
use crate::sync::blob::{self, MissingBlob};
use crate::sync::bootstrap::{self, BootstrapPage};
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
            Code::UnsupportedProtocol,
            format!("send X-Sync-Protocol with one of: {}", SUPPORTED_PROTOCOLS.join(", ")),
        )
        .with_field("X-Sync-Protocol"))
    }
}

/// Checks the protocol header and takes a token from the device's rate bucket.
fn admit(state: &State, req: &HttpRequest, auth: &Auth) -> Result<(), AppError> {
    require_protocol(req)?;
    state.sync_rate.take(&auth.device_id).map_err(|wait| {
        let mut e = AppError::new(
            Kind::TooManyRequests,
            Code::RateLimited,
            "this device syncs too often; retry later",
        );
        e.retry_after = Some(wait);
        e
    })
}

/// The tablet's app version from `X-App-Version`, as recorded on its device: printable,
/// at most 40 characters.
fn app_version(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("x-app-version").and_then(|h| h.to_str().ok())?;
    Some(v.chars().filter(|c| !c.is_control()).take(40).collect())
}

/// Admission control in front of push (`sync::admission`): a batch waits for a turn
/// before its body is read, or is answered 503 `server_busy` at once.
pub async fn push_gate(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::ResponseError as _;
    let state = req
        .app_data::<State>()
        .cloned()
        .ok_or_else(|| AppError::internal("application state missing"))?;
    // A refusal is answered here, as a response: an error would be logged as a failure,
    // and in a storm refusals are the plan working.
    let arrived = std::time::Instant::now();
    let _turn = match state.push_gate.enter().await {
        Ok(turn) => turn,
        Err(busy) => {
            let mut res = busy.error_response();
            server_timing(res.headers_mut(), arrived.elapsed(), None);
            return Ok(req.into_response(res).map_into_right_body());
        }
    };
    let waited = arrived.elapsed();
    let started = std::time::Instant::now();
    let mut res = next.call(req).await?;
    let applying = started.elapsed();
    server_timing(res.headers_mut(), waited, Some(applying));
    let (ms, wait_ms) = (applying.as_millis() as u64, waited.as_millis() as u64);
    if ms > 1000 {
        tracing::warn!(ms, wait_ms, waiting = state.push_gate.waiting(), "slow push");
    } else {
        tracing::debug!(ms, wait_ms, "push served");
    }
    Ok(res.map_into_left_body())
}

/// `Server-Timing` (W3C) on push answers: the wait for a turn (`queue`) and the work on
/// the batch (`apply`), ms. The tablet (and the load test) can then tell the server's own
/// time from the network's and its own.
fn server_timing(
    headers: &mut actix_web::http::header::HeaderMap,
    queue: std::time::Duration,
    apply: Option<std::time::Duration>,
) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut v = format!("queue;dur={:.1}", ms(queue));
    if let Some(a) = apply {
        v.push_str(&format!(", apply;dur={:.1}", ms(a)));
    }
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&v) {
        headers.insert(actix_web::http::header::HeaderName::from_static("server-timing"), v);
    }
}

/// The tablet's `X-Sync-Checkpoint` (the newest push answer's `checkpoint`), if sent.
fn checkpoint(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("x-sync-checkpoint")?;
    Some(v.to_str().unwrap_or("?").trim().to_string())
}

/// Pushes a batch of ops recorded offline.
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync", security(("bearer" = [])), request_body = PushRequest,
    params(("X-Sync-Protocol" = String, Header, description = "sync protocol version, `1`"),
        ("X-App-Version" = Option<String>, Header, description = "the tablet app's version, recorded per device"),
        ("X-Sync-Checkpoint" = Option<String>, Header, description = "the `checkpoint` of the newest push answer: a server restored from an older backup answers 409 resync_required and applies nothing")),
    responses(
        (status = 200, description = "one result per op, in order", body = PushResponse,
            headers(("Server-Timing" = String, description = "the server's own time, ms: `queue;dur=…, apply;dur=…`"))),
        (status = 400, description = "malformed_json", body = ErrorBody),
        (status = 401, description = "missing_token, invalid_token, token_expired, device_revoked", body = ErrorBody),
        (status = 413, description = "payload_too_large, too_many_ops", body = ErrorBody),
        (status = 409, description = "resync_required: this server was restored from a backup and no longer holds the X-Sync-Checkpoint (the error's reason says so); nothing of the batch was applied", body = ErrorBody),
        (status = 422, description = "device_mismatch, invalid_field", body = ErrorBody),
        (status = 426, description = "unsupported_protocol", body = ErrorBody),
        (status = 429, description = "rate_limited (Retry-After)", body = ErrorBody),
        (status = 503, description = "server_busy or write_clash (Retry-After; nothing of the batch was applied, send it again)", body = ErrorBody)))]
pub async fn push(
    state: State,
    req: HttpRequest,
    auth: Auth,
    body: web::Json<PushRequest>,
) -> Result<web::Json<PushResponse>, AppError> {
    admit(&state, &req, &auth)?;
    // Recorded inside the batch's write transaction: a write of its own would queue for
    // SQLite's write lock in the busy handler's sleeps once per push.
    let version = app_version(&req);
    let held = checkpoint(&req);
    let st = state.clone();
    let res = db::run(&state.pool, move |c| {
        // Before anything is applied: a restored server must not hand out a checkpoint
        // that would hide the loss of what it acknowledged before.
        if let Some(cp) = &held {
            crate::sync::cursor::check_checkpoint(c, cp)?;
        }
        let limits = PushLimits {
            max_ops: st.config.max_batch_ops,
            max_skew_ms: st.config.max_clock_skew.as_millis() as i64,
            id_hash_secret: &st.config.id_hash_secret,
            quarantine_per_day: st.config.quarantine_per_device_per_day,
            quarantine_full: Some(st.metrics.quarantine_not_kept.clone()),
        };
        push::push(c, &auth, version.as_deref(), &body, &limits)
    })
    .await?;
    let mut written = 0;
    for r in &res.results {
        // Replays are counted apart, as before they kept their first verdict.
        let status = if r.replayed { "duplicate" } else { r.status.as_str() };
        state.metrics.push_ops.with_label_values(&[status]).inc();
        written += u64::from(!r.replayed);
    }
    state.stats.note_written(written, &state.pool);
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

/// Pulls the changes in the caller's scope after a cursor (gzip when accepted).
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync", security(("bearer" = [])),
    params(PullParams, ("X-Sync-Protocol" = String, Header, description = "sync protocol version, `1`"),
        ("X-Sync-Checkpoint" = Option<String>, Header, description = "the `checkpoint` of the newest push answer, checked after the cursor")),
    responses(
        (status = 200, body = PullResponse),
        (status = 400, description = "invalid_cursor, invalid_limit, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "resync_required: the cursor belongs to another scope, or this server was restored from a backup older than the cursor or the X-Sync-Checkpoint (the error's reason tells which)", body = ErrorBody),
        (status = 426, description = "unsupported_protocol", body = ErrorBody),
        (status = 429, description = "rate_limited (Retry-After)", body = ErrorBody)))]
pub async fn pull(
    state: State,
    req: HttpRequest,
    auth: Auth,
    q: web::Query<PullParams>,
) -> Result<web::Json<PullResponse>, AppError> {
    admit(&state, &req, &auth)?;
    let st = state.clone();
    let q = q.into_inner();
    let held = checkpoint(&req);
    let res = db::run(&state.pool, move |c| {
        pull::pull(
            c,
            &auth,
            &st.config.jwt_secret,
            q.cursor.as_deref(),
            held.as_deref(),
            q.limit,
        )
    })
    .await?;
    state.metrics.pull_pages.inc();
    Ok(web::Json(res))
}

/// Bootstrap parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BootstrapParams {
    /// The `next_page` token of the previous page; absent to start.
    pub page: Option<String>,
    /// Records per page, 1–10000 (default 2000).
    pub limit: Option<i64>,
}

/// First sync of a new or wiped tablet: a paged snapshot of the scope, then a pull cursor.
#[utoipa::path(get, path = "/api/v1/sync/bootstrap", tag = "sync", security(("bearer" = [])),
    params(BootstrapParams, ("X-Sync-Protocol" = String, Header, description = "sync protocol version, `1`")),
    responses(
        (status = 200, body = BootstrapPage),
        (status = 400, description = "invalid_page, invalid_limit, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "resync_required: the page token belongs to another scope", body = ErrorBody),
        (status = 426, description = "unsupported_protocol", body = ErrorBody),
        (status = 429, description = "rate_limited (Retry-After)", body = ErrorBody)))]
pub async fn bootstrap(
    state: State,
    req: HttpRequest,
    auth: Auth,
    q: web::Query<BootstrapParams>,
) -> Result<web::Json<BootstrapPage>, AppError> {
    admit(&state, &req, &auth)?;
    let st = state.clone();
    let q = q.into_inner();
    let page = db::run(&state.pool, move |c| {
        bootstrap::page(c, &auth, &st.config.jwt_secret, q.page.as_deref(), q.limit)
    })
    .await?;
    Ok(web::Json(page))
}

/// Uploads a blob under its SHA-256 (hex). 201 when stored, 200 when already present.
#[utoipa::path(put, path = "/api/v1/blobs/{sha256}", tag = "sync", security(("bearer" = [])),
    params(("sha256" = String, Path, description = "SHA-256 of the body, 64 hex characters")),
    request_body(description = "the bytes, as one of the accepted content types",
        content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/webp"), (Vec<u8> = "application/pdf"))),
    responses(
        (status = 201, description = "stored"),
        (status = 200, description = "already present"),
        (status = 400, description = "incomplete_body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_blob_type: the Content-Type is not image/png, image/jpeg, image/webp or application/pdf", body = ErrorBody),
        (status = 422, description = "hash_mismatch, invalid_sha256, empty_blob", body = ErrorBody)))]
pub async fn put_blob(
    state: State,
    req: HttpRequest,
    auth: Auth,
    path: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // Refused before the body is read: a wrong type costs the tablet no upload.
    let content_type = blob::content_type(
        req.headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    )?;
    let limit = state.config.max_blob_bytes;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::bad_request(Code::IncompleteBody, "the upload was cut off"))?;
        if bytes.len() + chunk.len() > limit {
            return Err(AppError::new(
                Kind::PayloadTooLarge,
                Code::PayloadTooLarge,
                format!("a blob is at most {limit} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let sha = path.into_inner();
    let new = db::run(&state.pool, move |c| blob::put(c, &auth, &sha, &bytes, content_type)).await?;
    Ok(if new {
        HttpResponse::Created().finish()
    } else {
        HttpResponse::Ok().finish()
    })
}

/// Is the blob stored? 200 or 404, no body.
#[utoipa::path(head, path = "/api/v1/blobs/{sha256}", tag = "sync", security(("bearer" = [])),
    params(("sha256" = String, Path, description = "SHA-256, 64 hex characters")),
    responses((status = 200, description = "present"), (status = 404, description = "absent"), (status = 401, description = "no valid token"),
        (status = 422, description = "invalid_sha256")))]
pub async fn head_blob(state: State, _auth: Auth, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let sha = path.into_inner();
    let present = db::run(&state.pool, move |c| blob::exists(c, &sha)).await?;
    Ok(if present {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::NotFound().finish()
    })
}

/// A blob's bytes, for its uploader and readers of a record in scope that names it.
#[utoipa::path(get, path = "/api/v1/blobs/{sha256}", tag = "sync", security(("bearer" = [])),
    params(("sha256" = String, Path, description = "SHA-256, 64 hex characters")),
    responses((status = 200, description = "the bytes", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody), (status = 404, description = "absent or not yours to read", body = ErrorBody),
        (status = 422, description = "invalid_sha256", body = ErrorBody)))]
pub async fn get_blob(state: State, auth: Auth, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let sha = path.into_inner();
    let (data, content_type) = db::run(&state.pool, move |c| blob::get(c, &auth, &sha)).await?;
    Ok(HttpResponse::Ok().content_type(content_type).body(data))
}

/// Records in the caller's scope that name a blob not uploaded yet.
#[utoipa::path(get, path = "/api/v1/blobs/missing", tag = "sync", security(("bearer" = [])),
    responses((status = 200, body = Vec<MissingBlob>), (status = 401, body = ErrorBody)))]
pub async fn missing_blobs(state: State, auth: Auth) -> Result<web::Json<Vec<MissingBlob>>, AppError> {
    let list = db::run(&state.pool, move |c| blob::missing(c, &auth)).await?;
    Ok(web::Json(list))
}
