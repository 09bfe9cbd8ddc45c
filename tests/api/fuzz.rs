//! Push fuzzing: generated batches of op-shaped JSON (known fields with arbitrary and
//! near-valid values) go through `push::push` on a real database, and arbitrary bytes go to
//! the push endpoint. Every op gets a result, every refusal is a value with a code, the
//! server never answers 5xx, and a refused op leaves no record behind. Counts are in
//! docs/security.md.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::helpers::{id_number, now_cst, spawn_app_with};

/// Generated batches pushed through the domain.
pub const PUSH_BATCHES: u32 = 300;
/// Arbitrary bodies sent to the endpoint.
pub const HTTP_BODIES: u32 = 150;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just(0.5f64),
            Just(-1e300),
            Just(1e300),
            any::<f64>().prop_filter("finite", |f| f.is_finite())
        ]
        .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value that is often what a field wants and sometimes anything.
fn field_value(ctx: &Ctx) -> impl Strategy<Value = Value> {
    let (now, today) = now_cst();
    let villages = ctx.villages.clone();
    let ids = ctx.ids.clone();
    prop_oneof![
        3 => arb_json(),
        1 => proptest::sample::select(villages).prop_map(Value::String),
        1 => proptest::sample::select(ids).prop_map(Value::String),
        1 => Just(json!(now)),
        1 => Just(json!(today)),
        1 => Just(json!("0000-01-01")),
        1 => Just(json!("9999-12-31T23:59:59+08:00")),
        1 => Just(json!(id_number("1980-01-01", 'M'))),
        1 => Just(json!("13800138000")),
        1 => proptest::sample::select(vec!["M", "F", "SIGNED", "DRAFT", "BASIC", "followup", "测试👍", "\u{0}", "'; DROP TABLE residents; --", "<script>alert(1)</script>"])
            .prop_map(|s| json!(s)),
        1 => proptest::collection::vec(".{0,8}", 0..4).prop_map(|v| json!(v)),
    ]
}

const DATA_FIELDS: &[&str] = &[
    "village_code",
    "name",
    "sex",
    "birth_date",
    "id_number",
    "phone",
    "tags",
    "household_id",
    "resident_id",
    "team_id",
    "doctor_id",
    "packages",
    "status",
    "signed_at",
    "effective_from",
    "effective_to",
    "signature_sha256",
    "renews",
    "contract_id",
    "kind",
    "occurred_at",
    "measurements",
    "notes",
    "amends",
    "questionnaire",
    "questionnaire_version",
    "answers",
    "reason",
    "to",
    "village",
];

#[derive(Clone)]
struct Ctx {
    villages: Vec<String>,
    ids: Vec<String>,
}

fn arb_op(ctx: &Ctx) -> impl Strategy<Value = Value> {
    let (now, _) = now_cst();
    let entity = prop_oneof![
        4 => proptest::sample::select(vec!["resident", "contract", "visit", "survey", "not_signed"]).prop_map(|s| json!(s)),
        1 => arb_json(),
    ];
    let action = prop_oneof![
        4 => proptest::sample::select(vec!["create", "update", "transition", "amend", "delete"]).prop_map(|s| json!(s)),
        1 => arb_json(),
    ];
    let uuid = prop_oneof![
        4 => any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n).to_string())),
        1 => proptest::sample::select(ctx.ids.clone()).prop_map(Value::String),
        1 => arb_json(),
    ];
    let data = prop_oneof![
        5 => proptest::collection::btree_map(proptest::sample::select(DATA_FIELDS.to_vec()), field_value(ctx), 0..10)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => arb_json(),
    ];
    let recorded = prop_oneof![3 => Just(json!(now)), 1 => arb_json()];
    let base =
        prop_oneof![2 => Just(None), 1 => any::<i64>().prop_map(|n| Some(json!(n))), 1 => arb_json().prop_map(Some)];
    let extra = prop_oneof![4 => Just(None), 1 => ("[a-z]{1,8}", arb_json()).prop_map(Some)];
    (
        uuid.clone(),
        entity,
        action,
        uuid,
        data,
        recorded,
        base,
        extra,
        any::<u8>(),
    )
        .prop_map(|(op_id, entity, action, id, data, recorded_at, base, extra, drop)| {
            let mut m = Map::new();
            m.insert("op_id".into(), op_id);
            m.insert("entity".into(), entity);
            m.insert("action".into(), action);
            m.insert("id".into(), id);
            m.insert("data".into(), data);
            m.insert("recorded_at".into(), recorded_at);
            if let Some(b) = base {
                m.insert("base_version".into(), b);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            // Now and then a required field is missing.
            if drop < 20 {
                let keys: Vec<String> = m.keys().cloned().collect();
                m.remove(&keys[drop as usize % keys.len()]);
            }
            Value::Object(m)
        })
}

