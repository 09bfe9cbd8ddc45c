//! The tablet simulator (`jiayi_sim`) against the real app: a storm with faults keeps
//! every record, and the ledger check is able to see a record lost, doubled or altered.

use diesel::prelude::*;
use jiayi::schema::{survey_responses, visits};
use jiayi_sim::{self as sim, RoundConfig};

use jiayi_testkit::spawn_app;

fn round(base: &str, label: &str, tablets: usize) -> RoundConfig {
    let mut c = RoundConfig::demo(base, label);
    c.tablets = tablets;
    c.days = 2;
    c.ops_per_day = 10;
    c.batch = 6;
    c
}

#[tokio::test]
async fn a_storm_with_replays_drops_cuts_and_skewed_clocks_keeps_every_record() {
    let app = spawn_app().await;
    let mut c = round(&app.base, "storm", 4);
    c.faults.double = true;
    c.faults.drop_answer = 0.3;
    c.faults.cut_off = 0.3;
    c.invalid_rate = 0.1;
    // Tablet 1 runs three hours ahead: its most recent work is refused as future_timestamp.
    c.skews = vec![-7 * 3_600_000, 3 * 3_600_000, 0, 5 * 60_000];
    let outcome = sim::run_round(&c, None).await.expect("round runs");
    let report = outcome.check(Some(&app.state.pool)).expect("check runs");
    assert!(report.clean(), "{}", report.table());
    let total = report.total();
    assert_eq!(total.sent, outcome.ops);
    assert_eq!(total.applied + total.conflict + total.rejected, total.sent);
    // Each pair of tablets clashes on one resident and registers one person twice.
    assert_eq!(total.conflict, 4, "{}", report.table());
    assert!(total.rejected > 0, "future and invalid records are refused");
    assert!(outcome.stats.cut_off + outcome.stats.dropped > 0);
    let pushed_twice = outcome.stats.pushes;
    let batches: usize = outcome.tablets.iter().map(|t| t.ledger.len().div_ceil(6)).sum();
    assert_eq!(pushed_twice as usize, 2 * batches, "every batch went twice");
}

/// A county behind a load balancer: tablets spread over two server processes on one
/// PostgreSQL database (`jiayi-sim load --servers 2`). Every record is kept once, as with
/// one process, and both processes did part of the work. SQLite is served by one process.
#[tokio::test]
async fn tablets_spread_over_two_server_processes_keep_every_record_once() {
    if !std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let app = spawn_app().await;
    let other = app.beside().await;
    let mut c = round(&app.base, "two", 6);
    c.more_servers = vec![(other.base.clone(), None)];
    let outcome = sim::run_round(&c, None).await.expect("round runs");
    let report = outcome.check(Some(&app.state.pool)).expect("check runs");
    assert!(report.clean(), "{}", report.table());
    assert_eq!(report.total().sent, outcome.ops);
    let by_server = &outcome.stats.by_server;
    assert_eq!(by_server.len(), 2, "{by_server:?}");
    for base in [&app.base, &other.base] {
        let (pushes, _) = by_server.get(base.as_str()).copied().unwrap_or_default();
        assert!(pushes > 0, "{base} answered no push: {by_server:?}");
    }
    assert!(outcome.summary().contains("by server process"));
}

#[tokio::test]
async fn the_ledger_check_names_a_lost_a_doubled_and_an_altered_record() {
    let app = spawn_app().await;
    let mut c = round(&app.base, "tamper", 2);
    c.invalid_rate = 0.0;
    let mut outcome = sim::run_round(&c, None).await.expect("round runs");
    assert!(outcome.check(Some(&app.state.pool)).unwrap().clean());
    let sent = |entity: &str| -> Vec<String> {
        outcome
            .tablets
            .iter()
            .flat_map(|t| &t.ledger)
            .filter(|e| e.planned.op["entity"] == entity && e.planned.op["action"] == "create")
            .filter(|e| {
                e.result
                    .as_ref()
                    .is_some_and(|r| r.status == jiayi::sync::push::OpStatus::Applied)
            })
            .map(|e| e.planned.op["id"].as_str().unwrap().to_string())
            .collect()
    };
    let visits_sent = sent("visit");
    let surveys_sent = sent("survey");
    assert!(visits_sent.len() >= 2 && !surveys_sent.is_empty());
    let (lost, copied, altered) = (&visits_sent[0], &visits_sent[1], &surveys_sent[0]);
    let phantom = uuid::Uuid::now_v7().to_string();
    app.db(|conn| {
        diesel::delete(visits::table.find(lost)).execute(conn).unwrap();
        diesel::sql_query(format!(
            "INSERT INTO visits (id, county_code, village_code, resident_id, team_id, kind, occurred_at, occurred_on, \
             measurements, version, deleted, created_at, change_seq, created_by) \
             SELECT '{phantom}', county_code, village_code, resident_id, team_id, kind, occurred_at, occurred_on, \
             measurements, version, deleted, created_at, change_seq, created_by FROM visits WHERE id = '{copied}'"
        ))
        .execute(conn)
        .unwrap();
        diesel::update(survey_responses::table.find(altered))
            .set(survey_responses::answers.eq(r#"{"satisfaction":"very_dissatisfied","awareness":"unaware"}"#))
            .execute(conn)
            .unwrap();
    });
    outcome.after = sim::county(&c, "again").await.unwrap();
    let report = outcome.check(Some(&app.state.pool)).unwrap();
    assert!(!report.clean());
    let found = |kind: &str, id: &str| report.discrepancies.iter().any(|d| d.kind == kind && d.id == *id);
    assert!(found("lost", lost), "{}", report.table());
    assert!(found("doubled", &phantom), "{}", report.table());
    assert!(found("altered", altered), "{}", report.table());
    assert_eq!(report.rows["visit"].lost, 1);
    assert_eq!(report.rows["visit"].doubled, 1);
    assert_eq!(report.rows["survey"].altered, 1);
    assert_eq!(report.discrepancies.len(), 3, "{}", report.table());
}
