//! Incremental refresh of the counted facts: after every write the cached report (refreshed
//! by recounting only the residents the change log names) must equal a report counted from
//! scratch with the cache bypassed. A warmed demo county gets a long random series of writes
//! through the push API — new residents and contracts, terminations and voids, visits with
//! amendments and deletes, surveys, moves within and across townships, tag changes and
//! resident deletes — and after each one the county by township, the township by village
//! and the county by team are compared in full, for the year and the current month.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use jiayi::reports::coverage::{self, CoverageQuery, GroupBy};

use crate::helpers::{contract_op, now_cst, resident_op, spawn_app, Op, Session, TestApp};

const COUNTY: &str = "431126000000";
const TOWNSHIP: &str = "431126100000";

struct Res {
    id: String,
    village: String,
    signed: bool,
    deleted: bool,
}

struct Con {
    id: String,
    lead: usize,
    open: bool,
}

struct Rec {
    id: String,
    resident: usize,
    live: bool,
}

async fn push_one(app: &TestApp, s: &Session, o: Value) {
    let out = app.push(s, vec![o.clone()]).await;
    let r = &out["results"][0];
    assert_eq!(r["status"], "applied", "{} {}: {r}", o["entity"], o["action"]);
}

fn resident_version(app: &TestApp, id: &str) -> i64 {
    use diesel::prelude::*;
    use jiayi::schema::residents;
    app.db(|c| residents::table.find(id).select(residents::version).first::<i64>(c))
        .unwrap()
}

