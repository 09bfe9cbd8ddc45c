//! One resident's whole record for the console's resident page (docs/console.md): the
//! resident, their contracts with each status change, their visits, surveys and referrals
//! with the corrections made to them, and the audit trail of all of these — in the shapes a tablet
//! pulls them, masked for a reader outside the resident's team. Every read is audited
//! (`resident_viewed`): PIPL expects access to sensitive personal data to be logged.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::snapshot;
use crate::access::Caller;
use crate::db::DbConn;
use crate::domain::audit::{self, AuditView};
use crate::domain::resident::{self, ResidentView};
use crate::error::AppError;
use crate::schema::{audit_log, contracts, ledger, referrals, survey_responses, users, visits};

/// A change of a contract's status, from its audit trail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    /// The status it entered.
    pub status: String,
    /// The status it left (absent for the signing).
    pub from: Option<String>,
    /// Server time (RFC 3339).
    pub at: String,
    /// Clinical time on the tablet, if it was recorded there.
    pub clinical_at: Option<String>,
    /// Username of who made it (`review` decisions name the supervisor).
    pub by: Option<String>,
}

/// A contract with its status history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractRecord {
    /// The contract as pull sends it.
    #[schema(value_type = Object)]
    pub contract: serde_json::Value,
    /// Its status changes, oldest first.
    pub history: Vec<StatusChange>,
}

/// A visit or survey with the corrections that replaced it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AmendedRecord {
    /// The record as pull sends it.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    /// The records that amend it (each as pull sends it), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub amendments: Vec<serde_json::Value>,
}

/// `GET /api/v1/residents/{id}/record`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResidentRecord {
    /// The resident.
    pub resident: ResidentView,
    /// Contracts, oldest first.
    pub contracts: Vec<ContractRecord>,
    /// Visits that are not themselves corrections, newest first; corrections under each.
    pub visits: Vec<AmendedRecord>,
    /// Survey responses likewise.
    pub surveys: Vec<AmendedRecord>,
    /// Referrals likewise, each in its current state (newest referral first).
    pub referrals: Vec<AmendedRecord>,
    /// The audit trail of the resident and their records, newest first (at most 200).
    pub audit: Vec<AuditView>,
}

/// Most audit entries the page shows; the audit screen pages through the rest.
const AUDIT_LIMIT: usize = 200;

/// An audit entry with the username of who acted.
struct TrailEntry {
    by: Option<String>,
    view: AuditView,
}

