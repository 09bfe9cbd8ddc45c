//! The caller of a user acting on one of their devices, built from the database: the
//! account must be active, the device theirs and not revoked, and for a token the device's
//! token generation current (docs/security.md).

use crate::access::{Caller, Role, Scope};
use crate::db::DbConn;
use crate::domain::{device, team, user};
use crate::error::AppError;
use crate::error_codes::Code;

/// Builds the caller acting on their device `device_id` (the server's id).
pub fn load_caller(conn: &mut DbConn, user_id: &str, device_id: &str) -> Result<Caller, AppError> {
    load(conn, user_id, device_id, None)
}

/// Builds the caller named by an access token: also refuses a token issued before
/// the device's tokens were ended by a refresh-token reuse.
pub fn load_for_token(conn: &mut DbConn, user_id: &str, device_id: &str, generation: i64) -> Result<Caller, AppError> {
    load(conn, user_id, device_id, Some(generation))
}

fn load(conn: &mut DbConn, user_id: &str, device_id: &str, generation: Option<i64>) -> Result<Caller, AppError> {
    let u = user::find(conn, user_id)?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::unauthorized(Code::InvalidToken, "the account is not active"))?;
    let dev = match device::find(conn, device_id)? {
        Some(d) if d.revoked_at.is_some() => return Err(device::revoked()),
        Some(d) if d.user_id == u.id => d,
        _ => {
            return Err(AppError::unauthorized(
                Code::InvalidToken,
                "the token's device is not this user's",
            ))
        }
    };
    if generation.is_some_and(|g| g != dev.token_generation) {
        return Err(AppError::unauthorized(
            Code::InvalidToken,
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
    Ok(Caller {
        user_id: u.id,
        username: u.username,
        role,
        team_id: u.team_id,
        region_code: u.region_code,
        county_code: u.county_code,
        device_id: dev.id,
        client_device_id: dev.client_id,
        scope,
        must_change_password: u.must_change_password,
    })
}
