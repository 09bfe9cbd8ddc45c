//! `GET /api/v1/sync/pull`: the changes in the caller's scope after a cursor, in server
//! order, each with the entity's current data (or `deleted: true`).

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cursor;
use crate::auth::{Auth, Scope};
use crate::db::DbConn;
use crate::domain::contract::{self, Contract};
use crate::domain::resident::Resident;
use crate::error::AppError;
use crate::schema::{change_log, not_signed, residents, survey_responses, visits};

/// Default and largest page.
pub const DEFAULT_LIMIT: i64 = 500;
/// Largest page a client may ask for.
pub const MAX_LIMIT: i64 = 5000;

/// One change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PulledChange {
    /// Entity kind.
    pub entity: String,
    /// Entity id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// A tombstone: drop the record.
    pub deleted: bool,
    /// The entity's current fields (null for a tombstone).
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

/// A page of changes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PullResponse {
    /// Changes in server order.
    pub changes: Vec<PulledChange>,
    /// Pass back to get what follows.
    pub cursor: String,
    /// More changes are waiting.
    pub has_more: bool,
}

#[derive(Queryable)]
struct LogRow {
    seq: i64,
    entity: String,
    entity_id: String,
}

/// Reads one page.
pub fn pull(
    conn: &mut DbConn,
    auth: &Auth,
    secret: &str,
    cursor_in: Option<&str>,
    limit: Option<i64>,
) -> Result<PullResponse, AppError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_request("invalid_limit", format!("limit must be 1–{MAX_LIMIT}")).with_field("limit"));
    }
    let after = match cursor_in.filter(|c| !c.is_empty()) {
        Some(c) => cursor::decode(secret, &auth.scope, c)?,
        None => 0,
    };
    let mut q = change_log::table
        .filter(change_log::seq.gt(after))
        .filter(change_log::county_code.eq(&auth.county_code))
        .order(change_log::seq)
        .limit(limit + 1)
        .select((change_log::seq, change_log::entity, change_log::entity_id))
        .into_boxed();
    q = match &auth.scope {
        Scope::Team { villages, .. } => q.filter(change_log::village_code.eq_any(villages.clone())),
        Scope::Township(t) => q.filter(change_log::village_code.like(format!("{}%", &t[..9]))),
        Scope::County(_) => q,
    };
    let mut rows: Vec<LogRow> = q.load(conn)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let last = rows.last().map(|r| r.seq).unwrap_or(after);
    let own_team = auth.role.is_team_member();
    let current = load_current(conn, &rows, own_team)?;
    // An entity changed several times in the page appears once, at its latest position.
    let changes = rows
        .iter()
        .filter_map(|r| {
            let (seq, version, deleted, data) = current.get(&(r.entity.clone(), r.entity_id.clone()))?;
            (*seq == r.seq).then(|| PulledChange {
                entity: r.entity.clone(),
                id: r.entity_id.clone(),
                version: *version,
                deleted: *deleted,
                data: if *deleted { None } else { Some(data.clone()) },
            })
        })
        .collect();
    Ok(PullResponse {
        changes,
        cursor: cursor::encode(secret, &auth.scope, last),
        has_more,
    })
}

type Current = HashMap<(String, String), (i64, i64, bool, serde_json::Value)>;

fn ids_of<'a>(rows: &'a [LogRow], entity: &str) -> Vec<&'a str> {
    rows.iter()
        .filter(|r| r.entity == entity)
        .map(|r| r.entity_id.as_str())
        .collect()
}

fn to_json<T: Serialize>(v: T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(v).map_err(AppError::internal)
}

