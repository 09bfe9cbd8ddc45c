//! The whole contract state machine through the sync API on the backend under test: a
//! contract in each of the nine states, every target state, pushed by the signing team and
//! by the township supervisor — 162 cells, each applied or refused with its code, and the
//! stored state checked after.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, Op, TestApp};
use jiayi::schema::contracts;

const STATES: [&str; 9] = [
    "DRAFT",
    "SIGNED",
    "ACTIVE",
    "EXPIRED",
    "TERMINATED",
    "RENEWED",
    "CANCELLED",
    "VOIDED",
    "PENDING_REVIEW",
];

fn now_at() -> String {
    crate::helpers::now_cst().0
}

fn contract(
    resident: &str,
    team: &str,
    status: &str,
    from: NaiveDate,
    to: Option<NaiveDate>,
    renews: Option<&str>,
) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let mut data = json!({ "resident_id": resident, "team_id": team, "packages": ["BASIC"], "status": status,
                           "effective_from": from.to_string() });
    if status == "SIGNED" {
        data["signed_at"] = json!(now_at());
    }
    if let Some(t) = to {
        data["effective_to"] = json!(t.to_string());
    }
    if let Some(r) = renews {
        data["renews"] = json!(r);
    }
    (id.clone(), Op::contract_create(&id, data).into())
}

fn transition(id: &str, to: &str) -> Value {
    Op::contract_transition(id, json!({ "to": to, "reason": "moved_away", "at": now_at() })).into()
}

/// What pushing `to` onto a contract in state `from` does: `Ok(())` applied, or the error code.
fn expected(from: &str, to: &str, supervisor: bool) -> Result<(), &'static str> {
    let legal_team = [
        ("DRAFT", "SIGNED"),
        ("DRAFT", "CANCELLED"),
        ("SIGNED", "TERMINATED"),
        ("ACTIVE", "TERMINATED"),
        // An explicit activation is judged on the stored SIGNED state: the team may record
        // it (it is a no-op for a contract already in its term), even late for one whose
        // term has since ended — the tablet recorded it in time.
        ("ACTIVE", "ACTIVE"),
        ("EXPIRED", "ACTIVE"),
        // An expiry is judged on the term's last day, when the contract was active.
        ("EXPIRED", "EXPIRED"),
    ];
    // Legal for the team, refused by the date: not yet in effect, not yet over.
    let too_early = [
        ("SIGNED", "ACTIVE", "not_yet_effective"),
        ("SIGNED", "EXPIRED", "not_yet_expired"),
        ("ACTIVE", "EXPIRED", "not_yet_expired"),
    ];
    let legal_supervisor = [
        ("SIGNED", "VOIDED"),
        ("ACTIVE", "VOIDED"),
        ("EXPIRED", "VOIDED"),
        ("TERMINATED", "VOIDED"),
        ("RENEWED", "VOIDED"),
        ("PENDING_REVIEW", "VOIDED"),
        ("PENDING_REVIEW", "ACTIVE"),
    ];
    let pair = (from, to);
    if legal_supervisor.contains(&pair) {
        return if supervisor {
            Ok(())
        } else {
            Err("transition_not_allowed")
        };
    }
    if legal_team.contains(&pair) {
        return if supervisor {
            Err("transition_not_allowed")
        } else {
            Ok(())
        };
    }
    if let Some((_, _, code)) = too_early.iter().find(|(f, t, _)| (*f, *t) == pair) {
        return Err(if supervisor { "transition_not_allowed" } else { code });
    }
    Err("illegal_transition")
}

/// Builds one contract in `state` for resident `r` of team `team`; returns its id and
/// the ops (for the doctor, then for the supervisor) that put it there.
struct Built {
    id: String,
    create: Vec<Value>,
    team_ops: Vec<Value>,
    supervisor_ops: Vec<Value>,
}

