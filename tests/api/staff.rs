//! The console's staff, team and account endpoints (docs/console.md): what an
//! administrator does to accounts takes effect at the affected user's next call, bad input
//! stores nothing, and supervisors only read their own township.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, resident_op, spawn_app, supervisor_of, Session, TestApp, DEMO_PASSWORD};
use jiayi::schema::{team_villages, users};

const TOWNSHIP_2: &str = "431126101000";

async fn patch(app: &TestApp, s: &Session, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(&s.access)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn user_id(s: &Session) -> String {
    s.user["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_staff_list_shows_each_account_in_reach_and_pages() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let doctor = app.login("doctor1").await;
    let page = json_of(app.get(&admin, "/api/v1/admin/users?limit=500").await).await;
    let items = page["items"].as_array().unwrap();
    let d1 = items
        .iter()
        .find(|u| u["username"] == "doctor1")
        .expect("doctor1 listed");
    for field in [
        "id",
        "username",
        "display_name",
        "role",
        "team_id",
        "region_code",
        "active",
        "last_login_at",
    ] {
        assert!(d1.get(field).is_some(), "{field} in {d1}");
    }
    assert_eq!(d1["active"], true);
    assert!(d1["last_login_at"].as_i64().unwrap() > 0, "doctor1 logged in: {d1}");
    assert!(d1["device_count"].as_i64().unwrap() >= 1);
    assert!(d1.get("password_hash").is_none());
    assert_eq!(d1["id"], user_id(&doctor));
    let me = json_of(app.get(&doctor, "/api/v1/me").await).await;
    assert_eq!(me["display_name"], d1["display_name"]);
    assert_eq!(me["must_change_password"], false);
    // Pages of 2 walk the same accounts in the same order.
    let mut walked = Vec::new();
    let mut path = "/api/v1/admin/users?limit=2".to_string();
    loop {
        let page = json_of(app.get(&admin, &path).await).await;
        walked.extend(page["items"].as_array().unwrap().iter().map(|u| u["username"].clone()));
        match page["cursor"].as_str() {
            Some(c) => path = format!("/api/v1/admin/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    let all: Vec<Value> = items.iter().map(|u| u["username"].clone()).collect();
    assert_eq!(walked, all);
    // Filters.
    let docs = json_of(app.get(&admin, "/api/v1/admin/users?role=doctor&q=doctor").await).await;
    assert!(docs["items"].as_array().unwrap().iter().all(|u| u["role"] == "doctor"));
    assert!(!docs["items"].as_array().unwrap().is_empty());
    // A supervisor reads their township only; a doctor nothing.
    let sup = app.login("supervisor1").await;
    let theirs = json_of(app.get(&sup, "/api/v1/admin/users").await).await;
    let township = sup.user["region_code"].as_str().unwrap();
    assert!(theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["region_code"] == township));
    let other = supervisor_of(&app, "sup_other", TOWNSHIP_2).await;
    let seen = json_of(app.get(&other, "/api/v1/admin/users").await).await;
    assert!(
        seen["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["username"] != "doctor1"),
        "{seen}"
    );
    assert_error(
        app.get(&doctor, "/api/v1/admin/users").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Bad queries.
    for (q, code) in [
        ("limit=0", "invalid_limit"),
        ("role=chief", "invalid_query"),
        ("active=maybe", "invalid_query"),
    ] {
        let res = app.get(&admin, &format!("/api/v1/admin/users?{q}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{q}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{q}: {body}");
        if q != "active=maybe" {
            assert_eq!(body["error"]["code"], code, "{q}");
        }
    }
}

#[tokio::test]
async fn a_deactivated_doctor_is_refused_at_once_and_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let tablet = app.login("doctor1").await;
    let id = user_id(&tablet);
    let sup = app.login("supervisor1").await;
    // A resident the doctor registered before leaving.
    let village = app.villages(&tablet).await[0].clone();
    let (rid, registered) = resident_op(&village, "1957-09-10", 'F', &[]);
    assert_eq!(
        app.push(&tablet, vec![registered]).await["results"][0]["status"],
        "applied"
    );
    // Only an admin deactivates; a reason is required; nothing changes on a refusal.
    let res = app
        .post(
            &sup,
            &format!("/api/v1/admin/users/{id}/deactivate"),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            &admin,
            &format!("/api/v1/admin/users/{id}/deactivate"),
            &json!({ "reason": "  " }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    let res = app
        .post(&admin, &format!("/api/v1/admin/users/{id}/deactivate"), &json!({}))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(app.get(&tablet, "/api/v1/me").await.status(), StatusCode::OK);
    let me = user_id(&admin);
    let res = app
        .post(
            &admin,
            &format!("/api/v1/admin/users/{me}/deactivate"),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "own_account").await;

    let res = app
        .post(
            &admin,
            &format!("/api/v1/admin/users/{id}/deactivate"),
            &json!({ "reason": "调离本乡" }),
        )
        .await;
    let v = json_of(res).await;
    assert_eq!(v["active"], false);
    assert_error(
        app.get(&tablet, "/api/v1/sync/pull").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let res = app.refresh_raw(&tablet.refresh, &tablet.device_id).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.login_raw("doctor1", DEMO_PASSWORD, &tablet.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // Their records stay; the audit names who did it and why.
    let path = format!("/api/v1/audit?entity_id={id}&action=user_deactivated");
    let audit = json_of(app.get(&admin, &path).await).await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        !entries.is_empty() && entries.iter().all(|e| e["action"] == "user_deactivated"),
        "{audit}"
    );
    let entry = &entries[0];
    assert_eq!(entry["detail"]["reason"], "调离本乡");
    assert_eq!(entry["user_id"], user_id(&admin));
    // What the doctor recorded is still there for those who read the township or county,
    // and so is the audit of their own work.
    for reader in [&sup, &admin] {
        let resident = json_of(app.get(reader, &format!("/api/v1/residents/{rid}")).await).await;
        assert_eq!(resident["name"], "测试居民");
        assert_eq!(resident["village_code"], village.as_str());
    }
    let own = json_of(
        app.get(&admin, &format!("/api/v1/audit?user_id={id}&action=resident_created"))
            .await,
    )
    .await;
    assert!(
        own["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entity_id"] == rid.as_str()),
        "{own}"
    );
}

#[tokio::test]
async fn a_reset_password_is_one_time_and_must_be_changed_before_anything_else() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let tablet = app.login("doctor2").await;
    let id = user_id(&tablet);
    let res = app
        .post(&admin, &format!("/api/v1/admin/users/{id}/reset-password"), &json!({}))
        .await;
    let otp = json_of(res).await["one_time_password"].as_str().unwrap().to_string();
    assert!(otp.len() >= 10);
    // Every token of the account ended; the old password is gone.
    assert_eq!(app.get(&tablet, "/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "dev-reset-0001").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = app.login_raw("doctor2", &otp, "dev-reset-0001").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["password_change_required"], true);
    let s = app.session_from(&body, "dev-reset-0001").await;
    let res = app.get(&s, "/api/v1/sync/pull").await;
    assert_error(res, StatusCode::FORBIDDEN, "password_change_required").await;
    // A push is refused as a whole batch (docs/sync-protocol.md §2).
    let batch = json!({ "device_id": s.device_id, "ops": [] });
    let res = app.post(&s, "/api/v1/sync/push", &batch).await;
    assert_error(res, StatusCode::FORBIDDEN, "password_change_required").await;
    let listed = json_of(app.get(&admin, "/api/v1/admin/users?q=doctor2").await).await;
    assert_eq!(listed["items"][0]["must_change_password"], true);
    // The one-time password must not be kept.
    let res = app
        .post(
            &s,
            "/api/v1/me/password",
            &json!({ "old_password": otp, "new_password": otp }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let res = app
        .post(
            &s,
            "/api/v1/me/password",
            &json!({ "old_password": otp, "new_password": "doctor2-new-Pass" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&s, "/api/v1/sync/pull").await.status(), StatusCode::OK);
    let res = app.login_raw("doctor2", &otp, "dev-reset-0002").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.login_raw("doctor2", "doctor2-new-Pass", "dev-reset-0002").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["password_change_required"], false);
}

#[tokio::test]
async fn a_user_changes_their_password_and_the_old_one_no_longer_logs_in() {
    let app = spawn_app().await;
    let browser = app.login("supervisor1").await;
    let tablet = app.login("supervisor1").await;
    let bad = [
        (
            json!({ "old_password": "wrong-password-1", "new_password": "sup1-new-Password" }),
            "wrong_password",
        ),
        (
            json!({ "old_password": DEMO_PASSWORD, "new_password": "short" }),
            "weak_password",
        ),
        (
            json!({ "old_password": DEMO_PASSWORD, "new_password": "supervisor1" }),
            "weak_password",
        ),
    ];
    for (body, code) in bad {
        let res = app.post(&browser, "/api/v1/me/password", &body).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let res = app
        .post(
            &browser,
            "/api/v1/me/password",
            &json!({ "old_password": DEMO_PASSWORD }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    // Nothing changed on a refusal.
    assert_eq!(
        app.login_raw("supervisor1", DEMO_PASSWORD, "dev-pw-00001")
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post(
            &browser,
            "/api/v1/me/password",
            &json!({ "old_password": DEMO_PASSWORD, "new_password": "sup1-new-Password" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&browser, "/api/v1/me").await.status(),
        StatusCode::OK,
        "this device stays"
    );
    assert_eq!(
        app.get(&tablet, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "others end"
    );
    let res = app.login_raw("supervisor1", DEMO_PASSWORD, "dev-pw-00002").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        app.login_raw("supervisor1", "sup1-new-Password", "dev-pw-00003")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_token_of_the_caller_only() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("doctor1").await;
    let colleague = app.login("doctor2").await;
    let res = app.post(&a, "/api/v1/me/sign-out-everywhere", &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for s in [&a, &b] {
        assert_eq!(app.get(s, "/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
        let res = app.refresh_raw(&s.refresh, &s.device_id).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.get(&colleague, "/api/v1/me").await.status(), StatusCode::OK);
    // The password still works: signing out is not a lock-out.
    assert_eq!(
        app.login_raw("doctor1", DEMO_PASSWORD, &a.device_id).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_edits_an_account_within_the_rules_and_refusals_store_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let id = user_id(&d1);
    let other_team = d2.user["team_id"].as_str().unwrap().to_string();
    let before: (String, String, Option<String>) = app.db(|c| {
        users::table
            .find(&id)
            .select((users::display_name, users::role, users::team_id))
            .first(c)
            .unwrap()
    });
    let path = format!("/api/v1/admin/users/{id}");
    let bad = [
        (
            json!({ "role": "chief" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_role",
        ),
        (
            json!({ "team_id": "no-such-team" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_team",
        ),
        (
            json!({ "role": "supervisor", "team_id": other_team }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "team_not_allowed",
        ),
        (
            json!({ "display_name": "" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            json!({ "password": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, status, code) in bad {
        let res = patch(&app, &admin, &path, &body).await;
        assert_error(res, status, code).await;
    }
    let after: (String, String, Option<String>) = app.db(|c| {
        users::table
            .find(&id)
            .select((users::display_name, users::role, users::team_id))
            .first(c)
            .unwrap()
    });
    assert_eq!(before, after);
    let sup = app.login("supervisor1").await;
    assert_error(
        patch(&app, &sup, &path, &json!({ "display_name": "x" })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = patch(
        &app,
        &admin,
        "/api/v1/admin/users/no-such-user",
        &json!({ "display_name": "x" }),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Moving doctor1 to team 2: the tablet's cursor names the old scope.
    let (_, cursor) = app.pull_all(&d1, None).await;
    let v = json_of(
        patch(
            &app,
            &admin,
            &path,
            &json!({ "display_name": "李医生", "team_id": other_team }),
        )
        .await,
    )
    .await;
    assert_eq!(v["team_id"], other_team.as_str());
    assert_eq!(v["display_name"], "李医生");
    let res = app.get(&d1, &format!("/api/v1/sync/pull?cursor={cursor}")).await;
    assert_error(res, StatusCode::CONFLICT, "resync_required").await;
    assert_eq!(app.villages(&d1).await, app.villages(&d2).await);
}

#[tokio::test]
async fn moving_a_village_rescopes_both_teams_tablets() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let (team1, team2) = (
        d1.user["team_id"].as_str().unwrap(),
        d2.user["team_id"].as_str().unwrap(),
    );
    let v1 = app.villages(&d1).await;
    assert!(v1.len() >= 2, "team 1 needs two villages for this test: {v1:?}");
    let moving = v1[0].clone();
    let (_, c1) = app.pull_all(&d1, None).await;
    let (_, c2) = app.pull_all(&d2, None).await;

    let teams = json_of(app.get(&admin, "/api/v1/admin/teams").await).await;
    let t1 = teams["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == team1)
        .unwrap();
    assert!(t1["villages"].as_array().unwrap().iter().any(|v| v == moving.as_str()));
    assert!(t1["member_count"].as_i64().unwrap() >= 1);

    // Refusals first: a supervisor, an unknown team, a village of another township.
    let path = format!("/api/v1/admin/villages/{moving}/move");
    let sup = app.login("supervisor1").await;
    assert_error(
        app.post(&sup, &path, &json!({ "team_id": team2 })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app.post(&admin, &path, &json!({ "team_id": "no-such-team" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_team").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/villages/431126101201/move",
            &json!({ "team_id": team2 }),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.villages(&d1).await, v1, "nothing moved on a refusal");

    let moved = json_of(app.post(&admin, &path, &json!({ "team_id": team2 })).await).await;
    assert_eq!(moved["from"][0]["id"], team1);
    assert_eq!(moved["to"]["id"], team2);
    assert!(!app.villages(&d1).await.contains(&moving));
    assert!(app.villages(&d2).await.contains(&moving));
    for (s, c) in [(&d1, &c1), (&d2, &c2)] {
        let res = app.get(s, &format!("/api/v1/sync/pull?cursor={c}")).await;
        assert_error(res, StatusCode::CONFLICT, "resync_required").await;
    }
    // One village per team row: the move left no second owner behind.
    let owners: i64 = app.db(|c| {
        team_villages::table
            .filter(team_villages::village_code.eq(&moving))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(owners, 1);
    // A team is never left with no village.
    let rest: Vec<String> = app.villages(&d1).await;
    for v in &rest[..rest.len() - 1] {
        let res = app
            .post(
                &admin,
                &format!("/api/v1/admin/villages/{v}/move"),
                &json!({ "team_id": team2 }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let last = rest.last().unwrap();
    let res = app
        .post(
            &admin,
            &format!("/api/v1/admin/villages/{last}/move"),
            &json!({ "team_id": team2 }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "no_villages").await;
}

#[tokio::test]
async fn the_device_list_filters_and_counts_open_review_items() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    // A refused op from d1's tablet opens a quarantine item.
    let (now, _) = crate::helpers::now_cst();
    let op = json!({ "op_id": uuid::Uuid::now_v7().to_string(), "entity": "visit", "action": "create",
                     "id": uuid::Uuid::now_v7().to_string(), "recorded_at": now,
                     "data": { "resident_id": uuid::Uuid::now_v7().to_string(), "kind": "home_visit",
                               "occurred_at": now, "measurements": {} } });
    let out = app.push(&d1, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "rejected", "{out}");
    let id1 = user_id(&d1);
    let list = json_of(app.get(&admin, &format!("/api/v1/devices?user_id={id1}")).await).await;
    let list = list.as_array().unwrap();
    assert!(!list.is_empty() && list.iter().all(|d| d["user_id"] == id1.as_str()));
    let this = list.iter().find(|d| d["id"] == d1.device_key.as_str()).unwrap();
    assert_eq!(this["pending_review"], 1);
    assert_eq!(this["team_id"], d1.user["team_id"]);
    let team2 = d2.user["team_id"].as_str().unwrap();
    let list = json_of(app.get(&admin, &format!("/api/v1/devices?team_id={team2}")).await).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == d2.device_key.as_str()));
    assert!(list.as_array().unwrap().iter().all(|d| d["team_id"] == team2));
    let res = app
        .post(
            &admin,
            &format!("/api/v1/devices/{}/revoke", d2.device_key),
            &json!({ "reason": "丢失" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let revoked = json_of(app.get(&admin, "/api/v1/devices?revoked=true").await).await;
    assert!(revoked.as_array().unwrap().iter().all(|d| !d["revoked_at"].is_null()));
    assert!(revoked
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == d2.device_key.as_str()));
    let res = app.get(&admin, "/api/v1/devices?revoked=perhaps").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.get(&admin, "/api/v1/devices?colour=red").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
