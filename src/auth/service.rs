//! Login, refresh-token rotation, device revocation and the caller's own password (docs/security.md, "Authentication" and "Devices").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::device::{self, Device};
use super::password;
use super::throttle::LoginThrottle;
use super::tokens::{hash_refresh_token, new_refresh_token, Claims, Keys};
use crate::config::Config;
use crate::db::{write_tx, DbConn};
use crate::domain::audit;
use crate::domain::refresh_token::{self, NewToken, TokenKey};
use crate::domain::user::{self, User};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::time::{now_ms, Millis};

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// The tablet's or browser's stable id (8–64 of `A–Z a–z 0–9 - _ . :`). With the user
    /// it names one device; another user naming the same id gets a device of their own.
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
    /// The tablet's own id, as sent at login.
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
    /// The password was reset by an administrator: until `POST /api/v1/me/password` sets a
    /// new one, every other call answers 403 `password_change_required`.
    #[serde(default)]
    pub password_change_required: bool,
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
            Code::InvalidDeviceId,
            "device_id",
            "device_id must be 8–64 characters of A–Z, a–z, 0–9, - _ . :",
        ))
    }
}

fn check_text(value: &str, field: &str, max: usize) -> Result<(), AppError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            Code::InvalidField,
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
            Code::InvalidCredentials,
            "wrong username or password",
        ));
    }
    let username = user::normalize_username(&req.username);
    if let Err(wait) = throttle.attempt(conn, &username, client_ip)? {
        let mut e = AppError::new(
            Kind::TooManyRequests,
            Code::TooManyAttempts,
            "too many failed logins; wait and try again",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let found = user::find_by_username(conn, &username)?;
    let stored = found
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or(password::decoy_hash());
    let verified = password::verify(&req.password, stored);
    let user = match found {
        Some(u) if verified && u.active => u,
        _ => {
            audit::record_now(conn, audit::Entry::system("login_failed").device(&req.device_id))?;
            return Err(AppError::unauthorized(
                Code::InvalidCredentials,
                "wrong username or password",
            ));
        }
    };
    throttle.succeed(conn, &username, client_ip)?;
    let now = now_ms();
    write_tx(conn, |c| {
        let dev = device::register(
            c,
            &user,
            &req.device_id,
            &req.device_name,
            req.app_version.as_deref(),
            now,
        )?;
        let family = Uuid::now_v7().to_string();
        let (res, _) = issue(c, config, keys, &user, &dev, &family, new_refresh_token(), now)?;
        user::touch_login(c, &user.id, now)?;
        audit::record(c, audit::Entry::by(&user, &dev.id, "login").at(now))?;
        Ok(res)
    })
}

/// Stores `token` (hashed) as the device's newest refresh token and signs an access token;
/// returns them with the new row's id.
#[allow(clippy::too_many_arguments)]
fn issue(
    conn: &mut DbConn,
    config: &Config,
    keys: &Keys,
    user: &User,
    dev: &Device,
    family: &str,
    token: String,
    now: Millis,
) -> Result<(TokenResponse, String), AppError> {
    let id = Uuid::now_v7().to_string();
    refresh_token::insert(
        conn,
        &NewToken {
            id: &id,
            token_hash: &hash_refresh_token(&token),
            family_id: family,
            device_id: &dev.id,
            user_id: &user.id,
            issued_at: now,
            expires_at: now + config.refresh_ttl.as_millis() as i64,
        },
    )?;
    Ok((answer(config, keys, user, dev, token, now, now)?, id))
}

/// The token answer for a refresh token issued at `issued_at`: the access token is signed
/// over claims that depend only on the issue, so answering again gives the same one.
fn answer(
    config: &Config,
    keys: &Keys,
    user: &User,
    dev: &Device,
    refresh_token: String,
    issued_at: Millis,
    now: Millis,
) -> Result<TokenResponse, AppError> {
    let ttl = config.access_ttl.as_secs() as i64;
    let claims = Claims {
        sub: user.id.clone(),
        dev: dev.id.clone(),
        gen: dev.token_generation,
        role: user.role.clone(),
        iat: issued_at / 1000,
        exp: issued_at / 1000 + ttl,
    };
    Ok(TokenResponse {
        access_token: keys.access_token(&claims)?,
        refresh_token,
        expires_in: (claims.exp - now / 1000).max(0),
        token_type: "Bearer".into(),
        password_change_required: user.must_change_password,
        user: UserInfo {
            id: user.id.clone(),
            role: user.role.clone(),
            team_id: user.team_id.clone(),
            region_code: user.region_code.clone(),
        },
    })
}

/// Rotates a refresh token. A spent token presented again within the grace window, from
/// its device, while the token it was exchanged for is still unspent, is a retry whose
/// answer was lost: it gets the same answer again. Otherwise a spent token means someone
/// holds a copy: every token of the device ends, refresh and access alike.
pub fn refresh(
    conn: &mut DbConn,
    config: &Config,
    keys: &Keys,
    req: &RefreshRequest,
) -> Result<TokenResponse, AppError> {
    check_device_id(&req.device_id)?;
    let invalid = || AppError::unauthorized(Code::InvalidRefreshToken, "the refresh token is not valid");
    if req.refresh_token.len() > 200 {
        return Err(invalid());
    }
    let now = now_ms();
    let hash = hash_refresh_token(&req.refresh_token);
    let grace = config.refresh_grace.as_millis() as i64;
    // The outcome is decided and stored in one transaction; a reuse revocation must
    // persist even though the request fails, so the error is returned after commit.
    let outcome: Result<TokenResponse, AppError> = write_tx(conn, |c| {
        // A concurrent refresh of the same token can spend it between the read and the
        // update below; the second pass then sees it spent and answers as a retry.
        for _ in 0..2 {
            let Some(row) = refresh_token::find(c, TokenKey::Hash(&hash))? else {
                return Ok(Err(invalid()));
            };
            let Some(dev) = device::find(c, &row.device_id)? else {
                return Ok(Err(invalid()));
            };
            if dev.client_id != req.device_id || dev.user_id != row.user_id {
                return Ok(Err(invalid()));
            }
            if dev.revoked_at.is_some() {
                return Ok(Err(device::revoked()));
            }
            let Some(user) = user::find(c, &row.user_id)?.filter(|u| u.active) else {
                return Ok(Err(invalid()));
            };
            if let Some(used_at) = row.used_at {
                if row.revoked_at.is_none() && now - used_at < grace {
                    if let Some(child) = row.replaced_by.as_deref() {
                        if let Some(ch) = refresh_token::find(c, TokenKey::Id(child))? {
                            if ch.used_at.is_none() && ch.revoked_at.is_none() && ch.expires_at > now {
                                let token = keys.child_refresh_token(&req.refresh_token);
                                return Ok(Ok(answer(config, keys, &user, &dev, token, ch.issued_at, now)?));
                            }
                        }
                    }
                }
                end_device_tokens(c, &dev, &row.family_id, now)?;
                return Ok(Err(AppError::unauthorized(
                    Code::RefreshTokenReused,
                    "this refresh token was already used; the device must log in again",
                )));
            }
            if row.revoked_at.is_some() {
                end_device_tokens(c, &dev, &row.family_id, now)?;
                return Ok(Err(AppError::unauthorized(
                    Code::RefreshTokenReused,
                    "this refresh token was already used; the device must log in again",
                )));
            }
            if row.expires_at <= now {
                return Ok(Err(AppError::unauthorized(
                    Code::RefreshTokenExpired,
                    "the refresh token has expired; log in again",
                )));
            }
            if !refresh_token::spend(c, &row.id, now)? {
                continue;
            }
            device::touch(c, &dev.id, now)?;
            let token = keys.child_refresh_token(&req.refresh_token);
            let (res, child) = issue(c, config, keys, &user, &dev, &row.family_id, token, now)?;
            refresh_token::set_replaced_by(c, &row.id, &child)?;
            return Ok(Ok(res));
        }
        Ok(Err(invalid()))
    })?;
    outcome
}

/// A spent token came back: revokes every refresh token of the device and moves its token
/// generation on, which ends its access tokens at their next request.
fn end_device_tokens(conn: &mut DbConn, dev: &Device, family: &str, now: Millis) -> Result<(), AppError> {
    refresh_token::revoke_device(conn, &dev.id, now)?;
    device::next_generation(conn, &dev.id)?;
    audit::record(
        conn,
        audit::Entry::system("refresh_token_reused")
            .device(&dev.id)
            .detail(serde_json::json!({ "family": family }))
            .at(now),
    )
}

/// Revokes a device: its access tokens stop at once (the extractor checks the device on
/// every request) and its refresh tokens are marked revoked.
pub fn revoke_device(conn: &mut DbConn, actor: &super::Auth, device_id: &str, reason: &str) -> Result<(), AppError> {
    check_text(reason, "reason", 500)?;
    let now = now_ms();
    write_tx(conn, |c| {
        let Some(standing) = device::standing(c, device_id)? else {
            return Err(AppError::not_found("device"));
        };
        let owner = user::find(c, &standing.user_id)?.ok_or_else(|| AppError::not_found("device"))?;
        if standing.county_code != actor.county_code || !actor.scope.covers_region(&owner.region_code) {
            // Outside the caller's reach looks the same as absent.
            return Err(AppError::not_found("device"));
        }
        if standing.revoked_at.is_some() {
            return Ok(());
        }
        device::mark_revoked(c, device_id, &actor.user_id, reason, now)?;
        refresh_token::revoke_device(c, device_id, now)?;
        audit::record(
            c,
            audit::Entry::actor(actor, "device_revoked")
                .entity("device", device_id)
                .detail(serde_json::json!({ "reason": reason }))
                .at(now),
        )
    })
}
