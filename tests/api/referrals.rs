//! Two-way referrals (docs/domain.md, "Referrals") through the sync API on the backend
//! under test: recorded, pulled and bootstrapped; every pair of states; bad input refused
//! with its code and nothing kept; two tablets of a team offline and replayed; amendments;
//! another team's referral refused.

use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{op, resident_op, spawn_app, Session, TestApp};
use jiayi::db::views::audit_trail;
use jiayi::schema::referrals;

const STATES: [&str; 5] = ["SENT", "RECEIVED", "RETURNED", "CLOSED", "CANCELLED"];

/// A clinical time `minutes` before now, in China Standard Time.
fn ago(minutes: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .with_timezone(&cst)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn referral_data(resident: &str, direction: &str) -> Value {
    json!({ "resident_id": resident, "direction": direction,
            "facility": { "name": "县人民医院", "code": "H431126001" },
            "reason_code": "htn_uncontrolled", "reason_text": "两次随访血压未控制",
            "referred_at": ago(600) })
}

fn create(resident: &str, direction: &str) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    (
        id.clone(),
        op("referral", "create", &id, referral_data(resident, direction)),
    )
}

fn transition(id: &str, to: &str, minutes_ago: i64) -> Value {
    let mut data = json!({ "to": to, "at": ago(minutes_ago) });
    if to == "RETURNED" {
        data["summary"] = json!("血压已控制，回社区随访");
    }
    op("referral", "transition", id, data)
}

/// A resident of the session's first village, pushed.
async fn resident(app: &TestApp, s: &Session) -> String {
    let village = app.villages(s).await[0].clone();
    let (rid, rop) = resident_op(&village, "1956-04-12", 'F', &["hypertension"]);
    app.push_applied(s, vec![rop]).await;
    rid
}

fn stored(app: &TestApp, id: &str) -> Option<(String, i64, Option<String>)> {
    let id = id.to_string();
    app.db(move |c| {
        referrals::table
            .find(&id)
            .select((referrals::status, referrals::version, referrals::amended_by))
            .first(c)
            .optional()
            .unwrap()
    })
}

fn count(app: &TestApp) -> i64 {
    app.db(|c| referrals::table.count().get_result(c).unwrap())
}

/// The steps that bring a new referral to `state`.
fn path_to(state: &str) -> &'static [&'static str] {
    match state {
        "SENT" => &[],
        "RECEIVED" => &["RECEIVED"],
        "RETURNED" => &["RECEIVED", "RETURNED"],
        "CLOSED" => &["RECEIVED", "CLOSED"],
        "CANCELLED" => &["CANCELLED"],
        other => panic!("no state {other}"),
    }
}

#[tokio::test]
async fn a_referral_is_recorded_moves_through_its_states_and_reaches_pull_and_bootstrap() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = resident(&app, &d1).await;
    let (_, cursor) = app.pull_all(&d1, None).await;
    let (id, cop) = create(&rid, "up");
    let out = app.push_applied(&d1, vec![cop]).await;
    assert_eq!(out["results"][0]["version"], 1);
    let (changes, cursor) = app.pull_all(&d1, Some(&cursor)).await;
    let pulled = changes.iter().find(|c| c["entity"] == "referral").expect("pulled");
    assert_eq!(pulled["id"], id.as_str());
    let d = &pulled["data"];
    assert_eq!(
        (
            d["status"].as_str(),
            d["direction"].as_str(),
            d["facility"]["code"].as_str()
        ),
        (Some("SENT"), Some("up"), Some("H431126001"))
    );
    assert!(d["referred_at"].as_str().unwrap().ends_with('Z'), "{d}");
    assert_eq!(d["received_at"], Value::Null);

    let out = app
        .push_applied(
            &d1,
            vec![transition(&id, "RECEIVED", 300), transition(&id, "RETURNED", 60)],
        )
        .await;
    assert_eq!(out["results"][1]["version"], 3, "{out}");
    let (changes, _) = app.pull_all(&d1, Some(&cursor)).await;
    let last = changes.iter().rev().find(|c| c["entity"] == "referral").unwrap();
    assert_eq!(last["data"]["status"], "RETURNED");
    assert_eq!(last["data"]["summary"], "血压已控制，回社区随访");
    assert!(last["data"]["received_at"].is_string() && last["data"]["ended_at"].is_string());
    let (records, _) = app.bootstrap_all(&d1, 50).await;
    let boot = records.iter().find(|r| r["id"] == id.as_str()).expect("bootstrapped");
    assert_eq!(boot["data"]["status"], "RETURNED");
    assert_eq!(boot["version"], 3);
    // Each step is audited with who and when.
    let actions: Vec<Option<String>> = app.db(|c| {
        audit_trail::table
            .filter(audit_trail::entity.eq("referral"))
            .order(audit_trail::id)
            .select(audit_trail::action)
            .load(c)
            .unwrap()
    });
    assert_eq!(
        actions,
        ["referral_recorded", "referral_transition", "referral_transition"].map(|a| Some(a.to_string()))
    );
}

