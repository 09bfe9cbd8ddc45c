//! The console's staff and team administration (docs/console.md): the staff list, account
//! edits, deactivation, one-time passwords, the team list and moving a village between
//! teams. Administrators act within their county; supervisors read their township.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::State;
use crate::auth::{Auth, Role};
use crate::db::{self, write_tx};
use crate::domain::audit;
use crate::domain::staff::{self, StaffFilter, StaffPage, StaffView, UserPatch};
use crate::domain::team::{self, Team, TeamView};
use crate::error::{AppError, ErrorBody};

/// The staff in the caller's reach, by username.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(StaffFilter),
    responses((status = 200, body = StaffPage), (status = 400, description = "invalid_limit, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    state: State,
    auth: Auth,
    q: web::Query<StaffFilter>,
) -> Result<web::Json<StaffPage>, AppError> {
    let page = db::run(&state.pool, move |c| staff::list(c, &auth, &q)).await?;
    Ok(web::Json(page))
}

/// Edits an account's display name, role or team.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = UserPatch,
    responses((status = 200, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_role, unknown_team, team_required, team_not_allowed, unknown_region, own_account", body = ErrorBody)))]
pub async fn update_user(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<web::Json<StaffView>, AppError> {
    let id = path.into_inner();
    let v = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let u = staff::update(c, &auth, &id, &body)?;
            staff::show(c, &u)
        })
    })
    .await?;
    Ok(web::Json(v))
}

/// Why an account is deactivated.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// e.g. "transferred to another township".
    pub reason: String,
}

/// Deactivates an account: its tokens stop at once, its records stay.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = DeactivateRequest,
    responses((status = 200, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "own_account, invalid_text", body = ErrorBody)))]
pub async fn deactivate_user(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<DeactivateRequest>,
) -> Result<web::Json<StaffView>, AppError> {
    let id = path.into_inner();
    let v = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let u = staff::deactivate(c, &auth, &id, &body.reason)?;
            staff::show(c, &u)
        })
    })
    .await?;
    Ok(web::Json(v))
}

/// A one-time password, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OneTimePassword {
    /// Give it to the user; their next login must set a new password.
    pub one_time_password: String,
}

/// Resets an account's password to a one-time password.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/reset-password", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = OneTimePassword), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "own_account", body = ErrorBody)))]
pub async fn reset_password(
    state: State,
    auth: Auth,
    path: web::Path<String>,
) -> Result<web::Json<OneTimePassword>, AppError> {
    let id = path.into_inner();
    let otp = db::run(&state.pool, move |c| {
        write_tx(c, |c| staff::reset_password(c, &auth, &id))
    })
    .await?;
    Ok(web::Json(OneTimePassword { one_time_password: otp }))
}

/// The teams in the caller's reach.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamList {
    /// Teams, by code.
    pub items: Vec<TeamView>,
}

/// The teams of the caller's county (admin) or township (supervisor), with their villages.
#[utoipa::path(get, path = "/api/v1/admin/teams", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = TeamList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_teams(state: State, auth: Auth) -> Result<web::Json<TeamList>, AppError> {
    auth.require(&[Role::Admin, Role::Supervisor])?;
    let items = db::run(&state.pool, move |c| {
        team::list_in_reach(c, &auth.county_code, &auth.scope)
    })
    .await?;
    Ok(web::Json(TeamList { items }))
}

/// Where a village goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VillageMove {
    /// The team (id) that serves the village from now on.
    pub team_id: String,
}

/// The teams a moved village left and joined.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VillageMoved {
    /// The teams that served it before (none if it had no team).
    pub from: Vec<Team>,
    /// The team that serves it now.
    pub to: Team,
}

/// Moves a village to another team of its township; both teams' tablets re-sync.
#[utoipa::path(post, path = "/api/v1/admin/villages/{code}/move", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "12-digit village code")), request_body = VillageMove,
    responses((status = 200, body = VillageMoved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such village in the team's township", body = ErrorBody),
        (status = 422, description = "unknown_team, no_villages", body = ErrorBody)))]
pub async fn move_village(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<VillageMove>,
) -> Result<web::Json<VillageMoved>, AppError> {
    auth.require(&[Role::Admin])?;
    let code = path.into_inner();
    let moved = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let from = team::move_village(c, &code, &body.team_id, &auth.county_code)?;
            let to = team::find(c, &body.team_id)?.ok_or_else(|| AppError::internal("moved to a missing team"))?;
            audit::record_now(
                c,
                audit::Entry::actor(&auth, "village_moved")
                    .entity("region", &code)
                    .detail(serde_json::json!({
                        "from": from.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
                        "to": to.id,
                    })),
            )?;
            Ok(VillageMoved { from, to })
        })
    })
    .await?;
    Ok(web::Json(moved))
}
