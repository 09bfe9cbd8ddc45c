//! The field SDK's and the field app's browser suites (tests/field/*.test.mjs, Node with
//! playwright-core driving Debian's Chromium), each against the real app started here on
//! port 0 with its own database — SQLite, or PostgreSQL when DATABASE_URL says so. The
//! suites' npm packages are installed from tests/field/package-lock.json when missing.
//! Without Node or Chromium they fail, never skip (CI installs Chromium).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use crate::helpers::spawn_app;

/// One `npm ci` at a time, however many suites start together.
static NPM: Mutex<()> = Mutex::new(());

fn field_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/field"))
}

fn ensure_packages() {
    let _one = NPM.lock().unwrap_or_else(|p| p.into_inner());
    if field_dir().join("node_modules/playwright-core").is_dir() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(field_dir())
        .output()
        .expect("npm runs (Node.js and npm are needed for the field suites)");
    assert!(
        out.status.success(),
        "npm ci in tests/field failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one suite against a fresh app; panics with its output when it fails.
async fn run_suite(script: &str) {
    ensure_packages();
    let app = spawn_app().await;
    let base = app.base.clone();
    let script = field_dir().join(script);
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
    run_suite("sdk.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_app_suite_passes_in_chromium() {
    run_suite("app.test.mjs").await;
}
