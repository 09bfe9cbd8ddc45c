//! The `jiayi` command line, run as a user would run it.

use std::process::Command;

use crate::helpers::{drop_database, fresh_database};

fn jiayi(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.args(args).env_remove("DATABASE_URL").env_remove("JIAYI_MODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run jiayi")
}

#[test]
fn import_reports_imported_rows_and_refused_lines() {
    let (url, _dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let regions = files.path().join("regions.csv");
    std::fs::write(
        &regions,
        "\u{feff}code,name\n431126000000,示范县\n431126100000,城关镇\n431126100201,东门村\n4311261002,坏行\n",
    )
    .unwrap();
    let out = jiayi(
        &["import", "regions", regions.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a refused row makes the command fail: {text}");
    assert!(
        text.contains("line 5"),
        "the refused row's line number is reported: {text}"
    );
    // The good rows are in: a team can now be imported on top of them.
    let teams = files.path().join("teams.csv");
    std::fs::write(
        &teams,
        "code,name,township_code,village_codes\nT01,城关一队,431126100000,431126100201\n",
    )
    .unwrap();
    let out = jiayi(&["import", "teams", teams.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop_database(&pg);
}

#[test]
fn a_wrong_header_imports_nothing() {
    let (url, _dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let f = files.path().join("users.csv");
    std::fs::write(&f, "name,secret\nx,y\n").unwrap();
    let out = jiayi(&["import", "users", f.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(!out.status.success());
    drop_database(&pg);
}

#[test]
fn production_mode_refuses_to_start_without_secrets() {
    let out = jiayi(
        &["serve"],
        &[
            ("JIAYI_MODE", "production"),
            ("DATABASE_URL", "sqlite:///nonexistent/never.db"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JIAYI_JWT_SECRET is required in production mode"), "{err}");
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let out = jiayi(&["openapi"], &[]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.json")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "jiayi openapi differs from api-spec/openapi.json: run `UPDATE_OPENAPI=1 cargo test openapi`"
    );
}

/// The server as an operator runs it, with debug logs: an ID number and a phone pushed by a
/// tablet, and a malformed request that names them, never appear in the log.
#[test]
fn the_server_log_never_contains_an_id_number_or_a_phone() {
    use std::io::{BufRead, BufReader};
    let (url, _dir, pg) = fresh_database();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jiayi"))
        .env("DATABASE_URL", &url)
        .env("JIAYI_MODE", "demo")
        .env("JIAYI_BIND", "127.0.0.1:0")
        .env("JIAYI_DEMO_RESIDENTS", "20")
        .env("RUST_LOG", "debug")
        .env("JIAYI_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send(l)))
    });
    let mut log = Vec::new();
    let port = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server starts");
        let found = line.find("http://127.0.0.1:").map(|i| {
            line[i + 17..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .to_string()
        });
        log.push(line);
        if let Some(p) = found {
            break p;
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let id_number = crate::helpers::id_number("1952-06-07", 'F');
    let phone = "13912345678";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let login: serde_json::Value = c
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": "doctor1", "password": "jiayi-demo", "device_id": "log-check-01", "device_name": "t" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_string();
        let me: serde_json::Value =
            c.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let village = me["villages"][0].as_str().unwrap().to_string();
        let (now, _) = crate::helpers::now_cst();
        let op = |data: serde_json::Value| {
            serde_json::json!({ "op_id": uuid::Uuid::now_v7().to_string(), "entity": "resident", "action": "create",
                                "id": uuid::Uuid::now_v7().to_string(), "recorded_at": now, "data": data })
        };
        let good = op(serde_json::json!({ "village_code": village, "name": "王秀英", "sex": "F", "birth_date": "1952-06-07",
                                          "id_number": id_number, "phone": phone }));
        // The same number where a number does not belong, and with a broken check character.
        let bad = op(serde_json::json!({ "village_code": village, "name": "王秀英", "sex": id_number, "birth_date": "1952-06-07",
                                         "id_number": format!("{}0", &id_number[..17]), "phone": phone }));
        let res = c
            .post(format!("{base}/api/v1/sync/push"))
            .bearer_auth(&token)
            .header("X-Sync-Protocol", "1")
            .json(&serde_json::json!({ "device_id": "log-check-01", "ops": [good, bad] }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let body = res.text().await.unwrap();
        assert!(!body.contains(&id_number[..17]) && !body.contains(phone), "responses do not echo them: {body}");
        let res = c
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": id_number, "password": 5, "device_id": "log-check-01" }))
            .send()
            .await
            .unwrap();
        let body = res.text().await.unwrap();
        assert!(!body.contains(&id_number[..17]), "{body}");
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(l) = rx.try_recv() {
        log.push(l);
    }
    let all = log.join("\n");
    assert!(all.contains("request_id"), "the log has request ids");
    assert!(!all.contains(&id_number[..17]), "an ID number reached the log");
    assert!(!all.contains(phone), "a phone number reached the log");
    drop_database(&pg);
}

/// Runs `jiayi serve` in demo mode on a fresh database, bound to `bind`, until it exits or
/// prints the line holding `until`; returns whether it exited and everything it printed.
fn demo_serve(bind: &str, extra: &[(&str, &str)], until: &str) -> (bool, String) {
    use std::io::{BufRead, BufReader};
    let (url, _dir, pg) = fresh_database();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.arg("serve")
        .env("DATABASE_URL", &url)
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
    drop(tx);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The readers end when the process does; a server still running is stopped here.
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(until);
                seen.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // A refusing server may still be on its way out after its last line.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let exited = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    drop_database(&pg);
    (exited, seen.join("\n"))
}

#[test]
fn demo_mode_refuses_a_network_address_unless_told_and_warns_of_forgeable_tokens() {
    let (exited, text) = demo_serve("0.0.0.0:0", &[], "JIAYI_DEMO_ALLOW_NETWORK");
    assert!(exited, "demo mode must not serve on every interface: {text}");
    assert!(
        text.contains("demo mode listens only on a loopback address") && text.contains("JIAYI_DEMO_ALLOW_NETWORK=1"),
        "the refusal says why and what to set: {text}"
    );
    let (exited, text) = demo_serve("0.0.0.0:0", &[("JIAYI_DEMO_ALLOW_NETWORK", "1")], "forge");
    assert!(!exited, "allowed explicitly, it serves: {text}");
    assert!(text.contains("anyone can forge them"), "the banner warns: {text}");
    let (exited, text) = demo_serve("127.0.0.1:0", &[], "forge");
    assert!(!exited && text.contains("anyone can forge them"), "{text}");
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