#[tokio::test]
async fn generated_push_batches_always_answer_one_result_per_op_and_never_fail() {
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 100_000).await;
    let doctor = app.login("doctor1").await;
    let villages = app.villages(&doctor).await;
    // Existing ids of the caller's records, so that updates and visits reach real rows.
    let (_, pulled) = {
        let body: Value = app
            .get(&doctor, "/api/v1/sync/pull?limit=200")
            .await
            .json()
            .await
            .unwrap();
        ((), body)
    };
    let mut ids: Vec<String> = pulled["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .take(40)
        .collect();
    ids.push(uuid::Uuid::now_v7().to_string());
    let ctx = Ctx { villages, ids };
    let auth = app
        .db(|c| jiayi::domain::caller::load_caller(c, doctor.user["id"].as_str().unwrap(), &doctor.device_key))
        .expect("caller");
    let secret = app.state.config.id_hash_secret.clone();
    let limits = jiayi::sync::push::PushLimits {
        max_ops: 1000,
        max_skew_ms: 300_000,
        id_hash_secret: &secret,
        quarantine_per_day: u32::MAX,
        quarantine_full: None,
    };
    let batch = proptest::collection::vec(arb_op(&ctx), 1..5);
    let mut runner = TestRunner::new(Config {
        cases: PUSH_BATCHES,
        failure_persistence: None,
        ..Config::default()
    });
    let applied = std::cell::Cell::new(0);
    let refused = std::cell::Cell::new(0);
    runner
        .run(&batch, |ops| {
            let quarantined_before = app.db(|c| count(c, "quarantine"));
            let req = jiayi::sync::push::PushRequest {
                device_id: doctor.device_id.clone(),
                ops: ops.clone(),
            };
            let res = app
                .db(|c| jiayi::sync::push::push(c, &auth, None, &req, &limits))
                .map_err(|e| TestCaseError::fail(format!("push failed as a whole: {e} for {ops:?}")))?;
            prop_assert_eq!(res.results.len(), ops.len());
            let mut rejected = 0;
            for r in &res.results {
                prop_assert!(
                    ["applied", "duplicate", "conflict", "rejected"].contains(&r.status.as_str()),
                    "status {}",
                    r.status
                );
                if r.status == jiayi::sync::push::OpStatus::Rejected {
                    let e = r.error.as_ref().expect("a rejected op says why");
                    prop_assert!(!e.code.is_empty() && e.code != "internal_error", "{:?}", e);
                    // A replayed refusal was kept the first time; a reused op id is refused
                    // input, never kept (its op id belongs to another op).
                    if !r.replayed && e.code != "op_id_reused" {
                        rejected += 1;
                    }
                } else {
                    applied.set(applied.get() + 1);
                }
            }
            refused.set(refused.get() + rejected);
            // Every refused op is kept in quarantine: nothing the tablet sent is lost.
            let quarantined_after = app.db(|c| count(c, "quarantine"));
            prop_assert_eq!(quarantined_after - quarantined_before, rejected as i64);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (applied, refused) = (applied.get(), refused.get());
    println!("push fuzz: {PUSH_BATCHES} batches, {applied} ops applied, {refused} refused");
    assert!(refused > 0, "the generator reaches refusals");
}

/// Rows in a table.
pub fn count(c: &mut jiayi::db::DbConn, table: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(c)
        .expect("count")
        .n
}

#[tokio::test]
async fn arbitrary_bytes_to_the_push_endpoint_answer_4xx_in_the_error_shape() {
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 100_000).await;
    let doctor = app.login("doctor1").await;
    let bodies = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        proptest::collection::vec(arb_json(), 0..3)
            .prop_map(|ops| { serde_json::to_vec(&json!({ "device_id": "someone-else", "ops": ops })).unwrap() }),
    ];
    let mut runner = TestRunner::new(Config {
        cases: HTTP_BODIES,
        failure_persistence: None,
        ..Config::default()
    });
    let before = app.db(|c| (count(c, "residents"), count(c, "ledger")));
    for _ in 0..HTTP_BODIES {
        let body = bodies.new_tree(&mut runner).unwrap().current();
        let res = app
            .client
            .post(app.url("/api/v1/sync/push"))
            .bearer_auth(&doctor.access)
            .header("X-Sync-Protocol", "1")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(
            status.is_client_error(),
            "{status} for {:?}: {text}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_str(&text).expect("JSON error");
        assert!(v["error"]["code"].is_string(), "{text}");
    }
    // Nothing was stored by any of them.
    assert_eq!(before, app.db(|c| (count(c, "residents"), count(c, "ledger"))));
    assert_eq!(
        app.get(&doctor, "/api/v1/me").await.status(),
        StatusCode::OK,
        "the server still answers"
    );
}

/// Found by the generator above: a retried batch whose earlier answer was lost must get
/// the first answers again, even for ops too malformed to parse; it used to fail whole
/// (409) on its own earlier refusal, which blocked the tablet's queue for good.
#[tokio::test]
async fn a_retried_batch_with_malformed_ops_answers_their_first_results() {
    let app = spawn_app_with(|_| {}).await;
    let doctor = app.login("doctor1").await;
    let (now, _) = now_cst();
    let op_id = uuid::Uuid::now_v7();
    let malformed = |op_id: String| {
        json!({ "op_id": op_id, "entity": "resident", "action": "create", "id": uuid::Uuid::now_v7().to_string(),
                "recorded_at": now, "data": {}, "unexpected": 1 })
    };
    let ops = vec![
        malformed(op_id.to_string()),
        malformed(uuid::Uuid::now_v7().to_string().to_uppercase()),
        malformed("not-a-uuid".into()),
    ];
    let first = app.push(&doctor, ops.clone()).await;
    for r in first["results"].as_array().unwrap() {
        assert_eq!(r["status"], "rejected", "{first}");
        assert_eq!(r["error"]["code"], "malformed_op", "{first}");
    }
    let again = app.push(&doctor, ops).await;
    let statuses: Vec<&str> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    // Every one is refused again: those with a UUID op id are remembered and answer their
    // first verdict as replays; one without cannot be, and is judged again.
    assert_eq!(statuses, ["rejected", "rejected", "rejected"], "{again}");
    let replayed: Vec<&Value> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["replayed"])
        .collect();
    assert_eq!(replayed, [&json!(true), &json!(true), &Value::Null], "{again}");
    assert_eq!(again["results"][0]["error"]["code"], "malformed_op");
}
