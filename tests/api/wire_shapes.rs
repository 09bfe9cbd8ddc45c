//! Reviewed snapshots of the wire shapes tablets and the console read (insta; the `.snap`
//! files are in tests/api/snapshots/): a push answer, a pull page, a review item, a coverage
//! table and the error bodies. They sit beside the hand-written rule assertions of the other
//! tests: those say what must hold, these show every field, so a change to a shape is seen
//! and reviewed (`cargo insta review`, or accept a `.snap.new` by renaming it) instead of
//! slipping through. What differs from run to run or between the backends — ids, instants,
//! cursors, the ID number's digits — is replaced by a placeholder first.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{supervisor_of, TestApp};
use crate::team_plan::{new_team, Plan, DATE, TOWNSHIP_1, VILLAGE};

/// Replaces what varies from run to run with placeholders, keeping the shape.
fn redacted(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let opaque = matches!(
                        k.as_str(),
                        "cursor" | "next_cursor" | "checkpoint" | "next_before" | "server_time" | "request_id"
                    );
                    let v = match v {
                        Value::String(_) if opaque => json!(format!("[{k}]")),
                        _ => redacted(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redacted).collect()),
        Value::String(s) if is_uuid(s) => json!("[uuid]"),
        Value::String(s) if is_instant(s) => json!("[instant]"),
        _ => v.clone(),
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// An instant the server stamped (receive and server times); the clinical times the
/// tests send are fixed and stay.
fn is_instant(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok_and(|t| t.date_naive().to_string().as_str() > DATE)
}

/// The team of the work-list tests with one resident, his contract and a visit; and a
/// visit with a reading out of range, refused and kept for review.
async fn a_team_with_a_day_of_work(app: &TestApp) -> (crate::helpers::Session, Value) {
    let (doctor, team) = new_team(app).await;
    let mut plan = Plan::default();
    plan.resident("甲", VILLAGE, "1950-03-04", &["hypertension"], DATE);
    plan.contract("甲", &team, DATE, "2027-08-19");
    plan.bp("甲", DATE, 150, 95);
    let mut ops = plan.ops;
    let mut stray = ops[2].clone();
    stray["op_id"] = json!(uuid::Uuid::now_v7().to_string());
    stray["id"] = json!(uuid::Uuid::now_v7().to_string());
    stray["data"]["measurements"]["systolic"] = json!(400);
    ops.push(stray);
    let out = app.push(&doctor, ops).await;
    (doctor, out)
}

#[tokio::test]
async fn the_push_answer_the_pull_page_the_review_item_and_the_coverage_table() {
    let app = crate::helpers::spawn_app().await;
    let (doctor, pushed) = a_team_with_a_day_of_work(&app).await;
    insta::assert_json_snapshot!("push_answer", redacted(&pushed));

    let (records, _) = app.pull_all(&doctor, None).await;
    let mut page: Vec<Value> = records.iter().map(redacted).collect();
    // A contract's status as pulled is the one of the day it is read (ACTIVE until its
    // last day, then EXPIRED): the dates it follows from stay.
    for r in page.iter_mut().filter(|r| r["entity"] == "contract") {
        r["data"]["status"] = json!("[status of the day]");
    }
    page.sort_by_key(|r| r["entity"].as_str().unwrap_or_default().to_string());
    insta::assert_json_snapshot!("pull_records", page);

    let sup = supervisor_of(&app, "shapes_sup", TOWNSHIP_1).await;
    let items: Value = app
        .get(&sup, &format!("/api/v1/review/items?region={VILLAGE}"))
        .await
        .json()
        .await
        .unwrap();
    let id = items["items"][0]["id"]
        .as_str()
        .expect("the refused visit is kept for review");
    let item: Value = app
        .get(&sup, &format!("/api/v1/review/items/{id}"))
        .await
        .json()
        .await
        .unwrap();
    insta::assert_json_snapshot!("review_item", redacted(&item));

    let admin = app.login("admin").await;
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={VILLAGE}&period=2026"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    insta::assert_json_snapshot!("coverage_table", redacted(&res.json::<Value>().await.unwrap()));
}

#[tokio::test]
async fn the_error_bodies() {
    let app = crate::helpers::spawn_app().await;
    let doctor = app.login("doctor1").await;
    let push = app.url("/api/v1/sync/push");
    let mut bodies = Vec::new();
    let mut keep = |what: &str, status: StatusCode, body: Value| {
        bodies.push(json!({ "request": what, "status": status.as_u16(), "body": redacted(&body) }));
    };
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("push without a token", app.client.post(&push).json(&json!({}))),
        (
            "push with malformed JSON",
            app.client
                .post(&push)
                .bearer_auth(&doctor.access)
                .header("X-Sync-Protocol", "1")
                .header("content-type", "application/json")
                .body("{ not json"),
        ),
        (
            "push with an unknown field",
            app.client
                .post(&push)
                .bearer_auth(&doctor.access)
                .header("X-Sync-Protocol", "1")
                .json(&json!({ "device_id": doctor.device_id, "ops": [], "colour": "red" })),
        ),
        (
            "push for another device",
            app.client
                .post(&push)
                .bearer_auth(&doctor.access)
                .header("X-Sync-Protocol", "1")
                .json(&json!({ "device_id": "someone-elses-tablet", "ops": [] })),
        ),
        (
            "push without the protocol header",
            app.client
                .post(&push)
                .bearer_auth(&doctor.access)
                .json(&json!({ "device_id": doctor.device_id, "ops": [] })),
        ),
        (
            "pull with a cursor the server never gave",
            app.client
                .get(app.url("/api/v1/sync/pull?cursor=v2.forged"))
                .bearer_auth(&doctor.access)
                .header("X-Sync-Protocol", "1"),
        ),
        (
            "another township's coverage",
            app.client
                .get(app.url("/api/v1/reports/coverage?region=431126101000&period=2026"))
                .bearer_auth(&doctor.access),
        ),
        (
            "coverage of a malformed period",
            app.client
                .get(app.url("/api/v1/reports/coverage?region=431126000000&period=someday"))
                .bearer_auth(&doctor.access),
        ),
        (
            "push of more ops than a batch holds",
            app.client
                .post(&push)
                .bearer_auth(&doctor.access)
                .header("X-Sync-Protocol", "1")
                .json(&json!({ "device_id": doctor.device_id, "ops": vec![json!({}); 2001] })),
        ),
        ("an unknown route", app.client.get(app.url("/api/v1/nowhere"))),
        (
            "a login with a wrong password",
            app.client.post(app.url("/api/v1/auth/login")).json(
                &json!({ "username": "doctor1", "password": "not-the-password", "device_id": "tablet-x",
                         "device_name": "平板" }),
            ),
        ),
    ];
    for (what, req) in cases {
        let res = req.send().await.unwrap();
        let status = res.status();
        assert!(status.is_client_error(), "{what}: {status}");
        keep(what, status, res.json().await.unwrap());
    }
    insta::assert_json_snapshot!("error_bodies", bodies);
}
