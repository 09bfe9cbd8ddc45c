//! docs/sync-protocol.md's create table against the server: its fields are the pushed
//! schemas' of api-spec/openapi.json (a field without `?` is required there, and only
//! those), and each field left out in turn is refused when required and applied when not.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{contract_op, now_cst, resident_op, spawn_app, Session, TestApp};

const DOC: &str = include_str!("../../docs/sync-protocol.md");

fn fresh_id() -> Value {
    json!(Uuid::now_v7().to_string())
}

/// A field of a row of the create table: its name, whether it is marked optional (`?`),
/// and whether it is required only in some case ("(required when …)").
#[derive(Debug)]
struct DocField {
    name: String,
    optional: bool,
    conditional: bool,
}

/// The fields of an entity's row of §2's create table (`| entity | data |`).
fn create_table(entity: &str) -> Vec<DocField> {
    let section = &DOC[DOC.find("### Create").expect("a Create section")..];
    let row = section
        .lines()
        .find(|l| l.starts_with(&format!("| `{entity}` |")))
        .unwrap_or_else(|| panic!("the create table has no row for {entity}"));
    let cell = row
        .splitn(3, '|')
        .nth(2)
        .unwrap()
        .trim_end()
        .trim_end_matches('|')
        .trim();
    // Items are separated by commas outside parentheses.
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in cell.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&cell[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&cell[start..]);
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            let rest = item
                .strip_prefix('`')
                .unwrap_or_else(|| panic!("{entity}: {item:?} names no field"));
            let (name, after) = rest.split_once('`').unwrap();
            DocField {
                name: name.to_string(),
                optional: after.starts_with('?'),
                conditional: after.contains("(required when"),
            }
        })
        .collect()
}

fn schema_fields(entity: &str) -> (Vec<String>, Vec<String>) {
    let spec: Value =
        serde_json::from_str(include_str!("../../api-spec/openapi.json")).expect("api-spec/openapi.json is JSON");
    let (_, push, _) = jiayi::openapi::RECORD_SHAPES
        .iter()
        .find(|(e, _, _)| *e == entity)
        .unwrap();
    let schema = &spec["components"]["schemas"][*push];
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = match v {
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        n.sort();
        n
    };
    (names(&schema["properties"]), names(&schema["required"]))
}

const ENTITIES: &[&str] = &["resident", "contract", "visit", "survey", "not_signed", "referral"];

#[test]
fn the_create_table_and_the_pushed_schemas_name_the_same_fields_and_the_same_required_ones() {
    for entity in ENTITIES {
        let doc = create_table(entity);
        let mut all: Vec<String> = doc.iter().map(|f| f.name.clone()).collect();
        let mut required: Vec<String> = doc
            .iter()
            .filter(|f| !f.optional && !f.conditional)
            .map(|f| f.name.clone())
            .collect();
        all.sort();
        required.sort();
        let (props, req) = schema_fields(entity);
        assert_eq!(
            all, props,
            "{entity}: the create table's fields and the schema's properties"
        );
        assert_eq!(
            required, req,
            "{entity}: fields without `?` in the create table and the schema's required ones"
        );
        for f in doc.iter().filter(|f| f.conditional) {
            assert!(
                f.optional,
                "{entity}.{}: a field required only when … is marked `?`",
                f.name
            );
        }
    }
}

/// A valid create op of `entity` with every optional field the story can fill, for a
/// fresh resident of the team.
async fn full_create(app: &TestApp, s: &Session, entity: &str) -> Value {
    let village = app.villages(s).await[0].clone();
    let team = s.user["team_id"].as_str().unwrap().to_string();
    let (rid, mut rop) = resident_op(&village, "1950-05-05", 'M', &["hypertension"]);
    rop["data"]["household_id"] = json!(format!("hh-{}", Uuid::new_v4().simple()));
    if entity == "resident" {
        return rop;
    }
    let (cid, mut cop) = contract_op(&rid, &team, &["BASIC", "HTN"]);
    let (now, today) = now_cst();
    let year = today[..4].parse::<i32>().unwrap();
    cop["data"]["doctor_id"] = s.user["id"].clone();
    cop["data"]["effective_to"] = json!(format!("{}{}", year + 1, &today[4..]));
    cop["data"]["signature_sha256"] = json!(hex::encode(Sha256::digest(b"a drawn signature")));
    let prelude = if entity == "contract" {
        vec![rop]
    } else {
        vec![rop, cop.clone()]
    };
    let out = app.push(s, prelude).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{out}");
    }
    if entity == "contract" {
        return cop;
    }
    let data = match entity {
        "visit" => json!({ "resident_id": rid, "contract_id": cid, "kind": "htn_followup", "occurred_at": now,
                           "measurements": { "systolic": 128, "diastolic": 82 }, "notes": "复诊" }),
        "survey" => json!({ "resident_id": rid, "questionnaire": "satisfaction", "questionnaire_version": 1,
                            "answers": { "satisfaction": "satisfied", "awareness": "aware" }, "answered_at": now }),
        "not_signed" => json!({ "resident_id": rid, "reason": "away", "reason_text": "外出务工", "recorded_at": now }),
        "referral" => {
            json!({ "resident_id": rid, "direction": "up", "facility": { "name": "县人民医院", "code": "H01" },
                              "reason_code": "htn_uncontrolled", "reason_text": "血压控制不佳", "referred_at": now,
                              "contract_id": cid })
        }
        other => panic!("{other}"),
    };
    json!({ "op_id": fresh_id(), "entity": entity, "action": "create", "id": fresh_id(), "recorded_at": now,
            "data": data })
}

#[tokio::test]
async fn a_create_without_a_required_field_is_rejected_and_without_an_optional_one_is_applied() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    for entity in ENTITIES {
        let whole = full_create(&app, &s, entity).await;
        let out = app.push(&s, vec![whole.clone()]).await;
        assert_eq!(
            out["results"][0]["status"], "applied",
            "{entity} with every field: {out}"
        );
        for f in create_table(entity) {
            if f.conditional {
                continue;
            }
            let mut op = full_create(&app, &s, entity).await;
            op["data"].as_object_mut().unwrap().remove(&f.name);
            let out = app.push(&s, vec![op]).await;
            let r = &out["results"][0];
            if f.optional {
                assert_eq!(r["status"], "applied", "{entity} without the optional {}: {r}", f.name);
            } else {
                assert_eq!(r["status"], "rejected", "{entity} without the required {}: {r}", f.name);
                assert_eq!(r["error"]["field"], json!(f.name), "{entity} without {}: {r}", f.name);
            }
        }
    }
    // The conditional ones: a follow-up of hypertension needs its blood pressure, a signed
    // contract `signed_at`.
    let mut op = full_create(&app, &s, "visit").await;
    op["data"].as_object_mut().unwrap().remove("measurements");
    let out = app.push(&s, vec![op]).await;
    assert_eq!(out["results"][0]["error"]["code"], "missing_field", "{out}");
    assert_eq!(out["results"][0]["error"]["field"], "measurements.systolic", "{out}");
    let mut op = full_create(&app, &s, "contract").await;
    op["data"].as_object_mut().unwrap().remove("signed_at");
    let out = app.push(&s, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "rejected", "{out}");
    assert_eq!(out["results"][0]["error"]["field"], "signed_at", "{out}");
}
