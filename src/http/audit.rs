//! Reading the audit log (supervisors and admins). There is no route that edits or deletes it.

use actix_web::web;

use super::State;
use crate::auth::{Auth, Role};
use crate::db;
use crate::domain::audit::{self, AuditFilter, AuditPage};
use crate::error::{AppError, ErrorBody};

/// The audit log in the caller's reach, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = AuditPage),
        (status = 400, description = "invalid_time, invalid_limit, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(state: State, auth: Auth, q: web::Query<AuditFilter>) -> Result<web::Json<AuditPage>, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let f = q.into_inner();
    let page = db::run(&state.report_pool, move |c| audit::list(c, &auth, &f)).await?;
    Ok(web::Json(page))
}
