//! Configuration from the environment (README.md "Configuration", docs/operations.md).

use std::time::Duration;

/// How the server runs: `demo` loads a demo county into an empty database and accepts
/// built-in secrets; `production` refuses to start without real secrets and never loads demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Demo county, built-in secrets allowed.
    Demo,
    /// Real deployment.
    Production,
}

/// Everything the server needs to start.
#[derive(Clone)]
pub struct Config {
    /// `sqlite://path`, a file path, or `postgres://…`.
    pub database_url: String,
    /// Where reports read (`JIAYI_REPORT_DATABASE_URL`): a PostgreSQL read replica of
    /// `database_url`; `None` reads the main database on a pool of its own.
    pub report_database_url: Option<String>,
    /// Address to listen on, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub bind: String,
    /// Demo or production.
    pub mode: Mode,
    /// HMAC key for access tokens and pull cursors.
    pub jwt_secret: String,
    /// HMAC key for ID-number lookup hashes. Changing it orphans every stored hash.
    pub id_hash_secret: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_ttl: Duration,
    /// Failed logins of one (address, username) before its backoff starts.
    pub login_free_failures: u32,
    /// Failed logins on one username, from anywhere, before pairs that failed on it wait.
    pub login_free_failures_per_user: u32,
    /// Failed logins from one address, on usernames not known there, before those wait.
    pub login_free_failures_per_ip: u32,
    /// The longest login backoff.
    pub login_max_backoff: Duration,
    /// How long a spent refresh token may be presented again for the same answer.
    pub refresh_grace: Duration,
    /// Most ops in one push batch.
    pub max_batch_ops: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// How far in the future a clinical time may be before it is refused.
    pub max_clock_skew: Duration,
    /// Database connections in the pool.
    pub pool_size: u32,
    /// Number of residents the demo county gets.
    pub demo_residents: usize,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Sync requests (push, pull, bootstrap) a device may make per minute.
    pub sync_rate_per_minute: u32,
    /// Largest blob (signature image, photo) in bytes.
    pub max_blob_bytes: usize,
    /// Push batches applied at once (0: 2 on SQLite, half the pool on PostgreSQL).
    pub push_concurrency: usize,
    /// Push batches that may wait for a turn; more are answered 503 `server_busy`.
    pub push_queue: usize,
    /// Longest a push batch waits for a turn before it is answered 503 `server_busy`.
    pub push_queue_wait: Duration,
    /// Refused push ops one device may leave in quarantine per UTC day; beyond, they are
    /// answered `rejected` but not kept.
    pub quarantine_per_device_per_day: u32,
    /// How long an uploaded blob that no record names is kept before it is collected.
    pub blob_grace: Duration,
    /// How often a running server collects such blobs (start-up collects them too).
    pub blob_collect_every: Duration,
    /// The longest a report, work-list, review-queue or audit read may run before it is
    /// stopped and answered 503 `query_timeout`.
    pub report_timeout: Duration,
    /// How long shutdown (SIGTERM, SIGINT) lets requests in flight finish before their
    /// database statements are cancelled and the process exits.
    pub shutdown_grace: Duration,
    /// Rows written by pushes after which stale planner statistics are refreshed (0: never;
    /// start-up and imports refresh them all the same).
    pub analyze_every_rows: u64,
    /// SQLite: `full` (default) or `normal` (`JIAYI_SQLITE_SYNCHRONOUS`).
    pub sqlite_durability: Durability,
    /// Where Prometheus metrics are served (`JIAYI_METRICS_BIND`), apart from the API so
    /// they never face the tablets' network; `None` serves them nowhere.
    pub metrics_bind: Option<String>,
    /// Days after which an up-referral the receiving side has not confirmed shows as
    /// overdue on the team's work list (`JIAYI_REFERRAL_RECEIVE_DAYS`).
    pub referral_receive_days: u32,
}

/// How far a SQLite commit is on disk when it returns (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `FULL`: on disk; an acknowledged push survives a power cut (the default: a tablet
    /// drops what the server acknowledged).
    #[default]
    Full,
    /// `NORMAL`: survives a crash of the process, but a power cut or an OS crash may roll
    /// back the last commits (docs/operations.md, "Durability").
    Normal,
}

impl Durability {
    /// Reads `full` or `normal`.
    pub fn parse(s: &str) -> Option<Durability> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Some(Durability::Full),
            "normal" => Some(Durability::Normal),
            _ => None,
        }
    }
}

/// Where the embedded database lives unless `DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/jiayi.db";

/// `DATABASE_URL` or the embedded default: all that commands other than `serve` need.
pub fn database_url_from_env() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into())
}

