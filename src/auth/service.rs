//! Login, refresh-token rotation and device revocation (DESIGN §4 "Devices and auth").

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::password;
use super::throttle::LoginThrottle;
use super::tokens::{hash_refresh_token, new_refresh_token, Claims, Keys};
use crate::config::Config;
use crate::db::{write_tx, DbConn};
use crate::domain::audit;
use crate::domain::user::{self, User};
use crate::error::{AppError, Kind};
use crate::schema::{devices, refresh_tokens};
use crate::time::{now_ms, Millis};

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// The tablet's or browser's stable id (8–64 of `A–Z a–z 0–9 - _ . :`).
    pub device_id: String,
    /// A name a supervisor recognises, e.g. "Team 3 tablet".
    pub device_name: String,
    /// The client app's version, recorded per device.
    #[serde(default)]
    pub app_version: Option<String>,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
    /// The device it was issued to.
    pub device_id: String,
}

/// Tokens and who they belong to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Bearer token for `Authorization`.
    pub access_token: String,
    /// Single-use token for `/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: String,
    /// The user.
    pub user: UserInfo,
}

/// The user as the client sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// User id.
    pub id: String,
    /// Role code.
    pub role: String,
    /// Team, for doctors and team leads.
    pub team_id: Option<String>,
    /// Township for supervisors, county for admins, the team's township for doctors.
    pub region_code: String,
}

fn check_device_id(id: &str) -> Result<(), AppError> {
    let ok = (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_device_id",
            "device_id",
            "device_id must be 8–64 characters of A–Z, a–z, 0–9, - _ . :",
        ))
    }
}

fn check_text(value: &str, field: &str, max: usize) -> Result<(), AppError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "invalid_field",
            field,
            format!("{field} must be 1–{max} printable characters"),
        ));
    }
    Ok(())
}

