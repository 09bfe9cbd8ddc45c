//! The browser suites written in JavaScript — the field SDK's and the field app's
//! (tests/field/*.test.mjs) and the console's (tests/console/console.test.mjs), Node with
//! playwright-core driving Debian's Chromium — each against the real app started here on
//! port 0 with its own database — SQLite, or PostgreSQL when DATABASE_URL says so. Each
//! suite's npm packages are installed from its package-lock.json when missing. Without
//! Node or Chromium they fail, never skip (CI installs Chromium).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::helpers::{add_package, spawn_app, TestApp};
use jiayi::demo::COUNTY_CODE;

/// One `npm ci` at a time, however many suites start together.
static NPM: Mutex<()> = Mutex::new(());

/// `tests/<suite>`, where a suite's scripts and package.json are.
fn suite_dir(suite: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(suite)
}

pub(crate) fn ensure_packages(suite: &str) {
    let _one = NPM.lock().unwrap_or_else(|p| p.into_inner());
    if suite_dir(suite).join("node_modules/playwright-core").is_dir() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(suite_dir(suite))
        .output()
        .expect("npm runs (Node.js and npm are needed for the browser suites)");
    assert!(
        out.status.success(),
        "npm ci in tests/{suite} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/<suite>/<script>` against a fresh app, after `prepare` set its database
/// up; panics with the script's output when it fails.
async fn run_suite(suite: &str, script: &str, prepare: fn(&TestApp)) {
    ensure_packages(suite);
    let app = spawn_app().await;
    prepare(&app);
    let base = app.base.clone();
    let script = suite_dir(suite).join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&base)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the suite failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_sdk_suite_passes_in_chromium() {
    run_suite("field", "sdk.test.mjs", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_app_suite_passes_in_chromium() {
    run_suite("field", "app.test.mjs", county_packages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_suite_passes_in_chromium() {
    run_suite("console", "console.test.mjs", |_| {}).await;
}

/// The county's own catalog beside the seeded one, as `jiayi import packages` leaves it: a
/// package the tablet can only know from the server, and a retired one it must not offer
/// (tests/field/app.test.mjs signs with the first and looks for the second).
fn county_packages(app: &TestApp) {
    add_package(app, COUNTY_CODE, "REHAB", "康复护理包", "personalised", true);
    add_package(app, COUNTY_CODE, "OLDCARE", "旧版慢病包", "personalised", false);
}
