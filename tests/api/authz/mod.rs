//! The authorisation matrix: every operation in the OpenAPI document, called by every kind
//! of caller, against records of team B (T02) in township X (城关镇) of the demo county.
//!
//! `ROWS` classifies each operation: how to build a valid request, and what each
//! authenticated caller gets. An operation the document has but `ROWS` lacks fails the
//! test, so a new route cannot ship unclassified. Anonymous callers, expired tokens and
//! revoked devices get 401 on every protected operation.

mod world;

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::contract::documented_operations;
use crate::helpers::Session;
use world::{sha_hex, Caller, Req};
pub use world::{world, PHONE_B};

/// One classified operation: method, OpenAPI path, request, and the outcome for each
/// authenticated caller in the order of `CALLERS`: doctor of team B, doctor of team A,
/// supervisor of township X, supervisor of township Y, admin, admin of another county.
///
/// Outcomes: a status (`200`, `403`, …); `200-` is 200 without any of team B's record ids,
/// device or blob hashes in the body; `ok+` / `ok-` (push) are 200 with every op applied /
/// every op refused.
struct Row(&'static str, &'static str, Req, &'static str);

/// Authenticated callers, in the order of a row's outcomes.
const CALLERS: [&str; 6] = [
    "doctor_team_b",
    "doctor_team_a",
    "supervisor_township_x",
    "supervisor_township_y",
    "admin",
    "admin_other_county",
];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row("GET",  "/healthz",                            Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/readyz",                             Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api-docs/openapi.json",              Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/",                                   Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/echarts.min.js",              Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/assets/echarts-LICENSE.txt",         Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/field/{path}",                       Req::FieldPage,                "200 200 200 200 200 200"),
    Row("GET",  "/console/{path}",                     Req::ConsoleModule,            "200 200 200 200 200 200"),
    Row("POST", "/api/v1/auth/login",                  Req::Login,                    "200 200 200 200 200 200"),
    Row("POST", "/api/v1/auth/refresh",                Req::Refresh,                  "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/me",                          Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/audit",                       Req::AuditOfTeamBResident,     "403 403 200 200- 200 200-"),
    Row("GET",  "/api/v1/devices",                     Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("POST", "/api/v1/devices/{id}/revoke",         Req::RevokeTeamBDevice,        "403 403 204 404 204 404"),
    Row("POST", "/api/v1/admin/regions",               Req::NewVillage,               "403 403 403 403 201 403"),
    Row("POST", "/api/v1/admin/teams",                 Req::NewTeam,                  "403 403 403 403 201 403"),
    Row("PUT",  "/api/v1/admin/teams/{id}/villages",   Req::TeamBVillages,            "403 403 403 403 200 404"),
    Row("POST", "/api/v1/admin/users",                 Req::NewUser,                  "403 403 403 403 201 403"),
    Row("GET",  "/api/v1/admin/users",                 Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("PATCH", "/api/v1/admin/users/{id}",           Req::TeamBDoctorName,          "403 403 403 403 200 404"),
    Row("POST", "/api/v1/admin/users/{id}/deactivate", Req::DeactivateFreshTeamBDoctor, "403 403 403 403 200 404"),
    Row("POST", "/api/v1/admin/users/{id}/reset-password", Req::FreshTeamBDoctor,     "403 403 403 403 200 404"),
    Row("GET",  "/api/v1/admin/teams",                 Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("POST", "/api/v1/admin/villages/{code}/move",  Req::MoveTeamBVillage,         "403 403 403 403 200 422"),
    Row("POST", "/api/v1/me/password",                 Req::WrongOwnPassword,         "422 422 422 422 422 422"),
    Row("POST", "/api/v1/admin/population",            Req::PopulationOfTeamBVillage, "403 403 403 403 200 422"),
    Row("GET",  "/api/v1/regions/{code}/children",     Req::TownshipXChildren,        "200 200 200 200 200 404"),
    Row("GET",  "/api/v1/residents/{id}",              Req::TeamBResident,            "200 404 200 404 200 404"),
    Row("GET",  "/api/v1/residents/{id}/record",       Req::TeamBResident,            "200 404 200 404 200 404"),
    Row("GET",  "/api/v1/residents",                   Req::SearchTeamBPhone,         "200 200- 200 200- 200 200-"),
    Row("POST", "/api/v1/sync/push",                   Req::PushIntoTeamB,            "ok+ ok- ok+ ok- ok+ ok-"),
    Row("GET",  "/api/v1/sync/pull",                   Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("GET",  "/api/v1/sync/bootstrap",              Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("GET",  "/api/v1/blobs/missing",               Req::Plain,                    "200 200- 200 200- 200 200-"),
    Row("PUT",  "/api/v1/blobs/{sha256}",              Req::PutBlob,                  "201 201 201 201 201 201"),
    // HEAD answers only whether bytes the caller already holds are stored (see docs/security.md).
    Row("HEAD", "/api/v1/blobs/{sha256}",              Req::TeamBBlob,                "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/blobs/{sha256}",              Req::TeamBBlob,                "200 404 200 404 200 404"),
    Row("GET",  "/api/v1/reports/indicators",          Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/reports/coverage",            Req::CoverageOfTeamBVillage,   "200 403 200 403 200 403"),
    Row("GET",  "/api/v1/reports/trend",               Req::TrendOfTeamBVillage,      "200 403 200 403 200 403"),
    // Exports are for supervisors and administrators only: doctors get no bulk reads.
    Row("GET",  "/api/v1/exports/fhir",                Req::ExportOfTownshipX,        "403 403 200 403 200 403"),
    Row("GET",  "/api/v1/exports/fhir/{file}",         Req::ExportOfTownshipX,        "403 403 200 403 200 403"),
    Row("GET",  "/api/v1/exports/dhis2/dataValueSets", Req::ExportOfTownshipX,        "403 403 200 403 200 403"),
    Row("GET",  "/api/v1/exports/dhis2/metadata",      Req::ExportOfTownshipX,        "403 403 200 403 200 403"),
    Row("GET",  "/api/v1/review/count",                Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/review/items",                Req::Plain,                    "403 403 200 200- 200 200-"),
    Row("GET",  "/api/v1/review/items/{id}",           Req::TeamBReviewItem,          "403 403 200 404 200 404"),
    Row("POST", "/api/v1/review/items/{id}/decision",  Req::DecideTeamBReviewItem,    "403 403 200 404 200 404"),
    Row("GET",  "/api/v1/teams/{id}/worklist",         Req::TeamBWorklist,            "200 403 200 403 200 404"),
    // Every caller reads their own county's catalog (docs/domain.md §2, §5; the other
    // county's list is its own: tests/api/catalog_counties.rs).
    Row("GET",  "/api/v1/questionnaires",              Req::Plain,                    "200 200 200 200 200 200"),
    Row("GET",  "/api/v1/packages",                    Req::Plain,                    "200 200 200 200 200 200"),
    // Each administrator adds to their own county's catalog; the other county's admin
    // gets 201 for a version of its own county, and this county's catalog is unchanged.
    Row("POST", "/api/v1/admin/questionnaires",        Req::NewQuestionnaire,         "403 403 403 403 201 201"),
    // Last: it ends every token of each caller, so no later row could use them.
    Row("POST", "/api/v1/me/sign-out-everywhere",      Req::Plain,                    "204 204 204 204 204 204"),
];

/// Does the response meet the outcome? `Err` says why not.
fn check(outcome: &str, method: &str, status: StatusCode, body: &str, secrets: &[&str]) -> Result<(), String> {
    let want_status = match outcome {
        "200-" | "ok+" | "ok-" => 200,
        s => s.parse::<u16>().map_err(|_| format!("unknown outcome {s}"))?,
    };
    if status.as_u16() != want_status {
        return Err(format!("expected {outcome}, got {status}: {body:.300}"));
    }
    // HEAD answers carry no body.
    if status.is_client_error() && method != "HEAD" {
        let v: Value =
            serde_json::from_str(body).map_err(|_| format!("{status} without the error shape: {body:.300}"))?;
        if !v["error"]["code"].is_string() {
            return Err(format!("{status} without the error shape: {body:.300}"));
        }
    }
    match outcome {
        "200-" => {
            if let Some(s) = secrets.iter().find(|s| body.contains(**s)) {
                return Err(format!("200 leaks team B's {s}"));
            }
        }
        "ok+" | "ok-" => {
            let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            let results = v["results"].as_array().ok_or("no results")?;
            let applied = outcome == "ok+";
            if results.is_empty() || results.iter().any(|r| (r["status"] == "applied") != applied) {
                return Err(format!(
                    "expected every op {}: {body:.400}",
                    if applied { "applied" } else { "refused" }
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[tokio::test]
async fn every_operation_is_classified_and_every_caller_gets_what_the_matrix_says() {
    let w = world().await;
    let spec = crate::contract::spec();
    let rows: BTreeMap<(String, String), &Row> = ROWS.iter().map(|r| ((r.0.to_string(), r.1.to_string()), r)).collect();
    let unclassified: Vec<_> = documented_operations()
        .into_iter()
        .filter(|k| !rows.contains_key(k))
        .collect();
    assert!(
        unclassified.is_empty(),
        "operations in the OpenAPI document missing from the authorisation matrix: classify each \
         with a Row in ROWS of tests/api/authz.rs (how to build a valid request, and the outcome \
         for each caller): {unclassified:?}"
    );
    let stale: Vec<_> = rows.keys().filter(|k| !documented_operations().contains(*k)).collect();
    assert!(stale.is_empty(), "ROWS names operations the document lacks: {stale:?}");

    // The callers who hold no valid token.
    let expired = {
        let now = chrono::Utc::now().timestamp();
        let claims = jiayi::auth::tokens::Claims {
            sub: w.doctor_b.user["id"].as_str().unwrap().to_string(),
            dev: w.doctor_b.device_key.clone(),
            gen: 0,
            role: "doctor".into(),
            iat: now - 7200,
            exp: now - 60,
        };
        Caller {
            name: "expired_token",
            token: Some(w.app.state.keys.access_token(&claims).unwrap()),
            device_id: w.doctor_b.device_id.clone(),
        }
    };
    let revoked = {
        let s = w.app.login("doctor2").await;
        let res = w
            .app
            .post(
                &w.supervisor_x,
                &format!("/api/v1/devices/{}/revoke", s.device_key),
                &json!({ "reason": "lost" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        Caller::from(("revoked_device", &s))
    };
    let anonymous = Caller {
        name: "anonymous",
        token: None,
        device_id: "anonymous-device".into(),
    };
    let authenticated: Vec<Caller> = [
        &w.doctor_b,
        &w.doctor_a,
        &w.supervisor_x,
        &w.supervisor_y,
        &w.admin,
        &w.admin_other,
    ]
    .into_iter()
    .zip(CALLERS)
    .map(|(s, name)| Caller::from((name, s)))
    .collect();

    let secrets = w.secrets();
    let mut cells = 0;
    let mut failures = Vec::new();
    for row in ROWS {
        let Row(method, path, req, outcomes) = row;
        let outcomes: Vec<&str> = outcomes.split_whitespace().collect();
        assert_eq!(outcomes.len(), CALLERS.len(), "{method} {path}: one outcome per caller");
        let op = &spec["paths"][*path][method.to_lowercase()];
        let protected = op["security"].as_array().is_some_and(|s| !s.is_empty());
        for (caller, outcome) in authenticated.iter().zip(&outcomes) {
            let built = w.build(*req, path, caller).await;
            let (status, body) = w.send(method, &built, caller).await;
            cells += 1;
            if let Err(e) = check(outcome, method, status, &body, &secrets) {
                failures.push(format!("{method} {path} as {}: {e}", caller.name));
            }
            // PII: an ID number never in clear; a phone in clear to its own team only.
            if body.contains(&w.id_number_b) || body.contains(&w.id_number_b[..17]) {
                failures.push(format!("{method} {path} as {}: an ID number in clear", caller.name));
            }
            if caller.name != "doctor_team_b" && body.contains(PHONE_B) {
                failures.push(format!("{method} {path} as {}: team B's phone in clear", caller.name));
            }
        }
        for caller in [&anonymous, &expired, &revoked] {
            let built = w.build(*req, path, caller).await;
            let (status, body) = w.send(method, &built, caller).await;
            cells += 1;
            // Public operations answer them like the first caller; protected ones refuse.
            let outcome = if protected { "401" } else { outcomes[0] };
            let outcome = if outcome.starts_with("ok") { "200" } else { outcome };
            if let Err(e) = check(outcome, method, status, &body, &secrets) {
                failures.push(format!("{method} {path} as {}: {e}", caller.name));
            }
        }
    }
    println!(
        "authorisation matrix: {} operations × 9 callers = {cells} cells",
        ROWS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} matrix cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A caller who guesses the id of another team's record learns nothing: the answer is the
/// one for an id that does not exist, byte for byte.
#[tokio::test]
async fn ids_guessed_across_teams_answer_exactly_like_absent_ones() {
    let w = world().await;
    let app = &w.app;
    let absent_uuid = Uuid::now_v7().to_string();
    let absent_sha = sha_hex(b"never stored");
    let cases: Vec<(&Session, String, String)> = vec![
        (
            &w.doctor_a,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.supervisor_y,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.admin_other,
            format!("/api/v1/residents/{}", w.resident_b),
            format!("/api/v1/residents/{absent_uuid}"),
        ),
        (
            &w.doctor_a,
            format!("/api/v1/blobs/{}", w.blob_b),
            format!("/api/v1/blobs/{absent_sha}"),
        ),
        (
            &w.admin_other,
            format!("/api/v1/blobs/{}", w.blob_b),
            format!("/api/v1/blobs/{absent_sha}"),
        ),
    ];
    for (who, real, absent) in cases {
        let a = app.get(who, &real).await;
        let b = app.get(who, &absent).await;
        assert_eq!(a.status(), StatusCode::NOT_FOUND, "{real}");
        assert_eq!(a.status(), b.status(), "{real} vs {absent}");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap(), "{real} vs {absent}");
    }
    // Writes by id: another scope's device or team answers like a missing one.
    let writes: Vec<(&Session, &str, String, String, Value)> = vec![
        (
            &w.supervisor_y,
            "POST",
            format!("/api/v1/devices/{}/revoke", w.doctor_b.device_key),
            "/api/v1/devices/no-such-device-0001/revoke".to_string(),
            json!({ "reason": "guess" }),
        ),
        (
            &w.admin_other,
            "PUT",
            format!("/api/v1/admin/teams/{}/villages", w.team_b),
            format!("/api/v1/admin/teams/{absent_uuid}/villages"),
            json!({ "village_codes": [w.village_b] }),
        ),
    ];
    for (who, method, real, absent, body) in writes {
        let send = |path: String| {
            app.client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
                .bearer_auth(&who.access)
                .json(&body)
                .send()
        };
        let a = send(real.clone()).await.unwrap();
        let b = send(absent.clone()).await.unwrap();
        assert_eq!(a.status(), StatusCode::NOT_FOUND, "{real}");
        assert_eq!(a.status(), b.status(), "{real} vs {absent}");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap(), "{real} vs {absent}");
    }
    // Nothing changed: team B's device still works and its villages are as they were.
    assert_eq!(app.get(&w.doctor_b, "/api/v1/me").await.status(), StatusCode::OK);
    assert!(app.villages(&w.doctor_b).await.contains(&w.village_b));
}
