//! `jiayi-sim`: simulated tablets against a running server, a sync storm, the ledger
//! check, the fault harness and the load test (docs/operations.md, "Load test before go-live").
//!
//! A round: a county administrator's bootstrap records the county as it was (the
//! baseline); N tablets log in on their own devices, bootstrap their team and work offline
//! for D days; then all of them push their queues at once (the storm), with whatever faults
//! the round injects, and pull; a second administrator bootstrap is checked against every
//! tablet's ledger (`ledger::check`).
//!
//! Tablets are devices of the county's team accounts (by default the demo county's team
//! leads `lead1`…`lead8`): tablet `i` uses account `users[(i / 2) % len]`, so tablets
//! `2m` and `2m + 1` are two devices of one team and edit the same residents.

pub mod client;
pub mod county;
pub mod gen;
pub mod harness;
pub mod ledger;
pub mod server;
pub mod tablet;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use client::{Net, Session, Stats};
use ledger::{DbFacts, Inventory, Report};
use tablet::{Faults, Tablet};

/// How a round runs.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    /// Name in reports and device ids (letters, digits, `-`).
    pub label: String,
    /// Server, `http://host:port`.
    pub base: String,
    /// Team accounts the tablets use.
    pub users: Vec<String>,
    /// Their password.
    pub password: String,
    /// A county administrator account (reads the county for the check).
    pub admin: String,
    /// Its password.
    pub admin_password: String,
    /// Tablets.
    pub tablets: usize,
    /// Offline days.
    pub days: u32,
    /// Records per tablet per day.
    pub ops_per_day: u32,
    /// Ops per push batch.
    pub batch: usize,
    /// Share of deliberately invalid records.
    pub invalid_rate: f64,
    /// The server's future-time allowance, seconds (`JIAYI_MAX_CLOCK_SKEW_SECS`).
    pub max_skew_secs: i64,
    /// Clock offsets, ms; tablet `i` takes `skews[i % len]` (empty: exact clocks).
    pub skews: Vec<i64>,
    /// Faults the tablets inject.
    pub faults: Faults,
    /// Show a progress bar.
    pub progress: bool,
    /// Distinguishes runs (ID numbers, device ids).
    pub run_key: u64,
    /// A tablet gives a request up after failing this long.
    pub give_up: Duration,
    /// Logins at once (each costs the server an argon2 verification).
    pub login_concurrency: usize,
    /// The server's process id, to note its peak memory after each phase.
    pub server_pid: Option<u32>,
    /// Further server processes on the same database (base URL and pid): tablet `i`
    /// talks to the `i % n`-th of the n processes, the first being `base`.
    pub more_servers: Vec<(String, Option<u32>)>,
}

impl RoundConfig {
    /// A small round against `base` with the demo county's accounts.
    pub fn demo(base: &str, label: &str) -> RoundConfig {
        RoundConfig {
            label: label.into(),
            base: base.into(),
            users: (1..=8).map(|i| format!("lead{i}")).collect(),
            password: jiayi::demo::DEMO_PASSWORD.into(),
            admin: "admin".into(),
            admin_password: jiayi::demo::DEMO_PASSWORD.into(),
            tablets: 4,
            days: 2,
            ops_per_day: 12,
            batch: 10,
            invalid_rate: 0.05,
            max_skew_secs: 600,
            skews: Vec::new(),
            faults: Faults::default(),
            progress: false,
            run_key: rand::random::<u32>() as u64,
            give_up: Duration::from_secs(180),
            login_concurrency: 8,
            server_pid: None,
            more_servers: Vec::new(),
        }
    }
}

/// Something done to the server while the storm runs (kill, database restart); it
/// returns what it did.
pub type MidStorm = Box<dyn FnOnce() -> Result<String, String> + Send>;

