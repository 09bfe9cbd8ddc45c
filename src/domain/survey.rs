//! Satisfaction surveys (满意度调查): responses validated against the questionnaire
//! version they name, so tablets still answering an old version keep working.

use diesel::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::resident::{self, Resident};
use super::{audit, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger;
use crate::schema::{questionnaires, survey_responses};
use crate::time::fmt_date;
use crate::vocabulary::ConflictKind;

/// A response as a tablet sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SurveyPush)]
pub struct SurveyData {
    /// The resident answering.
    pub resident_id: String,
    /// Questionnaire code, e.g. `satisfaction`.
    pub questionnaire: String,
    /// The version the tablet showed.
    pub questionnaire_version: i32,
    /// Item code → option code.
    pub answers: BTreeMap<String, String>,
    /// Clinical time, RFC 3339 with offset.
    pub answered_at: String,
    /// For an amendment (action `amend`): the response it corrects.
    #[serde(default)]
    pub amends: Option<String>,
}

/// A questionnaire version's definition.
#[derive(Debug, Deserialize)]
pub struct Definition {
    /// Items and their options.
    pub items: Vec<Item>,
    /// Options of the satisfaction item that count as satisfied.
    #[serde(default)]
    pub satisfied_options: Vec<String>,
    /// Options of the awareness item that count as aware.
    #[serde(default)]
    pub aware_options: Vec<String>,
}

/// One question.
#[derive(Debug, Deserialize)]
pub struct Item {
    /// Item code.
    pub code: String,
    /// Allowed option codes.
    pub options: Vec<String>,
}

/// Records a response.
pub fn create(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &SurveyData) -> Result<Applied, AppError> {
    validate::not_amending(&d.amends)?;
    record(conn, ctx, id, d, None)
}

/// Records a corrected response replacing `amends` (the newest of its chain); reports
/// read the correction.
pub fn amend(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &SurveyData) -> Result<Applied, AppError> {
    let original = validate::amended(&d.amends, "response")?;
    record(conn, ctx, id, d, Some(&original))
}

/// A questionnaire version as responses are checked against it.
#[derive(Debug, Clone)]
pub struct Questionnaire {
    definition: std::sync::Arc<Definition>,
    satisfaction_item: Option<String>,
    awareness_item: Option<String>,
}

/// Loads a questionnaire version of the county's catalog; `None` when the county has no
/// such version (another county's is no answer to it).
pub fn questionnaire(
    conn: &mut DbConn,
    county: &str,
    code: &str,
    version: i32,
) -> Result<Option<Questionnaire>, AppError> {
    let q: Option<(String, Option<String>, Option<String>)> = questionnaires::table
        .find((county, code, version))
        .select((
            questionnaires::definition,
            questionnaires::satisfaction_item,
            questionnaires::awareness_item,
        ))
        .first(conn)
        .optional()?;
    q.map(|(def, satisfaction_item, awareness_item)| {
        let definition: Definition = serde_json::from_str(&def).map_err(AppError::internal)?;
        Ok(Questionnaire {
            definition: std::sync::Arc::new(definition),
            satisfaction_item,
            awareness_item,
        })
    })
    .transpose()
}

/// A survey response row as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = survey_responses)]
pub struct SurveyRow {
    pub(crate) id: String,
    county_code: String,
    village_code: String,
    resident_id: String,
    team_id: Option<String>,
    questionnaire: String,
    questionnaire_version: i32,
    answers: String,
    satisfied: Option<bool>,
    aware: Option<bool>,
    answered_at: i64,
    answered_on: String,
    amends: Option<String>,
    version: i64,
    deleted: bool,
    created_at: i64,
    pub(crate) change_seq: i64,
    created_by: String,
    device_id: Option<String>,
}

/// What the checks against the questionnaire yield.
struct Checked {
    id: String,
    resident_id: String,
    when: crate::time::ClinicalTime,
    answers: String,
    satisfied: Option<bool>,
    aware: Option<bool>,
}

fn check(ctx: &WriteCtx, id: &str, d: &SurveyData, q: Option<&Questionnaire>) -> Result<Checked, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    let when = validate::clinical(&d.answered_at, "answered_at", ctx)?;
    let Some(q) = q else {
        return Err(AppError::invalid(
            Code::UnknownQuestionnaire,
            "questionnaire_version",
            "no such questionnaire version",
        ));
    };
    let def = &q.definition;
    if d.answers.is_empty() {
        return Err(AppError::invalid(
            Code::MissingField,
            "answers",
            "a response answers at least one item",
        ));
    }
    for (item, option) in &d.answers {
        let it = def.items.iter().find(|i| &i.code == item).ok_or_else(|| {
            AppError::invalid(
                Code::UnknownItem,
                format!("answers.{item}"),
                "this version has no such item",
            )
        })?;
        if !it.options.contains(option) {
            return Err(AppError::invalid(
                Code::InvalidOption,
                format!("answers.{item}"),
                "not an option of this item",
            ));
        }
    }
    Ok(Checked {
        id,
        resident_id,
        when,
        answers: serde_json::to_string(&d.answers).map_err(AppError::internal)?,
        satisfied: q
            .satisfaction_item
            .as_ref()
            .and_then(|i| d.answers.get(i))
            .map(|o| def.satisfied_options.contains(o)),
        aware: q
            .awareness_item
            .as_ref()
            .and_then(|i| d.answers.get(i))
            .map(|o| def.aware_options.contains(o)),
    })
}

