//! The team work list on a small hand-built team whose every answer is known: a new
//! village and team in the demo county, residents, contracts and visits pushed through
//! the sync API with dates chosen around 2026-08-20, and the exact list asserted.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app, Op, Session, TestApp};
use crate::team_plan::{at, names, new_team, push_all, Plan, DATE, VILLAGE};

const TOWNSHIP_2: &str = "431126101000";

/// The hand-built team: returns the doctor's session and the team id.
async fn build(app: &TestApp) -> (Session, String) {
    let (doc, team) = new_team(app).await;
    let mut p = Plan::default();
    let htn = &["hypertension"];
    let adult = "1970-05-05";
    // Quarterly duty.
    p.resident("h_done", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_done", "2026-04-10", 125, 80);
    p.bp("h_done", "2026-07-05", 128, 82);
    p.resident("h_due", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_due", "2026-05-10", 120, 80);
    p.resident("h_overdue", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_overdue", "2026-02-10", 120, 80);
    p.resident("h_new", VILLAGE, adult, htn, "2026-07-15");
    // Control edges and recalls.
    p.resident("h_140", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_140", "2026-08-10", 140, 85);
    p.resident("h_139", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_139", "2026-08-10", 139, 89);
    p.resident("h_d90", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_d90", "2026-08-06", 135, 90);
    p.resident("h_day15", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_day15", "2026-08-05", 150, 95);
    p.resident("h_refer", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_refer", "2026-07-03", 150, 95);
    p.bp("h_refer", "2026-08-01", 145, 92);
    p.resident("h_cleared", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_cleared", "2026-07-03", 150, 95);
    p.bp("h_cleared", "2026-08-01", 130, 80);
    p.resident("h_amended", VILLAGE, adult, htn, "2026-01-05");
    let v = p.bp("h_amended", "2026-08-01", 150, 95);
    p.amend_bp("h_amended", &v, "2026-08-01", 130, 80);
    p.resident("h_amended_up", VILLAGE, adult, htn, "2026-01-05");
    let v = p.bp("h_amended_up", "2026-08-02", 130, 80);
    p.amend_bp("h_amended_up", &v, "2026-08-02", 150, 95);
    p.resident("h_deleted", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_deleted", "2026-07-10", 120, 80);
    let v = p.bp("h_deleted", "2026-08-12", 170, 100);
    p.delete_visit(&v);
    p.resident("h_future", VILLAGE, adult, htn, "2026-01-05");
    p.bp("h_future", "2026-07-02", 120, 80);
    p.bp("h_future", "2026-08-25", 160, 100);
    p.resident("h_gone", VILLAGE, adult, htn, "2026-01-05");
    // Diabetes.
    let dm = &["diabetes"];
    p.resident("d_70", VILLAGE, adult, dm, "2026-01-05");
    p.visit("d_70", "dm_followup", "2026-08-10", json!({ "fasting_glucose": 7.0 }));
    p.resident("d_69", VILLAGE, adult, dm, "2026-01-05");
    p.visit("d_69", "dm_followup", "2026-08-10", json!({ "fasting_glucose": 6.9 }));
    p.resident("d_never", VILLAGE, adult, dm, "2026-03-01");
    p.resident("hd", VILLAGE, adult, &["hypertension", "diabetes"], "2026-03-01");
    p.bp("hd", "2026-07-20", 120, 80);
    // An uncontrolled reading of a resident without the tag still calls for a recall.
    p.resident("u_reading", VILLAGE, adult, &[], "2026-01-05");
    p.bp("u_reading", "2026-08-15", 150, 95);
    // Contracts.
    let young = "1980-02-02";
    for (name, from, to) in [
        ("c_in", "2025-09-10", "2026-09-09"),
        ("c_edge", "2025-09-20", "2026-09-19"),
        ("c_out", "2025-09-21", "2026-09-20"),
        ("c_today", "2025-08-21", "2026-08-20"),
        ("c_past", "2025-08-01", "2026-08-19"),
        ("c_term", "2025-09-05", "2026-09-04"),
    ] {
        p.resident(name, VILLAGE, young, &[], "2025-08-01");
        let id = p.contract(name, &team, from, to);
        p.ids.insert(format!("{name}.contract"), id);
    }
    // Elderly checks.
    let old = "1950-01-01";
    p.resident("e_65", VILLAGE, "1961-08-20", &[], "2026-01-05");
    p.resident("e_64", VILLAGE, "1961-08-21", &[], "2026-01-05");
    p.resident("e_checked", VILLAGE, old, &[], "2026-01-05");
    p.visit("e_checked", "elderly_check", "2026-01-01", json!({ "weight_kg": 60.0 }));
    p.resident("e_lastyear", VILLAGE, old, &[], "2025-06-01");
    p.visit("e_lastyear", "elderly_check", "2025-12-31", json!({}));
    p.resident("e_deleted_check", VILLAGE, old, &[], "2026-01-05");
    let v = p.visit("e_deleted_check", "elderly_check", "2026-03-01", json!({}));
    p.delete_visit(&v);
    p.resident("e_future_check", VILLAGE, old, &[], "2026-01-05");
    p.visit("e_future_check", "elderly_check", "2026-08-21", json!({}));
    let ops = std::mem::take(&mut p.ops);
    push_all(app, &doc, ops).await;
    // A contract ended early, and a resident removed from the register.
    let ended = json!({ "to": "TERMINATED", "reason": "moved_away", "at": at("2026-06-01") });
    let term = Op::contract_transition(&p.ids["c_term.contract"], ended).recorded_at(at("2026-06-01"));
    let gone = Op::resident_delete(&p.ids["h_gone"]).recorded_at(at("2026-02-01"));
    push_all(app, &doc, vec![term.into(), gone.into()]).await;
    // A patient of another team's village: never on this list.
    let d1 = app.login("doctor1").await;
    let other_village = app.villages(&d1).await[0].clone();
    let mut q = Plan::default();
    q.resident("x_other", &other_village, adult, htn, "2026-01-05");
    q.bp("x_other", "2026-08-15", 170, 100);
    push_all(app, &d1, q.ops).await;
    (doc, team)
}

fn entry<'a>(section: &'a Value, name: &str, condition: &str) -> &'a Value {
    section
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resident"]["name"] == name && (condition.is_empty() || e["condition"] == condition))
        .unwrap_or_else(|| panic!("{name} {condition} in {section}"))
}

#[tokio::test]
async fn the_work_list_of_a_hand_built_team_is_exact() {
    let app = spawn_app().await;
    let (doc, team) = build(&app).await;
    let res = app
        .get(&doc, &format!("/api/v1/teams/{team}/worklist?date={DATE}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["team"]["id"], team.as_str());
    assert_eq!(w["team"]["code"], "TWL");
    assert_eq!(w["date"], DATE);
    assert_eq!(w["quarter"], json!({ "start": "2026-07-01", "end": "2026-09-30" }));

    // Follow-ups: due (none this quarter; one last quarter or registered this quarter).
    let due = &w["followups_due"];
    let got: Vec<(String, String, Option<String>)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["condition"].as_str().unwrap().into(),
                e["last_followup_on"].as_str().map(String::from),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, Option<String>)> = [
        ("h_due", "hypertension", Some("2026-05-10")),
        ("h_new", "hypertension", None),
    ]
    .into_iter()
    .map(|(a, b, c): (&str, &str, Option<&str>)| (a.to_string(), b.to_string(), c.map(String::from)))
    .collect();
    assert_eq!(got.len(), want.len(), "{due}");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);

    let overdue = &w["followups_overdue"];
    let got: BTreeSet<(String, String, Option<String>)> = overdue
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["condition"].as_str().unwrap().into(),
                e["last_followup_on"].as_str().map(String::from),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, Option<String>)> = [
        ("h_overdue", "hypertension", Some("2026-02-10")),
        ("d_never", "diabetes", None),
        ("hd", "diabetes", None),
    ]
    .into_iter()
    .map(|(a, b, c): (&str, &str, Option<&str>)| (a.to_string(), b.to_string(), c.map(String::from)))
    .collect();
    assert_eq!(overdue.as_array().unwrap().len(), 3, "{overdue}");
    assert_eq!(got, want);

    // Recalls: the last follow-up uncontrolled; due 14 days after it, overdue from day 15.
    let recalls = &w["recalls_due"];
    let got: Vec<(String, String, String, bool)> = recalls
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["condition"].as_str().unwrap().into(),
                e["due_on"].as_str().unwrap().into(),
                e["overdue"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, bool)> = [
        ("h_refer", "hypertension", "2026-08-15", true),
        ("h_amended_up", "hypertension", "2026-08-16", true),
        ("h_day15", "hypertension", "2026-08-19", true),
        ("h_d90", "hypertension", "2026-08-20", false),
        ("d_70", "diabetes", "2026-08-24", false),
        ("h_140", "hypertension", "2026-08-24", false),
        ("u_reading", "hypertension", "2026-08-29", false),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d))
    .collect();
    assert_eq!(got, want, "recalls in due-date order");
    let r = entry(recalls, "h_140", "hypertension");
    assert_eq!(r["reading"]["systolic"], 140);
    assert_eq!(r["reading"]["diastolic"], 85);
    assert_eq!(r["reading"]["on"], "2026-08-10");
    assert_eq!(r["reading"]["controlled"], false);
    let r = entry(recalls, "h_amended_up", "");
    assert_eq!(r["reading"]["systolic"], 150, "the amended values are read");
    let r = entry(recalls, "d_70", "diabetes");
    assert_eq!(r["reading"]["fasting_glucose"], 7.0);
    assert!(r["reading"].get("systolic").is_none());

    // Referral: the last two follow-ups uncontrolled.
    let refs = &w["referrals_suggested"];
    assert_eq!(names(refs), ["h_refer"]);
    let readings = refs[0]["readings"].as_array().unwrap();
    assert_eq!(readings.len(), 2);
    assert_eq!(readings[0]["on"], "2026-07-03");
    assert_eq!(readings[1]["on"], "2026-08-01");
    assert_eq!(refs[0]["condition"], "hypertension");

    // Contracts ending within 30 days, by end date.
    let exp = &w["contracts_expiring"];
    let got: Vec<(String, String, i64)> = exp
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["effective_to"].as_str().unwrap().into(),
                e["days_left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("c_today".to_string(), "2026-08-20".to_string(), 0),
            ("c_in".into(), "2026-09-09".into(), 20),
            ("c_edge".into(), "2026-09-19".into(), 30),
        ]
    );
    assert_eq!(exp[0]["team_id"], team.as_str());

    // Aged 65+ on the date without a check this year.
    let eld = &w["elderly_checks_missing"];
    let got: BTreeSet<(String, i64, Option<String>)> = eld
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["age"].as_i64().unwrap(),
                e["last_check_on"].as_str().map(String::from),
            )
        })
        .collect();
    let want: BTreeSet<(String, i64, Option<String>)> = [
        ("e_65", 65, None),
        ("e_lastyear", 76, Some("2025-12-31")),
        ("e_deleted_check", 76, None),
        ("e_future_check", 76, None),
    ]
    .into_iter()
    .map(|(a, b, c): (&str, i64, Option<&str>)| (a.to_string(), b, c.map(String::from)))
    .collect();
    assert_eq!(eld.as_array().unwrap().len(), 4, "{eld}");
    assert_eq!(got, want);

    // Every entry names the resident with a masked ID number, the village and a reason.
    let text = w.to_string();
    for section in [
        "followups_due",
        "followups_overdue",
        "recalls_due",
        "referrals_suggested",
        "contracts_expiring",
        "elderly_checks_missing",
    ] {
        for e in w[section].as_array().unwrap() {
            let r = &e["resident"];
            assert_eq!(r["village_code"], VILLAGE);
            assert_eq!(r["village_name"], "工作清单村");
            let masked = r["id_number_masked"].as_str().unwrap();
            assert_eq!(masked.len(), 18);
            assert_eq!(&masked[..16], "****************");
            assert!(!e["reason"].as_str().unwrap().is_empty());
        }
    }
    assert!(!text.contains("x_other") && !text.contains("h_gone"));
    assert!(!text.contains("phone"));
}

#[tokio::test]
async fn the_date_moves_the_answers_and_defaults_to_today() {
    let app = spawn_app().await;
    let (doc, team) = build(&app).await;
    let get = |date: &'static str| {
        let path = format!("/api/v1/teams/{team}/worklist?date={date}");
        let app = &app;
        let doc = &doc;
        async move {
            let res = app.get(doc, &path).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    // Day 14 after 2026-08-06 is the 20th; on the 21st h_d90's recall is overdue too.
    let w = get("2026-08-21").await;
    assert_eq!(entry(&w["recalls_due"], "h_d90", "")["overdue"], true);
    // Before the uncontrolled reading of h_140 there was nothing to recall.
    let w = get("2026-08-09").await;
    assert!(!names(&w["recalls_due"]).contains(&"h_140".to_string()));
    // On the 25th h_future's reading of that day counts: a recall, and it is not overdue.
    let w = get("2026-08-25").await;
    let r = entry(&w["recalls_due"], "h_future", "");
    assert_eq!(
        (r["due_on"].as_str(), r["overdue"].as_bool()),
        (Some("2026-09-08"), Some(false))
    );
    // e_64 turns 65 on 2026-08-21.
    assert!(names(&w["elderly_checks_missing"]).contains(&"e_64".to_string()));
    // In the next quarter everyone with a follow-up in Q3 is due again, nobody who had one
    // in Q3 is overdue.
    let w = get("2026-10-01").await;
    assert_eq!(w["quarter"]["start"], "2026-10-01");
    let overdue = names(&w["followups_overdue"]);
    assert!(overdue.contains(&"h_due".to_string()), "Q2 was the last: overdue in Q4");
    assert!(!overdue.contains(&"h_done".to_string()));
    assert!(names(&w["followups_due"]).contains(&"h_done".to_string()));
    // A contract ending on the 20th is no longer listed the day after.
    let w = get("2026-08-21").await;
    assert!(!names(&w["contracts_expiring"]).contains(&"c_today".to_string()));
    // No date: today in China time.
    let res = app.get(&doc, &format!("/api/v1/teams/{team}/worklist")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["date"], jiayi::time::today_cst().to_string());
}

#[tokio::test]
async fn who_may_read_a_team_work_list() {
    let app = spawn_app().await;
    let (doc, team) = new_team(&app).await;
    let path = format!("/api/v1/teams/{team}/worklist?date={DATE}");
    // Its own doctor, the supervisor of its township, the county administrator.
    for s in [doc.clone(), app.login("supervisor1").await, app.login("admin").await] {
        let res = app.get(&s, &path).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", s.user);
    }
    // A doctor or lead of another team.
    for who in ["doctor1", "doctor2", "lead1"] {
        let s = app.login(who).await;
        assert_error(app.get(&s, &path).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A doctor reads their own team's list.
    let d1 = app.login("doctor1").await;
    let own = d1.user["team_id"].as_str().unwrap().to_string();
    let res = app.get(&d1, &format!("/api/v1/teams/{own}/worklist?date={DATE}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A supervisor of another township.
    let admin = app.login("admin").await;
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "sup2", "password": "a-long-secret-1", "role": "supervisor", "region_code": TOWNSHIP_2, "display_name": "青山乡督导" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.login_raw("sup2", "a-long-secret-1", "device-sup2").await;
    let body: Value = res.json().await.unwrap();
    let sup2 = app.session_from(&body, "device-sup2").await;
    assert_error(app.get(&sup2, &path).await, StatusCode::FORBIDDEN, "forbidden").await;
    // No such team; not even a team id.
    let unknown = Uuid::now_v7();
    assert_error(
        app.get(&doc, &format!("/api/v1/teams/{unknown}/worklist")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&admin, "/api/v1/teams/not-a-team/worklist").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Bad dates and unknown parameters.
    for q in ["date=2026-02-30", "date=20260820", "date=", "day=2026-08-20"] {
        let body = assert_error(
            app.get(&doc, &format!("/api/v1/teams/{team}/worklist?{q}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
        if q.starts_with("date") {
            assert_eq!(body["error"]["field"], "date", "{q}");
        }
    }
    // No token.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/teams/{team}/worklist")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_demo_team_list_reads_the_whole_team_in_one_go() {
    // T01 of the demo county: every section is computed over all its residents, and every
    // entry lives in one of the team's villages.
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let villages = app.villages(&d1).await;
    let res = app.get(&d1, &format!("/api/v1/teams/{team}/worklist")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let w: Value = res.json().await.unwrap();
    let mut n = 0;
    for section in [
        "followups_due",
        "followups_overdue",
        "recalls_due",
        "referrals_suggested",
        "contracts_expiring",
        "elderly_checks_missing",
    ] {
        for e in w[section].as_array().unwrap() {
            n += 1;
            assert!(villages.contains(&e["resident"]["village_code"].as_str().unwrap().to_string()));
        }
    }
    assert!(n > 0, "the demo team has work to do");
}
