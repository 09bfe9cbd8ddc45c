//! The database's upkeep as a county runs it (docs/operations.md "Planner statistics",
//! "Slow reports"): `/readyz` says whether autovacuum runs, pushes and start-up keep the
//! planner's statistics without it, and a read stuck behind a lock answers 503
//! `query_timeout` instead of holding its connection.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use crate::helpers::{assert_error, hold_locks, resident_op, spawn_app_with, TestApp};

fn on_postgres(app: &TestApp) -> bool {
    jiayi::config::is_postgres_url(&app.state.config.database_url)
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// When PostgreSQL last analyzed `table` ('' if never).
fn last_analyzed(app: &TestApp, table: &str) -> String {
    let mut c = jiayi::db::establish_pg(&app.state.config.database_url).unwrap();
    diesel::sql_query(format!(
        "SELECT COALESCE(CAST(GREATEST(last_analyze, last_autoanalyze) AS TEXT), '') AS v \
         FROM pg_stat_user_tables WHERE relname = '{table}'"
    ))
    .load::<Text>(&mut c)
    .unwrap()
    .pop()
    .map(|t| t.v)
    .unwrap_or_default()
}

#[tokio::test]
async fn readiness_names_the_backend_and_whether_autovacuum_runs() {
    let app = spawn_app_with(|_| {}).await;
    let body: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ready");
    if on_postgres(&app) {
        let mut c = jiayi::db::establish_pg(&app.state.config.database_url).unwrap();
        let setting = diesel::sql_query("SELECT setting AS v FROM pg_settings WHERE name = 'autovacuum'")
            .load::<Text>(&mut c)
            .unwrap()
            .pop()
            .unwrap()
            .v;
        assert_eq!(body["database"]["backend"], "postgresql");
        assert_eq!(body["database"]["autovacuum"], setting == "on", "{body}");
    } else {
        assert_eq!(body["database"]["backend"], "sqlite");
        assert!(body["database"]["autovacuum"].is_null(), "{body}");
    }
}

/// With autovacuum off (this machine's PostgreSQL, and some counties'), the tables a push
/// fills get statistics from jiayi itself once enough rows were written.
#[tokio::test]
async fn pushed_rows_past_the_threshold_get_planner_statistics() {
    let app = spawn_app_with(|c| c.analyze_every_rows = 150).await;
    let doc = app.login("doctor1").await;
    let village = app.villages(&doc).await[0].clone();
    let before = if on_postgres(&app) {
        last_analyzed(&app, "residents")
    } else {
        String::new()
    };
    let mut ops = Vec::new();
    for i in 0..300 {
        let birth = format!("19{:02}-0{}-1{}", 30 + i % 60, 1 + i % 9, i % 10);
        ops.push(resident_op(&village, &birth, if i % 2 == 0 { 'F' } else { 'M' }, &[]).1);
    }
    let res = app.push(&doc, ops).await;
    let applied = res["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "applied")
        .count();
    assert_eq!(applied, 300, "{res}");
    if !on_postgres(&app) {
        // SQLite keeps its own (PRAGMA optimize); what matters is that the push went through.
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = last_analyzed(&app, "residents");
        if !now.is_empty() && now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "residents were not analyzed after 300 pushed rows"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows that arrived behind the server's back (an import by another process, a restore)
/// are analyzed when the server starts.
#[tokio::test]
async fn start_up_analyzes_tables_filled_without_statistics() {
    let app = spawn_app_with(|_| {}).await;
    if !on_postgres(&app) {
        return;
    }
    let url = app.state.config.database_url.clone();
    let rows = jiayi_testkit::raw::insert_visits(&url, 2_000).unwrap();
    assert!(rows > 0.0);
    let before = last_analyzed(&app, "visits");
    let config = {
        let mut c = app.state.config.clone();
        c.demo_residents = 0;
        c
    };
    let second = jiayi::startup::Application::build(config).expect("a second server starts on the same database");
    let handle = second.handle();
    let served = tokio::spawn(second.run_until_stopped());
    handle.stop(false).await;
    served.await.unwrap().unwrap();
    let after = last_analyzed(&app, "visits");
    assert!(
        !after.is_empty() && after != before,
        "visits analyzed at start-up: {before:?} → {after:?}"
    );
    jiayi_testkit::raw::remove_raw_rows(&url).unwrap();
}

/// A work list or report stuck behind a lock is stopped at the report timeout and answered
/// 503 `query_timeout` with `Retry-After`; once the lock is gone the same request answers.
#[tokio::test]
async fn a_read_past_the_report_timeout_answers_503_and_frees_its_connection() {
    let app = spawn_app_with(|c| c.report_timeout = Duration::from_secs(1)).await;
    let doc = app.login("doctor1").await;
    let team = doc.user["team_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/teams/{team}/worklist");
    assert_eq!(app.get(&doc, &path).await.status(), StatusCode::OK);
    if !on_postgres(&app) {
        // SQLite readers never wait for a writer (WAL); the bound there is db::run's, tested
        // in the crate's own tests with a statement that sleeps.
        return;
    }
    let (release_tx, holder) = hold_locks(&app.state.config.database_url, "residents, contracts, visits");
    let started = Instant::now();
    let res = app.get(&doc, &path).await;
    let waited = started.elapsed();
    assert_eq!(res.headers().get("retry-after").unwrap(), "10");
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "query_timeout").await;
    assert!(
        waited < Duration::from_secs(6),
        "answered at the bound, not after the lock: {waited:?}"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(app.get(&doc, &path).await.status(), StatusCode::OK);
}
