//! A full disk on PostgreSQL: the residents table moved to a tablespace on a 2 MB tmpfs,
//! pushes until it is full. The push that finds it full answers 503 `storage_full` with
//! `Retry-After` and keeps none of its batch; every batch acknowledged before is whole;
//! once the table has room again, the same batch goes through. (SQLite's full disk:
//! `operations::a_push_that_finds_the_disk_full_answers_503_and_keeps_everything_acknowledged`.)
//!
//! The tmpfs is mounted by the test, so it needs root and the PostgreSQL server on this
//! machine, as CI has; elsewhere it says so and fails.

use std::process::Command;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, resident_op, spawn_app};

/// The tablespace and its mount, taken apart again whatever the test's outcome.
struct SmallDisk {
    dir: String,
    name: String,
    pool: jiayi::db::Pool,
}

impl SmallDisk {
    fn run(&self, sql: &str) -> QueryResult<usize> {
        let mut c = self.pool.get().expect("a connection");
        diesel::sql_query(sql).execute(&mut *c)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.run("ALTER TABLE residents SET TABLESPACE pg_default");
        let _ = self.run(&format!("DROP TABLESPACE IF EXISTS {}", self.name));
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {} (this test mounts a tmpfs: it needs root and the PostgreSQL server on this machine)",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn on_postgresql_a_push_that_finds_the_disk_full_answers_503_and_keeps_everything_acknowledged() {
    if !std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let app = spawn_app().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let dir = format!("/tmp/jiayi-full-{tag}");
    std::fs::create_dir_all(&dir).unwrap();
    sh("mount", &["-t", "tmpfs", "-o", "size=2m", "tmpfs", &dir]);
    let disk = SmallDisk {
        dir: dir.clone(),
        name: format!("jiayi_full_{tag}"),
        pool: app.state.pool.clone(),
    };
    sh("chown", &["postgres:postgres", &dir]);
    disk.run(&format!("CREATE TABLESPACE {} LOCATION '{dir}'", disk.name))
        .expect("a tablespace on the tmpfs");
    disk.run(&format!("ALTER TABLE residents SET TABLESPACE {}", disk.name))
        .unwrap();

    let doctor = app.login("doctor1").await;
    let village = app.villages(&doctor).await[0].clone();
    let count = |ids: &[String]| {
        let ids = ids.to_vec();
        app.db(move |c| {
            use jiayi::schema::residents;
            residents::table
                .filter(residents::id.eq_any(&ids))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
    };
    let mut acknowledged: Vec<String> = Vec::new();
    let mut refused = None;
    for round in 0..200 {
        let (ids, ops): (Vec<String>, Vec<Value>) = (0..300)
            .map(|i| {
                let birth = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).unwrap()
                    + chrono::Days::new((round * 300 + i) as u64 % 30_000);
                resident_op(&village, &birth.to_string(), if i % 2 == 0 { 'F' } else { 'M' }, &[])
            })
            .unzip();
        let res = app
            .client
            .post(app.url("/api/v1/sync/push"))
            .bearer_auth(&doctor.access)
            .header("X-Sync-Protocol", "1")
            .json(&serde_json::json!({ "device_id": doctor.device_id, "ops": ops }))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            let out: Value = res.json().await.unwrap();
            crate::helpers::assert_all_applied(&out);
            acknowledged.extend(ids);
            continue;
        }
        assert!(res.headers().contains_key("retry-after"), "503 says when to come back");
        assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "storage_full").await;
        refused = Some((ids, ops));
        break;
    }
    let (ids, ops) = refused.expect("the 2 MB tablespace fills up");
    assert!(!acknowledged.is_empty(), "some batches fitted before the disk was full");
    assert_eq!(count(&ids), 0, "nothing of the refused batch is kept");
    assert_eq!(
        count(&acknowledged),
        acknowledged.len() as i64,
        "everything acknowledged is there"
    );
    // Room again (the table back on the main disk): the tablet's replay goes through whole.
    disk.run("ALTER TABLE residents SET TABLESPACE pg_default").unwrap();
    app.push_applied(&doctor, ops).await;
    assert_eq!(count(&ids), 300);
    drop(disk);
}
