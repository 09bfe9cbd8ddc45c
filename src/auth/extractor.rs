//! The one extractor every protected handler takes.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use super::device;
use super::scope::{Role, Scope};
use super::tokens::Claims;
use crate::db::{self, DbConn};
use crate::domain::{team, user};
use crate::error::AppError;
use crate::state::AppState;

/// The authenticated caller: user, role, device and scope, checked against the database
/// on every request so that a revoked device or a deactivated user stops at once.
#[derive(Debug, Clone)]
pub struct Auth {
    /// User id.
    pub user_id: String,
    /// Username (not PII: staff accounts).
    pub username: String,
    /// Role.
    pub role: Role,
    /// Team, for doctors and team leads.
    pub team_id: Option<String>,
    /// The user's region code.
    pub region_code: String,
    /// The user's county code (12 digits).
    pub county_code: String,
    /// The server's id of the device the token was issued to (`devices.id`): what stored
    /// rows, rate limits and idempotency name as the caller's device.
    pub device_id: String,
    /// The tablet's own id for that device, as it sends it in `device_id` fields.
    pub client_device_id: String,
    /// What the caller may reach.
    pub scope: Scope,
}

impl Auth {
    /// Refuses unless the caller has one of the roles.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }
}

/// Builds the caller acting on their device `device_id` (the server's id).
pub fn load_caller(conn: &mut DbConn, user_id: &str, device_id: &str) -> Result<Auth, AppError> {
    load(conn, user_id, device_id, None)
}

/// Builds the caller from an access token's claims: also refuses a token issued before
/// the device's tokens were ended by a refresh-token reuse.
fn load_for_token(conn: &mut DbConn, claims: &Claims) -> Result<Auth, AppError> {
    load(conn, &claims.sub, &claims.dev, Some(claims.gen))
}

fn load(conn: &mut DbConn, user_id: &str, device_id: &str, generation: Option<i64>) -> Result<Auth, AppError> {
    let u = user::find(conn, user_id)?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::unauthorized("invalid_token", "the account is not active"))?;
    let dev = match device::find(conn, device_id)? {
        Some(d) if d.revoked_at.is_some() => return Err(device::revoked()),
        Some(d) if d.user_id == u.id => d,
        _ => {
            return Err(AppError::unauthorized(
                "invalid_token",
                "the token's device is not this user's",
            ))
        }
    };
    if generation.is_some_and(|g| g != dev.token_generation) {
        return Err(AppError::unauthorized(
            "invalid_token",
            "this device's tokens were ended after a refresh token was reused; log in again",
        ));
    }
    let role = Role::parse(&u.role).ok_or_else(|| AppError::internal("unknown role in users table"))?;
    let scope = match role {
        Role::Doctor | Role::TeamLead => {
            let team_id = u
                .team_id
                .clone()
                .ok_or_else(|| AppError::internal("team member without a team"))?;
            let villages = team::village_codes(conn, &team_id)?;
            Scope::Team { team_id, villages }
        }
        Role::Supervisor => Scope::Township(u.region_code.clone()),
        Role::Admin => Scope::County(u.county_code.clone()),
    };
    Ok(Auth {
        user_id: u.id,
        username: u.username,
        role,
        team_id: u.team_id,
        region_code: u.region_code,
        county_code: u.county_code,
        device_id: dev.id,
        client_device_id: dev.client_id,
        scope,
    })
}

impl FromRequest for Auth {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("app state missing"))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| AppError::unauthorized("missing_token", "send Authorization: Bearer <access token>"))?;
            let claims = state.keys.verify_access(token.trim())?;
            db::run(&state.pool, move |c| load_for_token(c, &claims)).await
        })
    }
}
