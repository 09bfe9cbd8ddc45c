//! Service packages (服务包): the catalog the tablet's signing screen offers.

use actix_web::web;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::domain::catalog::{self, PackageView};
use crate::error::{AppError, ErrorBody};

/// Every service package with its price and self-pay in fen, by code; retired ones with
/// `active: false` (contracts that hold them still name them). The catalog is shared by
/// every county on a server, like the questionnaires; tablets receive it on bootstrap's
/// last page and refresh it here (docs/sync-protocol.md §7).
#[utoipa::path(get, path = "/api/v1/packages", tag = "contracts", security(("bearer" = [])),
    responses((status = 200, body = Vec<PackageView>), (status = 401, body = ErrorBody)))]
pub async fn list(state: State, _auth: Auth) -> Result<web::Json<Vec<PackageView>>, AppError> {
    Ok(web::Json(db::run(&state.pool, catalog::packages).await?))
}