/// A finished round, ready to be checked.
pub struct Outcome {
    /// Label.
    pub label: String,
    /// The tablets and their ledgers.
    pub tablets: Vec<Tablet>,
    /// The county before.
    pub baseline: Inventory,
    /// The county after.
    pub after: Inventory,
    /// Wire counters.
    pub stats: Stats,
    /// Ops queued.
    pub ops: usize,
    /// Wall time of the storm (first push to last answer).
    pub storm: Duration,
    /// Wall time of the pulls after it.
    pub pull: Duration,
    /// What the mid-storm action did (None: it was not asked for).
    pub mid_storm: Option<Result<String, String>>,
    /// The server's peak resident memory (kB) after each phase, when its pid is known.
    pub phase_rss: Vec<(&'static str, u64)>,
    /// CPU seconds the server and the simulator itself had used by the end of each phase.
    pub phase_cpu: Vec<PhaseCpu>,
}

/// CPU used by the end of a phase (cumulative), and the wall clock then.
#[derive(Debug, Clone, Copy)]
pub struct PhaseCpu {
    /// Which phase just ended.
    pub phase: &'static str,
    /// Since the round started.
    pub wall: Duration,
    /// The server process's user + system seconds (0 when its pid is unknown).
    pub server: f64,
    /// This process's (the simulated tablets') user + system seconds.
    pub sim: f64,
}

impl PhaseCpu {
    /// What the server (`server_pid`) and this process have used by now.
    pub fn now(phase: &'static str, t0: Instant, server_pid: Option<u32>) -> PhaseCpu {
        PhaseCpu {
            phase,
            wall: t0.elapsed(),
            server: server_pid.and_then(server::process_cpu_secs).unwrap_or(0.0),
            sim: server::process_cpu_secs(std::process::id()).unwrap_or(0.0),
        }
    }
}

/// Runs `f` for every item, at most `n` at a time, keeping the order.
pub(crate) async fn bounded<T, F, Fut, R>(items: Vec<T>, n: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let sem = tokio::sync::Semaphore::new(n.max(1));
    let sem = &sem;
    let f = &f;
    join_all(items.into_iter().map(|it| async move {
        let _permit = sem.acquire().await.expect("semaphore open");
        f(it).await
    }))
    .await
}

/// Every live record of the county, read by the administrator account on a device of its
/// own (`suffix` tells the devices apart).
pub async fn county(cfg: &RoundConfig, suffix: &str) -> Result<Inventory, String> {
    let net = Net::new(&cfg.base, cfg.give_up)?;
    let device = format!("sim-{:x}-{}-admin-{suffix}", cfg.run_key, cfg.label);
    let mut admin = Session::login(net, &cfg.admin, &cfg.admin_password, &device).await?;
    read_county(&mut admin).await
}

/// Every live record the administrator's session `admin` reaches, page by page.
pub async fn read_county(admin: &mut Session) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    admin.bootstrap_pages(10_000, |page| inv.extend(page)).await?;
    Ok(inv)
}

