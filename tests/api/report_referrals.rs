//! Referral counts (上转人次, 下转人次, 上转7日内接收率) on a small hand-built team whose every
//! answer is known: a new village and team in the demo county (which records no referrals
//! of its own), four residents, and referrals up and down pushed through the sync API in
//! 2025 — inside and outside the period, one cancelled, one amended (counted once, with the
//! amendment's direction and date), one deleted, received within 7 days, at exactly 7 × 24
//! hours, after 8 days and never, one sent at 07:00 local time on the first of a month (the
//! day before in UTC), and a resident who moves to another township in June. The figures
//! are asserted by village, township, county and team, for the year and for two months, in
//! the CSV, the trend and the DHIS2 export.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{op, spawn_app, Session, TestApp};
use crate::team_plan::{new_team_in, push_all, NewTeam, TOWNSHIP_1};

const COUNTY: &str = "431126000000";
const TOWNSHIP_2: &str = "431126101000";
const VILLAGE: &str = "431126100991";

async fn new_team(app: &TestApp) -> (Session, String) {
    let t = NewTeam {
        village: VILLAGE,
        village_name: "转诊村",
        code: "TRF",
        name: "转诊团队",
        doctor: "rf_doc",
    };
    new_team_in(app, &t).await
}

/// A local (UTC+8) time.
fn at(day: &str, time: &str) -> String {
    format!("{day}T{time}+08:00")
}

fn resident(ops: &mut Vec<Value>, n: u32) -> String {
    let id = Uuid::now_v7().to_string();
    let born = chrono::NaiveDate::from_ymd_opt(1960, 4, 12).unwrap();
    let number = jiayi::domain::id_number::IdNumber::generate("110108", born, 2 * n, 'F');
    let mut o = op(
        "resident",
        "create",
        &id,
        json!({ "village_code": VILLAGE, "name": "转诊居民", "sex": "F", "birth_date": "1960-04-12",
                "id_number": number.expose() }),
    );
    // Registered on the day the op was recorded.
    o["recorded_at"] = json!(at("2025-01-05", "09:00:00"));
    ops.push(o);
    id
}

fn contract(ops: &mut Vec<Value>, resident: &str, team: &str) {
    ops.push(op(
        "contract",
        "create",
        &Uuid::now_v7().to_string(),
        json!({ "resident_id": resident, "team_id": team, "packages": ["BASIC"], "status": "SIGNED",
                "signed_at": at("2025-01-10", "10:00:00"), "effective_from": "2025-01-10", "effective_to": "2025-12-31" }),
    ));
}

fn referral_data(resident: &str, direction: &str, when: &str) -> Value {
    json!({ "resident_id": resident, "direction": direction, "facility": { "name": "县人民医院" },
            "reason_code": "diagnosis", "referred_at": when })
}

/// A referral create op and the referral's id.
fn referral(ops: &mut Vec<Value>, resident: &str, direction: &str, when: &str) -> String {
    let id = Uuid::now_v7().to_string();
    ops.push(op("referral", "create", &id, referral_data(resident, direction, when)));
    id
}

fn step(ops: &mut Vec<Value>, id: &str, to: &str, when: &str) {
    let mut data = json!({ "to": to, "at": when });
    if to == "RETURNED" {
        data["summary"] = json!("病情稳定，回社区随访");
    }
    ops.push(op("referral", "transition", id, data));
}

