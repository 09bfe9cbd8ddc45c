use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

const COUNTY: &str = "431126000000";

#[tokio::test]
async fn the_county_report_by_township_sums_to_its_total() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={COUNTY}&period={year}&group_by=township"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["dictionary_version"], "v1");
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 5);
    for id in ["record_rate", "signing_rate", "key_signing_rate", "contracts_signed"] {
        let sum: i64 = groups
            .iter()
            .map(|g| g["indicators"][id]["numerator"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, r["total"]["indicators"][id]["numerator"].as_i64().unwrap(), "{id}");
    }
    let total = &r["total"]["indicators"]["signing_rate"];
    assert!(total["numerator"].as_i64().unwrap() > 0, "the demo county has signings");
    let num = total["numerator"].as_i64().unwrap() as f64;
    let den = total["denominator"].as_i64().unwrap() as f64;
    assert_eq!(total["rate"].as_f64().unwrap(), (num / den * 10000.0).round() / 10000.0);
}

#[tokio::test]
async fn a_supervisor_reads_their_township_only() {
    let app = spawn_app().await;
    let sup = app.login("supervisor1").await;
    let own = sup.user["region_code"].as_str().unwrap().to_string();
    let res = app
        .get(
            &sup,
            &format!("/api/v1/reports/coverage?region={own}&period=2026&group_by=village"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(&sup, &format!("/api/v1/reports/coverage?region={COUNTY}&period=2026"))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(&sup, "/api/v1/reports/coverage?region=431126101000&period=2026")
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_doctor_sees_their_team_only() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let res = app
        .get(
            &d1,
            "/api/v1/reports/coverage?region=431126100000&period=2026&group_by=team",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["code"], d1.user["team_id"]);
}

#[tokio::test]
async fn bad_report_parameters_answer_4xx() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .get(&admin, &format!("/api/v1/reports/coverage?region={COUNTY}&period=26"))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_period").await;
    let res = app.get(&admin, "/api/v1/reports/coverage?region=12&period=2026").await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_region_code").await;
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={COUNTY}&period=2026&group_by=planet"),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app
        .get(&admin, "/api/v1/reports/coverage?region=431126999000&period=2026")
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get(&admin, "/api/v1/reports/indicators").await;
    assert_eq!(res.status(), StatusCode::OK);
}
