//! jiayi's records as FHIR R4 resources: pure functions from the rows the export reads
//! to JSON, one per resource. The mapping and the reasons for it are in docs/interop.md.

use serde_json::{json, Map, Value};

pub use super::visits::{encounter, observation_ids, observations, VisitRow, Vitals};
use crate::time::fmt_instant;
use crate::vocabulary::ContractStatus;

/// Base of the identifier systems, code systems and canonical URLs jiayi names.
pub const SYSTEM: &str = "urn:jiayi";

pub(super) const UCUM: &str = "http://unitsofmeasure.org";
pub(super) const LOINC: &str = "http://loinc.org";
pub(super) const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub(super) const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";

pub(super) fn system(kind: &str) -> String {
    format!("{SYSTEM}:{kind}")
}

/// The township health centre (乡镇卫生院) of a township, as an `Organization` id.
pub fn health_centre_id(township_code: &str) -> String {
    format!("thc-{township_code}")
}

/// A township's code from any code under it.
pub fn township_of(code: &str) -> String {
    format!("{}000", &code[..9])
}

pub(super) fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

/// A region (county, township or village) as a `Location`, `partOf` the one above.
pub fn location(code: &str, name: &str, level: &str, parent: Option<&str>) -> Value {
    let mut v = json!({
        "resourceType": "Location",
        "id": code,
        "identifier": [{ "system": system("region"), "value": code }],
        "status": "active",
        "name": name,
        "mode": "instance",
        "physicalType": { "text": level },
    });
    if let Some(p) = parent {
        v["partOf"] = reference("Location", p);
    }
    v
}

/// A township's health centre.
pub fn organization(township_code: &str, township_name: &str) -> Value {
    json!({
        "resourceType": "Organization",
        "id": health_centre_id(township_code),
        "identifier": [{ "system": system("health-centre"), "value": township_code }],
        "active": true,
        "type": [{ "coding": [{ "system": ORGANIZATION_TYPE, "code": "prov", "display": "Healthcare Provider" }] }],
        "name": format!("{township_name}卫生院"),
    })
}

/// A family-doctor team.
pub fn care_team(id: &str, code: &str, name: &str, township_code: &str) -> Value {
    json!({
        "resourceType": "CareTeam",
        "id": id,
        "identifier": [{ "system": system("team"), "value": code }],
        "status": "active",
        "category": [{ "coding": [{ "system": system("care-team-category"), "code": "family-doctor-team", "display": "家庭医生团队" }] }],
        "name": name,
        "managingOrganization": [reference("Organization", &health_centre_id(township_code))],
    })
}

/// What the export reads of a resident.
#[derive(Debug, Clone)]
pub struct ResidentRow {
    /// Id.
    pub id: String,
    /// Village code.
    pub village_code: String,
    /// Name.
    pub name: String,
    /// `M` / `F`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// JSON array of key-population tags.
    pub tags: String,
    /// Village name, township name, county name.
    pub place: (String, String, String),
}

/// A resident as a `Patient`: no ID number (jiayi keeps only a keyed hash and a mask) and
/// no phone (exporters see only its mask); see docs/interop.md.
pub fn patient(r: &ResidentRow) -> Value {
    let county = format!("{}000000", &r.village_code[..6]);
    let township = township_of(&r.village_code);
    let tags: Vec<String> = serde_json::from_str(&r.tags).unwrap_or_default();
    let (village_name, township_name, county_name) = &r.place;
    let region_ext =
        |kind: &str, code: &str| json!({ "url": system(&format!("region-code-{kind}")), "valueCode": code });
    let mut v = json!({
        "resourceType": "Patient",
        "id": r.id,
        "identifier": [{ "use": "usual", "system": system("resident"), "value": r.id }],
        "active": true,
        "name": [{ "use": "official", "text": r.name }],
        "gender": match r.sex.as_str() { "M" => "male", "F" => "female", _ => "unknown" },
        "birthDate": r.birth_date,
        "address": [{
            "extension": [region_ext("village", &r.village_code), region_ext("township", &township), region_ext("county", &county)],
            "use": "home",
            "text": format!("{county_name}{township_name}{village_name}"),
            "line": [village_name],
            "city": township_name,
            "district": county_name,
            "country": "CN",
        }],
        "managingOrganization": reference("Organization", &health_centre_id(&township)),
    });
    if !tags.is_empty() {
        v["meta"] = json!({ "tag": tags.iter().map(|t| json!({ "system": system("key-population"), "code": t })).collect::<Vec<_>>() });
    }
    v
}

