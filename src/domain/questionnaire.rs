//! Questionnaire versions (问卷版本): the catalog tablets render surveys from and responses
//! are checked against (see [`super::survey`]).
//!
//! A version, once stored, never changes: a correction or a new question is a new version
//! (N + 1) of the same code. Tablets that still show an older version keep sending
//! responses that name it, and those are checked against that older version and counted
//! by its own satisfied/aware options — a report never re-judges an old answer by a newer
//! definition.
//!
//! The catalog is each county's own, like the service packages: a version one county's
//! administrator adds is that county's alone, and the same code in two counties is two
//! independent lists of versions.

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::questionnaires;
use crate::time::{fmt_instant, now_ms};

/// Most items in one questionnaire.
pub const MAX_ITEMS: usize = 50;
/// Most options of one item.
pub const MAX_OPTIONS: usize = 20;

/// A new questionnaire version as an administrator sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuestionnaire {
    /// Questionnaire code: lower-case letters, digits and `_`, starting with a letter, ≤ 32.
    pub code: String,
    /// The next version of the code (1 for a new code).
    pub version: i32,
    /// Title shown on the tablet.
    pub title: String,
    /// Items and which options count.
    pub definition: DefinitionInput,
    /// Code of the item that asks about satisfaction (满意度), if any.
    #[serde(default)]
    pub satisfaction_item: Option<String>,
    /// Code of the item that asks whether the resident knows they are signed (知晓率), if any.
    #[serde(default)]
    pub awareness_item: Option<String>,
}

/// The definition stored with a version.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// The questions, in the order the tablet shows them.
    pub items: Vec<ItemInput>,
    /// Options of the satisfaction item that count as satisfied.
    #[serde(default)]
    pub satisfied_options: Vec<String>,
    /// Options of the awareness item that count as aware.
    #[serde(default)]
    pub aware_options: Vec<String>,
}

/// One question.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// Item code, unique in the version.
    pub code: String,
    /// The question as read to the resident.
    pub text: String,
    /// Option codes (2–20), unique in the item.
    pub options: Vec<String>,
    /// Option code → label the tablet shows for it (optional; a tablet shows the code of an
    /// option without a label).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub option_texts: BTreeMap<String, String>,
}

/// A stored questionnaire version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuestionnaireView {
    /// Code.
    pub code: String,
    /// Version.
    pub version: i32,
    /// Title.
    pub title: String,
    /// Items, options (with their display labels in `option_texts`) and which options
    /// count as satisfied / aware: a definition as it was created.
    #[schema(value_type = DefinitionInput)]
    pub definition: serde_json::Value,
    /// The satisfaction item's code.
    pub satisfaction_item: Option<String>,
    /// The awareness item's code.
    pub awareness_item: Option<String>,
    /// When it was added (server time, RFC 3339).
    pub created_at: String,
}

