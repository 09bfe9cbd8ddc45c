//! Satisfaction surveys (满意度调查): responses validated against the questionnaire
//! version they name, so tablets still answering an old version keep working.

use diesel::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::{audit, resident, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::{questionnaires, survey_responses};
use crate::sync::changelog::{self, Change};
use crate::time::fmt_date;

/// A response as a tablet sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    if d.amends.is_some() {
        return Err(AppError::invalid(
            "use_amend",
            "amends",
            "send an amendment with action \"amend\"",
        ));
    }
    record(conn, ctx, id, d, None)
}

/// Records a corrected response replacing `amends` (the newest of its chain); reports
/// read the correction.
pub fn amend(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &SurveyData) -> Result<Applied, AppError> {
    let original = d
        .amends
        .as_deref()
        .ok_or_else(|| AppError::invalid("missing_field", "amends", "an amendment names the response it corrects"))?;
    let original = validate::uuid(original, "amends")?;
    record(conn, ctx, id, d, Some(&original))
}

fn record(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    d: &SurveyData,
    amends: Option<&str>,
) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    let when = validate::clinical(&d.answered_at, "answered_at", ctx)?;
    let q: Option<(String, Option<String>, Option<String>)> = questionnaires::table
        .find((&d.questionnaire, d.questionnaire_version))
        .select((
            questionnaires::definition,
            questionnaires::satisfaction_item,
            questionnaires::awareness_item,
        ))
        .first(conn)
        .optional()?;
    let Some((def, sat_item, aware_item)) = q else {
        return Err(AppError::invalid(
            "unknown_questionnaire",
            "questionnaire_version",
            "no such questionnaire version",
        ));
    };
    let def: Definition = serde_json::from_str(&def).map_err(AppError::internal)?;
    if d.answers.is_empty() {
        return Err(AppError::invalid(
            "missing_field",
            "answers",
            "a response answers at least one item",
        ));
    }
    for (item, option) in &d.answers {
        let it = def.items.iter().find(|i| &i.code == item).ok_or_else(|| {
            AppError::invalid(
                "unknown_item",
                format!("answers.{item}"),
                "this version has no such item",
            )
        })?;
        if !it.options.contains(option) {
            return Err(AppError::invalid(
                "invalid_option",
                format!("answers.{item}"),
                "not an option of this item",
            ));
        }
    }
    let satisfied = sat_item
        .and_then(|i| d.answers.get(&i))
        .map(|o| def.satisfied_options.contains(o));
    let aware = aware_item
        .and_then(|i| d.answers.get(&i))
        .map(|o| def.aware_options.contains(o));
    let res = resident::find_visible(conn, &ctx.auth.scope, &resident_id)
        .map_err(|_| AppError::invalid("unknown_resident", "resident_id", "no such resident in your scope"))?;
    let answers = serde_json::to_string(&d.answers).map_err(AppError::internal)?;
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
        let conflict_id = if r == resident_id && a == answers && at == when.at {
            None
        } else {
            Some(review::open_conflict(
                conn,
                ctx,
                review::NewConflict {
                    kind: review::kind::DIVERGENT_APPEND,
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
                    "unknown_survey",
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
    let seq = changelog::append(
        conn,
        ctx,
        &Change::new(ctx, &county, "survey", &id, 1).village(&res.village_code),
    )?;
    diesel::insert_into(survey_responses::table)
        .values((
            survey_responses::id.eq(&id),
            survey_responses::county_code.eq(&county),
            survey_responses::village_code.eq(&res.village_code),
            survey_responses::resident_id.eq(&resident_id),
            survey_responses::team_id.eq(&ctx.auth.team_id),
            survey_responses::questionnaire.eq(&d.questionnaire),
            survey_responses::questionnaire_version.eq(d.questionnaire_version),
            survey_responses::answers.eq(&answers),
            survey_responses::amends.eq(&target),
            survey_responses::satisfied.eq(satisfied),
            survey_responses::aware.eq(aware),
            survey_responses::answered_at.eq(when.at),
            survey_responses::answered_on.eq(fmt_date(when.local_date)),
            survey_responses::version.eq(1i64),
            survey_responses::deleted.eq(false),
            survey_responses::created_at.eq(ctx.now),
            survey_responses::change_seq.eq(seq),
            survey_responses::created_by.eq(&ctx.auth.user_id),
            survey_responses::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    if let Some(t) = &target {
        let version: i64 = survey_responses::table
            .find(t)
            .select(survey_responses::version)
            .first(conn)?;
        let seq = changelog::append(
            conn,
            ctx,
            &Change::new(ctx, &county, "survey", t, version + 1).village(&res.village_code),
        )?;
        diesel::update(survey_responses::table.find(t))
            .set((
                survey_responses::amended_by.eq(&id),
                survey_responses::version.eq(version + 1),
                survey_responses::change_seq.eq(seq),
            ))
            .execute(conn)?;
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
