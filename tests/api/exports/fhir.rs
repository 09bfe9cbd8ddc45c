//! The FHIR R4 bulk export: the demo county whole with every reference resolved, `since`
//! exports with their deletions, scope and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{audit_count, COUNTY};
use crate::helpers::{self, assert_error, op, resident_op, spawn_app, Session, TestApp};

/// A manifest, asserted 200.
async fn manifest(app: &TestApp, s: &Session, query: &str) -> Value {
    let res = app.get(s, &format!("/api/v1/exports/fhir?{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "manifest {query}");
    res.json().await.unwrap()
}

/// Every line of a file, parsed.
async fn ndjson(app: &TestApp, s: &Session, url: &str) -> Vec<Value> {
    let res = app.get(s, url).await;
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    assert_eq!(res.headers()["content-type"], "application/fhir+ndjson");
    let text = res.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON resource per line"))
        .collect()
}

/// Every file of a manifest: type → resources.
async fn download(app: &TestApp, s: &Session, m: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for f in m["output"]
        .as_array()
        .unwrap()
        .iter()
        .chain(m["deleted"].as_array().unwrap())
    {
        let kind = f["type"].as_str().unwrap().to_string();
        let lines = ndjson(app, s, f["url"].as_str().unwrap()).await;
        for r in &lines {
            assert_eq!(r["resourceType"], kind.as_str(), "{} holds only {kind}", f["url"]);
        }
        out.insert(kind, lines);
    }
    out
}

/// Every `reference` in a resource.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn ids(resources: &[Value]) -> BTreeSet<String> {
    resources
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn live_count(c: &mut jiayi::db::DbConn, table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE deleted = false AND county_code = '{COUNTY}'"
    ))
    .get_result::<N>(c)
    .unwrap()
    .n
}

#[tokio::test]
async fn the_fhir_export_of_the_demo_county_holds_every_record_and_resolves_every_reference() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let m = manifest(&app, &admin, &format!("region={COUNTY}")).await;
    assert!(chrono::DateTime::parse_from_rfc3339(m["transactionTime"].as_str().unwrap()).is_ok());
    assert_eq!(m["requiresAccessToken"], true);
    assert_eq!(m["deleted"], json!([]), "a full export has no deletions");
    let files = download(&app, &admin, &m).await;
    assert_eq!(files.len(), 9);

    // Every record, once.
    for (kind, table) in [
        ("Patient", "residents"),
        ("CarePlan", "contracts"),
        ("Encounter", "visits"),
        ("QuestionnaireResponse", "survey_responses"),
    ] {
        let want = app.db(|c| live_count(c, table));
        assert!(want > 0, "the demo county has {table}");
        assert_eq!(files[kind].len() as i64, want, "{kind}");
        assert_eq!(ids(&files[kind]).len() as i64, want, "{kind} ids are distinct");
    }
    assert!(!files["Observation"].is_empty() && !files["Location"].is_empty());

    // Every reference points into the export.
    let mut present: BTreeSet<String> = BTreeSet::new();
    for (kind, resources) in &files {
        present.extend(ids(resources).into_iter().map(|id| format!("{kind}/{id}")));
    }
    let canonicals: BTreeSet<String> = files["Questionnaire"]
        .iter()
        .map(|q| format!("{}|{}", q["url"].as_str().unwrap(), q["version"].as_str().unwrap()))
        .collect();
    let mut checked = 0;
    for resources in files.values() {
        for r in resources {
            let mut refs = Vec::new();
            references(r, &mut refs);
            for x in refs {
                assert!(
                    present.contains(&x),
                    "{} {} names {x}, which is not exported",
                    r["resourceType"],
                    r["id"]
                );
                checked += 1;
            }
            if r["resourceType"] == "QuestionnaireResponse" {
                assert!(
                    canonicals.contains(r["questionnaire"].as_str().unwrap()),
                    "{}",
                    r["questionnaire"]
                );
            }
        }
    }
    assert!(checked > 300, "{checked} references checked");

    // What the mapping promises, on real records.
    let bp = files["Observation"]
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "85354-9")
        .expect("a blood pressure");
    assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
    assert_eq!(bp["component"][1]["code"]["coding"][0]["code"], "8462-4");
    assert_eq!(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    let town_of = |l: &Value| l["partOf"]["reference"].as_str().map(str::to_string);
    let village = files["Location"]
        .iter()
        .find(|l| l["physicalType"]["text"] == "village")
        .unwrap();
    assert!(town_of(village).unwrap().ends_with("000"));
    let plan = &files["CarePlan"][0];
    assert_eq!(plan["category"][0]["coding"][0]["code"], "family-doctor-contract");

    // Nothing a reader outside the team may see: no phone, no masked or whole ID number.
    let secrets: Vec<(Option<String>, String)> = app.db(|c| {
        use diesel::prelude::*;
        use jiayi::schema::residents;
        residents::table
            .select((residents::phone, residents::id_masked))
            .load(c)
            .unwrap()
    });
    let patients = serde_json::to_string(&files["Patient"]).unwrap();
    for (phone, masked) in secrets {
        assert!(!patients.contains(&masked), "a masked ID number is exported");
        if let Some(p) = phone.filter(|p| !p.is_empty()) {
            assert!(!patients.contains(&p), "a phone is exported");
        }
    }
    assert!(!patients.contains("telecom"));

    // gzip on request, the same lines.
    let url = m["output"][4]["url"].as_str().unwrap();
    let res = reqwest::Client::new()
        .get(app.url(url))
        .bearer_auth(&admin.access)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let zipped = res.bytes().await.unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain.lines().count(), files["Patient"].len());

    assert_eq!(app.db(|c| audit_count(c, jiayi::reports::fhir::MANIFEST_ACTION)), 1);
    assert_eq!(app.db(|c| audit_count(c, jiayi::reports::fhir::FILE_ACTION)), 10);
}

