//! The service-package catalog as tablets receive it: `GET /api/v1/packages` and the
//! bootstrap's last page carry the same list, a package imported by the county reaches the
//! tablet, a retired one stays listed (inactive) and can no longer be signed.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{add_package, assert_error, contract_op, resident_op, spawn_app, Session, TestApp};
use jiayi::demo::COUNTY_CODE;
use jiayi::schema::service_packages;

async fn list(app: &TestApp, s: &Session) -> Vec<Value> {
    let res = app.get(s, "/api/v1/packages").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Vec<Value>>().await.unwrap()
}

async fn bootstrap_packages(app: &TestApp, s: &Session) -> Value {
    let res = app.get(s, "/api/v1/sync/bootstrap?limit=10000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    assert!(page["cursor"].is_string(), "one page");
    page["packages"].clone()
}

#[tokio::test]
async fn tablets_get_the_catalog_with_prices_in_fen_on_bootstrap_and_by_request() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let all = list(&app, &d1).await;
    let codes: Vec<&str> = all.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["BASIC", "DM", "ELDERLY", "HTN", "MCH"], "by code");
    assert_eq!(
        all[0],
        json!({ "code": "BASIC", "name": "基础公共卫生服务包", "kind": "basic", "price_fen": 0,
                "self_pay_fen": 0, "active": true })
    );
    let htn = all.iter().find(|p| p["code"] == "HTN").unwrap();
    assert_eq!(
        (&htn["kind"], &htn["price_fen"], &htn["self_pay_fen"]),
        (&json!("personalised"), &json!(12000), &json!(3000))
    );
    assert_eq!(
        bootstrap_packages(&app, &d1).await,
        json!(all),
        "the bootstrap carries the same list"
    );
    let res = app.get(&d1, "/api/v1/sync/bootstrap?limit=1").await;
    let first: Value = res.json().await.unwrap();
    assert!(first["next_page"].is_string());
    assert!(first.get("packages").is_none(), "only the last page carries it");
    // Every role reads the one catalog; without a token, nothing.
    let sup = app.login("supervisor1").await;
    assert_eq!(list(&app, &sup).await, all);
    let res = app.client.get(app.url("/api/v1/packages")).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn a_new_package_reaches_the_tablet_and_a_retired_one_is_listed_but_not_signed() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    add_package(&app, COUNTY_CODE, "REHAB", "康复护理包", "personalised", true);
    let all = list(&app, &d1).await;
    let rehab = all
        .iter()
        .find(|p| p["code"] == "REHAB")
        .expect("the new package is listed");
    assert_eq!(
        (&rehab["price_fen"], &rehab["self_pay_fen"], &rehab["active"]),
        (&json!(8050), &json!(1025), &json!(true))
    );
    assert!(bootstrap_packages(&app, &d1)
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["code"] == "REHAB"));

    // A contract may hold it, at its price.
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1950-02-03", 'M', &[]);
    let (_, cop) = contract_op(&rid, &team, &["BASIC", "REHAB"]);
    let out = app.push(&d1, vec![rop, cop]).await;
    assert_eq!(out["results"][1]["status"], "applied", "{out}");

    // Retired: still listed (contracts name it), refused on a new contract.
    app.db(|c| {
        diesel::update(service_packages::table.find((COUNTY_CODE, "REHAB")))
            .set(service_packages::active.eq(false))
            .execute(c)
            .unwrap()
    });
    let all = list(&app, &d1).await;
    assert_eq!(all.iter().find(|p| p["code"] == "REHAB").unwrap()["active"], false);
    let (rid2, rop2) = resident_op(&village, "1951-02-03", 'F', &[]);
    let (_, cop2) = contract_op(&rid2, &team, &["BASIC", "REHAB"]);
    let out = app.push(&d1, vec![rop2, cop2]).await;
    assert_eq!(out["results"][1]["status"], "rejected", "{out}");
    assert_eq!(out["results"][1]["error"]["code"], "unknown_package", "{out}");
}

#[tokio::test]
async fn a_package_of_an_unknown_kind_is_left_out_rather_than_failing_every_bootstrap() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    // Written by hand around `jiayi import packages`, which checks the kind.
    add_package(&app, COUNTY_CODE, "ODD", "康复护理包", "Basic", true);
    let all = list(&app, &d1).await;
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|p| p["code"] != "ODD"));
    assert_eq!(bootstrap_packages(&app, &d1).await.as_array().unwrap().len(), 5);
}