/// A contract's package, at the price it was signed at.
#[derive(Debug, Clone)]
pub struct PackageRow {
    /// Catalog code.
    pub code: String,
    /// Name (the catalog's).
    pub name: String,
    /// Price, fen.
    pub price_fen: i64,
    /// Resident's share, fen.
    pub self_pay_fen: i64,
}

/// What the export reads of a contract.
#[derive(Debug, Clone)]
pub struct ContractRow {
    /// Id.
    pub id: String,
    /// Resident.
    pub resident_id: String,
    /// Team.
    pub team_id: String,
    /// jiayi's status.
    pub status: String,
    /// Signed (epoch ms).
    pub signed_at: Option<i64>,
    /// First day.
    pub effective_from: String,
    /// Last day of the term.
    pub effective_to: String,
    /// Ended early on.
    pub ended_on: Option<String>,
    /// Packages.
    pub packages: Vec<PackageRow>,
}

/// `CarePlan.status` for a contract status; `today` is the service calendar's date, since a
/// signed contract past its term is over whether or not a job has marked it. A stored
/// status the server does not know maps to FHIR's own `unknown`, as it always has: the
/// export describes what is there rather than failing on one row.
pub fn care_plan_status(status: &str, effective_to: &str, today: &str) -> &'static str {
    use ContractStatus::*;
    let Some(status) = ContractStatus::parse(status) else {
        return "unknown";
    };
    match status {
        Draft => "draft",
        PendingReview => "on-hold",
        Signed | Active if effective_to < today => "completed",
        Signed | Active => "active",
        Expired | Renewed => "completed",
        Terminated | Cancelled => "revoked",
        Voided => "entered-in-error",
    }
}

fn activity_status(plan: &str) -> &'static str {
    match plan {
        "draft" | "on-hold" => "not-started",
        "active" => "in-progress",
        "completed" => "completed",
        "revoked" => "cancelled",
        "entered-in-error" => "entered-in-error",
        _ => "unknown",
    }
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// A contract as a `CarePlan` of category family-doctor contract service.
pub fn care_plan(c: &ContractRow, today: &str) -> Value {
    let status = care_plan_status(&c.status, &c.effective_to, today);
    let end = c.ended_on.as_deref().unwrap_or(&c.effective_to);
    let activities: Vec<Value> = c
        .packages
        .iter()
        .map(|p| {
            json!({ "detail": {
                "code": { "coding": [{ "system": system("service-package"), "code": p.code, "display": p.name }], "text": p.name },
                "status": activity_status(status),
                "description": format!("¥{}，个人自付 ¥{}", yuan(p.price_fen), yuan(p.self_pay_fen)),
            }})
        })
        .collect();
    let mut v = json!({
        "resourceType": "CarePlan",
        "id": c.id,
        "identifier": [{ "system": system("contract"), "value": c.id }],
        "status": status,
        "intent": "plan",
        "category": [{ "coding": [{ "system": system("care-plan-category"), "code": "family-doctor-contract", "display": "家庭医生签约服务" }] }],
        "title": "家庭医生签约服务协议",
        "subject": reference("Patient", &c.resident_id),
        "period": { "start": c.effective_from, "end": end },
        "author": reference("CareTeam", &c.team_id),
        "careTeam": [reference("CareTeam", &c.team_id)],
        "note": [{ "text": format!("jiayi status {}", c.status) }],
    });
    if let Some(at) = c.signed_at {
        v["created"] = json!(fmt_instant(at));
    }
    if !activities.is_empty() {
        v["activity"] = Value::Array(activities);
    }
    v
}

/// What the export reads of a questionnaire version.
#[derive(Debug, Clone)]
pub struct QuestionnaireRow {
    /// Code.
    pub code: String,
    /// Version.
    pub version: i32,
    /// Title.
    pub title: String,
    /// The definition (JSON: items with code, text, options, option_texts).
    pub definition: String,
    /// Created (server, epoch ms).
    pub created_at: i64,
}

