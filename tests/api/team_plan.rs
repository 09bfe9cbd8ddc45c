//! A hand-built team for work-list tests: a new village and team in the demo county, a
//! doctor of it, and the ops of residents, visits and contracts planned by name with the
//! dates chosen around 2026-08-20.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Op, Session, TestApp};

/// The first township of the demo county, where the team is made.
pub(crate) const TOWNSHIP_1: &str = "431126100000";
pub(crate) const VILLAGE: &str = "431126100990";
pub(crate) const DATE: &str = "2026-08-20";

/// A different ID-number area per village, so two plans never hand out the same number.
fn area(village: &str) -> &'static str {
    if village == VILLAGE {
        "110106"
    } else {
        "110107"
    }
}

pub(crate) fn at(day: &str) -> String {
    format!("{day}T10:00:00+08:00")
}

/// Creates village, team and a doctor of that team; returns the doctor's session and the team id.
pub(crate) async fn new_team(app: &TestApp) -> (Session, String) {
    new_team_in(
        app,
        &NewTeam {
            village: VILLAGE,
            village_name: "工作清单村",
            code: "TWL",
            name: "工作清单团队",
            doctor: "wl_doc",
        },
    )
    .await
}

/// A village of township 1, its team and the team's doctor, to be made.
pub(crate) struct NewTeam<'a> {
    pub(crate) village: &'a str,
    pub(crate) village_name: &'a str,
    pub(crate) code: &'a str,
    pub(crate) name: &'a str,
    pub(crate) doctor: &'a str,
}

/// Creates `t`'s village, team and doctor; returns the doctor's session and the team id.
pub(crate) async fn new_team_in(app: &TestApp, t: &NewTeam<'_>) -> (Session, String) {
    let admin = app.login("admin").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/regions",
            &json!({ "code": t.village, "name": t.village_name }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            &admin,
            "/api/v1/admin/teams",
            &json!({ "code": t.code, "name": t.name, "township_code": TOWNSHIP_1, "village_codes": [t.village] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let team: Value = res.json().await.unwrap();
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": t.doctor, "password": "a-long-secret-1", "role": "doctor", "team_code": t.code, "display_name": "团队医生" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let device = format!("device-{}", t.doctor);
    let res = app.login_raw(t.doctor, "a-long-secret-1", &device).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let s = app.session_from(&body, &device).await;
    (s, team["id"].as_str().unwrap().to_string())
}

/// Ops being collected, and the ids of what they create by name.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) ops: Vec<Value>,
    pub(crate) ids: std::collections::HashMap<String, String>,
    /// Sequence numbers of the ID numbers handed out: no two residents share one (a
    /// shared number would be a duplicate candidate, not a new resident).
    seq: u32,
}

impl Plan {
    pub(crate) fn resident(
        &mut self,
        name: &str,
        village: &str,
        birth: &str,
        tags: &[&str],
        registered: &str,
    ) -> String {
        let id = Uuid::now_v7().to_string();
        self.seq += 2;
        let born = chrono::NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap();
        let number = jiayi::domain::id_number::IdNumber::generate(area(village), born, self.seq, 'M');
        let data = json!({ "village_code": village, "name": name, "sex": "M", "birth_date": birth,
                           "id_number": number.expose(), "tags": tags });
        let op = Op::resident_create(&id, data).recorded_at(at(registered));
        self.ops.push(op.into());
        self.ids.insert(name.to_string(), id.clone());
        id
    }

    pub(crate) fn visit(&mut self, who: &str, kind: &str, day: &str, m: Value) -> String {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": self.ids[who], "kind": kind, "occurred_at": at(day), "measurements": m });
        self.ops.push(Op::visit_create(&id, data).recorded_at(at(day)).into());
        id
    }

    pub(crate) fn bp(&mut self, who: &str, day: &str, s: i32, d: i32) -> String {
        self.visit(who, "htn_followup", day, json!({ "systolic": s, "diastolic": d }))
    }

    pub(crate) fn amend_bp(&mut self, who: &str, original: &str, day: &str, s: i32, d: i32) {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": self.ids[who], "kind": "htn_followup", "occurred_at": at(day),
                           "amends": original, "measurements": { "systolic": s, "diastolic": d } });
        self.ops.push(Op::visit_amend(&id, data).recorded_at(at(day)).into());
    }

    pub(crate) fn delete_visit(&mut self, id: &str) {
        self.ops.push(Op::visit_delete(id).recorded_at(at("2026-08-18")).into());
    }

    pub(crate) fn contract(&mut self, who: &str, team: &str, from: &str, to: &str) -> String {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": self.ids[who], "team_id": team, "packages": ["BASIC"], "status": "SIGNED",
                           "signed_at": at(from), "effective_from": from, "effective_to": to });
        let op = Op::contract_create(&id, data).recorded_at(at(from));
        self.ops.push(op.into());
        id
    }
}

pub(crate) async fn push_all(app: &TestApp, s: &Session, ops: Vec<Value>) {
    let out = app.push(s, ops).await;
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{r}");
    }
}

pub(crate) fn names(section: &Value) -> Vec<String> {
    section
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resident"]["name"].as_str().unwrap().to_string())
        .collect()
}
