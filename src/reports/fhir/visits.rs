//! Visits as FHIR: the `Encounter` and the `Observation`s of its measurements, on the
//! vital-signs profiles with LOINC codes and UCUM units (docs/interop.md).

use serde_json::{json, Map, Value};

use super::resources::{health_centre_id, reference, system, township_of, ACT_CODE, LOINC, OBSERVATION_CATEGORY, UCUM};
use crate::time::fmt_instant;

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
}