/// The secret used when demo mode runs without one configured. Never valid in production.
pub const DEMO_SECRET: &str = "jiayi-demo-secret-not-for-production-use";

// Secrets stay out of debug output (and so out of logs).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.database_url.split_once('@') {
            Some((_, host)) => format!("…@{host}"),
            None => self.database_url.clone(),
        };
        f.debug_struct("Config")
            .field("database_url", &url)
            .field("bind", &self.bind)
            .field("mode", &self.mode)
            .field("jwt_secret", &"<redacted>")
            .field("id_hash_secret", &"<redacted>")
            .field("max_batch_ops", &self.max_batch_ops)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("pool_size", &self.pool_size)
            .field("quarantine_per_device_per_day", &self.quarantine_per_device_per_day)
            .finish_non_exhaustive()
    }
}

/// Is this listen address reachable from this machine only? `localhost` counts as
/// loopback; any other name is taken as reachable from the network.
pub fn is_loopback(bind: &str) -> bool {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => bind
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

/// A configuration problem that stops the server from starting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the configuration from `JIAYI_*` and `DATABASE_URL` environment variables.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the configuration from a variable lookup (the environment, or a map in tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let database_url = env("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let embedded = !is_postgres_url(&database_url);
        let mode = match env("JIAYI_MODE").as_deref() {
            None if embedded => Mode::Demo,
            None => Mode::Production,
            Some("demo") => Mode::Demo,
            Some("production") => Mode::Production,
            Some(other) => {
                return Err(ConfigError(format!(
                    "JIAYI_MODE must be demo or production, not {other:?}"
                )))
            }
        };
        let secret = |name: &str| -> Result<String, ConfigError> {
            match (env(name), mode) {
                (Some(s), Mode::Production) if s.len() < 32 || s == DEMO_SECRET => Err(ConfigError(format!(
                    "{name} must be at least 32 characters and not the demo secret"
                ))),
                (Some(s), _) => Ok(s),
                (None, Mode::Demo) => Ok(DEMO_SECRET.to_string()),
                (None, Mode::Production) => Err(ConfigError(format!("{name} is required in production mode"))),
            }
        };
        let num = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match env(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError(format!("{name} must be a whole number, not {v:?}"))),
            }
        };
        let report_database_url = env("JIAYI_REPORT_DATABASE_URL");
        if let Some(url) = &report_database_url {
            if !is_postgres_url(url) || !is_postgres_url(&database_url) {
                return Err(ConfigError(
                    "JIAYI_REPORT_DATABASE_URL names a PostgreSQL read replica and needs DATABASE_URL on PostgreSQL too"
                        .into(),
                ));
            }
        }
        let config = Config {
            database_url,
            report_database_url,
            bind: env("JIAYI_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            mode,
            jwt_secret: secret("JIAYI_JWT_SECRET")?,
            id_hash_secret: secret("JIAYI_ID_HASH_SECRET")?,
            access_ttl: Duration::from_secs(num("JIAYI_ACCESS_TTL_SECS", 15 * 60)?),
            refresh_ttl: Duration::from_secs(num("JIAYI_REFRESH_TTL_SECS", 30 * 24 * 3600)?),
            login_free_failures: num("JIAYI_LOGIN_FREE_FAILURES", 5)? as u32,
            login_free_failures_per_user: num("JIAYI_LOGIN_FREE_FAILURES_PER_USER", 20)? as u32,
            login_free_failures_per_ip: num("JIAYI_LOGIN_FREE_FAILURES_PER_IP", 30)? as u32,
            login_max_backoff: Duration::from_secs(num("JIAYI_LOGIN_MAX_BACKOFF_SECS", 15 * 60)?),
            refresh_grace: Duration::from_secs(num("JIAYI_REFRESH_GRACE_SECS", 30)?),
            max_batch_ops: num("JIAYI_MAX_BATCH_OPS", 1000)? as usize,
            max_body_bytes: num("JIAYI_MAX_BODY_BYTES", 16 * 1024 * 1024)? as usize,
            max_clock_skew: Duration::from_secs(num("JIAYI_MAX_CLOCK_SKEW_SECS", 10 * 60)?),
            pool_size: num("JIAYI_POOL_SIZE", 8)? as u32,
            demo_residents: num("JIAYI_DEMO_RESIDENTS", 4000)? as usize,
            workers: num("JIAYI_WORKERS", 0)? as usize,
            sync_rate_per_minute: num("JIAYI_SYNC_RATE_PER_MINUTE", 120)? as u32,
            max_blob_bytes: num("JIAYI_MAX_BLOB_BYTES", 5 * 1024 * 1024)? as usize,
            push_concurrency: num("JIAYI_PUSH_CONCURRENCY", 0)? as usize,
            push_queue: num("JIAYI_PUSH_QUEUE", 16)? as usize,
            push_queue_wait: Duration::from_millis(num("JIAYI_PUSH_QUEUE_WAIT_MS", 250)?),
            quarantine_per_device_per_day: num("JIAYI_QUARANTINE_PER_DEVICE_PER_DAY", 500)? as u32,
            blob_grace: Duration::from_secs(num("JIAYI_BLOB_GRACE_SECS", 30 * 24 * 3600)?),
            blob_collect_every: Duration::from_secs(num("JIAYI_BLOB_COLLECT_EVERY_SECS", 6 * 3600)?.max(1)),
            report_timeout: Duration::from_secs(num("JIAYI_REPORT_TIMEOUT_SECS", 30)?.max(1)),
            shutdown_grace: Duration::from_secs(num("JIAYI_SHUTDOWN_GRACE_SECS", 10)?),
            analyze_every_rows: num("JIAYI_ANALYZE_EVERY_ROWS", 20_000)?,
            sqlite_durability: match env("JIAYI_SQLITE_SYNCHRONOUS") {
                None => Durability::Full,
                Some(v) => Durability::parse(&v).ok_or_else(|| {
                    ConfigError(format!("JIAYI_SQLITE_SYNCHRONOUS must be full or normal, not {v:?}"))
                })?,
            },
            metrics_bind: env("JIAYI_METRICS_BIND"),
            referral_receive_days: u32::try_from(num("JIAYI_REFERRAL_RECEIVE_DAYS", 7)?)
                .map_err(|_| ConfigError("JIAYI_REFERRAL_RECEIVE_DAYS is too large".into()))?,
        };
        if config.metrics_bind.as_deref() == Some(config.bind.as_str()) {
            return Err(ConfigError(
                "JIAYI_METRICS_BIND must differ from JIAYI_BIND: metrics are served apart from the API".into(),
            ));
        }
        // Demo tokens are signed with a secret anyone can read in the source, and the demo
        // logins are printed: on a network, anyone could act as any demo user.
        let allowed = matches!(env("JIAYI_DEMO_ALLOW_NETWORK").as_deref(), Some("1" | "true" | "yes"));
        if config.mode == Mode::Demo && !is_loopback(&config.bind) && !allowed {
            return Err(ConfigError(format!(
                "demo mode listens only on a loopback address, not JIAYI_BIND={}: its tokens are signed with a public \
                 secret and its logins are public. Run JIAYI_MODE=production with real secrets, or set \
                 JIAYI_DEMO_ALLOW_NETWORK=1 to expose the demo anyway",
                config.bind
            )));
        }
        Ok(config)
    }

    /// A demo-mode configuration on the given database, for tests and tools.
    pub fn demo(database_url: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            report_database_url: None,
            bind: "127.0.0.1:0".into(),
            mode: Mode::Demo,
            jwt_secret: DEMO_SECRET.into(),
            id_hash_secret: DEMO_SECRET.into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_free_failures: 5,
            login_free_failures_per_user: 20,
            login_free_failures_per_ip: 30,
            login_max_backoff: Duration::from_secs(15 * 60),
            refresh_grace: Duration::from_secs(30),
            max_batch_ops: 1000,
            max_body_bytes: 16 * 1024 * 1024,
            max_clock_skew: Duration::from_secs(10 * 60),
            pool_size: 4,
            demo_residents: 4000,
            workers: 2,
            sync_rate_per_minute: 600,
            max_blob_bytes: 5 * 1024 * 1024,
            push_concurrency: 0,
            push_queue: 16,
            push_queue_wait: Duration::from_millis(250),
            quarantine_per_device_per_day: 500,
            blob_grace: Duration::from_secs(30 * 24 * 3600),
            blob_collect_every: Duration::from_secs(6 * 3600),
            report_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            analyze_every_rows: 20_000,
            sqlite_durability: Durability::Full,
            metrics_bind: None,
            referral_receive_days: 7,
        }
    }

    /// Push batches applied at once: the configured number, or 2 on SQLite (one writes
    /// while the next is checked) and on PostgreSQL half the pool (the rest serves pulls
    /// and the other endpoints) but no more than this machine's cores: more batches than
    /// cores only share them, which in a 500-tablet storm on two cores left throughput
    /// as it was and lengthened the slowest answers (docs/benchmarks.md).
    pub fn push_turns(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        match self.push_concurrency {
            0 if is_postgres_url(&self.database_url) => (self.pool_size as usize / 2).min(cores).max(2),
            0 => 2,
            n => n,
        }
    }
}

