//! The `jiayi` command line, run as a user would run it.

use std::process::Command;

use crate::helpers::{drop_database, fresh_database};

/// Runs the `jiayi` command with `env` (and without the caller's `DATABASE_URL` and
/// `JIAYI_MODE`) and waits for it.
pub(crate) fn jiayi(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
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
fn a_package_row_of_an_unknown_kind_is_refused_with_its_line() {
    let (url, _dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let regions = files.path().join("regions.csv");
    std::fs::write(&regions, "code,name\n431126000000,示范县\n").unwrap();
    let out = jiayi(
        &["import", "regions", regions.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = files.path().join("packages.csv");
    std::fs::write(
        &f,
        "county_code,code,name,kind,price_fen,self_pay_fen\n\
         431126000000,REHAB,康复护理包,personalised,8050,1025\n431126000000,ODD,大写包,Basic,100,0\n",
    )
    .unwrap();
    let out = jiayi(&["import", "packages", f.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a refused row makes the command fail: {text}");
    assert!(
        text.contains("line 3") && text.contains("invalid_package_kind"),
        "the refused row's line and code are reported: {text}"
    );
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
    let (url, _dir, pg) = fresh_database();
    let (mut child, rx) = crate::server_process::spawn_serve(&url, bind, extra);
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
