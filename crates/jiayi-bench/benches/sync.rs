//! Sync benchmark (not a test): push throughput with 500-op batches of two workloads (a
//! field day's mixed ops, and visits only), the same documents pushed by the same clients to
//! express-pouchdb 4.2's `_bulk_docs` (CouchDB's protocol on Node and LevelDB), the raw
//! insert rate of visit rows straight into the same database, and the bootstrap of a
//! 30,000-record team. Run:
//!
//!     cargo bench -p jiayi-bench --bench sync                                   # SQLite (temp file)
//!     cargo bench -p jiayi-bench --bench sync -- postgres://postgres@127.0.0.1:5432/postgres
//!
//! A PostgreSQL URL names a server where a scratch database is created and dropped. The
//! express-pouchdb leg needs `node` and `npm` on PATH: the first run installs `pouchdb/`'s
//! package-lock.json with `npm ci` into `~/.cache/jiayi-bench/pouchdb-<hash of the lock>`
//! (`$XDG_CACHE_HOME` if set); later runs reuse it. `JIAYI_BENCH_POUCHDB_MODE=fullCouchDB`
//! runs express-pouchdb in its own default mode instead of `minimumForPouchDB`.

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// Where the batches go: jiayi's push, or express-pouchdb's `_bulk_docs` on the database
/// at this URL (the same documents as CouchDB documents, see `couch_doc`).
#[derive(Clone, Copy)]
enum Sink<'a> {
    Jiayi,
    Pouch(&'a str),
}

/// One client's records in `BATCH`-record requests, one after the other; each answer is
/// checked record by record (every op `applied`, every document `ok`). Batch latencies.
async fn push_all(c: &Client, sink: Sink<'_>, records: Vec<Value>) -> Vec<Duration> {
    let mut lat = Vec::new();
    for chunk in records.chunks(BATCH) {
        let t = Instant::now();
        let req = match sink {
            Sink::Jiayi => c
                .http
                .post(format!("{}/api/v1/sync/push", c.base))
                .bearer_auth(&c.token)
                .header("X-Sync-Protocol", "1")
                .json(&json!({ "device_id": c.device, "ops": chunk })),
            Sink::Pouch(db) => c.http.post(format!("{db}/_bulk_docs")).json(&json!({ "docs": chunk })),
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        let bytes = res.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}, not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        match sink {
            Sink::Jiayi => {
                assert!(status.is_success(), "push failed: {status} {body}");
                let results = body["results"].as_array().unwrap();
                assert_eq!(results.len(), chunk.len(), "one result per op");
                let bad = results.iter().filter(|r| r["status"] != "applied").count();
                assert_eq!(bad, 0, "every op applies: {}", body["results"][0]);
            }
            Sink::Pouch(_) => {
                assert!(status.is_success(), "_bulk_docs failed: {status} {body}");
                let answers = body
                    .as_array()
                    .unwrap_or_else(|| panic!("_bulk_docs answers a list: {body}"));
                assert_eq!(answers.len(), chunk.len(), "one answer per document");
                let bad: Vec<&Value> = answers.iter().filter(|a| a["ok"] != true).collect();
                assert!(
                    bad.is_empty(),
                    "every document is ok: {} of {} not, the first {}",
                    bad.len(),
                    chunk.len(),
                    bad[0]
                );
            }
        }
        lat.push(t.elapsed());
    }
    lat
}

/// One timed leg: every client pushes its share at the same time (one request in flight
/// per client), timed from the first request to the last answer.
struct Leg {
    records: usize,
    elapsed: Duration,
    lat: Vec<Duration>,
}

impl Leg {
    fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {:.0} records/s ({} in {:.1} s); batch latency p50 {:?} p99 {:?}",
            self.rate(),
            self.records,
            self.elapsed.as_secs_f64(),
            quantile(&self.lat, 0.5),
            quantile(&self.lat, 0.99)
        )
    }
}

async fn push_concurrently(clients: &[Client], sink: Sink<'_>, work: Vec<Vec<Value>>) -> Leg {
    let records = work.iter().map(Vec::len).sum();
    let t = Instant::now();
    let handles: Vec<_> = clients.iter().zip(work).map(|(c, w)| push_all(c, sink, w)).collect();
    let mut lat: Vec<Duration> = futures_util::future::join_all(handles)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = t.elapsed();
    lat.sort();
    Leg { records, elapsed, lat }
}

/// An op as a CouchDB document: `_id` the record's id, then the op's data and its entity.
fn couch_doc(op: &Value) -> Value {
    let mut doc = op["data"].as_object().expect("an op carries data").clone();
    doc.insert("_id".into(), op["id"].clone());
    doc.insert("entity".into(), op["entity"].clone());
    Value::Object(doc)
}

