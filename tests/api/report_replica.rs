//! Reports read from a PostgreSQL streaming replica (`JIAYI_REPORT_DATABASE_URL`,
//! docs/operations.md "Several counties and several processes"): writes go to the
//! primary, every endpoint that reads through the report pool answers from the replica,
//! and the figures catch up with what was pushed.
//!
//! CI runs it against a primary and a replica of their own (tools/pg-replica.sh):
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5434/postgres JIAYI_TEST_REPLICA_PORT=5435`.
//! Without `JIAYI_TEST_REPLICA_PORT` there is no replica to read from, and it returns.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{contract_op, resident_op, spawn_app_reading_reports_from, TestApp};

#[derive(QueryableByName)]
struct Recovery {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    in_recovery: bool,
}

fn in_recovery(pool: &jiayi::db::Pool) -> bool {
    let mut c = pool.get().expect("a connection");
    diesel::sql_query("SELECT pg_is_in_recovery() AS in_recovery")
        .get_result::<Recovery>(&mut *c)
        .unwrap()
        .in_recovery
}

async fn ok(app: &TestApp, s: &crate::helpers::Session, path: &str) -> reqwest::Response {
    let res = app.get(s, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res
}

#[tokio::test]
async fn reports_exports_the_work_list_and_the_audit_log_read_from_a_streaming_replica() {
    let Some(port) = std::env::var("JIAYI_TEST_REPLICA_PORT").ok() else {
        return;
    };
    let app = spawn_app_reading_reports_from(port.parse().expect("a port")).await;
    assert!(in_recovery(&app.state.report_pool), "reports read from the replica");
    assert!(!in_recovery(&app.state.pool), "writes go to the primary");

    let admin = app.login("admin").await;
    let doctor = app.login("doctor1").await;
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&doctor).await[0].clone();
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let county = &village[..6];
    let coverage = format!("/api/v1/reports/coverage?region={county}000000&period={year}");
    let signed = |body: &Value| {
        body["total"]["indicators"]["signing_rate"]["numerator"]
            .as_i64()
            .unwrap()
    };
    let before = signed(&ok(&app, &admin, &coverage).await.json().await.unwrap());

    let mut ops = Vec::new();
    for i in 0..5 {
        let (rid, rop) = resident_op(&village, &format!("1951-03-{:02}", i + 1), 'F', &["hypertension"]);
        ops.push(rop);
        ops.push(contract_op(&rid, &team, &["BASIC"]).1);
    }
    app.push_applied(&doctor, ops).await;
    // The replica applies the primary's WAL a moment later: the report follows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = signed(&ok(&app, &admin, &coverage).await.json().await.unwrap());
        if now == before + 5 {
            break;
        }
        assert!(now <= before + 5, "never more than was pushed");
        assert!(
            std::time::Instant::now() < deadline,
            "the replica's report never caught up: {now} vs {before} + 5"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Every reader of the report pool answers there; what they log goes to the primary.
    ok(&app, &admin, &format!("{coverage}&format=csv")).await;
    ok(
        &app,
        &admin,
        &format!("/api/v1/reports/trend?region={county}000000&year={year}"),
    )
    .await;
    ok(&app, &doctor, &format!("/api/v1/teams/{team}/worklist")).await;
    ok(&app, &admin, "/api/v1/audit?limit=20").await;
    let manifest: Value = ok(&app, &admin, &format!("/api/v1/exports/fhir?region={county}000000"))
        .await
        .json()
        .await
        .unwrap();
    let patients = ok(
        &app,
        &admin,
        &format!("/api/v1/exports/fhir/Patient.ndjson?region={county}000000"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(patients.lines().count() >= 5, "{manifest}");
    ok(
        &app,
        &admin,
        &format!("/api/v1/exports/dhis2/dataValueSets?region={county}000000&period={year}"),
    )
    .await;
    ok(
        &app,
        &admin,
        &format!("/api/v1/exports/dhis2/metadata?region={county}000000"),
    )
    .await;
}
