//! `jiayi-sim county`: a whole county through the sync API (docs/operations.md, "A county
//! at full scale"). A county of `teams` teams is made through the admin API; each team's
//! tablet logs in and registers its share of the county's residents offline, as on a
//! registration day (`gen::registration_day`). Then, timed, every tablet pushes its whole
//! queue at once in `batch`-op batches, retrying refusals as tablets do. Then the county
//! administrator asks for the county's coverage report (the first answer timed), which
//! must count what the tablets stored; then the tablets pull and the ledger check runs.

mod build;
mod probe;
mod report;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Datelike;
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiayi::reports::coverage::CoverageReport;
use reqwest::Method;

pub use build::{TeamAccount, MAX_TEAMS};
pub use probe::CpuUse;
pub use report::{team_mismatches, total_mismatches, Expected};

use crate::client::{Net, Session};
use crate::gen::{self, DayProfile};
use crate::harness::ServerSetup;
use crate::ledger::Report;
use crate::server::vm_hwm_kb;
use crate::tablet::{Faults, Tablet};
use crate::{bounded, quantile, read_county, sorted, Outcome};

/// How a county run goes.
#[derive(Debug, Clone)]
pub struct CountyConfig {
    /// Teams, one tablet each.
    pub teams: usize,
    /// Residents the county's tablets register between them.
    pub residents: usize,
    /// Ops per push batch.
    pub batch: usize,
    /// Password of the team lead accounts the run creates.
    pub password: String,
    /// The county administrator (the demo server's).
    pub admin: String,
    /// Its password.
    pub admin_password: String,
    /// Distinguishes runs (device ids, ID numbers).
    pub run_key: u64,
    /// A tablet gives a request up after failing this long.
    pub give_up: Duration,
    /// Logins at once (each costs the server an argon2 verification).
    pub login_concurrency: usize,
    /// Show a progress bar during the push.
    pub progress: bool,
}

impl CountyConfig {
    /// `teams` teams registering `residents` residents between them, in 500-op batches.
    pub fn new(teams: usize, residents: usize) -> CountyConfig {
        CountyConfig {
            teams,
            residents,
            batch: 500,
            password: "jiayi-county-lead".into(),
            admin: "admin".into(),
            admin_password: jiayi::demo::DEMO_PASSWORD.into(),
            run_key: rand::random::<u32>() as u64,
            give_up: Duration::from_secs(300),
            login_concurrency: 8,
            progress: false,
        }
    }

    /// The residents tablet `i` registers: an even share.
    fn share(&self, i: usize) -> usize {
        self.residents / self.teams + usize::from(i < self.residents % self.teams)
    }
}

/// The server a county run talks to.
pub struct Target<'a> {
    /// `http://host:port`.
    pub base: String,
    /// Its process id, for its memory and CPU time (None when it runs in this process).
    pub server_pid: Option<u32>,
    /// Its PostgreSQL database, for the probe of the backends (None on SQLite).
    pub pg_url: Option<String>,
    /// A pool on its database, for the ledger check's look-ups there.
    pub pool: Option<&'a jiayi::db::Pool>,
    /// `SQLite` or `PostgreSQL`, for the printout.
    pub backend: &'static str,
}

/// A county run's figures.
#[derive(Debug, Clone)]
pub struct CountyFigures {
    /// Teams (and tablets).
    pub teams: usize,
    /// Residents registered.
    pub residents: usize,
    /// Ops pushed.
    pub ops: usize,
    /// Making the county through the admin API.
    pub setup: Duration,
    /// The tablets' logins and bootstraps.
    pub logins: Duration,
    /// Generating the registration days.
    pub generation: Duration,
    /// The timed push: the first batch sent to the last answer received.
    pub push: Duration,
    /// Push requests answered.
    pub pushes: u64,
    /// Per answered push, ms, as the tablets saw it: p50, p95, p99.
    pub latency: [f64; 3],
    /// The server's own time (`Server-Timing`: wait for a turn + work), p50, p95, p99.
    pub server: [f64; 3],
    /// The server's work alone (`Server-Timing` apply), p50, p95, p99.
    pub apply: [f64; 3],
    /// The server's work summed over every answered push, s.
    pub apply_total: f64,
    /// From a batch's first attempt to its answer, refusals included, p50 and p99.
    pub until_answered: [f64; 2],
    /// Failed attempts by kind (refusals, connections lost), every one retried.
    pub refusals: BTreeMap<String, u64>,
    /// The server's peak resident memory when the push ended and at the end of the run, MB.
    pub peak_rss_mb: Option<(f64, f64)>,
    /// CPU use during the push.
    pub cpu: CpuUse,
    /// The county report by township: the first answer after the push.
    pub first_report: Duration,
    /// The county report by team, right after.
    pub team_report: Duration,
    /// The county report by township again (nothing written since).
    pub warm_report: Duration,
    /// Where the reports differ from what the tablets stored (empty: nowhere).
    pub report_mismatches: Vec<String>,
    /// Every tablet's pull after the report.
    pub pull: Duration,
    /// The ledger check.
    pub ledger: LedgerSummary,
}

