//! The server as an operator runs it, as a process: stopping it under load, backing it up
//! while tablets push, and restoring the copy.

use std::process::Command;

use crate::cli::jiayi;
use crate::helpers::{drop_database, fresh_database, hold_locks};

/// A `jiayi serve` child process and the lines it prints.
pub(crate) struct Served {
    child: std::process::Child,
    pub(crate) base: String,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
    /// What it printed before its address.
    pub(crate) before: Vec<String>,
}

/// Spawns `jiayi serve` in demo mode on `url`, bound to `bind`, with `extra` in its
/// environment; every line it prints (stdout and stderr) arrives on the receiver, which
/// ends when the process does.
pub(crate) fn spawn_serve(
    url: &str,
    bind: &str,
    extra: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.arg("serve")
        .env("DATABASE_URL", url)
        .env("JIAYI_MODE", "demo")
        .env("JIAYI_BIND", bind)
        .env("JIAYI_DEMO_RESIDENTS", "20")
        .env_remove("JIAYI_DEMO_ALLOW_NETWORK")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
    }
    (child, rx)
}

/// Starts `jiayi serve` in demo mode on `url` and waits for its port.
fn serve_on(url: &str, extra: &[(&str, &str)]) -> Served {
    serve_at(url, "127.0.0.1:0", extra)
}

/// Starts `jiayi serve` in demo mode on `url` bound to `bind` (port 0: any) and waits for
/// its port.
pub(crate) fn serve_at(url: &str, bind: &str, extra: &[(&str, &str)]) -> Served {
    let (child, rx) = spawn_serve(url, bind, extra);
    let mut before = Vec::new();
    let port = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server starts");
        before.push(line.clone());
        if let Some(i) = line.find("http://127.0.0.1:") {
            break line[i + 17..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .to_string();
        }
    };
    Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        lines: rx,
        before,
    }
}

impl Served {
    /// Sends SIGTERM and waits for the exit; answers how long it took, or `None` past `limit`.
    pub(crate) fn terminate(&mut self, limit: std::time::Duration) -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        while started.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

pub(crate) fn residents_with_id(url: &str, id: &str) -> i64 {
    use diesel::prelude::*;
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    jiayi::schema::residents::table
        .filter(jiayi::schema::residents::id.eq(id))
        .count()
        .get_result(&mut *c)
        .unwrap()
}

/// One demo doctor's tablet talking to a server over HTTP, as a test drives it.
struct Tablet {
    http: reqwest::Client,
    base: String,
    device: &'static str,
    token: String,
}

impl Tablet {
    /// Logs doctor1 in on `base` as the tablet `device`.
    async fn login(base: &str, device: &'static str) -> Tablet {
        let http = reqwest::Client::new();
        let body: serde_json::Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": "doctor1", "password": "jiayi-demo", "device_id": device, "device_name": "t" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string();
        Tablet {
            http,
            base: base.to_string(),
            device,
            token,
        }
    }

    /// The first village of the doctor's team.
    async fn village(&self) -> String {
        let me: serde_json::Value = self.get("/api/v1/me").await.json().await.unwrap();
        me["villages"][0].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Sync-Protocol", "1")
            .send()
            .await
            .unwrap()
    }

    /// A push batch of `ops` from this tablet.
    fn batch(&self, ops: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({ "device_id": self.device, "ops": ops })
    }

    /// Sends a batch; the answer, or the transport error of a server gone away.
    fn push(&self, batch: &serde_json::Value) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
        self.http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .header("X-Sync-Protocol", "1")
            .json(batch)
            .send()
    }

