//! Every CSV the server writes treats what people typed as text: a township, village or
//! team name an administrator gave that starts like a spreadsheet formula reaches the
//! coverage and trend downloads with a leading apostrophe (src/reports/export.rs
//! `text_cell`), and every other cell as it was.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

/// Names an administrator typed that a spreadsheet would run as formulas: a township, its
/// villages and its teams.
const FORMULAS: [&str; 4] = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-1", "@SUM(1)"];

/// The rule of src/reports/export.rs `text_cell`, restated: what a text cell must read.
fn as_text(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// A CSV answer's rows (after the byte-order mark and the header).
async fn csv_rows(res: reqwest::Response) -> Vec<csv::StringRecord> {
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    reader.records().map(|r| r.unwrap()).collect()
}

/// Every row of a report's CSV against its JSON: each text cell as the rule writes it, each
/// number as it is, nothing else changed.
fn assert_rows_match(rows: &[csv::StringRecord], period: &str, region: &str, groups: &[(String, String, Value)]) {
    let expected: usize = groups.iter().map(|(_, _, f)| f.as_object().unwrap().len()).sum();
    assert_eq!(rows.len(), expected);
    let mut rows = rows.iter();
    for (code, name, figures) in groups {
        for _ in 0..figures.as_object().unwrap().len() {
            let row = rows.next().unwrap();
            assert_eq!(&row[0], period);
            assert_eq!(&row[1], region);
            assert_eq!(row[2], as_text(code));
            assert_eq!(row[3], as_text(name), "{row:?}");
            let f = &figures[&row[4]];
            assert_eq!(
                row[6].parse::<i64>().unwrap(),
                f["numerator"].as_i64().unwrap(),
                "{row:?}"
            );
            assert_eq!(
                row[7],
                f["denominator"].as_i64().map(|d| d.to_string()).unwrap_or_default()
            );
            assert_eq!(
                row[8],
                f["rate"].as_f64().map(|r| format!("{r:.4}")).unwrap_or_default()
            );
        }
    }
}

#[tokio::test]
async fn names_that_start_like_formulas_reach_the_csv_downloads_as_text() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let town = "431126190000";
    let created = |path: &'static str, body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app.post(admin, path, &body).await;
            assert_eq!(
                res.status(),
                StatusCode::CREATED,
                "{body}: {}",
                res.text().await.unwrap()
            );
        }
    };
    created("/api/v1/admin/regions", json!({ "code": town, "name": FORMULAS[0] })).await;
    for (i, name) in FORMULAS.iter().enumerate() {
        let village = format!("431126190{:03}", i + 1);
        created("/api/v1/admin/regions", json!({ "code": village, "name": name })).await;
        created(
            "/api/v1/admin/teams",
            json!({ "code": format!("F{i}"), "name": name, "township_code": town, "village_codes": [village] }),
        )
        .await;
    }
    let year = jiayi::time::today_cst().format("%Y").to_string();
    for group_by in ["village", "team"] {
        let q = format!("/api/v1/reports/coverage?region={town}&period={year}&group_by={group_by}");
        let json: Value = app.get(&admin, &q).await.json().await.unwrap();
        let mut groups: Vec<(String, String, Value)> = json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["code"].as_str().unwrap().to_string(),
                    g["name"].as_str().unwrap().to_string(),
                    g["indicators"].clone(),
                )
            })
            .collect();
        let mut names: Vec<&str> = groups.iter().map(|g| g.1.as_str()).collect();
        names.sort();
        let mut hostile = FORMULAS.to_vec();
        hostile.sort();
        assert_eq!(names, hostile, "{group_by}: every hostile name is a group");
        groups.push((
            "合计".into(),
            json["region_name"].as_str().unwrap().into(),
            json["total"]["indicators"].clone(),
        ));
        let rows = csv_rows(app.get(&admin, &format!("{q}&format=csv")).await).await;
        assert_rows_match(&rows, &year, json["region"].as_str().unwrap(), &groups);
        for name in FORMULAS {
            assert!(rows.iter().any(|r| r[3] == format!("'{name}")), "{group_by}: {name}");
        }
    }
    let trend = format!("/api/v1/reports/trend?region={town}&year={year}");
    let json: Value = app.get(&admin, &trend).await.json().await.unwrap();
    let rows = csv_rows(app.get(&admin, &format!("{trend}&format=csv")).await).await;
    let region = json["region"].as_str().unwrap();
    let mut at = 0;
    for m in json["months"].as_array().unwrap() {
        let n = m["indicators"].as_object().unwrap().len();
        let group = (
            region.to_string(),
            json["region_name"].as_str().unwrap().to_string(),
            m["indicators"].clone(),
        );
        assert_rows_match(&rows[at..at + n], m["period"].as_str().unwrap(), region, &[group]);
        at += n;
    }
    assert_eq!(at, rows.len());
    assert_eq!(rows[0][3], format!("'{}", FORMULAS[0]));
}
