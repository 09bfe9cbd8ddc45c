//! `jiayi-sim`: simulated tablets, the fault harness and the load test
//! (docs/operations.md, "Load test before go-live").
//!
//! ```sh
//! jiayi-sim run --url http://127.0.0.1:8080 --tablets 20 --days 3      # against a running server
//! jiayi-sim faults --server-bin target/release/jiayi                    # every fault, SQLite
//! jiayi-sim load --server-bin target/release/jiayi --tablets 500        # the sync storm
//! jiayi-sim load --servers 2 --database-url postgres://…/empty_db       # two processes, one database
//! jiayi-sim county --server-bin target/release/jiayi --teams 61         # a whole county
//! ```
//!
//! Exits non-zero when the ledger check finds anything lost, doubled or altered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jiayi_sim::county;
use jiayi_sim::harness::{self, ServerSetup};
use jiayi_sim::RoundConfig;

#[derive(Parser)]
#[command(
    name = "jiayi-sim",
    version,
    about = "Simulated tablets against a jiayi server: storm, faults, ledger check"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Round {
    /// Simulated tablets.
    #[arg(long, default_value_t = 20)]
    tablets: usize,
    /// Days each tablet works offline before the storm.
    #[arg(long, default_value_t = 3)]
    days: u32,
    /// Records each tablet makes a day.
    #[arg(long, default_value_t = 25)]
    ops_per_day: u32,
    /// Ops per push batch (a tablet's queue goes in batches of this size).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Share of deliberately invalid records (0–1).
    #[arg(long, default_value_t = 0.03)]
    invalid_rate: f64,
    /// Team accounts the tablets use, comma-separated (tablets 2m and 2m+1 share one).
    #[arg(long, default_value = "lead1,lead2,lead3,lead4,lead5,lead6,lead7,lead8")]
    users: String,
    /// Password of the team accounts.
    #[arg(long, default_value = "jiayi-demo", env = "JIAYI_SIM_PASSWORD")]
    password: String,
    /// A county administrator account, for reading the county in the check.
    #[arg(long, default_value = "admin")]
    admin: String,
    /// Its password.
    #[arg(long, default_value = "jiayi-demo", env = "JIAYI_SIM_ADMIN_PASSWORD")]
    admin_password: String,
    /// The server's JIAYI_MAX_CLOCK_SKEW_SECS.
    #[arg(long, default_value_t = 600)]
    max_skew_secs: i64,
    /// Give a request up after failing this many seconds.
    #[arg(long, default_value_t = 300)]
    give_up_secs: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct Server {
    /// The jiayi server binary to start.
    #[arg(long, default_value = "target/release/jiayi")]
    server_bin: PathBuf,
    /// An empty database for the server (postgres://… or sqlite://…); default: a SQLite file in --workdir.
    #[arg(long)]
    database_url: Option<String>,
    /// Working directory (server log, SQLite file); default: a new directory under /tmp.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Demo residents the server loads on first start.
    #[arg(long, default_value_t = 1000)]
    demo_residents: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Tablets against a running server (the county must be quiet: the check expects
    /// every new record to come from a simulated tablet).
    Run {
        /// The server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The server's database, for the deeper check (idempotency, quarantine, conflicts).
        #[arg(long)]
        database_url: Option<String>,
        /// Send every batch twice.
        #[arg(long)]
        double: bool,
        /// Send batches out of order.
        #[arg(long)]
        reorder: bool,
        /// Share of pushes whose answer is dropped (the tablet hangs up and retries).
        #[arg(long, default_value_t = 0.05)]
        drop_answer: f64,
        /// Share of pushes first cut off half-way.
        #[arg(long, default_value_t = 0.0)]
        cut_off: f64,
        /// Clock offsets in hours, comma-separated (tablet i takes the i-th, cyclically).
        #[arg(long, allow_hyphen_values = true)]
        skew_hours: Option<String>,
        #[command(flatten)]
        round: Round,
    },
    /// Starts the server and runs one round per fault, checking the ledger after each.
    Faults {
        /// Faults to run, comma-separated: none, drop, kill, pg-restart, double, reorder, skew, cut.
        #[arg(long, default_value = "none,drop,kill,pg-restart,double,reorder,skew,cut")]
        faults: String,
        /// Shell command that restarts PostgreSQL (for pg-restart).
        #[arg(long)]
        pg_restart_cmd: Option<String>,
        /// Server JIAYI_SYNC_RATE_PER_MINUTE (low enough that tablets meet 429).
        #[arg(long, default_value_t = 60)]
        rate_per_minute: u32,
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        round: Round,
    },
    /// Starts the server and runs the sync storm: throughput, latency, errors, peak RSS,
    /// the raw-insert comparison, and the ledger check.
    Load {
        /// Visit rows for the raw-insert comparison (at least the ops pushed).
        #[arg(long, default_value_t = 40_000)]
        raw_rows: usize,
        /// Logins at once.
        #[arg(long, default_value_t = 8)]
        login_concurrency: usize,
        /// Server processes on the one database (PostgreSQL only), tablets spread evenly
        /// over them, as a load balancer would.
        #[arg(long, default_value_t = 1)]
        servers: usize,
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        round: Round,
    },
    /// Starts the server on an empty county, makes `--teams` teams through the admin API,
    /// has each team's tablet register its share of `--residents` offline, then times
    /// every tablet pushing at once and the county report after it, checks the report
    /// against what the tablets stored, and runs the ledger check.
    County {
        /// The jiayi server binary to start.
        #[arg(long, default_value = "target/release/jiayi")]
        server_bin: PathBuf,
        /// An empty database for the server (postgres://… or sqlite://…); default: a SQLite file in --workdir.
        #[arg(long)]
        database_url: Option<String>,
        /// Working directory (server log, SQLite file); default: a new directory under /tmp.
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Teams, each with its villages, a team lead account and one tablet.
        #[arg(long, default_value_t = 61)]
        teams: usize,
        /// Residents the tablets register between them (about two ops each).
        #[arg(long, default_value_t = 398_000)]
        residents: usize,
        /// Ops per push batch.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Client threads the tablets share (each tablet is a task on them): the CPU the
        /// simulator may take beside the server, as client processes would.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Logins at once.
        #[arg(long, default_value_t = 8)]
        login_concurrency: usize,
        /// Give a request up after failing this many seconds.
        #[arg(long, default_value_t = 300)]
        give_up_secs: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn round_config(r: &Round, label: &str) -> RoundConfig {
    let mut c = RoundConfig::demo("", label);
    c.tablets = r.tablets;
    c.days = r.days;
    c.ops_per_day = r.ops_per_day;
    c.batch = r.batch.max(1);
    c.invalid_rate = r.invalid_rate;
    c.users = r
        .users
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    c.password = r.password.clone();
    c.admin = r.admin.clone();
    c.admin_password = r.admin_password.clone();
    c.max_skew_secs = r.max_skew_secs;
    c.give_up = Duration::from_secs(r.give_up_secs);
    c.progress = !r.quiet;
    c
}

fn setup(s: &Server, rate: u32, key: u64) -> ServerSetup {
    ServerSetup {
        server_bin: s.server_bin.clone(),
        database_url: s.database_url.clone(),
        workdir: s
            .workdir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("jiayi-sim-{key:x}"))),
        demo_residents: s.demo_residents,
        rate_per_minute: rate,
        env: Vec::new(),
    }
}

async fn main_async(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Run {
            url,
            database_url,
            double,
            reorder,
            drop_answer,
            cut_off,
            skew_hours,
            round,
        } => {
            let mut c = round_config(&round, "run");
            c.base = url;
            c.faults.double = double;
            c.faults.reorder = reorder;
            c.faults.drop_answer = drop_answer;
            c.faults.cut_off = cut_off;
            if let Some(s) = skew_hours {
                c.skews = s
                    .split(',')
                    .map(|h| h.trim().parse::<f64>().map(|h| (h * 3_600_000.0) as i64))
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--skew-hours: {e}"))?;
            }
            let pool = match &database_url {
                Some(u) => Some(jiayi::db::connect(u, 2)?),
                None => None,
            };
            let outcome = jiayi_sim::run_round(&c, None).await?;
            print!("{}", outcome.summary());
            let report = outcome.check(pool.as_ref())?;
            print!("{}", report.table());
            Ok(report.clean())
        }
        Command::Faults {
            faults,
            pg_restart_cmd,
            rate_per_minute,
            server,
            round,
        } => {
            let c = round_config(&round, "faults");
            let names: Vec<String> = faults.split(',').map(|s| s.trim().to_string()).collect();
            let s = setup(&server, rate_per_minute, c.run_key);
            harness::faults(&s, &c, &names, pg_restart_cmd.as_deref()).await
        }
        Command::Load {
            raw_rows,
            login_concurrency,
            servers,
            server,
            round,
        } => {
            let mut c = round_config(&round, "load");
            c.login_concurrency = login_concurrency;
            let s = setup(&server, 1_000_000, c.run_key);
            let f = harness::load(&s, &c, raw_rows, servers).await?;
            Ok(f.clean)
        }
        Command::County {
            server_bin,
            database_url,
            workdir,
            teams,
            residents,
            batch,
            clients: _,
            login_concurrency,
            give_up_secs,
            quiet,
        } => {
            let mut c = county::CountyConfig::new(teams, residents);
            c.batch = batch.max(1);
            c.login_concurrency = login_concurrency;
            c.give_up = Duration::from_secs(give_up_secs);
            c.progress = !quiet;
            let server = Server {
                server_bin,
                database_url,
                workdir,
                demo_residents: 0,
            };
            let s = setup(&server, 1_000_000, c.run_key);
            let f = county::county(&s, &c).await?;
            Ok(f.clean())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::County { clients, .. } = &cli.command {
        builder.worker_threads((*clients).max(1));
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jiayi-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("jiayi-sim: the ledger check (or the county report's check) found records lost, doubled, altered or miscounted");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("jiayi-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
