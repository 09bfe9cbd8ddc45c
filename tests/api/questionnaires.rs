//! Questionnaire versions: an administrator adds one, tablets on the old version keep
//! working, every response is checked and counted by the version it names.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app, Op, Session, TestApp};
use jiayi::schema::{questionnaires, survey_responses};

const TOWNSHIP_1: &str = "431126100000";
const VILLAGE: &str = "431126100991";

/// Version 2 of the satisfaction questionnaire: "basically satisfied" no longer counts as
/// satisfied, and a new item asks whether the doctor can be reached.
fn v2() -> Value {
    json!({
        "code": "satisfaction", "version": 2, "title": "家庭医生签约服务满意度调查（第二版）",
        "definition": {
            "items": [
                { "code": "satisfaction", "text": "您对家庭医生签约服务是否满意？",
                  "options": ["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"],
                  "option_texts": { "very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
                                    "dissatisfied": "不满意", "very_dissatisfied": "非常不满意" } },
                { "code": "awareness", "text": "您是否知道自己已签约家庭医生？", "options": ["aware", "unaware"] },
                { "code": "reachable", "text": "需要时能否联系到您的家庭医生？", "options": ["yes", "sometimes", "no"] }
            ],
            "satisfied_options": ["very_satisfied", "satisfied"],
            "aware_options": ["aware"]
        },
        "satisfaction_item": "satisfaction", "awareness_item": "awareness"
    })
}

fn count(app: &TestApp) -> i64 {
    app.db(|c| questionnaires::table.count().get_result(c).unwrap())
}

async fn list(app: &TestApp, s: &Session) -> Vec<Value> {
    let res = app.get(s, "/api/v1/questionnaires").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test]
