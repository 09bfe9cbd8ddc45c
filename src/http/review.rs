//! The supervisor review queue (审核队列): its count, its items, and decisions on them.
//! Listing and deciding are for supervisors (their township) and county administrators;
//! team members see only the count of their team's items.

use actix_web::web;

use super::State;
use crate::auth::{Auth, Role};
use crate::db;
use crate::domain::review::decide::{self, DecideSettings, DecisionOutcome, DecisionRequest};
use crate::domain::review::queue::{self, ReviewCount, ReviewFilter, ReviewItem, ReviewPage};
use crate::error::{AppError, ErrorBody};

/// Open review items in the caller's scope: the same rows as `GET /api/v1/review/items`.
#[utoipa::path(get, path = "/api/v1/review/count", tag = "review", security(("bearer" = [])),
    responses((status = 200, body = ReviewCount), (status = 401, body = ErrorBody)))]
pub async fn count(state: State, auth: Auth) -> Result<web::Json<ReviewCount>, AppError> {
    let n = db::run(&state.report_pool, move |c| queue::count(c, &auth)).await?;
    Ok(web::Json(n))
}

/// The review queue in the caller's scope, newest first: conflicts, quarantined ops and
/// contracts held for review, each with the decisions it takes.
#[utoipa::path(get, path = "/api/v1/review/items", tag = "review", security(("bearer" = [])), params(ReviewFilter),
    responses((status = 200, body = ReviewPage),
        (status = 400, description = "invalid_status, invalid_kind, invalid_region, invalid_limit, invalid_cursor, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden: a team member, or a region outside the caller's scope", body = ErrorBody)))]
pub async fn list(state: State, auth: Auth, q: web::Query<ReviewFilter>) -> Result<web::Json<ReviewPage>, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let f = q.into_inner();
    let page = db::run(&state.report_pool, move |c| queue::list(c, &auth, &f)).await?;
    Ok(web::Json(page))
}

/// One review item; an item outside the caller's scope answers 404, as if absent.
#[utoipa::path(get, path = "/api/v1/review/items/{id}", tag = "review", security(("bearer" = [])),
    params(("id" = String, Path, description = "item id")),
    responses((status = 200, body = ReviewItem), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(state: State, auth: Auth, path: web::Path<String>) -> Result<web::Json<ReviewItem>, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let id = path.into_inner();
    let item = db::run(&state.report_pool, move |c| queue::find(c, &auth, &id)).await?;
    item.map(web::Json).ok_or_else(|| AppError::not_found("review item"))
}

/// Resolves an item with a decision (docs/review.md): its effect, the item marked
/// resolved and an audit entry, in one transaction.
#[utoipa::path(post, path = "/api/v1/review/items/{id}/decision", tag = "review", security(("bearer" = [])),
    params(("id" = String, Path, description = "item id")), request_body = DecisionRequest,
    responses((status = 200, body = DecisionOutcome),
        (status = 400, description = "malformed_json", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden (team members); outside_scope (a merge reaching another township)", body = ErrorBody),
        (status = 404, description = "not_found: no such item in the caller's scope", body = ErrorBody),
        (status = 409, description = "already_resolved", body = ErrorBody),
        (status = 422, description = "invalid_decision, decision_not_allowed, missing_field, invalid_field, still_duplicate, not_pending, reapply_failed, sender_unavailable, id_number_not_restorable, invalid_keep, …", body = ErrorBody)))]
pub async fn decide(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<DecisionRequest>,
) -> Result<web::Json<DecisionOutcome>, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let id = path.into_inner();
    let st = state.clone();
    let out = db::run(&state.pool, move |c| {
        let settings = DecideSettings {
            id_hash_secret: &st.config.id_hash_secret,
            max_skew_ms: st.config.max_clock_skew.as_millis() as i64,
        };
        decide::decide(c, &auth, &settings, &id, &body)
    })
    .await?;
    Ok(web::Json(out))
}
