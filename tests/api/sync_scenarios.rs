//! Sync scenarios from the field: tablets offline, replays, lost responses, moves, blobs.

use std::io::Write;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{
    assert_error, contract_op, now_cst, resident_op, spawn_app, spawn_app_with, Op, Session, TestApp,
};
use jiayi::schema::{conflicts, contracts, quarantine, residents, visits};

/// An RFC 3339 CST time `minutes` before now.
fn cst_minutes_ago(minutes: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .with_timezone(&cst)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn visit_op(resident_id: &str, systolic: i32) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let data = json!({ "resident_id": resident_id, "kind": "htn_followup", "occurred_at": now,
                       "measurements": { "systolic": systolic, "diastolic": 85 } });
    (id.clone(), Op::visit_create(&id, data).recorded_at(&now).into())
}

fn find<'a>(changes: &'a [Value], id: &str) -> Option<&'a Value> {
    changes.iter().rev().find(|c| c["id"] == id)
}

/// A resident registered by doctor1 in T01's first village.
async fn registered(app: &TestApp, s: &Session) -> String {
    let village = app.villages(s).await[0].clone();
    let (rid, rop) = resident_op(&village, "1955-04-04", 'F', &[]);
    let out = app.push(s, vec![rop]).await;
    assert_eq!(out["results"][0]["status"], "applied");
    rid
}

