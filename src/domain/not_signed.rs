//! The not-signed register (未签约原因登记): residents who decline, with the reason.

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{audit, resident, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger;
use crate::schema::not_signed;
use crate::time::fmt_date;

/// Reason codes.
pub const REASONS: [&str; 6] = ["declined", "signed_elsewhere", "away", "cost", "not_needed", "other"];

/// A not-signed record as a tablet sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotSignedPush)]
pub struct NotSignedData {
    /// The resident.
    pub resident_id: String,
    /// One of `declined`, `signed_elsewhere`, `away`, `cost`, `not_needed`, `other`.
    pub reason: String,
    /// Free text (required for `other`).
    #[serde(default)]
    pub reason_text: Option<String>,
    /// Clinical time, RFC 3339 with offset.
    pub recorded_at: String,
}

/// Records that a resident declined to sign.
pub fn create(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &NotSignedData) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    if !REASONS.contains(&d.reason.as_str()) {
        return Err(AppError::invalid(Code::InvalidReason, "reason", "unknown reason code"));
    }
    let text = validate::opt_text(&d.reason_text, "reason_text", 500)?;
    if d.reason == "other" && text.is_none() {
        return Err(AppError::invalid(
            Code::MissingField,
            "reason_text",
            "reason other needs reason_text",
        ));
    }
    let when = validate::clinical(&d.recorded_at, "recorded_at", ctx)?;
    let res = resident::find_visible(conn, &ctx.auth.scope, &resident_id)
        .map_err(|_| AppError::invalid(Code::UnknownResident, "resident_id", "no such resident in your scope"))?;
    let held: Option<String> = not_signed::table
        .find(&id)
        .select(not_signed::village_code)
        .first(conn)
        .optional()?;
    if let Some(village) = held {
        return Err(super::id_in_use(
            ctx.auth.scope.covers_village(&village),
            "a record with this id exists",
        ));
    }
    let county = res.county_code.clone();
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&county, "not_signed", &id, 1).village(&res.village_code),
    )?;
    diesel::insert_into(not_signed::table)
        .values((
            not_signed::id.eq(&id),
            not_signed::county_code.eq(&county),
            not_signed::village_code.eq(&res.village_code),
            not_signed::resident_id.eq(&resident_id),
            not_signed::team_id.eq(&ctx.auth.team_id),
            not_signed::reason.eq(&d.reason),
            not_signed::reason_text.eq(&text),
            not_signed::recorded_at.eq(when.at),
            not_signed::recorded_on.eq(fmt_date(when.local_date)),
            not_signed::version.eq(1i64),
            not_signed::deleted.eq(false),
            not_signed::created_at.eq(ctx.now),
            not_signed::change_seq.eq(seq),
            not_signed::created_by.eq(&ctx.auth.user_id),
            not_signed::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "not_signed_recorded")
            .entity("not_signed", &id)
            .at(ctx.now)
            .clinical(when.at),
    )?;
    Ok(Applied {
        id,
        version: 1,
        conflict_id: None,
    })
}

/// Deletes a not-signed record made in error (a tombstone).
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    crate::tombstone!(conn, ctx, not_signed, "not_signed", id)
}
