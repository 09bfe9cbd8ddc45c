use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp, DEMO_PASSWORD};

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
async fn a_guesser_on_one_username_is_slowed_and_the_backoff_grows() {
    let app = spawn_app_with(|c| c.login_free_failures = 3).await;
    for _ in 0..3 {
        let res = app.login_raw("doctor2", "wrong-password", "device-0002").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "device-0002").await;
    assert_eq!(retry_after(&res), 1);
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another user from the same address is not held by doctor2's failures.
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "device-0003").await;
    assert_eq!(res.status(), StatusCode::OK);
    // Past the wait one more guess is let through, and the next wait is twice as long.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app.login_raw("doctor2", "wrong-password", "device-0002").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "device-0002").await;
    assert_eq!(retry_after(&res), 2);
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // A wait, never a lock: after it the right password logs in.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let res = app.login_raw("doctor2", DEMO_PASSWORD, "device-0002").await;
    assert_eq!(res.status(), StatusCode::OK);
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds")
}

#[tokio::test]
async fn typed_variants_of_a_username_are_one_account_with_one_counter() {
    let app = spawn_app_with(|c| c.login_free_failures = 3).await;
    let res = app.login_raw("ｄｏｃｔｏｒ１", DEMO_PASSWORD, "device-0005").await;
    assert_eq!(res.status(), StatusCode::OK, "full-width doctor1 logs in as doctor1");
    let body: serde_json::Value = res.json().await.unwrap();
    let doctor1 = app.login("doctor1").await;
    assert_eq!(body["user"]["id"], doctor1.user["id"]);
    for typed in [" doctor1", "doctor1\u{3000}", "ＤＯＣＴＯＲ１"] {
        let res = app.login_raw(typed, "wrong-password", "device-0005").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // Three failures under three spellings are three failures of doctor1.
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "device-0005").await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn made_up_names_from_one_address_do_not_hold_up_the_staff_who_log_in_there() {
    let app = spawn_app_with(|c| c.login_free_failures_per_ip = 4).await;
    // doctor1's tablet logged in from this address before (the township's NAT).
    app.login_on("doctor1", "device-ip-0001").await;
    for user in ["nobody1", "nobody2", "nobody3", "nobody4"] {
        let res = app.login_raw(user, "wrong-password-x", "device-ip-0009").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = app.login_raw("nobody5", "wrong-password-x", "device-ip-0009").await;
    assert!(retry_after(&res) >= 1);
    let made_up = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // A real account that never logged in here answers exactly like a made-up one: the
    // rule tells nobody which usernames exist.
    let res = app.login_raw("doctor2", "wrong-password-x", "device-ip-0009").await;
    let real = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(made_up, real);
    // doctor1 logs in from the same address with the right password.
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "device-ip-0001").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn failures_on_a_username_from_elsewhere_do_not_keep_its_user_out() {
    let app = spawn_app_with(|c| {
        c.login_free_failures = 100;
        c.login_free_failures_per_user = 3;
    })
    .await;
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let attempt = |password: &'static str| {
        let (app, elsewhere) = (&app, &elsewhere);
        async move {
            elsewhere
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({ "username": "doctor1", "password": password,
                               "device_id": "attacker-01", "device_name": "x" }))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    // The attacker's address now waits between guesses on doctor1 …
    let res = attempt("wrong-password").await;
    assert!(retry_after(&res) >= 1);
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // … while doctor1 on their own tablet logs in at once.
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "device-own-01").await;
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

async fn bearer_me(app: &TestApp, access: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reused_refresh_token_ends_every_token_of_the_device_access_tokens_too() {
    let app = spawn_app_with(|c| c.refresh_grace = std::time::Duration::ZERO).await;
    let s = app.login("doctor1").await;
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: serde_json::Value = res.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_string();
    let access = rotated["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, s.refresh);
    assert_eq!(bearer_me(&app, &access).await.status(), StatusCode::OK);
    // The first token again: someone holds a copy.
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    // Every token of the device has ended: the newest refresh token and both access tokens.
    let res = app.refresh_raw(&second, &s.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_error(
        bearer_me(&app, &access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_error(
        bearer_me(&app, &s.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // Logging in again on the device works.
    let again = app.login_on("doctor1", &s.device_id).await;
    assert_eq!(app.get(&again, "/api/v1/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_retried_within_the_grace_window_answers_the_same_pair() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let first: serde_json::Value = app.refresh_raw(&s.refresh, &s.device_id).await.json().await.unwrap();
    // The answer was lost; the tablet sends the same refresh again.
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again: serde_json::Value = res.json().await.unwrap();
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(again["access_token"], first["access_token"]);
    let child = first["refresh_token"].as_str().unwrap();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(bearer_me(&app, access).await.status(), StatusCode::OK);
    assert_eq!(bearer_me(&app, &s.access).await.status(), StatusCode::OK);
    // Only hashes are stored, the derived token's too.
    let clear: i64 = app.db(|c| {
        use diesel::prelude::*;
        use jiayi::schema::refresh_tokens::dsl::*;
        refresh_tokens
            .filter(token_hash.eq(child))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(clear, 0);
    // Once the new token is spent, the old one is a copy again and ends the chain.
    let next: serde_json::Value = app.refresh_raw(child, &s.device_id).await.json().await.unwrap();
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let newest = next["access_token"].as_str().unwrap();
    assert_error(bearer_me(&app, newest).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn two_refreshes_of_one_token_at_once_get_the_same_pair() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let (a, b) = tokio::join!(
        app.refresh_raw(&s.refresh, &s.device_id),
        app.refresh_raw(&s.refresh, &s.device_id)
    );
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let a: serde_json::Value = a.json().await.unwrap();
    let b: serde_json::Value = b.json().await.unwrap();
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    assert_eq!(a["access_token"], b["access_token"]);
}

#[tokio::test]
async fn a_refresh_retried_after_the_grace_window_is_reuse() {
    let app = spawn_app_with(|c| c.refresh_grace = std::time::Duration::from_millis(500)).await;
    let s = app.login("doctor1").await;
    let first: serde_json::Value = app.refresh_raw(&s.refresh, &s.device_id).await.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let access = first["access_token"].as_str().unwrap();
    assert_error(bearer_me(&app, access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // A retry from another tablet id is refused even inside the window.
    let s2 = app.login("doctor2").await;
    app.refresh_raw(&s2.refresh, &s2.device_id).await;
    let res = app.refresh_raw(&s2.refresh, "some-other-device").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_login_naming_another_users_device_id_takes_nothing_over() {
    let app = spawn_app().await;
    let d1 = app.login_on("doctor1", "tablet-0001").await;
    let d2 = app.login_on("doctor2", "tablet-0001").await;
    // doctor1's tokens still work, and so does their refresh.
    assert_eq!(app.get(&d1, "/api/v1/me").await.status(), StatusCode::OK);
    let res = app.refresh_raw(&d1.refresh, "tablet-0001").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(d1.device_key, d2.device_key);
    // The device list names two devices with that tablet id, one per user.
    let admin = app.login("admin").await;
    let list: serde_json::Value = app.get(&admin, "/api/v1/devices").await.json().await.unwrap();
    let mut users: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["device_id"] == "tablet-0001")
        .map(|d| d["username"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["doctor1", "doctor2"]);
    // Both push as "tablet-0001"; revoking doctor2's device leaves doctor1's alone.
    for s in [&d1, &d2] {
        let res = app
            .post(
                s,
                "/api/v1/sync/push",
                &json!({ "device_id": "tablet-0001", "ops": [] }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app
        .post(
            &admin,
            &format!("/api/v1/devices/{}/revoke", d2.device_key),
            &json!({ "reason": "lost" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&d2, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "device_revoked",
    )
    .await;
    assert_eq!(
        app.login_raw("doctor1", DEMO_PASSWORD, "tablet-0001").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_device_id_registered_in_another_county_does_not_block_a_login() {
    let app = spawn_app().await;
    let other = app.login_on("doctor2", "tablet-0002").await;
    // The row as a device of another county's user would be.
    app.db(|c| {
        use diesel::prelude::*;
        use jiayi::schema::devices::dsl::*;
        diesel::update(devices.find(&other.device_key))
            .set(county_code.eq("990100000000"))
            .execute(c)
            .unwrap()
    });
    let res = app.login_raw("doctor1", DEMO_PASSWORD, "tablet-0002").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_from_an_unknown_device_answers_401() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let res = app.refresh_raw(&s.refresh, "some-other-device").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn an_expired_access_token_answers_401() {
    let app = spawn_app().await;
    let s = app.login("doctor1").await;
    let now = chrono::Utc::now().timestamp();
    let claims = jiayi::auth::tokens::Claims {
        sub: s.user["id"].as_str().unwrap().to_string(),
        dev: s.device_key.clone(),
        gen: 0,
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
            &format!("/api/v1/devices/{}/revoke", doctor.device_key),
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
    let res = app.refresh_raw(&doctor.refresh, &doctor.device_id).await;
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
            &format!("/api/v1/devices/{}/revoke", d1.device_key),
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
        .any(|d| d["id"] == d1.device_key.as_str()));
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
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_expired").await;
    // A new login still works.
    app.login_on("doctor1", &s.device_id).await;
}

#[tokio::test]
async fn first_logins_of_one_user_on_one_tablet_at_once_all_succeed_on_one_device() {
    let app = spawn_app().await;
    // Argon2 makes each login slow enough that the device look-ups of several logins
    // overlap; the later inserts meet the (user, tablet id) index.
    let logins = (0..6).map(|_| app.login_raw("doctor2", DEMO_PASSWORD, "tablet-race-0001"));
    let answers = futures_util::future::join_all(logins).await;
    let mut keys = std::collections::BTreeSet::new();
    for res in answers {
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        keys.insert(app.session_from(&body, "tablet-race-0001").await.device_key);
    }
    assert_eq!(keys.len(), 1, "one device row for the user's tablet: {keys:?}");
}
