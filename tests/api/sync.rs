use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, contract_op, resident_op, spawn_app, TestApp};
use jiayi::schema::{contracts, quarantine, residents};

async fn pull_all(app: &TestApp, s: &crate::helpers::Session, cursor: Option<&str>) -> (Vec<Value>, String) {
    app.pull_all(s, cursor).await
}

#[tokio::test]
async fn a_doctor_pushes_a_resident_and_a_contract_pulls_them_and_coverage_counts_the_signing() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();
    let (_, cursor_before) = pull_all(&app, &d1, None).await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let coverage = |s| {
        let app = &app;
        let village = village.clone();
        let year = year.clone();
        async move {
            let res = app
                .get(
                    s,
                    &format!("/api/v1/reports/coverage?region={village}&period={year}&group_by=village"),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            body["total"]["indicators"]["signing_rate"]["numerator"]
                .as_i64()
                .unwrap()
        }
    };
    let signed_before = coverage(&d1).await;

    let (rid, rop) = resident_op(&village, "1948-02-03", 'M', &["hypertension"]);
    let (cid, cop) = contract_op(&rid, &team, &["BASIC", "HTN"]);
    let out = app.push(&d1, vec![rop, cop]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert_eq!(out["results"][1]["status"], "applied", "{out}");
    assert_eq!(out["results"][1]["version"], 1);

    let (changes, _) = pull_all(&app, &d1, Some(&cursor_before)).await;
    let ids: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["entity"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, vec![("resident", rid.as_str()), ("contract", cid.as_str())]);
    assert_eq!(changes[1]["data"]["status"], "ACTIVE");
    assert_eq!(changes[1]["data"]["packages"], json!(["BASIC", "HTN"]));

    assert_eq!(coverage(&d1).await, signed_before + 1);
}

#[tokio::test]
async fn a_replayed_batch_answers_duplicate_and_stores_nothing_twice() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1960-07-08", 'F', &[]);
    let (_, cop) = contract_op(&rid, &team, &["BASIC"]);
    let ops = vec![rop, cop];
    let first = app.push(&d1, ops.clone()).await;
    let again = app.push(&d1, ops).await;
    for (a, b) in first["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["results"].as_array().unwrap())
    {
        assert_eq!(b["status"], "duplicate");
        assert_eq!(b["replayed"], true);
        assert_eq!(a["op_id"], b["op_id"]);
        assert_eq!(a["version"], b["version"]);
    }
    let n: i64 = app.db(|c| {
        contracts::table
            .filter(contracts::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_invalid_op_is_rejected_and_quarantined_without_blocking_the_batch() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (good_id, good) = resident_op(&village, "1970-01-01", 'M', &[]);
    let (bad_id, mut bad) = resident_op(&village, "1970-01-01", 'M', &[]);
    // Flip the check character: a typo on the tablet.
    let idn = bad["data"]["id_number"].as_str().unwrap().to_string();
    let last = if idn.ends_with('0') { '1' } else { '0' };
    bad["data"]["id_number"] = json!(format!("{}{last}", &idn[..17]));
    let garbage = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "resident" });
    let (after_id, after) = resident_op(&village, "1971-01-01", 'F', &[]);
    let out = app.push(&d1, vec![good, bad, garbage, after]).await;
    let r = out["results"].as_array().unwrap();
    assert_eq!(r[0]["status"], "applied");
    assert_eq!(r[1]["status"], "rejected");
    assert_eq!(r[1]["error"]["code"], "id_number_checksum");
    assert_eq!(r[1]["error"]["field"], "id_number");
    assert!(!out.to_string().contains(&idn[..17]), "the ID number is not echoed");
    assert_eq!(r[2]["status"], "rejected");
    assert_eq!(r[2]["error"]["code"], "malformed_op");
    assert_eq!(r[3]["status"], "applied");
    let stored: Vec<String> = app.db(|c| {
        residents::table
            .filter(residents::id.eq_any([&good_id, &bad_id, &after_id]))
            .select(residents::id)
            .load(c)
            .unwrap()
    });
    assert_eq!(stored.len(), 2);
    assert!(!stored.contains(&bad_id));
    let q: i64 = app.db(|c| quarantine::table.count().get_result(c).unwrap());
    assert_eq!(q, 2, "both refused ops are kept for review");
    let placed: Vec<Option<String>> = app.db(|c| {
        quarantine::table
            .order(quarantine::received_at)
            .select(quarantine::village_code)
            .load(c)
            .unwrap()
    });
    assert!(
        placed.contains(&Some(village.clone())),
        "a refused op lands in its village's review queue"
    );
    // The device's next batch goes through.
    let (_, next) = resident_op(&village, "1972-01-01", 'F', &[]);
    let out = app.push(&d1, vec![next]).await;
    assert_eq!(out["results"][0]["status"], "applied");
}

#[tokio::test]
async fn two_teams_signing_the_same_resident_offline_hold_the_second_for_review() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team1 = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1950-01-01", 'M', &[]);
    let (_, first) = contract_op(&rid, &team1, &["BASIC"]);
    let (_, second) = contract_op(&rid, &team1, &["BASIC", "ELDERLY"]);
    let out = app.push(&d1, vec![rop, first, second]).await;
    assert_eq!(out["results"][1]["status"], "applied");
    assert_eq!(out["results"][2]["status"], "conflict");
    assert!(out["results"][2]["conflict_id"].is_string());
    let statuses: Vec<String> = app.db(|c| {
        contracts::table
            .filter(contracts::resident_id.eq(&rid))
            .order(contracts::id)
            .select(contracts::status)
            .load(c)
            .unwrap()
    });
    assert_eq!(statuses, vec!["SIGNED", "PENDING_REVIEW"]);
}

#[tokio::test]
async fn sync_requires_the_protocol_header_and_the_tokens_device() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let res = app
        .client
        .post(app.url("/api/v1/sync/push"))
        .bearer_auth(&d1.access)
        .json(&json!({ "device_id": d1.device_id, "ops": [] }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UPGRADE_REQUIRED, "unsupported_protocol").await;
    let res = app
        .client
        .get(app.url("/api/v1/sync/pull"))
        .bearer_auth(&d1.access)
        .header("X-Sync-Protocol", "2")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UPGRADE_REQUIRED, "unsupported_protocol").await;
    let res = app
        .post(
            &d1,
            "/api/v1/sync/push",
            &json!({ "device_id": "someone-elses-tablet", "ops": [] }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "device_mismatch").await;
    let res = app
        .post(&d1, "/api/v1/sync/push", &json!({ "device_id": d1.device_id }))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}

#[tokio::test]
async fn another_teams_cursor_is_refused_and_a_forged_one_too() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let (_, cursor1) = pull_all(&app, &d1, None).await;
    let res = app.get(&d2, &format!("/api/v1/sync/pull?cursor={cursor1}")).await;
    assert_error(res, StatusCode::CONFLICT, "resync_required").await;
    let forged = cursor1.replacen("v2.", "v2.9", 1);
    let res = app.get(&d1, &format!("/api/v1/sync/pull?cursor={forged}")).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let res = app.get(&d1, "/api/v1/sync/pull?limit=0").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_limit").await;
    let res = app.get(&d1, "/api/v1/sync/pull?limit=abc").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn a_team_pulls_only_its_own_villages() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let v2 = app.villages(&d2).await;
    let (rid, rop) = resident_op(&v2[0], "1990-01-01", 'F', &[]);
    app.push(&d2, vec![rop]).await;
    let (changes, _) = pull_all(&app, &d1, None).await;
    assert!(!changes.iter().any(|c| c["id"] == rid.as_str()));
    let (changes, _) = pull_all(&app, &d2, None).await;
    assert!(changes.iter().any(|c| c["id"] == rid.as_str()));
}

