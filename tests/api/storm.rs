//! Many tablets pushing at once: admission control (`sync::admission`) and batches that
//! race each other.

use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{resident_op, spawn_app_with, Session, TestApp};
use jiayi::db::views::op_records;
use jiayi::schema::residents;

/// Sends one push without judging the answer: status, `Retry-After`, `Server-Timing`, body.
async fn send(app: &TestApp, s: &Session, ops: &[Value]) -> (StatusCode, Option<String>, String, Value) {
    let res = app
        .post(s, "/api/v1/sync/push", &json!({ "device_id": s.device_id, "ops": ops }))
        .await;
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let timing = res
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, retry, timing, res.json().await.unwrap_or(Value::Null))
}

fn residents_in(app: &TestApp, ids: &[String]) -> i64 {
    app.db(|c| {
        residents::table
            .filter(residents::id.eq_any(ids))
            .count()
            .get_result(c)
            .unwrap()
    })
}

#[tokio::test]
async fn a_storm_beyond_the_push_turns_is_answered_busy_before_anything_is_applied() {
    // One batch at a time and no queue: every batch arriving while one is applied is refused.
    let app = spawn_app_with(|c| {
        c.push_concurrency = 1;
        c.push_queue = 0;
        c.sync_rate_per_minute = 100_000;
    })
    .await;
    let mut tablets = Vec::new();
    for i in 0..8 {
        tablets.push(app.login_on("doctor1", &format!("storm-tablet-{i:02}")).await);
    }
    let village = app.villages(&tablets[0]).await[0].clone();
    let mut refused: Vec<(usize, Vec<Value>)> = Vec::new();
    let mut all_ids = Vec::new();
    // Eight batches at once nearly always overlap; a few storms make it certain.
    for _storm in 0..5 {
        let batches: Vec<(Vec<String>, Vec<Value>)> = (0..tablets.len())
            .map(|_| (0..150).map(|_| resident_op(&village, "1950-05-05", 'F', &[])).unzip())
            .collect();
        let answers = join_all(tablets.iter().zip(&batches).map(|(t, (_, ops))| send(&app, t, ops))).await;
        for (i, ((status, retry, timing, body), (ids, ops))) in answers.into_iter().zip(batches).enumerate() {
            all_ids.extend(ids.clone());
            // The server's own time, split into the wait for a turn and the work.
            assert!(timing.starts_with("queue;dur="), "Server-Timing: {timing:?}");
            assert_eq!(timing.contains(", apply;dur="), status == StatusCode::OK, "{timing}");
            match status {
                StatusCode::OK => crate::helpers::assert_all_applied(&body),
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(body["error"]["code"], "server_busy", "{body}");
                    assert_eq!(retry.as_deref(), Some("1"), "Retry-After on a busy answer");
                    assert_eq!(residents_in(&app, &ids), 0, "nothing of a refused batch is kept");
                    refused.push((i, ops));
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        if !refused.is_empty() {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "with one turn and no queue, a storm of 8 meets a refusal"
    );
    // Sent again later, a refused batch applies in full: it was never half-applied.
    for (i, ops) in refused {
        let (status, _, _, body) = send(&app, &tablets[i], &ops).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "applied"),
            "a resent refused batch is new to the server: {body}"
        );
    }
    assert_eq!(residents_in(&app, &all_ids), all_ids.len() as i64, "every record once");
}

#[tokio::test]
async fn the_same_batch_sent_twice_at_once_is_applied_once() {
    // A tablet that gave up waiting resends while the first request is still running.
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 100_000).await;
    let t = app.login("doctor1").await;
    let village = app.villages(&t).await[0].clone();
    for round in 0..3 {
        let (ids, ops): (Vec<String>, Vec<Value>) =
            (0..200).map(|_| resident_op(&village, "1961-01-01", 'M', &[])).unzip();
        let (x, y) = tokio::join!(send(&app, &t, &ops), send(&app, &t, &ops));
        for (status, _, _, body) in [&x, &y] {
            assert_eq!(*status, StatusCode::OK, "round {round}: {body}");
        }
        let mut kinds: Vec<String> = [&x.3, &y.3]
            .iter()
            .map(|b| {
                let statuses: Vec<&str> = b["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["status"].as_str().unwrap())
                    .collect();
                assert!(
                    statuses.windows(2).all(|w| w[0] == w[1]),
                    "one answer per batch: {statuses:?}"
                );
                statuses[0].to_string()
            })
            .collect();
        kinds.sort();
        assert_eq!(kinds, ["applied", "duplicate"], "round {round}");
        assert_eq!(residents_in(&app, &ids), 200, "round {round}: each record once");
        let op_ids: Vec<String> = ops.iter().map(|o| o["op_id"].as_str().unwrap().to_string()).collect();
        let remembered: i64 = app.db(|c| {
            op_records::table
                .filter(op_records::op_id.eq_any(&op_ids))
                .count()
                .get_result(c)
                .unwrap()
        });
        assert_eq!(remembered, 200, "round {round}: one idempotency record per op");
    }
}
