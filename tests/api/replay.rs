//! Idempotency of push ops (docs/sync-protocol.md, "Replays"): op ids per device, replays
//! keeping their first verdict, op ids reused for other content, each result's position,
//! and records registered again after a reinstall.

use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{contract_op, id_number, now_cst, resident_op, spawn_app, TestApp};
use jiayi::db::views::op_records;
use jiayi::schema::{contracts, ledger, quarantine, residents, visits};

fn stored(app: &TestApp, id: &str) -> i64 {
    let id = id.to_string();
    app.db(|c| residents::table.find(&id).count().get_result(c).unwrap())
}

fn quarantined(app: &TestApp, op_id: &str) -> i64 {
    let op_id = op_id.to_string();
    app.db(|c| {
        quarantine::table
            .filter(quarantine::op_id.eq(&op_id))
            .count()
            .get_result(c)
            .unwrap()
    })
}

fn changes(app: &TestApp) -> i64 {
    app.db(|c| ledger::table.count().get_result(c).unwrap())
}

fn results(out: &Value) -> &Vec<Value> {
    out["results"].as_array().unwrap()
}

#[tokio::test]
async fn the_same_op_id_from_another_device_is_another_op() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let v1 = app.villages(&d1).await[0].clone();
    let v2 = app.villages(&d2).await[0].clone();
    let (first_id, first) = resident_op(&v1, "1950-01-01", 'F', &[]);
    let (second_id, mut second) = resident_op(&v2, "1960-02-02", 'M', &[]);
    second["op_id"] = first["op_id"].clone();
    let op_id = first["op_id"].as_str().unwrap().to_string();

    assert_eq!(
        results(&app.push(&d1, vec![first.clone()]).await)[0]["status"],
        "applied"
    );
    // Another team's tablet with a weak op-id generator: its op is its own, stored, and
    // learns nothing of the first sender's answer.
    let out = app.push(&d2, vec![second]).await;
    assert_eq!(results(&out)[0]["status"], "applied", "{out}");
    assert!(results(&out)[0].get("replayed").is_none(), "{out}");
    assert_eq!(stored(&app, &second_id), 1);
    // The same user on a second tablet is another device too.
    let d1b = app.login("doctor1").await;
    let (third_id, mut third) = resident_op(&v1, "1970-03-03", 'F', &[]);
    third["op_id"] = json!(op_id);
    assert_eq!(results(&app.push(&d1b, vec![third]).await)[0]["status"], "applied");
    assert_eq!(stored(&app, &third_id), 1);
    let kept: i64 = app.db(|c| {
        op_records::table
            .filter(op_records::op_id.eq(&op_id))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(kept, 3, "one idempotency record per device");
    // Each device's replay still answers its own first result.
    let again = app.push(&d1, vec![first]).await;
    assert_eq!(results(&again)[0]["status"], "duplicate", "{again}");
    assert_eq!(stored(&app, &first_id), 1);
}

#[tokio::test]
async fn a_replay_keeps_its_first_verdict_and_says_it_is_a_replay() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (_, good) = resident_op(&village, "1955-05-05", 'F', &[]);
    // The same person registered again: stored, answered conflict.
    let (_, mut twin) = resident_op(&village, "1955-05-05", 'F', &[]);
    twin["data"]["id_number"] = good["data"]["id_number"].clone();
    let (_, mut bad) = resident_op(&village, "1955-05-05", 'F', &[]);
    bad["data"]["sex"] = json!("X");
    let ops = vec![good, twin, bad];
    let first = app.push(&d1, ops.clone()).await;
    let r = results(&first);
    assert_eq!(
        [&r[0]["status"], &r[1]["status"], &r[2]["status"]],
        ["applied", "conflict", "rejected"],
        "{first}"
    );
    assert!(r.iter().all(|x| x.get("replayed").is_none()), "{first}");
    let before = changes(&app);

    let again = app.push(&d1, ops).await;
    let a = results(&again);
    assert_eq!(a[0]["status"], "duplicate", "{again}");
    assert_eq!(a[0]["version"], r[0]["version"]);
    assert_eq!(
        a[1]["status"], "conflict",
        "a replayed conflict stays a conflict: {again}"
    );
    assert_eq!(a[1]["conflict_id"], r[1]["conflict_id"]);
    assert_eq!(a[1]["version"], r[1]["version"]);
    assert_eq!(
        a[2]["status"], "rejected",
        "a replayed rejection stays rejected: {again}"
    );
    assert_eq!(a[2]["error"], r[2]["error"]);
    for (x, y) in a.iter().zip(r) {
        assert_eq!(x["replayed"], true, "{again}");
        assert_eq!(x["op_id"], y["op_id"]);
    }
    assert_eq!(changes(&app), before, "a replay changes nothing");
    assert_eq!(
        quarantined(&app, r[2]["op_id"].as_str().unwrap()),
        1,
        "quarantined once"
    );
}

