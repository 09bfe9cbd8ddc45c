//! Real push, pull and bootstrap answers against the schemas of api-spec/openapi.json: a
//! scenario with every entity, a contract's transitions, amendments, a delete and a merge
//! tombstone, each record checked against its own entity's pushed and pulled schema.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{contract_op, id_number, now_cst, resident_op, spawn_app, Op, Session, TestApp};
use jiayi::openapi::RECORD_SHAPES;

/// Validates instances against one component schema of the committed OpenAPI document,
/// its `$ref`s resolved inside that document (JSON Schema 2020-12, as OpenAPI 3.1 is).
struct Schemas {
    doc: Value,
}

impl Schemas {
    fn load() -> Schemas {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.json")).unwrap();
        Schemas {
            doc: serde_json::from_str(&text).unwrap(),
        }
    }

    /// The problems of `instance` as a `name`; none when it fits.
    fn problems(&self, name: &str, instance: &Value) -> Vec<String> {
        assert!(
            self.doc["components"]["schemas"][name].is_object(),
            "api-spec/openapi.json has no schema {name}"
        );
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{name}"),
            "components": self.doc["components"],
        });
        let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
        validator
            .iter_errors(instance)
            .map(|e| format!("{name} at {}: {e}", e.instance_path))
            .collect()
    }

    fn check(&self, name: &str, instance: &Value, problems: &mut Vec<String>) {
        problems.extend(self.problems(name, instance));
    }
}

fn shape(entity: &str) -> (&'static str, &'static str) {
    let (_, push, pulled) = RECORD_SHAPES
        .iter()
        .find(|(e, _, _)| *e == entity)
        .unwrap_or_else(|| panic!("no schemas for {entity}"));
    (push, pulled)
}

async fn push_checked(
    app: &TestApp,
    s: &Session,
    ops: Vec<Value>,
    schemas: &Schemas,
    problems: &mut Vec<String>,
) -> Vec<Value> {
    let body = json!({ "device_id": s.device_id, "ops": ops });
    schemas.check("PushRequest", &body, problems);
    for o in &ops {
        schemas.check("PushOp", o, problems);
        let (entity, action) = (o["entity"].as_str().unwrap(), o["action"].as_str().unwrap());
        let name = match (entity, action) {
            (_, "delete") | ("resident", "update") => continue,
            ("contract", "transition") => "ContractTransitionPush",
            ("referral", "transition") => "ReferralTransitionPush",
            (e, _) => shape(e).0,
        };
        schemas.check(name, &o["data"], problems);
    }
    let results = push_results(app, s, &ops, schemas, problems).await;
    for r in &results {
        assert!(
            ["applied", "conflict"].contains(&r["status"].as_str().unwrap()),
            "refused: {r}"
        );
    }
    results
}

