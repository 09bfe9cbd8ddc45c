use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};
use jiayi::schema::{regions, teams, users};

const COUNTY: &str = "431126000000";
const TOWNSHIP_1: &str = "431126100000";
const TOWNSHIP_2: &str = "431126101000";

#[tokio::test]
async fn an_admin_creates_a_village_a_team_and_a_user_who_can_log_in() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/regions",
            &json!({ "code": "431126100999", "name": "新村" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(&admin, "/api/v1/admin/teams", &json!({ "code": "T99", "name": "新村家医团队", "township_code": TOWNSHIP_1, "village_codes": ["431126100999"] }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "newdoc", "password": "a-long-secret-1", "role": "doctor", "team_code": "T99", "display_name": "新医生" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: serde_json::Value = res.json().await.unwrap();
    assert!(created.get("password_hash").is_none() && created.get("password").is_none());
    let res = app.login_raw("newdoc", "a-long-secret-1", "device-newdoc").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_doctor_or_supervisor_cannot_administer() {
    let app = spawn_app().await;
    for who in ["doctor1", "supervisor1"] {
        let s = app.login(who).await;
        let res = app
            .post(&s, "/api/v1/admin/users", &json!({ "username": "sneaky", "password": "a-long-secret-1", "role": "admin", "region_code": COUNTY, "display_name": "x" }))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app
            .post(
                &s,
                "/api/v1/admin/regions",
                &json!({ "code": "431126100998", "name": "x" }),
            )
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let n: i64 = app.db(|c| {
        users::table
            .filter(users::username.eq("sneaky"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(n, 0);
}

#[tokio::test]
async fn bad_admin_input_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let before_users: i64 = app.db(|c| users::table.count().get_result(c).unwrap());
    let cases = [
        (
            json!({ "username": "ok_name", "password": "short", "role": "doctor", "team_code": "T01", "display_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({ "username": "ok_name", "password": "a-long-secret-1", "role": "wizard", "display_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_role",
        ),
        (
            json!({ "username": "x", "password": "a-long-secret-1", "role": "doctor", "team_code": "T01", "display_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
        ),
        (
            json!({ "username": "ok_name", "password": "a-long-secret-1", "role": "doctor", "team_code": "NOPE", "display_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_team",
        ),
        (
            json!({ "username": "doctor1", "password": "a-long-secret-1", "role": "doctor", "team_code": "T01", "display_name": "x" }),
            StatusCode::CONFLICT,
            "username_taken",
        ),
        (
            json!({ "username": "ok_name", "password": 12345, "role": "doctor", "display_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let res = app.post(&admin, "/api/v1/admin/users", &body).await;
        assert_error(res, status, code).await;
    }
    let res = app
        .post(
            &admin,
            "/api/v1/admin/regions",
            &json!({ "code": "4311261009", "name": "x" }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_region_code").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/regions",
            &json!({ "code": "431126555001", "name": "x" }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_parent_region").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/teams",
            &json!({ "code": "T98", "name": "x", "township_code": TOWNSHIP_1, "village_codes": ["431126101201"] }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    let after_users: i64 = app.db(|c| users::table.count().get_result(c).unwrap());
    assert_eq!(before_users, after_users);
    let t: i64 = app.db(|c| {
        teams::table
            .filter(teams::code.eq("T98"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(t, 0, "a refused team leaves no rows");
}

#[tokio::test]
async fn an_admin_of_another_county_cannot_touch_this_one() {
    let app = spawn_app().await;
    // A second county with its own admin, set up the way the command line does it.
    app.db(|c| {
        jiayi::domain::region::create(c, "431127000000", "邻县", None).unwrap();
        let new = jiayi::domain::user::NewUser {
            username: "admin2".into(),
            password: "jiayi-demo".into(),
            role: "admin".into(),
            team_code: None,
            region_code: Some("431127000000".into()),
            display_name: "邻县管理员".into(),
        };
        jiayi::domain::user::create(c, &new, None).unwrap();
    });
    let other = app.login("admin2").await;
    let res = app
        .post(
            &other,
            "/api/v1/admin/regions",
            &json!({ "code": "431126100997", "name": "x" }),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(&other, "/api/v1/admin/users", &json!({ "username": "spy", "password": "a-long-secret-1", "role": "supervisor", "region_code": TOWNSHIP_1, "display_name": "x" }))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get(&other, &format!("/api/v1/regions/{COUNTY}/children")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .get(&other, &format!("/api/v1/reports/coverage?region={COUNTY}&period=2026"))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let n: i64 = app.db(|c| {
        regions::table
            .filter(regions::code.eq("431126100997"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_supervisor_of_another_township_cannot_revoke_this_townships_devices() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "supervisor2", "password": "jiayi-demo", "role": "supervisor", "region_code": TOWNSHIP_2, "display_name": "二号督导" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let doctor = app.login("doctor1").await;
    let other = app.login("supervisor2").await;
    let res = app
        .post(
            &other,
            &format!("/api/v1/devices/{}/revoke", doctor.device_key),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.get(&doctor, "/api/v1/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_audit_log_is_readable_by_supervisors_and_admins_in_their_reach_and_never_writable() {
    let app = spawn_app().await;
    let doctor = app.login("doctor1").await;
    let admin = app.login("admin").await;
    let sup = app.login("supervisor1").await;
    let page: serde_json::Value = app.get(&admin, "/api/v1/audit?limit=500").await.json().await.unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["action"] == "login"
        && e["user_id"] == doctor.user["id"]
        && e["device_id"] == doctor.device_key.as_str()));
    // Filters and paging.
    let mine: serde_json::Value = app
        .get(
            &admin,
            &format!("/api/v1/audit?device_id={}&limit=1", doctor.device_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["entries"].as_array().unwrap().len(), 1);
    assert!(mine["entries"][0]["device_id"] == doctor.device_key.as_str());
    // The township supervisor sees their township's staff.
    let seen: serde_json::Value = app.get(&sup, "/api/v1/audit?colour=red").await.json().await.unwrap();
    assert_eq!(seen["error"]["code"], "invalid_query", "unknown filters are refused");
    let logins: serde_json::Value = app.get(&sup, "/api/v1/audit?action=login").await.json().await.unwrap();
    let logins = logins["entries"].as_array().unwrap();
    assert!(!logins.is_empty() && logins.iter().all(|e| e["action"] == "login"));
    let seen: serde_json::Value = app.get(&sup, "/api/v1/audit?limit=500").await.json().await.unwrap();
    assert!(seen["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["user_id"] == doctor.user["id"]));
    // Another township's supervisor does not.
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "supervisor2", "password": "jiayi-demo", "role": "supervisor", "region_code": TOWNSHIP_2, "display_name": "二号督导" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let other = app.login("supervisor2").await;
    let seen: serde_json::Value = app.get(&other, "/api/v1/audit?limit=500").await.json().await.unwrap();
    assert!(!seen["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["user_id"] == doctor.user["id"]));
    // Doctors cannot read it; nobody can change it.
    assert_error(
        app.get(&doctor, "/api/v1/audit").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app.get(&admin, "/api/v1/audit?from=yesterday").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_time").await;
    for method in [reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
        let res = app
            .client
            .request(method, app.url("/api/v1/audit"))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap();
        assert!(
            res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::METHOD_NOT_ALLOWED,
            "{}",
            res.status()
        );
    }
}

#[tokio::test]
async fn team_villages_are_set_only_by_an_admin_and_only_to_villages_of_the_teams_township() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let own = app.villages(&d1).await;
    let put = |s: &crate::helpers::Session, body: serde_json::Value, team: String| {
        let app = &app;
        let token = s.access.clone();
        async move {
            app.client
                .put(app.url(&format!("/api/v1/admin/teams/{team}/villages")))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = put(&d1, json!({ "village_codes": [own[0]] }), team.clone()).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = put(&admin, json!({ "village_codes": ["431126101201"] }), team.clone()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    let res = put(&admin, json!({ "village_codes": [] }), team.clone()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "no_villages").await;
    let res = put(
        &admin,
        json!({ "village_codes": [own[0]] }),
        "00000000-0000-0000-0000-000000000000".into(),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.villages(&d1).await, own, "refused changes change nothing");
    let res = put(&admin, json!({ "village_codes": [own[0]] }), team).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.villages(&d1).await, vec![own[0].clone()]);
}

#[tokio::test]
async fn devices_and_region_children_are_listed_within_the_callers_reach() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let admin = app.login("admin").await;
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "supervisor2", "password": "jiayi-demo", "role": "supervisor", "region_code": TOWNSHIP_2, "display_name": "二号督导" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sup1 = app.login("supervisor1").await;
    let sup2 = app.login("supervisor2").await;
    assert_error(
        app.get(&d1, "/api/v1/devices").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let listed = |v: serde_json::Value| v.as_array().unwrap().iter().any(|d| d["id"] == d1.device_key.as_str());
    assert!(listed(app.get(&sup1, "/api/v1/devices").await.json().await.unwrap()));
    assert!(
        !listed(app.get(&sup2, "/api/v1/devices").await.json().await.unwrap()),
        "another township's tablets"
    );
    let towns: serde_json::Value = app
        .get(&admin, &format!("/api/v1/regions/{COUNTY}/children"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(towns.as_array().unwrap().len(), 5);
    let mine: serde_json::Value = app
        .get(&sup1, &format!("/api/v1/regions/{COUNTY}/children"))
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![TOWNSHIP_1], "a supervisor picks only their township");
    let res = app.get(&admin, "/api/v1/regions/12345/children").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}
