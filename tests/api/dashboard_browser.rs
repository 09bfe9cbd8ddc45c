//! The dashboard in a real browser: Debian's Chromium, headless, driven over the DevTools
//! protocol. The test logs in as the county administrator, waits for the report, and
//! checks that every indicator card shows the API's numbers; it saves a screenshot under
//! the test output directory. Without Chromium it fails (CI installs it), never skips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, DEMO_PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the page showed.
struct Seen {
    loaded: String,
    cards: Value,
    review: String,
    charts: Value,
    screenshot: PathBuf,
}

fn drive(base: &str) -> Result<Seen, String> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let args: Vec<&std::ffi::OsStr> = [
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(CHROMIUM)))
        .headless(true)
        .sandbox(false)
        .user_data_dir(Some(profile.path().to_path_buf()))
        .window_size(Some((1400, 2000)))
        .args(args)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let browser = Browser::new(options).map_err(|e| format!("cannot start Chromium: {e}"))?;
    let tab = browser.new_tab().map_err(|e| e.to_string())?;
    tab.set_default_timeout(Duration::from_secs(30));
    tab.navigate_to(base).map_err(|e| e.to_string())?;
    tab.wait_until_navigated().map_err(|e| e.to_string())?;
    tab.wait_for_element("#username")
        .map_err(|e| e.to_string())?
        .click()
        .map_err(|e| e.to_string())?;
    tab.type_str("admin").map_err(|e| e.to_string())?;
    tab.wait_for_element("#password")
        .map_err(|e| e.to_string())?
        .click()
        .map_err(|e| e.to_string())?;
    tab.type_str(DEMO_PASSWORD).map_err(|e| e.to_string())?;
    tab.wait_for_element("#login-button")
        .map_err(|e| e.to_string())?
        .click()
        .map_err(|e| e.to_string())?;
    // The page marks <body data-loaded="region/period/group_by"> once cards and charts are drawn.
    let deadline = Instant::now() + Duration::from_secs(30);
    let loaded = loop {
        let v = tab
            .evaluate("document.body.getAttribute('data-loaded') || ''", false)
            .map_err(|e| e.to_string())?;
        let s = v.value.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        if !s.is_empty() {
            break s;
        }
        if Instant::now() > deadline {
            let status = tab
                .evaluate("document.getElementById('status').textContent + ' / ' + document.getElementById('login-error').textContent", false)
                .ok()
                .and_then(|v| v.value)
                .unwrap_or_default();
            return Err(format!("the dashboard did not finish loading: {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |js: &str| -> Result<Value, String> {
        let v = tab.evaluate(js, false).map_err(|e| e.to_string())?;
        let text = v.value.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
    };
    let cards = read(
        "JSON.stringify(Array.from(document.querySelectorAll('[data-indicator]')).map(function (c) {
            function f(name) { var e = c.querySelector('[data-field=' + name + ']'); return e ? e.textContent : null; }
            return { id: c.getAttribute('data-indicator'), rate: f('rate'), numerator: f('numerator'), denominator: f('denominator') };
        }))",
    )?;
    let charts = read(
        "JSON.stringify({ bar: document.querySelectorAll('#bar-chart canvas').length,
                          trend: document.querySelectorAll('#trend-chart canvas').length,
                          title: document.getElementById('report-title').textContent })",
    )?;
    let review = tab
        .find_element("#review-count")
        .and_then(|e| e.get_inner_text())
        .map_err(|e| e.to_string())?;
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .map_err(|e| e.to_string())?;
    let dir = PathBuf::from(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("target/tmp"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let screenshot = dir.join("dashboard.png");
    std::fs::write(&screenshot, png).map_err(|e| e.to_string())?;
    Ok(Seen {
        loaded,
        cards,
        review,
        charts,
        screenshot,
    })
}

fn rate_text(rate: &Value) -> String {
    match rate.as_f64() {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "—".into(),
    }
}

/// A fresh machine has no browser: `cargo test` installs Debian's Chromium (and a CJK
/// font for the screenshot) once, as `.ci/run` does. Without it the test fails, never skips.
fn ensure_chromium() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if Path::new(CHROMIUM).exists() {
            return;
        }
        let status = std::process::Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei"])
            .status();
        eprintln!("installing Debian's chromium for the dashboard test: {status:?}");
    });
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is not installed at {CHROMIUM} and could not be installed: apt-get install -y chromium (as root)"
    );
}

/// A count as the console shows it: digits grouped in threes (`12,345`), as
/// `toLocaleString('zh-CN')` writes them.
fn int_text(v: &Value) -> String {
    let Some(n) = v.as_i64() else { return "—".into() };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_numbers_of_the_api() {
    ensure_chromium();
    let app = spawn_app().await;
    let base = app.base.clone();
    let seen = tokio::task::spawn_blocking(move || drive(&format!("{base}/")))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("driving Chromium: {e}"));
    eprintln!("dashboard screenshot: {}", seen.screenshot.display());

    // The same report through the API, as the same user.
    let admin = app.login("admin").await;
    let mut parts = seen.loaded.split('/');
    let (region, period, group_by) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(region, "431126000000", "an admin starts at the county");
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={region}&period={period}&group_by={group_by}"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    let dict: Vec<Value> = app
        .get(&admin, "/api/v1/reports/indicators")
        .await
        .json()
        .await
        .unwrap();
    let cards = seen.cards.as_array().unwrap();
    assert_eq!(cards.len(), dict.len(), "one card per indicator");
    let mut checked = 0;
    for card in cards {
        let id = card["id"].as_str().unwrap();
        let f = &report["total"]["indicators"][id];
        let kind = dict.iter().find(|d| d["id"] == id).unwrap()["kind"].clone();
        assert_eq!(card["numerator"], int_text(&f["numerator"]), "{id} numerator");
        if kind == "count" {
            assert_eq!(card["rate"], int_text(&f["numerator"]), "{id} count");
            assert!(card["denominator"].is_null(), "{id}: a count shows no denominator");
        } else {
            assert_eq!(card["denominator"], int_text(&f["denominator"]), "{id} denominator");
            assert_eq!(card["rate"], rate_text(&f["rate"]), "{id} rate");
        }
        checked += 1;
    }
    assert_eq!(checked, 34);
    for id in ["referrals_up", "referrals_down", "referrals_up_received_7d"] {
        assert!(cards.iter().any(|c| c["id"] == id), "a card for {id}");
    }
    assert!(
        report["total"]["indicators"]["signing_rate"]["numerator"]
            .as_i64()
            .unwrap()
            > 0,
        "the demo county has signings to show"
    );
    let review: Value = app.get(&admin, "/api/v1/review/count").await.json().await.unwrap();
    assert_eq!(
        seen.review,
        review["total"].as_i64().unwrap().to_string(),
        "review-queue count"
    );
    assert!(
        seen.charts["bar"].as_i64().unwrap() >= 1,
        "the bar chart is drawn: {}",
        seen.charts
    );
    assert!(
        seen.charts["trend"].as_i64().unwrap() >= 1,
        "the trend line is drawn: {}",
        seen.charts
    );
    assert!(
        seen.charts["title"].as_str().unwrap().contains("示范县"),
        "{}",
        seen.charts
    );
    let png = std::fs::read(&seen.screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
}