    /// Sends a batch with `X-Sync-Checkpoint: checkpoint` (if any): the status and body.
    async fn push_from(&self, batch: &serde_json::Value, checkpoint: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .header("X-Sync-Protocol", "1")
            .json(batch);
        if let Some(c) = checkpoint {
            req = req.header("X-Sync-Checkpoint", c);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// A pull from `cursor` with `X-Sync-Checkpoint: checkpoint`: the status and the body.
    async fn pull_from(&self, cursor: &str, checkpoint: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .get(format!("{}/api/v1/sync/pull?cursor={cursor}", self.base))
            .bearer_auth(&self.token)
            .header("X-Sync-Protocol", "1")
            .header("X-Sync-Checkpoint", checkpoint)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// Sends a batch and answers the results' statuses.
    async fn push_statuses(&self, batch: &serde_json::Value) -> Vec<String> {
        let res: serde_json::Value = self.push(batch).await.unwrap().json().await.unwrap();
        let results = res["results"].as_array().unwrap_or_else(|| panic!("{res}"));
        results
            .iter()
            .map(|r| r["status"].as_str().unwrap().to_string())
            .collect()
    }

    /// The cursor after every change so far, as the tablet keeps it.
    async fn cursor_now(&self) -> String {
        let mut cursor = String::new();
        loop {
            let page: serde_json::Value = self
                .get(&format!("/api/v1/sync/pull?limit=5000&cursor={cursor}"))
                .await
                .json()
                .await
                .unwrap();
            cursor = page["cursor"].as_str().unwrap_or_else(|| panic!("{page}")).to_string();
            if page["has_more"] != true {
                return cursor;
            }
        }
    }

    /// A pull from `cursor`: the status and the body.
    async fn pull(&self, cursor: &str) -> (u16, serde_json::Value) {
        let res = self.get(&format!("/api/v1/sync/pull?cursor={cursor}")).await;
        (res.status().as_u16(), res.json().await.unwrap())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// SIGTERM while a push waits behind a lock: the process exits within the grace and a few
/// seconds, the push is kept whole or not at all (here: not, it never got its lock), and
/// the tablet's replay of the same batch to the restarted server applies it once.
#[test]
fn sigterm_stops_within_the_grace_and_an_interrupted_push_is_replayed_whole() {
    let (url, _dir, pg) = fresh_database();
    let grace = [("JIAYI_SHUTDOWN_GRACE_SECS", "1")];
    let mut first = serve_on(&url, &grace);
    let rt = runtime();
    let tablet = rt.block_on(Tablet::login(&first.base, "stop-tablet-01"));
    let village = rt.block_on(tablet.village());
    let (id, op) = crate::helpers::resident_op(&village, "1950-02-03", 'M', &[]);
    let batch = tablet.batch(vec![op]);

    let (release, holder) = hold_locks(&url, "residents");
    let in_flight = rt.spawn(tablet.push(&batch));
    rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(700)).await });
    let took = first.terminate(std::time::Duration::from_secs(8));
    let printed: Vec<String> = first.lines.try_iter().collect();
    assert!(
        took.is_some_and(|t| t < std::time::Duration::from_secs(6)),
        "SIGTERM with a push stuck behind a lock: exited after {took:?} (grace 1 s)\n{}",
        printed.join("\n")
    );
    let answer = rt.block_on(in_flight).unwrap();
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "the stuck push was not answered as applied"
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(
        residents_with_id(&url, &id),
        0,
        "nothing of the interrupted push was kept"
    );

    let mut second = serve_on(&url, &grace);
    let tablet = rt.block_on(Tablet::login(&second.base, "stop-tablet-01"));
    assert_eq!(rt.block_on(tablet.push_statuses(&batch)), ["applied"]);
    assert_eq!(residents_with_id(&url, &id), 1);
    let idle = second.terminate(std::time::Duration::from_secs(8));
    assert!(idle.is_some_and(|t| t < std::time::Duration::from_secs(3)), "{idle:?}");
    drop_database(&pg);
}

/// A backup while a tablet pushes, and a restore drill: every batch acknowledged before the
/// backup started is in the copy; a server started on the copy takes the tablet's replay of
/// every batch it sent, applying what the copy lacks once and answering the rest as
/// duplicates: nothing lost, nothing doubled. A cursor issued after the backup point is
/// refused by the restored server, one issued before it still pulls. On PostgreSQL the
/// command points to pg_dump.
#[test]
fn a_backup_taken_while_a_tablet_pushes_restores_and_the_replay_fills_it_whole() {
    let (url, dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let dest = files.path().join("backup.db");
    if pg.is_some() {
        let out = jiayi(&["backup", dest.to_str().unwrap()], &[("DATABASE_URL", &url)]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        drop_database(&pg);
        return;
    }
    let mut server = serve_on(&url, &[]);
    let rt = runtime();
    let tablet = rt.block_on(Tablet::login(&server.base, "backup-tablet-01"));
    let village = rt.block_on(tablet.village());
    let batches: Vec<(Vec<String>, serde_json::Value)> = (0..12)
        .map(|b| {
            let (ids, ops): (Vec<String>, Vec<serde_json::Value>) = (0..50)
                .map(|i| {
                    let birth = format!("19{:02}-0{}-1{}", 30 + (b * 3 + i) % 60, 1 + i % 9, i % 10);
                    crate::helpers::resident_op(&village, &birth, if i % 2 == 0 { 'F' } else { 'M' }, &[])
                })
                .unzip();
            (ids, tablet.batch(ops))
        })
        .collect();
    let all_applied = |statuses: Vec<String>| assert!(statuses.iter().all(|s| s == "applied"), "{statuses:?}");
    // Half the batches acknowledged, then the backup runs while the other half is pushed.
    let mut acknowledged_before = Vec::new();
    for (ids, batch) in &batches[..6] {
        all_applied(rt.block_on(tablet.push_statuses(batch)));
        acknowledged_before.extend(ids.iter().cloned());
    }
    let before_backup = rt.block_on(tablet.cursor_now());
    let backup = {
        let dest = dest.clone();
        let url = url.clone();
        std::thread::spawn(move || jiayi(&["backup", dest.to_str().unwrap()], &[("DATABASE_URL", &url)]))
    };
    for (_, batch) in &batches[6..] {
        all_applied(rt.block_on(tablet.push_statuses(batch)));
    }
    let after_backup = rt.block_on(tablet.cursor_now());
    let out = backup.join().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("integrity check: ok"), "{said}");
    let again = jiayi(&["backup", dest.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    server.terminate(std::time::Duration::from_secs(10));

    // Restore: the copy in place of a database of its own, a server on it.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored = restored_dir.path().join("jiayi.db");
    std::fs::copy(&dest, &restored).unwrap();
    let restored_url = format!("sqlite://{}", restored.display());
    for id in &acknowledged_before {
        assert_eq!(
            residents_with_id(&restored_url, id),
            1,
            "acknowledged before the backup: {id}"
        );
    }
    let mut second = serve_on(&restored_url, &[]);
    let tablet = rt.block_on(Tablet::login(&second.base, "backup-tablet-01"));
    let (mut applied, mut duplicate) = (0, 0);
    for (_, batch) in &batches {
        for status in rt.block_on(tablet.push_statuses(batch)) {
            match status.as_str() {
                "applied" => applied += 1,
                "duplicate" => duplicate += 1,
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!(applied + duplicate, 600);
    assert!(duplicate >= acknowledged_before.len(), "{duplicate}");
    for (ids, _) in &batches {
        for id in ids {
            assert_eq!(residents_with_id(&restored_url, id), 1, "{id} once");
        }
    }
    // The restored server handed the positions after the backup point out again to the
    // replayed changes: a cursor issued after the backup must not skip them.
    let (status, body) = rt.block_on(tablet.pull(&after_backup));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "resync_required", "{body}");
    // A cursor from before the backup point names the same history: it pulls what came after.
    let (status, body) = rt.block_on(tablet.pull(&before_backup));
    assert_eq!(status, 200, "{body}");
    assert!(!body["changes"].as_array().unwrap().is_empty());
    second.terminate(std::time::Duration::from_secs(10));
    drop(dir);
}

/// The hole a cursor cannot close: a tablet whose last pull came before the backup point
/// but whose pushes were acknowledged after it holds a cursor the restored server still
/// accepts. The checkpoint of its newest push answer tells: the restored server answers it
/// 409 `resync_required` with `reason: server_restored`, on pull and on push (applying
/// nothing), while a checkpoint from before the backup point, and no checkpoint at all,
/// still work; and the resend of the lost ops fills the copy once.
#[test]
fn a_restored_server_refuses_the_checkpoint_of_what_it_acknowledged_after_the_backup() {
    let (url, dir, pg) = fresh_database();
    if pg.is_some() {
        drop_database(&pg);
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let dest = files.path().join("backup.db");
    let mut server = serve_on(&url, &[]);
    let rt = runtime();
    let tablet = rt.block_on(Tablet::login(&server.base, "hole-tablet-01"));
    let village = rt.block_on(tablet.village());
    let batch_of = |n: usize, year: usize| {
        let (ids, ops): (Vec<String>, Vec<serde_json::Value>) = (0..n)
            .map(|i| crate::helpers::resident_op(&village, &format!("19{year}-0{}-1{}", 1 + i % 9, i % 10), 'F', &[]))
            .unzip();
        (ids, tablet.batch(ops))
    };
    let (_, first) = batch_of(5, 41);
    let (status, answer) = rt.block_on(tablet.push_from(&first, None));
    assert_eq!(status, 200, "{answer}");
    let before = answer["checkpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    // The tablet's last successful pull: before the backup point.
    let cursor = rt.block_on(tablet.cursor_now());
    let out = jiayi(&["backup", dest.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Acknowledged after it; the pull that would have followed never happened.
    let (lost, second) = batch_of(4, 42);
    let (status, answer) = rt.block_on(tablet.push_from(&second, Some(&before)));
    assert_eq!(status, 200, "{answer}");
    let after = answer["checkpoint"].as_str().unwrap().to_string();
    assert_ne!(after, before);
    server.terminate(std::time::Duration::from_secs(10));

    let restored_dir = tempfile::tempdir().unwrap();
    let restored = restored_dir.path().join("jiayi.db");
    std::fs::copy(&dest, &restored).unwrap();
    let restored_url = format!("sqlite://{}", restored.display());
    let mut second_server = serve_on(&restored_url, &[]);
    let tablet = rt.block_on(Tablet::login(&second_server.base, "hole-tablet-01"));
    // Without a checkpoint (an older client) the loss goes unnoticed: the cursor is fine.
    let (status, body) = rt.block_on(tablet.pull(&cursor));
    assert_eq!(
        status, 200,
        "the cursor from before the backup point is accepted: {body}"
    );
    let restored_answer = |(status, body): (u16, serde_json::Value)| {
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "resync_required", "{body}");
        assert_eq!(body["error"]["reason"], "server_restored", "{body}");
        assert_eq!(body["error"]["field"], "X-Sync-Checkpoint", "{body}");
    };
    restored_answer(rt.block_on(tablet.pull_from(&cursor, &after)));
    let (refused, third) = batch_of(2, 43);
    restored_answer(rt.block_on(tablet.push_from(&third, Some(&after))));
    for id in refused.iter().chain(&lost) {
        assert_eq!(
            residents_with_id(&restored_url, id),
            0,
            "lost, or refused with the push: {id}"
        );
    }
    let (status, body) = rt.block_on(tablet.pull_from(&cursor, &before));
    assert_eq!(status, 200, "a checkpoint from before the backup point: {body}");
    let (status, body) = rt.block_on(tablet.pull_from(&cursor, "12x.ab"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_cursor")),
        "{body}"
    );
    // The re-sync's resend: the lost ops applied once, the kept ones answered duplicate.
    let (status, answer) = rt.block_on(tablet.push_from(&first, None));
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "duplicate"),
        "{answer}"
    );
    let (status, answer) = rt.block_on(tablet.push_from(&second, answer["checkpoint"].as_str()));
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "applied"),
        "{status} {answer}"
    );
    let (status, body) = rt.block_on(tablet.pull_from(&cursor, answer["checkpoint"].as_str().unwrap()));
    assert_eq!(status, 200, "the new checkpoint: {body}");
    for id in &lost {
        assert_eq!(residents_with_id(&restored_url, id), 1, "sent again: {id}");
    }
    second_server.terminate(std::time::Duration::from_secs(10));
    drop(dir);
}