#[tokio::test]
async fn every_pair_of_states_is_applied_or_refused_with_the_state_machines_code() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = resident(&app, &d1).await;
    let legal = [
        ("SENT", "RECEIVED"),
        ("SENT", "CANCELLED"),
        ("RECEIVED", "RETURNED"),
        ("RECEIVED", "CLOSED"),
    ];
    for from in STATES {
        for to in STATES {
            let (id, cop) = create(&rid, "up");
            let mut ops = vec![cop];
            ops.extend(path_to(from).iter().map(|s| transition(&id, s, 300)));
            app.push_applied(&d1, ops).await;
            let (_, before, _) = stored(&app, &id).unwrap();
            let out = app.push(&d1, vec![transition(&id, to, 60)]).await;
            let r = &out["results"][0];
            let (status, version, _) = stored(&app, &id).unwrap();
            if legal.contains(&(from, to)) {
                assert_eq!(r["status"], "applied", "{from} → {to}: {r}");
                assert_eq!((status.as_str(), version), (to, before + 1), "{from} → {to}");
            } else if from == to {
                // The same step recorded twice: answered, nothing changes.
                assert_eq!(r["status"], "applied", "{from} → {to}: {r}");
                assert_eq!((status.as_str(), version), (from, before), "{from} → {to}");
            } else {
                assert_eq!(r["status"], "rejected", "{from} → {to}: {r}");
                assert_eq!(r["error"]["code"], "illegal_transition", "{from} → {to}");
                assert_eq!((status.as_str(), version), (from, before), "{from} → {to}");
            }
        }
    }
}

#[tokio::test]
async fn bad_referrals_are_refused_with_their_code_and_nothing_is_kept() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = resident(&app, &d1).await;
    let other = resident(&app, &d1).await;
    let vid = Uuid::now_v7().to_string();
    app.push_applied(
        &d1,
        vec![op(
            "visit",
            "create",
            &vid,
            json!({ "resident_id": other, "kind": "home_visit", "occurred_at": ago(700) }),
        )],
    )
    .await;
    let (sent, cop) = create(&rid, "up");
    app.push_applied(&d1, vec![cop]).await;
    let before = count(&app);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = referral_data(&rid, "up");
        f(&mut d);
        op("referral", "create", &Uuid::now_v7().to_string(), d)
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&|d| d["direction"] = json!("sideways")),
            "invalid_direction",
            "direction",
        ),
        (
            with(&|d| {
                d.as_object_mut().unwrap().remove("reason_code");
                d.as_object_mut().unwrap().remove("reason_text");
            }),
            "missing_field",
            "reason_code",
        ),
        (
            with(&|d| {
                d["reason_code"] = json!("other");
                d.as_object_mut().unwrap().remove("reason_text");
            }),
            "missing_field",
            "reason_text",
        ),
        (
            with(&|d| d["reason_code"] = json!("bored")),
            "invalid_reason",
            "reason_code",
        ),
        (
            with(&|d| d["facility"]["name"] = json!("  ")),
            "invalid_text",
            "facility.name",
        ),
        (
            with(&|d| d["referred_at"] = json!("yesterday")),
            "invalid_timestamp",
            "referred_at",
        ),
        (
            with(&|d| d["referred_at"] = json!("2099-01-01T09:00:00+08:00")),
            "future_timestamp",
            "referred_at",
        ),
        (
            with(&|d| d["resident_id"] = json!(Uuid::now_v7().to_string())),
            "unknown_resident",
            "resident_id",
        ),
        (with(&|d| d["visit_id"] = json!(vid)), "unknown_visit", "visit_id"),
        (
            with(&|d| d["contract_id"] = json!(Uuid::now_v7().to_string())),
            "unknown_contract",
            "contract_id",
        ),
        (with(&|d| d["amends"] = json!(sent)), "use_amend", "amends"),
        (
            op("referral", "amend", &Uuid::now_v7().to_string(), {
                let mut d = referral_data(&rid, "up");
                d["amends"] = json!(Uuid::now_v7().to_string());
                d
            }),
            "unknown_referral",
            "amends",
        ),
        (
            transition(&Uuid::now_v7().to_string(), "RECEIVED", 60),
            "unknown_referral",
            "id",
        ),
        (
            op("referral", "transition", &sent, json!({ "to": "LOST", "at": ago(60) })),
            "invalid_status",
            "to",
        ),
        (
            op(
                "referral",
                "transition",
                &sent,
                json!({ "to": "RECEIVED", "at": ago(6000) }),
            ),
            "out_of_order",
            "at",
        ),
        (
            op("referral", "update", &sent, json!({})),
            "unsupported_action",
            "action",
        ),
    ];
    let n = cases.len();
    let out = app.push(&d1, cases.iter().map(|(o, _, _)| o.clone()).collect()).await;
    for (k, (_, code, field)) in cases.iter().enumerate() {
        let r = &out["results"][k];
        assert_eq!(r["status"], "rejected", "case {k}: {r}");
        assert_eq!(
            (r["error"]["code"].as_str(), r["error"]["field"].as_str()),
            (Some(*code), Some(*field)),
            "case {k}"
        );
    }
    assert_eq!(out["results"].as_array().unwrap().len(), n);
    // A return needs its summary.
    let out = app
        .push(
            &d1,
            vec![
                transition(&sent, "RECEIVED", 60),
                op(
                    "referral",
                    "transition",
                    &sent,
                    json!({ "to": "RETURNED", "at": ago(30) }),
                ),
            ],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "applied");
    assert_eq!(out["results"][1]["error"]["code"], "missing_field", "{out}");
    assert_eq!(out["results"][1]["error"]["field"], "summary");
    assert_eq!(count(&app), before, "nothing of a refused referral is stored");
    assert_eq!(stored(&app, &sent).unwrap().0, "RECEIVED");
}

