//! The ledger (docs/architecture.md, "The ledger"): an applied op leaves one row that is
//! its change, its record for replays and its audit entry; an op that changed nothing keeps
//! its record in `applied_ops`; the migration moves records both ways and replays are
//! answered with the first verdict on either side of it.

use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{op, resident_op, spawn_app, spawn_app_with, TestApp};
use jiayi::schema::{applied_ops, audit_log, ledger};

/// The ledger migration's version, as diesel names it.
const LEDGER_MIGRATION: &str = "20261204000005";

/// (ledger rows carrying a record, rows in applied_ops, audit_log rows) for these op ids
/// and record ids.
fn kept(app: &TestApp, op_ids: &[&str], entity_id: &str) -> (i64, i64, i64) {
    let ids: Vec<String> = op_ids.iter().map(|s| s.to_string()).collect();
    let entity_id = entity_id.to_string();
    app.db(|c| {
        let on_ledger = ledger::table
            .filter(ledger::op_id.eq_any(&ids))
            .filter(ledger::result.is_not_null())
            .count()
            .get_result(c)
            .unwrap();
        let apart = applied_ops::table
            .filter(applied_ops::op_id.eq_any(&ids))
            .count()
            .get_result(c)
            .unwrap();
        let audited = audit_log::table
            .filter(audit_log::entity_id.eq(&entity_id))
            .count()
            .get_result(c)
            .unwrap();
        (on_ledger, apart, audited)
    })
}

/// A refused op: a visit of a resident no one registered.
fn refused_visit() -> Value {
    op(
        "visit",
        "create",
        &Uuid::now_v7().to_string(),
        json!({ "resident_id": Uuid::now_v7().to_string(), "kind": "hypertension_followup",
                "occurred_at": "2026-11-30T09:00:00+08:00", "measurements": {} }),
    )
}

/// The audit trail of one record as an administrator reads it.
async fn trail_of(app: &TestApp, admin: &crate::helpers::Session, id: &str) -> Value {
    let res = app.get(admin, &format!("/api/v1/audit?entity_id={id}")).await;
    res.json().await.unwrap()
}

