use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, DEMO_PASSWORD};

#[tokio::test]
async fn login_returns_tokens_and_the_user() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    assert_eq!(s.user["role"], "doctor");
    assert!(s.user["team_id"].is_string());
    let res = app.get(&s, "/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_401() {
    let app = spawn_app().await;
    let res = app.login_raw("doctor1", "not-the-password", "device-0001").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = app.login_raw("nobody", "whatever-password", "device-0001").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_user() {
    let app = spawn_app_with(|c| c.login_max_failures_per_user = 3).await;
    for _ in 0..3 {
        let res = app.login_raw("doctor2", "wrong-password", "device-0002").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "device-0002").await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another user from the same address is not locked out by doctor2's failures.
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "device-0003").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_login_bodies_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": "doctor1", "password": DEMO_PASSWORD, "device_id": "device-0004", "device_name": "x", "admin": true }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": "doctor1", "password": DEMO_PASSWORD, "device_id": "bad id!", "device_name": "x" }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_device_id").await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_chain() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let refresh = |token: String, device: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/auth/refresh"))
                .json(&json!({ "refresh_token": token, "device_id": device }))
                .send()
                .await
                .unwrap()
        }
    };
    let res = refresh(s.refresh.clone(), s.device_id.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: serde_json::Value = res.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, s.refresh);
    // The first token again: someone holds a copy.
    let res = refresh(s.refresh.clone(), s.device_id.clone()).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    // The whole chain is revoked, including the newest token.
    let res = refresh(second, s.device_id.clone()).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
}

#[tokio::test]
async fn refresh_from_an_unknown_device_answers_401() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": s.refresh, "device_id": "some-other-device" }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn an_expired_access_token_answers_401() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let now = chrono::Utc::now().timestamp();
    let claims = jiayi::auth::tokens::Claims {
        sub: s.user["id"].as_str().unwrap().to_string(),
        dev: s.device_id.clone(),
        role: "doctor".into(),
        iat: now - 3600,
        exp: now - 600,
    };
    let token = app.state.keys.access_token(&claims).unwrap();
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "token_expired").await;
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let res = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn a_revoked_device_is_refused_at_once_and_told_to_wipe() {
    let app = spawn_app().await;
    let doctor = app.login("doctor1").await;
    let supervisor = app.login("supervisor1").await;
    assert_eq!(app.get(&doctor, "/api/v1/me").await.status(), StatusCode::OK);
    let res = app
        .post(
            &supervisor,
            &format!("/api/v1/devices/{}/revoke", doctor.device_id),
            &json!({ "reason": "tablet lost" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The unexpired access token stops working on its next call.
    let body = assert_error(
        app.get(&doctor, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "device_revoked",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("wipe"));
    // So do its refresh token and a new login from it.
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": doctor.refresh, "device_id": doctor.device_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.login_raw("doctor1", DEMO_PASSWORD, &doctor.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "device_revoked").await;
}

#[tokio::test]
async fn only_supervisors_and_admins_revoke_devices_and_only_in_their_scope() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let res = app
        .post(
            &d2,
            &format!("/api/v1/devices/{}/revoke", d1.device_id),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(&d2, "/api/v1/devices/no-such-device/revoke", &json!({ "reason": "x" }))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.login("admin").await;
    let res = app
        .post(
            &admin,
            "/api/v1/devices/no-such-device/revoke",
            &json!({ "reason": "x" }),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get(&admin, "/api/v1/devices").await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: serde_json::Value = res.json().await.unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == d1.device_id.as_str()));
}

#[tokio::test]
async fn password_rules_refuse_weak_passwords_and_store_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let count = || app.db(|c| crate::fuzz::count(c, "users"));
    let before = count();
    for (password, why) in [
        ("short-pw1", "9 characters"),
        (&"long-pass-".repeat(26)[..257], "257 characters"),
        ("Rule_Tester", "the username in another case"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("好好好好好好好好好好", "one character repeated, in Chinese"),
    ] {
        let res = app
            .post(
                &admin,
                "/api/v1/admin/users",
                &json!({ "username": "rule_tester", "password": password, "role": "supervisor",
                         "region_code": "431126100000", "display_name": "规则" }),
            )
            .await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert_eq!(body["error"]["field"], "password", "{why}");
        assert!(!body.to_string().contains(password), "{why}: the password is echoed");
    }
    assert_eq!(count(), before, "no weak password stored a user");
    // Exactly ten characters, and 256 of mixed ones, are accepted; the user can log in.
    for (name, password) in [
        ("rule_ten", "abcdefghi1".to_string()),
        ("rule_long", "密码ab".repeat(64)),
    ] {
        let res = app
            .post(
                &admin,
                "/api/v1/admin/users",
                &json!({ "username": name, "password": password, "role": "supervisor",
                         "region_code": "431126100000", "display_name": "规则" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let res = app.login_raw(name, &password, &format!("device-{name}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{name} logs in");
    }
}

#[tokio::test]
async fn access_and_refresh_tokens_expire_on_their_own() {
    let app = spawn_app_with(|c| {
        c.access_ttl = std::time::Duration::from_secs(1);
        c.refresh_ttl = std::time::Duration::from_secs(2);
    })
    .await;
    let s = app.login("doctor1").await;
    assert_eq!(app.get(&s, "/api/v1/me").await.status(), StatusCode::OK);
    // The access token's 1 s plus the 5 s of leeway allowed for clock steps.
    tokio::time::sleep(std::time::Duration::from_millis(7000)).await;
    assert_error(
        app.get(&s, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": s.refresh, "device_id": s.device_id }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_expired").await;
    // A new login still works.
    app.login_on("doctor1", &s.device_id).await;
}

#[tokio::test]
async fn failures_across_usernames_from_one_address_are_throttled() {
    let app = spawn_app_with(|c| c.login_max_failures_per_ip = 4).await;
    for user in ["nobody1", "nobody2", "doctor1", "nobody3"] {
        let res = app.login_raw(user, "wrong-password-x", "device-ip-0001").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
    }
    // The address is now locked out, even for a correct password of another user.
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "device-ip-0002").await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert!(!body.to_string().contains("doctor2"));
}