fn build_row(
    ctx: &WriteCtx,
    c: Checked,
    d: &SurveyData,
    res: &Resident,
    amends: Option<String>,
    seq: i64,
) -> SurveyRow {
    SurveyRow {
        id: c.id,
        county_code: res.county_code.clone(),
        village_code: res.village_code.clone(),
        resident_id: c.resident_id,
        team_id: ctx.auth.team_id.clone(),
        questionnaire: d.questionnaire.clone(),
        questionnaire_version: d.questionnaire_version,
        answers: c.answers,
        satisfied: c.satisfied,
        aware: c.aware,
        answered_at: c.when.at,
        answered_on: fmt_date(c.when.local_date),
        amends,
        version: 1,
        deleted: false,
        created_at: ctx.now,
        change_seq: seq,
        created_by: ctx.auth.user_id.clone(),
        device_id: Some(ctx.auth.device_id.clone()),
    }
}

/// Records a new response inside a push batch whose resident (visible to the caller) and
/// questionnaire were loaded with the batch and whose id is new: the rules of [`create`],
/// with the row returned to be written with the batch's other new responses.
pub fn create_in_batch(
    ctx: &WriteCtx,
    id: &str,
    d: &SurveyData,
    res: &Resident,
    q: Option<&Questionnaire>,
) -> Result<(Applied, SurveyRow), AppError> {
    validate::not_amending(&d.amends)?;
    let c = check(ctx, id, d, q)?;
    let seq = super::journal_new(
        ctx,
        ctx.change(&res.county_code, "survey", &c.id, 1)
            .village(&res.village_code),
        "survey_recorded",
        "survey",
        &c.id,
        c.when.at,
    )?;
    let row = build_row(ctx, c, d, res, None, seq);
    Ok((
        Applied {
            id: row.id.clone(),
            version: 1,
            conflict_id: None,
        },
        row,
    ))
}

fn record(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    d: &SurveyData,
    amends: Option<&str>,
) -> Result<Applied, AppError> {
    let q = questionnaire(conn, &ctx.auth.county_code, &d.questionnaire, d.questionnaire_version)?;
    let c = check(ctx, id, d, q.as_ref())?;
    let (id, resident_id, when, answers) = (c.id.clone(), c.resident_id.clone(), c.when, c.answers.clone());
    let res = resident::find_visible(conn, &ctx.auth.scope, &resident_id)
        .map_err(|_| AppError::invalid(Code::UnknownResident, "resident_id", "no such resident in your scope"))?;
    let existing: Option<(String, String, i64, i64)> = survey_responses::table
        .find(&id)
        .select((
            survey_responses::resident_id,
            survey_responses::answers,
            survey_responses::answered_at,
            survey_responses::version,
        ))
        .first(conn)
        .optional()?;
    if let Some((r, a, at, version)) = existing {
        // Another team's response under this id: refused without a word about it.
        let village: String = survey_responses::table
            .find(&id)
            .select(survey_responses::village_code)
            .first(conn)?;
        if !ctx.auth.scope.covers_village(&village) {
            return Err(super::id_in_use(false, "a response with this id exists"));
        }
        let conflict_id = if r == resident_id && a == answers && at == when.at {
            None
        } else {
            Some(review::open_conflict(
                conn,
                ctx,
                review::NewConflict {
                    kind: ConflictKind::DivergentAppend,
                    entity: "survey",
                    entity_id: &id,
                    other_entity_id: None,
                    field: None,
                    county_code: &res.county_code,
                    village_code: Some(&res.village_code),
                    server_value: None,
                    client_value: Some(
                        serde_json::json!({ "resident_id": resident_id, "answers": d.answers, "answered_at": d.answered_at }),
                    ),
                },
            )?)
        };
        return Ok(Applied {
            id,
            version,
            conflict_id,
        });
    }
    let target = match amends {
        None => None,
        Some(original) => {
            let mut tip: Option<(String, Option<String>)> = survey_responses::table
                .find(original)
                .filter(survey_responses::resident_id.eq(&resident_id))
                .filter(survey_responses::deleted.eq(false))
                .select((survey_responses::id, survey_responses::amended_by))
                .first(conn)
                .optional()?;
            if tip.is_none() {
                return Err(AppError::invalid(
                    Code::UnknownSurvey,
                    "amends",
                    "no such response of this resident",
                ));
            }
            while let Some((_, Some(next))) = &tip {
                tip = survey_responses::table
                    .find(next)
                    .select((survey_responses::id, survey_responses::amended_by))
                    .first(conn)
                    .optional()?;
            }
            tip.map(|(t, _)| t)
        }
    };
    let county = res.county_code.clone();
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&county, "survey", &id, 1).village(&res.village_code),
    )?;
    diesel::insert_into(survey_responses::table)
        .values(build_row(ctx, c, d, &res, target.clone(), seq))
        .execute(conn)?;
    if let Some(t) = &target {
        let change = |v| ctx.change(&county, "survey", t, v).village(&res.village_code);
        crate::mark_amended!(conn, ctx, survey_responses, t, &id, change);
    }
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(
            ctx.auth,
            if target.is_some() {
                "survey_amended"
            } else {
                "survey_recorded"
            },
        )
        .entity("survey", &id)
        .at(ctx.now)
        .clinical(when.at),
    )?;
    Ok(Applied {
        id,
        version: 1,
        conflict_id: None,
    })
}

/// Deletes a response recorded in error (a tombstone).
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    crate::tombstone!(conn, ctx, survey_responses, "survey", id)
}