#[tokio::test]
async fn two_tablets_editing_different_fields_of_a_resident_merge_without_conflict() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    let rid = registered(&app, &a).await;
    let out = app
        .push(
            &a,
            vec![Op::resident_update(&rid, json!({ "phone": "13900000001" }))
                .base_version(1)
                .recorded_minutes_ago(30)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert_eq!(out["results"][0]["version"], 2);
    let out = app
        .push(
            &b,
            vec![Op::resident_update(&rid, json!({ "household_id": "H-7" }))
                .base_version(1)
                .recorded_minutes_ago(20)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert_eq!(out["results"][0]["version"], 3);
    let r: Value = app
        .get(&a, &format!("/api/v1/residents/{rid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["phone"], "13900000001");
    assert_eq!(r["household_id"], "H-7");
    let n: i64 = app.db(|c| {
        conflicts::table
            .filter(conflicts::entity_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_same_field_edited_on_two_tablets_goes_to_the_later_clinical_time_and_keeps_the_other() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    let rid = registered(&app, &a).await;
    // A edited at 10 minutes ago, B at 40 minutes ago but syncs later: A's value stays.
    let out = app
        .push(
            &a,
            vec![Op::resident_update(&rid, json!({ "phone": "13911111111" }))
                .base_version(1)
                .recorded_minutes_ago(10)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied");
    let out = app
        .push(
            &b,
            vec![Op::resident_update(&rid, json!({ "phone": "13922222222" }))
                .base_version(1)
                .recorded_minutes_ago(40)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    let conflict_id = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    let r: Value = app
        .get(&a, &format!("/api/v1/residents/{rid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["phone"], "13911111111");
    let (field, client): (Option<String>, Option<String>) = app.db(|c| {
        conflicts::table
            .find(&conflict_id)
            .select((conflicts::field, conflicts::client_value))
            .first(c)
            .unwrap()
    });
    assert_eq!(field.as_deref(), Some("phone"));
    // Kept, but not in clear (docs/security.md, "Refused ops at rest").
    let client: serde_json::Value = serde_json::from_str(&client.unwrap()).unwrap();
    assert!(!client.to_string().contains("13922222222"), "{client}");
    let secret = &app.state.config.id_hash_secret;
    assert_eq!(
        jiayi::sync::quarantine::reopened(&client, secret)["phone"],
        "13922222222",
        "the losing value is kept"
    );

    // Now B edits the name later in clinical time than A's earlier name edit: B wins.
    let out = app
        .push(
            &a,
            vec![Op::resident_update(&rid, json!({ "name": "甲" }))
                .base_version(2)
                .recorded_minutes_ago(50)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied");
    let out = app
        .push(
            &b,
            vec![Op::resident_update(&rid, json!({ "name": "乙" }))
                .base_version(2)
                .recorded_minutes_ago(5)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "conflict");
    let r: Value = app
        .get(&a, &format!("/api/v1/residents/{rid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["name"], "乙");
    let server: Option<String> = app.db(|c| {
        conflicts::table
            .find(out["results"][0]["conflict_id"].as_str().unwrap())
            .select(conflicts::server_value)
            .first(c)
            .unwrap()
    });
    assert!(server.unwrap().contains("甲"), "the overwritten value is kept");
}

#[tokio::test]
async fn two_teams_signing_the_same_resident_offline_leave_one_active_and_one_for_review() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    // A second team also serving doctor1's village.
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
    let d77 = app.login("doctor77").await;
    let rid = registered(&app, &d1).await;
    let (c1, op1) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    let (c2, op2) = contract_op(&rid, t77["id"].as_str().unwrap(), &["BASIC"]);
    assert_eq!(app.push(&d1, vec![op1]).await["results"][0]["status"], "applied");
    let out = app.push(&d77, vec![op2]).await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    let s1: String = app.db(|c| contracts::table.find(&c1).select(contracts::status).first(c).unwrap());
    let s2: String = app.db(|c| contracts::table.find(&c2).select(contracts::status).first(c).unwrap());
    assert_eq!((s1.as_str(), s2.as_str()), ("SIGNED", "PENDING_REVIEW"));
    let kind: String = app.db(|c| {
        conflicts::table
            .filter(conflicts::entity_id.eq(&c2))
            .select(conflicts::kind)
            .first(c)
            .unwrap()
    });
    assert_eq!(kind, "double_signing");
}

#[tokio::test]
async fn a_500_op_batch_with_one_invalid_op_applies_499_and_quarantines_one() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let mut ops: Vec<Value> = (0..500).map(|i| visit_op(&rid, 120 + (i % 30)).1).collect();
    ops[250]["data"]["measurements"]["systolic"] = json!(400);
    let out = app.push(&d1, ops.clone()).await;
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    assert_eq!(results.iter().filter(|r| r["status"] == "applied").count(), 499);
    assert_eq!(results[250]["status"], "rejected");
    assert_eq!(results[250]["error"]["code"], "out_of_range");
    assert_eq!(results[250]["error"]["field"], "measurements.systolic");
    let stored: i64 = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(stored, 499);
    let raw: String = app.db(|c| quarantine::table.select(quarantine::raw).first(c).unwrap());
    assert!(
        raw.contains("400") && raw.contains(ops[250]["op_id"].as_str().unwrap()),
        "the op is kept as sent"
    );
    // The same batch again (response lost): nothing new, and each op keeps its first
    // verdict, the refused one too (a client marking it synced would drop it silently).
    let again = app.push(&d1, ops).await;
    let replayed = again["results"].as_array().unwrap();
    assert!(replayed.iter().all(|r| r["replayed"] == true), "{again}");
    assert_eq!(replayed.iter().filter(|r| r["status"] == "duplicate").count(), 499);
    assert_eq!(replayed[250]["status"], "rejected", "{}", replayed[250]);
    assert_eq!(replayed[250]["error"]["code"], "out_of_range");
    let stored: i64 = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(stored, 499);
    let (_, next) = visit_op(&rid, 130);
    assert_eq!(app.push(&d1, vec![next]).await["results"][0]["status"], "applied");
}

#[tokio::test]
async fn a_delete_reaches_the_other_tablet_as_a_tombstone() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    let rid = registered(&app, &a).await;
    let (vid, vop) = visit_op(&rid, 150);
    app.push(&a, vec![vop]).await;
    let (seen, cursor) = app.pull_all(&b, None).await;
    assert_eq!(find(&seen, &vid).unwrap()["deleted"], false);
    let (now, _) = now_cst();
    let out = app
        .push(&a, vec![Op::visit_delete(&vid).recorded_at(&now).into()])
        .await;
    assert_eq!(out["results"][0]["status"], "applied");
    let (changes, _) = app.pull_all(&b, Some(&cursor)).await;
    let c = find(&changes, &vid).expect("the delete is pulled");
    assert_eq!(c["deleted"], true);
    assert!(c["data"].is_null());
}

#[tokio::test]
async fn a_changed_scope_makes_old_cursors_resync() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let villages = app.villages(&d1).await;
    // A resident in the village the team keeps, one in a village it loses.
    let (kept, kept_op) = resident_op(&villages[0], "1950-06-01", 'F', &[]);
    let (lost, lost_op) = resident_op(&villages[1], "1951-07-02", 'M', &[]);
    app.push(&d1, vec![kept_op, lost_op]).await;
    let (_, cursor) = app.bootstrap_all(&d1, 500).await;
    // The queue: a visit whose answer was lost (so it stays queued), two recorded since.
    let (_, sent_op) = visit_op(&kept, 130);
    app.push(&d1, vec![sent_op.clone()]).await;
    let ((fresh, fresh_op), (_, away_op)) = (visit_op(&kept, 135), visit_op(&lost, 140));
    let away_id = away_op["op_id"].as_str().unwrap().to_string();
    let queue = vec![sent_op, fresh_op, away_op];
    let admin = app.login("admin").await;
    let team = d1.user["team_id"].as_str().unwrap();
    let body = json!({ "village_codes": [villages[0]] });
    let url = app.url(&format!("/api/v1/admin/teams/{team}/villages"));
    let res = app
        .client
        .put(url)
        .bearer_auth(&admin.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get(&d1, &format!("/api/v1/sync/pull?cursor={cursor}")).await;
    assert_error(res, StatusCode::CONFLICT, "resync_required").await;
    // Re-sync as docs/sync-protocol.md §3 says: the synced copy and its cursor are dropped,
    // the queue kept; bootstrap from the first page, then push the queue as it was.
    let (records, cursor) = app.bootstrap_all(&d1, 500).await;
    let residents: Vec<&Value> = records.iter().filter(|r| r["entity"] == "resident").collect();
    assert!(residents
        .iter()
        .all(|r| r["data"]["village_code"] == villages[0].as_str()));
    assert!(find(&records, &kept).is_some() && find(&records, &lost).is_none());
    let out = app.push(&d1, queue).await;
    let verdicts: Vec<(&str, &str)> = (out["results"].as_array().unwrap().iter())
        .map(|r| (r["status"].as_str().unwrap(), r["error"]["code"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        verdicts,
        [("duplicate", ""), ("applied", ""), ("rejected", "unknown_resident")]
    );
    let kept_ops: i64 = app.db(|c| {
        let q = quarantine::table.filter(quarantine::op_id.eq(&away_id));
        q.count().get_result(c).unwrap()
    });
    assert_eq!(
        kept_ops, 1,
        "the op out of scope is kept in quarantine for a supervisor"
    );
    // Pull from the bootstrap's cursor brings the server's version of what was pushed.
    let (changes, _) = app.pull_all(&d1, Some(&cursor)).await;
    assert_eq!(find(&changes, &fresh).expect("the pushed visit")["version"], 1);
}

#[tokio::test]
async fn a_future_dated_visit_is_rejected() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let (_, mut v) = visit_op(&rid, 130);
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .with_timezone(&cst)
        .to_rfc3339();
    v["data"]["occurred_at"] = json!(tomorrow);
    let out = app.push(&d1, vec![v]).await;
    assert_eq!(out["results"][0]["status"], "rejected");
    assert_eq!(out["results"][0]["error"]["code"], "future_timestamp");
    assert_eq!(out["results"][0]["error"]["field"], "occurred_at");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_request_and_replays_gets_every_op_exactly_once() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let ops: Vec<Value> = (0..50).map(|i| visit_op(&rid, 120 + i).1).collect();
    let body = json!({ "device_id": d1.device_id, "ops": ops }).to_string();
    // Send the whole request, then hang up without reading the answer.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        tcp,
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nX-Sync-Protocol: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        d1.access,
        body.len()
    )
    .unwrap();
    drop(tcp);
    // And a request cut off half-way through its body.
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        tcp,
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nX-Sync-Protocol: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        d1.access,
        body.len(),
        &body[..body.len() / 2]
    )
    .unwrap();
    drop(tcp);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let out = app.push(&d1, ops).await;
    assert!(out["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "applied" || r["status"] == "duplicate"));
    let stored: i64 = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(stored, 50);
}

#[tokio::test]
async fn concurrent_pushes_never_let_a_pull_skip_a_change() {
    let app = spawn_app_with(|c| c.pool_size = 6).await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    let reader = app.login("supervisor1").await;
    let rid = registered(&app, &a).await;
    let (_, mut cursor) = app.pull_all(&reader, None).await;
    let mut seen = std::collections::HashSet::new();
    let mut written = Vec::new();
    for round in 0..6 {
        let batch_a: Vec<(String, Value)> = (0..20).map(|i| visit_op(&rid, 120 + i)).collect();
        let batch_b: Vec<(String, Value)> = (0..20).map(|i| visit_op(&rid, 140 + i)).collect();
        written.extend(batch_a.iter().chain(&batch_b).map(|(id, _)| id.clone()));
        let pa = app.push(&a, batch_a.into_iter().map(|x| x.1).collect());
        let pb = app.push(&b, batch_b.into_iter().map(|x| x.1).collect());
        let pr = app.pull_all(&reader, Some(&cursor));
        let (_, _, (changes, next)) = tokio::join!(pa, pb, pr);
        seen.extend(changes.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        cursor = next;
        let _ = round;
    }
    let (changes, _) = app.pull_all(&reader, Some(&cursor)).await;
    seen.extend(changes.iter().map(|c| c["id"].as_str().unwrap().to_string()));
    let missing: Vec<&String> = written.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(missing.is_empty(), "pulls skipped {} changes", missing.len());
}

#[tokio::test]
async fn bootstrap_delivers_the_scope_then_pull_continues_from_its_position() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let (vid, vop) = visit_op(&rid, 125);
    app.push(&d1, vec![vop]).await;
    let (records, cursor) = app.bootstrap_all(&d1, 7).await;
    let villages = app.villages(&d1).await;
    let expected: i64 = app.db(|c| {
        residents::table
            .filter(residents::village_code.eq_any(&villages))
            .filter(residents::deleted.eq(false))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(
        records.iter().filter(|r| r["entity"] == "resident").count() as i64,
        expected
    );
    assert!(find(&records, &rid).is_some() && find(&records, &vid).is_some());
    let ids: std::collections::HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), records.len(), "no record twice");
    // Nothing changed since: the pull from the bootstrap's position is empty; then a new visit arrives.
    let (changes, cursor) = app.pull_all(&d1, Some(&cursor)).await;
    assert!(changes.is_empty());
    let (v2, v2op) = visit_op(&rid, 128);
    app.push(&d1, vec![v2op]).await;
    let (changes, _) = app.pull_all(&d1, Some(&cursor)).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["id"], v2.as_str());
    // Another team's page token is refused.
    let d2 = app.login("doctor2").await;
    let first: Value = app
        .get(&d1, "/api/v1/sync/bootstrap?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let token = first["next_page"].as_str().unwrap();
    let res = app.get(&d2, &format!("/api/v1/sync/bootstrap?page={token}")).await;
    assert_error(res, StatusCode::CONFLICT, "resync_required").await;
}

#[tokio::test]
async fn pulls_are_gzipped_for_clients_that_accept_it() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let res = app
        .client
        .get(app.url("/api/v1/sync/bootstrap"))
        .bearer_auth(&d1.access)
        .header("X-Sync-Protocol", "1")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("content-encoding").unwrap(), "gzip");
}

#[tokio::test]
async fn contracts_change_only_by_legal_transitions() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let rid = registered(&app, &d1).await;
    let (cid, cop) = contract_op(&rid, &team, &["BASIC"]);
    app.push(&d1, vec![cop]).await;
    let (now, _) = now_cst();
    let t = |to: &str, reason: Option<&str>| {
        Op::contract_transition(&cid, json!({ "to": to, "reason": reason, "at": now }))
            .recorded_at(&now)
            .into()
    };
    let out = app
        .push(
            &d1,
            vec![
                t("CANCELLED", None),
                t("VOIDED", Some("fake")),
                t("TERMINATED", Some("bored")),
            ],
        )
        .await;
    let r = out["results"].as_array().unwrap();
    assert_eq!(r[0]["error"]["code"], "illegal_transition");
    assert!(
        r[0]["error"]["message"].as_str().unwrap().contains("ACTIVE")
            && r[0]["error"]["message"].as_str().unwrap().contains("CANCELLED")
    );
    assert_eq!(r[1]["error"]["code"], "transition_not_allowed");
    assert_eq!(r[2]["error"]["code"], "invalid_reason");
    let update = Op::new("contract", "update", &cid, json!({ "packages": ["BASIC", "HTN"] }))
        .base_version(1)
        .recorded_at(&now)
        .build();
    let out = app.push(&d1, vec![update]).await;
    assert_eq!(out["results"][0]["error"]["code"], "contract_immutable");
    let out = app.push(&d1, vec![t("TERMINATED", Some("moved_away"))]).await;
    assert_eq!(out["results"][0]["status"], "applied");
    assert_eq!(out["results"][0]["version"], 2);
    let (status, ended): (String, Option<String>) = app.db(|c| {
        contracts::table
            .find(&cid)
            .select((contracts::status, contracts::ended_on))
            .first(c)
            .unwrap()
    });
    assert_eq!(status, "TERMINATED");
    assert!(ended.is_some());
    // A supervisor voids it (a fake signing found on review).
    let sup = app.login("supervisor1").await;
    let out = app
        .push(&sup, vec![t("VOIDED", Some("signature not the resident's"))])
        .await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    let out = app.push(&sup, vec![t("ACTIVE", None)]).await;
    assert_eq!(out["results"][0]["error"]["code"], "illegal_transition");
}

#[tokio::test]
async fn an_amended_visit_points_at_the_original_and_a_second_amendment_is_flagged() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    let rid = registered(&app, &a).await;
    let (vid, vop) = visit_op(&rid, 190);
    app.push(&a, vec![vop]).await;
    let (now, _) = now_cst();
    let amend = |systolic: i32| {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": rid, "kind": "htn_followup", "occurred_at": now, "amends": vid,
                           "measurements": { "systolic": systolic, "diastolic": 80 } });
        (id.clone(), Op::visit_amend(&id, data).recorded_at(&now).into())
    };
    let (first, op1) = amend(130);
    let out = app.push(&a, vec![op1]).await;
    assert_eq!(out["results"][0]["status"], "applied");
    let amended_by: Option<String> = app.db(|c| visits::table.find(&vid).select(visits::amended_by).first(c).unwrap());
    assert_eq!(amended_by.as_deref(), Some(first.as_str()));
    // The other tablet corrected the same visit offline.
    let (second, op2) = amend(135);
    let out = app.push(&b, vec![op2]).await;
    assert_eq!(out["results"][0]["status"], "conflict");
    let chain: Option<String> = app.db(|c| visits::table.find(&second).select(visits::amends).first(c).unwrap());
    assert_eq!(chain.as_deref(), Some(first.as_str()), "the second amends the newest");
    let live: i64 = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .filter(visits::amended_by.is_null())
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(live, 1, "one visit counts");
}

#[tokio::test]
async fn a_resident_who_moves_village_leaves_one_teams_tablets_and_reaches_the_others() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let rid = registered(&app, &d1).await;
    let (cid, cop) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    app.push(&d1, vec![cop]).await;
    let (_, c1) = app.pull_all(&d1, None).await;
    let (_, c2) = app.pull_all(&d2, None).await;
    let target = app.villages(&d2).await[0].clone();
    let out = app
        .push(
            &d1,
            vec![Op::resident_update(&rid, json!({ "village_code": target }))
                .base_version(1)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    let (changes, _) = app.pull_all(&d1, Some(&c1)).await;
    assert_eq!(
        find(&changes, &rid).unwrap()["deleted"],
        true,
        "gone from team 1's tablets"
    );
    assert_eq!(find(&changes, &cid).unwrap()["deleted"], true);
    let (changes, _) = app.pull_all(&d2, Some(&c2)).await;
    assert_eq!(find(&changes, &rid).unwrap()["data"]["village_code"], target.as_str());
    assert!(find(&changes, &cid).unwrap()["data"].is_object(), "its records follow");
}

#[tokio::test]
async fn blobs_are_verified_stored_once_and_read_only_in_scope() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let bytes = b"\x89PNG fake signature image".to_vec();
    let sha = hex::encode(Sha256::digest(&bytes));
    let put = |s: &Session, sha: String, body: Vec<u8>| {
        let app = &app;
        let token = s.access.clone();
        async move {
            app.client
                .put(app.url(&format!("/api/v1/blobs/{sha}")))
                .bearer_auth(token)
                .header("content-type", "image/png")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // A contract may name the signature before it is uploaded.
    let rid = registered(&app, &d1).await;
    let (cid, mut cop) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    cop["data"]["signature_sha256"] = json!(sha);
    assert_eq!(app.push(&d1, vec![cop]).await["results"][0]["status"], "applied");
    let missing: Value = app.get(&d1, "/api/v1/blobs/missing").await.json().await.unwrap();
    assert!(missing
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == cid.as_str() && m["sha256"] == sha.as_str()));
    let head = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&d1.access)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    let res = put(&d1, sha.clone(), b"other bytes".to_vec()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch").await;
    assert_eq!(put(&d1, sha.clone(), bytes.clone()).await.status(), StatusCode::CREATED);
    assert_eq!(put(&d1, sha.clone(), bytes.clone()).await.status(), StatusCode::OK);
    let head = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&d1.access)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let got = app.get(&d1, &format!("/api/v1/blobs/{sha}")).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    let res = app.get(&d2, &format!("/api/v1/blobs/{sha}")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let missing: Value = app.get(&d1, "/api/v1/blobs/missing").await.json().await.unwrap();
    assert!(missing.as_array().unwrap().is_empty());
    let res = put(&d1, "not-a-hash".into(), bytes.clone()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_sha256").await;
}

#[tokio::test]
async fn a_device_that_syncs_too_often_is_told_when_to_come_back() {
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 3).await;
    let d1 = app.login("doctor1").await;
    for _ in 0..3 {
        assert_eq!(app.get(&d1, "/api/v1/sync/pull?limit=1").await.status(), StatusCode::OK);
    }
    let res = app.get(&d1, "/api/v1/sync/pull?limit=1").await;
    let wait: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another device is not held up.
    let other = app.login("doctor2").await;
    assert_eq!(
        app.get(&other, "/api/v1/sync/pull?limit=1").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_termination_recorded_offline_during_the_term_is_accepted_after_expiry() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let signed = (chrono::Utc::now() - chrono::Duration::days(400)).with_timezone(&cst);
    let ended = (chrono::Utc::now() - chrono::Duration::days(200))
        .with_timezone(&cst)
        .to_rfc3339();
    let cid = Uuid::now_v7().to_string();
    let data = json!({ "resident_id": rid, "team_id": d1.user["team_id"], "packages": ["BASIC"], "status": "SIGNED",
                       "signed_at": signed.to_rfc3339(), "effective_from": signed.date_naive().to_string() });
    let create = Op::contract_create(&cid, data).recorded_at(signed.to_rfc3339()).build();
    assert_eq!(app.push(&d1, vec![create]).await["results"][0]["status"], "applied");
    // Today the contract reads EXPIRED, but on the day it was ended it was ACTIVE.
    let end = Op::contract_transition(&cid, json!({ "to": "TERMINATED", "reason": "death", "at": ended }))
        .recorded_at(&ended)
        .build();
    let out = app.push(&d1, vec![end]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
}

#[tokio::test]
async fn one_batch_registering_visiting_correcting_and_moving_a_resident_stays_consistent() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let village = app.villages(&d1).await[0].clone();
    let elsewhere = app.villages(&d2).await[0].clone();
    let (rid, rop) = resident_op(&village, "1950-03-03", 'M', &[]);
    let (v1, v1op) = visit_op(&rid, 150);
    let mut again = v1op.clone();
    again["op_id"] = json!(Uuid::now_v7().to_string());
    // The same visit resent, its id in capitals: still the same visit.
    again["id"] = json!(v1.to_uppercase());
    let mut other = v1op.clone();
    other["op_id"] = json!(Uuid::now_v7().to_string());
    other["data"]["measurements"]["systolic"] = json!(151);
    let (now, _) = now_cst();
    let v2 = Uuid::now_v7().to_string();
    let data = json!({ "resident_id": rid, "kind": "htn_followup", "occurred_at": now,
                       "amends": v1, "measurements": { "systolic": 135, "diastolic": 85 } });
    let amend = Op::visit_amend(&v2, data).recorded_at(&now).build();
    let mv = Op::resident_update(&rid, json!({ "village_code": elsewhere }))
        .base_version(1)
        .recorded_at(&now)
        .build();
    let (_, v3op) = visit_op(&rid, 140);
    let res = app
        .post(
            &d1,
            "/api/v1/sync/push",
            &json!({ "device_id": d1.device_id, "ops": [rop, v1op, again, other, amend, mv, v3op] }),
        )
        .await;
    let out: Value = res.json().await.unwrap();
    assert!(out["results"].is_array(), "{out}");
    let st: Vec<&str> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        st,
        vec!["applied", "applied", "applied", "conflict", "applied", "applied", "rejected"],
        "{out}"
    );
    assert_eq!(
        out["results"][6]["error"]["code"], "unknown_resident",
        "moved out of doctor1's scope"
    );
    let rows: Vec<(String, Option<String>, String)> = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .order(visits::id)
            .select((visits::id, visits::amended_by, visits::village_code))
            .load(c)
            .unwrap()
    });
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        (v1.clone(), Some(v2.clone()), elsewhere.clone()),
        "the visit followed the resident"
    );
    assert_eq!(rows[1].0, v2);
    // Every change of the batch is in the change log with a final position.
    let negative: i64 = app.db(|c| {
        visits::table
            .filter(visits::change_seq.lt(1))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(negative, 0);
}

#[tokio::test]
async fn oversized_batches_and_bodies_are_refused_whole_with_413() {
    let app = spawn_app_with(|c| {
        c.max_batch_ops = 3;
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let ops: Vec<Value> = (0..4).map(|i| visit_op(&rid, 120 + i).1).collect();
    let res = app
        .post(
            &d1,
            "/api/v1/sync/push",
            &json!({ "device_id": d1.device_id, "ops": ops }),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "too_many_ops").await;
    let mut big = visit_op(&rid, 120).1;
    big["data"]["notes"] = json!("字".repeat(40_000));
    let res = app
        .post(
            &d1,
            "/api/v1/sync/push",
            &json!({ "device_id": d1.device_id, "ops": [big] }),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let stored: i64 = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(stored, 0, "nothing of a refused batch is kept");
}

#[tokio::test]
async fn every_applied_op_is_audited_with_server_and_clinical_time_and_the_app_version_is_kept() {
    use jiayi::db::views::audit_trail;
    use jiayi::schema::{devices, ledger};
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = registered(&app, &d1).await;
    let (vid, mut vop) = visit_op(&rid, 130);
    let occurred = cst_minutes_ago(90);
    vop["data"]["occurred_at"] = json!(occurred);
    let res = app
        .client
        .post(app.url("/api/v1/sync/push"))
        .bearer_auth(&d1.access)
        .header("X-Sync-Protocol", "1")
        .header("X-App-Version", "2.4.1")
        .json(&json!({ "device_id": d1.device_id, "ops": [vop] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (user, device, at, clinical): (Option<String>, Option<String>, i64, Option<i64>) = app.db(|c| {
        audit_trail::table
            .filter(audit_trail::entity_id.eq(&vid))
            .select((
                audit_trail::user_id,
                audit_trail::device_id,
                audit_trail::at,
                audit_trail::clinical_at,
            ))
            .first(c)
            .unwrap()
    });
    assert_eq!(user.as_deref(), d1.user["id"].as_str());
    assert_eq!(device.as_deref(), Some(d1.device_key.as_str()));
    let clinical = clinical.expect("clinical time kept");
    let expected = chrono::DateTime::parse_from_rfc3339(&occurred).map(|t| t.timestamp_millis());
    assert_eq!(Ok(clinical), expected);
    assert!(at > clinical, "server receive time is apart from the clinical time");
    let (village, team): (Option<String>, Option<String>) = app.db(|c| {
        ledger::table
            .filter(ledger::entity_id.eq(&vid))
            .select((ledger::village_code, ledger::team_id))
            .first(c)
            .unwrap()
    });
    assert_eq!(village.as_deref(), Some(app.villages(&d1).await[0].as_str()));
    assert_eq!(team.as_deref(), d1.user["team_id"].as_str());
    let version: Option<String> = app.db(|c| {
        devices::table
            .find(&d1.device_key)
            .select(devices::app_version)
            .first(c)
            .unwrap()
    });
    assert_eq!(version.as_deref(), Some("2.4.1"));
}

#[tokio::test]
async fn a_blob_over_the_size_limit_is_refused_and_not_stored() {
    let app = spawn_app_with(|c| c.max_blob_bytes = 16).await;
    let d1 = app.login("doctor1").await;
    let bytes = vec![7u8; 17];
    let sha = hex::encode(Sha256::digest(&bytes));
    let res = app
        .client
        .put(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&d1.access)
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let head = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&d1.access)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_blob_of_a_type_the_protocol_does_not_list_is_refused_and_not_stored() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let put = |bytes: Vec<u8>, content_type: Option<&'static str>| {
        let sha = hex::encode(Sha256::digest(&bytes));
        let mut req = app
            .client
            .put(app.url(&format!("/api/v1/blobs/{sha}")))
            .bearer_auth(&d1.access)
            .body(bytes);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        async move { (sha, req.send().await.unwrap()) }
    };
    for t in [
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("image/svg+xml"),
        None,
    ] {
        let (sha, res) = put(format!("refused {t:?}").into_bytes(), t).await;
        assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_blob_type").await;
        let head = app
            .client
            .head(app.url(&format!("/api/v1/blobs/{sha}")))
            .bearer_auth(&d1.access)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND, "{t:?} was stored");
    }
    for (t, served) in [
        ("application/pdf", "application/pdf"),
        ("IMAGE/JPEG; q=1", "image/jpeg"),
    ] {
        let (sha, res) = put(format!("accepted {t}").into_bytes(), Some(t)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{t}");
        let got = app
            .client
            .get(app.url(&format!("/api/v1/blobs/{sha}")))
            .bearer_auth(&d1.access)
            .send()
            .await
            .unwrap();
        assert_eq!(got.headers()["content-type"], served);
    }
}

#[tokio::test]
async fn new_survey_responses_in_one_batch_keep_every_rule() {
    use jiayi::schema::survey_responses;
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1948-08-08", 'F', &[]);
    let (now, _) = now_cst();
    let sid = Uuid::now_v7().to_string();
    let survey = |id: &str, version: i64, satisfaction: &str| {
        let data = json!({ "resident_id": rid, "questionnaire": "satisfaction", "questionnaire_version": version,
                           "answers": { "satisfaction": satisfaction, "awareness": "aware" }, "answered_at": now });
        Op::survey_create(id, data).recorded_at(&now).into()
    };
    let ops = vec![
        rop,
        survey(&sid, 1, "satisfied"),
        survey(&sid, 1, "satisfied"),
        survey(&sid, 1, "dissatisfied"),
        survey(&Uuid::now_v7().to_string(), 9, "satisfied"),
        survey(&Uuid::now_v7().to_string(), 1, "thrilled"),
    ];
    let out = app.push(&d1, ops).await;
    let st: Vec<&str> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        st,
        vec!["applied", "applied", "applied", "conflict", "rejected", "rejected"],
        "{out}"
    );
    assert_eq!(out["results"][4]["error"]["code"], "unknown_questionnaire");
    assert_eq!(out["results"][5]["error"]["code"], "invalid_option");
    assert_eq!(out["results"][5]["error"]["field"], "answers.satisfaction");
    let rows: Vec<(String, Option<bool>, Option<bool>)> = app.db(|c| {
        survey_responses::table
            .filter(survey_responses::resident_id.eq(&rid))
            .select((
                survey_responses::id,
                survey_responses::satisfied,
                survey_responses::aware,
            ))
            .load(c)
            .unwrap()
    });
    assert_eq!(rows, vec![(sid, Some(true), Some(true))]);
}
