//! Satisfaction surveys (满意度调查): responses validated against the questionnaire
//! version they name, so tablets still answering an old version keep working.

use diesel::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::{audit, resident, validate, Applied, WriteCtx};
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
    if survey_responses::table.find(&id).count().get_result::<i64>(conn)? > 0 {
        return Err(AppError::conflict("already_exists", "a survey response with this id exists").with_field("id"));
    }
    let county = res.county_code.clone();
    let seq = changelog::append(
        conn,
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
            survey_responses::answers.eq(serde_json::to_string(&d.answers).map_err(AppError::internal)?),
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
    audit::record(
        conn,
        audit::Entry::actor(ctx.auth, "survey_recorded")
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
