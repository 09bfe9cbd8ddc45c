//! The team work list (工作清单).

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use crate::auth::Auth;
use crate::db;
use crate::domain::worklist::{self, Worklist};
use crate::error::{AppError, ErrorBody};
use crate::error_codes::Code;
use crate::time::{parse_date, today_cst};

/// Work-list parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WorklistParams {
    /// The date the list is for, `YYYY-MM-DD`; today in China Standard Time when absent.
    pub date: Option<String>,
}

/// A team's work list on a date: follow-ups due this quarter and overdue, recalls after an
/// uncontrolled reading, referral suggestions, contracts ending within 30 days, residents
/// aged 65+ without this year's health check. For the team's members, the supervisor of
/// its township and the county administrator.
#[utoipa::path(get, path = "/api/v1/teams/{id}/worklist", tag = "teams", security(("bearer" = [])),
    params(("id" = String, Path, description = "team id"), WorklistParams),
    responses(
        (status = 200, body = Worklist),
        (status = 400, description = "invalid_query (date)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "another team's list (a doctor), another township's (a supervisor)", body = ErrorBody),
        (status = 404, description = "no such team in the caller's county", body = ErrorBody)))]
pub async fn worklist(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: web::Query<WorklistParams>,
) -> Result<web::Json<Worklist>, AppError> {
    let on = match q.into_inner().date {
        Some(s) => parse_date(&s).ok_or_else(|| {
            AppError::bad_request(Code::InvalidQuery, "date must be a date YYYY-MM-DD").with_field("date")
        })?,
        None => today_cst(),
    };
    let id = path.into_inner();
    let days = state.config.referral_receive_days;
    let list = db::run(&state.report_pool, move |c| {
        let team = worklist::find_team(c, &id)?;
        worklist::authorise(&auth, &team)?;
        worklist::build(c, &team, on, days)
    })
    .await?;
    Ok(web::Json(list))
}
