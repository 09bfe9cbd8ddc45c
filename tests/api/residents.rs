use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, resident_op, spawn_app};

#[tokio::test]
async fn a_doctor_reads_their_own_teams_resident_with_the_id_number_masked() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (id, op) = resident_op(&village, "1950-05-01", 'F', &["hypertension"]);
    let id_number = op["data"]["id_number"].as_str().unwrap().to_string();
    let out = app.push(&d1, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    let res = app.get(&d1, &format!("/api/v1/residents/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&id_number),
        "the clear ID number never leaves the server"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let masked = body["id_number_masked"].as_str().unwrap();
    assert_eq!(masked, format!("****************{}*", &id_number[16..17]));
    assert_eq!(body["tags"], serde_json::json!(["hypertension"]));
}

#[tokio::test]
async fn a_doctor_cannot_read_another_teams_resident() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let village2 = app.villages(&d2).await[0].clone();
    let (id, op) = resident_op(&village2, "1980-01-02", 'M', &[]);
    let out = app.push(&d2, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert_eq!(
        app.get(&d2, &format!("/api/v1/residents/{id}")).await.status(),
        StatusCode::OK
    );
    // Another team's resident looks exactly like a missing one.
    let res = app.get(&d1, &format!("/api/v1/residents/{id}")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .get(&d1, "/api/v1/residents/00000000-0000-0000-0000-000000000000")
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // The township supervisor sees it, with the phone masked.
    let sup = app.login("supervisor1").await;
    let body: Value = app
        .get(&sup, &format!("/api/v1/residents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["phone"], "138******00", "at least half of the digits hidden");
}
