//! The restore drill of docs/operations.md ("After a restore") with real tablets: the
//! field SDK in Chromium (tests/field/restore.drill.mjs) against `jiayi serve`, a
//! `jiayi backup` taken between their syncs, the server stopped, the backup put in place
//! of its database as the operator does it, and the server started again on the same
//! address. Every record the server acknowledged must be back on it exactly once.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use serde_json::Value;

use crate::cli::jiayi;
use crate::helpers::{drop_database, fresh_database};
use crate::server_process::serve_at;

/// Runs one phase of the drill's browser side; answers its last line (JSON).
fn phase(base: &str, name: &str, dir: &Path) -> Value {
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/field/restore.drill.mjs"))
        .args([base, name])
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "phase {name} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// How many rows of `entity` carry `id` in the SQLite database at `url`.
fn rows(url: &str, entity: &str, id: &str) -> i64 {
    use jiayi::schema::{residents, visits};
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    match entity {
        "resident" => residents::table
            .filter(residents::id.eq(id))
            .count()
            .get_result(&mut *c),
        "visit" => visits::table.filter(visits::id.eq(id)).count().get_result(&mut *c),
        other => panic!("{other}"),
    }
    .unwrap()
}

/// Residents and visits in the database, with the version of `resident`.
fn totals(url: &str, resident: &str) -> (i64, i64, i64) {
    use jiayi::schema::{residents, visits};
    let pool = jiayi::db::open(url, 1).unwrap();
    let mut c = pool.get().unwrap();
    let all: i64 = residents::table.count().get_result(&mut *c).unwrap();
    let v: i64 = visits::table.count().get_result(&mut *c).unwrap();
    let version: i64 = residents::table
        .find(resident)
        .select(residents::version)
        .first(&mut *c)
        .unwrap();
    (all, v, version)
}

/// The `[entity, id]` pairs of the drill's list `key`.
fn listed<'a>(state: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    state[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {state}"))
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect()
}

/// One tablet's first sync on the restored server re-synced and sent `resent` ops again,
/// `restored` of them lost by the server; its second sync was an ordinary one.
fn check_tablet(out: &Value, name: &str, resent: i64, restored: i64) {
    let t = &out[name];
    let first = &t["first"]["summary"];
    assert_eq!(t["first"]["ok"], true, "{name}: {t}");
    assert_eq!(first["resynced"], true, "{name}: the restore is noticed: {t}");
    assert_eq!(
        (first["resent"].as_i64(), first["restored"].as_i64()),
        (Some(resent), Some(restored)),
        "{name}: resent, restored: {t}"
    );
    assert_eq!(
        t["restores"].as_array().map(Vec::len),
        Some(1),
        "{name}: one 'restore' event: {t}"
    );
    assert_eq!(t["restores"][0]["restored"].as_i64(), Some(restored), "{name}: {t}");
    let second = &t["second"]["summary"];
    assert_eq!(t["second"]["ok"], true, "{name}: {t}");
    assert_eq!(
        (second["resynced"].as_bool(), second["resent"].as_i64()),
        (Some(false), Some(0)),
        "{name}: the next sync is an ordinary one: {t}"
    );
}

/// Tablet A synced after the backup point (its cursor is past it); tablet B's pushes were
/// acknowledged after it but its pull failed, so its cursor is from before it and only
/// its checkpoint tells it of the restore. Both send again what they had been answered;
/// the restored server ends up with every acknowledged record once and nothing doubled.
#[test]
fn after_a_restore_the_tablets_send_again_what_the_server_lost_and_each_record_is_there_once() {
    let (url, dir, pg) = fresh_database();
    if pg.is_some() {
        // pg_dump and pg_restore are the operator's tools there (docs/operations.md).
        drop_database(&pg);
        return;
    }
    crate::browser_suites::ensure_packages("field");
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup.db");
    let mut server = serve_at(&url, "127.0.0.1:0", &[]);
    let base = server.base.clone();
    phase(&base, "before", work.path());
    let out = jiayi(&["backup", backup.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state = phase(&base, "after", work.path());
    server.terminate(std::time::Duration::from_secs(10));

    // The restore, as docs/operations.md has the operator do it.
    let db = Path::new(url.strip_prefix("sqlite://").unwrap());
    let broken = db.with_extension("db.broken");
    std::fs::rename(db, &broken).unwrap();
    for suffix in ["-wal", "-shm"] {
        let side = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", broken.display())).unwrap();
        }
    }
    std::fs::copy(&backup, db).unwrap();
    let broken_url = format!("sqlite://{}", broken.display());
    let (kept, lost_a, lost_b) = (listed(&state, "kept"), listed(&state, "lostA"), listed(&state, "lostB"));
    for (entity, id) in lost_a.iter().chain(&lost_b) {
        assert_eq!(rows(&url, entity, id), 0, "the backup lacks {entity} {id}");
        assert_eq!(rows(&broken_url, entity, id), 1, "the server had {entity} {id}");
    }
    let edited = kept[0].1;
    let before_restore = totals(&broken_url, edited);

    let port = base.rsplit(':').next().unwrap();
    let mut restored = serve_at(&url, &format!("127.0.0.1:{port}"), &[]);
    assert_eq!(
        restored.base, base,
        "the same address: the tablets' pages keep their data"
    );
    let out = phase(&base, "restored", work.path());
    // A: its 2 kept ops answered duplicate, the 4 lost ones (3 records and an edit) taken
    // again. B: its 2 lost ops taken again.
    check_tablet(&out, "a", 6, 4);
    check_tablet(&out, "b", 2, 2);
    restored.terminate(std::time::Duration::from_secs(10));
    for (entity, id) in kept.iter().chain(&lost_a).chain(&lost_b) {
        assert_eq!(rows(&url, entity, id), 1, "{entity} {id} once");
    }
    assert_eq!(
        totals(&url, edited),
        before_restore,
        "residents, visits and the edited resident's version as the server had them before the restore"
    );
    drop(dir);
}
