//! The FHIR R4 bulk export (docs/interop.md): a manifest in the manner of the Bulk Data
//! `$export` output, and one NDJSON file per resource type read page by page, so memory
//! stays one page whatever the county's size.
//!
//! `since` exports: every record row carries the change-log position of its last change
//! (`change_seq`). A manifest's `transactionTime` is remembered with the position it was
//! made at (its audit entry), so `since=<that transactionTime>` returns exactly the records
//! changed after it; positions commit in order (docs/architecture.md), so nothing
//! committed across the instant is skipped. Any other instant is read through the change
//! log's times, which can miss a change committed across it: pass a manifest's
//! `transactionTime`.

pub mod pages;
pub mod resources;
pub mod visits;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::coverage;
use crate::access::Caller;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{audit_log, ledger};

/// The audit action of a manifest; its `detail` keeps the position it was made at.
pub const MANIFEST_ACTION: &str = "fhir_export_started";
/// The audit action of a downloaded file.
pub const FILE_ACTION: &str = "fhir_export_downloaded";

/// The resource types exported, in the order of the manifest (referenced types first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// Regions.
    Location,
    /// Township health centres.
    Organization,
    /// Family-doctor teams.
    CareTeam,
    /// Questionnaire versions.
    Questionnaire,
    /// Residents.
    Patient,
    /// Contracts.
    CarePlan,
    /// Visits.
    Encounter,
    /// Visits' measurements.
    Observation,
    /// Survey responses.
    QuestionnaireResponse,
}

impl ResourceType {
    /// Every type, in manifest order.
    pub const ALL: [ResourceType; 9] = [
        ResourceType::Location,
        ResourceType::Organization,
        ResourceType::CareTeam,
        ResourceType::Questionnaire,
        ResourceType::Patient,
        ResourceType::CarePlan,
        ResourceType::Encounter,
        ResourceType::Observation,
        ResourceType::QuestionnaireResponse,
    ];

    /// FHIR's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Location => "Location",
            ResourceType::Organization => "Organization",
            ResourceType::CareTeam => "CareTeam",
            ResourceType::Questionnaire => "Questionnaire",
            ResourceType::Patient => "Patient",
            ResourceType::CarePlan => "CarePlan",
            ResourceType::Encounter => "Encounter",
            ResourceType::Observation => "Observation",
            ResourceType::QuestionnaireResponse => "QuestionnaireResponse",
        }
    }

    /// The type of a FHIR name.
    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What one export covers: the caller's region and, for a `since` export, the position
/// after which a change counts.
#[derive(Debug, Clone)]
pub struct Export {
    /// The region asked for.
    pub region: String,
    /// Its county.
    pub county: String,
    /// Lowest and highest village code of the region.
    pub lo: String,
    /// See `lo`.
    pub hi: String,
    /// Only records whose last change is after this position (`since` exports).
    pub after_position: Option<i64>,
    /// The types asked for, in manifest order.
    pub types: Vec<ResourceType>,
}

fn invalid_query(field: &str, message: &str) -> AppError {
    AppError::bad_request(Code::InvalidQuery, message.to_string()).with_field(field)
}

/// Checks the region against the caller's scope (another township's supervisor → 403),
/// reads `types` (comma-separated FHIR names; all by default) and resolves `since`.
pub fn prepare(
    conn: &mut DbConn,
    caller: &Caller,
    region: &str,
    since: Option<&str>,
    types: Option<&str>,
) -> Result<Export, AppError> {
    let reach = coverage::reach(conn, caller, region)?;
    let types = match types {
        None => ResourceType::ALL.to_vec(),
        Some(list) => {
            let mut asked = Vec::new();
            for name in list.split(',').map(str::trim) {
                let t = ResourceType::parse(name).ok_or_else(|| {
                    invalid_query(
                        "types",
                        "types lists FHIR resource types jiayi exports, e.g. Patient,Encounter",
                    )
                })?;
                asked.push(t);
            }
            ResourceType::ALL.into_iter().filter(|t| asked.contains(t)).collect()
        }
    };
    let county = reach.root.county_code.clone();
    let after_position = match since {
        None => None,
        Some(s) => Some(position_at(conn, &county, parse_instant(s)?)?),
    };
    let range = super::facts::CodeRange::prefix(region_prefix(&reach.root.code));
    Ok(Export {
        region: reach.root.code,
        county,
        lo: range.lo,
        hi: range.hi,
        after_position,
        types,
    })
}

