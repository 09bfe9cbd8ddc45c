use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{self, assert_error, spawn_app};

const COUNTY: &str = "431126000000";

#[tokio::test]
async fn the_county_report_by_township_sums_to_its_total() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={COUNTY}&period={year}&group_by=township"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["dictionary_version"], "v1");
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 5);
    for id in ["record_rate", "signing_rate", "key_signing_rate", "contracts_signed"] {
        let sum: i64 = groups
            .iter()
            .map(|g| g["indicators"][id]["numerator"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, r["total"]["indicators"][id]["numerator"].as_i64().unwrap(), "{id}");
    }
    let total = &r["total"]["indicators"]["signing_rate"];
    assert!(total["numerator"].as_i64().unwrap() > 0, "the demo county has signings");
    let num = total["numerator"].as_i64().unwrap() as f64;
    let den = total["denominator"].as_i64().unwrap() as f64;
    assert_eq!(total["rate"].as_f64().unwrap(), (num / den * 10000.0).round() / 10000.0);
}

#[tokio::test]
async fn a_supervisor_reads_their_township_only() {
    let app = spawn_app().await;
    let sup = app.login("supervisor1").await;
    let own = sup.user["region_code"].as_str().unwrap().to_string();
    let res = app
        .get(
            &sup,
            &format!("/api/v1/reports/coverage?region={own}&period=2026&group_by=village"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(&sup, &format!("/api/v1/reports/coverage?region={COUNTY}&period=2026"))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(&sup, "/api/v1/reports/coverage?region=431126101000&period=2026")
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_doctor_sees_their_team_only() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let res = app
        .get(
            &d1,
            "/api/v1/reports/coverage?region=431126100000&period=2026&group_by=team",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["code"], d1.user["team_id"]);
}

#[tokio::test]
async fn bad_report_parameters_answer_4xx() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .get(&admin, &format!("/api/v1/reports/coverage?region={COUNTY}&period=26"))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_period").await;
    let res = app.get(&admin, "/api/v1/reports/coverage?region=12&period=2026").await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_region_code").await;
    let res = app
        .get(
            &admin,
            &format!("/api/v1/reports/coverage?region={COUNTY}&period=2026&group_by=planet"),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app
        .get(&admin, "/api/v1/reports/coverage?region=431126999000&period=2026")
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get(&admin, "/api/v1/reports/indicators").await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Every indicator of the dictionary appears, with its version, in every group and the total.
#[tokio::test]
async fn every_indicator_is_reported_and_groups_add_up_to_the_total() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let dict: Vec<Value> = app
        .get(&admin, "/api/v1/reports/indicators")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dict.len(), 34);
    for id in [
        "signing_rate.elderly",
        "signing_rate.child",
        "renewal_rate",
        "htn_controlled",
        "awareness_rate",
    ] {
        assert!(
            dict.iter()
                .any(|d| d["id"] == id && d["version"] == 1 && d["name_zh"].is_string()),
            "{id}"
        );
    }
    for group_by in ["township", "village", "team"] {
        let r: Value = app
            .get(
                &admin,
                &format!("/api/v1/reports/coverage?region={COUNTY}&period={year}&group_by={group_by}"),
            )
            .await
            .json()
            .await
            .unwrap();
        let groups = r["groups"].as_array().unwrap();
        assert!(!groups.is_empty(), "{group_by}");
        for d in &dict {
            let id = d["id"].as_str().unwrap();
            let total = &r["total"]["indicators"][id];
            assert_eq!(total["version"], 1, "{id}");
            let sum: i64 = groups
                .iter()
                .map(|g| g["indicators"][id]["numerator"].as_i64().unwrap())
                .sum();
            // Each resident, contract and visit belongs to one village and at most one team;
            // residents without a contract belong to no team, so team groups may fall short.
            if group_by == "team" {
                assert!(sum <= total["numerator"].as_i64().unwrap(), "{id} by team");
            } else {
                assert_eq!(sum, total["numerator"].as_i64().unwrap(), "{id} by {group_by}");
            }
            if let (Some(n), Some(den)) = (total["numerator"].as_i64(), total["denominator"].as_i64()) {
                let expected = if den == 0 {
                    None
                } else {
                    Some(((n as f64 / den as f64) * 10000.0).round() / 10000.0)
                };
                assert_eq!(total["rate"].as_f64(), expected, "{id}");
            }
        }
        // The demo imports village populations: the county total uses them, summed.
        let t = &r["total"]["indicators"]["signing_rate"];
        assert_eq!(t["denominator_source"], "imported");
        if group_by != "team" {
            let den_sum: i64 = groups
                .iter()
                .map(|g| g["indicators"]["signing_rate"]["denominator"].as_i64().unwrap())
                .sum();
            assert_eq!(
                den_sum,
                t["denominator"].as_i64().unwrap(),
                "denominators sum by {group_by}"
            );
        }
    }
}

#[tokio::test]
async fn coverage_as_csv_opens_in_excel_and_matches_the_json() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let q = format!("/api/v1/reports/coverage?region={COUNTY}&period={year}&group_by=township");
    let json: Value = app.get(&admin, &q).await.json().await.unwrap();
    for res in [
        app.get(&admin, &format!("{q}&format=csv")).await,
        app.client
            .get(app.url(&q))
            .bearer_auth(&admin.access)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(res.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
        let bytes = res.bytes().await.unwrap();
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte-order mark for Excel");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.contains("\r\n"), "CRLF line ends");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [
                "统计期",
                "地区代码",
                "分组代码",
                "分组名称",
                "指标编号",
                "指标名称",
                "分子",
                "分母",
                "比率",
                "分母来源"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), (json["groups"].as_array().unwrap().len() + 1) * 34);
        let total_signing = rows
            .iter()
            .find(|r| &r[2] == "合计" && &r[4] == "signing_rate")
            .expect("a total row");
        let t = &json["total"]["indicators"]["signing_rate"];
        assert_eq!(&total_signing[5], "家庭医生签约率");
        assert_eq!(
            total_signing[6].parse::<i64>().unwrap(),
            t["numerator"].as_i64().unwrap()
        );
        assert_eq!(
            total_signing[7].parse::<i64>().unwrap(),
            t["denominator"].as_i64().unwrap()
        );
        assert_eq!(total_signing[8], format!("{:.4}", t["rate"].as_f64().unwrap()));
        assert_eq!(&total_signing[9], "导入人口数");
        let first = &json["groups"][0];
        let row = rows
            .iter()
            .find(|r| r[2] == *first["code"].as_str().unwrap() && &r[4] == "contracts_signed")
            .unwrap();
        assert_eq!(&row[3], first["name"].as_str().unwrap());
        assert_eq!(
            row[6].parse::<i64>().unwrap(),
            first["indicators"]["contracts_signed"]["numerator"].as_i64().unwrap()
        );
        assert_eq!(&row[7], "", "a count has no denominator");
    }
    let res = app.get(&admin, &format!("{q}&format=xml")).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn the_trend_gives_each_month_as_its_own_coverage_total() {
    let app = spawn_app().await;
    let sup = app.login("supervisor1").await;
    let town = sup.user["region_code"].as_str().unwrap().to_string();
    let today = jiayi::time::today_cst();
    let year = today.format("%Y").to_string();
    let res = app
        .get(&sup, &format!("/api/v1/reports/trend?region={town}&year={year}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    let months = t["months"].as_array().unwrap();
    assert_eq!(
        months.len(),
        chrono::Datelike::month(&today) as usize,
        "January to this month"
    );
    let mut contracts = 0;
    for m in months {
        let period = m["period"].as_str().unwrap();
        let c: Value = app
            .get(&sup, &format!("/api/v1/reports/coverage?region={town}&period={period}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(m["indicators"], c["total"]["indicators"], "{period}");
        contracts += m["indicators"]["contracts_signed"]["numerator"].as_i64().unwrap();
    }
    let whole: Value = app
        .get(&sup, &format!("/api/v1/reports/coverage?region={town}&period={year}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        contracts,
        whole["total"]["indicators"]["contracts_signed"]["numerator"]
            .as_i64()
            .unwrap(),
        "contracts signed per month add up to the year"
    );
    let csv = app
        .get(
            &sup,
            &format!("/api/v1/reports/trend?region={town}&year={year}&format=csv"),
        )
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.bytes().await.unwrap().starts_with(b"\xEF\xBB\xBF"));
    let res = app
        .get(&sup, &format!("/api/v1/reports/trend?region={town}&year={year}-03"))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_period").await;
    let res = app
        .get(&sup, &format!("/api/v1/reports/trend?region={COUNTY}&year={year}"))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(&sup, "/api/v1/reports/trend?region=431126101000&year=2026")
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_doctor_cannot_read_another_teams_village() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let v2 = app.villages(&d2).await;
    let v1 = app.villages(&d1).await;
    let other = v2.iter().find(|v| !v1.contains(v)).unwrap();
    let res = app
        .get(&d1, &format!("/api/v1/reports/coverage?region={other}&period=2026"))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(
            &d1,
            &format!("/api/v1/reports/coverage?region={}&period=2026&group_by=village", v1[0]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_sets_population_denominators_as_json_or_csv() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let village = "431126100001";
    let coverage = |period: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let r: Value = app
                .get(
                    admin,
                    &format!("/api/v1/reports/coverage?region={village}&period={period}&group_by=village"),
                )
                .await
                .json()
                .await
                .unwrap();
            r["total"]["indicators"].clone()
        }
    };
    // 2031 has no imported rows: the registered counts stand in, and say so.
    let before = coverage("2031").await;
    assert_eq!(before["signing_rate"]["denominator_source"], "registered");
    let res = app
        .post(
            &admin,
            "/api/v1/admin/population",
            &json!({ "rows": [
                { "region_code": village, "year": 2031, "category": "resident", "count": 1234 },
                { "region_code": village, "year": 2031, "category": "hypertension", "count": 77 } ] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["stored"], 2);
    let after = coverage("2031").await;
    assert_eq!(after["signing_rate"]["denominator"], 1234);
    assert_eq!(after["signing_rate"]["denominator_source"], "imported");
    assert_eq!(after["htn_managed"]["denominator"], 77);
    assert_eq!(after["dm_managed"]["denominator_source"], "registered");

    let csv_body =
        format!("\u{feff}region_code,year,category,count\n{village},2031,diabetes,31\n{village},2031,resident,1300\n");
    let res = app
        .client
        .post(app.url("/api/v1/admin/population"))
        .bearer_auth(&admin.access)
        .header("content-type", "text/csv")
        .body(csv_body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let after = coverage("2031").await;
    assert_eq!(
        after["signing_rate"]["denominator"], 1300,
        "a row replaces the stored figure"
    );
    assert_eq!(after["dm_managed"]["denominator"], 31);

    // One bad row refuses the whole upload, every bad row named, nothing stored.
    let res = app
        .post(
            &admin,
            "/api/v1/admin/population",
            &json!({ "rows": [
                { "region_code": village, "year": 2031, "category": "resident", "count": 999 },
                { "region_code": village, "year": 2031, "category": "planets", "count": 1 },
                { "region_code": "431127100001", "year": 2031, "category": "resident", "count": 5 },
                { "region_code": village, "year": 1800, "category": "resident", "count": 5 } ] }),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter().map(|r| r["row"].as_i64().unwrap()).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(rows[0]["code"], "invalid_category");
    assert_eq!(rows[2]["code"], "invalid_year");
    assert_eq!(
        coverage("2031").await["signing_rate"]["denominator"],
        1300,
        "nothing half-stored"
    );

    let res = app
        .client
        .post(app.url("/api/v1/admin/population"))
        .bearer_auth(&admin.access)
        .header("content-type", "text/csv")
        .body(format!(
            "region_code,year,category,count\n{village},20x1,resident,5\n{village},2031,resident\n"
        ))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows").await;
    let lines: Vec<i64> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3], "CSV rows are named by line");
    let res = app
        .client
        .post(app.url("/api/v1/admin/population"))
        .bearer_auth(&admin.access)
        .header("content-type", "text/csv")
        .body("code,year\n")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_header").await;
    let res = app
        .client
        .post(app.url("/api/v1/admin/population"))
        .bearer_auth(&admin.access)
        .header("content-type", "application/json")
        .body("{\"rows\": [")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    let res = app
        .post(
            &admin,
            "/api/v1/admin/population",
            &json!({ "rows": [{ "region_code": village }] }),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = app
        .post(&admin, "/api/v1/admin/population", &json!({ "rows": [] }))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "no_rows").await;
    let res = app
        .client
        .post(app.url("/api/v1/admin/population"))
        .bearer_auth(&admin.access)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let sup = app.login("supervisor1").await;
    let res = app
        .post(
            &sup,
            "/api/v1/admin/population",
            &json!({ "rows": [{ "region_code": village, "year": 2031, "category": "resident", "count": 1 }] }),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(coverage("2031").await["signing_rate"]["denominator"], 1300);
}

#[tokio::test]
async fn the_review_count_follows_the_callers_scope() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let sup = app.login("supervisor1").await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    // A supervisor of another township.
    let res = app
        .post(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": "supervisor9", "password": "a-long-secret-9",
            "role": "supervisor", "region_code": "431126104000", "display_name": "石桥镇督导" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .login_raw("supervisor9", "a-long-secret-9", "device-supervisor9")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let other = app.session_from(&body, "device-supervisor9").await;
    let count = |s: &helpers::Session| {
        let app = &app;
        let s = s.clone();
        async move {
            let res = app.get(&s, "/api/v1/review/count").await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let base = [
        count(&admin).await,
        count(&sup).await,
        count(&d1).await,
        count(&d2).await,
        count(&other).await,
    ];
    // doctor1 pushes two ops that are refused: they wait in quarantine for review.
    let bad = json!({ "op_id": uuid::Uuid::now_v7().to_string(), "entity": "visit", "action": "create",
        "id": uuid::Uuid::now_v7().to_string(), "recorded_at": "2026-03-01T09:30:00+08:00",
        "data": { "resident_id": uuid::Uuid::now_v7().to_string(), "kind": "htn_followup",
                  "occurred_at": "2026-03-01T09:30:00+08:00", "measurements": { "systolic": 400, "diastolic": 90 } } });
    let mut bad2 = bad.clone();
    bad2["op_id"] = json!(uuid::Uuid::now_v7().to_string());
    let out = app.push(&d1, vec![bad, bad2]).await;
    assert_eq!(out["results"][0]["status"], "rejected");
    let after = [
        count(&admin).await,
        count(&sup).await,
        count(&d1).await,
        count(&d2).await,
        count(&other).await,
    ];
    let delta = |i: usize| after[i]["quarantine"].as_i64().unwrap() - base[i]["quarantine"].as_i64().unwrap();
    assert_eq!(delta(0), 2, "the county sees it");
    assert_eq!(delta(1), 2, "the sender's township sees it");
    assert_eq!(delta(2), 2, "the sender's team sees it");
    assert_eq!(delta(3), 0, "another team does not");
    assert_eq!(delta(4), 0, "another township does not");
    for a in &after {
        assert_eq!(
            a["total"].as_i64().unwrap(),
            a["conflicts"].as_i64().unwrap() + a["quarantine"].as_i64().unwrap()
        );
    }
    let res = app.client.get(app.url("/api/v1/review/count")).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    helpers::assert_scripts_only_from_self(&res, "/");
    let html = res.text().await.unwrap();
    assert!(html.contains("lang=\"zh-CN\"") && html.contains("督导看板"));
    for (path, kind, needle) in [
        ("/console/screens/dashboard.js", "text/javascript", "/reports/coverage"),
        ("/console/console.css", "text/css", ".card"),
        ("/assets/echarts.min.js", "text/javascript", "Apache"),
        ("/assets/echarts-LICENSE.txt", "text/plain", "Apache License"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            res.headers()["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(res.text().await.unwrap().contains(needle), "{path}");
    }
}

/// Reports remember counted facts only until the county's data changes.
#[tokio::test]
async fn a_report_after_a_push_counts_the_push() {
    let app = spawn_app().await;
    let doctor = app.login("doctor1").await;
    let village = app.villages(&doctor).await[0].clone();
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let q = format!("/api/v1/reports/coverage?region={village}&period={year}&group_by=village");
    let signed = |r: &Value| r["total"]["indicators"]["signing_rate"]["numerator"].as_i64().unwrap();
    let before: Value = app.get(&doctor, &q).await.json().await.unwrap();
    let again: Value = app.get(&doctor, &q).await.json().await.unwrap();
    assert_eq!(signed(&before), signed(&again));
    let (rid, rop) = helpers::resident_op(&village, "1950-05-05", 'F', &["hypertension"]);
    let team = doctor.user["team_id"].as_str().unwrap().to_string();
    let (_, cop) = helpers::contract_op(&rid, &team, &["BASIC", "HTN"]);
    let out = app.push(&doctor, vec![rop, cop]).await;
    assert_eq!(out["results"][1]["status"], "applied", "{out}");
    let after: Value = app.get(&doctor, &q).await.json().await.unwrap();
    assert_eq!(signed(&after), signed(&before) + 1);
    let key = |r: &Value| {
        r["total"]["indicators"]["key_signing_rate"]["numerator"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(key(&after), key(&before) + 1);
}
