//! Reading residents (browser and tablet look-ups).

use actix_web::web;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::domain::resident::{self, ResidentView};
use crate::error::{AppError, ErrorBody};

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
