//! Reading residents (browser and tablet look-ups): one by id, a search, and a resident's
//! whole record for the console.

use actix_web::web;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::domain::resident::search::{self, ResidentPage, ResidentQuery};
use crate::domain::resident::{self, ResidentView};
use crate::error::{AppError, ErrorBody};
use crate::sync::record::{self, ResidentRecord};

/// One resident in the caller's scope; another team's resident answers 404, as if absent.
#[utoipa::path(get, path = "/api/v1/residents/{id}", tag = "residents", security(("bearer" = [])),
    params(("id" = String, Path, description = "resident id")),
    responses((status = 200, body = ResidentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_resident(
    state: State,
    auth: Auth,
    path: web::Path<String>,
) -> Result<web::Json<ResidentView>, AppError> {
    let id = path.into_inner();
    let own_team = auth.role.is_team_member();
    let r = db::run(&state.pool, move |c| resident::find_visible(c, &auth.scope, &id)).await?;
    Ok(web::Json(r.view(own_team)))
}

/// Residents in the caller's scope matching a name, household, whole ID number or the end
/// of a phone number; masked for a reader outside the resident's team. The search is
/// audited (what kind of query, never what was typed).
#[utoipa::path(get, path = "/api/v1/residents", tag = "residents", security(("bearer" = [])), params(ResidentQuery),
    responses((status = 200, body = ResidentPage), (status = 400, description = "invalid_limit, invalid_query, invalid_cursor", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "the village is outside the caller's reach", body = ErrorBody)))]
pub async fn search_residents(
    state: State,
    auth: Auth,
    q: web::Query<ResidentQuery>,
) -> Result<web::Json<ResidentPage>, AppError> {
    let secret = state.config.id_hash_secret.clone();
    let page = db::run(&state.pool, move |c| search::search(c, &auth, &secret, &q)).await?;
    Ok(web::Json(page))
}

/// A resident's whole record: contracts with their status history, visits and surveys
/// with their corrections, and the audit trail; the read is itself audited.
#[utoipa::path(get, path = "/api/v1/residents/{id}/record", tag = "residents", security(("bearer" = [])),
    params(("id" = String, Path, description = "resident id")),
    responses((status = 200, body = ResidentRecord), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resident_record(
    state: State,
    auth: Auth,
    path: web::Path<String>,
) -> Result<web::Json<ResidentRecord>, AppError> {
    let id = path.into_inner();
    let r = db::run(&state.pool, move |c| db::write_tx(c, |c| record::read(c, &auth, &id))).await?;
    Ok(web::Json(r))
}
