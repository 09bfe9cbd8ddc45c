//! The supervisor review queue (审核队列): listing by kind and scope, every decision with its
//! effect in the database and on pull, duplicate-resident merge (重复档案合并) and its
//! convergence on both teams' tablets, and the refusals.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    assert_error, contract_op, id_number, now_cst, resident_op, spawn_app, supervisor_of, Op, Session, TestApp,
};
use jiayi::db::views::audit_trail;
use jiayi::schema::{conflicts, contracts, quarantine, residents, survey_responses, visits};

fn visit_op(resident_id: &str, systolic: i32) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let data = json!({ "resident_id": resident_id, "kind": "htn_followup", "occurred_at": now,
                       "measurements": { "systolic": systolic, "diastolic": 85 } });
    (id.clone(), Op::visit_create(&id, data).recorded_at(&now).into())
}

fn survey_op(resident_id: &str) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let data = json!({ "resident_id": resident_id, "questionnaire": "satisfaction", "questionnaire_version": 1,
                       "answers": { "satisfaction": "satisfied", "awareness": "aware" }, "answered_at": now });
    (id.clone(), Op::survey_create(&id, data).recorded_at(&now).into())
}

/// A resident create op with a given ID number.
fn resident_with(village: &str, id_no: &str, phone: Option<&str>, tags: &[&str]) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let data = json!({ "village_code": village, "name": "测试居民", "sex": "F", "birth_date": "1955-04-04",
                       "id_number": id_no, "phone": phone, "tags": tags });
    let op = Op::resident_create(&id, data).recorded_at("2026-03-01T09:30:00+08:00");
    (id, op.build())
}

async fn applied(app: &TestApp, s: &Session, ops: Vec<Value>) -> Value {
    let out = app.push(s, ops).await;
    for r in out["results"].as_array().unwrap() {
        assert!(
            r["status"] == "applied" || r["status"] == "conflict",
            "op refused: {out}"
        );
    }
    out
}

/// A supervisor of another township (石桥镇).
async fn other_supervisor(app: &TestApp) -> Session {
    supervisor_of(app, "supervisor9", "431126104000").await
}

