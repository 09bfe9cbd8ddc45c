//! Service packages (服务包): the catalog the tablet's signing screen offers.

use actix_web::web;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::domain::catalog::{self, PackageView};
use crate::error::{AppError, ErrorBody};

/// Every service package of the caller's county with its price and self-pay in fen, by
/// code; retired ones with `active: false` (contracts that hold them still name them).
/// Each county has its own catalog, like the questionnaires; tablets receive it on
/// bootstrap's last page and refresh it here (docs/sync-protocol.md §7).
#[utoipa::path(get, path = "/api/v1/packages", tag = "contracts", security(("bearer" = [])),
    responses((status = 200, body = Vec<PackageView>), (status = 401, body = ErrorBody)))]
pub async fn list(state: State, auth: Auth) -> Result<web::Json<Vec<PackageView>>, AppError> {
    let county = auth.county_code.clone();
    Ok(web::Json(
        db::run(&state.pool, move |c| catalog::packages(c, &county)).await?,
    ))
}
