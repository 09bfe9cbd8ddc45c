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
