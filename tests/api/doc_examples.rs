//! docs/sync-protocol.md checked against the server, not trusted: every `json` and `http`
//! example in it is tagged (`<!-- example: name -->` on the line before the fence) and
//! run here as one tablet's story on a demo county — log in, push, update, transition,
//! delete, pull, bootstrap, blobs — with the answer examples compared to the real
//! answers. (The create table's fields: tests/api/create_fields.rs.)

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{contract_op, now_cst, spawn_app, TestApp, DEMO_PASSWORD};

const DOC: &str = include_str!("../../docs/sync-protocol.md");

/// The examples the story below runs; each appears once in the document.
const HANDLED: &[&str] = &[
    "login",
    "login-answer",
    "push",
    "push-answer",
    "resident-update",
    "contract-transition",
    "referral-transition",
    "delete",
    "pull",
    "pull-answer",
    "bootstrap",
    "bootstrap-answer",
    "blobs",
];

/// One fenced example of the document.
struct Example {
    lang: String,
    text: String,
    line: usize,
}

/// Every tagged example, by name. Panics on an untagged `json` or `http` block, so a new
/// example cannot be added without being run.
fn examples() -> BTreeMap<String, Example> {
    let lines: Vec<&str> = DOC.lines().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```").filter(|l| !l.is_empty()) else {
            i += 1;
            continue;
        };
        let start = i;
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .unwrap_or_else(|| panic!("docs/sync-protocol.md:{}: the fence never closes", start + 1));
        if lang == "json" || lang == "http" {
            let tag = start
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- example:"))
                .and_then(|t| t.strip_suffix("-->"))
                .map(|t| t.trim().to_string())
                .unwrap_or_else(|| {
                    panic!(
                        "docs/sync-protocol.md:{}: a {lang} example without `<!-- example: name -->` before it \
                         (tests/api/doc_examples.rs runs every tagged example)",
                        start + 1
                    )
                });
            let example = Example {
                lang: lang.to_string(),
                text: lines[start + 1..end].join("\n"),
                line: start + 1,
            };
            assert!(
                out.insert(tag.clone(), example).is_none(),
                "docs/sync-protocol.md: two examples are tagged {tag}"
            );
        }
        i = end + 1;
    }
    out
}

/// A request line of an `http` example, its headers and its JSON body.
struct Request {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

/// The requests of an `http` example: lines `METHOD /path …` (what follows the path is
/// commentary), header lines `Name: value`, and a JSON body for the last request.
fn requests(example: &Example) -> Vec<Request> {
    assert_eq!(example.lang, "http", "line {}", example.line);
    let mut out: Vec<Request> = Vec::new();
    let mut lines = example.text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('{') {
            let rest: Vec<&str> = std::iter::once(line).chain(lines.by_ref()).collect();
            let body = parse(&rest.join("\n"), example.line);
            out.last_mut().expect("a body after a request line").body = Some(body);
            break;
        }
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Ok(method) = first.parse::<Method>().map_err(|_| ()).and_then(|m| {
            ["GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"]
                .contains(&m.as_str())
                .then_some(m)
                .ok_or(())
        }) {
            let target = words.next().expect("a path after the method").to_string();
            out.push(Request {
                method,
                target,
                headers: Vec::new(),
                body: None,
            });
        } else if let Some((name, value)) = t.split_once(": ") {
            out.last_mut()
                .expect("a header after a request line")
                .headers
                .push((name.to_string(), value.to_string()));
        } else if !t.is_empty() {
            panic!("docs/sync-protocol.md:{}: cannot read {t:?}", example.line);
        }
    }
    out
}

/// Parses an example's JSON; `{ … }` stands for an object of any content.
fn parse(text: &str, line: usize) -> Value {
    serde_json::from_str(&text.replace("{ … }", "{}"))
        .unwrap_or_else(|e| panic!("docs/sync-protocol.md:{line}: the example is not JSON: {e}"))
}

fn json_example(examples: &BTreeMap<String, Example>, name: &str) -> Value {
    let e = &examples[name];
    assert_eq!(
        e.lang, "json",
        "docs/sync-protocol.md:{}: {name} is a json example",
        e.line
    );
    parse(&e.text, e.line)
}

/// A placeholder: `…` anywhere in a string, or a name in angle brackets (`<visit>`).
fn is_placeholder(s: &str) -> bool {
    s.contains('…') || (s.starts_with('<') && s.ends_with('>'))
}

/// Fills the placeholders of an example by the key they stand under; panics on one the
/// story has no value for.
fn fill(v: &mut Value, key: &str, with: &dyn Fn(&str, &str) -> Option<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                fill(x, k, with);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, key, with)),
        Value::String(s) if is_placeholder(s) => {
            *v = with(key, s).unwrap_or_else(|| panic!("the example leaves {key} = {s:?} open"));
        }
        _ => {}
    }
}

/// Whether a real answer is what an answer example shows: every key the example has (the
/// answer may hold more), a placeholder string for any string, a digit for any digit
/// (`2026-03-02T01:00:00.000Z` for any instant so written), an array's example element
/// matched by some real element, other values equal.
fn conforms(example: &Value, real: &Value, at: &str) -> Result<(), String> {
    match (example, real) {
        (Value::Object(e), Value::Object(r)) => {
            for (k, ev) in e {
                let rv = r.get(k).ok_or_else(|| format!("{at}.{k} is missing from the answer"))?;
                conforms(ev, rv, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(r)) => {
            for (i, ev) in e.iter().enumerate() {
                let found = r.iter().any(|rv| conforms(ev, rv, at).is_ok());
                if !found {
                    let why = r.first().map(|rv| conforms(ev, rv, at).unwrap_err());
                    return Err(format!(
                        "{at}[{i}]: no element of the answer's {} is like the example ({})",
                        r.len(),
                        why.unwrap_or_else(|| "the answer's array is empty".into())
                    ));
                }
            }
            Ok(())
        }
        (Value::String(e), Value::String(r)) => {
            let same = is_placeholder(e)
                || (e.chars().count() == r.chars().count()
                    && e.chars()
                        .zip(r.chars())
                        .all(|(a, b)| a == b || (a.is_ascii_digit() && b.is_ascii_digit())));
            if same {
                Ok(())
            } else {
                Err(format!("{at}: the example says {e:?}, the answer {r:?}"))
            }
        }
        (e, r) if e == r => Ok(()),
        (e, r) => Err(format!("{at}: the example says {e}, the answer {r}")),
    }
}

fn assert_conforms(name: &str, example: &Value, real: &Value) {
    if let Err(why) = conforms(example, real, name) {
        panic!("docs/sync-protocol.md's {name} example is not what the server answers: {why}\nanswer: {real}");
    }
}

/// Replaces a query parameter's placeholder value (`cursor=<last cursor>`), or drops the
/// parameter when `value` is `None`.
fn with_param(target: &str, name: &str, value: Option<&str>) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .filter_map(|p| match p.split_once('=') {
            Some((k, _)) if k == name => value.map(|v| format!("{k}={v}")),
            _ => Some(p.to_string()),
        })
        .collect();
    if params.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

/// Sends a request of an example with the tablet's token.
async fn send(
    app: &TestApp,
    token: Option<&str>,
    r: &Request,
    target: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.request(r.method.clone(), app.url(target));
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.expect("request")
}

async fn answer(res: reqwest::Response, what: &str) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

fn fresh_id() -> Value {
    json!(Uuid::now_v7().to_string())
}

#[test]
fn every_example_is_tagged_and_run() {
    let found = examples();
    let names: Vec<&str> = found.keys().map(String::as_str).collect();
    let mut expected = HANDLED.to_vec();
    expected.sort_unstable();
    assert_eq!(
        names, expected,
        "the tagged examples of docs/sync-protocol.md and the ones this test runs differ"
    );
}

#[tokio::test]
async fn every_example_in_the_sync_protocol_does_what_the_document_says() {
    let app = spawn_app().await;
    let ex = examples();

    // §1: log in with the example's body, the demo password for its `…`.
    let login = &requests(&ex["login"])[0];
    let mut body = login.body.clone().expect("a login body");
    fill(&mut body, "", &|k, _| (k == "password").then(|| json!(DEMO_PASSWORD)));
    let device_id = body["device_id"].as_str().unwrap().to_string();
    let answer_login = answer(send(&app, None, login, &login.target, Some(&body)).await, "login").await;
    assert_conforms("login-answer", &json_example(&ex, "login-answer"), &answer_login);
    let access = answer_login["access_token"].as_str().unwrap().to_string();
    let token = Some(access.as_str());

    // §2: the push example registers its resident; the placeholders are fresh UUIDs.
    let push = &requests(&ex["push"])[0];
    let mut body = push.body.clone().expect("a push body");
    assert_eq!(
        body["device_id"],
        json!(device_id),
        "the push example names the login example's device"
    );
    fill(&mut body, "", &|k, _| ["op_id", "id"].contains(&k).then(fresh_id));
    let resident = body["ops"][0]["id"].as_str().unwrap().to_string();
    let pushed = answer(send(&app, token, push, &push.target, Some(&body)).await, "push").await;
    assert_conforms("push-answer", &json_example(&ex, "push-answer"), &pushed);

    let push_ops = |ops: Vec<Value>| {
        let body = json!({ "device_id": device_id, "ops": ops });
        let app = &app;
        async move {
            let out = answer(send(app, token, push, &push.target, Some(&body)).await, "push").await;
            out["results"].as_array().unwrap().clone()
        }
    };
    let applied = |results: &[Value], what: &str| {
        for r in results {
            assert_eq!(r["status"], "applied", "{what}: {r}");
        }
    };
    let (now, _) = now_cst();

    // The update example edits that resident.
    let mut update = json_example(&ex, "resident-update");
    fill(&mut update, "", &|k, s| match k {
        "op_id" => Some(fresh_id()),
        "id" if s == "<resident>" => Some(json!(resident)),
        _ => None,
    });
    let results = push_ops(vec![update.clone()]).await;
    applied(&results, "the update example");

    // The transition example ends a contract signed in March.
    let team = answer_login["user"]["team_id"].as_str().unwrap().to_string();
    let (contract, mut cop) = contract_op(&resident, &team, &["BASIC"]);
    cop["data"]["signed_at"] = json!("2026-03-01T10:00:00+08:00");
    cop["data"]["effective_from"] = json!("2026-03-01");
    let mut transition = json_example(&ex, "contract-transition");
    fill(&mut transition, "", &|k, s| match k {
        "op_id" => Some(fresh_id()),
        "id" if s == "<contract>" => Some(json!(contract)),
        "recorded_at" => Some(json!(now)),
        _ => None,
    });
    let results = push_ops(vec![cop, transition.clone()]).await;
    applied(&results, "a contract, then the transition example");

    // The referral transition example returns a referral the hospital received.
    let referral = Uuid::now_v7().to_string();
    let rop = json!({ "op_id": fresh_id(), "entity": "referral", "action": "create", "id": referral, "recorded_at": now,
                      "data": { "resident_id": resident, "direction": "up", "facility": { "name": "县人民医院" },
                                "reason_code": "htn_uncontrolled", "referred_at": "2026-05-01T09:00:00+08:00" } });
    let received = json!({ "op_id": fresh_id(), "entity": "referral", "action": "transition", "id": referral,
                           "recorded_at": now, "data": { "to": "RECEIVED", "at": "2026-05-02T09:00:00+08:00" } });
    let mut returned = json_example(&ex, "referral-transition");
    fill(&mut returned, "", &|k, s| match k {
        "op_id" => Some(fresh_id()),
        "id" if s == "<referral>" => Some(json!(referral)),
        "recorded_at" => Some(json!(now)),
        _ => None,
    });
    let results = push_ops(vec![rop, received, returned]).await;
    applied(&results, "a referral, its receipt, then the transition example");

    // The delete example deletes a visit.
    let visit = Uuid::now_v7().to_string();
    let vop = json!({ "op_id": fresh_id(), "entity": "visit", "action": "create", "id": visit, "recorded_at": now,
                      "data": { "resident_id": resident, "kind": "htn_followup", "occurred_at": now,
                                "measurements": { "systolic": 130, "diastolic": 85 } } });
    let mut delete = json_example(&ex, "delete");
    fill(&mut delete, "", &|k, s| match k {
        "op_id" => Some(fresh_id()),
        "id" if s == "<visit>" => Some(json!(visit)),
        _ => None,
    });
    let results = push_ops(vec![vop, delete]).await;
    applied(&results, "a visit, then the delete example");

    // §3: pull, first without a cursor ("start without a cursor"), then with the cursor
    // it returned, while `has_more`.
    let pull = &requests(&ex["pull"])[0];
    let mut page = answer(
        send(&app, token, pull, &with_param(&pull.target, "cursor", None), None).await,
        "pull",
    )
    .await;
    assert_conforms("pull-answer", &json_example(&ex, "pull-answer"), &page);
    let mut changes: Vec<Value> = page["changes"].as_array().unwrap().clone();
    while page["has_more"] == json!(true) {
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let target = with_param(&pull.target, "cursor", Some(&cursor));
        page = answer(send(&app, token, pull, &target, None).await, "pull").await;
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
    }
    let change = |id: &str| {
        changes
            .iter()
            .rev()
            .find(|c| c["id"] == json!(id))
            .unwrap_or_else(|| panic!("{id} is not in the pull"))
            .clone()
    };
    let r = change(&resident);
    for (k, v) in update["data"].as_object().unwrap() {
        let (mut sent, mut back) = (v.clone(), r["data"][k].clone());
        if k == "tags" {
            // A set, pulled in alphabetical order (§6).
            for t in [&mut sent, &mut back] {
                t.as_array_mut().unwrap().sort_by_key(|x| x.to_string());
            }
        }
        assert_eq!(back, sent, "the update example's {k} came back: {r}");
    }
    let c = change(&contract);
    assert_eq!(
        (c["data"]["status"].clone(), c["data"]["end_reason"].clone()),
        (transition["data"]["to"].clone(), transition["data"]["reason"].clone()),
        "{c}"
    );
    let v = change(&visit);
    assert_eq!(
        (v["deleted"].clone(), v["data"].clone()),
        (json!(true), Value::Null),
        "a tombstone: {v}"
    );

    // §4: bootstrap with the example's requests. The example answers a page before the
    // last, so its `limit` is cut to 5 for the 60-resident demo county to page.
    let boot = requests(&ex["bootstrap"]);
    assert_eq!(boot.len(), 2, "a first page and a next page");
    let first = with_param(&boot[0].target, "limit", Some("5"));
    let page1 = answer(send(&app, token, &boot[0], &first, None).await, "bootstrap").await;
    assert_conforms("bootstrap-answer", &json_example(&ex, "bootstrap-answer"), &page1);
    let next = page1["next_page"].as_str().unwrap().to_string();
    let target = with_param(&with_param(&boot[1].target, "limit", Some("5")), "page", Some(&next));
    let page2 = answer(
        send(&app, token, &boot[1], &target, None).await,
        "bootstrap's next page",
    )
    .await;
    assert!(page2["records"].as_array().is_some_and(|r| !r.is_empty()), "{page2}");

    // §5: the blob requests in their order: absent, stored, present, read, listed.
    let bytes = b"\x89PNG\r\n\x1a\n a signature".to_vec();
    let sha = hex::encode(Sha256::digest(&bytes));
    let blob = requests(&ex["blobs"]);
    let at = |r: &Request| r.target.replace("<sha256>", &sha);
    let mut seen = Vec::new();
    for (i, r) in blob.iter().enumerate() {
        let target = at(r);
        let res = if r.method == Method::PUT {
            app.client
                .put(app.url(&target))
                .bearer_auth(&access)
                .header("Content-Type", "image/png")
                .body(bytes.clone())
                .send()
                .await
                .unwrap()
        } else {
            send(&app, token, r, &target, None).await
        };
        let status = res.status();
        let got = res.bytes().await.unwrap();
        match (r.method.as_str(), target.ends_with("/missing")) {
            ("HEAD", _) if i == 0 => assert_eq!(status, StatusCode::NOT_FOUND, "HEAD before the upload"),
            ("HEAD", _) => assert_eq!(status, StatusCode::OK),
            ("PUT", _) => assert_eq!(status, StatusCode::CREATED),
            ("GET", true) => {
                assert_eq!(status, StatusCode::OK);
                serde_json::from_slice::<Value>(&got).expect("a JSON list");
            }
            ("GET", false) => assert_eq!((status, got.to_vec()), (StatusCode::OK, bytes.clone())),
            (m, _) => panic!("the blob example has a {m} the test does not know"),
        }
        seen.push(r.method.to_string());
        // HEAD once more after the PUT: the example's "200 present".
        if r.method == Method::PUT {
            let res = send(&app, token, &blob[0], &at(&blob[0]), None).await;
            assert_eq!(res.status(), StatusCode::OK, "HEAD after the upload");
        }
    }
    assert_eq!(seen, ["HEAD", "PUT", "GET", "GET"], "the blob example's requests");
}