/// New residents and contracts of one batch are checked against each other as well as the
/// database: a second registration of one ID number and a second signing of one resident
/// within a batch are caught like those of two batches.
#[tokio::test]
async fn twins_and_double_signings_inside_one_batch_are_caught() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();

    let (rid, rop) = resident_op(&village, "1950-05-06", 'F', &["diabetes"]);
    let (twin_id, mut twin) = resident_op(&village, "1950-05-06", 'F', &[]);
    twin["data"]["id_number"] = rop["data"]["id_number"].clone();
    let (c1, c1op) = contract_op(&rid, &team, &["BASIC", "DM"]);
    let (c2, c2op) = contract_op(&rid, &team, &["BASIC"]);
    let (_, bad_package) = contract_op(&rid, &team, &["BASIC", "NOPE"]);
    let (draft, mut draft_op) = contract_op(&rid, &team, &["BASIC"]);
    draft_op["data"]["status"] = json!("DRAFT");
    draft_op["data"]["signed_at"] = Value::Null;
    let out = app.push(&d1, vec![rop, twin, c1op, c2op, bad_package, draft_op]).await;
    let status = |i: usize| out["results"][i]["status"].as_str().unwrap().to_string();
    assert_eq!(
        (0..6).map(status).collect::<Vec<_>>(),
        ["applied", "conflict", "applied", "conflict", "rejected", "applied"],
        "{out}"
    );
    assert_eq!(out["results"][4]["error"]["code"], "unknown_package", "{out}");

    let (held, drafted, twins, packages) = app.db(|c| {
        use jiayi::schema::{conflicts, contract_packages};
        let st = |c: &mut jiayi::db::DbConn, id: &str| -> String {
            contracts::table.find(id).select(contracts::status).first(c).unwrap()
        };
        let twins: i64 = conflicts::table
            .filter(conflicts::kind.eq("duplicate_resident"))
            .filter(conflicts::entity_id.eq(&twin_id))
            .filter(conflicts::other_entity_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap();
        let packages: Vec<String> = contract_packages::table
            .filter(contract_packages::contract_id.eq(&c1))
            .order(contract_packages::package_code)
            .select(contract_packages::package_code)
            .load(c)
            .unwrap();
        ((st(c, &c1), st(c, &c2)), st(c, &draft), twins, packages)
    });
    assert_eq!(held, ("SIGNED".to_string(), "PENDING_REVIEW".to_string()));
    assert_eq!(drafted, "DRAFT");
    assert_eq!(twins, 1);
    assert_eq!(packages, ["BASIC", "DM"]);

    // Rows written together carry their final change-log positions.
    let provisional: i64 = app.db(|c| {
        let r: i64 = residents::table
            .filter(residents::change_seq.le(0))
            .count()
            .get_result(c)
            .unwrap();
        let k: i64 = contracts::table
            .filter(contracts::change_seq.le(0))
            .count()
            .get_result(c)
            .unwrap();
        r + k
    });
    assert_eq!(provisional, 0);

    // Every record of the batch reaches the team's pull.
    let (changes, _) = pull_all(&app, &d1, None).await;
    for id in [&rid, &twin_id, &c1, &c2, &draft] {
        let seen = changes.iter().filter(|c| c["id"] == json!(id)).count();
        assert_eq!(seen, 1, "{id} in pull: {changes:?}");
    }
}

