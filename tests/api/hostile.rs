//! Hostile input on every write endpoint: each field of a valid request replaced in turn by
//! wrong types, nulls, huge strings, control characters, SQL- and script-like text, emoji,
//! negative and absurd numbers, dates in year 0 and 9999; whole bodies oversized, deeply
//! nested, of the wrong type or with unknown fields. A refusal is a 4xx in the error shape
//! and leaves every table as it was (rows are counted before and after). Free text
//! (names, notes, reasons) accepts SQL- and script-like text and emoji, stored verbatim;
//! control characters are refused everywhere (docs/security.md).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{contract_op, now_cst, resident_op, spawn_app_with, Session, TestApp, DEMO_PASSWORD};

/// Tables a refused request must leave as they were.
const TABLES: &[&str] = &[
    "regions",
    "teams",
    "team_villages",
    "users",
    "devices",
    "refresh_tokens",
    "residents",
    "resident_tags",
    "contracts",
    "contract_packages",
    "visits",
    "survey_responses",
    "not_signed",
    "population",
    "blobs",
    "ledger",
];

/// Body limit of the app under test, so oversized bodies stay cheap.
const BODY_LIMIT: usize = 128 * 1024;

fn counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    app.db(|c| TABLES.iter().map(|t| (*t, crate::fuzz::count(c, t))).collect())
}

/// How a field takes the hostile values: the names of those it accepts as valid.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct Field(pub(crate) &'static [&'static str]);

/// Codes, ids, enums, dates, lists: every hostile value is refused.
pub(crate) const STRICT: Field = Field(&[]);
/// Free text: SQL- and script-like text, emoji and date-like text are valid text.
pub(crate) const TEXT: Field = Field(&["SQL", "script", "emoji", "year 0", "year 9999"]);
/// A count: 12345 is a valid one.
const COUNT: Field = Field(&["a number"]);
/// A new password: any text of 10–256 characters that is not one character repeated.
const PASSWORD: Field = Field(&["SQL", "script", "year 0", "year 9999"]);
/// Identifiers of `a–z 0–9 - _ . :`: `0000-01-01` is one.
const IDENT: Field = Field(&["year 0"]);
/// A phone: absent when null or empty; `0000-01-01` has the shape of a landline number.
const PHONE: Field = Field(&["null", "an empty string", "year 0"]);
/// An optional field: null means absent.
pub(crate) const OPTIONAL: Field = Field(&["null"]);

/// The hostile values.
pub(crate) fn hostile_values() -> Vec<(&'static str, Value)> {
    vec![
        ("null", json!(null)),
        ("a number", json!(12345)),
        ("a negative number", json!(-1)),
        ("an absurd number", json!(1e300)),
        ("a huge integer", json!(u64::MAX)),
        ("a bool", json!(true)),
        ("an array", json!(["x"])),
        ("an object", json!({ "a": 1 })),
        ("an empty string", json!("")),
        ("a huge string", json!("长".repeat(20_000))),
        ("control characters", json!("名字\u{7}\u{1b}[31m")),
        ("a NUL", json!("a\u{0}b")),
        ("a newline", json!("第一行\n第二行")),
        ("SQL", json!("x'); DROP TABLE residents; --")),
        ("script", json!("<script>alert(1)</script>")),
        ("emoji", json!("家医👩‍⚕️签约")),
        ("year 0", json!("0000-01-01")),
        ("year 9999", json!("9999-12-31T23:59:59+08:00")),
    ]
}

pub(crate) fn accepted(kind: Field, name: &str) -> bool {
    kind.0.contains(&name)
}

/// Sets the value at a JSON pointer, adding the last key to its object if absent.
pub(crate) fn set(body: &mut Value, pointer: &str, v: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let shown = body.to_string();
    match body
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent} in {shown}"))
    {
        Value::Object(m) => {
            m.insert(key.to_string(), v);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("an index")] = v,
        other => panic!("{pointer}: {other} is no container"),
    }
}

/// A JSON-pointer replacement in a copy of `body`.
fn with(body: &Value, pointer: &str, v: Value) -> Value {
    let mut b = body.clone();
    set(&mut b, pointer, v);
    b
}

