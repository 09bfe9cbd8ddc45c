//! jiayi's records as FHIR R4 resources: pure functions from the rows the export reads
//! to JSON, one per resource. The mapping and the reasons for it are in docs/interop.md.

use serde_json::{json, Map, Value};

use crate::time::fmt_instant;

/// Base of the identifier systems, code systems and canonical URLs jiayi names.
pub const SYSTEM: &str = "urn:jiayi";

const UCUM: &str = "http://unitsofmeasure.org";
const LOINC: &str = "http://loinc.org";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";

fn system(kind: &str) -> String {
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

fn reference(kind: &str, id: &str) -> Value {
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
/// signed contract past its term is over whether or not a job has marked it.
pub fn care_plan_status(status: &str, effective_to: &str, today: &str) -> &'static str {
    match status {
        "DRAFT" => "draft",
        "PENDING_REVIEW" => "on-hold",
        "SIGNED" | "ACTIVE" if effective_to < today => "completed",
        "SIGNED" | "ACTIVE" => "active",
        "EXPIRED" | "RENEWED" => "completed",
        "TERMINATED" | "CANCELLED" => "revoked",
        "VOIDED" => "entered-in-error",
        _ => "unknown",
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

/// Systolic, diastolic, fasting glucose, weight, height, as the visit's columns hold them.
pub type Vitals = (Option<i32>, Option<i32>, Option<f64>, Option<f64>, Option<f64>);

/// What the export reads of a visit.
#[derive(Debug, Clone)]
pub struct VisitRow {
    /// Id.
    pub id: String,
    /// Resident.
    pub resident_id: String,
    /// Village (its township's health centre provides the service).
    pub village_code: String,
    /// Visit kind.
    pub kind: String,
    /// When (epoch ms, clinical).
    pub occurred_at: i64,
    /// Systolic, diastolic (mmHg), fasting glucose (mmol/L), weight (kg), height (cm):
    /// the columns reports read.
    pub vitals: Vitals,
    /// The measurements as recorded (JSON object): heart rate and waist are read here.
    pub measurements: String,
    /// The visit this one amends.
    pub amends: Option<String>,
    /// The visit that amended this one.
    pub amended_by: Option<String>,
}

impl VisitRow {
    fn status(&self) -> (&'static str, &'static str) {
        if self.amended_by.is_some() {
            ("entered-in-error", "entered-in-error")
        } else if self.amends.is_some() {
            ("finished", "amended")
        } else {
            ("finished", "final")
        }
    }
}

/// A visit as an `Encounter`. One superseded by an amendment is `entered-in-error`: jiayi
/// counts the amendment in its place.
pub fn encounter(v: &VisitRow) -> Value {
    let at = fmt_instant(v.occurred_at);
    let (class, display) = match v.kind.as_str() {
        "consultation" => ("AMB", "ambulatory"),
        _ => ("HH", "home health"),
    };
    json!({
        "resourceType": "Encounter",
        "id": v.id,
        "identifier": [{ "system": system("visit"), "value": v.id }],
        "status": v.status().0,
        "class": { "system": ACT_CODE, "code": class, "display": display },
        "type": [{ "coding": [{ "system": system("visit-kind"), "code": v.kind }] }],
        "subject": reference("Patient", &v.resident_id),
        "period": { "start": at, "end": at },
        "serviceProvider": reference("Organization", &health_centre_id(&township_of(&v.village_code))),
    })
}

struct Vital {
    suffix: &'static str,
    key: &'static str,
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    category: &'static str,
}

/// The single-value measurements and their codes (blood pressure is a panel, below).
const VITALS: [Vital; 5] = [
    Vital {
        suffix: "glu",
        key: "fasting_glucose",
        loinc: "14771-0",
        display: "Fasting glucose [Moles/volume] in Serum or Plasma",
        unit: "mmol/L",
        category: "laboratory",
    },
    Vital {
        suffix: "wt",
        key: "weight_kg",
        loinc: "29463-7",
        display: "Body weight",
        unit: "kg",
        category: "vital-signs",
    },
    Vital {
        suffix: "ht",
        key: "height_cm",
        loinc: "8302-2",
        display: "Body height",
        unit: "cm",
        category: "vital-signs",
    },
    Vital {
        suffix: "hr",
        key: "heart_rate",
        loinc: "8867-4",
        display: "Heart rate",
        unit: "/min",
        category: "vital-signs",
    },
    Vital {
        suffix: "waist",
        key: "waist_cm",
        loinc: "8280-0",
        display: "Waist Circumference at umbilicus by Tape measure",
        unit: "cm",
        category: "vital-signs",
    },
];

fn quantity(value: &Value, unit: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": unit })
}

fn observation_base(v: &VisitRow, suffix: &str, category: &str, loinc: &str, display: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("resourceType".into(), json!("Observation"));
    o.insert("id".into(), json!(format!("{}-{suffix}", v.id)));
    o.insert("status".into(), json!(v.status().1));
    o.insert(
        "category".into(),
        json!([{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": category }] }]),
    );
    o.insert(
        "code".into(),
        json!({ "coding": [{ "system": LOINC, "code": loinc, "display": display }], "text": display }),
    );
    o.insert("subject".into(), reference("Patient", &v.resident_id));
    o.insert("encounter".into(), reference("Encounter", &v.id));
    o.insert("effectiveDateTime".into(), json!(fmt_instant(v.occurred_at)));
    o
}

/// Ids of the `Observation`s a visit's measurements make (`<visit>-bp`, `-glu`, …).
pub fn observation_ids(v: &VisitRow) -> Vec<String> {
    observations(v)
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect()
}

/// A visit's measurements as `Observation`s on the vital-signs profiles: blood pressure as
/// the 85354-9 panel with systolic (8480-6) and diastolic (8462-4) components in mm[Hg].
pub fn observations(v: &VisitRow) -> Vec<Value> {
    let mut m: Map<String, Value> = serde_json::from_str(&v.measurements).unwrap_or_default();
    // The columns are what reports count: they win over the recorded JSON.
    let (systolic, diastolic, glucose, weight, height) = v.vitals;
    for (key, value) in [
        ("systolic", systolic.map(Value::from)),
        ("diastolic", diastolic.map(Value::from)),
        ("fasting_glucose", glucose.map(Value::from)),
        ("weight_kg", weight.map(Value::from)),
        ("height_cm", height.map(Value::from)),
    ] {
        if let Some(x) = value {
            m.insert(key.into(), x);
        }
    }
    let mut out = Vec::new();
    let (sys, dia) = (m.get("systolic"), m.get("diastolic"));
    if sys.is_some() || dia.is_some() {
        let mut o = observation_base(
            v,
            "bp",
            "vital-signs",
            "85354-9",
            "Blood pressure panel with all children optional",
        );
        let component = |loinc: &str, display: &str, value: Option<&Value>| {
            let mut c = json!({ "code": { "coding": [{ "system": LOINC, "code": loinc, "display": display }] } });
            match value {
                Some(x) => c["valueQuantity"] = quantity(x, "mm[Hg]"),
                None => {
                    c["dataAbsentReason"] = json!({ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed" }] })
                }
            }
            c
        };
        o.insert(
            "component".into(),
            json!([
                component("8480-6", "Systolic blood pressure", sys),
                component("8462-4", "Diastolic blood pressure", dia)
            ]),
        );
        out.push(Value::Object(o));
    }
    for vital in &VITALS {
        if let Some(x) = m.get(vital.key).filter(|x| x.is_number()) {
            let mut o = observation_base(v, vital.suffix, vital.category, vital.loinc, vital.display);
            o.insert("valueQuantity".into(), quantity(x, vital.unit));
            out.push(Value::Object(o));
        }
    }
    out
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

    const VILLAGE: &str = "431126100201";

    fn visit(measurements: &str) -> VisitRow {
        VisitRow {
            id: "0190a6c2-0000-7000-8000-000000000001".into(),
            resident_id: "r".into(),
            village_code: VILLAGE.into(),
            kind: "htn_followup".into(),
            occurred_at: 1_764_000_000_000,
            vitals: (None, None, None, None, None),
            measurements: measurements.into(),
            amends: None,
            amended_by: None,
        }
    }

    #[test]
    fn blood_pressure_is_a_panel_and_glucose_is_molar() {
        let obs = observations(&visit(r#"{"systolic":150,"diastolic":95,"fasting_glucose":7.2}"#));
        assert_eq!(obs.len(), 2);
        assert_eq!(obs[0]["code"]["coding"][0]["code"], "85354-9");
        assert_eq!(obs[0]["component"][0]["code"]["coding"][0]["code"], "8480-6");
        assert_eq!(obs[0]["component"][0]["valueQuantity"]["code"], "mm[Hg]");
        assert_eq!(obs[0]["component"][1]["valueQuantity"]["value"], 95);
        assert_eq!(obs[1]["code"]["coding"][0]["code"], "14771-0");
        assert_eq!(obs[1]["valueQuantity"]["unit"], "mmol/L");
        assert!(observations(&visit("{}")).is_empty());
        // The columns count when the JSON lacks them (rows written in bulk).
        let mut v = visit("{}");
        v.vitals = (Some(140), Some(90), None, Some(61.5), None);
        let ids: Vec<String> = observation_ids(&v)
            .into_iter()
            .map(|i| i[i.len() - 3..].to_string())
            .collect();
        assert_eq!(ids, ["-bp", "-wt"]);
    }

    #[test]
    fn contract_states_map_to_care_plan_states() {
        let today = "2026-12-03";
        assert_eq!(care_plan_status("SIGNED", "2027-01-01", today), "active");
        assert_eq!(care_plan_status("ACTIVE", "2026-12-02", today), "completed");
        assert_eq!(care_plan_status("VOIDED", "2027-01-01", today), "entered-in-error");
        assert_eq!(care_plan_status("TERMINATED", "2027-01-01", today), "revoked");
        assert_eq!(care_plan_status("DRAFT", "2027-01-01", today), "draft");
        assert_eq!(care_plan_status("PENDING_REVIEW", "2027-01-01", today), "on-hold");
    }

    #[test]
    fn questionnaire_ids_stay_distinct() {
        assert_eq!(questionnaire_id("satisfaction_2026", 2), "satisfaction-2026-v2");
        assert_ne!(questionnaire_id("a_b", 1), questionnaire_id("ab", 1));
    }
}
