//! A tablet's connection to the server, as a real app would run it: retries with backoff
//! when the server is away or failing, waits out `429 Retry-After`, refreshes (or logs in
//! again) when its token expires. Every request is counted by outcome, and push latency
//! is recorded per request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// What the run saw on the wire.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Latency of each answered push request, ms.
    pub push_ms: Vec<f64>,
    /// From a batch's first attempt to its answer, ms: refusals, waits and retries
    /// included (what a doctor waiting for the sync to finish sees).
    pub push_until_answered_ms: Vec<f64>,
    /// The server's own time for each answered push, ms, from its `Server-Timing` header
    /// (wait for a turn + work on the batch): the latency without the network and without
    /// the simulator itself, which shares the machine in a load test.
    pub push_server_ms: Vec<f64>,
    /// The server's work on each answered push alone, ms (`Server-Timing`'s `apply`):
    /// without the wait for a turn.
    pub push_apply_ms: Vec<f64>,
    /// Failed attempts by kind (`connect`, `timeout`, `429 rate_limited`, `500 internal_error`, …).
    pub errors: BTreeMap<String, u64>,
    /// Push requests answered 200.
    pub pushes: u64,
    /// Per server (its base URL), when tablets are spread over several: push requests
    /// answered and the server's summed `apply` time, ms — how the work split.
    pub by_server: BTreeMap<String, (u64, f64)>,
    /// Requests cut off half-way on purpose.
    pub cut_off: u64,
    /// Requests sent whole and dropped before the answer on purpose.
    pub dropped: u64,
}

/// Shared by every tablet of a run.
pub struct Net {
    /// HTTP client (keeps connections).
    pub http: reqwest::Client,
    /// `http://host:port` of the server.
    pub base: String,
    /// `host:port`, for the raw TCP faults.
    pub addr: String,
    /// Counters.
    pub stats: Mutex<Stats>,
    /// Ops with a result received (for progress and mid-storm faults).
    pub acked: AtomicUsize,
    /// Push requests on the wire right now.
    pub in_flight: AtomicUsize,
    /// Give up on a request after failing this long.
    pub give_up: Duration,
}

impl Net {
    /// A client for the server at `base`.
    pub fn new(base: &str, give_up: Duration) -> Result<Arc<Net>, String> {
        let url = reqwest::Url::parse(base).map_err(|e| format!("bad server URL {base}: {e}"))?;
        let host = url.host_str().ok_or("server URL without a host")?;
        let port = url.port_or_known_default().ok_or("server URL without a port")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Net {
            http,
            base: base.trim_end_matches('/').to_string(),
            addr: format!("{host}:{port}"),
            stats: Mutex::new(Stats::default()),
            acked: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            give_up,
        }))
    }

    /// Counts a failed attempt.
    pub fn error(&self, kind: impl Into<String>) {
        *self.lock().errors.entry(kind.into()).or_default() += 1;
    }

    /// The counters.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `body` as a push over a raw connection and closes it: with `whole` false after
    /// half the body (the server must store nothing), with `whole` true right after the
    /// last byte, without reading the answer (the server may or may not have stored it).
    pub async fn raw_push(&self, token: &str, body: &[u8], whole: bool) {
        let head = format!(
            "POST /api/v1/sync/push HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nX-Sync-Protocol: 1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let cut = if whole { body.len() } else { body.len() / 2 };
        let sent = async {
            let mut s = tokio::net::TcpStream::connect(&self.addr).await?;
            s.write_all(head.as_bytes()).await?;
            s.write_all(&body[..cut]).await?;
            s.flush().await?;
            let pause = rand::thread_rng().gen_range(0..40);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            s.shutdown().await
        };
        // The point is the cut: whether the socket closes cleanly does not matter.
        let _ = sent.await;
        let mut st = self.lock();
        if whole {
            st.dropped += 1;
        } else {
            st.cut_off += 1;
        }
    }
}

/// A logged-in device.
pub struct Session {
    net: Arc<Net>,
    /// The server this tablet talks to: the run's, or one of several processes on one
    /// database (the load test's `--servers`).
    base: String,
    username: String,
    password: String,
    /// The device id.
    pub device_id: String,
    /// Current access token.
    pub access: String,
    refresh: String,
    /// `/me`: team, villages.
    pub me: Value,
}

fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    Duration::from_millis(base / 2 + rand::thread_rng().gen_range(0..=base / 2))
}

async fn error_code(res: reqwest::Response) -> (StatusCode, Option<u64>, String) {
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("no_code").to_string();
    (status, retry, code)
}

impl Session {
    /// Logs in on `device_id`, retrying while the server is away.
    pub async fn login(net: Arc<Net>, username: &str, password: &str, device_id: &str) -> Result<Session, String> {
        let base = net.base.clone();
        Session::login_at(net, &base, username, password, device_id).await
    }

