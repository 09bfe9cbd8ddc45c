//! The error vocabulary (`crates/jiayi-protocol/src/codes.rs`) against the code that answers errors, the
//! protocol document that lists them and the OpenAPI document that names them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiayi::error_codes::{self, CODES};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source folder") {
        let path = e.expect("folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The quoted code at the start of `rest` (after blanks), if the argument is a literal.
fn literal(rest: &str) -> Option<&str> {
    let rest = rest.trim_start().strip_prefix('"')?;
    let code = &rest[..rest.find('"')?];
    (!code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    .then_some(code)
}

/// `AlreadyExists` → `already_exists`.
fn snake(variant: &str) -> String {
    let mut out = String::new();
    for (i, ch) in variant.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Every code the server's source names — a `Code::Variant` anywhere outside the
/// vocabulary itself, or a literal written into an `ErrorDetail` (`code: "…".into()`) —
/// with the files that do.
fn codes_used() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    assert!(files.len() > 50, "src/ could not be read: {} files", files.len());
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let name = file.strip_prefix(ROOT).unwrap().display().to_string();
        if name.ends_with("src/error_codes.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&file).expect("readable source");
        let mut found = |code: String| {
            used.entry(code).or_default().insert(name.clone());
        };
        for (at, _) in src.match_indices("Code::") {
            let before = src[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &src[at + "Code::".len()..];
            let variant: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if variant.starts_with(|c: char| c.is_ascii_uppercase()) {
                found(snake(&variant));
            }
        }
        for (at, _) in src.match_indices("code: \"") {
            let rest = &src[at + "code: ".len()..];
            if let Some(code) = literal(rest) {
                if rest[code.len() + 2..].starts_with(".into()") {
                    found(code.to_string());
                }
            }
        }
    }
    used
}

#[test]
fn every_error_code_the_server_answers_is_in_the_vocabulary_and_only_those() {
    let used = codes_used();
    // The scan itself must see the codes every request can meet, or it reads nothing.
    for code in ["malformed_json", "invalid_token", "resync_required", "malformed_op"] {
        assert!(used.contains_key(code), "the scan of src/ missed {code}: {used:?}");
    }
    let known: BTreeSet<&str> = CODES.iter().map(|c| c.code()).collect();
    let missing: Vec<String> = used
        .iter()
        .filter(|(code, _)| !known.contains(code.as_str()))
        .map(|(code, files)| {
            format!(
                "`{code}` (written in {}): name it by its `Code` variant, adding a row `Variant = \"{code}\", \
                 Some(Kind::…) or None when it only refuses one op, push_op, &[Surface::…], \"what it means for \
                 a tablet\";` to the vocabulary in crates/jiayi-protocol/src/codes.rs (alphabetical order), then run \
                 `UPDATE_DOCS=1 cargo test --test api error_codes` and commit docs/sync-protocol.md",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "error codes without an entry in the vocabulary:\n{}",
        missing.join("\n")
    );
    let unused: Vec<&str> = known.iter().copied().filter(|c| !used.contains_key(*c)).collect();
    assert!(
        unused.is_empty(),
        "codes in crates/jiayi-protocol/src/codes.rs that no code in src/ answers (remove their rows, then run \
         `UPDATE_DOCS=1 cargo test --test api error_codes`): {unused:?}"
    );
}

#[test]
fn the_vocabulary_is_sorted_unique_and_says_something_of_each_code() {
    let codes: Vec<&str> = CODES.iter().map(|c| c.code()).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        codes, sorted,
        "CODES in crates/jiayi-protocol/src/codes.rs must be in alphabetical order, each once"
    );
    for c in CODES {
        assert!(!c.meaning.trim().is_empty(), "{}: no meaning", c.code());
        assert_eq!(
            snake(&format!("{:?}", c.variant)),
            c.code(),
            "the variant's name is its code's"
        );
        assert_eq!(c.variant.as_str(), c.code());
        assert!(
            c.kind.is_some() || c.push_op,
            "{}: neither a request's error nor an op's refusal",
            c.code()
        );
        assert_eq!(
            c.kind.is_some(),
            !c.surfaces.is_empty(),
            "{}: a request-level code names where it is answered, and only such a code",
            c.code()
        );
    }
}

/// docs/sync-protocol.md §7: the closed lists a tablet sends from, taken from the lists the
/// server checks against.
fn enumerations() -> String {
    use jiayi::domain::{catalog, contract, not_signed, referral, resident, visit};
    use jiayi::vocabulary::ContractStatus;
    let codes = |list: &[&str]| list.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let packages: Vec<String> = catalog::PACKAGES
        .iter()
        .map(|(code, name, kind, _, _)| format!("`{code}` ({name}, {kind})"))
        .collect();
    let seeded = catalog::satisfaction_v1();
    let mut options = Vec::new();
    for item in seeded["items"].as_array().unwrap() {
        let labels = &item["option_texts"];
        let listed: Vec<String> = item["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let o = o.as_str().unwrap();
                format!("`{o}` {}", labels[o].as_str().unwrap_or(""))
            })
            .collect();
        options.push(format!("`{}`: {}", item["code"].as_str().unwrap(), listed.join(", ")));
    }
    let rows = [
        ("resident `sex`", "`M`, `F`".to_string()),
        ("resident `tags` (recorded)", codes(&resident::RECORDED_TAGS)),
        ("tags derived by the server, never sent", codes(&resident::DERIVED_TAGS)),
        (
            "contract `status` on create",
            codes(&[ContractStatus::Draft.as_str(), ContractStatus::Signed.as_str()]),
        ),
        (
            "contract states (pulled `status`, transition `to`)",
            codes(&ContractStatus::ALL.map(ContractStatus::as_str)),
        ),
        (
            "contract `packages` (the default catalog; the county's is served by `GET /api/v1/packages`, §4)",
            packages.join(", "),
        ),
        (
            "termination `reason` (transition to `TERMINATED`)",
            codes(&contract::transition::TERMINATION_REASONS),
        ),
        (
            "pulled `end_reason`",
            "a termination reason, or `voided` (a supervisor voided the contract)".to_string(),
        ),
        ("visit `kind`", codes(&visit::KINDS)),
        ("not-signed `reason`", codes(&not_signed::REASONS)),
        ("referral `direction`", codes(&referral::DIRECTIONS)),
        ("referral `reason_code`", codes(&referral::REASON_CODES)),
        (
            "referral states (pulled `status`, transition `to`)",
            codes(&referral::status::ALL),
        ),
        (
            "survey answers of the seeded `satisfaction` version 1",
            options.join("; "),
        ),
    ];
    let mut out = String::from("| value of | one of |\n| --- | --- |\n");
    for (what, values) in rows {
        out.push_str(&format!("| {what} | {values} |\n"));
    }
    out
}

/// Replaces or checks the generated block `name` of docs/sync-protocol.md: the text between
/// the line `<!-- NAME:begin … -->` and `<!-- NAME:end -->`.
fn generated_block(name: &str, generated: &str) {
    let path = Path::new(ROOT).join("docs/sync-protocol.md");
    let doc = std::fs::read_to_string(&path).expect("docs/sync-protocol.md");
    let begin = format!("<!-- {name}:begin");
    let at = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/sync-protocol.md has no {begin} marker"));
    let start = at + doc[at..].find('\n').expect("a line break after the begin marker") + 1;
    let end_marker = format!("<!-- {name}:end -->");
    let end = start
        + doc[start..]
            .find(&end_marker)
            .unwrap_or_else(|| panic!("docs/sync-protocol.md has no {end_marker} marker"));
    if doc[start..end] == *generated {
        return;
    }
    if std::env::var("UPDATE_DOCS").is_ok() {
        let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).expect("docs/sync-protocol.md written");
        return;
    }
    panic!(
        "docs/sync-protocol.md's generated block {name} differs from the code: run \
         `UPDATE_DOCS=1 cargo test --test api error_codes` and commit the document"
    );
}

#[test]
fn the_protocol_documents_table_of_error_codes_is_the_vocabulary() {
    generated_block("error-codes", &error_codes::markdown());
}

#[test]
fn the_protocol_documents_enumerated_values_are_the_servers_lists() {
    generated_block("enumerations", &enumerations());
}

#[test]
fn every_code_the_openapi_document_names_is_in_the_vocabulary_with_its_status() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("api-spec/openapi.json")).unwrap()).unwrap();
    let mut problems = Vec::new();
    let mut named = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let desc = r["description"].as_str().unwrap_or("");
                for word in desc.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')) {
                    let Some(entry) = error_codes::lookup(word) else {
                        if word.contains('_') {
                            problems.push(format!(
                                "{method} {path} {status}: `{word}` is not in crates/jiayi-protocol/src/codes.rs"
                            ));
                        }
                        continue;
                    };
                    named += 1;
                    let want = entry.kind.map(error_codes::status).map(|s| s.to_string());
                    if want.as_deref() != Some(status.as_str()) {
                        problems.push(format!(
                            "{method} {path}: `{word}` documented as {status}, the vocabulary says {want:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(named > 100, "the OpenAPI document names only {named} codes");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
