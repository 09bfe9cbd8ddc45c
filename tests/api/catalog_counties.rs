//! Two counties on one server, each with its own catalog: what county B's administrator
//! adds (a questionnaire version, a package) changes nothing county A's tablets see, A's
//! doctor can neither sign B's package nor answer B's questionnaire, the same code in two
//! counties is two independent rows, and a contract keeps the price it was signed at.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{contract_op, op, resident_op, spawn_app, Session, TestApp};
use jiayi::demo::COUNTY_CODE as A;
use jiayi::import::{self, ImportKind};
use jiayi::schema::{contract_packages, service_packages};

const B: &str = "431127000000";
const B_TOWNSHIP: &str = "431127100000";
const B_VILLAGE: &str = "431127100201";

/// County B with a township, a village, a team, its doctor `doctor_b1` and its admin
/// `admin_b`, made the way the command line makes them.
fn county_b(app: &TestApp) {
    use jiayi::domain::{region, team, user};
    app.db(|c| {
        region::create(c, B, "邻县", None).unwrap();
        region::create(c, B_TOWNSHIP, "邻镇", None).unwrap();
        region::create(c, B_VILLAGE, "邻村", None).unwrap();
        let new = team::NewTeam {
            code: "TB1".into(),
            name: "邻县一队".into(),
            township_code: B_TOWNSHIP.into(),
            village_codes: vec![B_VILLAGE.into()],
        };
        team::create(c, &new, None).unwrap();
        for (username, role, team_code, region_code) in [
            ("doctor_b1", "doctor", Some("TB1"), None),
            ("admin_b", "admin", None, Some(B)),
        ] {
            let new = user::NewUser {
                username: username.into(),
                password: crate::helpers::DEMO_PASSWORD.into(),
                role: role.into(),
                team_code: team_code.map(str::to_string),
                region_code: region_code.map(str::to_string),
                display_name: "邻县用户".into(),
            };
            user::create(c, &new, None).unwrap();
        }
    });
}

fn import_packages(app: &TestApp, rows: &str) -> import::ImportSummary {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packages.csv");
    std::fs::write(
        &path,
        format!("county_code,code,name,kind,price_fen,self_pay_fen\n{rows}"),
    )
    .unwrap();
    import::import(&app.state.pool, ImportKind::Packages, &path, false).unwrap()
}