/// Pushes `ops` as they are and checks the answer, and each result on its own against
/// `OpResult`; returns the results.
async fn push_results(
    app: &TestApp,
    s: &Session,
    ops: &[Value],
    schemas: &Schemas,
    problems: &mut Vec<String>,
) -> Vec<Value> {
    let res = app
        .post(s, "/api/v1/sync/push", &json!({ "device_id": s.device_id, "ops": ops }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = res.json().await.unwrap();
    schemas.check("PushResponse", &out, problems);
    let results = out["results"].as_array().unwrap().clone();
    for r in &results {
        schemas.check("OpResult", r, problems);
    }
    results
}

/// Checks one pulled change against `PulledChange` and its entity's pulled schema.
fn check_change(schemas: &Schemas, c: &Value, problems: &mut Vec<String>) {
    schemas.check("PulledChange", c, problems);
    if c["deleted"] == false {
        let entity = c["entity"].as_str().unwrap();
        schemas.check(shape(entity).1, &c["data"], problems);
        // Only the entity's own schema fits: the pulled shapes are told apart.
        for (other, _, pulled) in RECORD_SHAPES {
            if other != entity && schemas.problems(pulled, &c["data"]).is_empty() {
                problems.push(format!("a {entity} also fits {pulled}: {c}"));
            }
        }
    }
}

async fn pulled(app: &TestApp, s: &Session, cursor: &str, schemas: &Schemas, problems: &mut Vec<String>) -> Vec<Value> {
    let mut cursor = cursor.to_string();
    let mut out = Vec::new();
    loop {
        let res = app.get(s, &format!("/api/v1/sync/pull?cursor={cursor}&limit=3")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        schemas.check("PullResponse", &page, problems);
        for c in page["changes"].as_array().unwrap() {
            check_change(schemas, c, problems);
            out.push(c.clone());
        }
        cursor = page["cursor"].as_str().unwrap().to_string();
        if page["has_more"] == false {
            return out;
        }
    }
}

async fn bootstrapped(
    app: &TestApp,
    s: &Session,
    schemas: &Schemas,
    problems: &mut Vec<String>,
) -> (Vec<Value>, String) {
    let mut records = Vec::new();
    let mut path = "/api/v1/sync/bootstrap?limit=3".to_string();
    loop {
        let res = app.get(s, &path).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        schemas.check("BootstrapPage", &page, problems);
        for r in page["records"].as_array().unwrap() {
            check_change(schemas, r, problems);
            records.push(r.clone());
        }
        match page["next_page"].as_str() {
            Some(next) => path = format!("/api/v1/sync/bootstrap?limit=3&page={next}"),
            None => {
                let questionnaires = page["questionnaires"]
                    .as_array()
                    .expect("questionnaires on the last page");
                for q in questionnaires {
                    schemas.check("QuestionnaireView", q, problems);
                }
                // The seeded version carries the labels a tablet shows for its options.
                let seeded = questionnaires
                    .iter()
                    .find(|q| q["code"] == "satisfaction" && q["version"] == 1)
                    .expect("the seeded questionnaire");
                assert_eq!(
                    seeded["definition"]["items"][0]["option_texts"]["basically_satisfied"],
                    "基本满意"
                );
                assert_eq!(seeded["definition"]["items"][1]["option_texts"]["unaware"], "不知道");
                return (records, page["cursor"].as_str().unwrap().to_string());
            }
        }
    }
}

#[tokio::test]
async fn pushed_pulled_and_bootstrapped_records_fit_their_entitys_schemas() {
    let schemas = Schemas::load();
    let mut problems = Vec::new();
    let app = spawn_app().await;
    let (d1, d2, sup) = (
        app.login("doctor1").await,
        app.login("doctor2").await,
        app.login("supervisor1").await,
    );
    let (_, cursor1) = bootstrapped(&app, &d1, &schemas, &mut problems).await;
    let (_, cursor2) = bootstrapped(&app, &d2, &schemas, &mut problems).await;
    let v1 = app.villages(&d1).await[0].clone();
    let v2 = app.villages(&d2).await[0].clone();
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let (now, today) = now_cst();

    // Residents, one edited; a contract signed, one drafted and cancelled, one terminated.
    let (r1, r1op) = resident_op(&v1, "1950-06-01", 'F', &["hypertension"]);
    let (r2, r2op) = resident_op(&v1, "2021-02-02", 'M', &[]);
    let (c1, c1op) = contract_op(&r1, &team, &["BASIC", "HTN"]);
    let (c2, c2op) = contract_op(&r2, &team, &["BASIC"]);
    let c3 = Uuid::now_v7().to_string();
    let draft = json!({ "resident_id": r2, "team_id": team, "packages": ["BASIC"], "status": "DRAFT",
                        "effective_from": today });
    let c3op = Op::contract_create(&c3, draft).build();
    push_checked(&app, &d1, vec![r1op, r2op, c1op, c2op, c3op], &schemas, &mut problems).await;
    let edit = Op::resident_update(&r1, json!({ "phone": "13900000001" }))
        .base_version(1)
        .recorded_at(&now)
        .build();
    let terminate =
        Op::contract_transition(&c2, json!({ "to": "TERMINATED", "reason": "moved_away", "at": now })).build();
    let cancel = Op::contract_transition(&c3, json!({ "to": "CANCELLED", "at": now })).build();
    // A visit amended, another deleted; a survey amended; a not-signed record.
    let (v1id, v2id, s1id, s2id, n1id) = (
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
    );
    let visit = |amends: Option<&str>, systolic: i32| {
        json!({ "resident_id": r1, "contract_id": c1, "kind": "htn_followup", "occurred_at": now,
                "measurements": { "systolic": systolic, "diastolic": 85, "weight_kg": 61.5 },
                "notes": "复查", "amends": amends })
    };
    let survey = |amends: Option<&str>, answer: &str| {
        json!({ "resident_id": r1, "questionnaire": "satisfaction", "questionnaire_version": 1,
                "answers": { "satisfaction": answer, "awareness": "aware" }, "answered_at": now, "amends": amends })
    };
    let visit2 = Uuid::now_v7().to_string();
    push_checked(
        &app,
        &d1,
        vec![
            edit,
            terminate,
            cancel,
            Op::visit_create(&v1id, visit(None, 150)).into(),
            Op::visit_amend(&v2id, visit(Some(&v1id), 145)).into(),
            Op::visit_create(&visit2, visit(None, 130)).into(),
            Op::survey_create(&s1id, survey(None, "satisfied")).into(),
            Op::survey_amend(&s2id, survey(Some(&s1id), "very_satisfied")).into(),
            Op::not_signed_create(
                &n1id,
                json!({ "resident_id": r2, "reason": "other",
                "reason_text": "外出务工", "recorded_at": now }),
            )
            .into(),
            Op::visit_delete(&visit2).into(),
        ],
        &schemas,
        &mut problems,
    )
    .await;
    // A referral sent, received and returned; another sent and then corrected.
    let (f1, f2, f3) = (
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
    );
    let referral = |amends: Option<&str>, code: Option<&str>| {
        json!({ "resident_id": r1, "direction": "up", "facility": { "name": "县人民医院", "code": code },
                "reason_code": "htn_uncontrolled", "referred_at": now, "visit_id": v2id, "contract_id": c1,
                "amends": amends })
    };
    push_checked(
        &app,
        &d1,
        vec![
            Op::referral_create(&f1, referral(None, Some("H01"))).into(),
            Op::referral_transition(&f1, json!({ "to": "RECEIVED", "at": now })).into(),
            Op::referral_transition(&f1, json!({ "to": "RETURNED", "at": now, "summary": "回社区随访" })).into(),
            Op::referral_create(&f2, referral(None, None)).into(),
            Op::referral_amend(&f3, referral(Some(&f2), Some("H02"))).into(),
        ],
        &schemas,
        &mut problems,
    )
    .await;

    // The same person registered by the other team, merged by the supervisor: a tombstone
    // with `merged_into` for the second team.
    let no = id_number("1955-04-04", 'F');
    let resident_with = |village: &str| {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "village_code": village, "name": "测试居民", "sex": "F",
                           "birth_date": "1955-04-04", "id_number": no, "tags": [] });
        (id.clone(), Op::resident_create(id, data).build())
    };
    let (a, aop) = resident_with(&v1);
    let (b, bop) = resident_with(&v2);
    push_checked(&app, &d1, vec![aop], &schemas, &mut problems).await;
    push_checked(&app, &d2, vec![bop], &schemas, &mut problems).await;
    // doctor2 is not told of doctor1's record (docs/review.md); their supervisor sees the pair.
    let page: Value = app
        .get(&sup, "/api/v1/review/items?kind=duplicate_resident")
        .await
        .json()
        .await
        .unwrap();
    let item = page["items"][0]["id"].as_str().expect("a duplicate to review");
    let res = app
        .post(
            &sup,
            &format!("/api/v1/review/items/{item}/decision"),
            &json!({ "decision": "merge", "reason": "同一身份证号" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let changes1 = pulled(&app, &d1, &cursor1, &schemas, &mut problems).await;
    let changes2 = pulled(&app, &d2, &cursor2, &schemas, &mut problems).await;
    let (records, _) = bootstrapped(&app, &d1, &schemas, &mut problems).await;
    assert!(
        problems.is_empty(),
        "answers that do not fit the OpenAPI document:\n{}",
        problems.join("\n")
    );

    // The scenario reached what it means to check.
    let find = |list: &[Value], entity: &str, id: &str| {
        list.iter()
            .find(|c| c["entity"] == entity && c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {entity} {id}"))
    };
    assert_eq!(find(&changes1, "visit", &visit2)["deleted"], true);
    assert_eq!(find(&changes1, "visit", &v1id)["data"]["amended_by"], v2id.as_str());
    assert_eq!(find(&changes1, "survey", &s1id)["data"]["amended_by"], s2id.as_str());
    assert_eq!(find(&changes1, "contract", &c1)["data"]["status"], "ACTIVE");
    assert_eq!(find(&changes1, "contract", &c2)["data"]["end_reason"], "moved_away");
    assert_eq!(find(&changes1, "contract", &c3)["data"]["status"], "CANCELLED");
    assert_eq!(find(&changes1, "referral", &f1)["data"]["status"], "RETURNED");
    assert_eq!(find(&changes1, "referral", &f2)["data"]["amended_by"], f3.as_str());
    assert!(find(&changes1, "not_signed", &n1id)["data"]["recorded_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let tomb = find(&changes2, "resident", &b);
    assert_eq!(
        (tomb["deleted"].clone(), tomb["merged_into"].clone()),
        (json!(true), json!(a))
    );
    assert!(find(&records, "resident", &r1)["data"]["id_number_masked"].is_string());
}

#[tokio::test]
async fn rejected_replayed_and_reused_op_results_fit_the_op_result_schema() {
    let schemas = Schemas::load();
    let mut problems = Vec::new();
    // The schema is closed: an undocumented status or field would not pass.
    let result = json!({ "index": 0, "op_id": "x", "status": "applied", "version": 1 });
    assert!(schemas.problems("OpResult", &result).is_empty());
    for wrong in [json!({ "status": "accepted" }), json!({ "note": "undocumented" })] {
        let mut r = result.clone();
        r.as_object_mut().unwrap().extend(wrong.as_object().unwrap().clone());
        assert!(!schemas.problems("OpResult", &r).is_empty(), "OpResult takes {r}");
    }

    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (r1, r1op) = resident_op(&village, "1950-06-01", 'F', &["hypertension"]);
    let (now, _) = now_cst();
    let visit = |systolic: i32| {
        json!({ "resident_id": r1, "kind": "htn_followup", "occurred_at": now,
                "measurements": { "systolic": systolic, "diastolic": 85 } })
    };
    let v1 = Uuid::now_v7().to_string();
    let first = push_results(
        &app,
        &d1,
        &[r1op, Op::visit_create(&v1, visit(150)).into()],
        &schemas,
        &mut problems,
    )
    .await;
    assert!(first.iter().all(|r| r["status"] == "applied"), "{first:?}");

    // Rejected (a measurement out of range), a conflict (the visit again under its id with
    // other content) and an applied op; then the same batch again, as after a lost answer.
    let batch = [
        Op::visit_create(Uuid::now_v7().to_string(), visit(400)).build(),
        Op::visit_create(&v1, visit(155)).build(),
        Op::visit_create(Uuid::now_v7().to_string(), visit(140)).build(),
    ];
    let answered = push_results(&app, &d1, &batch, &schemas, &mut problems).await;
    let statuses: Vec<&str> = answered.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rejected", "conflict", "applied"], "{answered:?}");
    assert_eq!(answered[0]["error"]["code"], "out_of_range");
    assert!(answered[1]["conflict_id"].is_string());
    let replayed = push_results(&app, &d1, &batch, &schemas, &mut problems).await;
    let statuses: Vec<&str> = replayed.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rejected", "conflict", "duplicate"], "{replayed:?}");
    assert!(replayed.iter().all(|r| r["replayed"] == true), "{replayed:?}");
    assert_eq!(replayed[0]["error"], answered[0]["error"]);
    assert_eq!(replayed[1]["conflict_id"], answered[1]["conflict_id"]);

    // The applied op's id again with other content.
    let mut reused = batch[2].clone();
    reused["data"]["measurements"]["systolic"] = json!(145);
    let refused = push_results(&app, &d1, &[reused], &schemas, &mut problems).await;
    assert_eq!(refused[0]["status"], "rejected", "{refused:?}");
    assert_eq!(
        (
            refused[0]["error"]["code"].clone(),
            refused[0]["error"]["field"].clone()
        ),
        (json!("op_id_reused"), json!("op_id"))
    );
    assert!(
        problems.is_empty(),
        "push results that do not fit the OpenAPI document:\n{}",
        problems.join("\n")
    );
}
