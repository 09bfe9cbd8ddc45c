//! What a push tells a caller about records outside their scope: nothing. A duplicate ID
//! number registered elsewhere, an id another team's record holds, and where a refused op
//! is filed must not reveal another team's or township's records (docs/security.md).

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    assert_error, contract_op, id_number, now_cst, resident_op, spawn_app, supervisor_of, Session, TestApp,
};
use jiayi::schema::{conflicts, quarantine};

/// A resident create op with a given ID number.
fn resident_with(village: &str, id_no: &str) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let op = json!({
        "op_id": Uuid::now_v7().to_string(), "entity": "resident", "action": "create", "id": id,
        "recorded_at": "2026-03-01T09:30:00+08:00",
        "data": { "village_code": village, "name": "测试居民", "sex": "F", "birth_date": "1955-04-04",
                  "id_number": id_no, "tags": [] }
    });
    (id, op)
}

fn visit_op(id: &str, resident_id: &str, systolic: i32) -> Value {
    let (now, _) = now_cst();
    json!({ "op_id": Uuid::now_v7().to_string(), "entity": "visit", "action": "create", "id": id,
            "recorded_at": now,
            "data": { "resident_id": resident_id, "kind": "htn_followup", "occurred_at": now,
                      "measurements": { "systolic": systolic, "diastolic": 85 } } })
}

/// One op's result, without its op id and position: what the answer says about the record.
async fn answer(app: &TestApp, s: &Session, op: Value) -> Value {
    let out = app.push(s, vec![op]).await;
    let mut r = out["results"][0].clone();
    r.as_object_mut().unwrap().remove("op_id");
    r.as_object_mut().unwrap().remove("index");
    r
}

