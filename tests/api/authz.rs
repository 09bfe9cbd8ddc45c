//! The authorisation matrix: every operation in the OpenAPI document, called by every kind
//! of caller, against records of team B (T02) in township X (城关镇) of the demo county.
//!
//! `ROWS` classifies each operation: how to build a valid request, and what each
//! authenticated caller gets. An operation the document has but `ROWS` lacks fails the
//! test, so a new route cannot ship unclassified. Anonymous callers, expired tokens and
//! revoked devices get 401 on every protected operation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::contract::documented_operations;
use crate::helpers::{contract_op, resident_op, spawn_app, Session, TestApp, DEMO_PASSWORD};

/// How to build a valid request for an operation, aimed at team B's records.
#[derive(Clone, Copy, Debug)]
enum Req {
    /// No parameters, no body.
    Plain,
    /// The field app's page (`/field/{path}` with `index.html`).
    FieldPage,
    /// Login as doctor2 on a fresh device.
    Login,
    /// Refresh a fresh doctor2 session.
    Refresh,
    /// Revoke a fresh doctor2 device.
    RevokeTeamBDevice,
    /// A new village in township X.
    NewVillage,
    /// A new team in township X on a new village.
    NewTeam,
    /// A new supervisor of township X.
    NewUser,
    /// Team B's villages, set to what they are.
    TeamBVillages,
    /// Township X's children.
    TownshipXChildren,
    /// Team B's resident.
    TeamBResident,
    /// A batch creating a resident in team B's village, from the caller's device.
    PushIntoTeamB,
    /// The audit log about team B's resident.
    AuditOfTeamBResident,
    /// Upload fresh bytes.
    PutBlob,
    /// Team B's signature blob.
    TeamBBlob,
    /// Coverage of team B's village.
    CoverageOfTeamBVillage,
    /// Trend of team B's village.
    TrendOfTeamBVillage,
    /// A population figure for team B's village.
    PopulationOfTeamBVillage,
    /// Team B's work list.
    TeamBWorklist,
    /// A new questionnaire (a fresh code, version 1).
    NewQuestionnaire,
    /// An open review item in team B's village (an op of team B's tablet refused).
    TeamBReviewItem,
    /// A decision on a fresh open review item in team B's village.
    DecideTeamBReviewItem,
}

