//! Coverage reports.

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::error::{AppError, ErrorBody};
use crate::reports::coverage::{self, CoverageQuery, CoverageReport, GroupBy};
use crate::reports::indicators::{Indicator, COMPUTED};

/// The indicator dictionary.
#[utoipa::path(get, path = "/api/v1/reports/indicators", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<Indicator>), (status = 401, body = ErrorBody)))]
pub async fn indicators(_auth: Auth) -> web::Json<Vec<Indicator>> {
    web::Json(COMPUTED.to_vec())
}

/// Coverage parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CoverageParams {
    /// 12-digit region code (county, township or village).
    pub region: String,
    /// `2026` or `2026-03`.
    pub period: String,
    /// `township`, `village` or `team` (default `township`).
    pub group_by: Option<GroupBy>,
}

/// Indicators for a region and period, by township, village or team.
#[utoipa::path(get, path = "/api/v1/reports/coverage", tag = "reports", security(("bearer" = [])), params(CoverageParams),
    responses(
        (status = 200, body = CoverageReport),
        (status = 400, description = "invalid_period, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn coverage(
    state: State,
    auth: Auth,
    q: web::Query<CoverageParams>,
) -> Result<web::Json<CoverageReport>, AppError> {
    let q = q.into_inner();
    let query = CoverageQuery {
        region: q.region,
        period: q.period,
        group_by: q.group_by.unwrap_or(GroupBy::Township),
    };
    let report = db::run(&state.report_pool, move |c| coverage::coverage(c, &auth, &query)).await?;
    Ok(web::Json(report))
}