/// Every item of the list (all pages) for a query.
async fn items(app: &TestApp, s: &Session, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/review/items?{query}&cursor={c}"),
            None => format!("/api/v1/review/items?{query}"),
        };
        let res = app.get(s, &path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let page: Value = res.json().await.unwrap();
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn item(app: &TestApp, s: &Session, id: &str) -> Value {
    let res = app.get(s, &format!("/api/v1/review/items/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn decide(app: &TestApp, s: &Session, id: &str, body: Value) -> reqwest::Response {
    app.post(s, &format!("/api/v1/review/items/{id}/decision"), &body).await
}

async fn decided(app: &TestApp, s: &Session, id: &str, body: Value) -> Value {
    let res = decide(app, s, id, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Pulls from a cursor to the end; returns the changes and the last cursor.
async fn pull_from(app: &TestApp, s: &Session, cursor: &str) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let mut cursor = cursor.to_string();
    loop {
        let res = app
            .get(s, &format!("/api/v1/sync/pull?limit=200&cursor={cursor}"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        out.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return (out, cursor);
        }
    }
}

/// A tablet's local store: (entity, id) → data.
type Tablet = BTreeMap<(String, String), Value>;

/// A fresh tablet: bootstrap, then the cursor to pull from.
async fn bootstrap(app: &TestApp, s: &Session) -> (Tablet, String) {
    let mut t = Tablet::new();
    let mut page: Option<String> = None;
    loop {
        let path = match &page {
            Some(p) => format!("/api/v1/sync/bootstrap?limit=500&page={p}"),
            None => "/api/v1/sync/bootstrap?limit=500".into(),
        };
        let res = app.get(s, &path).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        for r in body["records"].as_array().unwrap() {
            t.insert(
                (r["entity"].as_str().unwrap().into(), r["id"].as_str().unwrap().into()),
                r["data"].clone(),
            );
        }
        match body["next_page"].as_str() {
            Some(p) => page = Some(p.to_string()),
            None => return (t, body["cursor"].as_str().unwrap().to_string()),
        }
    }
}

fn apply_changes(t: &mut Tablet, changes: &[Value]) {
    for c in changes {
        let key = (
            c["entity"].as_str().unwrap().to_string(),
            c["id"].as_str().unwrap().to_string(),
        );
        if c["deleted"].as_bool().unwrap() {
            t.remove(&key);
        } else {
            t.insert(key, c["data"].clone());
        }
    }
}

fn count_for(app: &TestApp, ids: &[&str]) -> (i64, i64, i64) {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    app.db(|c| {
        (
            contracts::table
                .filter(contracts::resident_id.eq_any(&ids))
                .count()
                .get_result(c)
                .unwrap(),
            visits::table
                .filter(visits::resident_id.eq_any(&ids))
                .count()
                .get_result(c)
                .unwrap(),
            survey_responses::table
                .filter(survey_responses::resident_id.eq_any(&ids))
                .count()
                .get_result(c)
                .unwrap(),
        )
    })
}

fn audit_count(app: &TestApp, action: &str, entity_id: &str) -> i64 {
    app.db(|c| {
        audit_trail::table
            .filter(audit_trail::action.eq(action))
            .filter(audit_trail::entity_id.eq(entity_id))
            .count()
            .get_result(c)
            .unwrap()
    })
}

/// doctor1 (T01) and doctor2 (T02) register the same person offline in their own villages.
/// The second is told of the duplicate only if the first record lies in its own villages.
async fn duplicate_pair(app: &TestApp, d1: &Session, d2: &Session) -> (String, String, String) {
    let v1 = app.villages(d1).await[0].clone();
    let v2 = app.villages(d2).await[0].clone();
    let no = id_number("1955-04-04", 'F');
    let (a, op_a) = resident_with(&v1, &no, None, &["hypertension"]);
    let (b, op_b) = resident_with(&v2, &no, Some("13900001111"), &["diabetes"]);
    applied(app, d1, vec![op_a]).await;
    let out = applied(app, d2, vec![op_b]).await;
    let told = out["results"][0]["status"] == "conflict";
    assert_eq!(told, app.villages(d2).await.contains(&v1), "{out}");
    let conflict: String = app.db(|c| {
        conflicts::table
            .filter(conflicts::kind.eq("duplicate_resident"))
            .filter(conflicts::entity_id.eq(&b))
            .select(conflicts::id)
            .first(c)
            .unwrap()
    });
    if told {
        assert_eq!(out["results"][0]["conflict_id"], conflict.as_str());
    }
    (a, b, conflict)
}

#[tokio::test]
async fn the_list_shows_each_kind_in_scope_and_agrees_with_the_count() {
    let app = spawn_app().await;
    let (admin, sup, d1, d2) = (
        app.login("admin").await,
        app.login("supervisor1").await,
        app.login("doctor1").await,
        app.login("doctor2").await,
    );
    let sup9 = other_supervisor(&app).await;
    let before = items(&app, &sup, "status=open&limit=200").await.len();
    // A duplicate candidate.
    let (_, _, dup) = duplicate_pair(&app, &d1, &d2).await;
    // A refused op carrying an ID number and a phone in clear.
    let village = app.villages(&d1).await[0].clone();
    let (_, mut bad) = resident_op(&village, "1950-01-01", 'M', &["elderly"]);
    bad["data"]["phone"] = json!("13712345678");
    let out = app.push(&d1, vec![bad.clone()]).await;
    assert_eq!(out["results"][0]["status"], "rejected");
    // A field clash: two edits of one name, the later clinical time wins.
    let (rid, rop) = resident_op(&village, "1960-02-02", 'F', &[]);
    applied(&app, &d1, vec![rop]).await;
    applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "甲" }))
            .base_version(1)
            .recorded_minutes_ago(5)
            .into()],
    )
    .await;
    let out = applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "乙" }))
            .base_version(1)
            .recorded_minutes_ago(50)
            .into()],
    )
    .await;
    let clash = out["results"][0]["conflict_id"].as_str().unwrap().to_string();

    // An op too malformed to name a village: it belongs to the sender's team's township.
    let malformed = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "visit" });
    let out = app.push(&d1, vec![malformed]).await;
    assert_eq!(out["results"][0]["error"]["code"], "malformed_op");

    let open = items(&app, &sup, "status=open&limit=2").await;
    assert_eq!(open.len(), before + 4, "paged by two, every item once");
    let m = open.iter().find(|i| i["error"]["code"] == "malformed_op").unwrap();
    assert!(m["village_code"].is_null());
    assert_eq!(m["team_id"], d1.user["team_id"]);
    let township = items(&app, &sup, "region=431126100000").await;
    assert!(
        township.iter().any(|i| i["id"] == m["id"]),
        "placed by the sender's team"
    );
    let ids: BTreeSet<&str> = open.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), open.len());
    let times: Vec<&str> = open.iter().map(|i| i["created_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let by_id = |id: &str| open.iter().find(|i| i["id"] == id).cloned().unwrap();
    let d = by_id(&dup);
    assert_eq!(d["kind"], "duplicate_resident");
    assert_eq!(d["decisions"], json!(["merge", "dismiss"]));
    assert_eq!(d["team_id"], d2.user["team_id"]);
    assert!(d["client_value"]["id_number_masked"]
        .as_str()
        .unwrap()
        .contains("**********"));
    assert_eq!(
        d["client_value"]["phone"], "139******11",
        "phones masked for the supervisor"
    );
    let c = by_id(&clash);
    assert_eq!(c["kind"], "field_clash");
    assert_eq!(c["client_value"], json!({ "name": "乙" }));
    assert_eq!(c["decisions"], json!(["keep_server", "keep_client"]));
    let q = open
        .iter()
        .find(|i| i["kind"] == "quarantine" && i["op_id"] == bad["op_id"])
        .unwrap();
    assert_eq!(q["error"]["code"], "derived_tag");
    assert_eq!(q["decisions"], json!(["accept", "void"]));
    assert_eq!(q["village_code"], village);
    let shown = q["client_value"].to_string();
    let clear = bad["data"]["id_number"].as_str().unwrap();
    assert!(
        !shown.contains(clear) && !shown.contains("13712345678"),
        "masked: {shown}"
    );
    assert_eq!(q["client_value"]["data"]["phone"], "137******78");

    // Filters: kind, region (a village), status.
    let dups = items(&app, &sup, "kind=duplicate_resident").await;
    assert!(dups.iter().all(|i| i["kind"] == "duplicate_resident") && dups.iter().any(|i| i["id"] == dup));
    let here = items(&app, &sup, &format!("region={village}")).await;
    assert!(here.iter().all(|i| i["village_code"] == village.as_str()));
    assert!(here.iter().any(|i| i["id"] == clash) && !here.iter().any(|i| i["id"] == dup));
    assert!(items(&app, &sup, "status=resolved").await.is_empty());

    // The count is the open list, for each role that may list.
    for s in [&sup, &admin, &sup9] {
        let n: Value = app.get(s, "/api/v1/review/count").await.json().await.unwrap();
        let listed = items(&app, s, "status=open&limit=200").await;
        assert_eq!(n["total"].as_u64().unwrap() as usize, listed.len(), "{n}");
        let quarantined = listed.iter().filter(|i| i["kind"] == "quarantine").count();
        assert_eq!(n["quarantine"].as_u64().unwrap() as usize, quarantined);
    }
    // Another township sees none of it, and cannot read one by id.
    assert!(!items(&app, &sup9, "status=open")
        .await
        .iter()
        .any(|i| i["id"] == m["id"]));
    assert!(items(&app, &sup9, "status=open")
        .await
        .iter()
        .all(|i| i["id"] != dup && i["id"] != clash));
    let res = app.get(&sup9, &format!("/api/v1/review/items/{dup}")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get(&sup9, &format!("/api/v1/review/items?region={village}")).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Doctors do not list; bad queries are refused.
    for path in ["/api/v1/review/items", &format!("/api/v1/review/items/{dup}")] {
        assert_error(app.get(&d1, path).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for (q, code) in [
        ("status=maybe", "invalid_status"),
        ("kind=nope", "invalid_kind"),
        ("limit=0", "invalid_limit"),
        ("cursor=garbage", "invalid_cursor"),
        ("region=12", "invalid_region"),
    ] {
        let res = app.get(&sup, &format!("/api/v1/review/items?{q}")).await;
        assert_error(res, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn field_clash_keep_client_applies_the_losing_value_as_a_new_version() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1960-02-02", 'F', &[]);
    applied(&app, &d1, vec![rop]).await;
    let (_, cursor) = pull_from(&app, &d1, "").await;
    applied(
        &app,
        &d1,
        vec![
            Op::resident_update(&rid, json!({ "name": "甲", "phone": "13000000001" }))
                .base_version(1)
                .recorded_minutes_ago(5)
                .into(),
        ],
    )
    .await;
    let out = applied(
        &app,
        &d1,
        vec![
            Op::resident_update(&rid, json!({ "name": "乙", "phone": "13000000002" }))
                .base_version(1)
                .recorded_minutes_ago(50)
                .into(),
        ],
    )
    .await;
    let clash = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    let version = |app: &TestApp| -> (i64, String, Option<String>) {
        app.db(|c| {
            residents::table
                .find(&rid)
                .select((residents::version, residents::name, residents::phone))
                .first(c)
                .unwrap()
        })
    };
    assert_eq!(version(&app), (2, "甲".into(), Some("13000000001".into())));
    // A decision the kind does not take: refused, nothing changed.
    let res = decide(&app, &sup, &clash, json!({ "decision": "merge", "reason": "wrong" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "decision_not_allowed").await;
    let res = decide(&app, &sup, &clash, json!({ "decision": "shrug", "reason": "wrong" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_decision").await;
    let res = decide(&app, &sup, &clash, json!({ "decision": "keep_client", "reason": "  " })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    assert_eq!(item(&app, &sup, &clash).await["status"], "open");
    assert_eq!(version(&app).0, 2);

    let out = decided(
        &app,
        &sup,
        &clash,
        json!({ "decision": "keep_client", "reason": "家属确认姓名为乙" }),
    )
    .await;
    assert_eq!(out["item"]["status"], "resolved");
    assert_eq!(out["item"]["resolution"], "keep_client");
    assert_eq!(out["item"]["resolution_reason"], "家属确认姓名为乙");
    assert_eq!(out["item"]["resolved_by"], sup.user["id"]);
    assert_eq!(out["item"]["decisions"], json!([]));
    assert_eq!(
        out["changed"],
        json!([{ "entity": "resident", "id": rid, "version": 3 }])
    );
    assert_eq!(version(&app), (3, "乙".into(), Some("13000000002".into())));
    // The tablet learns it on its next pull; the decision is audited.
    let (changes, _) = pull_from(&app, &d1, &cursor).await;
    let r = changes.iter().rev().find(|c| c["id"] == rid).unwrap();
    assert_eq!(
        (r["version"].as_i64(), r["data"]["name"].as_str()),
        (Some(3), Some("乙"))
    );
    assert_eq!(audit_count(&app, "review_decision", &clash), 1);
    assert_eq!(
        audit_count(&app, "resident_updated", &rid),
        2,
        "the edit and the decision"
    );
    // Deciding again: 409.
    let res = decide(
        &app,
        &sup,
        &clash,
        json!({ "decision": "keep_server", "reason": "again" }),
    )
    .await;
    assert_error(res, StatusCode::CONFLICT, "already_resolved").await;
    assert_eq!(items(&app, &sup, "status=resolved").await.len(), 1);

    // keep_server on a clash the server won: nothing changes.
    applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "丙" }))
            .base_version(3)
            .recorded_minutes_ago(4)
            .into()],
    )
    .await;
    let out = applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "丁" }))
            .base_version(3)
            .recorded_minutes_ago(40)
            .into()],
    )
    .await;
    let clash2 = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    let out = decided(
        &app,
        &sup,
        &clash2,
        json!({ "decision": "keep_server", "reason": "丙 is right" }),
    )
    .await;
    assert_eq!(out["changed"], json!([]));
    assert_eq!(version(&app), (4, "丙".into(), Some("13000000002".into())));
    assert_eq!(audit_count(&app, "review_decision", &clash2), 1);

    // keep_server on a clash the tablet won: the overwritten server value comes back.
    applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "戊" }))
            .base_version(4)
            .recorded_minutes_ago(30)
            .into()],
    )
    .await;
    let out = applied(
        &app,
        &d1,
        vec![Op::resident_update(&rid, json!({ "name": "己" }))
            .base_version(4)
            .recorded_minutes_ago(3)
            .into()],
    )
    .await;
    let clash3 = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    assert_eq!(version(&app).1, "己");
    assert_eq!(item(&app, &sup, &clash3).await["server_value"], json!({ "name": "戊" }));
    let out = decided(
        &app,
        &sup,
        &clash3,
        json!({ "decision": "keep_server", "reason": "戊 is right" }),
    )
    .await;
    assert_eq!(
        out["changed"],
        json!([{ "entity": "resident", "id": rid, "version": 7 }])
    );
    assert_eq!(version(&app), (7, "戊".into(), Some("13000000002".into())));
}

