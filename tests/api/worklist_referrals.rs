//! The work list's referral rules (docs/domain.md, "Referrals") on a hand-built team as
//! of 2026-08-20: a suggestion taken by an up-referral, up-referrals waiting too long for
//! the receiving side, and patients back from hospital without a visit since.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, Op, Session, TestApp};
use crate::team_plan::{at, names, new_team, push_all, Plan, DATE, VILLAGE};

/// Adds a referral of `who` made on `day`, then the steps `(to, day)`; returns its id.
fn refer(p: &mut Plan, who: &str, direction: &str, day: &str, steps: &[(&str, &str)]) -> String {
    let id = Uuid::now_v7().to_string();
    let data = json!({ "resident_id": p.ids[who], "direction": direction, "facility": { "name": "县人民医院" },
                       "reason_code": "htn_uncontrolled", "referred_at": at(day) });
    p.ops.push(Op::referral_create(&id, data).recorded_at(at(day)).into());
    for (to, on) in steps {
        let mut data = json!({ "to": to, "at": at(on) });
        if *to == "RETURNED" {
            data["summary"] = json!("病情稳定，转回社区");
        }
        let step = Op::referral_transition(&id, data).recorded_at(at(on));
        p.ops.push(step.into());
    }
    id
}

async fn worklist(app: &TestApp, s: &Session, team: &str) -> Value {
    let res = app.get(s, &format!("/api/v1/teams/{team}/worklist?date={DATE}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn referrals_on_the_work_list_follow_their_rules_on_known_dates() {
    let app = spawn_app_with(|_| {}).await;
    let (doc, team) = new_team(&app).await;
    let mut p = Plan::default();
    let htn = &["hypertension"];
    let adult = "1968-03-03";
    for name in ["s_taken", "s_before", "s_cancelled", "s_after"] {
        p.resident(name, VILLAGE, adult, htn, "2026-01-05");
        p.bp(name, "2026-07-03", 150, 95);
        p.bp(name, "2026-08-01", 152, 96);
    }
    // Received, so that they wait for nobody.
    refer(&mut p, "s_taken", "up", "2026-08-01", &[("RECEIVED", "2026-08-02")]);
    refer(&mut p, "s_before", "up", "2026-07-10", &[("RECEIVED", "2026-07-11")]);
    refer(
        &mut p,
        "s_cancelled",
        "up",
        "2026-08-02",
        &[("CANCELLED", "2026-08-03")],
    );
    refer(&mut p, "s_after", "up", "2026-08-25", &[]);
    for name in [
        "u_8days",
        "u_7days",
        "u_received",
        "u_cancelled",
        "d_new",
        "d_old",
        "d_seen",
    ] {
        p.resident(name, VILLAGE, adult, &[], "2026-01-05");
    }
    for name in ["d_seen_before", "d_closed", "u_returned", "u_returned_seen"] {
        p.resident(name, VILLAGE, adult, &[], "2026-01-05");
    }
    let late = refer(&mut p, "u_8days", "up", "2026-08-12", &[]);
    refer(&mut p, "u_7days", "up", "2026-08-13", &[]);
    refer(&mut p, "u_received", "up", "2026-08-01", &[("RECEIVED", "2026-08-03")]);
    refer(
        &mut p,
        "u_cancelled",
        "up",
        "2026-08-01",
        &[("CANCELLED", "2026-08-02")],
    );
    refer(&mut p, "d_new", "down", "2026-08-10", &[]);
    refer(&mut p, "d_old", "down", "2026-08-01", &[("RECEIVED", "2026-08-01")]);
    refer(&mut p, "d_seen", "down", "2026-08-05", &[]);
    p.visit("d_seen", "home_visit", "2026-08-07", json!({}));
    p.visit("d_seen_before", "home_visit", "2026-08-03", json!({}));
    refer(&mut p, "d_seen_before", "down", "2026-08-05", &[]);
    refer(
        &mut p,
        "d_closed",
        "down",
        "2026-08-01",
        &[("RECEIVED", "2026-08-02"), ("CLOSED", "2026-08-03")],
    );
    let back = [("RECEIVED", "2026-07-21"), ("RETURNED", "2026-08-12")];
    refer(&mut p, "u_returned", "up", "2026-07-20", &back);
    refer(&mut p, "u_returned_seen", "up", "2026-07-20", &back);
    p.visit("u_returned_seen", "consultation", "2026-08-14", json!({}));
    let ops = std::mem::take(&mut p.ops);
    push_all(&app, &doc, ops).await;
    // Another team's patient, referred up long ago: never on this list.
    let d1 = app.login("doctor1").await;
    let mut q = Plan::default();
    q.resident("x_other", &app.villages(&d1).await[0], adult, &[], "2026-01-05");
    refer(&mut q, "x_other", "up", "2026-07-01", &[]);
    push_all(&app, &d1, q.ops).await;

    let w = worklist(&app, &doc, &team).await;
    assert_eq!(
        sorted(names(&w["referrals_suggested"])),
        ["s_after", "s_before", "s_cancelled"],
        "an up-referral on or after the second reading takes the suggestion"
    );
    let overdue = &w["referrals_overdue"];
    assert_eq!(names(overdue), ["u_8days"], "{overdue}");
    assert_eq!(overdue[0]["referral_id"], late.as_str());
    assert_eq!(overdue[0]["days_waiting"], 8);
    assert_eq!(overdue[0]["referred_on"], "2026-08-12");
    let due = &w["referral_followups_due"];
    let got: Vec<(String, String, String, bool)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resident"]["name"].as_str().unwrap().into(),
                e["since_on"].as_str().unwrap().into(),
                e["due_on"].as_str().unwrap().into(),
                e["overdue"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, bool)> = [
        ("d_old", "2026-08-01", "2026-08-15", true),
        ("d_seen_before", "2026-08-05", "2026-08-19", true),
        ("d_new", "2026-08-10", "2026-08-24", false),
        ("u_returned", "2026-08-12", "2026-08-26", false),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d))
    .collect();
    assert_eq!(got, want, "sorted by due date: {due}");
    assert_eq!(due[3]["direction"], "up");
    assert!(due[0]["reason"].as_str().unwrap().contains("已逾期"));
}

#[tokio::test]
async fn the_days_an_up_referral_may_wait_are_the_countys_setting() {
    let app = spawn_app_with(|c| c.referral_receive_days = 3).await;
    let (doc, team) = new_team(&app).await;
    let mut p = Plan::default();
    for name in ["u_4days", "u_3days"] {
        p.resident(name, VILLAGE, "1970-01-01", &[], "2026-01-05");
    }
    refer(&mut p, "u_4days", "up", "2026-08-16", &[]);
    refer(&mut p, "u_3days", "up", "2026-08-17", &[]);
    let ops = std::mem::take(&mut p.ops);
    push_all(&app, &doc, ops).await;
    let w = worklist(&app, &doc, &team).await;
    assert_eq!(names(&w["referrals_overdue"]), ["u_4days"]);
}