#[tokio::test]
async fn an_op_id_reused_for_other_content_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (_, first) = resident_op(&village, "1948-08-08", 'M', &[]);
    let op_id = first["op_id"].as_str().unwrap().to_string();
    let reuse = |birth: &str| {
        let (id, mut op) = resident_op(&village, birth, 'F', &[]);
        op["op_id"] = json!(op_id);
        (id, op)
    };
    let (in_batch_id, in_batch) = reuse("1949-09-09");
    let out = app.push(&d1, vec![first.clone(), in_batch]).await;
    assert_eq!(results(&out)[0]["status"], "applied", "{out}");
    assert_eq!(results(&out)[1]["status"], "rejected", "{out}");
    assert_eq!(results(&out)[1]["error"]["code"], "op_id_reused", "{out}");
    assert_eq!(results(&out)[1]["error"]["field"], "op_id", "{out}");
    let (later_id, later) = reuse("1951-01-11");
    let out = app.push(&d1, vec![later.clone()]).await;
    assert_eq!(results(&out)[0]["status"], "rejected", "{out}");
    assert_eq!(results(&out)[0]["error"]["code"], "op_id_reused", "{out}");
    assert!(results(&out)[0].get("replayed").is_none(), "{out}");
    assert_eq!(stored(&app, &in_batch_id) + stored(&app, &later_id), 0);
    assert_eq!(quarantined(&app, &op_id), 0, "refused input, not kept for review");
    // Sent again, it is refused again: its refusal was not remembered in the first op's place.
    assert_eq!(
        results(&app.push(&d1, vec![later.clone()]).await)[0]["error"]["code"],
        "op_id_reused"
    );
    // The first op's content with its keys in another order is the same op.
    let keys: Vec<(String, Value)> = first.as_object().unwrap().clone().into_iter().rev().collect();
    let reordered = keys
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect::<Vec<_>>()
        .join(",");
    assert_ne!(format!("{{{reordered}}}"), first.to_string());
    let body = format!(r#"{{"device_id":{},"ops":[{{{reordered}}}]}}"#, json!(d1.device_id));
    let res = app
        .client
        .post(app.url("/api/v1/sync/push"))
        .bearer_auth(&d1.access)
        .header("X-Sync-Protocol", "1")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let out: Value = res.json().await.unwrap();
    assert_eq!(results(&out)[0]["status"], "duplicate", "{out}");
    // A record kept before digests were answers a reused op id as it always did.
    let device = d1.device_key.clone();
    app.db(|c| {
        // The op's record is on its ledger row (it changed something); older ones sat in applied_ops.
        for table in ["applied_ops", "ledger"] {
            jiayi::db::raw::execute(
                c,
                &format!("UPDATE {table} SET digest = NULL WHERE op_id = ? AND device_id = ?"),
                &[
                    jiayi::db::raw::Bind::Text(op_id.clone()),
                    jiayi::db::raw::Bind::Text(device.clone()),
                ],
            )
            .unwrap();
        }
    });
    let out = app.push(&d1, vec![later]).await;
    assert_eq!(results(&out)[0]["status"], "duplicate", "{out}");
    assert_eq!(stored(&app, &later_id), 0);
}

#[tokio::test]
async fn every_result_names_its_position_in_the_batch() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (_, a) = resident_op(&village, "1962-02-02", 'M', &[]);
    let (_, b) = resident_op(&village, "1963-03-03", 'F', &[]);
    // No op id to name it by.
    let garbage = json!({ "entity": "resident", "action": "create" });
    let out = app.push(&d1, vec![a.clone(), garbage.clone(), b.clone()]).await;
    let r = results(&out);
    assert_eq!(r[1]["op_id"], "", "{out}");
    assert_eq!(r[1]["error"]["code"], "malformed_op", "{out}");
    for (i, x) in r.iter().enumerate() {
        assert_eq!(x["index"], i, "{out}");
    }
    // Replayed in another order, each answer carries its position in this batch.
    let out = app.push(&d1, vec![garbage, b, a]).await;
    let r = results(&out);
    for (i, x) in r.iter().enumerate() {
        assert_eq!(x["index"], i, "{out}");
    }
    assert_eq!(r[2]["replayed"], true, "{out}");
}

