//! The server as an operator runs it, as a process: stopping it under load, backing it up
//! while tablets push, and restoring the copy.

use std::process::Command;

use crate::helpers::{drop_database, fresh_database};

/// Runs the `jiayi` command with `env` and waits for it.
fn jiayi(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.args(args).env_remove("DATABASE_URL").env_remove("JIAYI_MODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run jiayi")
}

/// A `jiayi serve` child process and the lines it prints.
struct Served {
    child: std::process::Child,
    base: String,
    lines: std::sync::mpsc::Receiver<String>,
}

/// Starts `jiayi serve` in demo mode on `url` and waits for its port.
fn serve_on(url: &str, extra: &[(&str, &str)]) -> Served {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.arg("serve")
        .env("DATABASE_URL", url)
        .env("JIAYI_MODE", "demo")
        .env("JIAYI_BIND", "127.0.0.1:0")
        .env("JIAYI_DEMO_RESIDENTS", "20")
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
    let port = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server starts");
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
    }
}

impl Served {
    /// Sends SIGTERM and waits for the exit; answers how long it took, or `None` past `limit`.
    fn terminate(&mut self, limit: std::time::Duration) -> Option<std::time::Duration> {
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

/// Holds the database's write lock (SQLite) or an exclusive lock on `residents`
/// (PostgreSQL) from another connection until told to let go.
fn hold_resident_lock(url: &str) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let url = url.to_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        if jiayi::config::is_postgres_url(&url) {
            let mut c = jiayi::db::establish_pg(&url).unwrap();
            c.batch_execute("BEGIN; LOCK TABLE residents IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            c.batch_execute("ROLLBACK").unwrap();
        } else {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut c = diesel::sqlite::SqliteConnection::establish(path).unwrap();
            c.batch_execute("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            c.batch_execute("ROLLBACK").unwrap();
        }
    });
    locked_rx.recv().unwrap();
    (release_tx, holder)
}

fn residents_with_id(url: &str, id: &str) -> i64 {
    use diesel::prelude::*;
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    jiayi::schema::residents::table
        .filter(jiayi::schema::residents::id.eq(id))
        .count()
        .get_result(&mut *c)
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = reqwest::Client::new();
    let login = |base: String| {
        let c = c.clone();
        async move {
            let body: serde_json::Value = c
                .post(format!("{base}/api/v1/auth/login"))
                .json(&serde_json::json!({ "username": "doctor1", "password": "jiayi-demo", "device_id": "stop-tablet-01", "device_name": "t" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_string()
        }
    };
    let token = rt.block_on(login(first.base.clone()));
    let village: String = rt.block_on(async {
        let me: serde_json::Value = c
            .get(format!("{}/api/v1/me", first.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["villages"][0].as_str().unwrap().to_string()
    });
    let (id, op) = crate::helpers::resident_op(&village, "1950-02-03", 'M', &[]);
    let batch = serde_json::json!({ "device_id": "stop-tablet-01", "ops": [op] });
    let push = |base: String, token: String| {
        let c = c.clone();
        let batch = batch.clone();
        async move {
            c.post(format!("{base}/api/v1/sync/push"))
                .bearer_auth(token)
                .header("X-Sync-Protocol", "1")
                .json(&batch)
                .send()
                .await
        }
    };

    let (release, holder) = hold_resident_lock(&url);
    let in_flight = rt.spawn(push(first.base.clone(), token.clone()));
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
    let token = rt.block_on(login(second.base.clone()));
    let res: serde_json::Value =
        rt.block_on(async { push(second.base.clone(), token).await.unwrap().json().await.unwrap() });
    assert_eq!(res["results"][0]["status"], "applied", "{res}");
    assert_eq!(residents_with_id(&url, &id), 1);
    let idle = second.terminate(std::time::Duration::from_secs(8));
    assert!(idle.is_some_and(|t| t < std::time::Duration::from_secs(3)), "{idle:?}");
    drop_database(&pg);
}

/// A backup while a tablet pushes, and a restore drill: every batch acknowledged before the
/// backup started is in the copy; a server started on the copy takes the tablet's replay of
/// every batch it sent, applying what the copy lacks once and answering the rest as
/// duplicates: nothing lost, nothing doubled. On PostgreSQL the command points to pg_dump.
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = reqwest::Client::new();
    let base = server.base.clone();
    let login = |base: String| {
        let c = c.clone();
        async move {
            let body: serde_json::Value = c
                .post(format!("{base}/api/v1/auth/login"))
                .json(&serde_json::json!({ "username": "doctor1", "password": "jiayi-demo", "device_id": "backup-tablet-01", "device_name": "t" }))
                .send().await.unwrap().json().await.unwrap();
            body["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_string()
        }
    };
    let token = rt.block_on(login(base.clone()));
    let village: String = rt.block_on(async {
        let me: serde_json::Value = c
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["villages"][0].as_str().unwrap().to_string()
    });
    // The cursor after every change so far, as a tablet keeps it.
    let cursor_now = |base: String, token: String| {
        let c = c.clone();
        async move {
            let mut cursor = String::new();
            loop {
                let page: serde_json::Value = c
                    .get(format!("{base}/api/v1/sync/pull?limit=5000&cursor={cursor}"))
                    .bearer_auth(&token)
                    .header("X-Sync-Protocol", "1")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                cursor = page["cursor"].as_str().unwrap_or_else(|| panic!("{page}")).to_string();
                if page["has_more"] != true {
                    return cursor;
                }
            }
        }
    };
    let pull_status = |base: String, token: String, cursor: String| {
        let c = c.clone();
        async move {
            let res = c
                .get(format!("{base}/api/v1/sync/pull?cursor={cursor}"))
                .bearer_auth(&token)
                .header("X-Sync-Protocol", "1")
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            (status, body)
        }
    };
    let push = |base: String, token: String, batch: serde_json::Value| {
        let c = c.clone();
        async move {
            let res: serde_json::Value = c
                .post(format!("{base}/api/v1/sync/push"))
                .bearer_auth(token)
                .header("X-Sync-Protocol", "1")
                .json(&batch)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            res
        }
    };
    let batches: Vec<(Vec<String>, serde_json::Value)> = (0..12)
        .map(|b| {
            let (ids, ops): (Vec<String>, Vec<serde_json::Value>) = (0..50)
                .map(|i| {
                    let birth = format!("19{:02}-0{}-1{}", 30 + (b * 3 + i) % 60, 1 + i % 9, i % 10);
                    crate::helpers::resident_op(&village, &birth, if i % 2 == 0 { 'F' } else { 'M' }, &[])
                })
                .unzip();
            (ids, serde_json::json!({ "device_id": "backup-tablet-01", "ops": ops }))
        })
        .collect();
    // Half the batches acknowledged, then the backup runs while the other half is pushed.
    let mut acknowledged_before = Vec::new();
    for (ids, batch) in &batches[..6] {
        let res = rt.block_on(push(base.clone(), token.clone(), batch.clone()));
        assert!(
            res["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "applied"),
            "{res}"
        );
        acknowledged_before.extend(ids.iter().cloned());
    }
    let before_backup = rt.block_on(cursor_now(base.clone(), token.clone()));
    let backup = {
        let dest = dest.clone();
        let url = url.clone();
        std::thread::spawn(move || jiayi(&["backup", dest.to_str().unwrap()], &[("DATABASE_URL", &url)]))
    };
    for (_, batch) in &batches[6..] {
        let res = rt.block_on(push(base.clone(), token.clone(), batch.clone()));
        assert!(
            res["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "applied"),
            "{res}"
        );
    }
    let after_backup = rt.block_on(cursor_now(base.clone(), token.clone()));
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
    let token = rt.block_on(login(second.base.clone()));
    let (mut applied, mut duplicate) = (0, 0);
    for (_, batch) in &batches {
        let res = rt.block_on(push(second.base.clone(), token.clone(), batch.clone()));
        for r in res["results"].as_array().unwrap() {
            match r["status"].as_str().unwrap() {
                "applied" => applied += 1,
                "duplicate" => duplicate += 1,
                other => panic!("{other}: {r}"),
            }
        }
    }
    assert_eq!(applied + duplicate, 600);
    assert!(duplicate >= acknowledged_before.len(), "{duplicate}");
    // The restored server handed the positions after the backup point out again to the
    // replayed changes: a cursor issued after the backup must not skip them.
    let (status, body) = rt.block_on(pull_status(second.base.clone(), token.clone(), after_backup));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "resync_required", "{body}");
    // A cursor from before the backup point names the same history: it pulls what came after.
    let (status, body) = rt.block_on(pull_status(second.base.clone(), token.clone(), before_backup));
    assert_eq!(status, 200, "{body}");
    assert!(!body["changes"].as_array().unwrap().is_empty());
    for (ids, _) in &batches {
        for id in ids {
            assert_eq!(residents_with_id(&restored_url, id), 1, "{id} once");
        }
    }
    second.terminate(std::time::Duration::from_secs(10));
    drop(dir);
}