fn load_current(conn: &mut DbConn, rows: &[LogRow], own_team: bool) -> Result<Current, AppError> {
    let mut out = Current::new();
    let key = |e: &str, id: &str| (e.to_string(), id.to_string());
    let ids = ids_of(rows, "resident");
    if !ids.is_empty() {
        let list: Vec<Resident> = residents::table
            .filter(residents::id.eq_any(ids))
            .select(Resident::as_select())
            .load(conn)?;
        for r in list {
            out.insert(
                key("resident", &r.id),
                (r.change_seq, r.version, r.deleted, to_json(r.view(own_team))?),
            );
        }
    }
    let ids = ids_of(rows, "contract");
    if !ids.is_empty() {
        let list: Vec<Contract> = crate::schema::contracts::table
            .filter(crate::schema::contracts::id.eq_any(ids))
            .select(Contract::as_select())
            .load(conn)?;
        for c in list {
            let packages = contract::package_codes(conn, &c.id)?;
            out.insert(
                key("contract", &c.id),
                (c.change_seq, c.version, c.deleted, to_json(c.view(packages))?),
            );
        }
    }
    let ids = ids_of(rows, "visit");
    if !ids.is_empty() {
        type V = (
            String,
            i64,
            i64,
            bool,
            String,
            Option<String>,
            String,
            i64,
            String,
            Option<String>,
            Option<String>,
        );
        let list: Vec<V> = visits::table
            .filter(visits::id.eq_any(ids))
            .select((
                visits::id,
                visits::change_seq,
                visits::version,
                visits::deleted,
                visits::resident_id,
                visits::contract_id,
                visits::kind,
                visits::occurred_at,
                visits::measurements,
                visits::notes,
                visits::amends,
            ))
            .load(conn)?;
        for (id, seq, version, deleted, resident_id, contract_id, kind, occurred_at, m, notes, amends) in list {
            let data = serde_json::json!({
                "id": id, "resident_id": resident_id, "contract_id": contract_id, "kind": kind,
                "occurred_at": crate::time::fmt_instant(occurred_at), "measurements": serde_json::from_str::<serde_json::Value>(&m).unwrap_or_default(),
                "notes": notes, "amends": amends, "version": version,
            });
            out.insert(key("visit", &id), (seq, version, deleted, data));
        }
    }
    let ids = ids_of(rows, "survey");
    if !ids.is_empty() {
        type S = (String, i64, i64, bool, String, String, i32, String, i64);
        let list: Vec<S> = survey_responses::table
            .filter(survey_responses::id.eq_any(ids))
            .select((
                survey_responses::id,
                survey_responses::change_seq,
                survey_responses::version,
                survey_responses::deleted,
                survey_responses::resident_id,
                survey_responses::questionnaire,
                survey_responses::questionnaire_version,
                survey_responses::answers,
                survey_responses::answered_at,
            ))
            .load(conn)?;
        for (id, seq, version, deleted, resident_id, q, qv, answers, at) in list {
            let data = serde_json::json!({
                "id": id, "resident_id": resident_id, "questionnaire": q, "questionnaire_version": qv,
                "answers": serde_json::from_str::<serde_json::Value>(&answers).unwrap_or_default(),
                "answered_at": crate::time::fmt_instant(at), "version": version,
            });
            out.insert(key("survey", &id), (seq, version, deleted, data));
        }
    }
    let ids = ids_of(rows, "not_signed");
    if !ids.is_empty() {
        type N = (String, i64, i64, bool, String, String, Option<String>, i64);
        let list: Vec<N> = not_signed::table
            .filter(not_signed::id.eq_any(ids))
            .select((
                not_signed::id,
                not_signed::change_seq,
                not_signed::version,
                not_signed::deleted,
                not_signed::resident_id,
                not_signed::reason,
                not_signed::reason_text,
                not_signed::recorded_at,
            ))
            .load(conn)?;
        for (id, seq, version, deleted, resident_id, reason, text, at) in list {
            let data = serde_json::json!({
                "id": id, "resident_id": resident_id, "reason": reason, "reason_text": text,
                "recorded_at": crate::time::fmt_instant(at), "version": version,
            });
            out.insert(key("not_signed", &id), (seq, version, deleted, data));
        }
    }
    Ok(out)
}
