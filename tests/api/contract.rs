//! The API contract: every route the server registers is in the OpenAPI document (and
//! nothing else is), every operation documents its errors in the one error shape, and
//! protected operations name the bearer scheme.

use std::collections::BTreeSet;

use serde_json::Value;

/// The document as JSON.
pub fn spec() -> Value {
    serde_json::from_str(&jiayi::openapi::json()).expect("the document is JSON")
}

/// Every (METHOD, path) the document describes.
pub fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = spec();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every (METHOD, path) registered in `src/http/mod.rs`, read from its source: the
/// `.route("path", web::get()…)` calls, `web::resource("path")` with its `.route(web::put()…)`
/// calls, under the `web::scope("prefix")` they sit in.
fn registered_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/http/mod.rs");
    let quoted = |s: &str, after: &str| -> Option<String> {
        let i = s.find(after)? + after.len();
        let rest = &s[i..];
        let end = rest.find('"')?;
        Some(rest[..end].to_string())
    };
    let method = |s: &str| -> Option<String> {
        ["get", "put", "post", "delete", "patch", "head"]
            .iter()
            .find(|m| s.contains(&format!("web::{m}()")))
            .map(|m| m.to_uppercase())
    };
    let mut prefix = String::new();
    let mut resource = None::<String>;
    let mut out = BTreeSet::new();
    // A call rustfmt wrapped (`.route(` alone on its line, its arguments below, `)` last)
    // is read as one line.
    let mut lines: Vec<String> = Vec::new();
    let mut open: Option<String> = None;
    for line in src.lines().map(str::trim) {
        match open.as_mut() {
            Some(call) if line == ")" || line == ")," => {
                call.push(')');
                lines.push(open.take().unwrap());
            }
            Some(call) => call.push_str(line),
            None if line == ".route(" => open = Some(line.to_string()),
            None => lines.push(line.to_string()),
        }
    }
    for line in lines.iter().map(String::as_str) {
        if line.starts_with("//") {
            continue;
        }
        if let Some(p) = quoted(line, "web::scope(\"") {
            prefix = p;
        }
        if let Some(p) = quoted(line, "web::resource(\"") {
            resource = Some(p);
        }
        if let Some(p) = quoted(line, ".route(\"") {
            let m = method(line).unwrap_or_else(|| panic!("a route without a method: {line}"));
            // `{path:.*}` (a segment pattern) is `{path}` in the document.
            let p = regex_free(&p);
            out.insert((m, format!("{prefix}{p}")));
            resource = None;
        } else if line.starts_with(".route(web::") {
            let r = resource
                .clone()
                .unwrap_or_else(|| panic!("a resource route outside web::resource: {line}"));
            let m = method(line).unwrap_or_else(|| panic!("a route without a method: {line}"));
            out.insert((m, format!("{prefix}{r}")));
        }
    }
    assert!(out.len() > 20, "src/http/mod.rs could not be read: {out:?}");
    out
}

/// A route path with its segment patterns dropped: `/field/{path:.*}` → `/field/{path}`.
fn regex_free(path: &str) -> String {
    let mut out = String::new();
    let mut in_pattern = false;
    for ch in path.chars() {
        match ch {
            ':' if out.ends_with(|c: char| c.is_alphanumeric() || c == '_') && out.contains('{') => in_pattern = true,
            '}' => {
                in_pattern = false;
                out.push(ch);
            }
            _ if in_pattern => {}
            _ => out.push(ch),
        }
    }
    out
}

#[test]
fn every_registered_route_is_documented_and_nothing_else() {
    let registered = registered_routes();
    let documented = documented_operations();
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes registered in src/http/mod.rs but missing from the OpenAPI document \
         (annotate the handler with #[utoipa::path] and list it in src/openapi.rs): {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "operations in the OpenAPI document that src/http/mod.rs does not register: {extra:?}"
    );
}

/// Codes named in a response description: the snake_case words.
fn codes_in(description: &str) -> Vec<String> {
    description
        .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .filter(|w| w.contains('_') || ["forbidden", "not_found"].contains(w))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_operation_documents_its_errors_in_the_one_error_shape() {
    let doc = spec();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "the bearer scheme is declared"
    );
    let error_schema = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_schema["required"], serde_json::json!(["error"]));
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().expect("responses");
            if !responses.keys().any(|s| s.starts_with('2')) {
                problems.push(format!("{at}: no success response"));
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if path.starts_with("/api/v1/") && !secured && !path.starts_with("/api/v1/auth/") {
                problems.push(format!("{at}: an API operation without the bearer scheme"));
            }
            if secured {
                if op["security"][0]["bearer"].is_null() {
                    problems.push(format!("{at}: security does not name the bearer scheme"));
                }
                if !responses.contains_key("401") {
                    problems.push(format!("{at}: protected but no 401"));
                }
            }
            if op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"))
                && !responses.contains_key("404")
                && !responses.contains_key("422")
            {
                problems.push(format!("{at}: a path parameter but no 404 or 422"));
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                for s in ["400", "413", "415", "422"] {
                    if !responses.contains_key(s) {
                        problems.push(format!("{at}: a JSON body but no {s}"));
                    }
                }
            }
            for (status, r) in responses {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let desc = r["description"].as_str().unwrap_or("");
                if codes_in(desc).is_empty() && method != "head" {
                    problems.push(format!("{at}: {status} names no error code ({desc:?})"));
                }
                if method == "head" {
                    continue;
                }
                let schema = &r["content"]["application/json"]["schema"];
                let reference = schema["$ref"].as_str().unwrap_or("");
                let ok = reference == "#/components/schemas/ErrorBody"
                    || reference.strip_prefix("#/components/schemas/").is_some_and(|name| {
                        doc["components"]["schemas"][name]["properties"]["error"]["$ref"]
                            == "#/components/schemas/ErrorDetail"
                    });
                if !ok {
                    problems.push(format!("{at}: {status} is not in the error shape ({schema})"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "OpenAPI problems:\n{}", problems.join("\n"));
}

/// The repository carries its own design: code, tests, tools and docs cite files inside it
/// (docs/…), never a design note or indicator list kept elsewhere.
#[test]
fn the_repository_cites_only_its_own_design_documents() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Spelled in pieces so this file does not match itself.
    let outside = [
        format!("{}{}", "DESIGN", " §"),
        format!("{}{}", "DESIGN", ".md"),
        format!("{}{}", "INDICATORS", ".md"),
        format!("{}{}", "../", "shared"),
    ];
    let mut found = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = ["src", "docs", "tests", "tools", "migrations", "benches", "web", ".ci"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    stack.push(root.join("README.md"));
    while let Some(path) = stack.pop() {
        if path.ends_with("vendor") {
            continue;
        }
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            for (n, line) in text.lines().enumerate() {
                if outside.iter().any(|o| line.contains(o.as_str())) {
                    found.push(format!(
                        "{}:{}: {}",
                        path.strip_prefix(root).unwrap().display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite the repository's own docs (docs/architecture.md, docs/sync-protocol.md, docs/reports.md, …) instead:\n{}",
        found.join("\n")
    );
}
