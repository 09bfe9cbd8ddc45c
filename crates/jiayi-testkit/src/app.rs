//! `spawn_app`: the real server on port 0 with its own database, an HTTP client, logged-in
//! sessions and the ops tests send most.

use std::sync::Once;

use diesel::RunQueryDsl;
use jiayi::config::Config;
use jiayi::state::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::ops::Op;

/// Password of every demo user.
pub const DEMO_PASSWORD: &str = "jiayi-demo";

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    /// The metrics listener's URL, when the configuration set `metrics_bind`.
    pub metrics_base: Option<String>,
    pub client: Client,
    pub state: actix_web::web::Data<AppState>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

static LOGS: Once = Once::new();

/// A test database: its URL, the directory that holds it (SQLite) and the server and
/// name to drop it by (PostgreSQL).
pub type FreshDatabase = (String, Option<tempfile::TempDir>, Option<(String, String)>);

/// A fresh, empty database on the backend under test: its URL and what keeps it alive.
pub fn fresh_database() -> FreshDatabase {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let name = format!("jiayi_test_{}", Uuid::new_v4().simple());
            let mut admin = jiayi::db::establish_pg(&url)
                .unwrap_or_else(|e| panic!("DATABASE_URL is set to PostgreSQL but it cannot be reached: {e}"));
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create test database");
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .expect("a database URL with a path");
            (format!("{base}/{name}"), None, Some((url, name)))
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/jiayi.db", dir.path().display());
            (url, Some(dir), None)
        }
    }
}

/// Starts the app with a small demo county.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after adjusting the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(adjust, |_| {}).await
}

/// Starts the app with reports read from a streaming replica of the PostgreSQL server
/// under test that listens on `replica_port` (`JIAYI_REPORT_DATABASE_URL`): the test's
/// database there, once the replica has it.
pub async fn spawn_app_reading_reports_from(replica_port: u16) -> TestApp {
    spawn_app_on(
        |_| {},
        |config| {
            let (base, name) = config
                .database_url
                .rsplit_once('/')
                .expect("a database URL with a path");
            let (server, _) = base.rsplit_once(':').expect("a port in DATABASE_URL");
            let replica = format!("{server}:{replica_port}");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let there = jiayi::db::establish_pg(&format!("{replica}/postgres"))
                    .ok()
                    .and_then(|mut c| {
                        #[derive(diesel::QueryableByName)]
                        struct N {
                            #[diesel(sql_type = diesel::sql_types::BigInt)]
                            n: i64,
                        }
                        diesel::sql_query(format!(
                            "SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{name}'"
                        ))
                        .get_result::<N>(&mut c)
                        .ok()
                    });
                if there.is_some_and(|r| r.n == 1) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the replica on {replica} never had {name}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            config.report_database_url = Some(format!("{replica}/{name}"));
        },
    )
    .await
}

/// Starts the app after adjusting the configuration, and again once its database URL is set.
async fn spawn_app_on(adjust: impl FnOnce(&mut Config), with_url: impl FnOnce(&mut Config)) -> TestApp {
    LOGS.call_once(|| {
        if let Ok(path) = std::env::var("JIAYI_TEST_LOG_FILE") {
            // Every app's log lines, for CI to search for ID numbers and phones
            // (tools/scan_pii.py); level from RUST_LOG, debug by default.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("JIAYI_TEST_LOG_FILE {path}: {e}"));
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
            // A line per request span as it closes (method, path and query, status), so
            // every URL the suite sent is searched too.
            let _ = tracing_subscriber::fmt()
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init();
        } else if std::env::var("TEST_LOG").is_ok() {
            jiayi::telemetry::init();
        }
    });
    let mut config = Config::demo(String::new());
    config.demo_residents = 60;
    adjust(&mut config);
    let (url, dir, pg) = crate::template::database_for(&config).unwrap_or_else(fresh_database);
    config.database_url = url;
    with_url(&mut config);
    let app = jiayi::startup::Application::build(config).expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        metrics_base,
        client: Client::new(),
        state,
        _dir: dir,
        pg,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop_database(&self.pg);
    }
}

/// Drops a PostgreSQL test database made by `fresh_database`.
pub fn drop_database(pg: &Option<(String, String)>) {
    if let Some((url, name)) = pg {
        if let Ok(mut c) = jiayi::db::establish_pg(url) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c);
        }
    }
}

/// A logged-in session.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    /// The tablet's own id, as sent at login.
    pub device_id: String,
    /// The server's id of the device (`id` in the device list, the revoke path).
    pub device_key: String,
    pub user: Value,
}