/// Every compared report, over HTTP (cached, refreshed) and counted from scratch.
async fn assert_exact(app: &TestApp, admin: &Session, sup: &Session, lead: &Session, label: &str) {
    let (_, today) = now_cst();
    let year = today[..4].to_string();
    let month = today[..7].to_string();
    let cases = [
        (admin, COUNTY, GroupBy::Township, "township", &year),
        (admin, COUNTY, GroupBy::Team, "team", &year),
        (sup, TOWNSHIP, GroupBy::Village, "village", &year),
        (lead, TOWNSHIP, GroupBy::Team, "team", &year),
        (admin, COUNTY, GroupBy::Village, "village", &month),
    ];
    for (s, region, by, by_text, period) in cases {
        let res = app
            .get(
                s,
                &format!("/api/v1/reports/coverage?region={region}&period={period}&group_by={by_text}"),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let got: Value = res.json().await.unwrap();
        let want = app.db(|c| {
            let auth = jiayi::domain::caller::load_caller(c, s.user["id"].as_str().unwrap(), &s.device_key).unwrap();
            let q = CoverageQuery {
                region: region.to_string(),
                period: period.to_string(),
                group_by: by,
            };
            serde_json::to_value(coverage::coverage_uncached(c, &auth, &q).unwrap()).unwrap()
        });
        assert_eq!(got, want, "{label}: {region} {period} by {by_text}");
    }
}

#[tokio::test]
async fn every_report_after_a_write_equals_a_full_recount() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let sup = app.login("supervisor1").await;
    // Team leads of four teams in different townships write for their villages.
    let mut leads = Vec::new();
    for k in 1..=4 {
        leads.push(app.login(&format!("lead{k}")).await);
    }
    let mut villages = Vec::new();
    for s in &leads {
        villages.push(app.villages(s).await);
    }
    let team_ids: Vec<String> = leads
        .iter()
        .map(|s| s.user["team_id"].as_str().unwrap().to_string())
        .collect();
    let lead_of = |v: &str| villages.iter().position(|vs| vs.iter().any(|x| x == v)).unwrap();
    let mut rng = StdRng::seed_from_u64(20261128);
    let (_, today) = now_cst();
    let year: i32 = today[..4].parse().unwrap();

    let mut res: Vec<Res> = Vec::new();
    let mut con: Vec<Con> = Vec::new();
    let mut vis: Vec<Rec> = Vec::new();
    let mut sur: Vec<Rec> = Vec::new();
    let tag_sets: [&[&str]; 5] = [
        &[],
        &["hypertension"],
        &["diabetes"],
        &["hypertension", "diabetes"],
        &["disability"],
    ];

    // A few residents and contracts, then the first (full) count warms the cache.
    for k in 0..8 {
        let l = k % leads.len();
        let v = villages[l][k % villages[l].len()].clone();
        let (id, o) = resident_op(&v, "1950-05-01", 'F', &["hypertension"]);
        push_one(&app, &leads[l], o).await;
        res.push(Res {
            id,
            village: v,
            signed: false,
            deleted: false,
        });
    }
    assert_exact(&app, &admin, &sup, &leads[0], "warm-up").await;
    let before = jiayi::reports::cache::refresh_counts();

    let steps = 60;
    for step in 0..steps {
        let kind = rng.gen_range(0..12);
        let live: Vec<usize> = (0..res.len()).filter(|&i| !res[i].deleted).collect();
        let r = live[rng.gen_range(0..live.len())];
        let l = lead_of(&res[r].village);
        let label = match kind {
            // A new resident: elderly, a child or an adult, with some tags.
            0 | 1 => {
                let l = rng.gen_range(0..leads.len());
                let v = villages[l][rng.gen_range(0..villages[l].len())].clone();
                let birth = match rng.gen_range(0..3) {
                    0 => format!("{}-03-01", year - 70),
                    1 => format!("{}-03-01", year - 3),
                    _ => format!("{}-03-01", year - 40),
                };
                let tags = tag_sets[rng.gen_range(0..tag_sets.len())];
                let (id, o) = resident_op(&v, &birth, 'M', tags);
                push_one(&app, &leads[l], o).await;
                res.push(Res {
                    id,
                    village: v,
                    signed: false,
                    deleted: false,
                });
                "new resident"
            }
            // A contract for an unsigned resident (sometimes personalised).
            2 | 3 if !res[r].signed => {
                let packages: &[&str] = if rng.gen_bool(0.5) {
                    &["BASIC", "HTN"]
                } else {
                    &["BASIC"]
                };
                let (id, o) = contract_op(&res[r].id, &team_ids[l], packages);
                push_one(&app, &leads[l], o).await;
                res[r].signed = true;
                con.push(Con {
                    id,
                    lead: l,
                    open: true,
                });
                "new contract"
            }
            // A termination by the team or a void by the county.
            4 => {
                let Some(k) = (0..con.len()).find(|&k| con[k].open) else {
                    continue;
                };
                let (now, _) = now_cst();
                let (who, data, label) = if rng.gen_bool(0.5) {
                    (
                        &leads[con[k].lead],
                        json!({ "to": "TERMINATED", "reason": "resident_request", "at": now }),
                        "termination",
                    )
                } else {
                    (
                        &admin,
                        json!({ "to": "VOIDED", "reason": "signature not the resident's", "at": now }),
                        "void",
                    )
                };
                let o = Op::contract_transition(&con[k].id, data).base_version(1).build();
                push_one(&app, who, o).await;
                con[k].open = false;
                label
            }
            // A follow-up or health check.
            5 | 6 => {
                let (now, _) = now_cst();
                let (kind, m) = match rng.gen_range(0..3) {
                    0 => (
                        "htn_followup",
                        json!({ "systolic": rng.gen_range(120..160), "diastolic": rng.gen_range(70..100) }),
                    ),
                    1 => (
                        "dm_followup",
                        json!({ "fasting_glucose": rng.gen_range(50..90) as f64 / 10.0 }),
                    ),
                    _ => ("elderly_check", json!({})),
                };
                let id = Uuid::now_v7().to_string();
                let data = json!({ "resident_id": res[r].id, "kind": kind, "occurred_at": now, "measurements": m });
                let o = Op::visit_create(&id, data).build();
                push_one(&app, &leads[l], o).await;
                vis.push(Rec {
                    id,
                    resident: r,
                    live: true,
                });
                "visit"
            }
            // An amendment (the control state flips) or a delete of a live visit.
            7 => {
                let Some(k) = (0..vis.len())
                    .rev()
                    .find(|&k| vis[k].live && !res[vis[k].resident].deleted)
                else {
                    continue;
                };
                let owner = vis[k].resident;
                let l = lead_of(&res[owner].village);
                if rng.gen_bool(0.5) {
                    let o = Op::visit_delete(&vis[k].id).build();
                    push_one(&app, &leads[l], o).await;
                    vis[k].live = false;
                    "visit deleted"
                } else {
                    let (now, _) = now_cst();
                    let id = Uuid::now_v7().to_string();
                    let data = json!({ "resident_id": res[owner].id, "kind": "htn_followup", "occurred_at": now,
                                       "measurements": { "systolic": rng.gen_range(110..170), "diastolic": 85 },
                                       "amends": vis[k].id });
                    let o = Op::visit_amend(&id, data).build();
                    push_one(&app, &leads[l], o).await;
                    vis[k].live = false;
                    vis.push(Rec {
                        id,
                        resident: owner,
                        live: true,
                    });
                    "visit amended"
                }
            }
            // A survey answer, sometimes amending the last one.
            8 => {
                let (now, _) = now_cst();
                let opts = ["very_satisfied", "satisfied", "dissatisfied"];
                let id = Uuid::now_v7().to_string();
                let mut data = json!({ "resident_id": res[r].id, "questionnaire": "satisfaction", "questionnaire_version": 1,
                    "answers": { "satisfaction": opts[rng.gen_range(0..3)], "awareness": if rng.gen_bool(0.5) { "aware" } else { "unaware" } },
                    "answered_at": now });
                let amend = sur.iter().rposition(|x| x.resident == r && x.live);
                let action = if let Some(k) = amend {
                    data["amends"] = json!(sur[k].id);
                    sur[k].live = false;
                    "amend"
                } else {
                    "create"
                };
                push_one(&app, &leads[l], Op::new("survey", action, &id, data).into()).await;
                sur.push(Rec {
                    id,
                    resident: r,
                    live: true,
                });
                "survey"
            }
            // A move to another village, often in another township (the county records it).
            9 => {
                let to_lead = rng.gen_range(0..leads.len());
                let to = villages[to_lead][rng.gen_range(0..villages[to_lead].len())].clone();
                if to == res[r].village {
                    continue;
                }
                let o = Op::resident_update(&res[r].id, json!({ "village_code": to }))
                    .base_version(resident_version(&app, &res[r].id))
                    .build();
                push_one(&app, &admin, o).await;
                res[r].village = to;
                "move"
            }
            // A tag change.
            10 => {
                let tags = tag_sets[rng.gen_range(0..tag_sets.len())];
                let o = Op::resident_update(&res[r].id, json!({ "tags": tags }))
                    .base_version(resident_version(&app, &res[r].id))
                    .build();
                push_one(&app, &leads[l], o).await;
                "tags"
            }
            // A resident without a signed contract is deleted (their visits go with them).
            11 if !res[r].signed && live.len() > 4 => {
                let o = Op::resident_delete(&res[r].id).build();
                push_one(&app, &leads[l], o).await;
                res[r].deleted = true;
                "resident deleted"
            }
            _ => continue,
        };
        assert_exact(&app, &admin, &sup, &leads[0], &format!("step {step} ({label})")).await;
    }
    let after = jiayi::reports::cache::refresh_counts();
    // The year's reports after a write were refreshed incrementally, not counted again.
    assert!(
        after.0 - before.0 >= 20,
        "incremental refreshes: {before:?} → {after:?}"
    );
}