fn couch_docs(work: &[Vec<Value>]) -> Vec<Vec<Value>> {
    work.iter().map(|ops| ops.iter().map(couch_doc).collect()).collect()
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
    let pouch_mode = std::env::var("JIAYI_BENCH_POUCHDB_MODE").unwrap_or_else(|_| "minimumForPouchDB".into());
    let pouch = PouchServer::start(&pouchdb_install(), &pouch_mode);
    let db = scratch_database(arg);
    let backend = if db.admin.is_some() { "PostgreSQL" } else { "SQLite" };
    let mut config = Config::demo(db.url.clone());
    config.demo_residents = 0;
    config.sync_rate_per_minute = 1_000_000;
    config.pool_size = 4;
    // The durability a SQLite server runs with (docs/operations.md, "Durability"), to
    // measure what the default costs: JIAYI_SQLITE_SYNCHRONOUS=normal|full.
    if let Some(d) = std::env::var("JIAYI_SQLITE_SYNCHRONOUS")
        .ok()
        .and_then(|v| jiayi::db::Durability::parse(&v))
    {
        config.sqlite_durability = d;
    }
    println!("SQLite synchronous: {:?}", config.sqlite_durability);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = jiayi::startup::Application::build(config).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let clients = [login(&base, "lead1").await, login(&base, "lead3").await];
        let couch = pouch.create_database(&clients[0].http, "bench").await;
        let n = records_per_client();

        // Mixed field-day batches: jiayi, then the same documents to express-pouchdb.
        let work: Vec<Vec<Value>> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| ops_for(c, n, i as u32 + 1))
            .collect();
        let docs = couch_docs(&work);
        let mixed = push_concurrently(&clients, Sink::Jiayi, work).await;
        let mixed_pouch = push_concurrently(&clients, Sink::Pouch(&couch), docs).await;
        let (boot_t, boot_bytes, boot_records) = bootstrap(&clients[0]).await;

        // Visits only: each team's residents registered first (untimed, on both servers),
        // then the follow-ups timed.
        let (residents, visits): (Vec<Vec<Value>>, Vec<Vec<Value>>) = clients
            .iter()
            .enumerate()
            .map(|(i, c)| visit_ops(c, n, i as u32 + 1 + CLIENTS as u32))
            .unzip();
        let (resident_docs, visit_docs) = (couch_docs(&residents), couch_docs(&visits));
        let n_residents: usize = residents.iter().map(Vec::len).sum();
        push_concurrently(&clients, Sink::Jiayi, residents).await;
        let visit = push_concurrently(&clients, Sink::Jiayi, visits).await;
        push_concurrently(&clients, Sink::Pouch(&couch), resident_docs).await;
        let visit_pouch = push_concurrently(&clients, Sink::Pouch(&couch), visit_docs).await;

        let raw_rate = tokio::task::block_in_place(|| raw_insert(&db.url, 60_000));
        println!("backend: {backend}; {CLIENTS} tablets pushing in {BATCH}-record batches, one request in flight each");
        println!(
            "express-pouchdb {POUCHDB_VERSION} ({pouch_mode}, LevelDB, Node {}) gets the same documents from the same clients",
            pouch.node_version
        );
        println!(
            "{}",
            mixed.line("push, mixed field day (resident, contract, 2 visits, survey)")
        );
        println!("{}", mixed_pouch.line("express-pouchdb _bulk_docs, the same documents"));
        println!(
            "{}",
            visit.line(&format!("push, visits only ({n_residents} residents registered first, untimed)"))
        );
        println!("{}", visit_pouch.line("express-pouchdb _bulk_docs, the same documents"));
        println!(
            "raw insert of visit rows: {raw_rate:.0} rows/s; push/raw = {:.1} % (mixed), {:.1} % (visits only)",
            100.0 * mixed.rate() / raw_rate,
            100.0 * visit.rate() / raw_rate
        );
        println!(
            "bootstrap of one team: {boot_records} records in {:.2} s, {:.2} MB on the wire (gzip)",
            boot_t.as_secs_f64(),
            boot_bytes as f64 / 1e6
        );
        let target = if backend == "SQLite" { 1.5 } else { 1.0 };
        println!();
        println!("| workload | records | jiayi push records/s | express-pouchdb docs/s | jiayi / pouchdb | target ≥ {target:.1}× |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (name, ours, theirs) in [("mixed field day", &mixed, &mixed_pouch), ("visits only", &visit, &visit_pouch)] {
            let ratio = ours.rate() / theirs.rate();
            let verdict = if ratio >= target {
                "met".to_string()
            } else {
                format!("missed by {:.2}×", target / ratio)
            };
            println!(
                "| {name} | {} | {:.0} | {:.0} | {ratio:.2}× | {verdict} |",
                ours.records,
                ours.rate(),
                theirs.rate()
            );
        }
    });
}