/// The delete op of docs/sync-protocol.md ("Deletes"), its `…` filled in.
fn documented_delete(field: impl Fn(&str) -> Value) -> Value {
    let doc = include_str!("../../docs/sync-protocol.md");
    let section = &doc[doc.find("### Deletes").expect("a Deletes section")..];
    let start = section.find('{').expect("an example op");
    let mut op: Value = serde_json::Deserializer::from_str(&section[start..])
        .into_iter::<Value>()
        .next()
        .expect("the example is JSON")
        .expect("the example is JSON");
    for (k, v) in op.as_object_mut().unwrap() {
        // Placeholders: `…`, or a name in angle brackets such as `<visit>`.
        if v.as_str()
            .is_some_and(|s| s == "…" || (s.starts_with('<') && s.ends_with('>')))
        {
            *v = field(k);
        }
    }
    op
}

#[tokio::test]
async fn the_documented_delete_example_deletes_a_visit() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1958-08-08", 'F', &[]);
    let vid = Uuid::now_v7().to_string();
    let (now, _) = now_cst();
    let vop = json!({ "op_id": Uuid::now_v7().to_string(), "entity": "visit", "action": "create", "id": vid,
                      "recorded_at": now, "data": { "resident_id": rid, "kind": "htn_followup", "occurred_at": now,
                      "measurements": { "systolic": 130, "diastolic": 85 } } });
    let out = app.push(&d1, vec![rop, vop]).await;
    assert_eq!(results(&out)[1]["status"], "applied", "{out}");
    let op = documented_delete(|k| match k {
        "id" => json!(vid),
        "op_id" => json!(Uuid::now_v7().to_string()),
        "recorded_at" => json!(now),
        other => panic!("the example leaves {other} open"),
    });
    assert_eq!(op["action"], "delete", "{op}");
    let out = app.push(&d1, vec![op]).await;
    assert_eq!(results(&out)[0]["status"], "applied", "{out}");
    let deleted: bool = app.db(|c| visits::table.find(&vid).select(visits::deleted).first(c).unwrap());
    assert!(deleted);
}

#[tokio::test]
async fn a_resident_and_contract_registered_again_after_a_reinstall_are_accepted_once() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let team = d1.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&d1).await[0].clone();
    let (rid, rop) = resident_op(&village, "1952-12-12", 'M', &["hypertension"]);
    let (_, cop) = contract_op(&rid, &team, &["BASIC", "HTN"]);
    let out = app.push(&d1, vec![rop.clone(), cop.clone()]).await;
    assert!(results(&out).iter().all(|r| r["status"] == "applied"), "{out}");
    let before = changes(&app);

    // Reinstalled: a new device id, and the queue sent again under new op ids.
    let again = app.login("doctor1").await;
    let renamed = |op: &Value| {
        let mut op = op.clone();
        op["op_id"] = json!(Uuid::now_v7().to_string());
        op
    };
    let out = app.push(&again, vec![renamed(&rop), renamed(&cop)]).await;
    for r in results(&out) {
        assert_eq!(r["status"], "applied", "{out}");
        assert_eq!(r["version"], 1, "{out}");
    }
    assert_eq!(changes(&app), before, "nothing was written again");
    let n: i64 = app.db(|c| {
        contracts::table
            .filter(contracts::resident_id.eq(&rid))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!((stored(&app, &rid), n), (1, 1));

    // Other content under the same id is not this record: the tablet has to pull.
    let mut other = renamed(&rop);
    other["data"]["name"] = json!("另一位居民");
    let mut other_contract = renamed(&cop);
    other_contract["data"]["packages"] = json!(["BASIC"]);
    let mut other_person = renamed(&rop);
    other_person["data"]["id_number"] = json!(id_number("1952-12-12", 'M'));
    let out = app.push(&again, vec![other, other_contract, other_person]).await;
    for r in results(&out) {
        assert_eq!(r["status"], "rejected", "{out}");
        assert_eq!(r["error"]["code"], "already_exists", "{out}");
    }
    assert_eq!(changes(&app), before);
}