    /// [`Session::login`] to the server at `base` (another process on the run's database),
    /// counting on the run's `net`.
    pub async fn login_at(
        net: Arc<Net>,
        base: &str,
        username: &str,
        password: &str,
        device_id: &str,
    ) -> Result<Session, String> {
        let mut s = Session {
            net,
            base: base.trim_end_matches('/').to_string(),
            username: username.into(),
            password: password.into(),
            device_id: device_id.into(),
            access: String::new(),
            refresh: String::new(),
            me: Value::Null,
        };
        s.log_in().await?;
        s.me = s.call(Method::GET, "/api/v1/me", None).await?.0;
        Ok(s)
    }

    async fn log_in(&mut self) -> Result<(), String> {
        let body = json!({ "username": self.username, "password": self.password, "device_id": self.device_id,
                           "device_name": "jiayi-sim tablet", "app_version": "sim-1" });
        let v = self
            .retrying::<Value>(Method::POST, "/api/v1/auth/login", Some(&body), false)
            .await?
            .0;
        self.take_tokens(&v)
    }

    fn take_tokens(&mut self, v: &Value) -> Result<(), String> {
        self.access = v["access_token"].as_str().ok_or("login answer without a token")?.into();
        self.refresh = v["refresh_token"].as_str().unwrap_or_default().into();
        Ok(())
    }

    /// Renews the access token: refresh, or log in again if the refresh is refused.
    async fn renew(&mut self) -> Result<(), String> {
        let body = json!({ "refresh_token": self.refresh, "device_id": self.device_id });
        match self
            .retrying::<Value>(Method::POST, "/api/v1/auth/refresh", Some(&body), false)
            .await
        {
            Ok((v, _)) => self.take_tokens(&v),
            Err(_) => self.log_in().await,
        }
    }

