//! Benchmark of the first county report after a restart (not a timed test), on the county
//! `jiayi-bench-reports` generates: the real `jiayi serve` process started, the county's
//! report of the year its records are in (2025) asked for as soon as it answers, then stopped with SIGTERM — so the stop
//! keeps the report cache's counts (docs/operations.md, "Stopping and upgrading") — and
//! started again, `--restarts` times. The first start has no kept count (the table is
//! emptied before it): it counts the county, as every start did before counts were kept.
//!
//! ```sh
//! cargo build --release -p jiayi -p jiayi-bench
//! target/release/jiayi-bench-reports --database-url sqlite:///tmp/bench.db --iterations 1
//! target/release/jiayi-bench-restart --database-url sqlite:///tmp/bench.db --server-bin target/release/jiayi
//! ```
//!
//! Prints, per start, how long the process took to answer HTTP and how long the first
//! report took once it did, and the median of the starts with a kept count against the
//! start without one. Figures: docs/benchmarks.md.

mod admin;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clap::Parser;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Time the first county report after a restart")]
struct Args {
    /// The database `jiayi-bench-reports` filled.
    #[arg(long)]
    database_url: String,
    /// The `jiayi` binary to start (a release build).
    #[arg(long)]
    server_bin: String,
    /// The county (the benchmark county by default).
    #[arg(long, default_value = "431199000000")]
    region: String,
    /// The report's period: the benchmark county's year by default.
    #[arg(long, default_value = "2025")]
    period: String,
    /// Starts with a kept count, after the one without.
    #[arg(long, default_value_t = 5)]
    restarts: usize,
    /// The port the server listens on.
    #[arg(long, default_value_t = 18_571)]
    port: u16,
}

fn start(args: &Args) -> Result<Child, String> {
    Command::new(&args.server_bin)
        .arg("serve")
        .env("DATABASE_URL", &args.database_url)
        .env("JIAYI_MODE", "demo")
        .env("JIAYI_BIND", format!("127.0.0.1:{}", args.port))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", args.server_bin))
}

fn stop(child: &mut Child) -> Result<Duration, String> {
    let t = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    child.wait().map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

/// (time to answer HTTP, time of the first report once it does), in ms.
async fn first_report(args: &Args, client: &reqwest::Client) -> Result<(f64, f64), String> {
    let base = format!("http://127.0.0.1:{}", args.port);
    let t = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        if t.elapsed() > Duration::from_secs(120) {
            return Err("the server did not answer in 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let up = t.elapsed().as_secs_f64() * 1e3;
    let token = admin::login(client, &base, "bench-restart").await?;
    let t = Instant::now();
    let res = client
        .get(format!(
            "{base}/api/v1/reports/coverage?region={}&period={}",
            args.region, args.period
        ))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("report: {}", res.status()));
    }
    res.bytes().await.map_err(|e| e.to_string())?;
    Ok((up, t.elapsed().as_secs_f64() * 1e3))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    admin::ensure_exporter(&args.database_url, &args.region)?;
    {
        use diesel::prelude::*;
        let pool = jiayi::db::connect(&args.database_url, 1)?;
        let mut c = pool.get().map_err(|e| e.to_string())?;
        diesel::delete(jiayi::schema::report_snapshots::table)
            .execute(&mut *c)
            .map_err(|e| e.to_string())?;
    }
    let client = reqwest::Client::new();
    let mut kept = Vec::new();
    let mut counted = 0.0;
    for round in 0..=args.restarts {
        let mut child = start(&args)?;
        let (up, report) = match first_report(&args, &client).await {
            Ok(x) => x,
            Err(e) => {
                let _ = child.kill();
                return Err(e);
            }
        };
        let down = stop(&mut child)?;
        let what = if round == 0 { "no kept count" } else { "kept count" };
        println!(
            "start {round}: {what:<13} answers after {up:>7.0} ms, first report {report:>7.0} ms, stop {:>6.0} ms",
            down.as_secs_f64() * 1e3
        );
        if round == 0 {
            counted = report;
        } else {
            kept.push(report);
        }
    }
    let m = median(kept);
    println!(
        "first report after a restart: p50 {m:.0} ms with a kept count, {counted:.0} ms without ({:.1}x faster)",
        counted / m.max(0.001)
    );
    Ok(())
}
