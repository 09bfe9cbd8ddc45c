//! Entities as tablets receive them, loaded in batches: what pull and bootstrap send.

use std::collections::HashMap;

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::domain::contract::Contract;
use crate::domain::resident::Resident;
use crate::error::AppError;
use crate::schema::{contract_packages, contracts, not_signed, referrals, residents, survey_responses, visits};
use crate::vocabulary::Entity;

/// Entity kinds in the order bootstrap sends them (parents before children).
pub const ENTITIES: [&str; 6] = [
    Entity::Resident.as_str(),
    Entity::Contract.as_str(),
    Entity::Visit.as_str(),
    Entity::Survey.as_str(),
    Entity::NotSigned.as_str(),
    Entity::Referral.as_str(),
];

/// One entity's current state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Server version.
    pub version: i64,
    /// A tombstone.
    pub deleted: bool,
    /// Where it lives now (decides who may see it).
    pub village_code: String,
    /// Its wire fields, serialised once: pull and bootstrap send them as they are.
    pub data: Box<serde_json::value::RawValue>,
    /// A resident merged into another record: the survivor's id.
    pub merged_into: Option<String>,
}

impl Snapshot {
    /// The state of a record that is never merged into another (everything but residents).
    fn unmerged(version: i64, deleted: bool, village_code: String, data: Box<serde_json::value::RawValue>) -> Self {
        Snapshot {
            version,
            deleted,
            village_code,
            data,
            merged_into: None,
        }
    }

    /// The wire fields as a JSON value, for a reader that looks into them.
    pub fn value(&self) -> Result<serde_json::Value, AppError> {
        serde_json::from_str(self.data.get()).map_err(AppError::internal)
    }
}

/// A visit as pull and bootstrap send it (`data` of a `visit` change).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VisitPulled {
    /// The visit's id.
    pub id: String,
    /// The resident visited.
    pub resident_id: String,
    /// The contract the visit was made under, if the tablet named one.
    pub contract_id: Option<String>,
    /// Visit kind (docs/sync-protocol.md, "Enumerated values").
    pub kind: String,
    /// When it took place: the pushed instant, in UTC (`…Z`).
    pub occurred_at: String,
    /// The measurements taken; those not taken are absent.
    pub measurements: crate::domain::visit::Measurements,
    /// Free-text notes.
    pub notes: Option<String>,
    /// The visit this one corrects.
    pub amends: Option<String>,
    /// The correction that replaced this visit.
    pub amended_by: Option<String>,
    /// Server version.
    pub version: i64,
}

/// A survey response as pull and bootstrap send it (`data` of a `survey` change).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SurveyPulled {
    /// The response's id.
    pub id: String,
    /// The resident who answered.
    pub resident_id: String,
    /// Questionnaire code.
    pub questionnaire: String,
    /// The questionnaire version the resident was shown.
    pub questionnaire_version: i32,
    /// Item code → option code.
    pub answers: BTreeMap<String, String>,
    /// When it was answered: the pushed instant, in UTC (`…Z`).
    pub answered_at: String,
    /// The response this one corrects.
    pub amends: Option<String>,
    /// The correction that replaced this response.
    pub amended_by: Option<String>,
    /// Server version.
    pub version: i64,
}

/// A not-signed record as pull and bootstrap send it (`data` of a `not_signed` change).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotSignedPulled {
    /// The record's id.
    pub id: String,
    /// The resident who did not sign.
    pub resident_id: String,
    /// Why (docs/sync-protocol.md, "Enumerated values").
    pub reason: String,
    /// The reason in words (given for `other`).
    pub reason_text: Option<String>,
    /// When it was recorded: the pushed instant, in UTC (`…Z`).
    pub recorded_at: String,
    /// Server version.
    pub version: i64,
}

/// A referral as pull and bootstrap send it (`data` of a `referral` change).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReferralPulled {
    /// The referral's id.
    pub id: String,
    /// The resident referred.
    pub resident_id: String,
    /// `up` or `down`.
    pub direction: String,
    /// The other facility.
    pub facility: crate::domain::referral::Facility,
    /// Reason code.
    pub reason_code: Option<String>,
    /// The reason in words.
    pub reason_text: Option<String>,
    /// When it was made: the pushed instant, in UTC (`…Z`).
    pub referred_at: String,
    /// The visit it came from.
    pub visit_id: Option<String>,
    /// The contract it is served under.
    pub contract_id: Option<String>,
    /// `SENT`, `RECEIVED`, `RETURNED`, `CLOSED` or `CANCELLED`.
    pub status: String,
    /// When the receiving side confirmed, in UTC.
    pub received_at: Option<String>,
    /// When it was returned, closed or cancelled, in UTC.
    pub ended_at: Option<String>,
    /// The return summary.
    pub summary: Option<String>,
    /// The referral this one corrects.
    pub amends: Option<String>,
    /// The correction that replaced this one.
    pub amended_by: Option<String>,
    /// Server version.
    pub version: i64,
}

impl From<crate::domain::referral::Referral> for ReferralPulled {
    fn from(r: crate::domain::referral::Referral) -> ReferralPulled {
        use crate::time::fmt_instant;
        ReferralPulled {
            id: r.id,
            resident_id: r.resident_id,
            direction: r.direction,
            facility: crate::domain::referral::Facility {
                name: r.facility_name,
                code: r.facility_code,
            },
            reason_code: r.reason_code,
            reason_text: r.reason_text,
            referred_at: fmt_instant(r.referred_at),
            visit_id: r.visit_id,
            contract_id: r.contract_id,
            status: r.status,
            received_at: r.received_at.map(fmt_instant),
            ended_at: r.ended_at.map(fmt_instant),
            summary: r.summary,
            amends: r.amends,
            amended_by: r.amended_by,
            version: r.version,
        }
    }
}