/// True when the URL names a PostgreSQL server.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn the_embedded_database_defaults_to_demo_mode() {
        let c = with(&[]).unwrap();
        assert_eq!(c.mode, Mode::Demo);
        assert_eq!(c.database_url, "sqlite://data/jiayi.db");
        assert_eq!(c.jwt_secret, DEMO_SECRET);
    }

    #[test]
    fn production_refuses_to_start_without_real_secrets() {
        let pg = ("DATABASE_URL", "postgres://db/jiayi");
        assert_eq!(
            with(&[pg]).unwrap_err().0,
            "JIAYI_JWT_SECRET is required in production mode"
        );
        let short = with(&[pg, ("JIAYI_JWT_SECRET", "short"), ("JIAYI_ID_HASH_SECRET", "short")]).unwrap_err();
        assert!(short.0.contains("at least 32"));
        let demo = with(&[("JIAYI_MODE", "production"), ("JIAYI_JWT_SECRET", DEMO_SECRET)]).unwrap_err();
        assert!(demo.0.contains("JIAYI_JWT_SECRET"));
        let long = "x".repeat(40);
        let ok = with(&[pg, ("JIAYI_JWT_SECRET", &long), ("JIAYI_ID_HASH_SECRET", &long)]).unwrap();
        assert_eq!(ok.mode, Mode::Production);
    }

    #[test]
    fn reports_may_read_a_postgres_replica() {
        let pg = ("DATABASE_URL", "postgres://primary/jiayi");
        let long = "x".repeat(40);
        let secrets = [
            ("JIAYI_JWT_SECRET", long.as_str()),
            ("JIAYI_ID_HASH_SECRET", long.as_str()),
        ];
        let c = with(&[pg, secrets[0], secrets[1]]).unwrap();
        assert_eq!(c.report_database_url, None);
        let replica = ("JIAYI_REPORT_DATABASE_URL", "postgres://replica/jiayi");
        let c = with(&[pg, secrets[0], secrets[1], replica]).unwrap();
        assert_eq!(c.report_database_url.as_deref(), Some("postgres://replica/jiayi"));
        let e = with(&[replica]).unwrap_err();
        assert!(e.0.contains("JIAYI_REPORT_DATABASE_URL"), "{}", e.0);
    }

    #[test]
    fn push_turns_follow_the_backend_the_pool_and_the_cores() {
        let long = "x".repeat(40);
        let pg = [
            ("DATABASE_URL", "postgres://db/jiayi"),
            ("JIAYI_JWT_SECRET", long.as_str()),
            ("JIAYI_ID_HASH_SECRET", long.as_str()),
        ];
        let cores = std::thread::available_parallelism().unwrap().get();
        let turns = |extra: &[(&str, &str)]| with(&[&pg[..], extra].concat()).unwrap().push_turns();
        assert_eq!(turns(&[("JIAYI_POOL_SIZE", "64")]), cores.clamp(2, 32));
        assert_eq!(turns(&[("JIAYI_POOL_SIZE", "2")]), 2, "never fewer than two");
        assert_eq!(turns(&[("JIAYI_POOL_SIZE", "64"), ("JIAYI_PUSH_CONCURRENCY", "7")]), 7);
        assert_eq!(with(&[]).unwrap().push_turns(), 2, "SQLite: one writes, one is checked");
    }

    #[test]
    fn demo_mode_stays_on_loopback_unless_allowed() {
        for bind in ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:0"] {
            assert!(with(&[("JIAYI_BIND", bind)]).is_ok(), "{bind}");
        }
        for bind in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:8080", "jiayi.example:8080"] {
            let e = with(&[("JIAYI_BIND", bind)]).unwrap_err();
            assert!(e.0.contains("JIAYI_DEMO_ALLOW_NETWORK"), "{bind}: {}", e.0);
            let ok = with(&[("JIAYI_BIND", bind), ("JIAYI_DEMO_ALLOW_NETWORK", "1")]).unwrap();
            assert_eq!(ok.mode, Mode::Demo);
        }
        let long = "x".repeat(40);
        let production = with(&[
            ("JIAYI_MODE", "production"),
            ("JIAYI_BIND", "0.0.0.0:8080"),
            ("JIAYI_JWT_SECRET", &long),
            ("JIAYI_ID_HASH_SECRET", &long),
        ]);
        assert!(production.is_ok(), "production mode binds where it is told");
    }

    #[test]
    fn bad_values_are_named() {
        assert!(with(&[("JIAYI_MODE", "test")]).unwrap_err().0.contains("JIAYI_MODE"));
        assert!(with(&[("JIAYI_POOL_SIZE", "many")])
            .unwrap_err()
            .0
            .contains("JIAYI_POOL_SIZE"));
    }
}