async fn send(
    app: &TestApp,
    who: Option<&Session>,
    method: &str,
    path: &str,
    body: Vec<u8>,
    ct: &str,
) -> (StatusCode, String) {
    let mut rb = app
        .client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
        .header("X-Sync-Protocol", "1")
        .header("content-type", ct)
        .body(body);
    if let Some(s) = who {
        rb = rb.bearer_auth(&s.access);
    }
    let res = rb.send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// Sends a request that must be refused: a 4xx in the error shape, nothing changed.
async fn assert_refused(
    app: &TestApp,
    who: Option<&Session>,
    method: &str,
    path: &str,
    body: Vec<u8>,
    ct: &str,
    what: &str,
) {
    let before = counts(app);
    let (status, text) = send(app, who, method, path, body, ct).await;
    assert!(
        status.is_client_error(),
        "{method} {path} with {what}: {status} {text:.300}"
    );
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path} with {what}: not JSON: {text:.300}"));
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{method} {path} with {what}: not the error shape: {text:.300}"
    );
    assert_eq!(before, counts(app), "{method} {path} with {what} changed the database");
}

/// One write endpoint: who calls it, and a fresh valid body for the n-th call.
struct Endpoint<'a> {
    who: Option<&'a Session>,
    method: &'static str,
    path: String,
    fields: Vec<(&'static str, Field)>,
    body: Box<dyn Fn(usize) -> Value + 'a>,
}

/// Whole bodies that every JSON endpoint refuses.
fn whole_bodies(valid: &Value) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut unknown = valid.clone();
    unknown["is_admin"] = json!(true);
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nested_obj = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    let mut oversized = valid.clone();
    oversized["padding"] = json!("x".repeat(BODY_LIMIT + 1));
    vec![
        (
            "an unknown field",
            serde_json::to_vec(&unknown).unwrap(),
            "application/json",
        ),
        (
            "an oversized body",
            serde_json::to_vec(&oversized).unwrap(),
            "application/json",
        ),
        ("deeply nested arrays", nested.into_bytes(), "application/json"),
        ("deeply nested objects", nested_obj.into_bytes(), "application/json"),
        ("an array", b"[]".to_vec(), "application/json"),
        ("null", b"null".to_vec(), "application/json"),
        ("a string", b"\"x\"".to_vec(), "application/json"),
        ("an empty body", Vec::new(), "application/json"),
        ("broken JSON", b"{\"a\":".to_vec(), "application/json"),
        (
            "invalid UTF-8",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            "application/json",
        ),
        ("a form body", b"a=1".to_vec(), "application/x-www-form-urlencoded"),
    ]
}

async fn hammer(app: &TestApp, ep: &Endpoint<'_>) -> usize {
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let mut cases = 0;
    // The template is valid, so each refusal below is the hostile value's doing.
    let (status, text) = send(
        app,
        ep.who,
        ep.method,
        &ep.path,
        serde_json::to_vec(&(ep.body)(next())).unwrap(),
        "application/json",
    )
    .await;
    assert!(
        status.is_success(),
        "{} {}: the valid template is refused: {status} {text}",
        ep.method,
        ep.path
    );
    for (pointer, kind) in &ep.fields {
        for (name, v) in hostile_values() {
            let body = with(&(ep.body)(next()), pointer, v);
            let what = format!("{name} in {pointer}");
            cases += 1;
            if accepted(*kind, name) {
                let (status, text) = send(
                    app,
                    ep.who,
                    ep.method,
                    &ep.path,
                    serde_json::to_vec(&body).unwrap(),
                    "application/json",
                )
                .await;
                assert!(
                    status.is_success(),
                    "{} {} with {what}: {status} {text:.300}",
                    ep.method,
                    ep.path
                );
            } else {
                assert_refused(
                    app,
                    ep.who,
                    ep.method,
                    &ep.path,
                    serde_json::to_vec(&body).unwrap(),
                    "application/json",
                    &what,
                )
                .await;
            }
        }
    }
    for (what, body, ct) in whole_bodies(&(ep.body)(next())) {
        cases += 1;
        assert_refused(app, ep.who, ep.method, &ep.path, body, ct, what).await;
    }
    cases
}