/// A record's wire fields written straight to JSON text, without building a
/// `serde_json::Value` of them first (most of a pull page's time went there).
fn to_json<T: Serialize>(v: T) -> Result<Box<serde_json::value::RawValue>, AppError> {
    serde_json::value::to_raw_value(&v).map_err(AppError::internal)
}

/// Loads the entities of one kind by id. `own_team` shows phone numbers in full.
pub fn load(
    conn: &mut DbConn,
    entity: &str,
    ids: &[&str],
    own_team: bool,
) -> Result<HashMap<String, Snapshot>, AppError> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    match entity {
        "resident" => {
            let list: Vec<Resident> = residents::table
                .filter(residents::id.eq_any(ids))
                .select(Resident::as_select())
                .load(conn)?;
            for r in list {
                let snap = Snapshot {
                    version: r.version,
                    deleted: r.deleted,
                    village_code: r.village_code.clone(),
                    data: to_json(r.view(own_team))?,
                    merged_into: r.merged_into.clone(),
                };
                out.insert(r.id, snap);
            }
        }
        "contract" => {
            let list: Vec<Contract> = contracts::table
                .filter(contracts::id.eq_any(ids))
                .select(Contract::as_select())
                .load(conn)?;
            let mut packages: HashMap<String, Vec<String>> = HashMap::new();
            let rows: Vec<(String, String)> = contract_packages::table
                .filter(contract_packages::contract_id.eq_any(ids))
                .order((contract_packages::contract_id, contract_packages::package_code))
                .select((contract_packages::contract_id, contract_packages::package_code))
                .load(conn)?;
            for (c, p) in rows {
                packages.entry(c).or_default().push(p);
            }
            for c in list {
                let p = packages.remove(&c.id).unwrap_or_default();
                let snap = Snapshot::unmerged(c.version, c.deleted, c.village_code.clone(), to_json(c.view(p)?)?);
                out.insert(c.id, snap);
            }
        }
        "visit" => {
            type V = (
                String,
                String,
                i64,
                bool,
                String,
                Option<String>,
                String,
                i64,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let list: Vec<V> = visits::table
                .filter(visits::id.eq_any(ids))
                .select((
                    visits::id,
                    visits::village_code,
                    visits::version,
                    visits::deleted,
                    visits::resident_id,
                    visits::contract_id,
                    visits::kind,
                    visits::occurred_at,
                    visits::measurements,
                    visits::notes,
                    visits::amends,
                    visits::amended_by,
                ))
                .load(conn)?;
            for (id, village, version, deleted, resident_id, contract_id, kind, at, m, notes, amends, amended_by) in
                list
            {
                let data = to_json(VisitPulled {
                    id: id.clone(),
                    resident_id,
                    contract_id,
                    kind,
                    occurred_at: crate::time::fmt_instant(at),
                    measurements: serde_json::from_str(&m).unwrap_or_default(),
                    notes,
                    amends,
                    amended_by,
                    version,
                })?;
                out.insert(id, Snapshot::unmerged(version, deleted, village, data));
            }
        }
        "survey" => {
            type S = (
                String,
                String,
                i64,
                bool,
                String,
                String,
                i32,
                String,
                i64,
                Option<String>,
                Option<String>,
            );
            let list: Vec<S> = survey_responses::table
                .filter(survey_responses::id.eq_any(ids))
                .select((
                    survey_responses::id,
                    survey_responses::village_code,
                    survey_responses::version,
                    survey_responses::deleted,
                    survey_responses::resident_id,
                    survey_responses::questionnaire,
                    survey_responses::questionnaire_version,
                    survey_responses::answers,
                    survey_responses::answered_at,
                    survey_responses::amends,
                    survey_responses::amended_by,
                ))
                .load(conn)?;
            for (id, village, version, deleted, resident_id, q, qv, answers, at, amends, amended_by) in list {
                let data = to_json(SurveyPulled {
                    id: id.clone(),
                    resident_id,
                    questionnaire: q,
                    questionnaire_version: qv,
                    answers: serde_json::from_str(&answers).unwrap_or_default(),
                    answered_at: crate::time::fmt_instant(at),
                    amends,
                    amended_by,
                    version,
                })?;
                out.insert(id, Snapshot::unmerged(version, deleted, village, data));
            }
        }
        "not_signed" => {
            type N = (String, String, i64, bool, String, String, Option<String>, i64);
            let list: Vec<N> = not_signed::table
                .filter(not_signed::id.eq_any(ids))
                .select((
                    not_signed::id,
                    not_signed::village_code,
                    not_signed::version,
                    not_signed::deleted,
                    not_signed::resident_id,
                    not_signed::reason,
                    not_signed::reason_text,
                    not_signed::recorded_at,
                ))
                .load(conn)?;
            for (id, village, version, deleted, resident_id, reason, text, at) in list {
                let data = to_json(NotSignedPulled {
                    id: id.clone(),
                    resident_id,
                    reason,
                    reason_text: text,
                    recorded_at: crate::time::fmt_instant(at),
                    version,
                })?;
                out.insert(id, Snapshot::unmerged(version, deleted, village, data));
            }
        }
        "referral" => {
            use crate::domain::referral::Referral;
            let list: Vec<Referral> = referrals::table
                .filter(referrals::id.eq_any(ids))
                .select(Referral::as_select())
                .load(conn)?;
            for r in list {
                let (id, version, deleted, village) = (r.id.clone(), r.version, r.deleted, r.village_code.clone());
                let data = to_json(ReferralPulled::from(r))?;
                out.insert(id, Snapshot::unmerged(version, deleted, village, data));
            }
        }
        _ => {}
    }
    Ok(out)
}
