//! The report cache across restarts (docs/operations.md, "Stopping and upgrading"): a
//! server that stops keeps what it counted; the next one loads it, brings it up to date
//! from the change log, and answers the same figures a count from scratch gives. A kept
//! count that names changes the database does not hold (a restore from an older backup),
//! or was made under other rules, is set aside and the county counted afresh.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{contract_op, drop_database, fresh_database, resident_op, DEMO_PASSWORD};
use crate::server_process::{serve_at, Served};

const COUNTY: &str = "431126000000";

/// Waits until the server prints a line containing `what`; answers every line read.
fn wait_for(s: &Served, what: &str) -> Vec<String> {
    let mut seen = s.before.clone();
    if seen.iter().any(|l| l.contains(what)) {
        return seen;
    }
    loop {
        let line = s
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line with {what:?} in:\n{}", seen.join("\n")));
        let hit = line.contains(what);
        seen.push(line);
        if hit {
            return seen;
        }
    }
}

async fn token(base: &str, user: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &json!({ "username": user, "password": DEMO_PASSWORD, "device_id": format!("restart-{user}"),
                       "device_name": "t" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// The county's signing numerator and whole indicator table for this year.
async fn county_report(base: &str) -> (i64, Value) {
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let admin = token(base, "admin").await;
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{base}/api/v1/reports/coverage?region={COUNTY}&period={year}&group_by=village"
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed = body["total"]["indicators"]["signing_rate"]["numerator"]
        .as_i64()
        .unwrap();
    (signed, body["groups"].clone())
}

fn kept(url: &str) -> Vec<(String, i64)> {
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    jiayi::schema::report_snapshots::table
        .select((
            jiayi::schema::report_snapshots::county_code,
            jiayi::schema::report_snapshots::version,
        ))
        .load(&mut *c)
        .unwrap()
}

fn spoil(url: &str, column: &str) {
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    diesel::sql_query(format!("UPDATE report_snapshots SET {column} = 'not-this-one'"))
        .execute(&mut *c)
        .unwrap();
}

fn stop(mut s: Served) -> Vec<String> {
    let took = s.terminate(Duration::from_secs(20));
    assert!(took.is_some(), "the server stops");
    s.lines.try_iter().collect()
}

#[test]
fn a_restarted_server_loads_what_it_counted_brings_it_up_to_date_and_reports_the_same() {
    let (url, _dir, pg) = fresh_database();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let first = serve_at(&url, "127.0.0.1:0", &[]);
    wait_for(&first, "report facts warmed");
    let (signed, groups) = rt.block_on(county_report(&first.base));
    let printed = stop(first);
    assert!(
        printed
            .iter()
            .any(|l| l.contains("report counts kept for the next start")),
        "{printed:?}"
    );
    let at_stop = kept(&url);
    assert_eq!(at_stop.len(), 1, "one county-year kept");

    // The next start loads it; pushes while it runs are counted into it.
    let second = serve_at(&url, "127.0.0.1:0", &[]);
    wait_for(&second, "report count loaded from the last start");
    assert_eq!(rt.block_on(county_report(&second.base)), (signed, groups));
    let pushed = rt.block_on(async {
        let doctor = token(&second.base, "doctor1").await;
        let client = reqwest::Client::new();
        let me: Value = client
            .get(format!("{}/api/v1/me", second.base))
            .bearer_auth(&doctor)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (village, team) = (me["villages"][0].as_str().unwrap(), me["team_id"].as_str().unwrap());
        let mut ops = Vec::new();
        for i in 0..4 {
            let (rid, rop) = resident_op(village, &format!("1949-05-{:02}", i + 1), 'F', &[]);
            ops.push(rop);
            ops.push(contract_op(&rid, team, &["BASIC"]).1);
        }
        let res = client
            .post(format!("{}/api/v1/sync/push", second.base))
            .bearer_auth(&doctor)
            .header("X-Sync-Protocol", "1")
            .json(&json!({ "device_id": "restart-doctor1", "ops": ops }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        4
    });
    let (after_push, _) = rt.block_on(county_report(&second.base));
    assert_eq!(after_push, signed + pushed);
    stop(second);
    let later = kept(&url);
    assert!(
        later[0].1 > at_stop[0].1,
        "the stop kept the newer count: {later:?} after {at_stop:?}"
    );

    // A kept count that is not this database's history, or not these rules', is set aside.
    for (column, says) in [
        ("mark", "names changes this database does not hold"),
        ("fingerprint", "made under other rules"),
    ] {
        spoil(&url, column);
        let again = serve_at(&url, "127.0.0.1:0", &[]);
        wait_for(&again, says);
        assert_eq!(rt.block_on(county_report(&again.base)).0, signed + pushed, "{column}");
        stop(again);
    }
    drop_database(&pg);
}
