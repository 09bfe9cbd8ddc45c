//! Benchmark of the FHIR R4 bulk export on the county `jiayi-bench-reports` generates (not
//! a timed test): the real server in this process on that database, the county
//! administrator's whole-county export downloaded file by file, plain and then gzip.
//!
//! ```sh
//! cargo build --release -p jiayi-bench
//! target/release/jiayi-bench-reports --database-url sqlite:///tmp/bench.db --iterations 1
//! target/release/jiayi-bench-fhir --database-url sqlite:///tmp/bench.db
//! ```
//!
//! Prints per file the lines, the bytes and the time, the whole export's time and bytes,
//! and the process's resident memory before the export and at its highest during it
//! (`VmRSS` sampled every 20 ms; the client side only counts bytes, so it is the
//! server's), after the start-up warm-up of the report cache is over. Figures:
//! docs/benchmarks.md.

use std::time::Instant;

use clap::Parser;
use jiayi::config::Config;
use serde_json::Value;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Time the FHIR bulk export of the benchmark county")]
struct Args {
    /// The database `jiayi-bench-reports` filled.
    #[arg(long)]
    database_url: String,
    /// The region to export (the benchmark county by default).
    #[arg(long, default_value = "431199000000")]
    region: String,
    /// Seconds to wait after start-up before exporting, so the report cache's warm-up
    /// count (which runs at every start) is over and its memory is not the export's.
    #[arg(long, default_value_t = 30)]
    settle_secs: u64,
}

mod admin;

use admin::ensure_exporter;

/// A kilobyte figure of /proc/self/status (`VmHWM`, `VmRSS`).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Downloads one URL; returns (bytes, lines) as they arrive, holding none of them.
async fn fetch(client: &reqwest::Client, url: &str, token: &str, gzip: bool) -> Result<(u64, u64), String> {
    let mut req = client.get(url).bearer_auth(token);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let mut res = req.send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("{url}: {}", res.status()));
    }
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((bytes, lines))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    ensure_exporter(&args.database_url, &args.region)?;
    let mut config = Config::demo(args.database_url.clone());
    config.pool_size = 4;
    let app = jiayi::startup::Application::build(config).map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let token = admin::login(&client, &base, "bench-fhir").await?;
    tokio::time::sleep(std::time::Duration::from_secs(args.settle_secs)).await;
    let highest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let highest = highest.clone();
        tokio::spawn(async move {
            loop {
                highest.fetch_max(status_kb("VmRSS:"), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    for gzip in [false, true] {
        let before = status_kb("VmRSS:");
        highest.store(before, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        let manifest: Value = client
            .get(format!("{base}/api/v1/exports/fhir?region={}", args.region))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let files = manifest["output"].as_array().ok_or(format!("manifest: {manifest}"))?;
        let (mut total_bytes, mut total_lines) = (0u64, 0u64);
        println!("{} export of {}:", if gzip { "gzip" } else { "plain" }, args.region);
        for f in files {
            let ft = Instant::now();
            let url = format!("{base}{}", f["url"].as_str().unwrap_or_default());
            let (bytes, lines) = fetch(&client, &url, &token, gzip).await?;
            total_bytes += bytes;
            total_lines += lines;
            println!(
                "  {:<22} {:>9} lines {:>9.1} MB {:>7.1} s",
                f["type"].as_str().unwrap_or_default(),
                if gzip { "-".to_string() } else { lines.to_string() },
                bytes as f64 / 1e6,
                ft.elapsed().as_secs_f64()
            );
        }
        println!(
            "  total: {} resources, {:.1} MB, {:.1} s; RSS {:.0} MB before, {:.0} MB at most during it",
            if gzip { "-".to_string() } else { total_lines.to_string() },
            total_bytes as f64 / 1e6,
            t.elapsed().as_secs_f64(),
            before as f64 / 1024.0,
            highest.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
        );
    }
    sampler.abort();
    println!(
        "process peak RSS (VmHWM, start-up included): {:.0} MB",
        status_kb("VmHWM:") as f64 / 1024.0
    );
    Ok(())
}
