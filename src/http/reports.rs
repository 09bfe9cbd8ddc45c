//! Coverage reports, the trend, their CSV and population denominators.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use crate::auth::{Auth, Role};
use crate::db;
use crate::domain::population::upload::{self, Outcome, PopulationStored, PopulationUpload, RowError};
use crate::error::{AppError, ErrorBody, ErrorDetail, Kind};
use crate::error_codes::Code;
use crate::reports::coverage::{self, CoverageQuery, CoverageReport, GroupBy};
use crate::reports::export;
use crate::reports::indicators::{Indicator, DICTIONARY};
use crate::reports::trend::{self, TrendReport};

/// The indicator dictionary (v1, docs/reports.md "指标 / The indicators").
#[utoipa::path(get, path = "/api/v1/reports/indicators", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<Indicator>), (status = 401, body = ErrorBody)))]
pub async fn indicators(_auth: Auth) -> web::Json<Vec<Indicator>> {
    web::Json(DICTIONARY.to_vec())
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
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    pub format: Option<String>,
}

/// Does the caller want CSV (`format=csv`, or `Accept: text/csv` without `format`)?
pub(super) fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, AppError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(AppError::bad_request(Code::InvalidQuery, "format must be json or csv").with_field("format")),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

pub(super) fn csv_response(body: Vec<u8>, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// Indicators for a region and period, by township, village or team; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/reports/coverage", tag = "reports", security(("bearer" = [])), params(CoverageParams),
    responses(
        (status = 200, body = CoverageReport, description = "JSON, or with format=csv / Accept: text/csv a UTF-8 CSV with BOM and Chinese headers"),
        (status = 400, description = "invalid_period, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn coverage(
    state: State,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<CoverageParams>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    let query = CoverageQuery {
        region: q.region,
        period: q.period,
        group_by: q.group_by.unwrap_or(GroupBy::Township),
    };
    let report = db::run(&state.report_pool, move |c| coverage::coverage(c, &auth, &query)).await?;
    if csv {
        let name = format!("coverage-{}-{}.csv", report.region, report.period);
        return Ok(csv_response(export::coverage_csv(&report)?, &name));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Trend parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrendParams {
    /// 12-digit region code (county, township or village).
    pub region: String,
    /// The year, e.g. `2026`.
    pub year: String,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Every indicator month by month for a year (the region's total each month); JSON or CSV.
#[utoipa::path(get, path = "/api/v1/reports/trend", tag = "reports", security(("bearer" = [])), params(TrendParams),
    responses(
        (status = 200, body = TrendReport, description = "JSON, or with format=csv / Accept: text/csv a UTF-8 CSV with BOM"),
        (status = 400, description = "invalid_period, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn trend(
    state: State,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<TrendParams>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    let report = db::run(&state.report_pool, move |c| trend::trend(c, &auth, &q.region, &q.year)).await?;
    if csv {
        let name = format!("trend-{}-{}.csv", report.region, report.year);
        return Ok(csv_response(export::trend_csv(&report)?, &name));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// The refusal of a population upload: the error shape plus every refused row.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RowsRefused {
    /// `invalid_rows`.
    pub error: ErrorDetail,
    /// Each refused row with its reason (absent when the body itself is refused, which
    /// answers the plain error shape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub rows: Vec<RowError>,
}

/// Sets population denominators (admin, own county): JSON `{"rows": [...]}` or a CSV body
/// (`Content-Type: text/csv`, header `region_code,year,category,count`). All rows are stored
/// or none: any refused row answers 422 `invalid_rows` listing every refused row.
#[utoipa::path(post, path = "/api/v1/admin/population", tag = "admin", security(("bearer" = [])),
    request_body(content = PopulationUpload, description = "JSON rows, or text/csv with header region_code,year,category,count"),
    responses((status = 200, body = PopulationStored), (status = 400, description = "malformed_json, malformed_csv", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "invalid_rows (with the refused rows), invalid_field, invalid_header, no_rows", body = RowsRefused)))]
pub async fn upload_population(
    state: State,
    auth: Auth,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Admin])?;
    let limit = state.config.max_body_bytes;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::bad_request(Code::MalformedBody, "the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::new(
                Kind::PayloadTooLarge,
                Code::PayloadTooLarge,
                "the request body is too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = if content_type.starts_with("text/csv") {
        upload::parse_csv(&body)?
    } else if content_type.starts_with("application/json") {
        let upload: PopulationUpload = serde_json::from_slice(&body).map_err(|e| {
            let msg = crate::error::without_quoted_values(&e.to_string());
            if e.is_data() {
                AppError::new(Kind::Invalid, Code::InvalidField, msg)
            } else {
                AppError::bad_request(Code::MalformedJson, format!("the body is not valid JSON: {msg}"))
            }
        })?;
        upload
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, Ok(r)))
            .collect()
    } else {
        return Err(AppError::new(
            Kind::UnsupportedMediaType,
            Code::UnsupportedMediaType,
            "send application/json or text/csv",
        ));
    };
    let outcome = db::run(&state.pool, move |c| upload::store(c, &auth, rows)).await?;
    Ok(match outcome {
        Outcome::Stored(stored) => HttpResponse::Ok().json(PopulationStored { stored }),
        Outcome::Refused(rows) => HttpResponse::UnprocessableEntity().json(RowsRefused {
            error: ErrorDetail {
                code: "invalid_rows".into(),
                message: format!("{} row(s) refused; nothing was stored", rows.len()),
                field: Some("rows".into()),
                reason: None,
            },
            rows,
        }),
    })
}