/// Two tablets pushing at the same moment must still see each other: the same person
/// registered on both is flagged once, and the same resident signed on both holds one
/// contract for review (on PostgreSQL the batches really run side by side).
#[tokio::test]
async fn simultaneous_batches_registering_and_signing_the_same_person_see_each_other() {
    let app = spawn_app().await;
    let a = app.login_on("doctor1", "tablet-a").await;
    let b = app.login_on("doctor1", "tablet-b").await;
    let team = a.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&a).await[0].clone();
    for round in 0..4 {
        let (r1, op1) = resident_op(&village, "1949-09-09", 'M', &[]);
        let (r2, mut op2) = resident_op(&village, "1949-09-09", 'M', &[]);
        op2["data"]["id_number"] = op1["data"]["id_number"].clone();
        let (x, y) = tokio::join!(app.push(&a, vec![op1]), app.push(&b, vec![op2]));
        let statuses = [&x, &y].map(|o| o["results"][0]["status"].as_str().unwrap().to_string());
        let mut sorted = statuses.to_vec();
        sorted.sort();
        assert_eq!(sorted, ["applied", "conflict"], "round {round}: {x} {y}");

        let (_, c1) = contract_op(&r1, &team, &["BASIC"]);
        let (_, c2) = contract_op(&r1, &team, &["BASIC"]);
        let (x, y) = tokio::join!(app.push(&a, vec![c1]), app.push(&b, vec![c2]));
        let mut sorted = [&x, &y].map(|o| o["results"][0]["status"].as_str().unwrap().to_string());
        sorted.sort();
        assert_eq!(sorted, ["applied", "conflict"], "round {round}: {x} {y}");
        let statuses: Vec<String> = app.db(|c| {
            contracts::table
                .filter(contracts::resident_id.eq(&r1))
                .order(contracts::status)
                .select(contracts::status)
                .load(c)
                .unwrap()
        });
        assert_eq!(statuses, ["PENDING_REVIEW", "SIGNED"], "round {round}");
        let _ = r2;
    }
}
