use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, resident_op, spawn_app};

#[tokio::test]
async fn a_doctor_reads_their_own_teams_resident_with_the_id_number_masked() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let village = app.villages(&d1).await[0].clone();
    let (id, op) = resident_op(&village, "1950-05-01", 'F', &["hypertension"]);
    let id_number = op["data"]["id_number"].as_str().unwrap().to_string();
    let out = app.push(&d1, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    let res = app.get(&d1, &format!("/api/v1/residents/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&id_number),
        "the clear ID number never leaves the server"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let masked = body["id_number_masked"].as_str().unwrap();
    assert_eq!(masked, format!("****************{}*", &id_number[16..17]));
    assert_eq!(body["tags"], serde_json::json!(["hypertension"]));
}

#[tokio::test]
async fn a_doctor_cannot_read_another_teams_resident() {
    let app = spawn_app().await;
    let d1 = app.login("doctor1").await;
    let d2 = app.login("doctor2").await;
    let village2 = app.villages(&d2).await[0].clone();
    let (id, op) = resident_op(&village2, "1980-01-02", 'M', &[]);
    let out = app.push(&d2, vec![op]).await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert_eq!(
        app.get(&d2, &format!("/api/v1/residents/{id}")).await.status(),
        StatusCode::OK
    );
    // Another team's resident looks exactly like a missing one.
    let res = app.get(&d1, &format!("/api/v1/residents/{id}")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .get(&d1, "/api/v1/residents/00000000-0000-0000-0000-000000000000")
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // The township supervisor sees it, with the phone masked.
    let sup = app.login("supervisor1").await;
    let body: Value = app
        .get(&sup, &format!("/api/v1/residents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["phone"], "138******00", "at least half of the digits hidden");
}

/// Every view a reader outside the team gets (pull, bootstrap, a review item's both sides)
/// shows the new masks: of the ID number only its 17th character, and of an 8-digit
/// landline no more than half of the digits. The team's own doctor gets the phone in full.
#[tokio::test]
async fn a_supervisor_sees_the_seventeenth_character_and_half_a_landline_in_every_view() {
    use serde_json::json;

    let app = spawn_app().await;
    let (d1, d2, sup) = (
        app.login("doctor1").await,
        app.login("doctor2").await,
        app.login("supervisor1").await,
    );
    let village = app.villages(&d1).await[0].clone();
    let (rid, mut create) = resident_op(&village, "1948-07-09", 'F', &[]);
    create["data"]["phone"] = json!("84561234");
    let number = create["data"]["id_number"].as_str().unwrap().to_string();
    let mask = |n: &str| format!("****************{}*", &n[16..17]);
    assert_eq!(app.push(&d1, vec![create]).await["results"][0]["status"], "applied");
    // A refused op (a derived tag sent), kept for review.
    let (_, mut refused) = resident_op(&village, "1949-08-10", 'M', &["elderly"]);
    refused["data"]["phone"] = json!("84567890");
    let refused_number = refused["data"]["id_number"].as_str().unwrap().to_string();
    assert_eq!(
        app.push(&d1, vec![refused.clone()]).await["results"][0]["status"],
        "rejected"
    );
    // A duplicate candidate: another team registers the same number with another landline.
    let other_village = app.villages(&d2).await[0].clone();
    let (twin, mut again) = resident_op(&other_village, "1948-07-09", 'F', &[]);
    again["data"]["id_number"] = json!(number);
    again["data"]["phone"] = json!("84560000");
    app.push(&d2, vec![again]).await;

    let check = |r: &Value, phone: &str, what: &str| {
        assert_eq!(r["id_number_masked"], mask(&number), "{what}: {r}");
        assert_eq!(r["phone"], phone, "{what}: {r}");
    };
    let (changes, _) = app.pull_all(&sup, None).await;
    let pulled = changes.iter().find(|c| c["id"] == rid.as_str()).expect("pulled");
    check(&pulled["data"], "84****34", "supervisor's pull");
    let mut path = "/api/v1/sync/bootstrap?limit=200".to_string();
    let mut booted = None;
    loop {
        let res = app.get(&sup, &path).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        if let Some(r) = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rid.as_str())
        {
            booted = Some(r.clone());
        }
        match page["next_page"].as_str() {
            Some(next) => path = format!("/api/v1/sync/bootstrap?limit=200&page={next}"),
            None => break,
        }
    }
    check(
        &booted.expect("bootstrapped")["data"],
        "84****34",
        "supervisor's bootstrap",
    );
    let (changes, _) = app.pull_all(&d1, None).await;
    let own = changes.iter().find(|c| c["id"] == rid.as_str()).unwrap();
    check(&own["data"], "84561234", "the team's own pull");

    let res = app.get(&sup, "/api/v1/review/items?status=open&limit=200").await;
    assert_eq!(res.status(), StatusCode::OK);
    let items: Value = res.json().await.unwrap();
    let items = items["items"].as_array().unwrap();
    let q = items
        .iter()
        .find(|i| i["op_id"] == refused["op_id"])
        .expect("the refused op");
    let detail: Value = app
        .get(&sup, &format!("/api/v1/review/items/{}", q["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    for shown in [q, &detail] {
        assert_eq!(shown["client_value"]["data"]["phone"], "84****90", "{shown}");
        let text = shown.to_string();
        assert!(
            text.contains(&mask(&refused_number)) && !text.contains(&refused_number[..16]),
            "{text}"
        );
    }
    let dup = items
        .iter()
        .find(|i| i["kind"] == "duplicate_resident" && i["entity_id"] == twin.as_str())
        .expect("the duplicate");
    check(&dup["client_value"], "84****00", "duplicate item, the tablet's side");
    let shown = dup.to_string();
    assert!(
        !shown.contains(&number) && !shown.contains("84561234") && !shown.contains("84560000"),
        "{shown}"
    );
}

mod search {
    use reqwest::StatusCode;
    use serde_json::{json, Value};
    use uuid::Uuid;

    use crate::helpers::{assert_error, contract_op, now_cst, op, resident_op, spawn_app, supervisor_of};

    const PHONE: &str = "13987654321";

    async fn items(app: &crate::helpers::TestApp, s: &crate::helpers::Session, query: &str) -> Vec<Value> {
        let res = app.get(s, &format!("/api/v1/residents?{query}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        let page: Value = res.json().await.unwrap();
        page["items"].as_array().unwrap().clone()
    }

    #[tokio::test]
    async fn residents_are_found_by_name_phone_and_id_number_within_scope_masked_and_no_search_undoes_a_mask() {
        let app = spawn_app().await;
        let d1 = app.login("doctor1").await;
        let village = app.villages(&d1).await[0].clone();
        let (id, mut r) = resident_op(&village, "1948-02-03", 'M', &["hypertension"]);
        r["data"]["name"] = json!("欧阳查找");
        r["data"]["phone"] = json!(PHONE);
        let id_number = r["data"]["id_number"].as_str().unwrap().to_string();
        let out = app.push(&d1, vec![r]).await;
        assert_eq!(out["results"][0]["status"], "applied", "{out}");
        let sup = app.login("supervisor1").await;
        let found_by = |list: &[Value]| list.iter().any(|x| x["id"] == id.as_str());
        for q in [
            "q=%E6%AC%A7%E9%98%B3",
            &format!("q={PHONE}"),
            &format!("q={id_number}"),
            &format!("q={PHONE}&village={village}"),
        ] {
            let list = items(&app, &sup, q).await;
            assert!(found_by(&list), "{q}: {list:?}");
            let me = list.iter().find(|x| x["id"] == id.as_str()).unwrap();
            assert_ne!(me["phone"], PHONE, "masked for a supervisor");
            assert!(!me.to_string().contains(&id_number));
        }
        // A search must not undo the masks: outside the team a phone is found by its whole
        // number only (its end would give the hidden digits one search at a time), and an ID
        // number never by a part of it.
        for part in ["4321", "654321", &id_number[14..], &id_number[10..]] {
            assert!(!found_by(&items(&app, &sup, &format!("q={part}")).await), "{part}");
        }
        // The team sees its own phone, and finds it by its end too; a wildcard typed is a
        // character, not a pattern.
        let own = items(&app, &d1, "q=4321").await;
        assert!(own.iter().any(|x| x["phone"] == PHONE));
        assert!(!found_by(&items(&app, &sup, "q=%25").await));
        // Outside scope: another team, another township.
        let d2 = app.login("doctor2").await;
        assert!(!found_by(&items(&app, &d2, "q=4321").await));
        let other = supervisor_of(&app, "sup_search", "431126101000").await;
        assert!(!found_by(&items(&app, &other, "q=%E6%AC%A7%E9%98%B3").await));
        let res = app.get(&other, &format!("/api/v1/residents?village={village}")).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        // Bad input.
        for (q, code) in [
            ("limit=0", "invalid_limit"),
            ("limit=201", "invalid_limit"),
            ("village=12", "invalid_query"),
            ("cursor=nope", "invalid_cursor"),
        ] {
            assert_error(
                app.get(&sup, &format!("/api/v1/residents?{q}")).await,
                StatusCode::BAD_REQUEST,
                code,
            )
            .await;
        }
        // Searches are audited by kind, never by what was typed.
        let admin = app.login("admin").await;
        let res = app.get(&admin, "/api/v1/audit?limit=500").await;
        let text = res.text().await.unwrap();
        assert!(text.contains("residents_searched"));
        assert!(!text.contains("欧阳") && !text.contains(&id_number[..17]));
        // Digits are looked for in what the entries record, not in their ids and times,
        // where "4321" turns up by chance.
        let page: Value = serde_json::from_str(&text).unwrap();
        let details: Vec<&Value> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["detail"])
            .collect();
        assert!(!serde_json::to_string(&details).unwrap().contains("4321"));
    }

    #[tokio::test]
    async fn a_residents_record_shows_contract_history_amendments_and_audit_and_is_itself_audited() {
        let app = spawn_app().await;
        let d1 = app.login("doctor1").await;
        let village = app.villages(&d1).await[0].clone();
        let team = d1.user["team_id"].as_str().unwrap().to_string();
        let (rid, r) = resident_op(&village, "1951-06-07", 'F', &["diabetes"]);
        let (cid, c) = contract_op(&rid, &team, &["BASIC"]);
        let (now, _) = now_cst();
        let (v1, v2) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
        let visit = |amends: Option<&str>, systolic: i32| {
            json!({ "resident_id": rid, "contract_id": cid, "kind": "htn_followup", "occurred_at": now,
                    "measurements": { "systolic": systolic, "diastolic": 85 }, "amends": amends })
        };
        let ops = vec![
            r,
            c,
            op(
                "contract",
                "transition",
                &cid,
                json!({ "to": "TERMINATED", "reason": "moved_away", "at": now }),
            ),
            op("visit", "create", &v1, visit(None, 150)),
            op("visit", "amend", &v2, visit(Some(&v1), 145)),
        ];
        let out = app.push(&d1, ops).await;
        for r in out["results"].as_array().unwrap() {
            assert_eq!(r["status"], "applied", "{out}");
        }
        let sup = app.login("supervisor1").await;
        let res = app.get(&sup, &format!("/api/v1/residents/{rid}/record")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let rec: Value = res.json().await.unwrap();
        assert_eq!(rec["resident"]["id"], rid.as_str());
        assert_ne!(rec["resident"]["phone"], "13800138000", "masked for a supervisor");
        let history: Vec<&str> = rec["contracts"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["SIGNED", "TERMINATED"], "{rec}");
        assert_eq!(rec["contracts"][0]["history"][1]["by"], "doctor1");
        let visits = rec["visits"].as_array().unwrap();
        assert_eq!(visits.len(), 1, "the correction sits under its original: {rec}");
        assert_eq!(visits[0]["record"]["id"], v1.as_str());
        assert_eq!(visits[0]["amendments"][0]["id"], v2.as_str());
        let actions: Vec<&str> = rec["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"contract_transition"), "{actions:?}");
        // The read itself is in the audit log, naming who looked at whom.
        let admin = app.login("admin").await;
        let res = app.get(&admin, &format!("/api/v1/audit?entity_id={rid}")).await;
        let page: Value = res.json().await.unwrap();
        let viewed = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "resident_viewed")
            .unwrap();
        assert_eq!(viewed["user_id"], sup.user["id"]);
        // Outside scope it is absent, byte for byte like a missing id.
        let other = supervisor_of(&app, "sup_record", "431126101000").await;
        let a = app.get(&other, &format!("/api/v1/residents/{rid}/record")).await;
        let b = app
            .get(&other, &format!("/api/v1/residents/{}/record", Uuid::now_v7()))
            .await;
        assert_eq!(a.status(), StatusCode::NOT_FOUND);
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
        let d2 = app.login("doctor2").await;
        assert_eq!(
            app.get(&d2, &format!("/api/v1/residents/{rid}/record")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