/// Reads one resident's record in the caller's scope (404 outside it) and audits the read.
pub fn read(c: &mut DbConn, caller: &Caller, id: &str) -> Result<ResidentRecord, AppError> {
    let r = resident::find_visible(c, &caller.scope, id)?;
    let own_team = caller.role.is_team_member();
    let contract_ids: Vec<String> = contracts::table
        .filter(contracts::resident_id.eq(&r.id))
        .filter(contracts::deleted.eq(false))
        .order((contracts::created_at.asc(), contracts::id.asc()))
        .select(contracts::id)
        .load(c)?;
    let visit_ids: Vec<(String, i64)> = visits::table
        .filter(visits::resident_id.eq(&r.id))
        .filter(visits::deleted.eq(false))
        .order((visits::occurred_at.desc(), visits::id.desc()))
        .select((visits::id, visits::occurred_at))
        .load(c)?;
    let survey_ids: Vec<(String, i64)> = survey_responses::table
        .filter(survey_responses::resident_id.eq(&r.id))
        .filter(survey_responses::deleted.eq(false))
        .order((survey_responses::answered_at.desc(), survey_responses::id.desc()))
        .select((survey_responses::id, survey_responses::answered_at))
        .load(c)?;
    let referral_ids: Vec<(String, i64)> = referrals::table
        .filter(referrals::resident_id.eq(&r.id))
        .filter(referrals::deleted.eq(false))
        .order((referrals::referred_at.desc(), referrals::id.desc()))
        .select((referrals::id, referrals::referred_at))
        .load(c)?;

    let mut named: Vec<(&'static str, String)> = vec![("resident", r.id.clone())];
    named.extend(contract_ids.iter().map(|i| ("contract", i.clone())));
    named.extend(visit_ids.iter().map(|(i, _)| ("visit", i.clone())));
    named.extend(survey_ids.iter().map(|(i, _)| ("survey", i.clone())));
    named.extend(referral_ids.iter().map(|(i, _)| ("referral", i.clone())));
    let trail = trail_of(c, &caller.county_code, &named)?;

    let ids: Vec<&str> = contract_ids.iter().map(String::as_str).collect();
    let mut loaded = snapshot::load(c, "contract", &ids, own_team)?;
    let contracts = contract_ids
        .iter()
        .filter_map(|cid| loaded.remove(cid).map(|s| (cid, s)))
        .map(|(cid, s)| {
            Ok(ContractRecord {
                contract: s.value()?,
                history: history_of(&trail, cid),
            })
        })
        .collect::<Result<_, AppError>>()?;

    let visits = amended(c, "visit", &visit_ids, own_team)?;
    let surveys = amended(c, "survey", &survey_ids, own_team)?;
    let referrals = amended(c, "referral", &referral_ids, own_team)?;
    audit::record_now(
        c,
        audit::Entry::actor(caller, "resident_viewed").entity("resident", &r.id),
    )?;
    let audit = trail.into_iter().rev().take(AUDIT_LIMIT).map(|t| t.view).collect();
    Ok(ResidentRecord {
        resident: r.view(own_team),
        contracts,
        visits,
        surveys,
        referrals,
        audit,
    })
}

/// Groups visits or surveys under the record each corrects (`amends`), following chains
/// of corrections to the original.
fn amended(
    c: &mut DbConn,
    entity: &str,
    ids: &[(String, i64)],
    own_team: bool,
) -> Result<Vec<AmendedRecord>, AppError> {
    let refs: Vec<&str> = ids.iter().map(|(i, _)| i.as_str()).collect();
    let mut loaded = snapshot::load(c, entity, &refs, own_team)?;
    let data: Vec<(String, serde_json::Value)> = ids
        .iter()
        .filter_map(|(i, _)| loaded.remove(i).map(|s| (i.clone(), s)))
        .map(|(i, s)| s.value().map(|v| (i, v)))
        .collect::<Result<_, _>>()?;
    let amends_of = |v: &serde_json::Value| v.get("amends").and_then(|a| a.as_str()).map(str::to_string);
    let root_of = |id: &str| {
        let mut at = id.to_string();
        // A chain is at most as long as the resident's records; the bound stops a cycle.
        for _ in 0..=data.len() {
            match data.iter().find(|(i, _)| *i == at).and_then(|(_, v)| amends_of(v)) {
                Some(parent) if data.iter().any(|(i, _)| *i == parent) => at = parent,
                _ => break,
            }
        }
        at
    };
    let mut out: Vec<AmendedRecord> = data
        .iter()
        .filter(|(id, _)| root_of(id) == *id)
        .map(|(_, v)| AmendedRecord {
            record: v.clone(),
            amendments: Vec::new(),
        })
        .collect();
    // `data` is newest first; corrections go under their original oldest first.
    for (id, v) in data.iter().rev() {
        let root = root_of(id);
        if root != *id {
            if let Some(rec) = out
                .iter_mut()
                .find(|r| r.record.get("id").and_then(|x| x.as_str()) == Some(root.as_str()))
            {
                rec.amendments.push(v.clone());
            }
        }
    }
    Ok(out)
}

/// Audit entries naming any of `named`, oldest first, with the acting username.
fn trail_of(c: &mut DbConn, county: &str, named: &[(&'static str, String)]) -> Result<Vec<TrailEntry>, AppError> {
    let ids: Vec<&str> = named.iter().map(|(_, i)| i.as_str()).collect();
    let mut out = Vec::new();
    // Chunks keep the bound-parameter count within what SQLite takes.
    for chunk in ids.chunks(500) {
        let rows: Vec<(audit::ViewRow, Option<String>)> = audit_log::table
            .left_join(users::table.on(users::id.nullable().eq(audit_log::user_id)))
            .filter(audit_log::county_code.eq(county))
            .filter(audit_log::entity_id.eq_any(chunk))
            .select((audit::VIEW_COLUMNS, users::username.nullable()))
            .load(c)?;
        // An op's entry may stand on its ledger row instead.
        let carried: Vec<(audit::ViewRow, Option<String>)> = ledger::table
            .left_join(users::table.on(users::id.nullable().eq(ledger::user_id)))
            .filter(ledger::audit_id.is_not_null())
            .filter(ledger::county_code.eq(county))
            .filter(ledger::entity_id.eq_any(chunk))
            .select((crate::ledger_view_columns!(), users::username.nullable()))
            .load(c)?;
        for (row, username) in rows.into_iter().chain(carried) {
            let view = audit::view_of(row);
            let kind_matches = named
                .iter()
                .any(|(k, i)| Some(*k) == view.entity.as_deref() && Some(i.as_str()) == view.entity_id.as_deref());
            if kind_matches {
                out.push(TrailEntry { by: username, view });
            }
        }
    }
    // Entry ids are UUIDv7: their order is the order they were written in.
    out.sort_by(|a, b| a.view.id.cmp(&b.view.id));
    Ok(out)
}

/// A contract's status changes from its audit entries.
fn history_of(trail: &[TrailEntry], contract_id: &str) -> Vec<StatusChange> {
    trail
        .iter()
        .filter(|t| t.view.entity.as_deref() == Some("contract") && t.view.entity_id.as_deref() == Some(contract_id))
        .filter_map(|TrailEntry { by, view: v }| {
            let detail = v.detail.as_ref();
            let field = |k: &str| {
                detail
                    .and_then(|d| d.get(k))
                    .and_then(|x| x.as_str())
                    .map(str::to_string)
            };
            let status = match v.action.as_str() {
                "contract_transition" => field("to")?,
                "contract_created" => field("status")?,
                _ => return None,
            };
            Some(StatusChange {
                status,
                from: field("from"),
                at: v.at.clone(),
                clinical_at: v.clinical_at.clone(),
                by: by.clone(),
            })
        })
        .collect()
}