/// What the ledger check found, in short.
#[derive(Debug, Clone, Default)]
pub struct LedgerSummary {
    /// Ops answered applied / conflict / rejected.
    pub applied: usize,
    /// Conflicts.
    pub conflict: usize,
    /// Rejected.
    pub rejected: usize,
    /// Discrepancies (lost, doubled, altered, unexpected, …).
    pub discrepancies: usize,
    /// Whether the database was read too.
    pub db_checked: bool,
}

impl LedgerSummary {
    fn of(r: &Report) -> LedgerSummary {
        let t = r.total();
        LedgerSummary {
            applied: t.applied,
            conflict: t.conflict,
            rejected: t.rejected,
            discrepancies: r.discrepancies.len(),
            db_checked: r.db_checked,
        }
    }
}

/// The push target of issue 17 for a backend, s.
pub fn target_secs(backend: &str) -> f64 {
    if backend == "PostgreSQL" {
        90.0
    } else {
        60.0
    }
}

impl CountyFigures {
    /// The report counted what the tablets stored and the ledger check found nothing.
    pub fn clean(&self) -> bool {
        self.report_mismatches.is_empty() && self.ledger.discrepancies == 0
    }

    /// Ops per second of the push.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.push.as_secs_f64().max(1e-9)
    }

    /// The result table.
    pub fn table(&self, backend: &str) -> String {
        let mut s = String::new();
        let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let trio = |v: &[f64; 3]| format!("{:.0} / {:.0} / {:.0} ms", v[0], v[1], v[2]);
        let _ = writeln!(
            s,
            "\ncounty on {backend}: {} teams, {} residents, {} ops ({:.2} a resident)",
            self.teams,
            self.residents,
            self.ops,
            self.ops as f64 / self.residents.max(1) as f64
        );
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "  {k:<44} {v}");
        };
        row("county made through the admin API", secs(self.setup));
        row("tablets logged in and bootstrapped", secs(self.logins));
        row("registration days generated", secs(self.generation));
        row(
            "PUSH, every tablet at once (timed)",
            format!("{} ({:.0} ops/s)", secs(self.push), self.ops_per_sec()),
        );
        row("  push requests answered", self.pushes.to_string());
        row("  batch latency p50 / p95 / p99, tablets", trio(&self.latency));
        row("  the server's own time p50 / p95 / p99", trio(&self.server));
        row("  of which applying p50 / p95 / p99", trio(&self.apply));
        row(
            "  applying summed over the push",
            format!(
                "{:.1} s ({:.2} batches applied at a time)",
                self.apply_total,
                self.apply_total / self.push.as_secs_f64().max(1e-9)
            ),
        );
        row(
            "  first attempt → answer p50 / p99",
            format!(
                "{:.1} / {:.1} s",
                self.until_answered[0] / 1000.0,
                self.until_answered[1] / 1000.0
            ),
        );
        let refused: u64 = self.refusals.values().sum();
        let kinds: Vec<String> = self.refusals.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        row(
            "  refusals and failed attempts (all retried)",
            if kinds.is_empty() {
                "none".into()
            } else {
                format!("{refused}: {}", kinds.join(", "))
            },
        );
        if let Some((push, end)) = self.peak_rss_mb {
            row(
                "  server peak RSS after the push / at the end",
                format!("{push:.0} / {end:.0} MB"),
            );
        }
        for l in self.cpu.lines() {
            row("  during the push", l);
        }
        row("FIRST county report by township", ms(self.first_report));
        row(
            "  then by team / by township again",
            format!("{} / {}", ms(self.team_report), ms(self.warm_report)),
        );
        row(
            "  its figures against what the tablets stored",
            if self.report_mismatches.is_empty() {
                "equal (residents, contracts, follow-ups, surveys; each team's contracts)".into()
            } else {
                format!("{} MISMATCHES", self.report_mismatches.len())
            },
        );
        row("every tablet's pull afterwards", secs(self.pull));
        let l = &self.ledger;
        row(
            "ledger check",
            format!(
                "{} applied, {} conflict, {} rejected; {} discrepancies{}",
                l.applied,
                l.conflict,
                l.rejected,
                l.discrepancies,
                if l.db_checked { " (API + database)" } else { " (API)" }
            ),
        );
        for m in &self.report_mismatches {
            let _ = writeln!(s, "  report: {m}");
        }
        let target = target_secs(backend);
        let took = self.push.as_secs_f64();
        let _ = writeln!(
            s,
            "target (issue 17): the county's push < {target:.0} s on {backend}: {}",
            if took < target {
                format!("met ({took:.1} s)")
            } else {
                format!(
                    "MISSED by {:.1} s ({took:.1} s, {:.2}× the target)",
                    took - target,
                    took / target
                )
            }
        );
        s
    }
}

