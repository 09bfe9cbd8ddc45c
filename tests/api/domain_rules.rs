//! Domain rules end to end on the backend under test: ID numbers and measurement ranges
//! through the sync API, each case applied or refused with its code and field, and what
//! was refused not stored.

use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{id_number, spawn_app, Op};
use jiayi::domain::id_number::{check_char, IdNumber};
use jiayi::schema::{conflicts, residents, visits};

/// When these tests' ops were recorded.
const AT: &str = "2026-03-01T09:30:00+08:00";

fn resident(village: &str, birth: &str, sex: &str, number: &str) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let data = json!({ "village_code": village, "name": "证号测试", "sex": sex, "birth_date": birth,
                       "id_number": number, "tags": [] });
    (id.clone(), Op::resident_create(id, data).recorded_at(AT).into())
}

#[tokio::test]
async fn id_numbers_are_checked_on_registration() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let v = app.villages(&d1).await[0].clone();
    let good = id_number("1970-01-01", 'M');
    let bad_check = format!("{}{}", &good[..17], if good.ends_with('0') { '1' } else { '0' });
    let feb30 = "11010519700230001";
    let impossible = format!("{feb30}{}", check_char(feb30.as_bytes()));
    // A woman's number on a record marked male; a number whose date is not the record's.
    let woman = id_number("1970-01-01", 'F');
    let other_day = id_number("1970-01-02", 'M');
    // A number ending in X, sent with a lower-case x; a legacy 15-digit number.
    let with_x = (0..1000)
        .map(|seq| IdNumber::generate("110105", chrono::NaiveDate::from_ymd_opt(1971, 5, 5).unwrap(), seq, 'F'))
        .find(|n| n.expose().ends_with('X'))
        .unwrap();
    let lower_x = with_x.expose().to_ascii_lowercase();
    let legacy = "110105520303004";
    let cases: Vec<(&str, &str, String, Option<&str>)> = vec![
        ("1970-01-01", "M", good.clone(), None),
        ("1970-01-01", "M", bad_check, Some("id_number_checksum")),
        ("1970-02-28", "M", impossible, Some("id_number_birth_date")),
        ("1970-01-01", "M", woman, Some("id_number_sex_mismatch")),
        ("1970-01-01", "M", other_day, Some("id_number_birth_date_mismatch")),
        ("1971-05-05", "F", lower_x, None),
        ("1952-03-03", "F", legacy.to_string(), None),
        ("1970-01-01", "M", "12345".into(), Some("invalid_id_number")),
    ];
    let mut ids = Vec::new();
    let mut ops = Vec::new();
    for (birth, sex, number, _) in &cases {
        let (id, o) = resident(&v, birth, sex, number);
        ids.push(id);
        ops.push(o);
    }
    let out = app.push(&d1, ops).await;
    let results = out["results"].as_array().unwrap();
    for (i, (_, _, _, refused)) in cases.iter().enumerate() {
        match refused {
            None => assert_eq!(results[i]["status"], "applied", "case {i}: {}", results[i]),
            Some(code) => {
                assert_eq!(results[i]["status"], "rejected", "case {i}");
                assert_eq!(results[i]["error"]["code"], *code, "case {i}");
                assert_eq!(results[i]["error"]["field"], "id_number", "case {i}");
            }
        }
    }
    assert!(!out.to_string().contains(&good[..14]), "no ID number is echoed");
    let stored: Vec<(String, String)> = app.db(|c| {
        residents::table
            .filter(residents::id.eq_any(&ids))
            .select((residents::id, residents::id_masked))
            .load(c)
            .unwrap()
    });
    assert_eq!(stored.len(), 3, "only the valid ones are stored");
    let masked = |i: usize| stored.iter().find(|s| s.0 == ids[i]).unwrap().1.clone();
    assert_eq!(masked(0), format!("****************{}*", &good[16..17]));
    // Nothing beside the 17th character: neither the area, the date nor the check character.
    assert_eq!(masked(5), with_x.masked());
    assert_eq!(masked(5).matches('*').count(), 17, "{}", masked(5));
    // The legacy number became 18 digits: 19 inserted before the year, a check character added.
    let full = IdNumber::parse(legacy).unwrap();
    assert_eq!(&full.expose()[6..14], "19520303");
    assert_eq!(masked(6), full.masked());
    // The same person registered again with an upper-case X is found as a duplicate.
    let (twin, o) = resident(&v, "1971-05-05", "F", with_x.expose());
    let out = app.push(&d1, vec![o]).await;
    assert_eq!(out["results"][0]["status"], "conflict", "{out}");
    let flagged: i64 = app.db(|c| {
        conflicts::table
            .filter(conflicts::entity_id.eq(&twin))
            .filter(conflicts::other_entity_id.eq(&ids[5]))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(flagged, 1);
}

#[tokio::test]
async fn every_measurement_range_edge_through_the_sync_api() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let v = app.villages(&d1).await[0].clone();
    let (rid, r) = resident(&v, "1950-06-06", "M", &id_number("1950-06-06", 'M'));
    assert_eq!(app.push(&d1, vec![r]).await["results"][0]["status"], "applied");
    // (kind, measurements, refused field)
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("htn_followup", json!({ "systolic": 50, "diastolic": 30 }), None),
        ("htn_followup", json!({ "systolic": 300, "diastolic": 200 }), None),
        (
            "htn_followup",
            json!({ "systolic": 49, "diastolic": 30 }),
            Some("systolic"),
        ),
        (
            "htn_followup",
            json!({ "systolic": 301, "diastolic": 90 }),
            Some("systolic"),
        ),
        (
            "htn_followup",
            json!({ "systolic": 120, "diastolic": 29 }),
            Some("diastolic"),
        ),
        (
            "htn_followup",
            json!({ "systolic": 300, "diastolic": 201 }),
            Some("diastolic"),
        ),
        (
            "htn_followup",
            json!({ "systolic": 120, "diastolic": 120 }),
            Some("diastolic"),
        ),
        ("htn_followup", json!({ "systolic": 120 }), Some("diastolic")),
        ("dm_followup", json!({ "fasting_glucose": 1.0 }), None),
        ("dm_followup", json!({ "fasting_glucose": 35.0 }), None),
        (
            "dm_followup",
            json!({ "fasting_glucose": 0.9 }),
            Some("fasting_glucose"),
        ),
        (
            "dm_followup",
            json!({ "fasting_glucose": 35.1 }),
            Some("fasting_glucose"),
        ),
        ("dm_followup", json!({}), Some("fasting_glucose")),
        (
            "elderly_check",
            json!({ "weight_kg": 1.0, "height_cm": 30.0, "heart_rate": 20, "waist_cm": 30.0 }),
            None,
        ),
        (
            "elderly_check",
            json!({ "weight_kg": 300.0, "height_cm": 250.0, "heart_rate": 250, "waist_cm": 200.0 }),
            None,
        ),
        ("elderly_check", json!({ "weight_kg": 0.9 }), Some("weight_kg")),
        ("elderly_check", json!({ "weight_kg": 300.1 }), Some("weight_kg")),
        ("elderly_check", json!({ "height_cm": 29.9 }), Some("height_cm")),
        ("elderly_check", json!({ "height_cm": 250.1 }), Some("height_cm")),
        ("elderly_check", json!({ "heart_rate": 19 }), Some("heart_rate")),
        ("elderly_check", json!({ "heart_rate": 251 }), Some("heart_rate")),
        ("elderly_check", json!({ "waist_cm": 29.9 }), Some("waist_cm")),
        ("elderly_check", json!({ "waist_cm": 200.1 }), Some("waist_cm")),
    ];
    let mut ops = Vec::new();
    let mut ids = Vec::new();
    for (kind, m, _) in &cases {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": rid, "kind": kind, "occurred_at": AT, "measurements": m });
        ops.push(Op::visit_create(&id, data).recorded_at(AT).into());
        ids.push(id);
    }
    let out = app.push(&d1, ops).await;
    let results = out["results"].as_array().unwrap();
    let mut accepted = Vec::new();
    for (i, (kind, m, refused)) in cases.iter().enumerate() {
        let r = &results[i];
        match refused {
            None => {
                assert_eq!(r["status"], "applied", "{kind} {m}: {r}");
                accepted.push(ids[i].clone());
            }
            Some(field) => {
                assert_eq!(r["status"], "rejected", "{kind} {m}");
                let missing = !m.as_object().unwrap().contains_key(*field);
                let code = if missing { "missing_field" } else { "out_of_range" };
                assert_eq!(r["error"]["code"], code, "{kind} {m}");
                assert_eq!(r["error"]["field"], format!("measurements.{field}"), "{kind} {m}");
            }
        }
    }
    let stored: Vec<String> = app.db(|c| {
        visits::table
            .filter(visits::resident_id.eq(&rid))
            .select(visits::id)
            .load(c)
            .unwrap()
    });
    let mut stored = stored;
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted, "exactly the in-range visits are stored");
}
