//! Login, refresh, the caller's identity and own password, devices.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::State;
use crate::auth::account::{self, PasswordChange};
use crate::auth::service::{self, LoginRequest, RefreshRequest, TokenResponse};
use crate::auth::{Auth, Role};
use crate::db;
use crate::domain::device;
use crate::error::{AppError, ErrorBody};

/// Logs in and registers the device.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "invalid_credentials, device_revoked", body = ErrorBody),
        (status = 422, description = "invalid_field, invalid_device_id", body = ErrorBody),
        (status = 429, description = "too_many_attempts (Retry-After)", body = ErrorBody)))]
pub async fn login(
    state: State,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<web::Json<TokenResponse>, AppError> {
    let ip = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let st = state.clone();
    let res = db::run(&state.pool, move |c| {
        service::login(c, &st.config, &st.keys, &st.throttle, &body, &ip)
    })
    .await?;
    Ok(web::Json(res))
}

/// Rotates a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_refresh_token, refresh_token_reused, refresh_token_expired, device_revoked", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn refresh(state: State, body: web::Json<RefreshRequest>) -> Result<web::Json<TokenResponse>, AppError> {
    let st = state.clone();
    let res = db::run(&state.pool, move |c| service::refresh(c, &st.config, &st.keys, &body)).await?;
    Ok(web::Json(res))
}

/// The caller as the server sees them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// The password was reset: it must be changed before anything else.
    pub must_change_password: bool,
    /// Role.
    pub role: Role,
    /// Team.
    pub team_id: Option<String>,
    /// Region code.
    pub region_code: String,
    /// The tablet's own id for this device, as sent at login.
    pub device_id: String,
    /// The server's id of this device: `id` in the device list and the revoke path.
    pub device_key: String,
    /// Villages in reach (team members only).
    pub villages: Vec<String>,
    /// The server's limits a sync client sizes its requests by.
    pub limits: SyncLimits,
    /// The county's settings of the work-list rules, for a tablet that builds the list offline.
    pub work_list: WorkListRules,
}

/// The county's settings of the work list's rules (docs/domain.md §4 and "Referrals").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkListRules {
    /// Days an up-referral may wait for the receiving side before it is overdue.
    pub referral_receive_days: u32,
}

/// The limits of this server a tablet must stay within (docs/sync-protocol.md §2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncLimits {
    /// Ops per push batch (`413 too_many_ops` beyond).
    pub max_batch_ops: usize,
    /// Bytes of a request body (`413 payload_too_large` beyond).
    pub max_body_bytes: usize,
    /// Bytes of one blob.
    pub max_blob_bytes: usize,
    /// Sync requests a device may make per minute (`429 rate_limited` beyond).
    pub sync_requests_per_minute: u32,
}

/// Who am I?
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(state: State, auth: Auth) -> Result<web::Json<Me>, AppError> {
    let id = auth.user_id.clone();
    let display_name = db::run(&state.pool, move |c| {
        Ok(crate::domain::user::find(c, &id)?
            .map(|u| u.display_name)
            .unwrap_or_default())
    })
    .await?;
    let villages = match &auth.scope {
        crate::auth::Scope::Team { villages, .. } => villages.clone(),
        _ => Vec::new(),
    };
    Ok(web::Json(Me {
        id: auth.user_id,
        username: auth.username,
        display_name,
        must_change_password: auth.must_change_password,
        role: auth.role,
        team_id: auth.team_id,
        region_code: auth.region_code,
        device_id: auth.client_device_id,
        device_key: auth.device_id,
        villages,
        limits: SyncLimits {
            max_batch_ops: state.config.max_batch_ops,
            max_body_bytes: state.config.max_body_bytes,
            max_blob_bytes: state.config.max_blob_bytes,
            sync_requests_per_minute: state.config.sync_rate_per_minute,
        },
        work_list: WorkListRules {
            referral_receive_days: state.config.referral_receive_days,
        },
    }))
}

pub use crate::domain::device::DeviceView;

/// Devices in the caller's township (supervisor) or county (admin).
#[utoipa::path(get, path = "/api/v1/devices", tag = "auth", security(("bearer" = [])), params(device::DeviceFilter),
    responses((status = 200, body = Vec<DeviceView>), (status = 400, description = "invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_devices(
    state: State,
    auth: Auth,
    q: web::Query<device::DeviceFilter>,
) -> Result<web::Json<Vec<DeviceView>>, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let list = db::run(&state.pool, move |c| device::list_in_reach(c, &auth, &q)).await?;
    Ok(web::Json(list))
}

/// Changes the caller's own password; the caller's other devices are signed out.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204, description = "changed"), (status = 401, body = ErrorBody),
        (status = 422, description = "wrong_password, weak_password", body = ErrorBody)))]
pub async fn change_password(
    state: State,
    auth: Auth,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, move |c| account::change_password(c, &auth, &body)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Signs the caller out on every device, this one included (every token ends).
#[utoipa::path(post, path = "/api/v1/me/sign-out-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody)))]
pub async fn sign_out_everywhere(state: State, auth: Auth) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, move |c| account::sign_out_everywhere(c, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Why a device is revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// e.g. "tablet lost in 城关镇".
    pub reason: String,
}

/// Revokes a device: its tokens stop working at once and it is told to wipe its data.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "the server's id of the device (`id` in the device list)")), request_body = RevokeRequest,
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such device in your scope", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke_device(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let id = path.into_inner();
    db::run(&state.pool, move |c| {
        service::revoke_device(c, &auth, &id, &body.reason)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