/// Fills each tablet's queue with its registration day, on every core (untimed).
fn generate(tablets: &mut [Tablet], cfg: &CountyConfig, now_ms: i64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = tablets.len().div_ceil(cores).max(1);
    std::thread::scope(|s| {
        for part in tablets.chunks_mut(chunk) {
            s.spawn(move || {
                for t in part {
                    let profile = DayProfile {
                        index: t.index,
                        seed: cfg.run_key.wrapping_mul(1_000_003) ^ t.index as u64,
                        team_id: t.team_id.clone(),
                        villages: t.villages.clone(),
                        residents: cfg.share(t.index),
                        run_key: cfg.run_key,
                    };
                    t.queue(gen::registration_day(&profile, now_ms));
                }
            });
        }
    });
}

/// Every tablet pushes its whole queue at once; the tablets come back with their ledgers.
async fn push_all(tablets: Vec<Tablet>, net: &Net, batch: usize, bar: &ProgressBar) -> Result<Vec<Tablet>, String> {
    let handles: Vec<_> = tablets
        .into_iter()
        .map(|mut t| {
            // Each tablet a task of its own, so the runtime's threads (`--clients`) share them.
            tokio::spawn(async move {
                t.sync(batch, &Faults::default(), 0).await;
                t
            })
        })
        .collect();
    let done = AtomicBool::new(false);
    let all = async {
        let r = join_all(handles).await;
        done.store(true, Ordering::SeqCst);
        r
    };
    let watch = async {
        while !done.load(Ordering::SeqCst) {
            bar.set_position(net.acked.load(Ordering::Relaxed) as u64);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (results, ()) = tokio::join!(all, watch);
    bar.finish_and_clear();
    results
        .into_iter()
        .map(|r| r.map_err(|e| format!("a tablet's task failed: {e}")))
        .collect()
}

/// Asks for the county's coverage report; the report and how long the answer took.
async fn coverage(
    admin: &mut Session,
    county: &str,
    year: i32,
    group_by: &str,
) -> Result<(CoverageReport, Duration), String> {
    let path = format!("/api/v1/reports/coverage?region={county}&period={year}&group_by={group_by}");
    let t = Instant::now();
    let (v, _) = admin.call(Method::GET, &path, None).await?;
    let took = t.elapsed();
    let report = serde_json::from_value(v).map_err(|e| format!("the coverage report: {e}"))?;
    Ok((report, took))
}

fn three(v: &[f64]) -> [f64; 3] {
    let v = sorted(v);
    [quantile(&v, 0.5), quantile(&v, 0.95), quantile(&v, 0.99)]
}

/// Runs the county against a started server whose county has no residents yet.
pub async fn run(target: &Target<'_>, cfg: &CountyConfig) -> Result<CountyFigures, String> {
    if cfg.teams == 0 || cfg.residents < cfg.teams {
        return Err("a county needs at least one team and a resident per team".into());
    }
    if cfg.share(0) > gen::MAX_DAY_RESIDENTS {
        return Err(format!(
            "at most {} residents a team: raise --teams",
            gen::MAX_DAY_RESIDENTS
        ));
    }
    let net = Net::new(&target.base, cfg.give_up)?;
    let key = format!("{:x}", cfg.run_key);
    let mut phase_rss = Vec::new();
    let mut phase_cpu = Vec::new();
    let round_t0 = Instant::now();
    let mut note = |phase_rss: &mut Vec<(&'static str, u64)>, phase: &'static str| {
        if let Some(kb) = target.server_pid.and_then(vm_hwm_kb) {
            phase_rss.push((phase, kb));
        }
        phase_cpu.push(crate::PhaseCpu::now(phase, round_t0, target.server_pid));
    };
    let t = Instant::now();
    let admin_device = format!("sim-{key}-county-admin");
    let mut admin = Session::login(net.clone(), &cfg.admin, &cfg.admin_password, &admin_device).await?;
    let county = admin.me["region_code"]
        .as_str()
        .ok_or("the administrator's answer to /me has no region")?
        .to_string();
    let baseline = read_county(&mut admin).await?;
    if baseline.records.values().any(|(entity, _)| entity == "resident") {
        return Err("the county must start without residents (the server's JIAYI_DEMO_RESIDENTS=0)".into());
    }
    let accounts = build::build(&mut admin, &county, cfg.teams, &cfg.password).await?;
    let setup = t.elapsed();

    let t = Instant::now();
    let started = bounded(
        accounts.into_iter().enumerate().collect(),
        cfg.login_concurrency,
        |(i, a): (usize, TeamAccount)| {
            let net = net.clone();
            let device = format!("sim-{key}-county-{i:03}");
            async move { Tablet::start(net, i, &a.username, &cfg.password, &device).await }
        },
    )
    .await;
    let mut tablets = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    let logins = t.elapsed();
    note(&mut phase_rss, "county set up");

    let t = Instant::now();
    let now = chrono::Utc::now().timestamp_millis();
    generate(&mut tablets, cfg, now);
    let generation = t.elapsed();
    let ops: usize = tablets.iter().map(|t| t.ledger.len()).sum();
    println!(
        "county on {}: {} teams, {} residents, {ops} ops queued; set up {:.1} s, logins {:.1} s, generated {:.1} s; pushing",
        target.backend,
        cfg.teams,
        cfg.residents,
        setup.as_secs_f64(),
        logins.as_secs_f64(),
        generation.as_secs_f64()
    );

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
    bar.set_prefix("county");
    let probe = probe::Probe::start(target.server_pid, target.pg_url.as_deref(), Duration::from_millis(100))?;
    let t0 = Instant::now();
    let mut tablets = push_all(tablets, &net, cfg.batch.max(1), &bar).await?;
    let push = t0.elapsed();
    let cpu = probe.finish();
    note(&mut phase_rss, "push");
    let rss_push = target.server_pid.and_then(vm_hwm_kb);

    let year = jiayi_testkit::records::local_date(now - 5 * 60_000).year();
    let (by_township, first_report) = coverage(&mut admin, &county, year, "township").await?;
    let (by_team, team_report) = coverage(&mut admin, &county, year, "team").await?;
    let (_, warm_report) = coverage(&mut admin, &county, year, "township").await?;
    note(&mut phase_rss, "reports");
    let expected = Expected::from_tablets(&tablets);
    let mut report_mismatches = total_mismatches(&by_township, &expected);
    report_mismatches.extend(team_mismatches(&by_team, &expected));

    let t = Instant::now();
    join_all(tablets.iter_mut().map(|t| t.pull())).await;
    let pull = t.elapsed();
    note(&mut phase_rss, "pulls");
    let after = read_county(&mut admin).await?;
    note(&mut phase_rss, "county read");
    let stats = net.lock().clone();
    let outcome = Outcome {
        label: "county".into(),
        tablets,
        baseline,
        after,
        stats,
        ops,
        storm: push,
        pull,
        mid_storm: None,
        phase_rss,
        phase_cpu,
    };
    print!("{}", outcome.summary());
    let check = outcome.check(target.pool)?;
    print!("{}", check.table());
    let s = &outcome.stats;
    let rss_end = target.server_pid.and_then(vm_hwm_kb);
    let until = sorted(&s.push_until_answered_ms);
    Ok(CountyFigures {
        teams: cfg.teams,
        residents: cfg.residents,
        ops,
        setup,
        logins,
        generation,
        push,
        pushes: s.pushes,
        latency: three(&s.push_ms),
        server: three(&s.push_server_ms),
        apply: three(&s.push_apply_ms),
        apply_total: s.push_apply_ms.iter().sum::<f64>() / 1000.0,
        until_answered: [quantile(&until, 0.5), quantile(&until, 0.99)],
        refusals: s.errors.clone(),
        peak_rss_mb: rss_push
            .zip(rss_end)
            .map(|(a, b)| (a as f64 / 1024.0, b as f64 / 1024.0)),
        cpu,
        first_report,
        team_report,
        warm_report,
        report_mismatches,
        pull,
        ledger: LedgerSummary::of(&check),
    })
}

/// Starts the server on a fresh database with an empty demo county, runs the county on
/// it and prints the result table.
pub async fn county(setup: &ServerSetup, cfg: &CountyConfig) -> Result<CountyFigures, String> {
    let url = setup.url();
    let pg = jiayi::db::is_postgres_url(&url);
    let server = setup.start()?;
    let pool = jiayi::db::connect(&url, 2)?;
    let target = Target {
        base: server.base(),
        server_pid: server.pid(),
        pg_url: pg.then(|| url.clone()),
        pool: Some(&pool),
        backend: if pg { "PostgreSQL" } else { "SQLite" },
    };
    let figures = run(&target, cfg).await?;
    print!("{}", figures.table(target.backend));
    Ok(figures)
}