/// A questionnaire version's resource id: codes are lower case, digits and `_`, so `_` →
/// `-` keeps ids distinct and valid.
pub fn questionnaire_id(code: &str, version: i32) -> String {
    format!("{}-v{version}", code.replace('_', "-"))
}

/// The canonical URL a response names its questionnaire by.
pub fn questionnaire_url(code: &str) -> String {
    system(&format!("questionnaire:{code}"))
}

/// A questionnaire version as a `Questionnaire` (each item a choice).
pub fn questionnaire(q: &QuestionnaireRow) -> Value {
    let def: Value = serde_json::from_str(&q.definition).unwrap_or(Value::Null);
    let items: Vec<Value> = def["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let options: Vec<Value> = i["options"]
                        .as_array()
                        .map(|os| {
                            os.iter()
                                .map(|o| {
                                    let code = o.as_str().unwrap_or_default();
                                    let mut coding = json!({ "system": system(&format!("questionnaire:{}:{}", q.code, i["code"].as_str().unwrap_or_default())), "code": code });
                                    if let Some(label) = i["option_texts"][code].as_str() {
                                        coding["display"] = json!(label);
                                    }
                                    json!({ "valueCoding": coding })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({ "linkId": i["code"], "text": i["text"], "type": "choice", "answerOption": options })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "resourceType": "Questionnaire",
        "id": questionnaire_id(&q.code, q.version),
        "url": questionnaire_url(&q.code),
        "version": q.version.to_string(),
        "name": q.code,
        "title": q.title,
        "status": "active",
        "date": fmt_instant(q.created_at),
        "subjectType": ["Patient"],
        "item": items,
    })
}

/// What the export reads of a survey response.
#[derive(Debug, Clone)]
pub struct SurveyRow {
    /// Id.
    pub id: String,
    /// Resident.
    pub resident_id: String,
    /// Questionnaire code.
    pub questionnaire: String,
    /// Its version.
    pub questionnaire_version: i32,
    /// Item code → option code (JSON object).
    pub answers: String,
    /// Answered (epoch ms, clinical).
    pub answered_at: i64,
    /// The response this one amends.
    pub amends: Option<String>,
    /// The response that amended this one.
    pub amended_by: Option<String>,
}

/// A survey response as a `QuestionnaireResponse`; superseded ones are `entered-in-error`,
/// amendments `amended`.
pub fn questionnaire_response(s: &SurveyRow) -> Value {
    let answers: Map<String, Value> = serde_json::from_str(&s.answers).unwrap_or_default();
    let items: Vec<Value> = answers
        .iter()
        .map(|(item, option)| {
            json!({ "linkId": item, "answer": [{ "valueCoding": {
                "system": system(&format!("questionnaire:{}:{item}", s.questionnaire)),
                "code": option.as_str().unwrap_or_default() } }] })
        })
        .collect();
    let status = if s.amended_by.is_some() {
        "entered-in-error"
    } else if s.amends.is_some() {
        "amended"
    } else {
        "completed"
    };
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": s.id,
        "identifier": { "system": system("survey"), "value": s.id },
        "questionnaire": format!("{}|{}", questionnaire_url(&s.questionnaire), s.questionnaire_version),
        "status": status,
        "subject": reference("Patient", &s.resident_id),
        "authored": fmt_instant(s.answered_at),
        "item": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_states_map_to_care_plan_states() {
        let today = "2026-12-03";
        assert_eq!(care_plan_status("SIGNED", "2027-01-01", today), "active");
        assert_eq!(care_plan_status("ACTIVE", "2026-12-02", today), "completed");
        assert_eq!(care_plan_status("VOIDED", "2027-01-01", today), "entered-in-error");
        assert_eq!(care_plan_status("TERMINATED", "2027-01-01", today), "revoked");
        assert_eq!(care_plan_status("DRAFT", "2027-01-01", today), "draft");
        assert_eq!(care_plan_status("PENDING_REVIEW", "2027-01-01", today), "on-hold");
        assert_eq!(care_plan_status("SUSPENDED", "2027-01-01", today), "unknown");
    }

    #[test]
    fn questionnaire_ids_stay_distinct() {
        assert_eq!(questionnaire_id("satisfaction_2026", 2), "satisfaction-2026-v2");
        assert_ne!(questionnaire_id("a_b", 1), questionnaire_id("ab", 1));
    }
}
