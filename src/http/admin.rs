//! County administration: regions, teams, users (admin only, within the admin's county).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::State;
use crate::auth::{Auth, Role};
use crate::db::{self, write_tx};
use crate::domain::audit;
use crate::domain::region::{self, Region};
use crate::domain::team::{self, NewTeam, Team};
use crate::domain::user::{self, NewUser, UserView};
use crate::error::{AppError, ErrorBody};

/// A region to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegion {
    /// 12-digit division code (township or village in the admin's county).
    pub code: String,
    /// Name.
    pub name: String,
}

/// Creates a township or village.
#[utoipa::path(post, path = "/api/v1/admin/regions", tag = "admin", security(("bearer" = [])), request_body = NewRegion,
    responses((status = 201, body = Region), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "region_exists", body = ErrorBody),
        (status = 422, description = "invalid_region_code, unknown_parent_region", body = ErrorBody)))]
pub async fn create_region(state: State, auth: Auth, body: web::Json<NewRegion>) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Admin])?;
    let r = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let r = region::create(c, &body.code, &body.name, Some(&auth.county_code))?;
            audit::record_now(
                c,
                audit::Entry::actor(&auth, "region_created").entity("region", &r.code),
            )?;
            Ok(r)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(r))
}

/// Creates a team.
#[utoipa::path(post, path = "/api/v1/admin/teams", tag = "admin", security(("bearer" = [])), request_body = NewTeam,
    responses((status = 201, body = Team), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "team_exists", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_team(state: State, auth: Auth, body: web::Json<NewTeam>) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Admin])?;
    let t = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let t = team::create(c, &body, Some(&auth.county_code))?;
            audit::record_now(c, audit::Entry::actor(&auth, "team_created").entity("team", &t.id))?;
            Ok(t)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(t))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "username_taken", body = ErrorBody),
        (status = 422, description = "weak_password, invalid_username, invalid_role, unknown_team, unknown_region", body = ErrorBody)))]
pub async fn create_user(state: State, auth: Auth, body: web::Json<NewUser>) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Admin])?;
    let u = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let u = user::create(c, &body, Some(&auth.county_code))?;
            audit::record_now(c, audit::Entry::actor(&auth, "user_created").entity("user", &u.id))?;
            Ok(UserView::from(&u))
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(u))
}

/// The villages a team serves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamVillages {
    /// Village codes, all in the team's township.
    pub village_codes: Vec<String>,
}

/// Replaces a team's villages; its members' tablets must bootstrap again.
#[utoipa::path(put, path = "/api/v1/admin/teams/{id}/villages", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "team id")), request_body = TeamVillages,
    responses((status = 200, body = Team), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "unknown_region, no_villages", body = ErrorBody)))]
pub async fn set_team_villages(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<TeamVillages>,
) -> Result<web::Json<Team>, AppError> {
    auth.require(&[Role::Admin])?;
    let id = path.into_inner();
    let t = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let t = team::set_villages(c, &id, &body.village_codes, &auth.county_code)?;
            audit::record_now(
                c,
                audit::Entry::actor(&auth, "team_villages_set")
                    .entity("team", &t.id)
                    .detail(serde_json::json!({ "villages": body.village_codes })),
            )?;
            Ok(t)
        })
    })
    .await?;
    Ok(web::Json(t))
}

/// Child regions of a region in the caller's reach (the dashboard's region picker).
#[utoipa::path(get, path = "/api/v1/regions/{code}/children", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "12-digit region code")),
    responses((status = 200, body = Vec<Region>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn region_children(
    state: State,
    auth: Auth,
    path: web::Path<String>,
) -> Result<web::Json<Vec<Region>>, AppError> {
    let code = path.into_inner();
    let list = db::run(&state.pool, move |c| {
        let own_county = region::parse_code(&code).is_ok() && region::county_of(&code) == auth.county_code;
        if !own_county || region::find(c, &code)?.is_none() {
            return Err(AppError::not_found("region"));
        }
        let children = region::children(c, &code)?;
        Ok(children
            .into_iter()
            .filter(|r| auth.scope.covers_region(&r.code) || reaches_into(&auth, &r.code))
            .collect())
    })
    .await?;
    Ok(web::Json(list))
}

/// A team member reaches a township if one of their villages lies in it (supervisors and
/// admins are covered by `covers_region`).
fn reaches_into(auth: &Auth, code: &str) -> bool {
    match &auth.scope {
        crate::auth::Scope::Team { villages, .. } => {
            code.ends_with("000") && villages.iter().any(|v| v.starts_with(&code[..9]))
        }
        _ => false,
    }
}
