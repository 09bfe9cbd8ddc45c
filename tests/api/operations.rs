use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_readiness_and_metrics_answer_and_metrics_only_on_their_own_address() {
    let app = spawn_app_with(|c| c.metrics_bind = Some("127.0.0.1:0".into())).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().contains_key("x-request-id"),
        "every response carries its request id"
    );
    let metrics = app.metrics_base.clone().expect("a metrics listener");
    let res = app.client.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains("jiayi_http_request_duration_seconds"), "{text}");
    assert!(
        text.contains("route=\"/readyz\""),
        "latency is labelled by route pattern"
    );
    assert!(text.contains("jiayi_review_queue_open"));
    // Not on the API's address, where tablets and browsers reach; nothing else on the
    // metrics address.
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.client.get(format!("{metrics}/api/v1/me")).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Without the setting, metrics are served nowhere.
    let plain = spawn_app().await;
    assert!(plain.metrics_base.is_none());
}

#[tokio::test]
async fn unknown_paths_answer_404_in_the_error_shape() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let app = spawn_app().await;
    let served = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, jiayi::openapi::json());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == served,
        "api-spec/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test openapi` and commit it"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/sync/push",
        "/api/v1/sync/pull",
        "/api/v1/reports/coverage",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
}

#[tokio::test]
async fn migrations_apply_cleanly_to_an_empty_database_and_are_idempotent() {
    let app = spawn_app().await;
    app.db(|c| {
        // The app migrated at start; running again applies nothing and fails nothing.
        jiayi::db::migrate(c).expect("second migration run");
        use diesel::prelude::*;
        let n: i64 = jiayi::schema::service_packages::table.count().get_result(c).unwrap();
        assert_eq!(n, 5, "catalog seeded");
        let q: i64 = jiayi::schema::questionnaires::table.count().get_result(c).unwrap();
        assert_eq!(q, 1);
    });
}

/// A full disk (SQLite's `max_page_count` reached, as a full file system or quota makes
/// SQLITE_FULL): the push answers 503 `storage_full` with `Retry-After`, keeps none of its
/// batch and loses nothing acknowledged before; once there is room, the same batch goes
/// through. (PostgreSQL's disk_full, a tablespace on a full tmpfs: tests/api/disk_full_pg.rs;
/// this one runs on SQLite.)
#[tokio::test]
async fn a_push_that_finds_the_disk_full_answers_503_and_keeps_everything_acknowledged() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let app = spawn_app().await;
    let doctor = app.login("doctor1").await;
    let village = app.villages(&doctor).await[0].clone();
    let batch = |n: usize, year: i32| -> (Vec<String>, Vec<Value>) {
        (0..n)
            .map(|i| {
                let birth = format!("{year}-01-{:02}", 1 + i % 28);
                crate::helpers::resident_op(&village, &birth, if i % 2 == 0 { 'F' } else { 'M' }, &[])
            })
            .unzip()
    };
    let count = |ids: &[String]| {
        let ids = ids.to_vec();
        app.db(move |c| {
            use jiayi::schema::residents;
            residents::table
                .filter(residents::id.eq_any(&ids))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
    };
    let (acknowledged, ops) = batch(20, 1950);
    app.push_applied(&doctor, ops).await;
    // Every pooled connection stops the file from growing past its size now.
    let cap = |pages: Option<i64>| {
        let held: Vec<_> = (0..app.state.config.pool_size)
            .map(|_| app.state.pool.get().expect("a connection"))
            .collect();
        for mut c in held {
            let n = pages.unwrap_or_else(|| {
                #[derive(QueryableByName)]
                struct P {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    page_count: i64,
                }
                diesel::sql_query("PRAGMA page_count")
                    .get_result::<P>(&mut *c)
                    .unwrap()
                    .page_count
            });
            c.batch_execute(&format!("PRAGMA max_page_count = {n}")).unwrap();
        }
    };
    cap(None);
    let (refused, ops) = batch(300, 1960);
    let res = app
        .client
        .post(app.url("/api/v1/sync/push"))
        .bearer_auth(&doctor.access)
        .header("X-Sync-Protocol", "1")
        .json(&serde_json::json!({ "device_id": doctor.device_id, "ops": ops }))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"), "503 says when to come back");
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "storage_full").await;
    assert_eq!(count(&refused), 0, "nothing of the refused batch is kept");
    assert_eq!(count(&acknowledged), 20, "everything acknowledged before is there");
    // Space again: the tablet's replay of the same batch is applied whole.
    cap(Some(1_073_741_823));
    app.push_applied(&doctor, ops).await;
    assert_eq!(count(&refused), 300);
}
