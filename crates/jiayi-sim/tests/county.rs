//! `jiayi-sim county` in small against the real app: a county made through the admin API,
//! every team's tablet pushing its registration day at once, the county report counting
//! exactly what the tablets stored, and a clean ledger check.

use jiayi_sim::county::{self, CountyConfig, Target};
use jiayi_testkit::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_county_pushes_every_team_and_its_report_counts_what_the_tablets_stored() {
    let app = spawn_app_with(|c| {
        c.demo_residents = 0;
        c.sync_rate_per_minute = 1_000_000;
    })
    .await;
    let pg = jiayi::db::is_postgres_url(&app.state.config.database_url);
    let target = Target {
        base: app.base.clone(),
        server_pid: None,
        pg_url: None,
        pool: Some(&app.state.pool),
        backend: if pg { "PostgreSQL" } else { "SQLite" },
    };
    let mut cfg = CountyConfig::new(3, 450);
    // Several batches a tablet, so the push interleaves the teams.
    cfg.batch = 50;
    let f = county::run(&target, &cfg).await.expect("the county runs");
    let table = f.table(target.backend);
    assert!(f.clean(), "{table}");
    assert!(f.report_mismatches.is_empty(), "{table}");
    assert_eq!((f.teams, f.residents), (3, 450));
    assert_eq!(f.ledger.applied, f.ops, "every op stored: {table}");
    assert_eq!((f.ledger.conflict, f.ledger.rejected), (0, 0), "{table}");
    assert!(f.ledger.db_checked);
    let per_resident = f.ops as f64 / 450.0;
    assert!((1.8..2.3).contains(&per_resident), "{per_resident}");
    assert!(f.pushes as usize >= f.ops.div_ceil(50), "{table}");
    assert!(table.contains("target (issue 17)"), "{table}");
}