#[tokio::test]
async fn a_since_export_holds_what_changed_after_the_last_one_and_what_was_deleted() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let doctor = app.login("doctor1").await;
    let village = app.villages(&doctor).await[0].clone();
    let first = manifest(&app, &admin, &format!("region={COUNTY}")).await;
    let t1 = first["transactionTime"].as_str().unwrap().to_string();

    let (kept, k) = resident_op(&village, "1960-05-01", 'F', &["hypertension"]);
    let (gone, g) = resident_op(&village, "1961-05-01", 'M', &[]);
    let (v1, v2) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let (now, _) = helpers::now_cst();
    let visit = |amends: Option<&str>, systolic: i32| {
        json!({ "resident_id": kept, "kind": "htn_followup", "occurred_at": now,
                "measurements": { "systolic": systolic, "diastolic": 85 }, "amends": amends })
    };
    app.push_applied(
        &doctor,
        vec![
            k,
            g,
            op("resident", "delete", &gone, json!({})),
            op("visit", "create", &v1, visit(None, 150)),
            op("visit", "amend", &v2, visit(Some(&v1), 145)),
        ],
    )
    .await;

    let since = format!("region={COUNTY}&since={}", t1.replace('+', "%2B"));
    let second = manifest(&app, &admin, &since).await;
    let files = download(&app, &admin, &second).await;
    assert_eq!(
        ids(&files["Patient"]),
        BTreeSet::from([kept.clone()]),
        "only the resident made since"
    );
    let encounters: BTreeMap<String, String> = files["Encounter"]
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        encounters,
        BTreeMap::from([(v1.clone(), "entered-in-error".into()), (v2.clone(), "finished".into())])
    );
    let amended = files["Observation"]
        .iter()
        .find(|o| o["encounter"]["reference"] == format!("Encounter/{v2}"));
    assert_eq!(amended.unwrap()["status"], "amended");
    assert!(files["CarePlan"].is_empty() && files["QuestionnaireResponse"].is_empty());
    let deleted: Vec<String> = files["Bundle"]
        .iter()
        .flat_map(|b| b["entry"].as_array().unwrap().clone())
        .map(|e| {
            assert_eq!(e["request"]["method"], "DELETE");
            e["request"]["url"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(deleted, [format!("Patient/{gone}")]);

    // Nothing changed after the second: the next one since it is empty.
    let t2 = second["transactionTime"].as_str().unwrap().replace('+', "%2B");
    let third = manifest(
        &app,
        &admin,
        &format!("region={COUNTY}&since={t2}&types=Patient,Encounter"),
    )
    .await;
    let kinds: Vec<&str> = third["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Patient", "Encounter"]);
    let files = download(&app, &admin, &third).await;
    assert!(files["Patient"].is_empty() && files["Encounter"].is_empty() && files["Bundle"].is_empty());
}

#[tokio::test]
async fn fhir_exports_are_scoped_and_refuse_bad_input() {
    let app = spawn_app().await;
    let sup = app.login("supervisor1").await;
    let doctor = app.login("doctor1").await;
    let own = sup.user["region_code"].as_str().unwrap().to_string();
    let m = manifest(&app, &sup, &format!("region={own}&types=Patient,Location")).await;
    let files = download(&app, &sup, &m).await;
    assert!(!files["Patient"].is_empty());
    for p in &files["Patient"] {
        let village = p["address"][0]["extension"][0]["valueCode"].as_str().unwrap();
        assert!(
            village.starts_with(&own[..9]),
            "a patient of another township: {village}"
        );
    }
    let codes = ids(&files["Location"]);
    assert!(
        codes.contains(COUNTY) && codes.contains(&own),
        "the township and the county above it"
    );
    assert!(codes.iter().all(|c| c == COUNTY || c.starts_with(&own[..9])));

    for (who, path, status, code) in [
        (
            &sup,
            format!("/api/v1/exports/fhir?region={COUNTY}"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &sup,
            "/api/v1/exports/fhir/Patient.ndjson?region=431126101000".to_string(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &doctor,
            format!("/api/v1/exports/fhir?region={own}"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &doctor,
            format!("/api/v1/exports/fhir/Patient.ndjson?region={own}"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &sup,
            format!("/api/v1/exports/fhir?region={own}&types=Patient,Practitioner"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            &sup,
            format!("/api/v1/exports/fhir?region={own}&since=yesterday"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            &sup,
            format!("/api/v1/exports/fhir?region={own}&_type=Patient"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            &sup,
            format!("/api/v1/exports/fhir/Practitioner.ndjson?region={own}"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &sup,
            format!("/api/v1/exports/fhir/Patient.json?region={own}"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &sup,
            "/api/v1/exports/fhir?region=43112610".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_region_code",
        ),
    ] {
        let res = app.get(who, &path).await;
        assert_error(res, status, code).await;
    }
    // Only what was handed out is audited: one manifest, its two files.
    assert_eq!(app.db(|c| audit_count(c, jiayi::reports::fhir::MANIFEST_ACTION)), 1);
    assert_eq!(app.db(|c| audit_count(c, jiayi::reports::fhir::FILE_ACTION)), 2);
}