async fn review_count(app: &TestApp, s: &Session) -> Value {
    let res = app.get(s, "/api/v1/review/count").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn open_items(app: &TestApp, s: &Session, kind: &str) -> Vec<Value> {
    let res = app.get(s, &format!("/api/v1/review/items?kind={kind}&limit=200")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// The duplicate candidate opened for a resident.
fn duplicate_of(app: &TestApp, resident: &str) -> String {
    app.db(|c| {
        conflicts::table
            .filter(conflicts::kind.eq("duplicate_resident"))
            .filter(conflicts::entity_id.eq(resident))
            .select(conflicts::id)
            .first(c)
            .expect("a duplicate candidate for review")
    })
}

#[tokio::test]
async fn a_number_registered_outside_the_callers_team_answers_like_a_new_one() {
    let app = spawn_app().await;
    let (d1, d2, sup1) = (
        app.login("doctor1").await,
        app.login("doctor2").await,
        app.login("supervisor1").await,
    );
    let (v1, v2) = (app.villages(&d1).await[0].clone(), app.villages(&d2).await[0].clone());
    let no = id_number("1955-04-04", 'F');
    let (a, op_a) = resident_with(&v1, &no);
    assert_eq!(answer(&app, &d1, op_a).await["status"], "applied");
    let before = review_count(&app, &d2).await;
    // doctor2 (T02, same township) registers the same number, then a number nobody holds.
    let (b, op_b) = resident_with(&v2, &no);
    let dup = answer(&app, &d2, op_b).await;
    let (_, fresh) = resident_with(&v2, &id_number("1955-04-04", 'F'));
    let fresh = answer(&app, &d2, fresh).await;
    assert_eq!(dup, fresh, "a match in another team's villages is not told");
    assert_eq!(dup, json!({ "status": "applied", "version": 1 }));
    assert_eq!(
        review_count(&app, &d2).await,
        before,
        "nor does the team's review count tell it"
    );
    // The township's supervisor reads both records: the pair is theirs to merge.
    let item = duplicate_of(&app, &b);
    let listed = open_items(&app, &sup1, "duplicate_resident").await;
    let it = listed
        .iter()
        .find(|i| i["id"] == item)
        .expect("the supervisor sees the pair");
    assert_eq!(it["server_value"]["id"], a);
    let res = app
        .post(
            &sup1,
            &format!("/api/v1/review/items/{item}/decision"),
            &json!({ "decision": "merge", "reason": "同一人" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Inside the caller's own villages the tablet is still told of the duplicate.
    let no2 = id_number("1955-04-04", 'F');
    let (_, first) = resident_with(&v1, &no2);
    answer(&app, &d1, first).await;
    let (_, twin) = resident_with(&v1, &no2);
    let mine = answer(&app, &d1, twin).await;
    assert_eq!(mine["status"], "conflict", "{mine}");
    assert!(mine["conflict_id"].is_string());
}

#[tokio::test]
async fn a_duplicate_across_townships_is_seen_and_decided_by_the_county_only() {
    let app = spawn_app().await;
    let (admin, sup1, d1) = (
        app.login("admin").await,
        app.login("supervisor1").await,
        app.login("doctor1").await,
    );
    // lead3 leads T03, a team of 青山乡 (431126101000).
    let lead3 = app.login("lead3").await;
    let sup2 = supervisor_of(&app, "supervisor2", "431126101000").await;
    let (v1, v3) = (
        app.villages(&d1).await[0].clone(),
        app.villages(&lead3).await[0].clone(),
    );
    let no = id_number("1955-04-04", 'F');
    let (a, op_a) = resident_with(&v1, &no);
    answer(&app, &d1, op_a).await;
    let counts = (review_count(&app, &sup2).await, review_count(&app, &lead3).await);
    let (b, op_b) = resident_with(&v3, &no);
    assert_eq!(
        answer(&app, &lead3, op_b).await,
        json!({ "status": "applied", "version": 1 })
    );
    let item = duplicate_of(&app, &b);
    // Neither township sees the pair, nor counts it: each could read only one side.
    for s in [&sup1, &sup2] {
        assert!(open_items(&app, s, "duplicate_resident").await.is_empty());
        assert_error(
            app.get(s, &format!("/api/v1/review/items/{item}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(
        (review_count(&app, &sup2).await, review_count(&app, &lead3).await),
        counts
    );
    let body = json!({ "decision": "merge", "reason": "同一人" });
    let res = app
        .post(&sup2, &format!("/api/v1/review/items/{item}/decision"), &body)
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // The county administrator sees both sides and merges them.
    let listed = open_items(&app, &admin, "duplicate_resident").await;
    let it = listed
        .iter()
        .find(|i| i["id"] == item)
        .expect("the county sees the pair");
    assert_eq!(
        (it["server_value"]["id"].clone(), it["client_value"]["id"].clone()),
        (json!(a), json!(b))
    );
    let res = app
        .post(&admin, &format!("/api/v1/review/items/{item}/decision"), &body)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_id_another_team_holds_is_refused_without_a_word_about_its_record() {
    let app = spawn_app().await;
    let (d1, d2) = (app.login("doctor1").await, app.login("doctor2").await);
    let lead3 = app.login("lead3").await;
    let (v1, v2) = (app.villages(&d1).await[0].clone(), app.villages(&d2).await[0].clone());
    // doctor1's resident, contract, visit and not-signed record.
    let (r1, op) = resident_op(&v1, "1950-01-01", 'F', &[]);
    let (c1, cop) = contract_op(&r1, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let v1_id = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let n1 = Uuid::now_v7().to_string();
    let nop = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "not_signed", "action": "create", "id": n1,
                      "recorded_at": now, "data": { "resident_id": r1, "reason": "declined", "recorded_at": now } });
    let out = app.push(&d1, vec![op, cop, visit_op(&v1_id, &r1, 130), nop]).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{out}");
    }
    // doctor2 sends records of their own under those ids.
    let (r2, op) = resident_op(&v2, "1950-02-02", 'M', &[]);
    answer(&app, &d2, op).await;
    let team2 = d2.user["team_id"].as_str().unwrap();
    let mut taken = Vec::new();
    let (_, mut op) = resident_op(&v2, "1950-03-03", 'F', &[]);
    op["id"] = json!(r1);
    taken.push(op);
    let (_, mut op) = contract_op(&r2, team2, &["BASIC"]);
    op["id"] = json!(c1);
    taken.push(op);
    taken.push(visit_op(&v1_id, &r2, 150));
    let mut op = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "not_signed", "action": "create", "id": n1,
                         "recorded_at": now, "data": { "resident_id": r2, "reason": "away", "recorded_at": now } });
    taken.push(op.clone());
    let conflicts_before: i64 = app.db(|c| conflicts::table.count().get_result(c).unwrap());
    let refusal = json!({ "status": "rejected", "error": { "code": "id_taken", "field": "id",
        "message": "this id cannot be used: give the record a new id and send it as a new op" } });
    for op in taken {
        assert_eq!(
            answer(&app, &d2, op).await,
            refusal,
            "no version, no conflict, the same words"
        );
    }
    let conflicts_after: i64 = app.db(|c| conflicts::table.count().get_result(c).unwrap());
    assert_eq!(
        conflicts_after, conflicts_before,
        "no conflict record names another team's visit"
    );
    // Another township's team gets the very same answer.
    let v3 = app.villages(&lead3).await[0].clone();
    let (_, mut far) = resident_op(&v3, "1950-04-04", 'F', &[]);
    far["id"] = json!(r1);
    assert_eq!(answer(&app, &lead3, far).await, refusal);
    // The record's own team still learns that its record is there.
    op["op_id"] = json!(Uuid::now_v7().to_string());
    op["data"]["resident_id"] = json!(r1);
    let mine = answer(&app, &d1, op).await;
    assert_eq!(mine["error"]["code"], "already_exists", "{mine}");
}

#[tokio::test]
async fn a_refused_op_is_filed_in_a_queue_its_sender_reaches() {
    let app = spawn_app().await;
    let (d1, sup1) = (app.login("doctor1").await, app.login("supervisor1").await);
    let lead3 = app.login("lead3").await;
    let sup2 = supervisor_of(&app, "supervisor2", "431126101000").await;
    let (v1, v3) = (
        app.villages(&d1).await[0].clone(),
        app.villages(&lead3).await[0].clone(),
    );
    let (r3, op) = resident_op(&v3, "1950-01-01", 'F', &[]);
    answer(&app, &lead3, op).await;
    let (r1, op) = resident_op(&v1, "1950-01-01", 'M', &[]);
    answer(&app, &d1, op).await;
    // doctor1 names 青山乡: a new resident there, a visit and an edit of its resident.
    let (_, there) = resident_op(&v3, "1950-02-02", 'F', &[]);
    let visit = visit_op(&Uuid::now_v7().to_string(), &r3, 130);
    let (now, _) = now_cst();
    let edit = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "resident", "action": "update", "id": r3,
                       "base_version": 1, "recorded_at": now, "data": { "name": "改名" } });
    // And a refused visit of its own resident (a reading out of range).
    let own = visit_op(&Uuid::now_v7().to_string(), &r1, 900);
    let out = app.push(&d1, vec![there, visit, edit, own]).await;
    let op_ids: Vec<String> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "rejected", "{out}");
            r["op_id"].as_str().unwrap().to_string()
        })
        .collect();
    let villages: Vec<Option<String>> = op_ids
        .iter()
        .map(|id| {
            app.db(|c| {
                quarantine::table
                    .filter(quarantine::op_id.eq(id))
                    .select(quarantine::village_code)
                    .first(c)
                    .unwrap()
            })
        })
        .collect();
    assert_eq!(
        villages,
        vec![None, None, None, Some(v1.clone())],
        "never a village of 青山乡"
    );
    // All four are doctor1's supervisor's to review; 青山乡's supervisor sees none.
    let mine: Vec<Value> = open_items(&app, &sup1, "quarantine").await;
    for id in &op_ids {
        assert!(mine.iter().any(|i| i["op_id"] == *id), "supervisor1 reviews {id}");
    }
    assert!(open_items(&app, &sup2, "quarantine").await.is_empty());
}
