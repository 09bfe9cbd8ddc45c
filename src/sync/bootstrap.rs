//! `GET /api/v1/sync/bootstrap`: the first sync of a new or wiped tablet. It pages through
//! every live record in the caller's scope (residents first, then contracts, visits,
//! surveys, not-signed records, each in id order) and ends with a pull cursor at the
//! change-log position taken when the bootstrap began.
//!
//! The last page also carries every questionnaire version (the survey catalog) and every
//! service package of the caller's county, so a new tablet can render the surveys its residents answer and offer
//! the packages a contract may hold; afterwards tablets refresh them from
//! `GET /api/v1/questionnaires` and `GET /api/v1/packages`.
//!
//! A record changed while the pages are read comes in its newer state; the pull from the
//! starting position delivers that change again, and the tablet keeps the higher version.
//! So after bootstrap + pull the tablet holds exactly the server's state.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pull::PulledChange;
use super::{cursor, snapshot};
use crate::access::{Caller, Scope};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 2000;
/// Largest page.
pub const MAX_LIMIT: i64 = 10_000;

/// A page of the snapshot.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BootstrapPage {
    /// Records, parents before children.
    pub records: Vec<PulledChange>,
    /// Pass as `page` for the next page; absent on the last page.
    pub next_page: Option<String>,
    /// On the last page: the cursor to pull from.
    pub cursor: Option<String>,
    /// On the last page: every questionnaire version, by code and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questionnaires: Option<Vec<crate::domain::questionnaire::QuestionnaireView>>,
    /// On the last page: every service package, by code (retired ones with `active: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<crate::domain::catalog::PackageView>>,
}

struct Position {
    head: i64,
    entity: usize,
    after: String,
}

fn encode(secret: &str, scope: &Scope, p: &Position) -> String {
    cursor::sign(
        secret,
        &format!("b1.{}.{}.{}.{}", p.head, p.entity, p.after, cursor::scope_hash(scope)),
    )
}

fn decode(secret: &str, scope: &Scope, token: &str) -> Result<Position, AppError> {
    let bad = || {
        AppError::bad_request(
            Code::InvalidPage,
            format!("the page token is not one this server issued; {}", cursor::RESYNC),
        )
        .with_field("page")
    };
    let body = cursor::verify(secret, token).ok_or_else(bad)?;
    let parts: Vec<&str> = body.split('.').collect();
    let [b, head, entity, after, hash] = parts.as_slice() else {
        return Err(bad());
    };
    if *b != "b1" {
        return Err(bad());
    }
    if *hash != cursor::scope_hash(scope) {
        return Err(cursor::scope_changed(format!(
            "this page token belongs to another scope; {}",
            cursor::RESYNC
        )));
    }
    let entity: usize = entity.parse().map_err(|_| bad())?;
    if entity >= snapshot::ENTITIES.len() {
        return Err(bad());
    }
    Ok(Position {
        head: head.parse().map_err(|_| bad())?,
        entity,
        after: after.to_string(),
    })
}

/// Decodes a page token for the property tests, which only care that it never panics.
#[cfg(test)]
pub(crate) fn decode_token(secret: &str, scope: &Scope, token: &str) -> Result<(), AppError> {
    decode(secret, scope, token).map(|_| ())
}

macro_rules! live_ids {
    ($conn:expr, $table:ident, $auth:expr, $after:expr, $limit:expr) => {{
        use crate::schema::$table;
        let mut q = $table::table
            .filter($table::county_code.eq(&$auth.county_code))
            .filter($table::deleted.eq(false))
            .filter($table::id.gt($after))
            .order($table::id)
            .limit($limit)
            .select($table::id)
            .into_boxed();
        q = match &$auth.scope {
            Scope::Team { villages, .. } => q.filter($table::village_code.eq_any(villages.clone())),
            Scope::Township(t) => q.filter($table::village_code.like(format!("{}%", &t[..9]))),
            Scope::County(_) => q,
        };
        q.load::<String>($conn)?
    }};
}

/// Reads one page of the snapshot.
pub fn page(
    conn: &mut DbConn,
    auth: &Caller,
    secret: &str,
    token: Option<&str>,
    limit: Option<i64>,
) -> Result<BootstrapPage, AppError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            AppError::bad_request(Code::InvalidLimit, format!("limit must be 1–{MAX_LIMIT}")).with_field("limit"),
        );
    }
    let mut pos = match token.filter(|t| !t.is_empty()) {
        Some(t) => decode(secret, &auth.scope, t)?,
        None => Position {
            head: ledger::head(conn)?,
            entity: 0,
            after: String::new(),
        },
    };
    let own_team = auth.role.is_team_member();
    let mut records = Vec::new();
    while pos.entity < snapshot::ENTITIES.len() && (records.len() as i64) < limit {
        let want = limit - records.len() as i64;
        let entity = snapshot::ENTITIES[pos.entity];
        let ids: Vec<String> = match entity {
            "resident" => live_ids!(conn, residents, auth, &pos.after, want),
            "contract" => live_ids!(conn, contracts, auth, &pos.after, want),
            "visit" => live_ids!(conn, visits, auth, &pos.after, want),
            "survey" => live_ids!(conn, survey_responses, auth, &pos.after, want),
            "not_signed" => live_ids!(conn, not_signed, auth, &pos.after, want),
            _ => live_ids!(conn, referrals, auth, &pos.after, want),
        };
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut snaps = snapshot::load(conn, entity, &refs, own_team)?;
        for id in &ids {
            if let Some(s) = snaps.remove(id) {
                records.push(PulledChange {
                    entity: entity.to_string(),
                    id: id.clone(),
                    version: s.version,
                    deleted: false,
                    data: Some(s.data),
                    merged_into: None,
                });
            }
        }
        if (ids.len() as i64) < want {
            pos.entity += 1;
            pos.after.clear();
        } else if let Some(last) = ids.last() {
            pos.after = last.clone();
        }
    }
    let done = pos.entity >= snapshot::ENTITIES.len();
    let (questionnaires, packages) = if done {
        (
            Some(crate::domain::questionnaire::list(conn, &auth.county_code)?),
            Some(crate::domain::catalog::packages(conn, &auth.county_code)?),
        )
    } else {
        (None, None)
    };
    let cursor = match done {
        true => Some(cursor::encode_marked(
            secret,
            &auth.scope,
            pos.head,
            &ledger::mark_at(conn, pos.head)?,
        )),
        false => None,
    };
    Ok(BootstrapPage {
        records,
        next_page: (!done).then(|| encode(secret, &auth.scope, &pos)),
        cursor,
        questionnaires,
        packages,
    })
}