fn valid_code(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn code_error(field: String) -> AppError {
    AppError::invalid(
        Code::InvalidCode,
        field,
        "a code is 1–32 of a–z 0–9 _, starting with a letter",
    )
}

/// Checks which options of `item` count: they exist in the item, none twice, and some
/// are given exactly when the item is named.
fn check_counted(
    def: &DefinitionInput,
    item: &Option<String>,
    item_field: &str,
    counted: &[String],
    counted_field: &str,
) -> Result<(), AppError> {
    let Some(code) = item else {
        if counted.is_empty() {
            return Ok(());
        }
        return Err(AppError::invalid(
            Code::MissingField,
            item_field,
            format!("{counted_field} needs {item_field} to name the item they belong to"),
        ));
    };
    let it = def.items.iter().find(|i| &i.code == code).ok_or_else(|| {
        AppError::invalid(
            Code::UnknownItem,
            item_field,
            format!("{item_field} names no item of this definition"),
        )
    })?;
    if counted.is_empty() {
        return Err(AppError::invalid(
            Code::MissingField,
            counted_field,
            format!("say which options of {code} count"),
        ));
    }
    let mut seen = HashSet::new();
    for (j, o) in counted.iter().enumerate() {
        let field = format!("{counted_field}[{j}]");
        if !it.options.contains(o) {
            return Err(AppError::invalid(
                Code::UnknownOption,
                field,
                format!("not an option of item {code}"),
            ));
        }
        if !seen.insert(o) {
            return Err(AppError::invalid(
                Code::DuplicateCode,
                field,
                "an option is listed twice",
            ));
        }
    }
    Ok(())
}

/// Checks a new version in full; the error names the field at fault. Needs no database.
pub fn check(q: &NewQuestionnaire) -> Result<(), AppError> {
    if !valid_code(&q.code) {
        return Err(code_error("code".into()));
    }
    if q.version < 1 {
        return Err(AppError::invalid(
            Code::InvalidVersion,
            "version",
            "versions start at 1",
        ));
    }
    validate::text(&q.title, "title", 200)?;
    let def = &q.definition;
    if def.items.is_empty() {
        return Err(AppError::invalid(
            Code::MissingField,
            "definition.items",
            "a questionnaire has at least one item",
        ));
    }
    if def.items.len() > MAX_ITEMS {
        return Err(AppError::invalid(
            Code::TooManyItems,
            "definition.items",
            format!("at most {MAX_ITEMS} items"),
        ));
    }
    let mut item_codes = HashSet::new();
    for (i, item) in def.items.iter().enumerate() {
        let at = format!("definition.items[{i}]");
        if !valid_code(&item.code) {
            return Err(code_error(format!("{at}.code")));
        }
        if !item_codes.insert(item.code.as_str()) {
            return Err(AppError::invalid(
                Code::DuplicateCode,
                format!("{at}.code"),
                "two items have this code",
            ));
        }
        validate::text(&item.text, &format!("{at}.text"), 500)?;
        if item.options.len() < 2 {
            return Err(AppError::invalid(
                Code::TooFewOptions,
                format!("{at}.options"),
                "an item offers at least two options",
            ));
        }
        if item.options.len() > MAX_OPTIONS {
            return Err(AppError::invalid(
                Code::TooManyOptions,
                format!("{at}.options"),
                format!("at most {MAX_OPTIONS} options"),
            ));
        }
        let mut options = HashSet::new();
        for (j, o) in item.options.iter().enumerate() {
            if !valid_code(o) {
                return Err(code_error(format!("{at}.options[{j}]")));
            }
            if !options.insert(o.as_str()) {
                return Err(AppError::invalid(
                    Code::DuplicateCode,
                    format!("{at}.options[{j}]"),
                    "two options of this item have this code",
                ));
            }
        }
        for (o, label) in &item.option_texts {
            let field = format!("{at}.option_texts.{o}");
            if !options.contains(o.as_str()) {
                return Err(AppError::invalid(
                    Code::UnknownOption,
                    field,
                    "not an option of this item",
                ));
            }
            validate::text(label, &field, 200)?;
        }
    }
    if q.satisfaction_item.is_some() && q.satisfaction_item == q.awareness_item {
        return Err(AppError::invalid(
            Code::SameItem,
            "awareness_item",
            "the awareness item and the satisfaction item are different questions",
        ));
    }
    check_counted(
        def,
        &q.satisfaction_item,
        "satisfaction_item",
        &def.satisfied_options,
        "definition.satisfied_options",
    )?;
    check_counted(
        def,
        &q.awareness_item,
        "awareness_item",
        &def.aware_options,
        "definition.aware_options",
    )?;
    Ok(())
}

type Row = (String, i32, String, String, Option<String>, Option<String>, i64);

fn view((code, version, title, definition, satisfaction_item, awareness_item, created_at): Row) -> QuestionnaireView {
    QuestionnaireView {
        code,
        version,
        title,
        definition: serde_json::from_str(&definition).unwrap_or_default(),
        satisfaction_item,
        awareness_item,
        created_at: fmt_instant(created_at),
    }
}

fn columns() -> (
    questionnaires::code,
    questionnaires::version,
    questionnaires::title,
    questionnaires::definition,
    questionnaires::satisfaction_item,
    questionnaires::awareness_item,
    questionnaires::created_at,
) {
    (
        questionnaires::code,
        questionnaires::version,
        questionnaires::title,
        questionnaires::definition,
        questionnaires::satisfaction_item,
        questionnaires::awareness_item,
        questionnaires::created_at,
    )
}

/// Every version of every questionnaire of the county, by code and version.
pub fn list(conn: &mut DbConn, county: &str) -> Result<Vec<QuestionnaireView>, AppError> {
    let rows: Vec<Row> = questionnaires::table
        .filter(questionnaires::county_code.eq(county))
        .order((questionnaires::code, questionnaires::version))
        .select(columns())
        .load(conn)?;
    Ok(rows.into_iter().map(view).collect())
}

/// Adds a version to the county's catalog: checked in full, then it must be the next
/// version of its code in that county (1 for a new code); an existing code and version is
/// 409 `questionnaire_exists`, whatever its content.
pub fn create(conn: &mut DbConn, county: &str, q: &NewQuestionnaire) -> Result<QuestionnaireView, AppError> {
    check(q)?;
    let latest: Option<i32> = questionnaires::table
        .filter(questionnaires::county_code.eq(county))
        .filter(questionnaires::code.eq(&q.code))
        .select(diesel::dsl::max(questionnaires::version))
        .first(conn)?;
    let next = latest.unwrap_or(0) + 1;
    if q.version < next {
        return Err(AppError::conflict(
            Code::QuestionnaireExists,
            format!(
                "{} version {} exists and never changes; add version {next}",
                q.code, q.version
            ),
        )
        .with_field("version"));
    }
    if q.version > next {
        return Err(AppError::invalid(
            Code::InvalidVersion,
            "version",
            format!("the next version of {} is {next}", q.code),
        ));
    }
    let definition = serde_json::to_string(&q.definition).map_err(AppError::internal)?;
    let row: Row = (
        q.code.clone(),
        q.version,
        q.title.trim().to_string(),
        definition,
        q.satisfaction_item.clone(),
        q.awareness_item.clone(),
        now_ms(),
    );
    diesel::insert_into(questionnaires::table)
        .values((
            questionnaires::county_code.eq(county),
            questionnaires::code.eq(&row.0),
            questionnaires::version.eq(row.1),
            questionnaires::title.eq(&row.2),
            questionnaires::definition.eq(&row.3),
            questionnaires::satisfaction_item.eq(&row.4),
            questionnaires::awareness_item.eq(&row.5),
            questionnaires::created_at.eq(row.6),
        ))
        .execute(conn)
        .map_err(|e| match AppError::from(e) {
            // Another administrator added the same version a moment ago.
            x if x.code == Code::AlreadyExists => AppError::conflict(
                Code::QuestionnaireExists,
                format!("{} version {} exists", q.code, q.version),
            )
            .with_field("version"),
            x => x,
        })?;
    Ok(view(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> NewQuestionnaire {
        serde_json::from_value(serde_json::json!({
            "code": "satisfaction", "version": 2, "title": "满意度调查（第二版）",
            "definition": {
                "items": [
                    { "code": "satisfaction", "text": "您是否满意？", "options": ["satisfied", "neutral", "dissatisfied"],
                      "option_texts": { "satisfied": "满意" } },
                    { "code": "awareness", "text": "您是否知道？", "options": ["aware", "unaware"] }
                ],
                "satisfied_options": ["satisfied"], "aware_options": ["aware"]
            },
            "satisfaction_item": "satisfaction", "awareness_item": "awareness"
        }))
        .unwrap()
    }

    fn fails(f: impl FnOnce(&mut NewQuestionnaire)) -> (String, String) {
        let mut q = good();
        f(&mut q);
        let e = check(&q).unwrap_err();
        (e.code.to_string(), e.field.unwrap_or_default())
    }

    fn pair(code: &str, field: &str) -> (String, String) {
        (code.to_string(), field.to_string())
    }

    #[test]
    fn a_complete_definition_passes() {
        check(&good()).unwrap();
        let mut plain = good();
        plain.satisfaction_item = None;
        plain.awareness_item = None;
        plain.definition.satisfied_options.clear();
        plain.definition.aware_options.clear();
        check(&plain).unwrap();
    }

    #[test]
    fn every_fault_names_its_field() {
        assert_eq!(fails(|q| q.code = "Satisfaction".into()), pair("invalid_code", "code"));
        assert_eq!(fails(|q| q.code = String::new()), pair("invalid_code", "code"));
        assert_eq!(fails(|q| q.version = 0), pair("invalid_version", "version"));
        assert_eq!(fails(|q| q.title = " ".into()), pair("invalid_text", "title"));
        assert_eq!(
            fails(|q| q.definition.items.clear()),
            pair("missing_field", "definition.items")
        );
        assert_eq!(
            fails(|q| q.definition.items[1].code = "1st".into()),
            pair("invalid_code", "definition.items[1].code")
        );
        assert_eq!(
            fails(|q| q.definition.items[1].code = "satisfaction".into()),
            pair("duplicate_code", "definition.items[1].code")
        );
        assert_eq!(
            fails(|q| q.definition.items[0].text = String::new()),
            pair("invalid_text", "definition.items[0].text")
        );
        assert_eq!(
            fails(|q| q.definition.items[1].options.truncate(1)),
            pair("too_few_options", "definition.items[1].options")
        );
        assert_eq!(
            fails(|q| q.definition.items[1].options = (0..21).map(|i| format!("o{i}")).collect()),
            pair("too_many_options", "definition.items[1].options")
        );
        assert_eq!(
            fails(|q| q.definition.items[0].options[2] = "satisfied".into()),
            pair("duplicate_code", "definition.items[0].options[2]")
        );
        assert_eq!(
            fails(|q| q.definition.items[0].options[1] = "not ok".into()),
            pair("invalid_code", "definition.items[0].options[1]")
        );
        assert_eq!(
            fails(|q| {
                q.definition.items[0]
                    .option_texts
                    .insert("elsewhere".into(), "x".into());
            }),
            pair("unknown_option", "definition.items[0].option_texts.elsewhere")
        );
        assert_eq!(
            fails(|q| q.satisfaction_item = Some("overall".into())),
            pair("unknown_item", "satisfaction_item")
        );
        assert_eq!(
            fails(|q| q.awareness_item = Some("overall".into())),
            pair("unknown_item", "awareness_item")
        );
        assert_eq!(
            fails(|q| q.awareness_item = Some("satisfaction".into())),
            pair("same_item", "awareness_item")
        );
        assert_eq!(
            fails(|q| q.definition.satisfied_options = vec!["aware".into()]),
            pair("unknown_option", "definition.satisfied_options[0]")
        );
        assert_eq!(
            fails(|q| q.definition.satisfied_options = vec!["satisfied".into(), "satisfied".into()]),
            pair("duplicate_code", "definition.satisfied_options[1]")
        );
        assert_eq!(
            fails(|q| q.definition.aware_options = vec!["satisfied".into()]),
            pair("unknown_option", "definition.aware_options[0]")
        );
        assert_eq!(
            fails(|q| q.definition.satisfied_options.clear()),
            pair("missing_field", "definition.satisfied_options")
        );
        assert_eq!(
            fails(|q| q.definition.aware_options.clear()),
            pair("missing_field", "definition.aware_options")
        );
        assert_eq!(
            fails(|q| q.satisfaction_item = None),
            pair("missing_field", "satisfaction_item")
        );
        assert_eq!(
            fails(|q| q.awareness_item = None),
            pair("missing_field", "awareness_item")
        );
    }

    #[test]
    fn the_stored_form_is_what_responses_are_checked_against() {
        let q = good();
        let stored = serde_json::to_string(&q.definition).unwrap();
        let def: super::super::survey::Definition = serde_json::from_str(&stored).unwrap();
        assert_eq!(def.items.len(), 2);
        assert_eq!(def.items[0].options, ["satisfied", "neutral", "dissatisfied"]);
        assert_eq!(def.satisfied_options, ["satisfied"]);
        assert_eq!(def.aware_options, ["aware"]);
    }
}
