//! What refused input leaves behind: no ID number or phone in clear anywhere in the
//! database (searched by `tools/scan_db_pii.py`), in an error message or in a review item,
//! whatever JSON type it came as; bounded quarantine; the ID-mask migration; blob
//! collection.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, id_number, resident_op, spawn_app, spawn_app_with, Op, Session, TestApp};
use jiayi::domain::id_number::IdNumber;
use jiayi::schema::{blobs, conflicts, contracts, quarantine, residents};

/// When these tests' ops were recorded.
const AT: &str = "2026-03-01T09:30:00+08:00";

/// Runs `tools/scan_db_pii.py` on the app's database: its exit code and output. Off the
/// test's runtime thread, which keeps the client's connections alive meanwhile.
async fn scan_database(app: &TestApp) -> (i32, String) {
    let url = app.state.config.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/scan_db_pii.py"))
            .arg(url)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn review_items(app: &TestApp, s: &Session) -> Vec<Value> {
    let res = app.get(s, "/api/v1/review/items?kind=quarantine&limit=200").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn refused_ops_leave_no_id_number_or_phone_in_clear_and_accept_still_applies_them() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let village = app.villages(&d1).await[0].clone();
    // An edit that arrives before the record it edits: refused, kept, accepted later.
    let (rid, create) = resident_op(&village, "1961-02-03", 'F', &[]);
    let new_id = id_number("1961-02-03", 'F');
    let edit = Op::resident_update(&rid, json!({ "id_number": new_id, "phone": "0731-84561234" }))
        .base_version(1)
        .recorded_at(AT)
        .build();
    // ID numbers and phones sent as JSON numbers, at the top and nested.
    let born = chrono::NaiveDate::from_ymd_opt(1970, 5, 6).unwrap();
    let numeric: u64 = (1..)
        .find_map(|seq| IdNumber::generate("431126", born, seq, 'M').expose().parse().ok())
        .unwrap();
    let typed = json!({ "village_code": village, "name": "数字", "sex": "M", "birth_date": "1970-05-06",
                        "id_number": numeric, "phone": 13912345678u64 });
    let typed = Op::resident_create(Uuid::now_v7().to_string(), typed)
        .recorded_at(AT)
        .build();
    let nested = json!({ "village_code": village, "name": "嵌套", "sex": "M", "birth_date": "1970-05-06",
                         "id_number": [numeric.to_string()], "phone": { "home": "13812345678" } });
    let nested = Op::resident_create(Uuid::now_v7().to_string(), nested)
        .recorded_at(AT)
        .build();
    let out = app.push(&d1, vec![edit.clone(), typed, nested]).await;
    let answer = out.to_string();
    for r in out["results"].as_array().unwrap() {
        assert_eq!(r["status"], "rejected", "{out}");
    }
    for clear in [numeric.to_string(), "13912345678".into(), "13812345678".into()] {
        assert!(!answer.contains(&clear), "{clear} echoed in {answer}");
    }
    // What supervisors see: masks only.
    let items = review_items(&app, &sup).await;
    assert_eq!(items.len(), 3);
    let shown = serde_json::to_string(&items).unwrap();
    for clear in [
        new_id.clone(),
        numeric.to_string(),
        "84561234".into(),
        "13912345678".into(),
        "13812345678".into(),
    ] {
        assert!(!shown.contains(&clear), "{clear} shown in {shown}");
    }
    let (code, report) = scan_database(&app).await;
    assert_eq!(code, 0, "{report}");

    // The resident arrives; accepting the edit applies the kept number and the phone.
    let out = app.push(&d1, vec![create]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    let qid = items
        .iter()
        .find(|i| i["op_id"] == edit["op_id"])
        .map(|i| i["id"].as_str().unwrap().to_string())
        .unwrap();
    let res = app
        .post(
            &sup,
            &format!("/api/v1/review/items/{qid}/decision"),
            &json!({ "decision": "accept", "reason": "档案已到" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let (hash, masked, phone): (String, String, Option<String>) = app.db(|c| {
        residents::table
            .find(&rid)
            .select((residents::id_hash, residents::id_masked, residents::phone))
            .first(c)
            .unwrap()
    });
    let parsed = IdNumber::parse(&new_id).unwrap();
    assert_eq!(hash, parsed.keyed_hash(&app.state.config.id_hash_secret));
    assert_eq!(masked, parsed.masked());
    assert_eq!(phone.as_deref(), Some("0731-84561234"));

    // An older edit of the phone from another tablet loses: the field clash keeps its value,
    // not in clear, and keep_client still applies it.
    let d1b = app.login_on("doctor1", "tablet-pii-second").await;
    let stale = Op::resident_update(&rid, json!({ "phone": "13600000001" }))
        .base_version(1)
        .recorded_at("2026-02-01T09:30:00+08:00")
        .build();
    let out = app.push(&d1b, vec![stale]).await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    let clash = out["results"][0]["conflict_id"].as_str().unwrap().to_string();
    // Only the resident's own record holds phones; nothing else in clear.
    let (code, report) = scan_database(&app).await;
    assert_eq!(code, 0, "{report}");
    let res = app
        .post(
            &sup,
            &format!("/api/v1/review/items/{clash}/decision"),
            &json!({ "decision": "keep_client", "reason": "居民换了号码" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let phone: Option<String> = app.db(|c| residents::table.find(&rid).select(residents::phone).first(c).unwrap());
    assert_eq!(phone.as_deref(), Some("13600000001"));
}

#[tokio::test]
async fn the_database_scan_finds_a_number_left_in_clear() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let visit = Op::visit_create(Uuid::now_v7().to_string(), json!({}))
        .recorded_at(AT)
        .build();
    assert_eq!(app.push(&d1, vec![visit]).await["results"][0]["status"], "rejected");
    let clear = id_number("1980-01-01", 'M');
    app.db(|c| {
        diesel::update(quarantine::table)
            .set(quarantine::error_message.eq(format!("see {clear}.")))
            .execute(c)
            .unwrap()
    });
    let (code, report) = scan_database(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("quarantine.error_message"), "{report}");
}

#[tokio::test]
async fn a_huge_refused_op_is_kept_bounded_and_a_device_s_daily_cap_holds() {
    let app = spawn_app_with(|c| c.quarantine_per_device_per_day = 3).await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let junk = "垃".repeat(1024 * 1024);
    let huge = json!({ "resident_id": Uuid::now_v7().to_string(), "notes": junk });
    let huge = Op::visit_create(Uuid::now_v7().to_string(), huge)
        .recorded_at(AT)
        .build();
    let out = app.push(&d1, vec![huge.clone()]).await;
    assert_eq!(out["results"][0]["status"], "rejected");
    let raw: String = app.db(|c| quarantine::table.select(quarantine::raw).first(c).unwrap());
    assert!(raw.len() < 8 * 1024, "{} bytes kept", raw.len());
    let kept: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(kept["op_id"], huge["op_id"]);
    assert_eq!(kept["not_kept"]["bytes"], huge.to_string().len());
    let item = &review_items(&app, &sup).await[0];
    assert!(item.to_string().len() < 16 * 1024);
    let res = app
        .post(
            &sup,
            &format!("/api/v1/review/items/{}/decision", item["id"].as_str().unwrap()),
            &json!({ "decision": "accept", "reason": "再试" }),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "reapply_failed").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("op_not_kept"));

    // Three kept per device per day: the fourth and fifth refusals are answered, not kept.
    let more: Vec<Value> = (0..4)
        .map(|_| {
            Op::visit_create(Uuid::now_v7().to_string(), json!({}))
                .recorded_at(AT)
                .into()
        })
        .collect();
    let out = app.push(&d1, more).await;
    let results = out["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "rejected" && r["error"]["code"].is_string()),
        "{out}"
    );
    let kept: i64 = app.db(|c| {
        quarantine::table
            .filter(quarantine::device_id.eq(&d1.device_key))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(kept, 3);
    assert_eq!(app.state.metrics.quarantine_not_kept.get(), 2);
    // Another device of the same county is not held back by this one.
    let d2 = app.login("doctor2").await;
    let out = app
        .push(
            &d2,
            vec![Op::visit_create(Uuid::now_v7().to_string(), json!({}))
                .recorded_at(AT)
                .into()],
        )
        .await;
    assert_eq!(out["results"][0]["status"], "rejected");
    assert_eq!(app.state.metrics.quarantine_not_kept.get(), 2);
}

#[tokio::test]
async fn the_mask_migration_rewrites_older_masks_from_what_is_stored() {
    let app = spawn_app().await;
    let id = IdNumber::parse(&id_number("1949-12-31", 'F')).unwrap();
    let old = format!("{}**********{}", &id.expose()[..4], &id.expose()[14..]);
    let rid: String = app.db(|c| {
        let rid: String = residents::table.select(residents::id).first(c).unwrap();
        diesel::update(residents::table.find(&rid))
            .set(residents::id_masked.eq(&old))
            .execute(c)
            .unwrap();
        diesel::update(conflicts::table)
            .set((
                conflicts::server_value.eq(json!({ "id_number": old, "name": "甲" }).to_string()),
                conflicts::client_value.eq(json!({ "name": "乙" }).to_string()),
            ))
            .execute(c)
            .unwrap();
        rid
    });
    let backend = if app.state.config.database_url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let sql = std::fs::read_to_string(format!(
        "{}/migrations/{backend}/2026-12-01-000003_id_mask_seventeenth/up.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    app.db(|c| c.batch_execute(&sql).unwrap());
    let masked: String = app.db(|c| {
        residents::table
            .find(&rid)
            .select(residents::id_masked)
            .first(c)
            .unwrap()
    });
    assert_eq!(masked, id.masked());
    let values: Vec<(Option<String>, Option<String>)> = app.db(|c| {
        conflicts::table
            .select((conflicts::server_value, conflicts::client_value))
            .load(c)
            .unwrap()
    });
    for (server, client) in values {
        let server: Value = serde_json::from_str(&server.unwrap()).unwrap();
        assert_eq!(server, json!({ "id_number": id.masked(), "name": "甲" }));
        assert_eq!(
            client.as_deref().map(|c| serde_json::from_str::<Value>(c).unwrap()),
            Some(json!({ "name": "乙" }))
        );
    }
}

#[tokio::test]
async fn blobs_no_record_names_are_collected_after_the_grace() {
    let app = spawn_app().await;
    let now = jiayi::time::now_ms();
    let day = 24 * 3600 * 1000;
    let sha = |n: u8| format!("{n:02x}").repeat(32);
    app.db(|c| {
        let (contract, uploader): (String, String) = contracts::table
            .select((contracts::id, contracts::created_by))
            .first(c)
            .unwrap();
        for n in 1..=4u8 {
            diesel::insert_into(blobs::table)
                .values((
                    blobs::sha256.eq(sha(n)),
                    blobs::size.eq(1i64),
                    blobs::content_type.eq("image/png"),
                    blobs::data.eq(vec![n]),
                    blobs::county_code.eq("431126"),
                    blobs::uploaded_by.eq(&uploader),
                    // The fourth was uploaded an hour ago: inside the grace.
                    blobs::created_at.eq(if n == 4 { now - 3600 * 1000 } else { now - 40 * day }),
                ))
                .execute(c)
                .unwrap();
        }
        // 1: a contract's signature; 2: named by a quarantined op; 3: nothing.
        diesel::update(contracts::table.find(&contract))
            .set(contracts::signature_sha256.eq(sha(1)))
            .execute(c)
            .unwrap();
    });
    let d1 = app.login("doctor1").await;
    let refused = json!({ "resident_id": Uuid::now_v7().to_string(), "signature_sha256": sha(2) });
    let refused = Op::contract_create(Uuid::now_v7().to_string(), refused)
        .recorded_at(AT)
        .build();
    assert_eq!(app.push(&d1, vec![refused]).await["results"][0]["status"], "rejected");
    let collected = app.db(|c| jiayi::sync::blob::collect_unreferenced(c, now, 30 * day).unwrap());
    assert_eq!(collected, 1);
    let left: Vec<String> = app.db(|c| blobs::table.select(blobs::sha256).order(blobs::sha256).load(c).unwrap());
    assert_eq!(left, vec![sha(1), sha(2), sha(4)]);
    // Once the quarantined op is closed, its blob goes too.
    app.db(|c| {
        diesel::update(quarantine::table)
            .set(quarantine::status.eq("resolved"))
            .execute(c)
            .unwrap()
    });
    assert_eq!(
        app.db(|c| jiayi::sync::blob::collect_unreferenced(c, now, 30 * day).unwrap()),
        1
    );
}

/// An op quarantined by a server before the kept form existed holds the ID number and the
/// phone as sent; the next start rewrites it (`sync::quarantine::rewrite_stored`), and a
/// supervisor's accept still applies both.
#[tokio::test]
async fn an_op_kept_verbatim_by_an_older_server_is_rewritten_at_start_up_and_still_accepted() {
    let app = spawn_app().await;
    let (sup, d1) = (app.login("supervisor1").await, app.login("doctor1").await);
    let village = app.villages(&d1).await[0].clone();
    let (rid, create) = resident_op(&village, "1962-03-04", 'M', &[]);
    let new_id = id_number("1962-03-04", 'M');
    let landline = "0745-84561234";
    let edit = Op::resident_update(&rid, json!({ "id_number": new_id, "phone": landline }))
        .base_version(1)
        .recorded_at(AT)
        .build();
    let out = app.push(&d1, vec![edit.clone()]).await;
    assert_eq!(out["results"][0]["status"], "rejected", "{out}");
    let op_id = edit["op_id"].as_str().unwrap().to_string();
    let stored_raw = |app: &TestApp| -> String {
        app.db(|c| {
            quarantine::table
                .filter(quarantine::op_id.eq(&op_id))
                .select(quarantine::raw)
                .first(c)
                .unwrap()
        })
    };
    // As an older server stored it: the op as sent.
    app.db(|c| {
        diesel::update(quarantine::table.filter(quarantine::op_id.eq(&op_id)))
            .set(quarantine::raw.eq(edit.to_string()))
            .execute(c)
            .unwrap()
    });
    assert!(stored_raw(&app).contains(&new_id));
    let (code, report) = scan_database(&app).await;
    assert_eq!(code, 1, "the planted op is seen: {report}");

    let second = jiayi::startup::Application::build(app.state.config.clone())
        .expect("a second server starts on the same database");
    let handle = second.handle();
    let served = tokio::spawn(second.run_until_stopped());
    handle.stop(false).await;
    served.await.unwrap().unwrap();

    let raw = stored_raw(&app);
    assert!(!raw.contains(&new_id) && !raw.contains("84561234"), "rewritten: {raw}");
    let (code, report) = scan_database(&app).await;
    assert_eq!(code, 0, "{report}");
    let item = review_items(&app, &sup)
        .await
        .into_iter()
        .find(|i| i["op_id"] == op_id.as_str())
        .expect("the review item is still there");
    assert_eq!(item["client_value"]["data"]["phone"], "074*******234");

    // The resident arrives; accepting the rewritten edit applies the number and the phone.
    assert_eq!(app.push(&d1, vec![create]).await["results"][0]["status"], "applied");
    let res = app
        .post(
            &sup,
            &format!("/api/v1/review/items/{}/decision", item["id"].as_str().unwrap()),
            &json!({ "decision": "accept", "reason": "档案已到" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let (hash, phone): (String, Option<String>) = app.db(|c| {
        residents::table
            .find(&rid)
            .select((residents::id_hash, residents::phone))
            .first(c)
            .unwrap()
    });
    let parsed = IdNumber::parse(&new_id).unwrap();
    assert_eq!(hash, parsed.keyed_hash(&app.state.config.id_hash_secret));
    assert_eq!(phone.as_deref(), Some(landline));
}

/// A server that is never restarted still collects: unreferenced blobs past the grace go
/// every `JIAYI_BLOB_COLLECT_EVERY_SECS`, referenced ones stay.
#[tokio::test]
async fn a_running_server_collects_unreferenced_blobs_every_interval() {
    let app = spawn_app_with(|c| {
        c.blob_grace = std::time::Duration::from_secs(1);
        c.blob_collect_every = std::time::Duration::from_millis(300);
    })
    .await;
    let d1 = app.login("doctor1").await;
    let put = |body: &'static [u8]| {
        let (app, token) = (&app, d1.access.clone());
        async move {
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
            let res = app
                .client
                .put(app.url(&format!("/api/v1/blobs/{sha}")))
                .bearer_auth(token)
                .header("content-type", "image/png")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            sha
        }
    };
    let stored = |sha: String| {
        let (app, token) = (&app, d1.access.clone());
        async move {
            let res = app
                .client
                .head(app.url(&format!("/api/v1/blobs/{sha}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            res.status() == StatusCode::OK
        }
    };
    // A signature a contract names, and an upload nothing names.
    let village = app.villages(&d1).await[0].clone();
    let (rid, resident) = resident_op(&village, "1958-08-08", 'F', &[]);
    let signed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"\x89PNG signed"));
    let (_, mut contract) = crate::helpers::contract_op(&rid, d1.user["team_id"].as_str().unwrap(), &["BASIC"]);
    contract["data"]["signature_sha256"] = json!(signed);
    app.push_applied(&d1, vec![resident, contract]).await;
    assert_eq!(put(b"\x89PNG signed").await, signed);
    let orphan = put(b"\x89PNG nobody names this").await;
    assert!(stored(orphan.clone()).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stored(orphan.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the unreferenced blob is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Past the grace and several rounds later, the signature is still there.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(stored(signed).await, "a referenced blob stays");
}
