//! The world the authorisation matrix runs in: the demo county, a second county, a
//! supervisor of another township, team B's records, and how to build a valid request of
//! each kind against them.

use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{contract_op, resident_op, spawn_app, Session, TestApp, DEMO_PASSWORD};

/// How to build a valid request for an operation, aimed at team B's records.
#[derive(Clone, Copy, Debug)]
pub enum Req {
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
    /// An export of township X (FHIR manifest or its Patient file, DHIS2 values or metadata).
    ExportOfTownshipX,
    /// A new questionnaire (a fresh code, version 1).
    NewQuestionnaire,
    /// An open review item in team B's village (an op of team B's tablet refused).
    TeamBReviewItem,
    /// A decision on a fresh open review item in team B's village.
    DecideTeamBReviewItem,
    /// A console module (`/console/main.js`).
    ConsoleModule,
    /// The caller's own password change, with a wrong current password (so no caller's
    /// password changes under the rest of the matrix).
    WrongOwnPassword,
    /// Team B's doctor's display name, set to what it is.
    TeamBDoctorName,
    /// A fresh doctor of team B, made by the admin.
    FreshTeamBDoctor,
    /// A fresh doctor of team B to deactivate.
    DeactivateFreshTeamBDoctor,
    /// Team B's village moved to team B (where it is).
    MoveTeamBVillage,
    /// Residents whose phone ends with team B's resident's.
    SearchTeamBPhone,
}

/// A caller: a token (none for anonymous) and the device it speaks for.
#[derive(Clone)]
pub struct Caller {
    pub name: &'static str,
    pub token: Option<String>,
    pub device_id: String,
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

pub fn sha_hex(bytes: &[u8]) -> String {
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
pub struct Built {
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
    pub fn secrets(&self) -> Vec<&str> {
        vec![
            &self.resident_b,
            &self.doctor_b.device_id,
            &self.doctor_b.device_key,
            &self.blob_b,
            &self.missing_blob_b,
        ]
    }

    pub async fn build(&self, req: Req, path: &str, caller: &Caller) -> Built {
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
            Req::ExportOfTownshipX => {
                let path = path.replace("{file}", "Patient.ndjson");
                let period = if path.ends_with("dataValueSets") {
                    format!("&period={year}")
                } else {
                    String::new()
                };
                (format!("{path}?region={TOWNSHIP_X}{period}"), None)
            }
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
            Req::ConsoleModule => (path.replace("{path}", "main.js"), None),
            Req::WrongOwnPassword => (
                path.to_string(),
                json_body(json!({ "old_password": "not-the-password-0", "new_password": "matrix-New-2026x" })),
            ),
            Req::TeamBDoctorName => {
                let id = self.doctor_b.user["id"].as_str().unwrap();
                let name: String = app.db(|c| {
                    use diesel::prelude::*;
                    use jiayi::schema::users;
                    users::table.find(id).select(users::display_name).first(c).unwrap()
                });
                (path.replace("{id}", id), json_body(json!({ "display_name": name })))
            }
            Req::FreshTeamBDoctor => (
                path.replace("{id}", &self.fresh_team_b_doctor(n).await),
                json_body(json!({})),
            ),
            Req::DeactivateFreshTeamBDoctor => (
                path.replace("{id}", &self.fresh_team_b_doctor(n).await),
                json_body(json!({ "reason": "调离" })),
            ),
            Req::MoveTeamBVillage => (
                path.replace("{code}", &self.village_b),
                json_body(json!({ "team_id": self.team_b })),
            ),
            Req::SearchTeamBPhone => (format!("{path}?q={}", &PHONE_B[PHONE_B.len() - 4..]), None),
        };
        Built { path, body }
    }

    /// A new doctor of team B, made through the admin API; returns their id.
    async fn fresh_team_b_doctor(&self, n: usize) -> String {
        let team_code: String = self
            .app
            .db(|c| jiayi::domain::team::find(c, &self.team_b).unwrap().unwrap().code);
        let res = self
            .app
            .post(
                &self.admin,
                "/api/v1/admin/users",
                &json!({ "username": format!("matrix_doc_{n}"), "password": NEW_PASSWORD, "role": "doctor",
                         "team_code": team_code, "display_name": "矩阵医生" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
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

    pub async fn send(&self, method: &str, built: &Built, caller: &Caller) -> (StatusCode, String) {
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