#[tokio::test]
async fn every_admin_and_auth_write_refuses_hostile_fields_and_bodies() {
    let app = spawn_app_with(|c| {
        c.max_body_bytes = BODY_LIMIT;
        c.login_free_failures = 100_000;
        c.login_free_failures_per_user = 100_000;
        c.login_free_failures_per_ip = 100_000;
    })
    .await;
    let admin = app.login("admin").await;
    let supervisor = app.login("supervisor1").await;
    let doctor = app.login("doctor2").await;
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let villages = app.villages(&doctor).await;
    let year: i32 = chrono::Utc::now().format("%Y").to_string().parse().unwrap();
    let fresh_village = |n: usize| format!("431126100{:03}", 300 + n % 600);
    let app_ref = &app;
    let mut cases = 0;

    let endpoints = vec![
        Endpoint {
            who: None,
            method: "POST",
            path: "/api/v1/auth/login".into(),
            fields: vec![
                ("/username", STRICT),
                ("/password", STRICT),
                ("/device_id", IDENT),
                ("/device_name", TEXT),
            ],
            body: Box::new(|_| {
                json!({ "username": "doctor1", "password": DEMO_PASSWORD,
                                       "device_id": format!("dev-{}", Uuid::new_v4().simple()), "device_name": "平板" })
            }),
        },
        Endpoint {
            who: Some(&admin),
            method: "POST",
            path: "/api/v1/admin/regions".into(),
            fields: vec![("/code", STRICT), ("/name", TEXT)],
            body: Box::new(move |n| json!({ "code": fresh_village(n), "name": "新村" })),
        },
        Endpoint {
            who: Some(&admin),
            method: "POST",
            path: "/api/v1/admin/teams".into(),
            fields: vec![
                ("/code", IDENT),
                ("/name", TEXT),
                ("/township_code", STRICT),
                ("/village_codes", STRICT),
                ("/village_codes/0", STRICT),
            ],
            body: Box::new(move |n| {
                let v = format!("431126100{:03}", 700 + n % 290);
                app_ref
                    .db(|c| jiayi::domain::region::create(c, &v, "队村", None))
                    .unwrap();
                json!({ "code": format!("H{n}"), "name": "新团队", "township_code": "431126100000", "village_codes": [v] })
            }),
        },
        Endpoint {
            who: Some(&admin),
            method: "PUT",
            path: format!("/api/v1/admin/teams/{team}/villages"),
            fields: vec![("/village_codes", STRICT), ("/village_codes/0", STRICT)],
            body: Box::new(|_| json!({ "village_codes": villages.clone() })),
        },
        Endpoint {
            who: Some(&admin),
            method: "POST",
            path: "/api/v1/admin/users".into(),
            fields: vec![
                ("/username", IDENT),
                ("/password", PASSWORD),
                ("/role", STRICT),
                ("/region_code", STRICT),
                ("/display_name", TEXT),
            ],
            body: Box::new(|n| {
                json!({ "username": format!("hostile_{n}"), "password": "Hostile-pass-2026", "role": "supervisor",
                                       "region_code": "431126100000", "display_name": "督导" })
            }),
        },
        Endpoint {
            who: Some(&admin),
            method: "POST",
            path: "/api/v1/admin/population".into(),
            fields: vec![
                ("/rows", STRICT),
                ("/rows/0/region_code", STRICT),
                ("/rows/0/year", STRICT),
                ("/rows/0/category", STRICT),
                ("/rows/0/count", COUNT),
            ],
            body: Box::new(
                move |n| json!({ "rows": [{ "region_code": "431126100000", "year": year, "category": "resident", "count": 1000 + n }] }),
            ),
        },
    ];
    for ep in endpoints {
        cases += hammer(&app, &ep).await;
    }

    // Revocation: each case on its own live device; a refused one leaves it live.
    for (name, v) in hostile_values() {
        let dev = app.login("doctor2").await;
        let path = format!("/api/v1/devices/{}/revoke", dev.device_key);
        let body = serde_json::to_vec(&json!({ "reason": v })).unwrap();
        cases += 1;
        if accepted(TEXT, name) {
            let (status, _) = send(&app, Some(&supervisor), "POST", &path, body, "application/json").await;
            assert_eq!(status, StatusCode::NO_CONTENT, "revoke with {name}");
            continue;
        }
        assert_refused(&app, Some(&supervisor), "POST", &path, body, "application/json", name).await;
        if name == "null" {
            for (what, body, ct) in whole_bodies(&json!({ "reason": "平板丢失" })) {
                cases += 1;
                assert_refused(&app, Some(&supervisor), "POST", &path, body, ct, what).await;
            }
        }
        assert_eq!(
            app.get(&dev, "/api/v1/me").await.status(),
            StatusCode::OK,
            "{name} left the device live"
        );
    }

    // Refresh: each hostile field, against a live token that must keep working.
    let s = app.login("doctor1").await;
    for pointer in ["/refresh_token", "/device_id"] {
        for (name, v) in hostile_values() {
            let body = with(
                &json!({ "refresh_token": s.refresh, "device_id": s.device_id }),
                pointer,
                v,
            );
            cases += 1;
            assert_refused(
                &app,
                None,
                "POST",
                "/api/v1/auth/refresh",
                serde_json::to_vec(&body).unwrap(),
                "application/json",
                &format!("{name} in {pointer}"),
            )
            .await;
        }
    }
    let res = app.refresh_raw(&s.refresh, &s.device_id).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "hostile refreshes did not burn the real token"
    );
    println!("hostile admin/auth cases: {cases}");
}