/// A second team serving doctor1's village (two teams can sign the same resident).
async fn second_team(app: &TestApp, d1: &Session) -> (Session, String) {
    let village = app.villages(d1).await[0].clone();
    let admin = app.login("admin").await;
    let res = app
        .post(&admin, "/api/v1/admin/teams", &json!({ "code": "T77", "name": "巡回医疗队", "township_code": format!("{}000", &village[..9]), "village_codes": [village] }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let t77: Value = res.json().await.unwrap();
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "doctor77", "password": "jiayi-demo", "role": "doctor", "team_code": "T77", "display_name": "巡回医生" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (app.login("doctor77").await, t77["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn double_signing_accept_void_and_keep_server_go_through_the_contract_state_machine() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let (d77, t77) = second_team(&app, &d1).await;
    let village = app.villages(&d1).await[0].clone();
    let status = |id: &str| -> (String, Option<String>) {
        app.db(|c| {
            contracts::table
                .find(id)
                .select((contracts::status, contracts::end_reason))
                .first(c)
                .unwrap()
        })
    };
    let mut cases = Vec::new();
    for _ in 0..3 {
        let (rid, rop) = resident_op(&village, "1950-05-05", 'M', &[]);
        applied(&app, &d1, vec![rop]).await;
        let (c1, op1) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
        let (c2, op2) = contract_op(&rid, &t77, &["BASIC"]);
        applied(&app, &d1, vec![op1]).await;
        let out = applied(&app, &d77, vec![op2]).await;
        let conflict = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
        assert_eq!(status(&c2).0, "PENDING_REVIEW");
        cases.push((c1, c2, conflict));
    }
    let (_, cursor) = pull_from(&app, &d1, "").await;
    let listed = item(&app, &sup, &cases[0].2).await;
    assert_eq!(listed["kind"], "double_signing");
    assert_eq!(listed["decisions"], json!(["accept", "void", "keep_server"]));
    assert_eq!(listed["server_value"]["id"], cases[0].0.as_str());
    assert_eq!(listed["client_value"]["status"], "PENDING_REVIEW");
    let res = decide(
        &app,
        &sup,
        &cases[0].2,
        json!({ "decision": "keep_client", "reason": "x" }),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "decision_not_allowed").await;
    assert_eq!(status(&cases[0].1).0, "PENDING_REVIEW", "nothing changed");

    // accept: the held contract takes effect, the one in effect ends — never two.
    let out = decided(
        &app,
        &sup,
        &cases[0].2,
        json!({ "decision": "accept", "reason": "居民选择巡回医疗队" }),
    )
    .await;
    assert_eq!(out["changed"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(status(&cases[0].0), ("TERMINATED".into(), Some("other".into())));
    assert_eq!(status(&cases[0].1).0, "ACTIVE");
    // void: the held contract is void with the reason.
    decided(
        &app,
        &sup,
        &cases[1].2,
        json!({ "decision": "void", "reason": "代签，非本人意愿" }),
    )
    .await;
    assert_eq!(status(&cases[1].0).0, "SIGNED");
    assert_eq!(status(&cases[1].1), ("VOIDED".into(), Some("voided".into())));
    // keep_server: the contract in effect stays; the held one is void.
    let out = decided(
        &app,
        &sup,
        &cases[2].2,
        json!({ "decision": "keep_server", "reason": "已有签约" }),
    )
    .await;
    assert_eq!(out["item"]["resolution"], "keep_server");
    assert_eq!(status(&cases[2].1).0, "VOIDED");
    assert_eq!(status(&cases[2].0).0, "SIGNED");
    // The village's tablet learns every change.
    let (changes, _) = pull_from(&app, &d1, &cursor).await;
    let seen = |id: &str| {
        changes
            .iter()
            .rev()
            .find(|c| c["id"] == id)
            .map(|c| c["data"]["status"].clone())
    };
    assert_eq!(seen(&cases[0].0), Some(json!("TERMINATED")));
    assert_eq!(seen(&cases[0].1), Some(json!("ACTIVE")));
    assert_eq!(seen(&cases[1].1), Some(json!("VOIDED")));
    for (_, _, conflict) in &cases {
        assert_eq!(audit_count(&app, "review_decision", conflict), 1);
    }

    // A held contract whose conflict is no longer open (data from before the queue had
    // decisions) is listed on its own and takes the same decisions.
    let (rid, rop) = resident_op(&village, "1950-05-05", 'M', &[]);
    applied(&app, &d1, vec![rop]).await;
    let (c1, op1) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let (c2, op2) = contract_op(&rid, &t77, &["BASIC"]);
    applied(&app, &d1, vec![op1]).await;
    applied(&app, &d77, vec![op2]).await;
    app.db(|c| {
        diesel::update(conflicts::table.filter(conflicts::entity_id.eq(&c2)))
            .set(conflicts::status.eq("resolved"))
            .execute(c)
            .unwrap()
    });
    let count: Value = app.get(&sup, "/api/v1/review/count").await.json().await.unwrap();
    assert_eq!(count["pending_contracts"], 1);
    let pending = items(&app, &sup, "kind=pending_contract").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], c2.as_str());
    assert_eq!(pending[0]["other_entity_id"], c1.as_str());
    let out = decided(&app, &sup, &c2, json!({ "decision": "accept", "reason": "居民选择" })).await;
    assert_eq!(out["item"]["status"], "resolved");
    assert_eq!(out["item"]["resolution"], "accept");
    assert_eq!(
        (status(&c1).0.as_str(), status(&c2).0.as_str()),
        ("TERMINATED", "ACTIVE")
    );
    assert!(items(&app, &sup, "kind=pending_contract").await.is_empty());
    assert_eq!(audit_count(&app, "review_decision", &c2), 1);
    let res = decide(&app, &sup, &c2, json!({ "decision": "void", "reason": "again" })).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn merge_keeps_everything_and_both_teams_tablets_converge() {
    let app = spawn_app().await;
    let (sup, d1, d2) = (
        app.login("supervisor1").await,
        app.login("doctor1").await,
        app.login("doctor2").await,
    );
    let (a, b, dup) = duplicate_pair(&app, &d1, &d2).await;
    // Each team signs and serves its own record of the person.
    let (ca, op_ca) = contract_op(&a, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let (cb, op_cb) = contract_op(&b, d2.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let (_, va) = visit_op(&a, 130);
    let (vb1, vb) = visit_op(&b, 150);
    let (_, vb2) = visit_op(&b, 145);
    let (_, sa) = survey_op(&a);
    let (sb, sbop) = survey_op(&b);
    applied(&app, &d1, vec![op_ca, va, sa]).await;
    applied(&app, &d2, vec![op_cb, vb, vb2, sbop]).await;
    let before = count_for(&app, &[&a, &b]);
    assert_eq!(before, (2, 3, 2));
    let coverage = |s: Session| {
        let app = &app;
        async move {
            let (_, today) = now_cst();
            let res = app
                .get(
                    &s,
                    &format!("/api/v1/reports/coverage?region=431126100000&period={}", &today[..4]),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            (
                body["total"]["indicators"]["record_rate"]["numerator"]
                    .as_i64()
                    .unwrap(),
                body["total"]["indicators"]["signing_rate"]["numerator"]
                    .as_i64()
                    .unwrap(),
            )
        }
    };
    let report_before = coverage(sup.clone()).await;
    let (mut tablet1, cur1) = bootstrap(&app, &d1).await;
    let (mut tablet2, cur2) = bootstrap(&app, &d2).await;
    assert!(tablet2.contains_key(&("resident".into(), b.clone())));

    let listed = item(&app, &sup, &dup).await;
    assert_eq!(listed["server_value"]["id"], a.as_str());
    assert_eq!(listed["client_value"]["visits"], 2);
    let out = decided(
        &app,
        &sup,
        &dup,
        json!({ "decision": "merge", "reason": "同一身份证号，同一人" }),
    )
    .await;
    assert_eq!(out["item"]["resolution"], "merge");
    // Everything kept, all on the survivor (the record registered first).
    assert_eq!(count_for(&app, &[&a]), before, "every contract, visit and survey moved");
    assert_eq!(count_for(&app, &[&b]), (0, 0, 0));
    let (deleted, merged_into): (bool, Option<String>) = app.db(|c| {
        residents::table
            .find(&b)
            .select((residents::deleted, residents::merged_into))
            .first(c)
            .unwrap()
    });
    assert!(deleted);
    assert_eq!(merged_into.as_deref(), Some(a.as_str()));
    let (phone, tags): (Option<String>, String) = app.db(|c| {
        residents::table
            .find(&a)
            .select((residents::phone, residents::tags))
            .first(c)
            .unwrap()
    });
    assert_eq!(
        phone.as_deref(),
        Some("13900001111"),
        "the survivor takes the phone it lacked"
    );
    assert_eq!(tags, r#"["diabetes","hypertension"]"#);
    // Two contracts in effect: the later signing is held with a double-signing conflict.
    let states: BTreeMap<String, String> = app.db(|c| {
        contracts::table
            .filter(contracts::resident_id.eq(&a))
            .select((contracts::id, contracts::status))
            .load::<(String, String)>(c)
            .unwrap()
            .into_iter()
            .collect()
    });
    assert_eq!(states[&ca], "SIGNED");
    assert_eq!(states[&cb], "PENDING_REVIEW");
    let held: i64 = app.db(|c| {
        conflicts::table
            .filter(conflicts::entity_id.eq(&cb))
            .filter(conflicts::kind.eq("double_signing"))
            .filter(conflicts::status.eq("open"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(held, 1);
    assert_eq!(audit_count(&app, "residents_merged", &b), 1);
    assert_eq!(audit_count(&app, "review_decision", &dup), 1);
    // Reports: one person, not two.
    let report_after = coverage(sup.clone()).await;
    assert_eq!(report_after.0, report_before.0 - 1, "the tombstone is not a record");
    assert_eq!(
        report_after.1,
        report_before.1 - 1,
        "one signed person (the held contract does not count)"
    );

    // Both tablets converge: what they pulled equals a fresh bootstrap of their scope.
    let (changes1, _) = pull_from(&app, &d1, &cur1).await;
    let (changes2, _) = pull_from(&app, &d2, &cur2).await;
    let tomb = changes2
        .iter()
        .find(|c| c["id"] == b)
        .expect("the tombstone reaches team 2");
    assert_eq!(tomb["deleted"], true);
    assert_eq!(tomb["merged_into"], a.as_str());
    for id in [&cb, &vb1, &sb] {
        let c = changes1
            .iter()
            .find(|c| c["id"] == id.as_str())
            .expect("re-pointed record reaches team 1");
        assert_eq!(c["data"]["resident_id"], a.as_str());
        let c = changes2
            .iter()
            .find(|c| c["id"] == id.as_str())
            .expect("and team 2 learns it left");
        assert_eq!(c["deleted"], true);
    }
    apply_changes(&mut tablet1, &changes1);
    apply_changes(&mut tablet2, &changes2);
    assert_eq!(tablet1, bootstrap(&app, &d1).await.0, "team 1's tablet converged");
    assert_eq!(tablet2, bootstrap(&app, &d2).await.0, "team 2's tablet converged");
    assert!(!tablet2.keys().any(|(_, id)| *id == b));
}

#[tokio::test]
async fn an_offline_tablet_still_naming_the_merged_away_resident_lands_on_the_survivor() {
    let app = spawn_app().await;
    let (sup, d1, d2, lead1) = (
        app.login("supervisor1").await,
        app.login("doctor1").await,
        app.login("doctor2").await,
        app.login("lead1").await,
    );
    let owner =
        |id: &str| -> String { app.db(|c| visits::table.find(id).select(visits::resident_id).first(c).unwrap()) };
    // Another team's record merged away: doctor2's tablet has not pulled and keeps
    // recording visits and surveys for it; they land on the survivor in team 1's village.
    let (a, b, dup) = duplicate_pair(&app, &d1, &d2).await;
    decided(
        &app,
        &sup,
        &dup,
        json!({ "decision": "merge", "reason": "同一人", "keep": a.clone() }),
    )
    .await;
    let (v1, vop1) = visit_op(&b, 138);
    let (s1, sop) = survey_op(&b);
    let out = app.push(&d2, vec![vop1, sop]).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{out}");
    }
    assert_eq!(owner(&v1), a);
    let s_owner: String = app.db(|c| {
        survey_responses::table
            .find(&s1)
            .select(survey_responses::resident_id)
            .first(c)
            .unwrap()
    });
    assert_eq!(s_owner, a);
    // The same team's two records merged: an edit of the merged-away record, then a visit
    // and an amendment (the full path) in the same batch, all land on the survivor.
    let (c, e, dup2) = duplicate_pair(&app, &d1, &lead1).await;
    let (v0, vop0) = visit_op(&e, 150);
    applied(&app, &lead1, vec![vop0]).await;
    let (kept, sign_c) = contract_op(&c, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    applied(&app, &d1, vec![sign_c]).await;
    decided(&app, &sup, &dup2, json!({ "decision": "merge", "reason": "同一人" })).await;
    assert_eq!(owner(&v0), c);
    let edit = Op::resident_update(&e, json!({ "household_id": "H-9" }))
        .base_version(1)
        .recorded_minutes_ago(2)
        .build();
    let (v2, vop2) = visit_op(&e, 141);
    let amend_id = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let data = json!({ "resident_id": e, "kind": "htn_followup",
                       "occurred_at": now, "measurements": { "systolic": 149, "diastolic": 85 }, "amends": v0 });
    let amend = Op::visit_amend(&amend_id, data).recorded_at(&now).build();
    let out = app.push(&lead1, vec![edit, vop2, amend]).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{out}");
    }
    assert_eq!(owner(&v2), c);
    assert_eq!(owner(&amend_id), c);
    let household: Option<String> = app.db(|conn| {
        residents::table
            .find(&c)
            .select(residents::household_id)
            .first(conn)
            .unwrap()
    });
    assert_eq!(household.as_deref(), Some("H-9"), "the edit landed on the survivor");
    let q: i64 = app.db(|conn| quarantine::table.count().get_result(conn).unwrap());
    assert_eq!(q, 0, "nothing refused");
    // A contract signed offline for the merged-away record meets the survivor's contract in
    // effect: held for review, never a second contract in effect.
    let (late, sign_e) = contract_op(&e, lead1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let out = app.push(&lead1, vec![sign_e]).await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    let state = |id: &str| -> (String, String) {
        app.db(|conn| {
            contracts::table
                .find(id)
                .select((contracts::resident_id, contracts::status))
                .first(conn)
                .unwrap()
        })
    };
    assert_eq!(state(&late), (c.clone(), "PENDING_REVIEW".into()));
    assert_eq!(state(&kept).1, "SIGNED");
}

#[tokio::test]
async fn a_quarantined_op_is_reapplied_on_accept_or_closed_on_void() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let village = app.villages(&d1).await[0].clone();
    // A visit for a resident the server has not received yet.
    let (rid, rop) = resident_op(&village, "1950-06-06", 'M', &[]);
    let (vid, vop) = visit_op(&rid, 150);
    let out = app.push(&d1, vec![vop.clone()]).await;
    assert_eq!(out["results"][0]["error"]["code"], "unknown_resident");
    let qid: String = app.db(|c| quarantine::table.select(quarantine::id).first(c).unwrap());
    let res = decide(&app, &sup, &qid, json!({ "decision": "accept", "reason": "retry" })).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "reapply_failed").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown_resident"));
    assert_eq!(item(&app, &sup, &qid).await["status"], "open", "stays open");
    // The resident arrives; accept now applies the op as its sender's.
    applied(&app, &d1, vec![rop]).await;
    let (_, cursor) = pull_from(&app, &d1, "").await;
    let out = decided(
        &app,
        &sup,
        &qid,
        json!({ "decision": "accept", "reason": "居民档案已到" }),
    )
    .await;
    assert_eq!(out["changed"], json!([{ "entity": "visit", "id": vid, "version": 1 }]));
    let (owner, by): (String, String) = app.db(|c| {
        visits::table
            .find(&vid)
            .select((visits::resident_id, visits::created_by))
            .first(c)
            .unwrap()
    });
    assert_eq!(
        (owner.as_str(), by.as_str()),
        (rid.as_str(), d1.user["id"].as_str().unwrap())
    );
    let (changes, _) = pull_from(&app, &d1, &cursor).await;
    assert!(changes.iter().any(|c| c["id"] == vid), "the tablet learns it");
    // A replay of the op now answers with its applied result.
    let out = app.push(&d1, vec![vop]).await;
    assert_eq!(out["results"][0]["status"], "duplicate");
    assert_eq!(out["results"][0]["version"], 1);
    assert!(out["results"][0]["error"].is_null());
    let stored = crate::helpers::op_status(&app, &vop_id(&out));
    assert_eq!(stored.as_deref(), Some("applied"));
    assert_eq!(audit_count(&app, "review_decision", &qid), 1);

    // void: closed, the payload kept.
    let (_, bad) = visit_op(&Uuid::now_v7().to_string(), 150);
    app.push(&d1, vec![bad.clone()]).await;
    let qid2: String = app.db(|c| {
        quarantine::table
            .filter(quarantine::status.eq("open"))
            .select(quarantine::id)
            .first(c)
            .unwrap()
    });
    let out = decided(&app, &sup, &qid2, json!({ "decision": "void", "reason": "重复录入" })).await;
    assert_eq!(out["item"]["resolution"], "void");
    let raw: String = app.db(|c| quarantine::table.find(&qid2).select(quarantine::raw).first(c).unwrap());
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), bad);
    let res = decide(&app, &sup, &qid2, json!({ "decision": "accept", "reason": "x" })).await;
    assert_error(res, StatusCode::CONFLICT, "already_resolved").await;
}

fn vop_id(out: &Value) -> String {
    out["results"][0]["op_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn decisions_are_refused_outside_the_callers_reach() {
    let app = spawn_app().await;
    let (sup, d1, d2) = (
        app.login("supervisor1").await,
        app.login("doctor1").await,
        app.login("doctor2").await,
    );
    let sup9 = other_supervisor(&app).await;
    let (a, b, dup) = duplicate_pair(&app, &d1, &d2).await;
    let body = json!({ "decision": "merge", "reason": "同一人" });
    // A doctor: 403. Another township's supervisor: 404, as if the item did not exist.
    assert_error(
        decide(&app, &d1, &dup, body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        decide(&app, &sup9, &dup, body.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = Uuid::now_v7().to_string();
    assert_error(
        decide(&app, &sup, &unknown, body.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Dismissing a pair that still shares an ID number: refused, nothing changed.
    let res = decide(&app, &sup, &dup, json!({ "decision": "dismiss", "reason": "不同人" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "still_duplicate").await;
    let res = decide(
        &app,
        &sup,
        &dup,
        json!({ "decision": "merge", "reason": "x", "keep": Uuid::now_v7().to_string() }),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_keep").await;
    let res = decide(
        &app,
        &sup,
        &dup,
        json!({ "decision": "merge", "reason": "x", "extra": 1 }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let live: i64 = app.db(|c| {
        residents::table
            .filter(residents::id.eq_any([&a, &b]))
            .filter(residents::deleted.eq(false))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(live, 2);
    assert_eq!(item(&app, &sup, &dup).await["status"], "open");
    assert_eq!(audit_count(&app, "review_decision", &dup), 0);
    // A field clash on the record about to be merged away.
    applied(
        &app,
        &d1,
        vec![Op::resident_update(&a, json!({ "name": "甲" }))
            .base_version(1)
            .recorded_minutes_ago(5)
            .into()],
    )
    .await;
    let out = applied(
        &app,
        &d1,
        vec![Op::resident_update(&a, json!({ "name": "乙" }))
            .base_version(1)
            .recorded_minutes_ago(50)
            .into()],
    )
    .await;
    let clash = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    // The named survivor is kept.
    let out = decided(
        &app,
        &sup,
        &dup,
        json!({ "decision": "merge", "reason": "同一人", "keep": b.clone() }),
    )
    .await;
    assert_eq!(out["item"]["status"], "resolved");
    let merged: Option<String> = app.db(|c| {
        residents::table
            .find(&a)
            .select(residents::merged_into)
            .first(c)
            .unwrap()
    });
    assert_eq!(merged.as_deref(), Some(b.as_str()));
    assert_error(
        decide(&app, &sup, &dup, body).await,
        StatusCode::CONFLICT,
        "already_resolved",
    )
    .await;
    // The merged-away record's clash: its values are history; keep_client cannot apply them.
    let res = decide(&app, &sup, &clash, json!({ "decision": "keep_client", "reason": "x" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "resident_merged").await;
    let out = decided(
        &app,
        &sup,
        &clash,
        json!({ "decision": "keep_server", "reason": "已合并" }),
    )
    .await;
    assert_eq!(out["changed"], json!([]));
}

#[tokio::test]
async fn a_pair_across_two_townships_is_merged_by_the_county() {
    let app = spawn_app().await;
    let (admin, sup1, d1) = (
        app.login("admin").await,
        app.login("supervisor1").await,
        app.login("doctor1").await,
    );
    // lead3 leads T03, a team of 青山乡 (431126101000).
    let lead3 = app.login("lead3").await;
    let sup2 = supervisor_of(&app, "supervisor2", "431126101000").await;
    let (a, b, dup) = duplicate_pair(&app, &d1, &lead3).await;
    // Each township's supervisor could read only one side: the pair is the county's.
    for s in [&sup1, &sup2] {
        assert_error(
            app.get(s, &format!("/api/v1/review/items/{dup}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let body = json!({ "decision": "merge", "reason": "同一人" });
    let res = decide(&app, &sup2, &dup, body.clone()).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(item(&app, &admin, &dup).await["status"], "open", "nothing changed");
    let out = decided(&app, &admin, &dup, body).await;
    assert_eq!(out["item"]["resolved_by"], admin.user["id"]);
    let merged: Option<String> = app.db(|c| {
        residents::table
            .find(&b)
            .select(residents::merged_into)
            .first(c)
            .unwrap()
    });
    assert_eq!(merged.as_deref(), Some(a.as_str()));
}