/// The hand-built team in 2025. Returns the doctor's session.
async fn build(app: &TestApp) -> Session {
    let (doc, team) = new_team(app).await;
    let mut ops = Vec::new();
    let (a, b, c, m) = (
        resident(&mut ops, 1),
        resident(&mut ops, 2),
        resident(&mut ops, 3),
        resident(&mut ops, 4),
    );
    // c has no contract: their referrals count in the village, township and county, in no team.
    for r in [&a, &b, &m] {
        contract(&mut ops, r, &team);
    }
    // a: up in March received after 2 days; up in March received after 8 days and 1 hour;
    // down in July, received and returned; up in August, deleted; up on the last evening
    // of 2024 (not in 2025).
    let r = referral(&mut ops, &a, "up", &at("2025-03-05", "10:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-03-07", "09:00:00"));
    let r = referral(&mut ops, &a, "up", &at("2025-03-20", "10:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-03-28", "11:00:00"));
    let r = referral(&mut ops, &a, "down", &at("2025-07-01", "10:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-07-01", "15:00:00"));
    step(&mut ops, &r, "RETURNED", &at("2025-07-20", "10:00:00"));
    let r = referral(&mut ops, &a, "up", &at("2025-08-01", "10:00:00"));
    ops.push(op("referral", "delete", &r, json!({})));
    let r = referral(&mut ops, &a, "up", &at("2024-12-31", "23:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-01-02", "10:00:00"));
    // b: up in May received exactly 7 × 24 hours later, then closed; up in April never
    // received; down at 07:00 on 1 March (28 February in UTC); up in March, cancelled; up
    // on the last evening of 2025.
    let r = referral(&mut ops, &b, "up", &at("2025-05-10", "10:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-05-17", "10:00:00"));
    step(&mut ops, &r, "CLOSED", &at("2025-05-30", "10:00:00"));
    referral(&mut ops, &b, "up", &at("2025-04-02", "10:00:00"));
    referral(&mut ops, &b, "down", &at("2025-03-01", "07:00:00"));
    let r = referral(&mut ops, &b, "up", &at("2025-03-10", "10:00:00"));
    step(&mut ops, &r, "CANCELLED", &at("2025-03-11", "10:00:00"));
    referral(&mut ops, &b, "up", &at("2025-12-31", "23:30:00"));
    // c: down in March; up on 25 February, amended to down on 2 March.
    referral(&mut ops, &c, "down", &at("2025-03-15", "10:00:00"));
    let r = referral(&mut ops, &c, "up", &at("2025-02-25", "10:00:00"));
    let mut data = referral_data(&c, "down", &at("2025-03-02", "10:00:00"));
    data["amends"] = json!(r);
    ops.push(op("referral", "amend", &Uuid::now_v7().to_string(), data));
    // m: up in March received the next day; m moves to township 2 in June.
    let r = referral(&mut ops, &m, "up", &at("2025-03-12", "10:00:00"));
    step(&mut ops, &r, "RECEIVED", &at("2025-03-13", "10:00:00"));
    push_all(app, &doc, ops).await;

    let admin = app.login("admin").await;
    let to: String = app.db(|c| {
        use diesel::prelude::*;
        use jiayi::schema::regions;
        regions::table
            .filter(regions::level.eq("village"))
            .filter(regions::code.like(format!("{}%", &TOWNSHIP_2[..9])))
            .order(regions::code)
            .select(regions::code)
            .first(c)
            .unwrap()
    });
    let version: i64 = app.db(|c| {
        use diesel::prelude::*;
        use jiayi::schema::residents;
        residents::table.find(&m).select(residents::version).first(c).unwrap()
    });
    let mut o = op("resident", "update", &m, json!({ "village_code": to }));
    o["recorded_at"] = json!(at("2025-06-01", "10:00:00"));
    o["base_version"] = json!(version);
    push_all(app, &admin, vec![o]).await;
    doc
}

/// (上转, 下转, up received within 7 days) as the report gives them, checking the shape.
fn counts(figures: &Value, label: &str) -> (i64, i64, i64) {
    let (up, down, r7) = (
        &figures["referrals_up"],
        &figures["referrals_down"],
        &figures["referrals_up_received_7d"],
    );
    for f in [up, down] {
        assert_eq!(
            (&f["denominator"], &f["rate"], &f["denominator_source"], &f["version"]),
            (&Value::Null, &Value::Null, &json!("none"), &json!(1)),
            "{label}: a count"
        );
    }
    assert_eq!(r7["denominator"], up["numerator"], "{label}: the rate's denominator");
    assert_eq!(r7["denominator_source"], "computed", "{label}");
    let n = r7["numerator"].as_i64().unwrap();
    let d = up["numerator"].as_i64().unwrap();
    let want = (d > 0).then(|| ((n * 20000 + d) / (2 * d)) as f64 / 10000.0);
    assert_eq!(r7["rate"].as_f64(), want, "{label}: the rate");
    (d, down["numerator"].as_i64().unwrap(), n)
}

async fn report(app: &TestApp, s: &Session, region: &str, period: &str, by: &str) -> Value {
    let q = format!("/api/v1/reports/coverage?region={region}&period={period}&group_by={by}");
    let res = app.get(s, &q).await;
    assert_eq!(res.status(), StatusCode::OK, "{q}");
    res.json().await.unwrap()
}

fn group<'a>(r: &'a Value, code: &str) -> &'a Value {
    let g = r["groups"].as_array().unwrap().iter().find(|g| g["code"] == code);
    &g.unwrap_or_else(|| panic!("no group {code}"))["indicators"]
}