    /// A request with the token, retried as a tablet would; the answer and its latency.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Duration), String> {
        self.call_as(method, path, body).await
    }

    /// [`Session::call`], reading the answer as `T` (only the fields the caller needs).
    pub async fn call_as<T: serde::de::DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(T, Duration), String> {
        for _ in 0..3 {
            match self.retrying::<T>(method.clone(), path, body, true).await {
                Err(e) if e.starts_with("401 token_expired") => self.renew().await?,
                other => return other,
            }
        }
        Err(format!("{path}: token refused after renewing"))
    }

    async fn retrying<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        auth: bool,
    ) -> Result<(T, Duration), String> {
        let started = Instant::now();
        let mut attempt = 0u32;
        let is_push = path.ends_with("/sync/push");
        loop {
            let mut rb = self
                .net
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("X-Sync-Protocol", "1")
                .header("X-App-Version", "sim-1");
            if auth {
                rb = rb.bearer_auth(&self.access);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let t = Instant::now();
            if is_push {
                self.net.in_flight.fetch_add(1, Ordering::SeqCst);
            }
            let sent = rb.send().await;
            let wait = match sent {
                Err(e) => {
                    if is_push {
                        self.net.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect refused"
                    } else {
                        "connection lost"
                    };
                    self.net.error(kind);
                    backoff(attempt)
                }
                Ok(res) if res.status().is_success() => {
                    let server_ms = is_push.then(|| server_timing_ms(res.headers())).flatten();
                    let apply_ms = is_push.then(|| server_timing_part(res.headers(), "apply")).flatten();
                    let parsed = res.json::<T>().await;
                    if is_push {
                        self.net.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    match parsed {
                        Ok(v) => {
                            if is_push {
                                let waited = started.elapsed().as_secs_f64() * 1000.0;
                                let mut st = self.net.lock();
                                st.push_until_answered_ms.push(waited);
                                st.push_server_ms.extend(server_ms);
                                st.push_apply_ms.extend(apply_ms);
                                let on = st.by_server.entry(self.base.clone()).or_default();
                                on.0 += 1;
                                on.1 += apply_ms.unwrap_or(0.0);
                            }
                            return Ok((v, t.elapsed()));
                        }
                        Err(_) => {
                            self.net.error("answer cut off");
                            backoff(attempt)
                        }
                    }
                }
                Ok(res) => {
                    if is_push {
                        self.net.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    let (status, retry, code) = error_code(res).await;
                    self.net.error(format!("{} {code}", status.as_u16()));
                    match (status, retry) {
                        (StatusCode::TOO_MANY_REQUESTS, _) => Duration::from_secs(retry.unwrap_or(1)),
                        // Busy (admission control, a clash): wait as told, spread out so
                        // that a storm's refused tablets do not all come back at once.
                        (StatusCode::SERVICE_UNAVAILABLE, Some(secs)) => {
                            Duration::from_secs(secs) + Duration::from_millis(rand::thread_rng().gen_range(0..1000))
                        }
                        // The server did not read the request in time: busy, try again.
                        (StatusCode::REQUEST_TIMEOUT, _) => backoff(attempt),
                        (s, _) if s.is_server_error() => backoff(attempt),
                        (s, _) => return Err(format!("{} {code} ({path})", s.as_u16())),
                    }
                }
            };
            if started.elapsed() > self.net.give_up {
                return Err(format!("{path}: gave up after {:?} of failures", started.elapsed()));
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// Every page of the caller's bootstrap: the records and the cursor to pull from.
    pub async fn bootstrap(&mut self, limit: usize) -> Result<(Vec<Value>, String), String> {
        let mut records = Vec::new();
        let cursor = self.bootstrap_pages(limit, |page| records.extend(page)).await?;
        Ok((records, cursor))
    }

    /// The caller's bootstrap page by page, each handed to `each` as it arrives (a whole
    /// county need not be held twice); the cursor to pull from.
    pub async fn bootstrap_pages(&mut self, limit: usize, mut each: impl FnMut(Vec<Value>)) -> Result<String, String> {
        let mut page: Option<String> = None;
        loop {
            let path = match &page {
                Some(p) => format!("/api/v1/sync/bootstrap?limit={limit}&page={p}"),
                None => format!("/api/v1/sync/bootstrap?limit={limit}"),
            };
            let (mut v, _) = self.call(Method::GET, &path, None).await?;
            match v["records"].take() {
                Value::Array(records) => each(records),
                _ => each(Vec::new()),
            }
            match v["next_page"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => {
                    let cursor = v["cursor"].as_str().ok_or("last bootstrap page without a cursor")?;
                    return Ok(cursor.to_string());
                }
            }
        }
    }

    /// Every change after `cursor`: each change's id and whether it is a tombstone, and
    /// the new cursor. The changes' data is skipped unread: the check needs only which
    /// records came back, and a simulated tablet parsing data it never looks at would take
    /// the server's cores from it (a real tablet parses on its own).
    pub async fn pull(&mut self, cursor: &str) -> Result<(Vec<PulledId>, String), String> {
        let mut changes = Vec::new();
        let cursor = self.pull_pages(cursor, |page| changes.extend(page)).await?;
        Ok((changes, cursor))
    }

    /// Every change after `cursor`, page by page, each handed to `each` as it arrives (a
    /// tablet after a county's push need not hold its team's changes all at once); the
    /// new cursor.
    pub async fn pull_pages(&mut self, cursor: &str, mut each: impl FnMut(Vec<PulledId>)) -> Result<String, String> {
        let mut cursor = cursor.to_string();
        loop {
            let path = format!("/api/v1/sync/pull?limit=500&cursor={cursor}");
            let (page, _) = self.call_as::<PullPage>(Method::GET, &path, None).await?;
            each(page.changes);
            cursor = page.cursor;
            if !page.has_more {
                return Ok(cursor);
            }
        }
    }

    /// The shared network state.
    pub fn net(&self) -> &Arc<Net> {
        &self.net
    }
}

/// The duration of one metric of a `Server-Timing` header (`apply` of `queue;dur=1.5, apply;dur=30.2`), ms.
fn server_timing_part(headers: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    let v = headers.get("server-timing")?.to_str().ok()?;
    v.split(',').find_map(|metric| {
        let mut parts = metric.split(';');
        (parts.next()?.trim() == name).then_some(())?;
        parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
    })
}

/// The sum of the durations in a `Server-Timing` header (`queue;dur=1.5, apply;dur=30.2`), ms.
fn server_timing_ms(headers: &reqwest::header::HeaderMap) -> Option<f64> {
    let v = headers.get("server-timing")?.to_str().ok()?;
    let durs: Vec<f64> = v
        .split(',')
        .filter_map(|metric| {
            metric
                .split(';')
                .find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
        })
        .collect();
    (!durs.is_empty()).then(|| durs.iter().sum())
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_timing_durations_are_summed() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(super::server_timing_ms(&h), None);
        h.insert("server-timing", "queue;dur=1.5, apply;dur=30.25".parse().unwrap());
        assert_eq!(super::server_timing_ms(&h), Some(31.75));
        assert_eq!(super::server_timing_part(&h, "apply"), Some(30.25));
        assert_eq!(super::server_timing_part(&h, "queue"), Some(1.5));
        assert_eq!(super::server_timing_part(&h, "other"), None);
        h.insert("server-timing", "queue;desc=\"x\"".parse().unwrap());
        assert_eq!(super::server_timing_ms(&h), None);
    }
}

/// A pull page as the simulator reads it.
#[derive(serde::Deserialize)]
struct PullPage {
    changes: Vec<PulledId>,
    cursor: String,
    has_more: bool,
}

/// A pulled change as the simulator reads it: which record, and whether it is a tombstone.
#[derive(serde::Deserialize)]
pub struct PulledId {
    /// The record's id.
    pub id: String,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}