/// The visit-only workload of one team: `n_visits / 5` hypertension residents (their
/// registrations, pushed untimed) and `n_visits` follow-ups with blood pressure among them.
/// `seed` keeps ID numbers apart from every other client's and from `bench_ops`'s.
fn visit_ops(c: &Client, n_visits: usize, seed: u32) -> (Vec<Value>, Vec<Value>) {
    let mut rng = StdRng::seed_from_u64(u64::from(seed));
    let now = Utc::now().timestamp_millis() - 3600 * 1000;
    let today = local_date(now);
    let mut residents = Vec::new();
    let mut people = Vec::new();
    for i in 0..(n_visits / 5).max(1) as u32 {
        let village = &c.villages[i as usize % c.villages.len()];
        let mut per = person(&mut rng, village, 110_000 + seed * 1000 + i / 500, i, today);
        per.tags = vec!["hypertension".into()];
        per.data["tags"] = json!(per.tags);
        residents.push(op("resident", "create", &per.id, now, per.data.clone()));
        people.push(per);
    }
    let visits = (0..n_visits)
        .map(|i| {
            let per = &people[i % people.len()];
            let data = visit_data(&mut rng, &per.id, &per.tags, false, now);
            op("visit", "create", &Uuid::now_v7().to_string(), now, data)
        })
        .collect();
    (residents, visits)
}

/// The version `pouchdb/package.json` pins.
const POUCHDB_VERSION: &str = "4.2.0";

/// express-pouchdb installed from `pouchdb/package-lock.json` (`npm ci`) into a cache
/// directory named by the lock's hash, once; `server.mjs` is copied there every run.
fn pouchdb_install() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("pouchdb");
    for tool in ["node", "npm"] {
        match Command::new(tool).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{tool} --version` failed ({}): the express-pouchdb leg needs Node.js and npm",
                out.status
            ),
            Err(e) => panic!("the express-pouchdb leg needs `{tool}` on PATH (Node.js 18 or later with npm): {e}"),
        }
    }
    let lock = fs::read(src.join("package-lock.json")).expect("pouchdb/package-lock.json");
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME is set")
        .join("jiayi-bench");
    let dir = cache.join(format!("pouchdb-{:016x}", fnv1a(&lock)));
    let done = dir.join(".installed");
    if !done.exists() {
        let tmp = cache.join(format!(".pouchdb-install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        for f in ["package.json", "package-lock.json"] {
            fs::copy(src.join(f), tmp.join(f)).unwrap();
        }
        eprintln!("installing express-pouchdb into {} (npm ci)", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tmp)
            .stdout(std::io::stderr())
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci --prefix {} failed: {status}", tmp.display());
        fs::write(tmp.join(".installed"), "").unwrap();
        if fs::rename(&tmp, &dir).is_err() {
            // Another run installed it meanwhile, or a broken install is in the way.
            let _ = fs::remove_dir_all(&tmp);
            assert!(
                done.exists(),
                "{} exists but is not a finished install: remove it",
                dir.display()
            );
        }
    }
    fs::copy(src.join("server.mjs"), dir.join("server.mjs")).unwrap();
    dir
}

/// FNV-1a, 64 bits: a stable name for the cache directory of one lock file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `server.mjs` on a free port with a fresh data directory; it ends when this is dropped
/// (its standard input closes).
struct PouchServer {
    child: Child,
    base: String,
    node_version: String,
    _data: tempfile::TempDir,
}

impl PouchServer {
    fn start(dir: &Path, mode: &str) -> PouchServer {
        let data = tempfile::tempdir().unwrap();
        let node_version = Command::new("node")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg("0")
            .arg(data.path())
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = match line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok()) {
            Some(p) => p,
            None => {
                let _ = child.kill();
                panic!("express-pouchdb did not start: its first line was {line:?}");
            }
        };
        PouchServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            node_version,
            _data: data,
        }
    }

    /// `PUT /<name>`; the database's URL.
    async fn create_database(&self, http: &reqwest::Client, name: &str) -> String {
        let url = format!("{}/{name}", self.base);
        let res = http.put(&url).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(
            status.is_success() && body["ok"] == true,
            "PUT /{name}: {status} {body}"
        );
        url
    }
}

impl Drop for PouchServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
