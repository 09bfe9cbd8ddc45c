//! The standard exports (docs/interop.md): the FHIR R4 bulk export of the demo county with
//! every reference resolved and the records counted, `since` exports with their deletions,
//! the DHIS2 data values against the coverage report, the metadata, scope and bad input.
//! The exactness county (`report_exactness`) checks the DHIS2 values against its books.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, Session, TestApp};

mod fhir;

const COUNTY: &str = "431126000000";

// ------------------------------------------------------------------------------ DHIS2

/// A DHIS2 data value set, asserted 200.
pub async fn dhis2_values(app: &TestApp, s: &Session, region: &str, period: &str, level: &str) -> Value {
    let q = format!("/api/v1/exports/dhis2/dataValueSets?region={region}&period={period}&level={level}");
    let res = app.get(s, &q).await;
    assert_eq!(res.status(), StatusCode::OK, "{q}");
    res.json().await.unwrap()
}

/// An org unit's values: indicator id → (numerator, denominator).
pub fn values_of(set: &Value, org_unit: &str) -> BTreeMap<String, (i64, Option<i64>)> {
    let mut out: BTreeMap<String, (i64, Option<i64>)> = BTreeMap::new();
    for v in set["dataValues"].as_array().unwrap() {
        if v["orgUnit"] != org_unit {
            continue;
        }
        let de = v["dataElement"].as_str().unwrap();
        let n: i64 = v["value"].as_str().expect("values are strings").parse().unwrap();
        let (id, part) = de.rsplit_once('_').unwrap();
        let e = out.entry(id.to_string()).or_default();
        match part {
            "NUM" => e.0 = n,
            "DEN" => e.1 = Some(n),
            other => panic!("data element {de}: part {other}"),
        }
    }
    out
}