#[tokio::test]
async fn two_tablets_of_a_team_record_offline_replay_and_every_referral_is_kept_once() {
    let app = spawn_app().await;
    let a = app.login("doctor1").await;
    let b = app.login("lead1").await;
    assert_eq!(a.user["team_id"], b.user["team_id"]);
    let rid = resident(&app, &a).await;
    let (x, x_op) = create(&rid, "up");
    let (y, y_op) = create(&rid, "down");
    // Offline, each tablet records its own referral and, once the first has reached the
    // server, both record the hospital's confirmation of it.
    let batch_a = vec![x_op];
    let batch_b = vec![y_op];
    app.push_applied(&a, batch_a.clone()).await;
    app.push_applied(&b, batch_b.clone()).await;
    let confirm_a = vec![transition(&x, "RECEIVED", 300)];
    let confirm_b = vec![transition(&x, "RECEIVED", 200)];
    app.push_applied(&a, confirm_a.clone()).await;
    let out = app.push_applied(&b, confirm_b.clone()).await;
    assert_eq!(
        out["results"][0]["version"], 2,
        "the same step again changes nothing: {out}"
    );
    // Lost answers: every batch sent again.
    for (s, batch) in [(&a, &batch_a), (&b, &batch_b), (&a, &confirm_a), (&b, &confirm_b)] {
        let again = app.push(s, batch.clone()).await;
        assert_eq!(again["results"][0]["status"], "duplicate", "{again}");
    }
    assert_eq!(count(&app), 2);
    assert_eq!(stored(&app, &x).unwrap().0, "RECEIVED");
    // One tablet closes it while the other, offline, cancels it: the cancellation comes
    // too late for the state machine and waits in the review queue as a refused op.
    app.push_applied(&a, vec![transition(&x, "CLOSED", 100)]).await;
    let out = app.push(&b, vec![transition(&x, "CANCELLED", 90)]).await;
    assert_eq!(out["results"][0]["error"]["code"], "illegal_transition", "{out}");
    let q: i64 = app.db(|c| {
        use jiayi::schema::quarantine;
        quarantine::table
            .filter(quarantine::entity.eq("referral"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(q, 1);
    // Two corrections of the same referral made offline: both kept, the pair flagged.
    let amend = |s: &str| {
        let id = Uuid::now_v7().to_string();
        let mut d = referral_data(&rid, "down");
        d["facility"]["name"] = json!(s);
        d["amends"] = json!(y);
        (id.clone(), op("referral", "amend", &id, d))
    };
    let (y1, y1_op) = amend("市中心医院");
    let (y2, y2_op) = amend("省人民医院");
    app.push_applied(&a, vec![y1_op]).await;
    let out = app.push(&b, vec![y2_op]).await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    assert_eq!(stored(&app, &y).unwrap().2.as_deref(), Some(y1.as_str()));
    assert_eq!(stored(&app, &y1).unwrap().2.as_deref(), Some(y2.as_str()));
    assert_eq!(count(&app), 4);
}

#[tokio::test]
async fn an_amendment_carries_the_state_and_a_step_on_the_original_moves_the_amendment() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = resident(&app, &d1).await;
    let (x, x_op) = create(&rid, "up");
    app.push_applied(&d1, vec![x_op, transition(&x, "RECEIVED", 300)]).await;
    let fix = Uuid::now_v7().to_string();
    let mut d = referral_data(&rid, "up");
    d["facility"] = json!({ "name": "市第一人民医院" });
    d["amends"] = json!(x);
    app.push_applied(&d1, vec![op("referral", "amend", &fix, d)]).await;
    assert_eq!(stored(&app, &fix).unwrap().0, "RECEIVED");
    // A tablet that has not yet pulled the correction closes the original.
    app.push_applied(&d1, vec![transition(&x, "CLOSED", 60)]).await;
    assert_eq!(stored(&app, &fix).unwrap().0, "CLOSED");
    assert_eq!(stored(&app, &x).unwrap().0, "RECEIVED");
    // A deleted referral is gone for further steps.
    let out = app
        .push_applied(&d1, vec![op("referral", "delete", &fix, json!({}))])
        .await;
    assert_eq!(out["results"][0]["version"], 3);
    let out = app.push(&d1, vec![transition(&fix, "CLOSED", 30)]).await;
    assert_eq!(out["results"][0]["error"]["code"], "unknown_referral", "{out}");
}

#[tokio::test]
async fn another_teams_referral_is_refused_and_never_shown() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let rid = resident(&app, &d1).await;
    let (x, x_op) = create(&rid, "up");
    app.push_applied(&d1, vec![x_op]).await;
    let (_, d2_cursor) = app.pull_all(&d2, None).await;
    let amend = {
        let mut d = referral_data(&rid, "up");
        d["amends"] = json!(x);
        op("referral", "amend", &Uuid::now_v7().to_string(), d)
    };
    let out = app
        .push(
            &d2,
            vec![
                transition(&x, "CANCELLED", 60),
                amend,
                op("referral", "delete", &x, json!({})),
                op("referral", "create", &x, referral_data(&rid, "up")),
                create(&rid, "up").1,
            ],
        )
        .await;
    let codes: Vec<&str> = (0..5)
        .map(|k| out["results"][k]["error"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_referral",
            "unknown_resident",
            "unknown_record",
            "unknown_resident",
            "unknown_resident"
        ],
        "{out}"
    );
    assert_eq!(stored(&app, &x).unwrap().0, "SENT");
    let (changes, _) = app.pull_all(&d2, Some(&d2_cursor)).await;
    assert!(changes.iter().all(|c| c["entity"] != "referral"), "{changes:?}");
    let (records, _) = app.bootstrap_all(&d2, 100).await;
    assert!(records.iter().all(|r| r["entity"] != "referral"));
    // The township's supervisor may record the hospital's confirmation; the team's
    // records show it.
    let sup = app.login("supervisor1").await;
    app.push_applied(&sup, vec![transition(&x, "RECEIVED", 60)]).await;
    assert_eq!(stored(&app, &x).unwrap().0, "RECEIVED");
}

#[tokio::test]
async fn hostile_values_in_each_field_of_a_referral_are_refused_and_nothing_is_kept() {
    use crate::hostile::{accepted, hostile_values, set, Field, OPTIONAL, STRICT, TEXT};
    /// Optional free text: null is absent, and text-like values are text.
    const OPTIONAL_TEXT: Field = Field(&["null", "SQL", "script", "emoji", "year 0", "year 9999"]);
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let rid = resident(&app, &d1).await;
    let fields = [
        ("/data/resident_id", STRICT),
        ("/data/direction", STRICT),
        ("/data/facility", STRICT),
        ("/data/facility/name", TEXT),
        ("/data/facility/code", OPTIONAL_TEXT),
        // The other half of the reason stands in for a missing one.
        ("/data/reason_code", OPTIONAL),
        ("/data/reason_text", OPTIONAL_TEXT),
        ("/data/referred_at", STRICT),
        ("/data/visit_id", OPTIONAL),
        ("/data/contract_id", OPTIONAL),
        ("/id", STRICT),
    ];
    let mut wrong = Vec::new();
    for (pointer, kind) in fields {
        for (name, v) in hostile_values() {
            let (_, mut o) = create(&rid, "up");
            set(&mut o, pointer, v);
            let before = count(&app);
            let out = app.push(&d1, vec![o]).await;
            let r = &out["results"][0];
            let (expected, grew) = if accepted(kind, name) {
                ("applied", 1)
            } else {
                ("rejected", 0)
            };
            if r["status"] != expected || count(&app) != before + grew {
                wrong.push(format!("{name} in {pointer}: {r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "misjudged:\n{}", wrong.join("\n"));
}
