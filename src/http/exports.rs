//! Standard exports (docs/interop.md): the FHIR R4 bulk export and the DHIS2 aggregate
//! export. Read-only, for supervisors (their township) and administrators (their county),
//! scoped as reports are, and audited: each manifest, file and data-value set leaves an
//! entry naming who exported which region.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::State;
use crate::auth::{Auth, Role};
use crate::db;
use crate::domain::audit;
use crate::error::{AppError, ErrorBody};
use crate::reports::dhis2::{self, DataValueSet, Metadata, OrgLevel};
use crate::reports::fhir::{self, pages, File, Manifest};

const EXPORTERS: [Role; 2] = [Role::Supervisor, Role::Admin];

/// FHIR export parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FhirParams {
    /// 12-digit region code (county, township or village).
    pub region: String,
    /// Only what changed after this instant: pass the `transactionTime` of an earlier
    /// manifest (RFC 3339).
    pub since: Option<String>,
    /// Comma-separated resource types (default: all of them).
    pub types: Option<String>,
}

/// Starts a FHIR R4 bulk export: a manifest whose `output` lists one NDJSON file per
/// resource type (and, for a `since` export, `deleted`: Bundles of DELETE entries).
#[utoipa::path(get, path = "/api/v1/exports/fhir", tag = "exports", security(("bearer" = [])), params(FhirParams),
    responses(
        (status = 200, body = Manifest),
        (status = 400, description = "invalid_query (types, since)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "a doctor, or a region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn fhir_manifest(state: State, auth: Auth, q: web::Query<FhirParams>) -> Result<HttpResponse, AppError> {
    auth.require(&EXPORTERS)?;
    let q = q.into_inner();
    let caller = auth.clone();
    let (since, types) = (q.since.clone(), q.types.clone());
    let (export, position) = db::run(&state.report_pool, move |c| {
        let e = fhir::prepare(c, &caller, &q.region, q.since.as_deref(), q.types.as_deref())?;
        // The position the files will at least see, whichever pool serves them.
        Ok((e, fhir::head(c)?))
    })
    .await?;
    let now = crate::time::now_ms();
    let manifest = fhir::manifest(&export, since.as_deref(), types.as_deref(), now);
    let entry = audit::Entry::actor(&auth, fhir::MANIFEST_ACTION).at(now).detail(json!({
        "region": export.region, "since": since, "types": export.types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "position": position,
    }));
    db::run(&state.pool, move |c| audit::record(c, entry)).await?;
    Ok(HttpResponse::Ok().json(manifest))
}

/// One file of a FHIR export: `application/fhir+ndjson`, one resource per line, streamed
/// page by page (gzip with `Accept-Encoding: gzip`).
#[utoipa::path(get, path = "/api/v1/exports/fhir/{file}", tag = "exports", security(("bearer" = [])),
    params(("file" = String, Path, description = "`<ResourceType>.ndjson` or `deleted.ndjson`"), FhirParams),
    responses(
        (status = 200, description = "NDJSON, one FHIR R4 resource per line", content_type = "application/fhir+ndjson", body = String),
        (status = 400, description = "invalid_query (types, since)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "a doctor, or a region outside the caller's scope", body = ErrorBody),
        (status = 404, description = "no such file", body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn fhir_file(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: web::Query<FhirParams>,
) -> Result<HttpResponse, AppError> {
    auth.require(&EXPORTERS)?;
    let file = File::parse(&path.into_inner())?;
    let q = q.into_inner();
    let caller = auth.clone();
    let since = q.since.clone();
    let export = db::run(&state.report_pool, move |c| {
        fhir::prepare(c, &caller, &q.region, q.since.as_deref(), q.types.as_deref())
    })
    .await?;
    let entry = audit::Entry::actor(&auth, fhir::FILE_ACTION).detail(json!({
        "region": export.region, "file": file.name(), "since": since,
    }));
    db::run(&state.pool, move |c| audit::record_now(c, entry)).await?;
    let pool = state.report_pool.clone();
    let export = std::sync::Arc::new(export);
    let body = futures_util::stream::try_unfold(Some(pages::Cursor::default()), move |cursor| {
        let (pool, export) = (pool.clone(), export.clone());
        async move {
            let mut cursor = match cursor {
                Some(c) => c,
                None => return Ok::<_, AppError>(None),
            };
            // Pages without a line (a deletions stage with nothing asked) are skipped here,
            // so the stream yields only bytes or its end.
            loop {
                let e = export.clone();
                let page = db::run(&pool, move |c| pages::page(c, &e, file, &cursor)).await?;
                match page.next {
                    Some(next) if page.body.is_empty() => cursor = next,
                    next => return Ok(Some((Bytes::from(page.body), next))),
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/fhir+ndjson")
        .streaming(body))
}

/// DHIS2 data value parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DataValueParams {
    /// 12-digit region code (county or township; a village with `level=village`).
    pub region: String,
    /// DHIS2 period: `2026`, `202611` or `2026Q4`.
    pub period: String,
    /// `township` (default) or `village`.
    pub level: Option<OrgLevel>,
    /// `json` (default) or `csv` (DHIS2's CSV import format); `Accept: text/csv` also asks
    /// for CSV.
    pub format: Option<String>,
}

/// The coverage report's numerators and denominators as a DHIS2 `dataValueSets` payload
/// (`<indicator>_NUM` / `_DEN`, org units by region code; import with `idScheme=CODE`).
#[utoipa::path(get, path = "/api/v1/exports/dhis2/dataValueSets", tag = "exports", security(("bearer" = [])), params(DataValueParams),
    responses(
        (status = 200, body = DataValueSet, description = "JSON, or with format=csv / Accept: text/csv DHIS2's CSV import format"),
        (status = 400, description = "invalid_period, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "a doctor, or a region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn dhis2_data_values(
    state: State,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<DataValueParams>,
) -> Result<HttpResponse, AppError> {
    auth.require(&EXPORTERS)?;
    let q = q.into_inner();
    let csv = super::reports::wants_csv(&req, q.format.as_deref())?;
    let level = q.level.unwrap_or(OrgLevel::Township);
    let caller = auth.clone();
    let (region, period) = (q.region.clone(), q.period.clone());
    let set = db::run(&state.report_pool, move |c| {
        dhis2::data_values(c, &caller, &q.region, &q.period, level)
    })
    .await?;
    let entry = audit::Entry::actor(&auth, "dhis2_exported").detail(json!({
        "region": region, "period": period, "level": level, "values": set.data_values.len(),
        "format": if csv { "csv" } else { "json" },
    }));
    db::run(&state.pool, move |c| audit::record_now(c, entry)).await?;
    if csv {
        let name = format!("dhis2-{}-{}.csv", region, period);
        return Ok(super::reports::csv_response(dhis2::data_values_csv(&set)?, &name));
    }
    Ok(HttpResponse::Ok().json(set))
}

/// DHIS2 metadata parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MetadataParams {
    /// 12-digit region code.
    pub region: String,
}

/// What to import into DHIS2 first: org units (the region, the regions above it, and
/// everything under it), data elements, one data set per period type, and the rates as
/// DHIS2 indicators. UIDs are derived from codes, so a second import updates in place.
#[utoipa::path(get, path = "/api/v1/exports/dhis2/metadata", tag = "exports", security(("bearer" = [])), params(MetadataParams),
    responses(
        (status = 200, body = Metadata),
        (status = 400, description = "invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "a doctor, or a region outside the caller's scope", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_region_code", body = ErrorBody)))]
pub async fn dhis2_metadata(
    state: State,
    auth: Auth,
    q: web::Query<MetadataParams>,
) -> Result<web::Json<Metadata>, AppError> {
    auth.require(&EXPORTERS)?;
    let q = q.into_inner();
    Ok(web::Json(
        db::run(&state.report_pool, move |c| dhis2::metadata(c, &auth, &q.region)).await?,
    ))
}