/// The values of an org unit equal figures computed elsewhere.
pub fn assert_values(
    set: &Value,
    org_unit: &str,
    want: &BTreeMap<String, (i64, Option<i64>, &'static str)>,
    label: &str,
) {
    let want: BTreeMap<String, (i64, Option<i64>)> =
        want.iter().map(|(id, (n, d, _))| (id.clone(), (*n, *d))).collect();
    assert_eq!(values_of(set, org_unit), want, "{label}");
}

/// The DHIS2 export of the report's region, period and breakdown equals the report.
pub async fn assert_dhis2_equals(app: &TestApp, s: &Session, report: &Value, level: &str) {
    let period = report["period"].as_str().unwrap().replace('-', "");
    let region = report["region"].as_str().unwrap();
    let set = dhis2_values(app, s, region, &period, level).await;
    let groups = report["groups"].as_array().unwrap();
    let units: BTreeSet<&str> = set["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["orgUnit"].as_str().unwrap())
        .collect();
    assert_eq!(units.len(), groups.len(), "one org unit per group");
    for g in groups {
        let want: BTreeMap<String, (i64, Option<i64>)> = g["indicators"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(id, f)| {
                (
                    id.clone(),
                    (f["numerator"].as_i64().unwrap(), f["denominator"].as_i64()),
                )
            })
            .collect();
        let code = g["code"].as_str().unwrap();
        assert_eq!(values_of(&set, code), want, "{region} {period} {level} {code}");
        assert!(set["dataValues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["period"] == period.as_str()));
    }
}

#[tokio::test]
async fn dhis2_values_equal_the_coverage_report_and_the_metadata_names_them_all() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let year = jiayi::time::today_cst().format("%Y").to_string();
    let month = jiayi::time::today_cst().format("%Y-%m").to_string();
    for (period, by) in [(&year, "township"), (&year, "village"), (&month, "township")] {
        let res = app
            .get(
                &admin,
                &format!("/api/v1/reports/coverage?region={COUNTY}&period={period}&group_by={by}"),
            )
            .await;
        let report: Value = res.json().await.unwrap();
        assert!(
            report["total"]["indicators"]["signing_rate"]["numerator"]
                .as_i64()
                .unwrap()
                > 0
        );
        assert_dhis2_equals(&app, &admin, &report, by).await;
    }
    let set = dhis2_values(&app, &admin, COUNTY, &year, "township").await;
    assert_eq!(
        (set["dataSet"].as_str(), set["idScheme"].as_str()),
        (Some("JIAYI_YEARLY"), Some("CODE"))
    );
    let quarter = dhis2_values(&app, &admin, COUNTY, &format!("{year}Q1"), "township").await;
    assert_eq!(quarter["dataSet"], "JIAYI_QUARTERLY");
    // The same values in DHIS2's CSV import format.
    let res = app
        .get(
            &admin,
            &format!("/api/v1/exports/dhis2/dataValueSets?region={COUNTY}&period={year}&format=csv"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value")
    );
    let rows: Vec<String> = lines.map(str::to_string).collect();
    let want: Vec<String> = set["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{},{},{},,,{}",
                v["dataElement"].as_str().unwrap(),
                v["period"].as_str().unwrap(),
                v["orgUnit"].as_str().unwrap(),
                v["value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(rows, want);

    let res = app
        .get(&admin, &format!("/api/v1/exports/dhis2/metadata?region={COUNTY}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let meta: Value = res.json().await.unwrap();
    let units: HashMap<&str, &Value> = meta["organisationUnits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["code"].as_str().unwrap(), o))
        .collect();
    let elements: HashMap<&str, &str> = meta["dataElements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["id"].as_str().unwrap()))
        .collect();
    for v in set["dataValues"].as_array().unwrap() {
        assert!(units.contains_key(v["orgUnit"].as_str().unwrap()), "{v}");
        assert!(elements.contains_key(v["dataElement"].as_str().unwrap()), "{v}");
    }
    // The hierarchy imports whole: every parent is in it, and only the county has none.
    let ids: BTreeSet<&str> = units.values().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), units.len(), "one UID per org unit");
    for (code, o) in &units {
        match o["parent"]["id"].as_str() {
            Some(p) => assert!(ids.contains(p), "{code}'s parent"),
            None => assert_eq!(*code, COUNTY),
        }
    }
    let uids: BTreeSet<&str> = elements.values().copied().collect();
    assert_eq!(uids.len(), elements.len(), "one UID per data element");
    for i in meta["indicators"].as_array().unwrap() {
        let code = i["code"].as_str().unwrap();
        assert_eq!(
            i["numerator"],
            format!("#{{{}}}", elements[format!("{code}_NUM").as_str()])
        );
        assert_eq!(
            i["denominator"],
            format!("#{{{}}}", elements[format!("{code}_DEN").as_str()])
        );
    }
    let types: Vec<&str> = meta["dataSets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["periodType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Monthly", "Quarterly", "Yearly"]);
    // The same metadata twice names the same objects (a second import updates in place).
    let again: Value = app
        .get(&admin, &format!("/api/v1/exports/dhis2/metadata?region={COUNTY}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, meta);
    let audited = app.db(|c| audit_count(c, "dhis2_exported"));
    assert_eq!(audited, 6, "every data value set is audited");
}

#[tokio::test]
async fn dhis2_exports_are_scoped_and_refuse_bad_periods_and_levels() {
    let app = spawn_app().await;
    let sup = app.login("supervisor1").await;
    let doctor = app.login("doctor1").await;
    let own = sup.user["region_code"].as_str().unwrap().to_string();
    let set = dhis2_values(&app, &sup, &own, "2026", "village").await;
    assert!(set["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["orgUnit"].as_str().unwrap().starts_with(&own[..9])));
    let base = "/api/v1/exports/dhis2/dataValueSets";
    for (who, q, status, code) in [
        (
            &sup,
            format!("region={COUNTY}&period=2026"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &sup,
            "region=431126101000&period=2026".to_string(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &doctor,
            format!("region={own}&period=2026"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &sup,
            format!("region={own}&period=2026-11"),
            StatusCode::BAD_REQUEST,
            "invalid_period",
        ),
        (
            &sup,
            format!("region={own}&period=2026Q5"),
            StatusCode::BAD_REQUEST,
            "invalid_period",
        ),
        (
            &sup,
            format!("region={own}&period=2026&level=county"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            &sup,
            format!("region={}001&period=2026&level=township", &own[..9]),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            &sup,
            "region=4311&period=2026".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_region_code",
        ),
        (
            &sup,
            format!("region={own}&period=2026&rate=1"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let res = app.get(who, &format!("{base}?{q}")).await;
        assert_error(res, status, code).await;
    }
    for (who, region) in [(&doctor, own.as_str()), (&sup, COUNTY)] {
        let res = app
            .get(who, &format!("/api/v1/exports/dhis2/metadata?region={region}"))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(
        app.db(|c| audit_count(c, "dhis2_exported")),
        1,
        "refusals leave no export entry"
    );
}

/// How many audit entries of an action there are.
pub fn audit_count(c: &mut jiayi::db::DbConn, action: &str) -> i64 {
    use diesel::prelude::*;
    use jiayi::db::views::audit_trail;
    audit_trail::table
        .filter(audit_trail::action.eq(action))
        .count()
        .get_result(c)
        .unwrap()
}