#[tokio::test]
async fn referral_counts_are_exact_by_village_township_county_and_team() {
    let app = spawn_app().await;
    let doc = build(&app).await;
    let team = doc.user["team_id"].as_str().unwrap().to_string();
    let admin = app.login("admin").await;
    let sup = app.login("supervisor1").await;
    let sum_groups = |r: &Value| {
        r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| counts(&g["indicators"], "group"))
            .fold((0, 0, 0), |s, x| (s.0 + x.0, s.1 + x.1, s.2 + x.2))
    };
    // (period, village, township 1, township 2, county, team in the county, team in township 1).
    type Want = (i64, i64, i64);
    let cases: [(&str, Want, Want, Want, Want, Want, Want); 3] = [
        ("2025", (5, 4, 2), (5, 4, 2), (1, 0, 1), (6, 4, 3), (6, 2, 3), (5, 2, 2)),
        (
            "2025-03",
            (3, 3, 2),
            (3, 3, 2),
            (0, 0, 0),
            (3, 3, 2),
            (3, 1, 2),
            (3, 1, 2),
        ),
        (
            "2025-02",
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
        ),
    ];
    for (period, village, town1, town2, county, team_county, team_town) in cases {
        let by_town = report(&app, &admin, COUNTY, period, "township").await;
        assert_eq!(
            counts(&by_town["total"]["indicators"], period),
            county,
            "{period} county"
        );
        assert_eq!(
            counts(group(&by_town, TOWNSHIP_1), period),
            town1,
            "{period} township 1"
        );
        assert_eq!(
            counts(group(&by_town, TOWNSHIP_2), period),
            town2,
            "{period} township 2"
        );
        assert_eq!(
            sum_groups(&by_town),
            county,
            "{period}: the townships add up to the county"
        );
        let by_team = report(&app, &admin, COUNTY, period, "team").await;
        assert_eq!(counts(group(&by_team, &team), period), team_county, "{period} team");
        // The township's own report, by village and by team, as its supervisor reads it.
        let t1 = report(&app, &sup, TOWNSHIP_1, period, "village").await;
        assert_eq!(
            counts(&t1["total"]["indicators"], period),
            town1,
            "{period} township report"
        );
        assert_eq!(counts(group(&t1, VILLAGE), period), village, "{period} village");
        let t1_team = report(&app, &sup, TOWNSHIP_1, period, "team").await;
        assert_eq!(
            counts(group(&t1_team, &team), period),
            team_town,
            "{period} team in township 1"
        );
        // The village's report, and the team's own view of it.
        let v = report(&app, &admin, VILLAGE, period, "team").await;
        assert_eq!(
            counts(&v["total"]["indicators"], period),
            village,
            "{period} village report"
        );
        let own = report(&app, &doc, VILLAGE, period, "team").await;
        assert_eq!(
            counts(&own["total"]["indicators"], period),
            village,
            "{period} the team's view"
        );
        crate::exports::assert_dhis2_equals(&app, &admin, &by_town, "township").await;
    }

    // The CSV has a row per group and new indicator, with the report's numbers.
    let res = app
        .get(
            &sup,
            &format!("/api/v1/reports/coverage?region={TOWNSHIP_1}&period=2025&group_by=village&format=csv"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let cell = |code: &str, id: &str| {
        let r = rows.iter().find(|r| &r[2] == code && &r[4] == id).unwrap();
        (r[5].to_string(), r[6].to_string(), r[7].to_string(), r[8].to_string())
    };
    let s = |x: &str| x.to_string();
    assert_eq!(cell(VILLAGE, "referrals_up"), (s("上转人次"), s("5"), s(""), s("")));
    assert_eq!(cell(VILLAGE, "referrals_down"), (s("下转人次"), s("4"), s(""), s("")));
    assert_eq!(
        cell("合计", "referrals_up_received_7d"),
        (s("上转7日内接收率"), s("2"), s("5"), s("0.4000"))
    );

    // The trend: each month its own period; the months add up to the year (events).
    let res = app
        .get(&admin, &format!("/api/v1/reports/trend?region={COUNTY}&year=2025"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let trend: Value = res.json().await.unwrap();
    let months = trend["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let by_month: Vec<(i64, i64, i64)> = months.iter().map(|m| counts(&m["indicators"], "trend")).collect();
    assert_eq!(by_month[1], (0, 0, 0), "February");
    assert_eq!(by_month[2], (3, 3, 2), "March");
    assert_eq!(by_month[3], (1, 0, 0), "April");
    assert_eq!(by_month[4], (1, 0, 1), "May");
    assert_eq!(by_month[6], (0, 1, 0), "July");
    assert_eq!(by_month[11], (1, 0, 0), "December");
    let sum = by_month
        .iter()
        .fold((0, 0, 0), |s, x| (s.0 + x.0, s.1 + x.1, s.2 + x.2));
    assert_eq!(sum, (6, 4, 3), "the months add up to the year");
}
