//! A vocabulary value read back from the database that the server never writes (a row
//! edited by hand, or written by another program): the request that meets it answers
//! `500 internal_error` (the log names the column and the text) and the server goes on
//! serving. Never a panic, and never a guess at what the text meant.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, contract_op, now_cst, resident_op, spawn_app};
use jiayi::schema::{contracts, quarantine};

#[tokio::test]
async fn an_unknown_stored_state_kind_or_decision_is_an_internal_error_and_the_server_goes_on() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1950-05-05", 'M', &[]);
    let (cid, cop) = contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    app.push_applied(&d1, vec![rop, cop]).await;
    // A visit of a resident the server does not know is refused and kept for review.
    let (now, _) = now_cst();
    let visit = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "visit", "action": "create",
        "id": Uuid::now_v7().to_string(), "recorded_at": now,
        "data": { "resident_id": Uuid::now_v7().to_string(), "kind": "home_visit", "occurred_at": now } });
    let out = app.push(&d1, vec![visit]).await;
    assert_eq!(out["results"][0]["status"], "rejected", "{out}");
    let qid: String = app.db(|c| quarantine::table.select(quarantine::id).first(c).unwrap());
    let item = format!("/api/v1/review/items/{qid}");
    assert_eq!(app.get(&sup, &item).await.status(), StatusCode::OK);

    let set = |status: &str, resolution: Option<&str>| {
        app.db(|c| {
            diesel::update(quarantine::table.find(&qid))
                .set((quarantine::status.eq(status), quarantine::resolution.eq(resolution)))
                .execute(c)
                .unwrap()
        })
    };
    set("snoozed", None);
    assert_error(
        app.get(&sup, &item).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    set("resolved", Some("postpone"));
    assert_error(
        app.get(&sup, &item).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    set("resolved", Some("void"));
    let listed: Value = app.get(&sup, &item).await.json().await.unwrap();
    assert_eq!(
        (listed["status"].clone(), listed["resolution"].clone()),
        (json!("resolved"), json!("void"))
    );

    // A contract in a state the protocol does not have cannot be pulled as if it were one.
    app.db(|c| {
        diesel::update(contracts::table.find(&cid))
            .set(contracts::status.eq("SUSPENDED"))
            .execute(c)
            .unwrap()
    });
    let pull = app.get(&d1, "/api/v1/sync/pull?limit=200").await;
    assert_error(pull, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
    // Every other request is served as before.
    assert_eq!(app.get(&sup, "/api/v1/review/count").await.status(), StatusCode::OK);
    assert_eq!(app.get(&sup, &item).await.status(), StatusCode::OK);
}
