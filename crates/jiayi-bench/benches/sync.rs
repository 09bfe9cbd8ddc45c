//! Sync benchmark (not a test): push throughput with 500-op batches of mixed ops, the raw
//! insert rate of the same rows straight into the same database, and the bootstrap of a
//! 30,000-record team. Run:
//!
//!     cargo bench -p jiayi-bench --bench sync                                   # SQLite (temp file)
//!     cargo bench -p jiayi-bench --bench sync -- postgres://postgres@127.0.0.1:5432/postgres
//!
//! A PostgreSQL URL names a server where a scratch database is created and dropped.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use jiayi::config::Config;
use jiayi_testkit::records::{contract_data, local_date, op, person, survey_data, visit_data};
use jiayi_testkit::stats::quantile;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use uuid::Uuid;

const BATCH: usize = 500;
const CLIENTS: usize = 2;
/// Records pushed per client (one client = one team's tablet); `JIAYI_BENCH_RECORDS` overrides.
const RECORDS_PER_CLIENT: usize = 30_000;

struct Db {
    url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn scratch_database(arg: Option<String>) -> Db {
    match arg {
        Some(url) if url.starts_with("postgres") => {
            let name = format!("jiayi_bench_{}", Uuid::new_v4().simple());
            let mut c = jiayi::db::establish_pg(&url).expect("PostgreSQL reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .unwrap();
            let base = url.rsplit_once('/').unwrap().0;
            Db {
                url: format!("{base}/{name}"),
                admin: Some((url.clone(), name)),
                _dir: None,
            }
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            Db {
                url: format!("sqlite://{}/bench.db", dir.path().display()),
                admin: None,
                _dir: Some(dir),
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((url, name)) = &self.admin {
            if let Ok(mut c) = jiayi::db::establish_pg(url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c);
            }
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    device: String,
    team: String,
    villages: Vec<String>,
}

async fn login(base: &str, user: &str) -> Client {
    let http = reqwest::Client::new();
    let device = format!("bench-{user}-{}", Uuid::new_v4().simple());
    let res: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": user, "password": "jiayi-demo", "device_id": device, "device_name": "bench" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = res["access_token"].as_str().unwrap().to_string();
    let me: Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Client {
        http,
        base: base.into(),
        token,
        device,
        team: me["team_id"].as_str().unwrap().into(),
        villages: me["villages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
    }
}

/// A realistic offline day's mix per resident (shared with the simulator): registration,
/// a signed contract, two follow-ups and a survey (5 ops, 5 records).
fn ops_for(c: &Client, n_records: usize, seed: u32) -> Vec<Value> {
    bench_ops(&c.team, &c.villages, n_records, seed)
}

fn records_per_client() -> usize {
    std::env::var("JIAYI_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS_PER_CLIENT)
}

async fn push_all(c: &Client, ops: Vec<Value>) -> Vec<Duration> {
    let mut lat = Vec::new();
    for chunk in ops.chunks(BATCH) {
        let t = Instant::now();
        let res = c
            .http
            .post(format!("{}/api/v1/sync/push", c.base))
            .bearer_auth(&c.token)
            .header("X-Sync-Protocol", "1")
            .json(&json!({ "device_id": c.device, "ops": chunk }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "push failed: {}", res.status());
        let body: Value = res.json().await.unwrap();
        let bad = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "applied")
            .count();
        assert_eq!(bad, 0, "every op applies: {}", body["results"][0]);
        lat.push(t.elapsed());
    }
    lat
}

/// The same rows written by the simplest loop (shared with the load test).
fn raw_insert(url: &str, rows: usize) -> f64 {
    jiayi_testkit::raw::insert_visits(url, rows).unwrap()
}

async fn bootstrap(c: &Client) -> (Duration, usize, usize) {
    let t = Instant::now();
    let (mut bytes, mut records) = (0, 0);
    let mut page: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/sync/bootstrap?limit=10000", c.base);
        if let Some(p) = &page {
            url.push_str(&format!("&page={p}"));
        }
        let res = c
            .http
            .get(url)
            .bearer_auth(&c.token)
            .header("X-Sync-Protocol", "1")
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        let gz = res.bytes().await.unwrap();
        bytes += gz.len();
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut json).unwrap();
        let body: Value = serde_json::from_slice(&json).unwrap();
        records += body["records"].as_array().unwrap().len();
        match body["next_page"].as_str() {
            Some(p) => page = Some(p.to_string()),
            None => return (t.elapsed(), bytes, records),
        }
    }
}

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let db = scratch_database(arg);
    let backend = if db.admin.is_some() { "PostgreSQL" } else { "SQLite" };
    let mut config = Config::demo(db.url.clone());
    config.demo_residents = 0;
    config.sync_rate_per_minute = 1_000_000;
    config.pool_size = 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = jiayi::startup::Application::build(config).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let clients = [login(&base, "lead1").await, login(&base, "lead3").await];
        let work: Vec<Vec<Value>> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| ops_for(c, records_per_client(), i as u32 + 1))
            .collect();
        let total: usize = work.iter().map(Vec::len).sum();
        let t = Instant::now();
        let mut handles = Vec::new();
        for (c, ops) in clients.iter().zip(work) {
            handles.push(push_all(c, ops));
        }
        let mut lat: Vec<Duration> = futures_util::future::join_all(handles)
            .await
            .into_iter()
            .flatten()
            .collect();
        let elapsed = t.elapsed();
        lat.sort();
        let push_rate = total as f64 / elapsed.as_secs_f64();
        let (boot_t, boot_bytes, boot_records) = bootstrap(&clients[0]).await;
        let raw_rate = tokio::task::block_in_place(|| raw_insert(&db.url, 60_000));
        println!("backend: {backend}; {CLIENTS} tablets pushing {total} ops in {BATCH}-op batches");
        println!(
            "push: {push_rate:.0} ops/s ({:.1} s); batch latency p50 {:?} p99 {:?}",
            elapsed.as_secs_f64(),
            quantile(&lat, 0.5),
            quantile(&lat, 0.99)
        );
        println!(
            "raw insert of the same rows: {raw_rate:.0} rows/s; push/raw = {:.1} %",
            100.0 * push_rate / raw_rate
        );
        println!(
            "bootstrap of one team: {boot_records} records in {:.2} s, {:.2} MB on the wire (gzip)",
            boot_t.as_secs_f64(),
            boot_bytes as f64 / 1e6
        );
    });
}

/// The push benchmark's day in the field, per resident: registration (hypertension), a
/// signed contract (BASIC + HTN), two hypertension follow-ups and a survey — five ops, all
/// valid. `seed` keeps ID numbers of separate clients apart.
fn bench_ops(team_id: &str, villages: &[String], n_ops: usize, seed: u32) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(u64::from(seed));
    let now = Utc::now().timestamp_millis() - 3600 * 1000;
    let today = local_date(now);
    let mut ops = Vec::with_capacity(n_ops + 5);
    let mut i = 0u32;
    while ops.len() < n_ops {
        let village = &villages[i as usize % villages.len()];
        let area = 110_000 + seed * 1000 + i / 500;
        let mut per = person(&mut rng, village, area, i, today);
        i += 1;
        per.tags = vec!["hypertension".into()];
        per.data["tags"] = json!(per.tags);
        ops.push(op("resident", "create", &per.id, now, per.data));
        let data = contract_data(&per.id, team_id, &per.tags, false, now);
        ops.push(op("contract", "create", &Uuid::now_v7().to_string(), now, data));
        for _ in 0..2 {
            let data = visit_data(&mut rng, &per.id, &per.tags, false, now);
            ops.push(op("visit", "create", &Uuid::now_v7().to_string(), now, data));
        }
        let data = survey_data(&mut rng, &per.id, now);
        ops.push(op("survey", "create", &Uuid::now_v7().to_string(), now, data));
    }
    ops.truncate(n_ops);
    ops
}