/// The county's (上转, 下转, up received within 7 days) this year, from the cached report.
async fn county_referrals(app: &TestApp, admin: &Session) -> (i64, i64, i64) {
    let (_, today) = now_cst();
    let q = format!(
        "/api/v1/reports/coverage?region={COUNTY}&period={}&group_by=township",
        &today[..4]
    );
    let r: Value = app.get(admin, &q).await.json().await.unwrap();
    let n = |id: &str| r["total"]["indicators"][id]["numerator"].as_i64().unwrap();
    (n("referrals_up"), n("referrals_down"), n("referrals_up_received_7d"))
}

#[tokio::test]
async fn a_referral_push_changes_the_cached_report_as_a_full_recount_does() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let sup = app.login("supervisor1").await;
    let lead = app.login("lead1").await;
    let team = lead.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&lead).await[0].clone();
    let (rid, o) = resident_op(&village, "1950-05-01", 'F', &["hypertension"]);
    push_one(&app, &lead, o).await;
    let (_, o) = contract_op(&rid, &team, &["BASIC"]);
    push_one(&app, &lead, o).await;
    assert_exact(&app, &admin, &sup, &lead, "warm-up").await;
    let start = county_referrals(&app, &admin).await;
    let before = jiayi::reports::cache::refresh_counts();
    let referral = |direction: &str, amends: Option<&str>| {
        let (now, _) = now_cst();
        let mut data = json!({ "resident_id": rid, "direction": direction, "facility": { "name": "县人民医院" },
                               "reason_code": "diagnosis", "referred_at": now });
        if let Some(a) = amends {
            data["amends"] = json!(a);
        }
        data
    };
    let step = |to: &str| json!({ "to": to, "at": now_cst().0 });
    let (first, second, amendment) = (
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
    );
    // Each push, and the county's counts after it relative to the start.
    let pushes = [
        (
            Op::referral_create(&first, referral("up", None)).into(),
            (1, 0, 0),
            "created",
        ),
        (
            Op::referral_transition(&first, step("RECEIVED")).into(),
            (1, 0, 1),
            "received",
        ),
        (
            Op::referral_create(&second, referral("up", None)).into(),
            (2, 0, 1),
            "another",
        ),
        (
            Op::referral_transition(&second, step("CANCELLED")).into(),
            (1, 0, 1),
            "cancelled",
        ),
        // The amendment carries the state over; as a down-referral it leaves the up counts.
        (
            Op::referral_amend(&amendment, referral("down", Some(&first))).into(),
            (0, 1, 0),
            "amended",
        ),
        (Op::referral_delete(&amendment).into(), (0, 0, 0), "deleted"),
    ];
    for (o, (up, down, r7), label) in pushes {
        push_one(&app, &lead, o).await;
        assert_exact(&app, &admin, &sup, &lead, label).await;
        let want = (start.0 + up, start.1 + down, start.2 + r7);
        assert_eq!(county_referrals(&app, &admin).await, want, "{label}");
    }
    let after = jiayi::reports::cache::refresh_counts();
    assert!(after.0 - before.0 >= 6, "incremental refreshes: {before:?} → {after:?}");
}
