//! Per-test databases copied from a template: the first test of a process that needs the
//! demo county migrates a database and loads the county once; every later test gets a copy
//! (a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL) instead of
//! migrating and seeding afresh. Templates are keyed by what seeding depends on, so a test
//! that changes the county's size gets a template of its own (docs/benchmarks.md, "Test
//! suite time", has the saving).

use std::path::PathBuf;
use std::sync::Mutex;

use diesel::RunQueryDsl;
use jiayi::config::{Config, Mode};
use uuid::Uuid;

/// What the seeded database depends on.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    residents: usize,
    id_hash_secret: String,
    postgres: Option<String>,
}

/// A seeded database to copy from.
enum Template {
    /// The SQLite file (its directory lives as long as the process).
    Sqlite(PathBuf, #[allow(dead_code)] tempfile::TempDir),
    /// A PostgreSQL database on the server under test.
    Postgres(String),
}

/// Templates made so far, and the lock that serialises copies: PostgreSQL refuses to copy
/// a template another session is connected to, copying included.
static TEMPLATES: Mutex<Vec<(Key, Template)>> = Mutex::new(Vec::new());

/// Whether tests copy templates: on unless `JIAYI_TEST_TEMPLATES=0` (to measure the
/// saving, or to rule templates out when a test misbehaves).
fn enabled() -> bool {
    std::env::var("JIAYI_TEST_TEMPLATES").map_or(true, |v| v != "0")
}

/// A fresh database for a test, copied from the template for `config`'s seeding
/// settings on the backend under test (`DATABASE_URL`): its URL and what keeps it alive,
/// as `fresh_database` answers. `None` when no template applies (production mode,
/// templates off): the test then takes an empty database the app migrates and seeds.
pub fn database_for(config: &Config) -> Option<crate::app::FreshDatabase> {
    if config.mode != Mode::Demo || !enabled() {
        return None;
    }
    let postgres = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    let key = Key {
        residents: config.demo_residents,
        id_hash_secret: config.id_hash_secret.clone(),
        postgres,
    };
    let mut templates = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    if !templates.iter().any(|(k, _)| *k == key) {
        let t = make(config, &key);
        templates.push((key.clone(), t));
    }
    let (_, template) = templates.iter().find(|(k, _)| *k == key).unwrap();
    Some(match (template, &key.postgres) {
        (Template::Sqlite(file, _), None) => {
            let dir = tempfile::tempdir().expect("temp dir");
            let dest = dir.path().join("jiayi.db");
            std::fs::copy(file, &dest).expect("copy the template database");
            let wal = file.with_extension("db-wal");
            if wal.exists() {
                std::fs::copy(&wal, dir.path().join("jiayi.db-wal")).expect("copy the template's WAL");
            }
            (format!("sqlite://{}", dest.display()), Some(dir), None)
        }
        (Template::Postgres(name), Some(admin_url)) => {
            let fresh = format!("jiayi_test_{}", Uuid::new_v4().simple());
            let mut admin = jiayi::db::establish_pg(admin_url).expect("PostgreSQL reachable");
            diesel::sql_query(format!("CREATE DATABASE {fresh} TEMPLATE {name}"))
                .execute(&mut admin)
                .expect("copy the template database");
            let base = admin_url.rsplit_once('/').expect("a database URL with a path").0;
            (format!("{base}/{fresh}"), None, Some((admin_url.clone(), fresh)))
        }
        _ => unreachable!("a template of the other backend"),
    })
}

/// Migrates a new database, seeds the catalog and loads the demo county into it, then
/// closes every connection to it.
fn make(config: &Config, key: &Key) -> Template {
    let (url, template) = match &key.postgres {
        Some(admin_url) => {
            let name = format!("jiayi_test_tpl_{}", Uuid::new_v4().simple());
            let mut admin = jiayi::db::establish_pg(admin_url).expect("PostgreSQL reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create the template database");
            let base = admin_url.rsplit_once('/').expect("a database URL with a path").0;
            (format!("{base}/{name}"), Template::Postgres(name))
        }
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("template.db");
            (format!("sqlite://{}", file.display()), Template::Sqlite(file, dir))
        }
    };
    {
        let pool = jiayi::db::connect(&url, 2).expect("template database");
        let mut c = pool.get().expect("connection");
        jiayi::db::write_tx(&mut c, jiayi::domain::catalog::ensure).expect("catalog");
        drop(c);
        let mut seeded = config.clone();
        seeded.database_url = url.clone();
        jiayi::demo::load_if_empty(&pool, &seeded).expect("demo county");
        // Dropping the pool closes every connection: SQLite folds its WAL into the file,
        // PostgreSQL lets the template be copied.
    }
    template
}