/// Checks the credentials, registers the device and issues tokens.
pub fn login(
    conn: &mut DbConn,
    config: &Config,
    keys: &Keys,
    throttle: &LoginThrottle,
    req: &LoginRequest,
    client_ip: &str,
) -> Result<TokenResponse, AppError> {
    check_text(&req.username, "username", 64)?;
    check_device_id(&req.device_id)?;
    check_text(&req.device_name, "device_name", 100)?;
    if let Some(v) = &req.app_version {
        check_text(v, "app_version", 40)?;
    }
    if req.password.len() > 4 * password::MAX_LEN {
        return Err(AppError::unauthorized(
            "invalid_credentials",
            "wrong username or password",
        ));
    }
    if let Err(wait) = throttle.check(&req.username, client_ip) {
        let mut e = AppError::new(
            Kind::TooManyRequests,
            "too_many_attempts",
            "too many failed logins; wait and try again",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let found = user::find_by_username(conn, &req.username)?;
    let stored = found
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or(password::decoy_hash());
    let verified = password::verify(&req.password, stored);
    let user = match found {
        Some(u) if verified && u.active => u,
        _ => {
            throttle.fail(&req.username, client_ip);
            audit::record_now(conn, audit::Entry::system("login_failed").device(&req.device_id))?;
            return Err(AppError::unauthorized(
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    throttle.succeed(&req.username);
    let now = now_ms();
    write_tx(conn, |c| {
        register_device(c, &user, req, now)?;
        let family = Uuid::now_v7().to_string();
        let res = issue(c, config, keys, &user, &req.device_id, &family, now)?;
        audit::record(c, audit::Entry::by(&user, &req.device_id, "login").at(now))?;
        Ok(res)
    })
}

fn register_device(conn: &mut DbConn, user: &User, req: &LoginRequest, now: Millis) -> Result<(), AppError> {
    let existing: Option<(String, Option<i64>)> = devices::table
        .find(&req.device_id)
        .select((devices::county_code, devices::revoked_at))
        .first(conn)
        .optional()?;
    match existing {
        Some((_, Some(_))) => Err(AppError::unauthorized(
            "device_revoked",
            "this device was revoked; wipe its local data",
        )),
        Some((county, None)) if county != user.county_code => {
            Err(AppError::forbidden("this device is registered in another county"))
        }
        Some(_) => {
            diesel::update(devices::table.find(&req.device_id))
                .set((
                    devices::user_id.eq(&user.id),
                    devices::name.eq(&req.device_name),
                    devices::app_version.eq(&req.app_version),
                    devices::last_seen_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        }
        None => {
            diesel::insert_into(devices::table)
                .values((
                    devices::id.eq(&req.device_id),
                    devices::user_id.eq(&user.id),
                    devices::name.eq(&req.device_name),
                    devices::app_version.eq(&req.app_version),
                    devices::county_code.eq(&user.county_code),
                    devices::first_seen_at.eq(now),
                    devices::last_seen_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        }
    }
}

fn issue(
    conn: &mut DbConn,
    config: &Config,
    keys: &Keys,
    user: &User,
    device_id: &str,
    family: &str,
    now: Millis,
) -> Result<TokenResponse, AppError> {
    let token = new_refresh_token();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7().to_string()),
            refresh_tokens::token_hash.eq(hash_refresh_token(&token)),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::device_id.eq(device_id),
            refresh_tokens::user_id.eq(&user.id),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(now + config.refresh_ttl.as_millis() as i64),
        ))
        .execute(conn)?;
    let ttl = config.access_ttl.as_secs() as i64;
    let claims = Claims {
        sub: user.id.clone(),
        dev: device_id.to_string(),
        role: user.role.clone(),
        iat: now / 1000,
        exp: now / 1000 + ttl,
    };
    Ok(TokenResponse {
        access_token: keys.access_token(&claims)?,
        refresh_token: token,
        expires_in: ttl,
        token_type: "Bearer".into(),
        user: UserInfo {
            id: user.id.clone(),
            role: user.role.clone(),
            team_id: user.team_id.clone(),
            region_code: user.region_code.clone(),
        },
    })
}

/// Rotates a refresh token. Presenting one that was already used revokes every token of
/// the device: someone holds a copy.
pub fn refresh(
    conn: &mut DbConn,
    config: &Config,
    keys: &Keys,
    req: &RefreshRequest,
) -> Result<TokenResponse, AppError> {
    check_device_id(&req.device_id)?;
    let invalid = || AppError::unauthorized("invalid_refresh_token", "the refresh token is not valid");
    if req.refresh_token.len() > 200 {
        return Err(invalid());
    }
    let now = now_ms();
    let hash = hash_refresh_token(&req.refresh_token);
    // The outcome is decided and stored in one transaction; a reuse revocation must
    // persist even though the request fails, so the error is returned after commit.
    let outcome: Result<TokenResponse, AppError> = write_tx(conn, |c| {
        type Row = (String, String, String, String, i64, Option<i64>, Option<i64>);
        let row: Option<Row> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select((
                refresh_tokens::id,
                refresh_tokens::family_id,
                refresh_tokens::device_id,
                refresh_tokens::user_id,
                refresh_tokens::expires_at,
                refresh_tokens::used_at,
                refresh_tokens::revoked_at,
            ))
            .first(c)
            .optional()?;
        let Some((id, family, device_id, user_id, expires_at, used_at, revoked_at)) = row else {
            return Ok(Err(invalid()));
        };
        if device_id != req.device_id {
            return Ok(Err(invalid()));
        }
        if used_at.is_some() || revoked_at.is_some() {
            diesel::update(refresh_tokens::table.filter(refresh_tokens::device_id.eq(&device_id)))
                .filter(refresh_tokens::revoked_at.is_null())
                .set(refresh_tokens::revoked_at.eq(now))
                .execute(c)?;
            audit::record(
                c,
                audit::Entry::system("refresh_token_reused")
                    .device(&device_id)
                    .detail(serde_json::json!({ "family": family }))
                    .at(now),
            )?;
            return Ok(Err(AppError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the device must log in again",
            )));
        }
        if expires_at <= now {
            return Ok(Err(AppError::unauthorized(
                "refresh_token_expired",
                "the refresh token has expired; log in again",
            )));
        }
        let device: Option<(String, Option<i64>)> = devices::table
            .find(&device_id)
            .select((devices::user_id, devices::revoked_at))
            .first(c)
            .optional()?;
        match device {
            Some((_, Some(_))) => {
                return Ok(Err(AppError::unauthorized(
                    "device_revoked",
                    "this device was revoked; wipe its local data",
                )))
            }
            Some((owner, None)) if owner == user_id => {}
            _ => return Ok(Err(invalid())),
        }
        let Some(user) = user::find(c, &user_id)?.filter(|u| u.active) else {
            return Ok(Err(invalid()));
        };
        diesel::update(refresh_tokens::table.find(&id))
            .set(refresh_tokens::used_at.eq(now))
            .execute(c)?;
        diesel::update(devices::table.find(&device_id))
            .set(devices::last_seen_at.eq(now))
            .execute(c)?;
        Ok(Ok(issue(c, config, keys, &user, &device_id, &family, now)?))
    })?;
    outcome
}

/// Revokes a device: its access tokens stop at once (the extractor checks the device on
/// every request) and its refresh tokens are marked revoked.
pub fn revoke_device(conn: &mut DbConn, actor: &super::Auth, device_id: &str, reason: &str) -> Result<(), AppError> {
    check_text(reason, "reason", 500)?;
    let now = now_ms();
    write_tx(conn, |c| {
        let row: Option<(String, String, Option<i64>)> = devices::table
            .find(device_id)
            .select((devices::user_id, devices::county_code, devices::revoked_at))
            .first(c)
            .optional()?;
        let Some((owner_id, county, revoked_at)) = row else {
            return Err(AppError::not_found("device"));
        };
        let owner = user::find(c, &owner_id)?.ok_or_else(|| AppError::not_found("device"))?;
        if county != actor.county_code || !actor.scope.covers_region(&owner.region_code) {
            // Outside the caller's reach looks the same as absent.
            return Err(AppError::not_found("device"));
        }
        if revoked_at.is_some() {
            return Ok(());
        }
        diesel::update(devices::table.find(device_id))
            .set((
                devices::revoked_at.eq(now),
                devices::revoked_by.eq(&actor.user_id),
                devices::revoke_reason.eq(reason),
            ))
            .execute(c)?;
        diesel::update(refresh_tokens::table.filter(refresh_tokens::device_id.eq(device_id)))
            .filter(refresh_tokens::revoked_at.is_null())
            .set(refresh_tokens::revoked_at.eq(now))
            .execute(c)?;
        audit::record(
            c,
            audit::Entry::actor(actor, "device_revoked")
                .entity("device", device_id)
                .detail(serde_json::json!({ "reason": reason }))
                .at(now),
        )
    })
}
