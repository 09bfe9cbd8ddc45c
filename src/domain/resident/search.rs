//! Looking residents up from the console (docs/console.md): by name, household, a whole ID
//! number or a phone, within the caller's scope, masked as for any reader outside the
//! resident's team. The typed query is never stored or logged: the audit entry of a search
//! says what kind of query it was, not what was typed.
//!
//! A search answers whether a resident matches, so it must not undo a mask
//! (docs/security.md, "Masked ID numbers"): there is no search by part of an ID number
//! (the view shows birth date and village, so ten thousand searches by the last four
//! characters would rebuild every number in reach), and readers outside a resident's team,
//! who see the phone masked, find it by the whole number only; the team, who see it in
//! full, also by its last digits.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Resident, ResidentView};
use crate::access::{Caller, Scope};
use crate::db::DbConn;
use crate::domain::audit;
use crate::domain::id_number::IdNumber;
use crate::domain::staff::escape_like;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::residents;

/// `GET /api/v1/residents` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResidentQuery {
    /// Part of a name, a household id, a whole ID number, or a whole phone number (the
    /// resident's own team also the last 4–11 digits of a phone).
    pub q: Option<String>,
    /// Only this village (12 digits), within the caller's scope.
    pub village: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The previous page's `cursor`.
    pub cursor: Option<String>,
}

/// A page of residents, by id (registration order).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResidentPage {
    /// Residents, masked as for a reader outside their team.
    pub items: Vec<ResidentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// What a typed query was taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matched {
    /// A whole, valid ID number: its keyed hash is looked up.
    IdNumber,
    /// 4–20 digits: a phone number (its end, for the team), or a household id.
    Digits,
    /// Anything else: part of a name, or a household id.
    Text,
}

/// Searches the residents in the caller's scope. Team members see their own residents'
/// phones in full; everyone else sees them masked.
pub fn search(c: &mut DbConn, caller: &Caller, id_secret: &str, f: &ResidentQuery) -> Result<ResidentPage, AppError> {
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::bad_request(Code::InvalidLimit, "limit must be 1–200").with_field("limit"));
    }
    let mut q = residents::table
        .filter(residents::county_code.eq(&caller.county_code))
        .filter(residents::deleted.eq(false))
        .filter(residents::merged_into.is_null())
        .order(residents::id.asc())
        .limit(limit + 1)
        .select(Resident::as_select())
        .into_boxed();
    q = match &caller.scope {
        Scope::Team { villages, .. } => q.filter(residents::village_code.eq_any(villages.clone())),
        Scope::Township(t) => q.filter(residents::village_code.like(format!("{}%", &t[..9]))),
        Scope::County(_) => q,
    };
    if let Some(v) = &f.village {
        if !(v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())) {
            return Err(
                AppError::bad_request(Code::InvalidQuery, "village must be a 12-digit village code")
                    .with_field("village"),
            );
        }
        if !caller.scope.covers_village(v) {
            return Err(AppError::forbidden("that village is outside your reach"));
        }
        q = q.filter(residents::village_code.eq(v.clone()));
    }
    let mut matched = None;
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 64 {
            return Err(AppError::bad_request(Code::InvalidQuery, "q is at most 64 characters").with_field("q"));
        }
        let kind = if let Ok(id) = IdNumber::parse(text) {
            q = q.filter(residents::id_hash.eq(id.keyed_hash(id_secret)));
            Matched::IdNumber
        } else if (4..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            let household = residents::household_id.eq(text.to_string());
            q = if caller.role.is_team_member() && text.len() <= 11 {
                q.filter(residents::phone.like(format!("%{text}")).or(household))
            } else {
                q.filter(residents::phone.eq(text.to_string()).or(household))
            };
            Matched::Digits
        } else {
            let like = format!("%{}%", escape_like(text));
            q = q.filter(
                residents::name
                    .like(like)
                    .escape('\\')
                    .or(residents::household_id.eq(text.to_string())),
            );
            Matched::Text
        };
        matched = Some(kind);
    }
    if let Some(after) = &f.cursor {
        let after = crate::domain::validate::uuid(after, "cursor").map_err(|_| {
            AppError::bad_request(Code::InvalidCursor, "cursor is not one this list handed out").with_field("cursor")
        })?;
        q = q.filter(residents::id.gt(after));
    }
    let mut rows: Vec<Resident> = q.load(c)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let cursor = if more { rows.last().map(|r| r.id.clone()) } else { None };
    let own_team = caller.role.is_team_member();
    let kind = match matched {
        Some(Matched::IdNumber) => "id_number",
        Some(Matched::Digits) => "digits",
        Some(Matched::Text) => "text",
        None => "none",
    };
    audit::record_now(
        c,
        audit::Entry::actor(caller, "residents_searched").detail(serde_json::json!({
            "query_kind": kind,
            "village": f.village,
            "results": rows.len(),
        })),
    )?;
    Ok(ResidentPage {
        items: rows.iter().map(|r| r.view(own_team)).collect(),
        cursor,
    })
}
