//! Questionnaire versions (问卷版本): the catalog tablets render surveys from.

use actix_web::{web, HttpResponse};

use super::State;
use crate::auth::{Auth, Role};
use crate::db::{self, write_tx};
use crate::domain::audit;
use crate::domain::questionnaire::{self, NewQuestionnaire, QuestionnaireView};
use crate::error::{AppError, ErrorBody};

/// Every version of every questionnaire of the caller's county, by code and version:
/// tablets keep all the versions they may still be answering; the dashboard shows what
/// each asks.
#[utoipa::path(get, path = "/api/v1/questionnaires", tag = "surveys", security(("bearer" = [])),
    responses((status = 200, body = Vec<QuestionnaireView>), (status = 401, body = ErrorBody)))]
pub async fn list(state: State, auth: Auth) -> Result<web::Json<Vec<QuestionnaireView>>, AppError> {
    let county = auth.county_code.clone();
    Ok(web::Json(
        db::run(&state.pool, move |c| questionnaire::list(c, &county)).await?,
    ))
}

/// Adds the next version of a questionnaire (or version 1 of a new one) to the
/// administrator's own county; no other county's catalog changes. Versions never change
/// once stored; responses naming an older version are still accepted and judged by that
/// version. County administrators only.
#[utoipa::path(post, path = "/api/v1/admin/questionnaires", tag = "surveys", security(("bearer" = [])),
    request_body = NewQuestionnaire,
    responses(
        (status = 201, body = QuestionnaireView),
        (status = 400, description = "malformed_json", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not a county administrator", body = ErrorBody),
        (status = 409, description = "questionnaire_exists: that code and version are stored already", body = ErrorBody),
        (status = 422, description = "invalid_code, invalid_version, invalid_text, missing_field, duplicate_code, \
            too_few_options, too_many_options, too_many_items, unknown_item, unknown_option, same_item, invalid_field; \
            `field` names the part at fault", body = ErrorBody)))]
pub async fn create(state: State, auth: Auth, body: web::Json<NewQuestionnaire>) -> Result<HttpResponse, AppError> {
    auth.require(&[Role::Admin])?;
    let q = body.into_inner();
    let stored = db::run(&state.pool, move |c| {
        write_tx(c, |c| {
            let v = questionnaire::create(c, &auth.county_code, &q)?;
            audit::record_now(
                c,
                audit::Entry::actor(&auth, "questionnaire_created")
                    .entity("questionnaire", &format!("{}:{}", v.code, v.version)),
            )?;
            Ok(v)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(stored))
}