fn statuses(out: &Value) -> Vec<(String, bool)> {
    out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_string(),
                r["replayed"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_applied_op_leaves_one_row_and_its_record_and_audit_entry_survive_the_migration_both_ways() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let admin = app.login("admin").await;
    let village = app.villages(&d1).await[0].clone();
    let (rid, good) = resident_op(&village, "1948-02-03", 'M', &[]);
    let bad = refused_visit();
    let op_ids = [good["op_id"].as_str().unwrap(), bad["op_id"].as_str().unwrap()];
    let first = app.push(&d1, vec![good.clone(), bad.clone()]).await;
    assert_eq!(
        statuses(&first),
        [("applied".to_string(), false), ("rejected".to_string(), false)],
        "{first}"
    );

    // The applied op: one ledger row with its record and its audit entry, nothing beside.
    // The refused one changed nothing: its record stays in applied_ops.
    assert_eq!(kept(&app, &op_ids, &rid), (1, 1, 0));
    let (audit_id, action, clinical): (Option<String>, Option<String>, Option<i64>) = app.db(|c| {
        ledger::table
            .filter(ledger::entity_id.eq(&rid))
            .select((ledger::audit_id, ledger::audit_action, ledger::clinical_at))
            .first(c)
            .unwrap()
    });
    assert_eq!(action.as_deref(), Some("resident_created"));
    assert!(audit_id.is_some() && clinical.is_some());
    // The audit trail reads it as before: one entry, with its id, in the entity's history.
    let trail = trail_of(&app, &admin, &rid).await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["action"], "resident_created");
    assert_eq!(entries[0]["id"].as_str(), audit_id.as_deref());
    assert_eq!(entries[0]["device_id"], d1.device_key.as_str());
    // Paging across both tables: the newest entry of the county first, then older ones,
    // each page key an entry id either table may hold.
    let page: Value = app.get(&admin, "/api/v1/audit?limit=1").await.json().await.unwrap();
    let older: Value = app
        .get(
            &admin,
            &format!(
                "/api/v1/audit?limit=500&before={}",
                page["next_before"].as_str().unwrap()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let newest = page["entries"][0]["id"].as_str().unwrap();
    assert!(older["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["id"].as_str().unwrap() < newest));
    assert!(older["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "login"));

    // A replay is answered with the first verdicts.
    let again = app.push(&d1, vec![good.clone(), bad.clone()]).await;
    assert_eq!(
        statuses(&again),
        [("duplicate".to_string(), true), ("rejected".to_string(), true)],
        "{again}"
    );

    // Reverted, the records go back where the release before kept them.
    assert_eq!(app.db(jiayi::db::revert_last).unwrap(), LEDGER_MIGRATION);
    let before: (i64, i64) = app.db(|c| {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        let n = |c: &mut jiayi::db::DbConn, q: &str| diesel::select(sql::<BigInt>(q)).get_result::<i64>(c).unwrap();
        let ids = format!("('{}', '{}')", op_ids[0], op_ids[1]);
        (
            n(c, &format!("(SELECT COUNT(*) FROM applied_ops WHERE op_id IN {ids})")),
            n(
                c,
                &format!("(SELECT COUNT(*) FROM audit_log WHERE entity_id = '{rid}')"),
            ),
        )
    });
    assert_eq!(before, (2, 1));
    // And migrated again, they move back: the record onto the op's first row, the refused
    // op's where it was; the audit entry of before stays in audit_log, read as ever.
    app.db(jiayi::db::migrate).unwrap();
    assert_eq!(kept(&app, &op_ids, &rid), (1, 1, 1));
    let trail = trail_of(&app, &admin, &rid).await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 1, "{trail}");
    let third = app.push(&d1, vec![good, bad]).await;
    assert_eq!(
        statuses(&third),
        [("duplicate".to_string(), true), ("rejected".to_string(), true)],
        "{third}"
    );
}

#[tokio::test]
async fn a_batch_sent_twice_at_once_leaves_each_op_one_record_on_whichever_side_it_belongs() {
    // A tablet that gave up waiting resends while the first request still runs: one
    // answer applies, the other replays, and no op is recorded both on the ledger and in
    // applied_ops (the device's row holds the second batch until the first commits).
    let app = spawn_app_with(|c| c.sync_rate_per_minute = 100_000).await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    for round in 0..3 {
        let mut ops: Vec<Value> = (0..100)
            .map(|_| resident_op(&village, "1962-02-02", 'F', &[]).1)
            .collect();
        ops.extend((0..20).map(|_| refused_visit()));
        let (x, y) = tokio::join!(app.push(&d1, ops.clone()), app.push(&d1, ops.clone()));
        let mut firsts = 0;
        for out in [&x, &y] {
            let st = statuses(out);
            assert_eq!(st.len(), 120, "round {round}: {out}");
            let replayed = st[0].1;
            firsts += usize::from(!replayed);
            let applied = if replayed { "duplicate" } else { "applied" };
            assert!(
                st[..100].iter().all(|(s, r)| s == applied && *r == replayed),
                "round {round}: {out}"
            );
            assert!(
                st[100..].iter().all(|(s, r)| s == "rejected" && *r == replayed),
                "round {round}: {out}"
            );
        }
        assert_eq!(firsts, 1, "round {round}: one batch applies, the other replays");
        let op_ids: Vec<String> = ops.iter().map(|o| o["op_id"].as_str().unwrap().to_string()).collect();
        let records: i64 = app.db(|c| {
            use jiayi::db::views::op_records;
            op_records::table
                .filter(op_records::op_id.eq_any(&op_ids))
                .count()
                .get_result(c)
                .unwrap()
        });
        assert_eq!(records, 120, "round {round}: one record per op");
    }
}