async fn every_version_is_listed_for_tablets_and_the_dashboard() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let all = list(&app, &d1).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["code"], "satisfaction");
    assert_eq!(all[0]["version"], 1);
    assert_eq!(all[0]["satisfaction_item"], "satisfaction");
    assert_eq!(all[0]["awareness_item"], "awareness");
    assert_eq!(
        all[0]["definition"]["satisfied_options"],
        json!(["very_satisfied", "satisfied", "basically_satisfied"])
    );
    let admin = app.login("admin").await;
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &v2()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let stored: Value = res.json().await.unwrap();
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["definition"]["items"][2]["code"], "reachable");
    assert_eq!(stored["definition"]["items"][0]["option_texts"]["satisfied"], "满意");
    // The tablet's list now holds both, old first.
    let all = list(&app, &d1).await;
    let versions: Vec<(String, i64)> = all
        .iter()
        .map(|q| (q["code"].as_str().unwrap().to_string(), q["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [("satisfaction".to_string(), 1), ("satisfaction".to_string(), 2)]
    );
    assert_eq!(all[1], stored);
    // A new questionnaire starts at version 1.
    let mut other = v2();
    other["code"] = json!("chronic_care");
    other["version"] = json!(1);
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &other).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(list(&app, &d1).await.len(), 3);
    // The change is audited.
    let n: i64 = app.db(|c| {
        use jiayi::db::views::audit_trail;
        audit_trail::table
            .filter(audit_trail::action.eq("questionnaire_created"))
            .count()
            .get_result(c)
            .unwrap()
    });
    assert_eq!(n, 2);
    // A tablet's first sync carries the catalog on its last page.
    let res = app.get(&d1, "/api/v1/sync/bootstrap?limit=10000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    assert!(page["cursor"].is_string(), "one page");
    assert_eq!(page["questionnaires"].as_array().unwrap().len(), 3);
    let res = app.get(&d1, "/api/v1/sync/bootstrap?limit=1").await;
    let first: Value = res.json().await.unwrap();
    assert!(first["next_page"].is_string());
    assert!(first.get("questionnaires").is_none(), "only the last page carries it");
    // No token, no catalog.
    let res = app.client.get(app.url("/api/v1/questionnaires")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_the_county_administrator_adds_a_version() {
    let app = spawn_app().await;
    let before = count(&app);
    for who in ["doctor1", "lead1", "supervisor1"] {
        let s = app.login(who).await;
        let res = app.post(&s, "/api/v1/admin/questionnaires", &v2()).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(count(&app), before);
}

#[tokio::test]
async fn bad_versions_are_refused_with_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let before = count(&app);
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, StatusCode, &str, &str)> = vec![
        (
            |q| q["version"] = json!(1),
            StatusCode::CONFLICT,
            "questionnaire_exists",
            "version",
        ),
        (
            |q| q["version"] = json!(3),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_version",
            "version",
        ),
        (
            |q| q["version"] = json!(0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_version",
            "version",
        ),
        (
            |q| {
                q["code"] = json!("brand_new");
                q["version"] = json!(2);
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_version",
            "version",
        ),
        (
            |q| q["code"] = json!("Bad Code"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_code",
            "code",
        ),
        (
            |q| q["title"] = json!(""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
            "title",
        ),
        (
            |q| q["definition"]["items"] = json!([]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "definition.items",
        ),
        (
            |q| q["definition"]["items"][2]["code"] = json!("awareness"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_code",
            "definition.items[2].code",
        ),
        (
            |q| q["definition"]["items"][2]["code"] = json!("2nd"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_code",
            "definition.items[2].code",
        ),
        (
            |q| q["definition"]["items"][2]["text"] = json!(" "),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
            "definition.items[2].text",
        ),
        (
            |q| q["definition"]["items"][2]["options"] = json!(["yes"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_few_options",
            "definition.items[2].options",
        ),
        (
            |q| q["definition"]["items"][2]["options"] = json!(["yes", "no", "yes"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_code",
            "definition.items[2].options[2]",
        ),
        (
            |q| q["definition"]["items"][0]["option_texts"]["neutral"] = json!("一般"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_option",
            "definition.items[0].option_texts.neutral",
        ),
        (
            |q| q["satisfaction_item"] = json!("overall"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_item",
            "satisfaction_item",
        ),
        (
            |q| q["awareness_item"] = json!("knows"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_item",
            "awareness_item",
        ),
        (
            |q| q["awareness_item"] = json!("satisfaction"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_item",
            "awareness_item",
        ),
        (
            |q| q["definition"]["satisfied_options"] = json!(["satisfied", "yes"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_option",
            "definition.satisfied_options[1]",
        ),
        (
            |q| q["definition"]["satisfied_options"] = json!(["satisfied", "satisfied"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_code",
            "definition.satisfied_options[1]",
        ),
        (
            |q| q["definition"]["aware_options"] = json!(["unknown"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_option",
            "definition.aware_options[0]",
        ),
        (
            |q| q["definition"]["aware_options"] = json!([]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "definition.aware_options",
        ),
        (
            |q| q["satisfaction_item"] = Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "satisfaction_item",
        ),
    ];
    for (edit, status, code, field) in cases {
        let mut q = v2();
        edit(&mut q);
        let res = app.post(&admin, "/api/v1/admin/questionnaires", &q).await;
        let body = assert_error(res, status, code).await;
        assert_eq!(body["error"]["field"], field, "{code}: {body}");
    }
    // Wrong types and unknown fields; and a body that is not JSON.
    let mut q = v2();
    q["definition"]["items"][0]["options"] = json!("satisfied");
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &q).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let mut q = v2();
    q["definition"]["scoring"] = json!("sum");
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &q).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = app
        .client
        .post(app.url("/api/v1/admin/questionnaires"))
        .bearer_auth(&admin.access)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(count(&app), before, "nothing half-stored");
    // The real thing goes in once; the same again is a conflict and changes nothing.
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &v2()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut changed = v2();
    changed["title"] = json!("改过的标题");
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &changed).await;
    assert_error(res, StatusCode::CONFLICT, "questionnaire_exists").await;
    let title: String = app.db(|c| {
        questionnaires::table
            .find((jiayi::demo::COUNTY_CODE, "satisfaction", 2))
            .select(questionnaires::title)
            .first(c)
            .unwrap()
    });
    assert_eq!(title, "家庭医生签约服务满意度调查（第二版）");
    assert_eq!(count(&app), before + 1);
}

#[tokio::test]
async fn old_tablets_keep_answering_and_each_response_is_judged_by_its_version() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    // A village and team of its own, so the report counts only these responses.
    let res = app
        .post(
            &admin,
            "/api/v1/admin/regions",
            &json!({ "code": VILLAGE, "name": "问卷村" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            &admin,
            "/api/v1/admin/teams",
            &json!({ "code": "TQN", "name": "问卷团队", "township_code": TOWNSHIP_1, "village_codes": [VILLAGE] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(&admin, "/api/v1/admin/users", &json!({ "username": "qn_doc", "password": "a-long-secret-1", "role": "doctor", "team_code": "TQN", "display_name": "问卷医生" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = app
        .login_raw("qn_doc", "a-long-secret-1", "device-qn")
        .await
        .json()
        .await
        .unwrap();
    let doc = app.session_from(&body, "device-qn").await;
    let res = app.post(&admin, "/api/v1/admin/questionnaires", &v2()).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let at = "2026-06-10T10:00:00+08:00";
    let mut residents = Vec::new();
    let mut ops = Vec::new();
    for i in 0..6 {
        let id = Uuid::now_v7().to_string();
        let birth = "1960-03-03";
        let data = json!({ "village_code": VILLAGE, "name": format!("答卷人{i}"), "sex": "F", "birth_date": birth,
                    "id_number": jiayi::domain::id_number::IdNumber::generate(
                        "110108", chrono::NaiveDate::from_ymd_opt(1960, 3, 3).unwrap(), 2 * i as u32, 'F').expose(),
                    "tags": [] });
        ops.push(Op::resident_create(&id, data).recorded_at(at).into());
        residents.push(id);
    }
    let survey = |r: &str, version: i64, answers: Value| {
        let id = Uuid::now_v7().to_string();
        let data = json!({ "resident_id": r, "questionnaire": "satisfaction", "questionnaire_version": version,
                           "answers": answers, "answered_at": at });
        (id.clone(), Op::survey_create(id, data).recorded_at(at).into())
    };
    // "basically satisfied" counts under v1 and not under v2.
    let (s0, o0) = survey(
        &residents[0],
        1,
        json!({ "satisfaction": "basically_satisfied", "awareness": "aware" }),
    );
    let (s1, o1) = survey(
        &residents[1],
        2,
        json!({ "satisfaction": "basically_satisfied", "awareness": "aware" }),
    );
    let (s2, o2) = survey(
        &residents[2],
        2,
        json!({ "satisfaction": "satisfied", "awareness": "unaware", "reachable": "yes" }),
    );
    // The new item does not exist in v1; a version that does not exist is refused.
    let (s3, o3) = survey(
        &residents[3],
        1,
        json!({ "satisfaction": "satisfied", "reachable": "yes" }),
    );
    let (s4, o4) = survey(&residents[4], 3, json!({ "satisfaction": "satisfied" }));
    let (s5, o5) = survey(&residents[5], 1, json!({ "satisfaction": "very_satisfied" }));
    ops.extend([o0, o1, o2, o3, o4, o5]);
    let out = app.push(&doc, ops).await;
    let r = out["results"].as_array().unwrap();
    for (i, x) in r.iter().enumerate().take(6) {
        assert_eq!(x["status"], "applied", "resident {i}: {x}");
    }
    assert_eq!(r[6]["status"], "applied", "an old tablet's v1 response: {}", r[6]);
    assert_eq!(r[7]["status"], "applied");
    assert_eq!(r[8]["status"], "applied");
    assert_eq!(r[9]["status"], "rejected");
    assert_eq!(r[9]["error"]["code"], "unknown_item");
    assert_eq!(r[9]["error"]["field"], "answers.reachable");
    assert_eq!(r[10]["status"], "rejected");
    assert_eq!(r[10]["error"]["code"], "unknown_questionnaire");
    assert_eq!(r[10]["error"]["field"], "questionnaire_version");
    assert_eq!(r[11]["status"], "applied");
    let stored: Vec<(String, i32, Option<bool>, Option<bool>)> = app.db(|c| {
        survey_responses::table
            .filter(survey_responses::id.eq_any([&s0, &s1, &s2, &s3, &s4, &s5]))
            .select((
                survey_responses::id,
                survey_responses::questionnaire_version,
                survey_responses::satisfied,
                survey_responses::aware,
            ))
            .load(c)
            .unwrap()
    });
    let find = |id: &str| stored.iter().find(|s| s.0 == id).cloned().unwrap();
    assert_eq!(find(&s0), (s0.clone(), 1, Some(true), Some(true)));
    assert_eq!(find(&s1), (s1.clone(), 2, Some(false), Some(true)));
    assert_eq!(find(&s2), (s2.clone(), 2, Some(true), Some(false)));
    assert_eq!(find(&s5), (s5.clone(), 1, Some(true), None));
    assert_eq!(stored.len(), 4, "the refused responses are not stored");
    // The report: 3 of 4 satisfied (v1 basically, v2 satisfied, v1 very; not v2 basically),
    // 2 of 3 aware (the v1 response without the awareness item does not count there).
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={VILLAGE}&period=2026"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rep: Value = res.json().await.unwrap();
    let ind = &rep["total"]["indicators"];
    assert_eq!(ind["satisfaction_rate"]["numerator"], 3, "{ind}");
    assert_eq!(ind["satisfaction_rate"]["denominator"], 4);
    assert_eq!(ind["awareness_rate"]["numerator"], 2);
    assert_eq!(ind["awareness_rate"]["denominator"], 3);
}