impl TestApp {
    /// A second server process on this app's database (a county behind a load balancer):
    /// the same configuration on a port of its own, its own memory. The database stays
    /// this app's to drop.
    pub async fn beside(&self) -> TestApp {
        let mut config = self.state.config.clone();
        config.bind = "127.0.0.1:0".into();
        config.metrics_bind = None;
        let app = jiayi::startup::Application::build(config).expect("the second process builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            metrics_base: None,
            client: Client::new(),
            state,
            _dir: None,
            pg: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login_raw(&self, username: &str, password: &str, device_id: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(
                &json!({ "username": username, "password": password, "device_id": device_id,
                           "device_name": format!("{username}'s tablet"), "app_version": "1.0.0" }),
            )
            .send()
            .await
            .expect("request")
    }

    /// `POST /api/v1/auth/refresh` with a refresh token, naming the tablet `device_id`.
    pub async fn refresh_raw(&self, refresh_token: &str, device_id: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token, "device_id": device_id }))
            .send()
            .await
            .expect("request")
    }

    /// Logs in as a demo user on a fresh device.
    pub async fn login(&self, username: &str) -> Session {
        let device_id = format!("dev-{}", Uuid::new_v4().simple());
        self.login_on(username, &device_id).await
    }

    pub async fn login_on(&self, username: &str, device_id: &str) -> Session {
        let res = self.login_raw(username, DEMO_PASSWORD, device_id).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        let body: Value = res.json().await.unwrap();
        self.session_from(&body, device_id).await
    }

    /// The session a login answer `body` opened on the tablet id `device_id`.
    pub async fn session_from(&self, body: &Value, device_id: &str) -> Session {
        let access = body["access_token"].as_str().unwrap().to_string();
        let me: Value = self
            .client
            .get(self.url("/api/v1/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Session {
            access,
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
            device_id: device_id.to_string(),
            device_key: me["device_key"].as_str().expect("device_key").to_string(),
            user: body["user"].clone(),
        }
    }

    pub async fn get(&self, s: &Session, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&s.access)
            .header("X-Sync-Protocol", "1")
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, s: &Session, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&s.access)
            .header("X-Sync-Protocol", "1")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Pushes ops as the session's device.
    pub async fn push(&self, s: &Session, ops: Vec<Value>) -> Value {
        let res = self
            .post(s, "/api/v1/sync/push", &json!({ "device_id": s.device_id, "ops": ops }))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Pushes ops as the session's device and asserts every one was applied.
    pub async fn push_applied(&self, s: &Session, ops: Vec<Value>) -> Value {
        let out = self.push(s, ops).await;
        assert_all_applied(&out);
        out
    }

    /// Pushes ops as a tablet does when several push at once: a batch answered 503
    /// `server_busy` or `write_clash` (nothing of it applied) is sent again after its
    /// `Retry-After`, up to ten times; then every op must be applied. On a loaded machine
    /// a concurrent batch may wait past the admission queue's bound, and a test of what
    /// concurrent pushes keep must not fail on the refusal a real tablet would retry.
    pub async fn push_applied_retrying(&self, s: &Session, ops: Vec<Value>) -> Value {
        let body = json!({ "device_id": s.device_id, "ops": ops });
        for _ in 0..10 {
            let res = self.post(s, "/api/v1/sync/push", &body).await;
            if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                let wait: u64 = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .expect("a 503 to a push says when to send it again");
                let err: Value = res.json().await.unwrap();
                let code = err["error"]["code"].as_str().unwrap_or_default();
                assert!(matches!(code, "server_busy" | "write_clash"), "503 {err}");
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                continue;
            }
            assert_eq!(res.status(), StatusCode::OK);
            let out: Value = res.json().await.unwrap();
            assert_all_applied(&out);
            return out;
        }
        panic!("a push refused as busy ten times");
    }

    /// Pulls every page from `cursor` (the start when `None`); returns the changes and
    /// the last cursor.
    pub async fn pull_all(&self, s: &Session, cursor: Option<&str>) -> (Vec<Value>, String) {
        let mut changes = Vec::new();
        let mut cursor = cursor.map(str::to_string);
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/sync/pull?limit=200&cursor={c}"),
                None => "/api/v1/sync/pull?limit=200".to_string(),
            };
            let res = self.get(s, &path).await;
            assert_eq!(res.status(), StatusCode::OK, "pull");
            let page: Value = res.json().await.unwrap();
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            cursor = Some(page["cursor"].as_str().unwrap().to_string());
            if !page["has_more"].as_bool().unwrap() {
                return (changes, cursor.unwrap());
            }
        }
    }

    /// Bootstraps from the first page to the last, `limit` records a page; returns the
    /// records and the cursor the last page gives to pull from.
    pub async fn bootstrap_all(&self, s: &Session, limit: usize) -> (Vec<Value>, String) {
        let mut records = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let path = match &page {
                Some(p) => format!("/api/v1/sync/bootstrap?limit={limit}&page={p}"),
                None => format!("/api/v1/sync/bootstrap?limit={limit}"),
            };
            let res = self.get(s, &path).await;
            assert_eq!(res.status(), StatusCode::OK, "bootstrap");
            let body: Value = res.json().await.unwrap();
            records.extend(body["records"].as_array().unwrap().iter().cloned());
            match body["next_page"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => return (records, body["cursor"].as_str().unwrap().to_string()),
            }
        }
    }

    /// The caller's villages (team members).
    pub async fn villages(&self, s: &Session) -> Vec<String> {
        let me: Value = self.get(s, "/api/v1/me").await.json().await.unwrap();
        me["villages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Runs a closure on a database connection.
    pub fn db<T>(&self, f: impl FnOnce(&mut jiayi::db::DbConn) -> T) -> T {
        let mut c = self.state.pool.get().expect("connection");
        f(&mut c)
    }
}

/// Asserts that a push answer holds results and that every one is `applied`.
pub fn assert_all_applied(out: &Value) {
    let results = out["results"].as_array().expect("a push answer has results");
    assert!(
        !results.is_empty() && results.iter().all(|r| r["status"] == "applied"),
        "every op applied: {out}"
    );
}

/// Asserts the error shape and code, and returns the body.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    assert!(body["error"]["message"].is_string(), "message in {body}");
    body
}

