//! The fault harness and the load test: both start the server binary themselves (so it
//! can be killed and restarted, and its memory read), run storms, and check the ledger
//! after each.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::server::{shell, ServerProcess};
use super::{quantile, run_round, sorted, MidStorm, RoundConfig};

/// Every fault the harness knows, in the order it runs them.
pub const FAULTS: [&str; 8] = ["none", "drop", "kill", "pg-restart", "double", "reorder", "skew", "cut"];

/// What the harness and the load test share.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    /// The `jiayi` binary.
    pub server_bin: PathBuf,
    /// Database (`sqlite://…` or `postgres://…`, empty); None: a SQLite file in `workdir`.
    pub database_url: Option<String>,
    /// Working directory (server log, SQLite file).
    pub workdir: PathBuf,
    /// Demo residents loaded on first start.
    pub demo_residents: usize,
    /// `JIAYI_SYNC_RATE_PER_MINUTE`.
    pub rate_per_minute: u32,
    /// Extra server environment.
    pub env: Vec<(String, String)>,
}

impl ServerSetup {
    /// The database URL the server gets.
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/sim.db", self.workdir.display()))
    }

    /// Starts the server on it and waits until it is ready.
    pub fn start(&self) -> Result<ServerProcess, String> {
        self.start_logging_to("server.log")
    }

    /// [`ServerSetup::start`], the server's log going to `log` in the working directory
    /// (each of several processes on one database has its own).
    pub fn start_logging_to(&self, log: &str) -> Result<ServerProcess, String> {
        std::fs::create_dir_all(&self.workdir).map_err(|e| format!("{}: {e}", self.workdir.display()))?;
        let mut env = vec![
            ("JIAYI_DEMO_RESIDENTS", self.demo_residents.to_string()),
            ("JIAYI_SYNC_RATE_PER_MINUTE", self.rate_per_minute.to_string()),
            // JIAYI_SIM_SERVER_LOG sets the server's RUST_LOG (e.g. `warn,jiayi=info`).
            (
                "RUST_LOG",
                std::env::var("JIAYI_SIM_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let log = self.workdir.join(log);
        let mut server = ServerProcess::new(self.server_bin.clone(), &self.url(), &env, log)?;
        server.start()?;
        Ok(server)
    }
}

/// Runs each named fault as its own round on one server; true when every check is clean.
pub async fn faults(
    setup: &ServerSetup,
    round: &RoundConfig,
    names: &[String],
    pg_restart: Option<&str>,
) -> Result<bool, String> {
    let pg = jiayi::db::is_postgres_url(&setup.url());
    let server = Arc::new(Mutex::new(setup.start()?));
    let base = server.lock().map_err(|e| e.to_string())?.base();
    let pool = jiayi::db::connect(&setup.url(), 2)?;
    println!(
        "fault harness: server {} on {}, {} tablets × {} days × {} records a day per round",
        setup.server_bin.display(),
        if pg { "PostgreSQL" } else { "SQLite" },
        round.tablets,
        round.days,
        round.ops_per_day
    );
    let mut clean = true;
    for (i, name) in names.iter().enumerate() {
        let mut cfg = round.clone();
        cfg.base = base.clone();
        cfg.label = name.clone();
        // A key per round, not per fault: a fault asked for twice must register other
        // people the second time (the same ID numbers would rightly answer `conflict`).
        cfg.run_key = round.run_key.wrapping_add(i as u64);
        let mut mid: Option<(f64, MidStorm)> = None;
        match name.as_str() {
            "none" => {}
            // Answers lost on the way back: the tablet retries, the server answers the first verdict again.
            "drop" => cfg.faults.drop_answer = 0.4,
            "kill" => {
                let s = server.clone();
                mid = Some((
                    0.3,
                    Box::new(move || {
                        let mut s = s.lock().map_err(|e| e.to_string())?;
                        s.kill9();
                        std::thread::sleep(Duration::from_millis(500));
                        s.start()?;
                        Ok(format!(
                            "server killed with SIGKILL and restarted (start #{})",
                            s.starts
                        ))
                    }),
                ));
            }
            "pg-restart" if !pg => {
                println!("\n== pg-restart: skipped, the server runs on SQLite");
                continue;
            }
            "pg-restart" => {
                let cmd = pg_restart
                    .ok_or("the pg-restart fault needs --pg-restart-cmd (e.g. pg_ctlcluster --skip-systemctl-redirect 15 main restart)")?
                    .to_string();
                let s = server.clone();
                mid = Some((
                    0.3,
                    Box::new(move || {
                        shell(&cmd)?;
                        s.lock()
                            .map_err(|e| e.to_string())?
                            .wait_ready(Duration::from_secs(60))?;
                        Ok(format!("PostgreSQL restarted ({cmd})"))
                    }),
                ));
            }
            "double" => cfg.faults.double = true,
            "reorder" => {
                cfg.faults.reorder = true;
                cfg.batch = cfg.batch.min(((cfg.days * cfg.ops_per_day) as usize / 4).max(2));
            }
            "skew" => {
                let h = 3_600_000;
                // Behind by two days or seven hours (accepted), ahead by five minutes
                // (within the limit), ahead by three hours or two days (recent work refused
                // as future_timestamp and quarantined).
                cfg.skews = vec![-48 * h, 3 * h, -7 * h, 48 * h, 5 * 60_000, 0];
            }
            "cut" => cfg.faults.cut_off = 0.5,
            other => return Err(format!("unknown fault {other:?}; known: {}", FAULTS.join(", "))),
        }
        println!("\n== {name}");
        let outcome = run_round(&cfg, mid).await?;
        print!("{}", outcome.summary());
        let report = outcome.check(Some(&pool))?;
        print!("{}", report.table());
        if report.clean() {
            println!("ledger check: 0 lost, 0 doubled, 0 altered");
        } else {
            println!("ledger check FAILED: {} discrepancies", report.discrepancies.len());
            clean = false;
        }
    }
    Ok(clean)
}

/// The load test's figures.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    /// Ops pushed.
    pub ops: usize,
    /// Storm ops per second.
    pub ops_per_sec: f64,
    /// Push latency p50 / p95 / p99, ms.
    pub p50: f64,
    /// p95.
    pub p95: f64,
    /// p99.
    pub p99: f64,
    /// p99 of the server's own time per answered push (`Server-Timing`), ms.
    pub server_p99: f64,
    /// Server peak RSS, MB.
    pub peak_rss_mb: f64,
    /// Raw insert rows per second.
    pub raw_rows_per_sec: f64,
    /// Whether the ledger check was clean.
    pub clean: bool,
}

/// 500 tablets (or as many as asked) after days offline, pushing at once, then pulling.
pub async fn load(
    setup: &ServerSetup,
    round: &RoundConfig,
    raw_rows: usize,
    servers: usize,
) -> Result<LoadFigures, String> {
    let url = setup.url();
    let pg = jiayi::db::is_postgres_url(&url);
    if servers > 1 && !pg {
        return Err("several server processes share a PostgreSQL database; SQLite is served by one".into());
    }
    // The first start migrates and loads the demo county; the others find it done.
    let server = setup.start()?;
    let more = (2..=servers.max(1))
        .map(|k| setup.start_logging_to(&format!("server-{k}.log")))
        .collect::<Result<Vec<_>, _>>()?;
    let pool = jiayi::db::connect(&url, 2)?;
    let mut cfg = round.clone();
    cfg.base = server.base();
    cfg.server_pid = server.pid();
    cfg.more_servers = more.iter().map(|s| (s.base(), s.pid())).collect();
    let rss_after_start = server.peak_rss_kb();
    println!(
        "load: {} tablets × {} offline days × {} records a day, batches of up to {} ops, {}{} (server peak RSS after start {:.0} MB)",
        cfg.tablets,
        cfg.days,
        cfg.ops_per_day,
        cfg.batch,
        if pg { "PostgreSQL" } else { "SQLite" },
        if servers > 1 { format!(", {servers} server processes on it, tablets spread evenly") } else { String::new() },
        rss_after_start as f64 / 1024.0
    );
    let outcome = run_round(&cfg, None).await?;
    // Memory is per process: the figure is the largest of them.
    let peak = more
        .iter()
        .map(|s| s.peak_rss_kb())
        .fold(server.peak_rss_kb(), u64::max);
    print!("{}", outcome.summary());
    let report = outcome.check(Some(&pool))?;
    print!("{}", report.table());
    let lat = sorted(&outcome.stats.push_ms);
    let server_lat = sorted(&outcome.stats.push_server_ms);
    let ops_per_sec = outcome.ops as f64 / outcome.storm.as_secs_f64().max(1e-9);
    drop(server);
    drop(more);
    let raw = jiayi_testkit::raw::insert_visits(&url, raw_rows.max(outcome.ops))?;
    jiayi_testkit::raw::remove_raw_rows(&url)?;
    let figures = LoadFigures {
        ops: outcome.ops,
        ops_per_sec,
        p50: quantile(&lat, 0.5),
        p95: quantile(&lat, 0.95),
        p99: quantile(&lat, 0.99),
        server_p99: quantile(&server_lat, 0.99),
        peak_rss_mb: peak as f64 / 1024.0,
        raw_rows_per_sec: raw,
        clean: report.clean(),
    };
    println!(
        "server peak RSS (VmHWM) {:.0} MB; raw insert of visit rows into the same database {:.0} rows/s; push/raw = {:.1} %",
        figures.peak_rss_mb,
        figures.raw_rows_per_sec,
        100.0 * figures.ops_per_sec / figures.raw_rows_per_sec
    );
    let met = |ms: f64| if ms < 500.0 { "met" } else { "MISSED" };
    println!(
        "targets: p99 push < 500 ms: {} as the tablets saw it ({:.0} ms), {} in the server ({:.0} ms); 0 lost: {}; peak RSS < 200 MB: {} ({:.0} MB)",
        met(figures.p99),
        figures.p99,
        met(figures.server_p99),
        figures.server_p99,
        if figures.clean { "met" } else { "MISSED" },
        if figures.peak_rss_mb < 200.0 { "met" } else { "MISSED" },
        figures.peak_rss_mb
    );
    Ok(figures)
}
