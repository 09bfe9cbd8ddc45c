//! Two server processes on one PostgreSQL database, as a county behind a load balancer
//! runs them (docs/operations.md, "Several counties and several processes"): tablets
//! spread over both lose nothing and pull everything once; the login throttle holds across
//! both; the sync rate limit is each process's own budget, as documented. SQLite is served
//! by one process, so these run on PostgreSQL.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, contract_op, resident_op, spawn_app_with, DEMO_PASSWORD};

fn on_postgres() -> bool {
    std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

#[tokio::test]
async fn a_guesser_spread_over_two_processes_meets_one_login_budget() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app_with(|c| c.login_free_failures = 3).await;
    let b = a.beside().await;
    for app in [&a, &b, &a] {
        let res = app.login_raw("doctor2", "wrong-password", "device-guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The fourth guess, on the process that has seen only one, waits all the same.
    let res = b.login_raw("doctor2", DEMO_PASSWORD, "device-guess").await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let res = a.login_raw("doctor2", DEMO_PASSWORD, "device-guess").await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another user from the same address is not held, on either process; after the wait
    // the right password logs in.
    let res = b.login_raw("doctor1", DEMO_PASSWORD, "device-other").await;
    assert_eq!(res.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = b.login_raw("doctor2", DEMO_PASSWORD, "device-guess").await;
    assert_eq!(res.status(), StatusCode::OK);
    // The shared table holds hashes, never the address or the username.
    let keys: Vec<String> = a.db(|c| {
        use diesel::prelude::*;
        jiayi::schema::login_throttle::table
            .select(jiayi::schema::login_throttle::key)
            .load(c)
            .unwrap()
    });
    assert!(!keys.is_empty());
    assert!(keys
        .iter()
        .all(|k| k.len() == 43 && !k.contains("doctor2") && !k.contains("127.0.0.1")));
}

#[tokio::test]
async fn tablets_spread_over_two_processes_lose_nothing_and_pull_everything_once() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app_with(|_| {}).await;
    let b = a.beside().await;
    let doctor = a.login("doctor1").await;
    let lead = b.login("lead1").await;
    assert_eq!(doctor.user["team_id"], lead.user["team_id"]);
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let village = a.villages(&doctor).await[0].clone();
    let (_, cursor) = a.pull_all(&doctor, None).await;
    let batch = |year: i32| -> (Vec<String>, Vec<Value>) {
        let mut ids = Vec::new();
        let mut ops = Vec::new();
        for i in 0..40 {
            let (rid, rop) = resident_op(&village, &format!("{year}-02-{:02}", 1 + i % 28), 'M', &[]);
            ops.push(rop);
            let (cid, cop) = contract_op(&rid, &team, &["BASIC"]);
            ops.push(cop);
            ids.push(rid);
            ids.push(cid);
        }
        (ids, ops)
    };
    let mut expected = Vec::new();
    let mut pushes = Vec::new();
    for round in 0..4 {
        let (ids_a, ops_a) = batch(1940 + round);
        let (ids_b, ops_b) = batch(1960 + round);
        expected.extend(ids_a);
        expected.extend(ids_b);
        // Each tablet sends through the process the balancer gave it, at the same time.
        let (a, b, doctor, lead) = (&a, &b, &doctor, &lead);
        pushes.push(Box::pin(async move { a.push_applied_retrying(doctor, ops_a).await })
            as std::pin::Pin<Box<dyn std::future::Future<Output = Value>>>);
        pushes.push(Box::pin(async move { b.push_applied_retrying(lead, ops_b).await }));
    }
    futures_util::future::join_all(pushes).await;
    // A cursor one process issued is good on the other; each pulls every record once.
    for (app, s) in [(&a, &doctor), (&b, &doctor), (&a, &lead), (&b, &lead)] {
        let (changes, _) = app.pull_all(s, Some(&cursor)).await;
        let mut seen: Vec<&str> = changes.iter().filter_map(|c| c["id"].as_str()).collect();
        seen.sort();
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(seen.len(), want.len(), "every record once");
        assert_eq!(seen, want);
    }
}

#[tokio::test]
async fn the_sync_rate_limit_is_each_processs_own_budget() {
    if !on_postgres() {
        return;
    }
    let a = spawn_app_with(|c| c.sync_rate_per_minute = 3).await;
    let b = a.beside().await;
    let s = a.login("doctor1").await;
    let pull = "/api/v1/sync/pull?limit=1";
    for _ in 0..3 {
        assert_eq!(a.get(&s, pull).await.status(), StatusCode::OK);
    }
    assert_error(a.get(&s, pull).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The other process has its own budget for the same device (docs/operations.md).
    assert_eq!(b.get(&s, pull).await.status(), StatusCode::OK);
}