async fn get_list(app: &TestApp, s: &Session, path: &str) -> Value {
    let res = app.get(s, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

/// What a tablet of the caller's county holds of the catalog: the two lists and the
/// bootstrap's last page.
async fn catalog_seen(app: &TestApp, s: &Session) -> (Value, Value, Value, Value) {
    let page = get_list(app, s, "/api/v1/sync/bootstrap?limit=10000").await;
    assert!(page["cursor"].is_string(), "one page");
    (
        get_list(app, s, "/api/v1/packages").await,
        get_list(app, s, "/api/v1/questionnaires").await,
        page["packages"].clone(),
        page["questionnaires"].clone(),
    )
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| match p.get("version") {
            Some(v) => format!("{}:{v}", p["code"].as_str().unwrap()),
            None => p["code"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Version 2 of the satisfaction questionnaire as county B defines it.
fn b_v2() -> Value {
    json!({
        "code": "satisfaction", "version": 2, "title": "邻县满意度调查（第二版）",
        "definition": {
            "items": [{ "code": "satisfaction", "text": "是否满意？", "options": ["yes", "no"] }],
            "satisfied_options": ["yes"]
        },
        "satisfaction_item": "satisfaction"
    })
}

fn survey_op(resident: &str, questionnaire: &str, version: i64, answers: Value) -> Value {
    let (now, _) = crate::helpers::now_cst();
    op(
        "survey",
        "create",
        &Uuid::now_v7().to_string(),
        json!({ "resident_id": resident, "questionnaire": questionnaire, "questionnaire_version": version,
                "answers": answers, "answered_at": now }),
    )
}

fn signed_price(app: &TestApp, contract: &str, code: &str) -> (i64, i64) {
    let (contract, code) = (contract.to_string(), code.to_string());
    app.db(move |c| {
        contract_packages::table
            .find((contract, code))
            .select((contract_packages::price_fen, contract_packages::self_pay_fen))
            .first(c)
            .unwrap()
    })
}

#[tokio::test]
async fn what_one_countys_admin_adds_to_the_catalog_no_other_county_sees_or_signs() {
    let app = spawn_app().await;
    county_b(&app);
    let doctor_a = app.login("doctor1").await;
    let admin_a = app.login("admin").await;
    let doctor_b = app.login("doctor_b1").await;
    let admin_b = app.login("admin_b").await;

    // A new county starts with the default catalog of its own.
    let seen_b = catalog_seen(&app, &doctor_b).await;
    assert_eq!(codes(&seen_b.0), ["BASIC", "DM", "ELDERLY", "HTN", "MCH"]);
    assert_eq!(codes(&seen_b.1), ["satisfaction:1"]);
    let before_a = catalog_seen(&app, &doctor_a).await;

    // B's administrator adds a questionnaire version and a new questionnaire; B's
    // catalog gains a package and refuses a code it holds, whatever A holds.
    let res = app.post(&admin_b, "/api/v1/admin/questionnaires", &b_v2()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut chronic = b_v2();
    chronic["code"] = json!("chronic_care");
    chronic["version"] = json!(1);
    let res = app.post(&admin_b, "/api/v1/admin/questionnaires", &chronic).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let s = import_packages(
        &app,
        &format!("{B},REHAB,邻县康复包,personalised,9900,1900\n{B},HTN,邻县高血压包,personalised,100,0\n"),
    );
    assert_eq!(s.imported, 1, "{s:?}");
    assert!(s.refused[0].1.starts_with("package_exists"), "{s:?}");

    // A's tablets see exactly what they saw.
    assert_eq!(catalog_seen(&app, &doctor_a).await, before_a);
    let seen_b = catalog_seen(&app, &doctor_b).await;
    assert_eq!(codes(&seen_b.0), ["BASIC", "DM", "ELDERLY", "HTN", "MCH", "REHAB"]);
    assert_eq!(codes(&seen_b.1), ["chronic_care:1", "satisfaction:1", "satisfaction:2"]);
    assert_eq!(
        (&seen_b.2, &seen_b.3),
        (&seen_b.0, &seen_b.1),
        "B's bootstrap carries B's catalog"
    );

    // A's doctor can neither sign B's package nor answer B's questionnaires.
    let team_a = doctor_a.user["team_id"].as_str().unwrap().to_string();
    let village_a = app.villages(&doctor_a).await[0].clone();
    let (ra, rop) = resident_op(&village_a, "1950-02-03", 'M', &[]);
    let (_, c_refused) = contract_op(&ra, &team_a, &["BASIC", "REHAB"]);
    let out = app
        .push(
            &doctor_a,
            vec![
                rop,
                c_refused,
                survey_op(&ra, "satisfaction", 2, json!({ "satisfaction": "yes" })),
                survey_op(&ra, "chronic_care", 1, json!({ "satisfaction": "yes" })),
                survey_op(&ra, "satisfaction", 1, json!({ "satisfaction": "satisfied" })),
            ],
        )
        .await;
    let r = out["results"].as_array().unwrap();
    assert_eq!(r[0]["status"], "applied", "{out}");
    assert_eq!(r[1]["error"]["code"], "unknown_package", "{out}");
    for x in &r[2..4] {
        assert_eq!(x["error"]["code"], "unknown_questionnaire", "{out}");
    }
    assert_eq!(r[4]["status"], "applied", "A's own version: {out}");

    // B's doctor signs and answers B's.
    let team_b = doctor_b.user["team_id"].as_str().unwrap().to_string();
    let (rb, rop) = resident_op(B_VILLAGE, "1951-02-03", 'F', &[]);
    let (cb, cop) = contract_op(&rb, &team_b, &["BASIC", "REHAB"]);
    let out = app
        .push(
            &doctor_b,
            vec![
                rop,
                cop,
                survey_op(&rb, "satisfaction", 2, json!({ "satisfaction": "yes" })),
            ],
        )
        .await;
    for x in out["results"].as_array().unwrap() {
        assert_eq!(x["status"], "applied", "{out}");
    }

    // A's own REHAB is another row, at its own price; A's version 2 is A's own.
    let s = import_packages(&app, &format!("{A},REHAB,本县康复包,personalised,8000,2000\n"));
    assert_eq!(s.imported, 1, "{s:?}");
    let mut a_v2 = b_v2();
    a_v2["title"] = json!("本县满意度调查（第二版）");
    let res = app.post(&admin_a, "/api/v1/admin/questionnaires", &a_v2).await;
    assert_eq!(res.status(), StatusCode::CREATED, "A's version 2 is the next of A's");
    let titles: Vec<Value> = get_list(&app, &doctor_b, "/api/v1/questionnaires")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["title"].clone())
        .collect();
    assert!(
        titles.contains(&json!("邻县满意度调查（第二版）")) && !titles.contains(&json!("本县满意度调查（第二版）"))
    );
    let (ca, cop) = contract_op(&ra, &team_a, &["BASIC", "REHAB"]);
    app.push_applied(&doctor_a, vec![cop]).await;
    assert_eq!(signed_price(&app, &ca, "REHAB"), (8000, 2000));
    assert_eq!(signed_price(&app, &cb, "REHAB"), (9900, 1900));

    // A later price in either catalog leaves signed contracts at their signing price.
    app.db(|c| {
        diesel::update(service_packages::table.filter(service_packages::code.eq("REHAB")))
            .set(service_packages::price_fen.eq(20000_i64))
            .execute(c)
            .unwrap()
    });
    assert_eq!(signed_price(&app, &ca, "REHAB"), (8000, 2000));
    assert_eq!(signed_price(&app, &cb, "REHAB"), (9900, 1900));

    // The FHIR export of A names A's package on A's contract, once, at its signing price,
    // and holds A's questionnaire versions only.
    let plans = ndjson(&app, &admin_a, &format!("CarePlan.ndjson?region={village_a}")).await;
    let plan = plans.iter().find(|p| p["id"] == ca.as_str()).expect("A's contract");
    let rehab: Vec<&Value> = plan["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["detail"]["code"]["coding"][0]["code"] == "REHAB")
        .collect();
    assert_eq!(rehab.len(), 1, "{plan}");
    assert_eq!(rehab[0]["detail"]["code"]["text"], "本县康复包");
    assert_eq!(rehab[0]["detail"]["description"], "¥80.00，个人自付 ¥20.00");
    let forms = ndjson(&app, &admin_a, &format!("Questionnaire.ndjson?region={A}")).await;
    let titles: Vec<&str> = forms.iter().map(|q| q["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"本县满意度调查（第二版）"), "{titles:?}");
}

/// The coverage report counts a contract as personalised by its own county's catalog: a
/// code that is personalised in B and basic in A does not make A's contract personalised.
#[tokio::test]
async fn the_personalised_count_reads_the_contracts_own_countys_package() {
    let app = spawn_app().await;
    county_b(&app);
    let s = import_packages(
        &app,
        &format!("{A},EXTRA,本县附加基础包,basic,0,0\n{B},EXTRA,邻县附加包,personalised,5000,1000\n"),
    );
    assert_eq!(s.imported, 2, "{s:?}");
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let report = format!("/api/v1/reports/coverage?region={A}&period={year}");
    let figures = |r: &Value| {
        let i = &r["total"]["indicators"];
        (
            i["contracts_signed"]["numerator"].as_i64().unwrap(),
            i["personalised_contracts"]["numerator"].as_i64().unwrap(),
        )
    };
    let (signed, personalised) = figures(&get_list(&app, &admin, &report).await);
    let doctor = app.login("doctor1").await;
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let village = app.villages(&doctor).await[0].clone();
    let (r, rop) = resident_op(&village, "1952-02-03", 'F', &[]);
    let (_, cop) = contract_op(&r, &team, &["BASIC", "EXTRA"]);
    app.push_applied(&doctor, vec![rop, cop]).await;
    assert_eq!(
        figures(&get_list(&app, &admin, &report).await),
        (signed + 1, personalised)
    );
}

async fn ndjson(app: &TestApp, s: &Session, file: &str) -> Vec<Value> {
    let res = app.get(s, &format!("/api/v1/exports/fhir/{file}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{file}");
    res.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