/// The page's policy runs only the server's own script files: `script-src 'self'`, and
/// nothing in it (inline code, `eval`) that an injected string could use.
pub fn assert_scripts_only_from_self(res: &Response, page: &str) {
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    let script_src: Vec<&str> = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))
        .unwrap_or_else(|| panic!("{page}: no script-src in {csp}"))
        .split_whitespace()
        .collect();
    assert!(script_src.contains(&"'self'"), "{page}: {csp}");
    for unsafe_source in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'unsafe-hashes'",
        "'wasm-unsafe-eval'",
        "data:",
        "*",
    ] {
        assert!(!script_src.contains(&unsafe_source), "{page}: {unsafe_source} in {csp}");
    }
}

/// A valid ID number (GB 11643) for a birth date and sex, unique per call.
pub fn id_number(birth: &str, sex: char) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = chrono::NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap();
    // A counter, not chance: 500 even sequence numbers (made odd for men) per area code.
    // Area codes 11xxxx are not the demo county's, so they never collide with demo residents.
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let area = format!("11{:04}", (n / 500) % 10_000);
    jiayi::domain::id_number::IdNumber::generate(&area, d, (n % 500) * 2, sex)
        .expose()
        .to_string()
}

/// Any op: `entity`, `action`, the record's `id` and its `data`, recorded a minute ago —
/// [`Op::new`] built, for the callers that name the kind by strings.
pub fn op(entity: &str, action: &str, id: &str, data: Value) -> Value {
    Op::new(entity, action, id, data).build()
}

/// A resident create op.
pub fn resident_op(village: &str, birth: &str, sex: char, tags: &[&str]) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let data = json!({ "village_code": village, "name": "测试居民", "sex": sex.to_string(), "birth_date": birth,
                       "id_number": id_number(birth, sex), "phone": "13800138000", "tags": tags });
    let op = Op::resident_create(&id, data).recorded_at("2026-03-01T09:30:00+08:00");
    (id, op.build())
}

/// A signed contract create op for today's year.
pub fn contract_op(resident_id: &str, team_id: &str, packages: &[&str]) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let (now, today) = now_cst();
    let data = json!({ "resident_id": resident_id, "team_id": team_id, "packages": packages, "status": "SIGNED",
                       "signed_at": now, "effective_from": today });
    (id.clone(), Op::contract_create(id, data).recorded_at(now).build())
}

/// A minute ago in China Standard Time, as RFC 3339, and its date.
pub fn now_cst() -> (String, String) {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let t = (chrono::Utc::now() - chrono::Duration::minutes(1)).with_timezone(&cst);
    (
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        t.date_naive().to_string(),
    )
}

/// A new supervisor of a township, made by the county admin and logged in.
pub async fn supervisor_of(app: &TestApp, username: &str, township: &str) -> Session {
    let admin = app.login("admin").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": username, "password": "a-long-secret-9",
                     "role": "supervisor", "region_code": township, "display_name": "乡镇督导" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let device = format!("device-{username}");
    let res = app.login_raw(username, "a-long-secret-9", &device).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    app.session_from(&body, &device).await
}