/// Runs one round; `mid` fires once `fraction` of the ops are answered while a push is on
/// the wire.
pub async fn run_round(cfg: &RoundConfig, mid: Option<(f64, MidStorm)>) -> Result<Outcome, String> {
    let net = Net::new(&cfg.base, cfg.give_up)?;
    let key = format!("{:x}", cfg.run_key);
    let mut phase_rss = Vec::new();
    let mut phase_cpu = Vec::new();
    let round_t0 = Instant::now();
    let mut note = |phase: &'static str| {
        if let Some(kb) = cfg.server_pid.and_then(server::vm_hwm_kb) {
            phase_rss.push((phase, kb));
        }
        let mut cpu = PhaseCpu::now(phase, round_t0, cfg.server_pid);
        for pid in cfg.more_servers.iter().filter_map(|(_, p)| *p) {
            cpu.server += server::process_cpu_secs(pid).unwrap_or(0.0);
        }
        phase_cpu.push(cpu);
    };
    note("start");
    let baseline = county(cfg, "before").await?;
    let started: Vec<Result<Tablet, String>> = bounded((0..cfg.tablets).collect(), cfg.login_concurrency, |i| {
        let net = net.clone();
        let user = cfg.users[(i / 2) % cfg.users.len()].clone();
        let device = format!("sim-{key}-{}-{i:04}", cfg.label);
        let n = 1 + cfg.more_servers.len();
        let base = match i % n {
            0 => cfg.base.clone(),
            k => cfg.more_servers[k - 1].0.clone(),
        };
        async move { Tablet::start_at(net, &base, i, &user, &cfg.password, &device).await }
    })
    .await;
    let mut tablets = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    let now = chrono::Utc::now().timestamp_millis();
    for t in &mut tablets {
        let profile = gen::Profile {
            index: t.index,
            seed: cfg.run_key.wrapping_mul(1_000_003) ^ t.index as u64,
            team_id: String::new(),
            villages: Vec::new(),
            days: cfg.days,
            ops_per_day: cfg.ops_per_day,
            skew_ms: if cfg.skews.is_empty() {
                0
            } else {
                cfg.skews[t.index % cfg.skews.len()]
            },
            max_skew_ms: cfg.max_skew_secs * 1000,
            invalid_rate: cfg.invalid_rate,
            run_key: cfg.run_key,
        };
        t.plan(&profile, now);
    }
    note("logins and bootstraps");
    let ops: usize = tablets.iter().map(|t| t.ledger.len()).sum();
    let bar = if cfg.progress {
        ProgressBar::new(ops as u64)
    } else {
        ProgressBar::with_draw_target(Some(ops as u64), ProgressDrawTarget::hidden())
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} ops {per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(cfg.label.clone());
    let done = AtomicBool::new(false);
    let t0 = Instant::now();
    let storm = async {
        join_all(tablets.iter_mut().map(|t| {
            let faults = cfg.faults.clone();
            let seed = cfg.run_key ^ (t.index as u64).wrapping_mul(0x5851_f42d);
            async move { t.sync(cfg.batch, &faults, seed).await }
        }))
        .await;
        done.store(true, Ordering::SeqCst);
    };
    let watch = async {
        let mut mid = mid;
        let mut fired = None;
        loop {
            let acked = net.acked.load(Ordering::Relaxed);
            bar.set_position(acked as u64);
            if done.load(Ordering::SeqCst) {
                break;
            }
            let due = mid
                .as_ref()
                .is_some_and(|(f, _)| acked as f64 >= f * ops as f64 && net.in_flight.load(Ordering::SeqCst) > 0);
            if due {
                if let Some((_, action)) = mid.take() {
                    let on_wire = net.in_flight.load(Ordering::SeqCst);
                    let r = tokio::task::spawn_blocking(action)
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    let r = r.map(|m| format!("{m}, at {acked} of {ops} ops answered, {on_wire} push(es) on the wire"));
                    fired = Some(r);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        match (fired, mid) {
            (Some(r), _) => Some(r),
            (None, Some(_)) => Some(Err("the storm ended before the fault could be injected".into())),
            (None, None) => None,
        }
    };
    let ((), mid_storm) = tokio::join!(storm, watch);
    let storm = t0.elapsed();
    bar.finish_and_clear();
    note("storm");
    let t1 = Instant::now();
    join_all(tablets.iter_mut().map(|t| t.pull())).await;
    let pull = t1.elapsed();
    note("pulls");
    let after = county(cfg, "after").await?;
    note("county read");
    let stats = net.lock().clone();
    Ok(Outcome {
        label: cfg.label.clone(),
        tablets,
        baseline,
        after,
        stats,
        ops,
        storm,
        pull,
        mid_storm,
        phase_rss,
        phase_cpu,
    })
}

pub use jiayi_testkit::stats::{quantile, sorted};

/// "p50 … ms, p95 … ms, p99 … ms, max … ms" of latencies in ms, in any order.
fn spread(ms: &[f64]) -> String {
    let v = sorted(ms);
    format!(
        "p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        quantile(&v, 0.5),
        quantile(&v, 0.95),
        quantile(&v, 0.99),
        v.last().copied().unwrap_or(0.0),
    )
}

impl Outcome {
    /// Checks the server against the ledgers; with a pool, the database too.
    pub fn check(&self, pool: Option<&jiayi::db::Pool>) -> Result<Report, String> {
        let facts = match pool {
            Some(p) => {
                let mut ops = Vec::new();
                let mut conflicts = Vec::new();
                for t in &self.tablets {
                    let device = t.session.me["device_key"].as_str().unwrap_or_default();
                    for e in &t.ledger {
                        let op_id = e.planned.op["op_id"].as_str().unwrap_or_default();
                        ops.push((device.to_string(), op_id.to_string()));
                        if let Some(c) = e.result.as_ref().and_then(|r| r.conflict_id.clone()) {
                            conflicts.push(c);
                        }
                    }
                }
                Some(DbFacts::load(p, &ops, &conflicts)?)
            }
            None => None,
        };
        let mut report = ledger::check(&self.tablets, &self.baseline, &self.after, facts.as_ref());
        if let Some(Err(e)) = &self.mid_storm {
            report.discrepancies.push(ledger::Discrepancy {
                kind: "fault",
                entity: "-".into(),
                id: self.label.clone(),
                detail: e.clone(),
            });
        }
        Ok(report)
    }

    /// Throughput, latency and errors of the storm.
    pub fn summary(&self) -> String {
        let secs = self.storm.as_secs_f64().max(1e-9);
        let mut s = format!(
            "round {}: {} tablets, {} ops in {:.1} s ({:.0} ops/s); {} push requests, latency {}; pull {:.1} s\n",
            self.label,
            self.tablets.len(),
            self.ops,
            secs,
            self.ops as f64 / secs,
            self.stats.pushes,
            spread(&self.stats.push_ms),
            self.pull.as_secs_f64(),
        );
        if !self.stats.push_server_ms.is_empty() {
            s.push_str(&format!(
                "  the server's own time per answered push (Server-Timing: queue + apply): {}\n",
                spread(&self.stats.push_server_ms),
            ));
        }
        if !self.stats.push_apply_ms.is_empty() {
            // Summed over the storm's wall time: how many batches were being applied at
            // once on average (the turns are the most); below that, the server waited
            // for batches to arrive.
            let busy = self.stats.push_apply_ms.iter().sum::<f64>() / 1000.0;
            s.push_str(&format!(
                "  applying a batch (Server-Timing apply): {}; {:.1} batches applied at once on average\n",
                spread(&self.stats.push_apply_ms),
                busy / secs,
            ));
        }
        if !self.stats.push_until_answered_ms.is_empty() {
            s.push_str(&format!(
                "  from a batch's first attempt to its answer (refusals and retries included): {}\n",
                spread(&self.stats.push_until_answered_ms),
            ));
        }
        if !self.phase_rss.is_empty() {
            let list: Vec<String> = self
                .phase_rss
                .iter()
                .map(|(p, kb)| format!("{p} {:.0} MB", *kb as f64 / 1024.0))
                .collect();
            s.push_str(&format!("  server peak RSS after: {}\n", list.join(", ")));
        }
        for w in self.phase_cpu.windows(2) {
            let (a, b) = (w[0], w[1]);
            // (`jiayi-sim county` prints its push's CPU from its own probe, with PostgreSQL's.)
            if !matches!(b.phase, "storm" | "pulls") {
                continue;
            }
            let wall = (b.wall - a.wall).as_secs_f64().max(1e-9);
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
            s.push_str(&format!(
                "  CPU during the {}: server {:.1} s, simulator {:.1} s, of {:.1} s on {cores:.0} cores ({:.0} % busy)\n",
                b.phase,
                b.server - a.server,
                b.sim - a.sim,
                wall * cores,
                100.0 * ((b.server - a.server) + (b.sim - a.sim)) / (wall * cores),
            ));
        }
        if self.stats.by_server.len() > 1 {
            let total: f64 = self.stats.by_server.values().map(|(_, ms)| ms).sum::<f64>().max(1e-9);
            let list: Vec<String> = self
                .stats
                .by_server
                .iter()
                .map(|(base, (n, ms))| format!("{base} {n} pushes, {:.0} % of the apply time", 100.0 * ms / total))
                .collect();
            s.push_str(&format!("  by server process: {}\n", list.join("; ")));
        }
        if let Some(m) = &self.mid_storm {
            s.push_str(&format!("  during the storm: {}\n", m.as_ref().unwrap_or_else(|e| e)));
        }
        if self.stats.cut_off + self.stats.dropped > 0 {
            s.push_str(&format!(
                "  requests cut off half-way: {}, sent whole and hung up on: {}\n",
                self.stats.cut_off, self.stats.dropped
            ));
        }
        if self.stats.errors.is_empty() {
            s.push_str("  errors: none\n");
        } else {
            let list: Vec<String> = self.stats.errors.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            s.push_str(&format!("  errors (each retried): {}\n", list.join(", ")));
        }
        s
    }
}