/// One classified operation: method, OpenAPI path, request, and the outcome for each
/// authenticated caller in the order of `CALLERS`: doctor of team B, doctor of team A,
/// supervisor of township X, supervisor of township Y, admin, admin of another county.
///
/// Outcomes: a status (`200`, `403`, …); `200-` is 200 without any of team B's record ids,
/// device or blob hashes in the body; `ok+` / `ok-` (push) are 200 with every op applied /
/// every op refused.
struct Row(&'static str, &'static str, Req, &'static str);

/// Authenticated callers, in the order of a row's outcomes.
const CALLERS: [&str; 6] = [
    "doctor_team_b",
    "doctor_team_a",
    "supervisor_township_x",
    "supervisor_township_y",
    "admin",
    "admin_other_county",
];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row("GET",  "/healthz",                            Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/readyz",                             Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/metrics",                            Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api-docs/openapi.json",              Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/",                                   Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/dashboard.js",                Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/dashboard.css",               Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/echarts.min.js",              Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/echarts-LICENSE.txt",         Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/field/{path}",                       Req::FieldPage,                "200 200 200 200 200 200"),
    Row("POST", "/api/v1/auth/login",                  Req::Login,                    "200 200 200 200 200 200"),
    Row("POST", "/api/v1/auth/refresh",                Req::Refresh,                  "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/me",                          Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/audit",                       Req::AuditOfTeamBResident,     "403 403 200 200- 200 200-"),
    Row("GET",  "/api/v1/devices",                     Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("POST", "/api/v1/devices/{id}/revoke",         Req::RevokeTeamBDevice,        "403 403 204 404 204 404"),
    Row("POST", "/api/v1/admin/regions",               Req::NewVillage,               "403 403 403 403 201 403"),
    Row("POST", "/api/v1/admin/teams",                 Req::NewTeam,                  "403 403 403 403 201 403"),
    Row("PUT",  "/api/v1/admin/teams/{id}/villages",   Req::TeamBVillages,            "403 403 403 403 200 404"),
    Row("POST", "/api/v1/admin/users",                 Req::NewUser,                  "403 403 403 403 201 403"),
    Row("POST", "/api/v1/admin/population",            Req::PopulationOfTeamBVillage, "403 403 403 403 200 422"),
    Row("GET",  "/api/v1/regions/{code}/children",     Req::TownshipXChildren,        "200 200 200 200 200 404"),
    Row("GET",  "/api/v1/residents/{id}",              Req::TeamBResident,            "200 404 200 404 200 404"),
    Row("POST", "/api/v1/sync/push",                   Req::PushIntoTeamB,            "ok+ ok- ok+ ok- ok+ ok-"),
    Row("GET",  "/api/v1/sync/pull",                   Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("GET",  "/api/v1/sync/bootstrap",              Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("GET",  "/api/v1/blobs/missing",               Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("PUT",  "/api/v1/blobs/{sha256}",              Req::PutBlob,                  "201 201 201 201 201 201"),
    // HEAD answers only whether bytes the caller already holds are stored (see docs/security.md).
    Row("HEAD", "/api/v1/blobs/{sha256}",              Req::TeamBBlob,                "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/blobs/{sha256}",              Req::TeamBBlob,                "200 404 200 404 200 404"),
    Row("GET",  "/api/v1/reports/indicators",          Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/reports/coverage",            Req::CoverageOfTeamBVillage,   "200 403 200 403 200 403"),
    Row("GET",  "/api/v1/reports/trend",               Req::TrendOfTeamBVillage,      "200 403 200 403 200 403"),
    Row("GET",  "/api/v1/review/count",                Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/review/items",                Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("GET",  "/api/v1/review/items/{id}",           Req::TeamBReviewItem,          "403 403 200 404 200 404"),
    Row("POST", "/api/v1/review/items/{id}/decision",  Req::DecideTeamBReviewItem,    "403 403 200 404 200 404"),
    Row("GET",  "/api/v1/teams/{id}/worklist",         Req::TeamBWorklist,            "200 403 200 403 200 404"),
    Row("GET",  "/api/v1/questionnaires",              Req::Plain,                    "200 200 200 200 200 200"),
    // The questionnaire catalog is shared by every county on a server (docs/domain.md).
    Row("POST", "/api/v1/admin/questionnaires",        Req::NewQuestionnaire,         "403 403 403 403 201 201"),
];

/// A caller: a token (none for anonymous) and the device it speaks for.
#[derive(Clone)]
struct Caller {
    name: &'static str,
    token: Option<String>,
    device_id: String,
}

impl From<(&'static str, &Session)> for Caller {
    fn from((name, s): (&'static str, &Session)) -> Caller {
        Caller {
            name,
            token: Some(s.access.clone()),
            device_id: s.device_id.clone(),
        }
    }
}

/// The demo county plus a supervisor of another township and a second county, and team B's
/// records the matrix aims at.
pub struct World {
    pub app: TestApp,
    pub doctor_b: Session,
    pub doctor_a: Session,
    pub supervisor_x: Session,
    pub supervisor_y: Session,
    pub admin: Session,
    pub admin_other: Session,
    pub team_b: String,
    pub village_b: String,
    pub resident_b: String,
    pub blob_b: String,
    pub missing_blob_b: String,
    /// Team B's resident's ID number, which no response may contain in clear.
    pub id_number_b: String,
    counter: AtomicUsize,
}

/// Team B's resident's phone: in clear only to team B.
pub const PHONE_B: &str = "13912345678";
pub const TOWNSHIP_X: &str = "431126100000";
pub const TOWNSHIP_Y: &str = "431126101000";
pub const OTHER_COUNTY: &str = "431199000000";
/// Password of the users this module creates.
pub const NEW_PASSWORD: &str = "matrix-Pass-2026";

fn sha_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Builds the world: a second county (through the CSV import path), a supervisor of
/// township Y (through the admin API), team B's resident with a signed contract naming an
/// uploaded signature, and a second contract naming a signature never uploaded.
pub async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": "supervisor_y", "password": NEW_PASSWORD, "role": "supervisor",
                     "region_code": TOWNSHIP_Y, "display_name": "青山乡督导" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let regions = dir.path().join("regions.csv");
    std::fs::write(
        &regions,
        format!("code,name\n{OTHER_COUNTY},邻县\n431199100000,邻镇\n431199100201,邻村\n"),
    )
    .unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!(
            "username,password,role,team_code,region_code,display_name\n\
             admin_other,{NEW_PASSWORD},admin,,{OTHER_COUNTY},邻县管理员\n"
        ),
    )
    .unwrap();
    for (kind, path) in [
        (jiayi::import::ImportKind::Regions, &regions),
        (jiayi::import::ImportKind::Users, &users),
    ] {
        let summary = jiayi::import::import(&app.state.pool, kind, path, false).expect("import");
        assert!(summary.refused.is_empty(), "{summary:?}");
    }
    let login_new = |username: &'static str| {
        let app = &app;
        async move {
            let device = format!("dev-{}", Uuid::new_v4().simple());
            let res = app.login_raw(username, NEW_PASSWORD, &device).await;
            assert_eq!(res.status(), StatusCode::OK, "login {username}");
            let body: Value = res.json().await.unwrap();
            app.session_from(&body, &device).await
        }
    };
    let supervisor_y = login_new("supervisor_y").await;
    let admin_other = login_new("admin_other").await;
    let doctor_b = app.login("doctor2").await;
    let doctor_a = app.login("doctor1").await;
    let supervisor_x = app.login("supervisor1").await;
    let team_b = doctor_b.user["team_id"].as_str().unwrap().to_string();
    let village_b = app.villages(&doctor_b).await[0].clone();

    // Team B's signature, uploaded; a second signature never uploaded.
    let signature = format!("signature of team B {}", Uuid::new_v4()).into_bytes();
    let blob_b = sha_hex(&signature);
    let res = app
        .client
        .put(app.url(&format!("/api/v1/blobs/{blob_b}")))
        .bearer_auth(&doctor_b.access)
        .header("content-type", "image/png")
        .body(signature)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let missing_blob_b = sha_hex(Uuid::new_v4().as_bytes());
    let (resident_b, mut r1) = resident_op(&village_b, "1960-05-01", 'M', &[]);
    r1["data"]["phone"] = json!(PHONE_B);
    let id_number_b = r1["data"]["id_number"].as_str().unwrap().to_string();
    let (resident_2, r2) = resident_op(&village_b, "1962-07-02", 'F', &[]);
    let (_, mut c1) = contract_op(&resident_b, &team_b, &["BASIC"]);
    c1["data"]["signature_sha256"] = json!(blob_b);
    let (_, mut c2) = contract_op(&resident_2, &team_b, &["BASIC"]);
    c2["data"]["signature_sha256"] = json!(missing_blob_b);
    let out = app.push(&doctor_b, vec![r1, r2, c1, c2]).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{out}");
    }
    World {
        app,
        doctor_b,
        doctor_a,
        supervisor_x,
        supervisor_y,
        admin,
        admin_other,
        team_b,
        village_b,
        resident_b,
        blob_b,
        missing_blob_b,
        id_number_b,
        counter: AtomicUsize::new(0),
    }
}

/// A request ready to send.
struct Built {
    path: String,
    body: Option<(Vec<u8>, &'static str)>,
}

fn json_body(v: Value) -> Option<(Vec<u8>, &'static str)> {
    Some((serde_json::to_vec(&v).unwrap(), "application/json"))
}

impl World {
    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// Everything of team B that a caller outside its scope must not see in a 200.
    fn secrets(&self) -> Vec<&str> {
        vec![
            &self.resident_b,
            &self.doctor_b.device_id,
            &self.doctor_b.device_key,
            &self.blob_b,
            &self.missing_blob_b,
        ]
    }

    async fn build(&self, req: Req, path: &str, caller: &Caller) -> Built {
        let app = &self.app;
        let n = self.next();
        let year = chrono::Utc::now().format("%Y").to_string();
        let (path, body) = match req {
            Req::Plain => (path.to_string(), None),
            Req::Login => (
                path.to_string(),
                json_body(json!({ "username": "doctor2", "password": DEMO_PASSWORD,
                                  "device_id": format!("dev-{}", Uuid::new_v4().simple()), "device_name": "matrix" })),
            ),
            Req::Refresh => {
                let s = app.login("doctor2").await;
                (
                    path.to_string(),
                    json_body(json!({ "refresh_token": s.refresh, "device_id": s.device_id })),
                )
            }
            Req::RevokeTeamBDevice => {
                let s = app.login("doctor2").await;
                (
                    path.replace("{id}", &s.device_key),
                    json_body(json!({ "reason": "tablet lost" })),
                )
            }
            Req::NewVillage => (
                path.to_string(),
                json_body(json!({ "code": format!("431126100{:03}", 300 + n), "name": "矩阵新村" })),
            ),
            Req::NewTeam => {
                let village = format!("431126100{:03}", 600 + n);
                app.db(|c| jiayi::domain::region::create(c, &village, "矩阵队村", None))
                    .expect("village");
                (
                    path.to_string(),
                    json_body(json!({ "code": format!("MX{n}"), "name": "矩阵团队",
                                      "township_code": TOWNSHIP_X, "village_codes": [village] })),
                )
            }
            Req::NewUser => (
                path.to_string(),
                json_body(json!({ "username": format!("matrix_{n}"), "password": NEW_PASSWORD,
                                  "role": "supervisor", "region_code": TOWNSHIP_X, "display_name": "矩阵督导" })),
            ),
            Req::TeamBVillages => {
                let villages = app.db(|c| jiayi::domain::team::village_codes(c, &self.team_b)).unwrap();
                (
                    path.replace("{id}", &self.team_b),
                    json_body(json!({ "village_codes": villages })),
                )
            }
            Req::TownshipXChildren => (path.replace("{code}", TOWNSHIP_X), None),
            Req::FieldPage => (path.replace("{path}", "index.html"), None),
            Req::TeamBResident => (path.replace("{id}", &self.resident_b), None),
            Req::PushIntoTeamB => {
                // A birth date per call, so the generated ID numbers never collide.
                let birth = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(n as u64);
                let (_, op) = resident_op(&self.village_b, &birth.to_string(), 'F', &[]);
                (
                    path.to_string(),
                    json_body(json!({ "device_id": caller.device_id, "ops": [op] })),
                )
            }
            Req::AuditOfTeamBResident => (format!("{path}?entity_id={}", self.resident_b), None),
            Req::PutBlob => {
                let bytes = format!("matrix blob {n} {}", Uuid::new_v4()).into_bytes();
                (path.replace("{sha256}", &sha_hex(&bytes)), Some((bytes, "image/png")))
            }
            Req::TeamBBlob => (path.replace("{sha256}", &self.blob_b), None),
            Req::CoverageOfTeamBVillage => (format!("{path}?region={}&period={year}", self.village_b), None),
            Req::TrendOfTeamBVillage => (format!("{path}?region={}&year={year}", self.village_b), None),
            Req::PopulationOfTeamBVillage => (
                path.to_string(),
                json_body(
                    json!({ "rows": [{ "region_code": self.village_b, "year": year.parse::<i32>().unwrap(),
                                             "category": "resident", "count": 500 + n }] }),
                ),
            ),
            Req::TeamBWorklist => (path.replace("{id}", &self.team_b), None),
            Req::NewQuestionnaire => (
                path.to_string(),
                json_body(json!({
                    "code": format!("matrix_{n}"), "version": 1, "title": "矩阵问卷",
                    "definition": { "items": [{ "code": "satisfaction", "text": "满意吗？",
                                                "options": ["satisfied", "dissatisfied"] }],
                                    "satisfied_options": ["satisfied"] },
                    "satisfaction_item": "satisfaction"
                })),
            ),
            Req::TeamBReviewItem => (path.replace("{id}", &self.review_item_b().await), None),
            Req::DecideTeamBReviewItem => (
                path.replace("{id}", &self.review_item_b().await),
                json_body(json!({ "decision": "void", "reason": "矩阵测试：作废" })),
            ),
        };
        Built { path, body }
    }

    /// Opens a review item in team B's village: team B's tablet pushes a visit for a
    /// resident that does not exist, refused and quarantined. Returns the item's id.
    async fn review_item_b(&self) -> String {
        let app = &self.app;
        let op_id = Uuid::now_v7().to_string();
        let (now, _) = crate::helpers::now_cst();
        let op = json!({
            "op_id": op_id, "entity": "visit", "action": "create", "id": Uuid::now_v7().to_string(),
            "recorded_at": now,
            "data": { "resident_id": Uuid::now_v7().to_string(), "kind": "home_visit", "occurred_at": now,
                      "measurements": {}, "village_code": self.village_b }
        });
        let out = app.push(&self.doctor_b, vec![op]).await;
        assert_eq!(out["results"][0]["status"], "rejected", "{out}");
        let res = app
            .get(
                &self.admin,
                "/api/v1/review/items?status=open&kind=quarantine&limit=200",
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i.to_string().contains(&op_id))
            .and_then(|i| i["id"].as_str())
            .unwrap_or_else(|| panic!("no review item for op {op_id}: {page}"))
            .to_string()
    }

    async fn send(&self, method: &str, built: &Built, caller: &Caller) -> (StatusCode, String) {
        let app = &self.app;
        let mut rb = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&built.path))
            .header("X-Sync-Protocol", "1");
        if let Some(t) = &caller.token {
            rb = rb.bearer_auth(t);
        }
        if let Some((bytes, ct)) = &built.body {
            rb = rb.header("content-type", *ct).body(bytes.clone());
        }
        let res = rb.send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }
}

/// Does the response meet the outcome? `Err` says why not.
fn check(outcome: &str, method: &str, status: StatusCode, body: &str, secrets: &[&str]) -> Result<(), String> {
    let want_status = match outcome {
        "200-" | "ok+" | "ok-" => 200,
        s => s.parse::<u16>().map_err(|_| format!("unknown outcome {s}"))?,
    };
    if status.as_u16() != want_status {
        return Err(format!("expected {outcome}, got {status}: {body:.300}"));
    }
    // HEAD answers carry no body.
    if status.is_client_error() && method != "HEAD" {
        let v: Value =
            serde_json::from_str(body).map_err(|_| format!("{status} without the error shape: {body:.300}"))?;
        if !v["error"]["code"].is_string() {
            return Err(format!("{status} without the error shape: {body:.300}"));
        }
    }
    match outcome {
        "200-" => {
            if let Some(s) = secrets.iter().find(|s| body.contains(**s)) {
                return Err(format!("200 leaks team B's {s}"));
            }
        }
        "ok+" | "ok-" => {
            let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            let results = v["results"].as_array().ok_or("no results")?;
            let applied = outcome == "ok+";
            if results.is_empty() || results.iter().any(|r| (r["status"] == "applied") != applied) {
                return Err(format!(
                    "expected every op {}: {body:.400}",
                    if applied { "applied" } else { "refused" }
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[tokio::test]
async fn every_operation_is_classified_and_every_caller_gets_what_the_matrix_says() {
    let w = world().await;
    let spec = crate::contract::spec();
    let rows: BTreeMap<(String, String), &Row> = ROWS.iter().map(|r| ((r.0.to_string(), r.1.to_string()), r)).collect();
    let unclassified: Vec<_> = documented_operations()
        .into_iter()
        .filter(|k| !rows.contains_key(k))
        .collect();
    assert!(
        unclassified.is_empty(),
        "operations in the OpenAPI document missing from the authorisation matrix: classify each \
         with a Row in ROWS of tests/api/authz.rs (how to build a valid request, and the outcome \
         for each caller): {unclassified:?}"
    );
    let stale: Vec<_> = rows.keys().filter(|k| !documented_operations().contains(*k)).collect();
    assert!(stale.is_empty(), "ROWS names operations the document lacks: {stale:?}");

    // The callers who hold no valid token.
    let expired = {
        let now = chrono::Utc::now().timestamp();
        let claims = jiayi::auth::tokens::Claims {
            sub: w.doctor_b.user["id"].as_str().unwrap().to_string(),
            dev: w.doctor_b.device_key.clone(),
            gen: 0,
            role: "doctor".into(),
            iat: now - 7200,
            exp: now - 60,
        };
        Caller {
            name: "expired_token",
            token: Some(w.app.state.keys.access_token(&claims).unwrap()),
            device_id: w.doctor_b.device_id.clone(),
        }
    };
    let revoked = {
        let s = w.app.login("doctor2").await;
        let res = w
            .app
            .post(
                &w.supervisor_x,
                &format!("/api/v1/devices/{}/revoke", s.device_key),
                &json!({ "reason": "lost" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        Caller::from(("revoked_device", &s))
    };
    let anonymous = Caller {
        name: "anonymous",
        token: None,
        device_id: "anonymous-device".into(),
    };
    let authenticated: Vec<Caller> = [
        &w.doctor_b,
        &w.doctor_a,
        &w.supervisor_x,
        &w.supervisor_y,
        &w.admin,
        &w.admin_other,
    ]
    .into_iter()
    .zip(CALLERS)
    .map(|(s, name)| Caller::from((name, s)))
    .collect();

    let secrets = w.secrets();
    let mut cells = 0;
    let mut failures = Vec::new();
    for row in ROWS {
        let Row(method, path, req, outcomes) = row;
        let outcomes: Vec<&str> = outcomes.split_whitespace().collect();
        assert_eq!(outcomes.len(), CALLERS.len(), "{method} {path}: one outcome per caller");
        let op = &spec["paths"][*path][method.to_lowercase()];
        let protected = op["security"].as_array().is_some_and(|s| !s.is_empty());
        for (caller, outcome) in authenticated.iter().zip(&outcomes) {
            let built = w.build(*req, path, caller).await;
            let (status, body) = w.send(method, &built, caller).await;
            cells += 1;
            if let Err(e) = check(outcome, method, status, &body, &secrets) {
                failures.push(format!("{method} {path} as {}: {e}", caller.name));
            }
            // PII: an ID number never in clear; a phone in clear to its own team only.
            if body.contains(&w.id_number_b) || body.contains(&w.id_number_b[..17]) {
                failures.push(format!("{method} {path} as {}: an ID number in clear", caller.name));
            }
            if caller.name != "doctor_team_b" && body.contains(PHONE_B) {
                failures.push(format!("{method} {path} as {}: team B's phone in clear", caller.name));
            }
        }
        for caller in [&anonymous, &expired, &revoked] {
            let built = w.build(*req, path, caller).await;
            let (status, body) = w.send(method, &built, caller).await;
            cells += 1;
            // Public operations answer them like the first caller; protected ones refuse.
            let outcome = if protected { "401" } else { outcomes[0] };
            let outcome = if outcome.starts_with("ok") { "200" } else { outcome };
            if let Err(e) = check(outcome, method, status, &body, &secrets) {
                failures.push(format!("{method} {path} as {}: {e}", caller.name));
            }
        }
    }
    println!(
        "authorisation matrix: {} operations × 9 callers = {cells} cells",
        ROWS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} matrix cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A caller who guesses the id of another team's record learns nothing: the answer is the
/// one for an id that does not exist, byte for byte.
#[tokio::test]
async fn ids_guessed_across_teams_answer_exactly_like_absent_ones() {
    let w = world().await;
    let app = &w.app;
    let absent_uuid = Uuid::now_v7().to_string();
    let absent_sha = sha_hex(b"never stored");
    let cases: Vec<(&Session, String, String)> = vec![
        (
            &w.doctor_a,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.supervisor_y,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.admin_other,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.doctor_a,
            format!("/api/v1/blobs/{}", w.blob_b),
            format!("/api/v1/blobs/{absent_sha}"),
        ),
        (
            &w.admin_other,
            format!("/api/v1/blobs/{}", w.blob_b),
            format!("/api/v1/blobs/{absent_sha}"),
        ),
    ];
    for (who, real, absent) in cases {
        let a = app.get(who, &real).await;
        let b = app.get(who, &absent).await;
        assert_eq!(a.status(), StatusCode::NOT_FOUND, "{real}");
        assert_eq!(a.status(), b.status(), "{real} vs {absent}");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap(), "{real} vs {absent}");
    }
    // Writes by id: another scope's device or team answers like a missing one.
    let writes: Vec<(&Session, &str, String, String, Value)> = vec![
        (
            &w.supervisor_y,
            "POST",
            format!("/api/v1/devices/{}/revoke", w.doctor_b.device_key),
            "/api/v1/devices/no-such-device-0001/revoke".to_string(),
            json!({ "reason": "guess" }),
        ),
        (
            &w.admin_other,
            "PUT",
            format!("/api/v1/admin/teams/{}/villages", w.team_b),
            format!("/api/v1/admin/teams/{absent_uuid}/villages"),
            json!({ "village_codes": [w.village_b] }),
        ),
    ];
    for (who, method, real, absent, body) in writes {
        let send = |path: String| {
            app.client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
                .bearer_auth(&who.access)
                .json(&body)
                .send()
        };
        let a = send(real.clone()).await.unwrap();
        let b = send(absent.clone()).await.unwrap();
        assert_eq!(a.status(), StatusCode::NOT_FOUND, "{real}");
        assert_eq!(a.status(), b.status(), "{real} vs {absent}");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap(), "{real} vs {absent}");
    }
    // Nothing changed: team B's device still works and its villages are as they were.
    assert_eq!(app.get(&w.doctor_b, "/api/v1/me").await.status(), StatusCode::OK);
    assert!(app.villages(&w.doctor_b).await.contains(&w.village_b));
}