fn build(state: &str, v: &str, team: &str, today: NaiveDate, n: u32) -> Built {
    // A distinct ID number per resident (a shared one would open a duplicate candidate).
    let born = NaiveDate::from_ymd_opt(1966, 6, 6).unwrap();
    let number = jiayi::domain::id_number::IdNumber::generate("110109", born, 2 * n, 'F');
    let rid = Uuid::now_v7().to_string();
    let data = json!({ "village_code": v, "name": "状态机", "sex": "F", "birth_date": "1966-06-06",
                       "id_number": number.expose(), "tags": [] });
    let mut create = vec![Op::resident_create(&rid, data).into()];
    let past = today - Days::new(10);
    let (mut team_ops, mut supervisor_ops) = (Vec::new(), Vec::new());
    let id = match state {
        "DRAFT" | "CANCELLED" => {
            let (id, o) = contract(&rid, team, "DRAFT", past, None, None);
            create.push(o);
            if state == "CANCELLED" {
                team_ops.push(transition(&id, "CANCELLED"));
            }
            id
        }
        "SIGNED" => {
            let from = today + Days::new(30);
            let (id, o) = contract(&rid, team, "SIGNED", from, None, None);
            create.push(o);
            id
        }
        "ACTIVE" | "TERMINATED" | "VOIDED" => {
            let (id, o) = contract(&rid, team, "SIGNED", past, None, None);
            create.push(o);
            match state {
                "TERMINATED" => team_ops.push(transition(&id, "TERMINATED")),
                "VOIDED" => supervisor_ops.push(transition(&id, "VOIDED")),
                _ => {}
            }
            id
        }
        "EXPIRED" | "RENEWED" => {
            let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            let (id, o) = contract(&rid, team, "SIGNED", d("2024-01-01"), Some(d("2024-12-31")), None);
            create.push(o);
            if state == "RENEWED" {
                let (_, s) = contract(&rid, team, "SIGNED", d("2025-01-01"), Some(d("2025-12-31")), Some(&id));
                create.push(s);
            }
            id
        }
        "PENDING_REVIEW" => {
            let (_, first) = contract(&rid, team, "SIGNED", past, None, None);
            let (id, second) = contract(&rid, team, "SIGNED", today, None, None);
            create.extend([first, second]);
            id
        }
        other => panic!("no recipe for {other}"),
    };
    Built {
        id,
        create,
        team_ops,
        supervisor_ops,
    }
}

fn stored(app: &TestApp, id: &str) -> String {
    let id = id.to_string();
    app.db(|c| contracts::table.find(id).select(contracts::status).first(c).unwrap())
}

#[tokio::test]
async fn every_pair_of_states_for_the_team_and_the_supervisor() {
    let app = spawn_app().await;
    let doc = app.login("doctor1").await;
    let sup = app.login("supervisor1").await;
    let team = doc.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&doc).await[0].clone();
    let today = jiayi::time::today_cst();
    // cells[(from, to, by_supervisor)] = contract id
    let mut cells: HashMap<(&str, &str, bool), String> = HashMap::new();
    let (mut create, mut team_ops, mut supervisor_ops) = (Vec::new(), Vec::new(), Vec::new());
    for from in STATES {
        for to in STATES {
            for by_supervisor in [false, true] {
                let b = build(from, &village, &team, today, cells.len() as u32);
                create.extend(b.create);
                team_ops.extend(b.team_ops);
                supervisor_ops.extend(b.supervisor_ops);
                cells.insert((from, to, by_supervisor), b.id);
            }
        }
    }
    for chunk in create.chunks(900) {
        let out = app.push(&doc, chunk.to_vec()).await;
        for r in out["results"].as_array().unwrap() {
            assert!(r["status"] == "applied" || r["status"] == "conflict", "{r}");
        }
    }
    for (who, ops) in [(&doc, team_ops), (&sup, supervisor_ops)] {
        let out = app.push(who, ops).await;
        for r in out["results"].as_array().unwrap() {
            assert_eq!(r["status"], "applied", "{r}");
        }
    }
    // Each contract is in the state its row of the table starts from.
    for ((from, _, _), id) in &cells {
        let want = match *from {
            "ACTIVE" | "EXPIRED" => "SIGNED", // active and expired follow from the dates
            s => s,
        };
        assert_eq!(stored(&app, id), want, "set-up of {from}");
    }
    for by_supervisor in [false, true] {
        let who = if by_supervisor { &sup } else { &doc };
        let mut keys: Vec<(&str, &str)> = Vec::new();
        let mut ops = Vec::new();
        for from in STATES {
            for to in STATES {
                keys.push((from, to));
                ops.push(transition(&cells[&(from, to, by_supervisor)], to));
            }
        }
        let out = app.push(who, ops).await;
        let results = out["results"].as_array().unwrap();
        let mut applied = 0;
        for (i, (from, to)) in keys.iter().enumerate() {
            let r = &results[i];
            let id = &cells[&(*from, *to, by_supervisor)];
            let actor = if by_supervisor { "supervisor" } else { "team" };
            match expected(from, to, by_supervisor) {
                Ok(()) => {
                    assert_eq!(r["status"], "applied", "{from} → {to} by the {actor}: {r}");
                    assert_eq!(stored(&app, id), *to, "{from} → {to} by the {actor}");
                    applied += 1;
                }
                Err(code) => {
                    assert_eq!(r["status"], "rejected", "{from} → {to} by the {actor}: {r}");
                    assert_eq!(r["error"]["code"], code, "{from} → {to} by the {actor}: {r}");
                    let before = match *from {
                        "ACTIVE" | "EXPIRED" => "SIGNED",
                        s => s,
                    };
                    assert_eq!(stored(&app, id), before, "{from} → {to} by the {actor} changed nothing");
                }
            }
        }
        assert_eq!(
            applied,
            7,
            "legal moves for the {}",
            if by_supervisor { "supervisor" } else { "team" }
        );
    }
}