fn region_prefix(code: &str) -> &str {
    if code.ends_with("000000") {
        &code[..6]
    } else if code.ends_with("000") {
        &code[..9]
    } else {
        code
    }
}

/// Reads an instant (RFC 3339 with an offset) into epoch milliseconds.
pub fn parse_instant(s: &str) -> Result<i64, AppError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            invalid_query(
                "since",
                "since is an instant with its offset, e.g. 2026-11-30T16:00:00.000Z",
            )
        })
}

/// The change-log position an export made at `at` ran at: the one its manifest's audit
/// entry remembers, else the last position before the first change at or after `at`.
fn position_at(conn: &mut DbConn, county: &str, at: i64) -> Result<i64, AppError> {
    let remembered: Vec<Option<String>> = audit_log::table
        .filter(audit_log::county_code.eq(county))
        .filter(audit_log::at.eq(at))
        .filter(audit_log::action.eq(MANIFEST_ACTION))
        .select(audit_log::detail)
        .load(conn)?;
    let positions: Vec<i64> = remembered
        .iter()
        .flatten()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok()?["position"].as_i64())
        .collect();
    if let Some(p) = positions.into_iter().min() {
        return Ok(p);
    }
    let first_after: Option<i64> = ledger::table
        .filter(ledger::county_code.eq(county))
        .filter(ledger::changed_at.ge(at))
        .select(diesel::dsl::min(ledger::seq))
        .first(conn)?;
    match first_after {
        Some(seq) => Ok(seq - 1),
        None => head(conn),
    }
}

/// The last committed change-log position.
pub fn head(conn: &mut DbConn) -> Result<i64, AppError> {
    let max: Option<i64> = ledger::table.select(diesel::dsl::max(ledger::seq)).first(conn)?;
    Ok(max.unwrap_or(0))
}

/// One file of the manifest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutputFile {
    /// The resource type (`Bundle` for the deletions).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where to download it (same authorisation).
    pub url: String,
}

/// The manifest, as the Bulk Data `$export` status answer shapes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// When the export was made; pass it as the next export's `since`.
    pub transaction_time: String,
    /// The request as made.
    pub request: String,
    /// True: the files need the same bearer token.
    pub requires_access_token: bool,
    /// One NDJSON file per resource type.
    pub output: Vec<OutputFile>,
    /// For a `since` export: the records deleted since, as Bundles of DELETE entries.
    pub deleted: Vec<OutputFile>,
    /// Always empty: a failure answers the error shape instead.
    pub error: Vec<OutputFile>,
}

fn query_string(e: &Export, since: Option<&str>, types: Option<&str>) -> String {
    let mut q = format!("region={}", e.region);
    for (k, v) in [("since", since), ("types", types)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", encode(v)));
        }
    }
    q
}

/// Percent-encodes a query value (instants carry `+` and `:`).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The manifest of an export made now, at change-log position `position`.
pub fn manifest(e: &Export, since: Option<&str>, types: Option<&str>, now: i64) -> Manifest {
    let base = "/api/v1/exports/fhir";
    let q = query_string(e, since, types);
    let output = e
        .types
        .iter()
        .map(|t| OutputFile {
            kind: t.as_str().to_string(),
            url: format!("{base}/{}.ndjson?{q}", t.as_str()),
        })
        .collect();
    let deleted = if e.after_position.is_some() {
        vec![OutputFile {
            kind: "Bundle".into(),
            url: format!("{base}/deleted.ndjson?{q}"),
        }]
    } else {
        Vec::new()
    };
    Manifest {
        transaction_time: crate::time::fmt_instant(now),
        request: format!("{base}?{q}"),
        requires_access_token: true,
        output,
        deleted,
        error: Vec::new(),
    }
}

/// What a file of the export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// The resources of one type.
    Resources(ResourceType),
    /// Deletions since `since`.
    Deleted,
}

impl File {
    /// `Patient.ndjson` → the Patient file, `deleted.ndjson` → the deletions.
    pub fn parse(name: &str) -> Result<File, AppError> {
        let stem = name
            .strip_suffix(".ndjson")
            .ok_or_else(|| AppError::not_found("export file"))?;
        if stem == "deleted" {
            return Ok(File::Deleted);
        }
        ResourceType::parse(stem)
            .map(File::Resources)
            .ok_or_else(|| AppError::not_found("export file"))
    }

    /// Its name in audit entries.
    pub fn name(self) -> &'static str {
        match self {
            File::Resources(t) => t.as_str(),
            File::Deleted => "deleted",
        }
    }
}