#[tokio::test]
async fn free_text_with_chinese_emoji_sql_and_script_round_trips_verbatim() {
    let app = spawn_app_with(|c| c.max_body_bytes = BODY_LIMIT).await;
    let admin = app.login("admin").await;
    let doctor = app.login("doctor2").await;
    let village = app.villages(&doctor).await[0].clone();
    let names = [
        "欧阳娜娜",
        "阿卜杜热合曼·买买提",
        "家医👩‍⚕️签约",
        "x'); DROP TABLE residents; --",
        "<script>alert(1)</script>",
        "𠀀𪚥",
    ];
    for (i, name) in names.iter().enumerate() {
        let code = format!("431126100{:03}", 900 + i);
        let res = app
            .post(&admin, "/api/v1/admin/regions", &json!({ "code": code, "name": name }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let kids: Value = app
            .get(&admin, "/api/v1/regions/431126100000/children")
            .await
            .json()
            .await
            .unwrap();
        assert!(
            kids.as_array()
                .unwrap()
                .iter()
                .any(|r| r["code"] == code && r["name"] == *name),
            "{name} round-trips"
        );
        let (id, mut op) = resident_op(&village, &format!("1950-02-{:02}", i + 1), 'F', &[]);
        op["data"]["name"] = json!(name);
        let out = app.push(&doctor, vec![op]).await;
        assert_eq!(out["results"][0]["status"], "applied", "{out}");
        let r: Value = app
            .get(&doctor, &format!("/api/v1/residents/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(r["name"], *name);
    }
    // The tables the SQL-like text names are intact.
    assert!(app.db(|c| crate::fuzz::count(c, "residents")) > 0);
}

/// Push refuses op by op: the batch answers 200, each hostile op is `rejected` with a code,
/// and no entity table grows by a refused op.
#[tokio::test]
async fn push_refuses_each_hostile_op_and_stores_nothing_of_it() {
    let app = spawn_app_with(|c| {
        c.max_body_bytes = BODY_LIMIT;
        c.sync_rate_per_minute = 100_000;
    })
    .await;
    let doctor = app.login("doctor2").await;
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&doctor).await[0].clone();
    let (now, today) = now_cst();
    let mut cases = 0;

    // Residents to hang contracts, visits and not-signed records on: one per case.
    let needed = 18 * hostile_values().len() + 10;
    let mut residents = Vec::new();
    let mut ops = Vec::new();
    for i in 0..needed {
        // A birth date each, so the generated ID numbers never collide.
        let birth = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Days::new(3 * i as u64);
        let (id, op) = resident_op(&village, &birth.to_string(), if i % 2 == 0 { 'M' } else { 'F' }, &[]);
        residents.push(id);
        ops.push(op);
    }
    for chunk in ops.chunks(200) {
        app.push_applied(&doctor, chunk.to_vec()).await;
    }
    let mut residents = residents.into_iter();
    let mut wrong = Vec::new();

    type Template<'a> = Box<dyn Fn(&str) -> Value + 'a>;
    /// Entity, its table, the fields to spoil, and a valid op for a resident.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, Field)>, Template<'a>);
    let op = |entity: &str, data: Value| {
        json!({ "op_id": Uuid::now_v7().to_string(), "entity": entity, "action": "create",
                "id": Uuid::now_v7().to_string(), "recorded_at": now, "data": data })
    };
    let entities: Vec<Case> = vec![
        (
            "resident",
            "residents",
            vec![
                ("/data/village_code", STRICT),
                ("/data/name", TEXT),
                ("/data/sex", STRICT),
                ("/data/birth_date", STRICT),
                ("/data/id_number", STRICT),
                ("/data/phone", PHONE),
                ("/data/tags", STRICT),
                ("/recorded_at", STRICT),
                ("/id", STRICT),
                ("/op_id", STRICT),
                ("/entity", STRICT),
                ("/action", STRICT),
                ("/data", STRICT),
            ],
            Box::new(|_| {
                // A random birth date, so accepted residents' ID numbers never collide.
                let days = (Uuid::new_v4().as_u128() % 20_000) as u64;
                let birth = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + chrono::Days::new(days);
                resident_op(&village, &birth.to_string(), 'M', &[]).1
            }),
        ),
        (
            "contract",
            "contracts",
            vec![
                ("/data/resident_id", STRICT),
                ("/data/team_id", STRICT),
                ("/data/packages", STRICT),
                ("/data/status", STRICT),
                ("/data/signed_at", STRICT),
                ("/data/effective_from", STRICT),
                ("/data/signature_sha256", OPTIONAL),
            ],
            Box::new(|rid| contract_op(rid, &team, &["BASIC"]).1),
        ),
        (
            "visit",
            "visits",
            vec![
                ("/data/resident_id", STRICT),
                ("/data/kind", STRICT),
                ("/data/occurred_at", STRICT),
                ("/data/measurements", STRICT),
                ("/data/measurements/systolic", STRICT),
            ],
            Box::new(|rid| {
                op(
                    "visit",
                    json!({ "resident_id": rid, "kind": "htn_followup", "occurred_at": now,
                                               "measurements": { "systolic": 130, "diastolic": 85 } }),
                )
            }),
        ),
        (
            "not_signed",
            "not_signed",
            vec![
                ("/data/resident_id", STRICT),
                ("/data/reason", STRICT),
                ("/data/recorded_at", STRICT),
            ],
            Box::new(|rid| {
                op(
                    "not_signed",
                    json!({ "resident_id": rid, "reason": "declined", "recorded_at": now }),
                )
            }),
        ),
        (
            "survey",
            "survey_responses",
            vec![("/data", STRICT), ("/data/questionnaire", STRICT)],
            Box::new(|rid| {
                op(
                    "survey",
                    json!({ "resident_id": rid, "questionnaire": "satisfaction", "questionnaire_version": 1,
                                                "answers": {}, "recorded_at": now }),
                )
            }),
        ),
    ];
    let _ = today;
    for (entity, table, fields, template) in &entities {
        // The template is valid (surveys aside: their answers depend on the questionnaire).
        if *entity != "survey" {
            let rid = residents.next().unwrap();
            let out = app.push(&doctor, vec![template(&rid)]).await;
            assert_eq!(out["results"][0]["status"], "applied", "{entity} template: {out}");
        }
        for (pointer, kind) in fields {
            for (name, v) in hostile_values() {
                let rid = if *entity == "resident" {
                    String::new()
                } else {
                    residents.next().expect("enough residents")
                };
                let mut o = template(&rid);
                set(&mut o, pointer, v);
                let before = counts(&app);
                let body = serde_json::to_vec(&json!({ "device_id": doctor.device_id, "ops": [o] })).unwrap();
                let (status, text) = send(
                    &app,
                    Some(&doctor),
                    "POST",
                    "/api/v1/sync/push",
                    body,
                    "application/json",
                )
                .await;
                cases += 1;
                let what = format!("{entity} with {name} in {pointer}");
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    assert_eq!(before, counts(&app), "{what}");
                    continue;
                }
                assert_eq!(status, StatusCode::OK, "{what}: {text:.300}");
                let v: Value = serde_json::from_str(&text).unwrap();
                let r = &v["results"][0];
                if accepted(*kind, name) {
                    if r["status"] != "applied" {
                        wrong.push(format!("{what}: refused, expected applied: {r}"));
                    }
                    continue;
                }
                if r["status"] != "rejected" || !r["error"]["code"].is_string() {
                    wrong.push(format!("{what}: {r}"));
                }
                if before != counts(&app) {
                    wrong.push(format!("{what} changed {table} or another table"));
                }
            }
        }
    }
    println!("hostile push ops: {cases}");
    assert!(
        wrong.is_empty(),
        "{} of {cases} hostile ops misjudged:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Query strings and paths of the read endpoints: garbage answers 4xx in the error shape.
#[tokio::test]
async fn hostile_query_parameters_and_paths_answer_4xx() {
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 100_000).await;
    let admin = app.login("admin").await;
    let paths = [
        "/api/v1/sync/pull?limit=-1",
        "/api/v1/sync/pull?limit=99999999999999999999999",
        "/api/v1/sync/pull?cursor=%00%01",
        "/api/v1/sync/pull?cursor=v1.9223372036854775807.0.0",
        "/api/v1/sync/pull?unknown=1",
        "/api/v1/sync/bootstrap?page=b1.-1.99.x.y.z&limit=0",
        "/api/v1/sync/bootstrap?limit=1e9",
        "/api/v1/reports/coverage?region=%27%3B%20DROP%20TABLE%20residents%3B--&period=2026",
        "/api/v1/reports/coverage?region=431126000000&period=0000",
        "/api/v1/reports/coverage?region=431126000000&period=9999-13",
        "/api/v1/reports/coverage?region=431126000000&period=2026&group_by=%3Cscript%3E",
        "/api/v1/reports/trend?region=431126000000&year=-1",
        "/api/v1/reports/trend?region=431126000000&year=99999999999",
        "/api/v1/audit?limit=-5",
        "/api/v1/audit?from=0000-01-01T00:00:00Z",
        "/api/v1/audit?before=%F0%9F%92%A5",
        "/api/v1/residents/%27%20OR%201=1--",
        "/api/v1/residents/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/regions/%3Cscript%3E/children",
        "/api/v1/blobs/zz",
        "/api/v1/blobs/..%2F..%2Fetc%2Fpasswd",
    ];
    for p in paths {
        let res = app.get(&admin, p).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_client_error(), "{p}: {status} {text:.200}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{p}: {text:.200}"));
        assert!(v["error"]["code"].is_string(), "{p}: {text:.200}");
    }
}

/// Blob uploads: bad hashes, empty, oversized, mismatched bodies store nothing.
#[tokio::test]
async fn hostile_blob_uploads_store_nothing() {
    let app = spawn_app_with(|c| c.max_blob_bytes = 4096).await;
    let doctor = app.login("doctor1").await;
    let good = b"signature bytes".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&good));
    let big = vec![7u8; 5000];
    let big_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&big));
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("zz".into(), good.clone(), "a short hash"),
        (format!("{}g", &sha[..63]), good.clone(), "a non-hex hash"),
        (format!("{sha}00"), good.clone(), "a long hash"),
        (
            "%27%3B%20DROP%20TABLE%20blobs%3B--".into(),
            good.clone(),
            "SQL in the hash",
        ),
        (sha.clone(), b"other bytes".to_vec(), "a mismatched body"),
        (
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"")),
            Vec::new(),
            "an empty body",
        ),
        (big_sha, big, "an oversized body"),
    ];
    for (hash, body, what) in cases {
        assert_refused(
            &app,
            Some(&doctor),
            "PUT",
            &format!("/api/v1/blobs/{hash}"),
            body,
            "image/png",
            what,
        )
        .await;
    }
    let (status, _) = send(
        &app,
        Some(&doctor),
        "PUT",
        &format!("/api/v1/blobs/{sha}"),
        good,
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}
