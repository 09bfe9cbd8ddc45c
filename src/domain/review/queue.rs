//! The supervisor review queue (审核队列) as read: one list over sync conflicts, quarantined ops
//! and contracts held `PENDING_REVIEW` that no conflict names, and its count, from one SQL.
//!
//! Scope: a row belongs to its village; a row without a village (an op refused before its
//! village was known) belongs to the team of the user whose device sent it — their villages,
//! and their team's township for a supervisor. A duplicate candidate needs both of its
//! records in the caller's scope.

use std::collections::HashMap;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::decisions_for;
use crate::access::{Caller, Scope};
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::domain::contract::{self, Contract};
use crate::domain::resident::{self, mask_phone, merged, Resident};
use crate::domain::{conflict, device, quarantined};
use crate::error::{AppError, ErrorDetail};
use crate::error_codes::Code;
use crate::vocabulary::{self, ConflictKind, ContractStatus, Decision, ItemKind, ItemStatus};

/// Open items waiting for a supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ReviewCount {
    /// Open conflicts (double signings, field clashes, duplicate residents…).
    pub conflicts: i64,
    /// Open quarantined ops (refused records kept for review).
    pub quarantine: i64,
    /// Contracts held for review that no open conflict names.
    pub pending_contracts: i64,
    /// All together: the length of `GET /api/v1/review/items?status=open`.
    pub total: i64,
}

/// Filters of the review list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewFilter {
    /// `open` (default) or `resolved`.
    pub status: Option<String>,
    /// An item kind: `field_clash`, `double_signing`, `divergent_append`,
    /// `duplicate_resident`, `quarantine` or `pending_contract`.
    pub kind: Option<String>,
    /// A township or village code inside the caller's scope.
    pub region: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One item of the review queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewItem {
    /// The item id (a conflict, quarantine or contract id).
    pub id: String,
    /// `field_clash`, `double_signing`, `divergent_append`, `duplicate_resident`,
    /// `quarantine` or `pending_contract`.
    #[schema(value_type = String)]
    pub kind: ItemKind,
    /// `open` or `resolved`.
    #[schema(value_type = String)]
    pub status: ItemStatus,
    /// The entity concerned (`resident`, `contract`, `visit`, `survey`, …), if known.
    pub entity: Option<String>,
    /// The record concerned.
    pub entity_id: Option<String>,
    /// The other record involved (the resident registered first, the contract in effect…).
    pub other_entity_id: Option<String>,
    /// The fields that clashed, comma-separated.
    pub field: Option<String>,
    /// The village the item belongs to.
    pub village_code: Option<String>,
    /// The team of the sender (or of the held contract).
    pub team_id: Option<String>,
    /// The user whose device sent what made the item.
    pub user_id: Option<String>,
    /// That device.
    pub device_id: Option<String>,
    /// The op that made the item, if any.
    pub op_id: Option<String>,
    /// When the server received it (RFC 3339).
    pub created_at: String,
    /// The server side: what is stored or what the rule kept (ID numbers and phones masked).
    #[schema(value_type = Object)]
    pub server_value: Option<serde_json::Value>,
    /// The client side: what the tablet sent or what lost (ID numbers and phones masked).
    #[schema(value_type = Object)]
    pub client_value: Option<serde_json::Value>,
    /// Why a quarantined op was refused.
    pub error: Option<ErrorDetail>,
    /// The decisions this item takes while open (empty once resolved).
    #[schema(value_type = Vec<String>)]
    pub decisions: Vec<Decision>,
    /// The decision taken.
    #[schema(value_type = Option<String>)]
    pub resolution: Option<Decision>,
    /// The supervisor's reason.
    pub resolution_reason: Option<String>,
    /// Who decided.
    pub resolved_by: Option<String>,
    /// When (RFC 3339).
    pub resolved_at: Option<String>,
}

/// A page of the review queue, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewPage {
    /// Items, newest first.
    pub items: Vec<ReviewItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

#[derive(QueryableByName)]
struct SourceCount {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The caller's place predicate on a row aliased `q` (with `village_code`, `device_id`).
fn place(auth: &Caller) -> (String, Vec<Bind>) {
    // Who sent a village-less row: device → user → team → township / villages.
    let sender = "SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id JOIN teams t ON t.id = u.team_id \
                  WHERE d.id = q.device_id";
    let mut binds: Vec<Bind> = vec![auth.county_code.clone().into()];
    let place = match &auth.scope {
        Scope::County(_) => "TRUE".to_string(),
        Scope::Township(t) => {
            let (lo, hi) = (format!("{:0<12}", &t[..9]), format!("{:9<12}", &t[..9]));
            binds.extend([lo.into(), hi.into(), t.clone().into()]);
            format!(
                "((q.village_code >= ? AND q.village_code <= ?) OR \
                 (q.village_code IS NULL AND EXISTS ({sender} AND t.township_code = ?)))"
            )
        }
        Scope::Team { team_id, villages } => {
            let marks = vec!["?"; villages.len().max(1)].join(",");
            if villages.is_empty() {
                binds.push(String::new().into());
            }
            binds.extend(villages.iter().map(|v| Bind::from(v.clone())));
            binds.push(team_id.clone().into());
            format!("(q.village_code IN ({marks}) OR (q.village_code IS NULL AND EXISTS ({sender} AND t.id = ?)))")
        }
    };
    (format!("q.county_code = ? AND {place}"), binds)
}

/// The predicate on a conflict row `q` that a duplicate candidate's other record lies in
/// the caller's scope too: a reviewer sees a pair only if they may read both records, so a
/// pair across townships is the county administrator's, and a team sees (and counts) only
/// pairs inside its villages.
fn both_sides(auth: &Caller) -> (String, Vec<Bind>) {
    let other = format!(
        "q.kind <> '{}' OR EXISTS (SELECT 1 FROM residents r WHERE r.id = q.other_entity_id AND",
        ConflictKind::DuplicateResident.as_str()
    );
    match &auth.scope {
        Scope::County(_) => ("TRUE".into(), Vec::new()),
        Scope::Township(t) => (
            format!("({other} r.village_code >= ? AND r.village_code <= ?))"),
            vec![format!("{:0<12}", &t[..9]).into(), format!("{:9<12}", &t[..9]).into()],
        ),
        Scope::Team { villages, .. } => {
            let marks = vec!["?"; villages.len().max(1)].join(",");
            let mut binds: Vec<Bind> = villages.iter().map(|v| Bind::from(v.clone())).collect();
            if binds.is_empty() {
                binds.push(String::new().into());
            }
            (format!("({other} r.village_code IN ({marks})))"), binds)
        }
    }
}

/// The union of the three sources as `(id, source, kind, status, village_code, device_id,
/// created_at)`, each branch limited to the caller's place plus `extra` (on the union's
/// columns, repeated per branch with `extra_binds`).
fn union(auth: &Caller, extra: &str, extra_binds: &[Bind]) -> (String, Vec<Bind>) {
    union_over(place(auth), both_sides(auth), extra, extra_binds)
}

/// [`union`] over a place predicate and a pair predicate given as they are.
fn union_over(
    (place, place_binds): (String, Vec<Bind>),
    (pair, pair_binds): (String, Vec<Bind>),
    extra: &str,
    extra_binds: &[Bind],
) -> (String, Vec<Bind>) {
    let conflicts = format!(
        "SELECT q.id AS id, 'conflict' AS source, q.kind AS kind, q.status AS status, \
         q.village_code AS village_code, q.device_id AS device_id, q.created_at AS created_at FROM conflicts q \
         WHERE {pair} AND"
    );
    let (quarantined, pending) = (ItemKind::Quarantine.as_str(), ItemKind::PendingContract.as_str());
    let (open, held) = (ItemStatus::Open.as_str(), ContractStatus::PendingReview.as_str());
    let branches = [
        conflicts,
        format!(
            "SELECT q.id AS id, 'quarantine' AS source, '{quarantined}' AS kind, q.status AS status, \
             q.village_code AS village_code, q.device_id AS device_id, q.received_at AS created_at FROM quarantine q WHERE"
        ),
        format!(
            "SELECT q.id AS id, 'contract' AS source, '{pending}' AS kind, '{open}' AS status, \
             q.village_code AS village_code, q.device_id AS device_id, q.created_at AS created_at FROM contracts q \
             WHERE q.status = '{held}' AND q.deleted = FALSE AND NOT EXISTS \
             (SELECT 1 FROM conflicts k WHERE k.entity_id = q.id AND k.status = '{open}') AND"
        ),
    ];
    let mut binds = Vec::new();
    let sql = branches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i == 0 {
                binds.extend(pair_binds.iter().cloned());
            }
            binds.extend(place_binds.iter().cloned());
            binds.extend(extra_binds.iter().cloned());
            format!("SELECT * FROM ({b} {place}) q WHERE {extra}")
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    (sql, binds)
}

/// Counts the open items the caller may see: the same rows as the open list.
pub fn count(conn: &mut DbConn, auth: &Caller) -> Result<ReviewCount, AppError> {
    let (sql, binds) = union(auth, "q.status = ?", &[ItemStatus::Open.as_str().into()]);
    let sql = format!("SELECT u.source AS source, CAST(COUNT(*) AS BIGINT) AS n FROM ({sql}) u GROUP BY u.source");
    let rows = raw::load::<SourceCount>(conn, &sql, &binds)?;
    let n = |s: &str| rows.iter().find(|r| r.source == s).map_or(0, |r| r.n);
    let (conflicts, quarantine, pending_contracts) = (n("conflict"), n("quarantine"), n("contract"));
    Ok(ReviewCount {
        conflicts,
        quarantine,
        pending_contracts,
        total: conflicts + quarantine + pending_contracts,
    })
}

/// Counts the open items of every county: the server's gauge (`jiayi_review_queue_open`),
/// the same rows as every reviewer's open lists together.
pub fn open_everywhere(conn: &mut DbConn) -> Result<i64, AppError> {
    let everywhere = || ("TRUE".to_string(), Vec::new());
    let open = [ItemStatus::Open.as_str().into()];
    let (sql, binds) = union_over(everywhere(), everywhere(), "q.status = ?", &open);
    let sql = format!("SELECT u.source AS source, CAST(COUNT(*) AS BIGINT) AS n FROM ({sql}) u GROUP BY u.source");
    Ok(raw::load::<SourceCount>(conn, &sql, &binds)?.iter().map(|r| r.n).sum())
}

fn cursor_of(created_at: i64, id: &str) -> String {
    format!("{created_at}_{id}")
}

fn parse_cursor(c: &str) -> Result<(i64, String), AppError> {
    let bad =
        || AppError::bad_request(Code::InvalidCursor, "cursor is not one this list handed out").with_field("cursor");
    let (at, id) = c.split_once('_').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?.hyphenated().to_string();
    Ok((at, id))
}

/// Lists the review queue in the caller's scope, newest first.
pub fn list(conn: &mut DbConn, auth: &Caller, f: &ReviewFilter) -> Result<ReviewPage, AppError> {
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::bad_request(Code::InvalidLimit, "limit must be 1–200").with_field("limit"));
    }
    let bad = || AppError::bad_request(Code::InvalidStatus, "status must be open or resolved").with_field("status");
    let status = f.status.as_deref().map_or(Some(ItemStatus::Open), ItemStatus::parse);
    let status = status.ok_or_else(bad)?.as_str();
    let mut extra = vec!["q.status = ?".to_string()];
    let mut binds: Vec<Bind> = vec![status.into()];
    if let Some(k) = &f.kind {
        let k = ItemKind::parse(k)
            .ok_or_else(|| AppError::bad_request(Code::InvalidKind, "unknown review item kind").with_field("kind"))?;
        extra.push("q.kind = ?".into());
        binds.push(k.as_str().into());
    }
    if let Some(r) = &f.region {
        let township = r.len() == 12 && r.ends_with("000") && !r.ends_with("000000");
        let village = r.len() == 12 && r.bytes().all(|b| b.is_ascii_digit()) && !r.ends_with("000");
        if !(township || village) {
            return Err(
                AppError::bad_request(Code::InvalidRegion, "region must be a township or village code")
                    .with_field("region"),
            );
        }
        let inside = match &auth.scope {
            Scope::County(c) => r.starts_with(&c[..6]),
            Scope::Township(t) => r.starts_with(&t[..9]),
            Scope::Team { .. } => auth.scope.covers_village(r),
        };
        if !inside {
            return Err(AppError::forbidden("that region is outside your scope").with_field("region"));
        }
        if township {
            // The township's villages, and village-less rows sent by its teams.
            extra.push(
                "((q.village_code >= ? AND q.village_code <= ?) OR (q.village_code IS NULL AND EXISTS \
                 (SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id JOIN teams t ON t.id = u.team_id \
                 WHERE d.id = q.device_id AND t.township_code = ?)))"
                    .into(),
            );
            binds.extend([
                format!("{:0<12}", &r[..9]).into(),
                format!("{:9<12}", &r[..9]).into(),
                r.clone().into(),
            ]);
        } else {
            extra.push("q.village_code = ?".into());
            binds.push(r.clone().into());
        }
    }
    if let Some(c) = f.cursor.as_deref().filter(|c| !c.is_empty()) {
        let (at, id) = parse_cursor(c)?;
        extra.push("(q.created_at < ? OR (q.created_at = ? AND q.id < ?))".into());
        binds.extend([at.into(), at.into(), id.into()]);
    }
    let (sql, mut all) = union(auth, &extra.join(" AND "), &binds);
    let sql = format!(
        "SELECT u.id AS id, u.source AS source, u.created_at AS created_at FROM ({sql}) u \
         ORDER BY u.created_at DESC, u.id DESC LIMIT ?"
    );
    all.push((limit + 1).into());
    let mut heads = raw::load::<Head>(conn, &sql, &all)?;
    let more = heads.len() as i64 > limit;
    heads.truncate(limit as usize);
    let next_cursor = if more {
        heads.last().map(|h| cursor_of(h.created_at, &h.id))
    } else {
        None
    };
    let items = load_items(conn, &heads)?;
    Ok(ReviewPage { items, next_cursor })
}

/// One item by id, if the caller's scope holds it (open or resolved).
pub fn find(conn: &mut DbConn, auth: &Caller, id: &str) -> Result<Option<ReviewItem>, AppError> {
    let Ok(id) = uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()) else {
        return Ok(None);
    };
    let (sql, binds) = union(auth, "q.id = ?", &[id.into()]);
    let sql = format!("SELECT u.id AS id, u.source AS source, u.created_at AS created_at FROM ({sql}) u");
    let heads = raw::load::<Head>(conn, &sql, &binds)?;
    Ok(load_items(conn, &heads[..heads.len().min(1)])?.into_iter().next())
}

/// Builds the items of a page, in its order.
fn load_items(conn: &mut DbConn, heads: &[Head]) -> Result<Vec<ReviewItem>, AppError> {
    let ids = |s: &str| -> Vec<String> { heads.iter().filter(|h| h.source == s).map(|h| h.id.clone()).collect() };
    let mut out: HashMap<String, ReviewItem> = HashMap::new();
    for conflict::Row {
        id,
        village_code: village,
        kind,
        entity,
        entity_id,
        other_entity_id: other,
        field,
        op_id,
        device_id: device,
        server_value: sv,
        client_value: cv,
        status,
        resolution: res,
        resolution_reason: reason,
        resolved_by: by,
        resolved_at: at,
        created_at: created,
    } in conflict::load(conn, &ids("conflict"))?
    {
        let parse = |v: Option<String>| v.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
        let (mut server_value, mut client_value) = (parse(sv), parse(cv));
        let kind = vocabulary::stored("conflicts.kind", &kind, ConflictKind::parse)?;
        match kind {
            ConflictKind::DuplicateResident => {
                server_value = resident_summary(conn, other.as_deref())?;
                client_value = resident_summary(conn, Some(&entity_id))?;
            }
            ConflictKind::DoubleSigning => {
                server_value = contract_summary(conn, other.as_deref())?;
                client_value = contract_summary(conn, Some(&entity_id))?;
            }
            ConflictKind::FieldClash | ConflictKind::DivergentAppend => {}
        }
        let (user_id, team_id) = sender(conn, device.as_deref())?;
        let status = vocabulary::stored("conflicts.status", &status, ItemStatus::parse)?;
        let res = vocabulary::stored_opt("conflicts.resolution", res.as_deref(), Decision::parse)?;
        out.insert(
            id.clone(),
            ReviewItem {
                decisions: open_decisions(kind.into(), status),
                id,
                kind: kind.into(),
                status,
                entity: Some(entity),
                entity_id: Some(entity_id),
                other_entity_id: other,
                field,
                village_code: village,
                team_id,
                user_id,
                device_id: device,
                op_id,
                created_at: crate::time::fmt_instant(created),
                server_value: server_value.map(masked),
                client_value: client_value.map(masked),
                error: None,
                resolution: res,
                resolution_reason: reason,
                resolved_by: by,
                resolved_at: at.map(crate::time::fmt_instant),
            },
        );
    }
    for quarantined::Row {
        id,
        village_code: village,
        device_id: device,
        user_id: user,
        op_id,
        entity,
        raw: raw_op,
        error_code: code,
        error_field: field,
        error_message: message,
        status,
        resolution: res,
        resolution_reason: reason,
        resolved_by: by,
        resolved_at: at,
        received_at: received,
    } in quarantined::load(conn, &ids("quarantine"))?
    {
        let (_, team_id) = sender(conn, Some(&device))?;
        let raw_op: Option<serde_json::Value> = serde_json::from_str(&raw_op).ok();
        let entity_id = raw_op
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let status = vocabulary::stored("quarantine.status", &status, ItemStatus::parse)?;
        let res = vocabulary::stored_opt("quarantine.resolution", res.as_deref(), Decision::parse)?;
        out.insert(
            id.clone(),
            ReviewItem {
                decisions: open_decisions(ItemKind::Quarantine, status),
                id,
                kind: ItemKind::Quarantine,
                status,
                entity,
                entity_id,
                other_entity_id: None,
                field: field.clone(),
                village_code: village,
                team_id,
                user_id: Some(user),
                device_id: Some(device),
                op_id,
                created_at: crate::time::fmt_instant(received),
                server_value: None,
                client_value: raw_op.map(masked),
                error: Some(ErrorDetail::of(code, message, field)),
                resolution: res,
                resolution_reason: reason,
                resolved_by: by,
                resolved_at: at.map(crate::time::fmt_instant),
            },
        );
    }
    for id in ids("contract") {
        let Some(c) = contract::find(conn, &id)? else { continue };
        let rival = rival_of(conn, &c)?;
        let (user_id, _) = sender(conn, c.device_id.as_deref())?;
        out.insert(
            id.clone(),
            ReviewItem {
                decisions: open_decisions(ItemKind::PendingContract, ItemStatus::Open),
                id: id.clone(),
                kind: ItemKind::PendingContract,
                status: ItemStatus::Open,
                entity: Some("contract".into()),
                entity_id: Some(id.clone()),
                other_entity_id: rival.clone(),
                field: None,
                village_code: Some(c.village_code.clone()),
                team_id: Some(c.team_id.clone()),
                user_id,
                device_id: c.device_id.clone(),
                op_id: None,
                created_at: crate::time::fmt_instant(c.created_at),
                server_value: contract_summary(conn, rival.as_deref())?,
                client_value: contract_summary(conn, Some(&id))?,
                error: None,
                resolution: None,
                resolution_reason: None,
                resolved_by: None,
                resolved_at: None,
            },
        );
    }
    Ok(heads.iter().filter_map(|h| out.remove(&h.id)).collect())
}

/// The decisions an item lists: its kind's while open, none once resolved.
fn open_decisions(kind: ItemKind, status: ItemStatus) -> Vec<Decision> {
    match status {
        ItemStatus::Open => decisions_for(kind).to_vec(),
        ItemStatus::Resolved => Vec::new(),
    }
}

/// A contract in effect that a held contract competes with, if any.
pub(crate) fn rival_of(conn: &mut DbConn, c: &Contract) -> Result<Option<String>, AppError> {
    let (Some(from), Some(to)) = (
        contract::stored_date(&c.effective_from),
        contract::stored_date(&c.effective_to),
    ) else {
        return Ok(None);
    };
    contract::find_rival(conn, &c.resident_id, from, to, c.renews.as_deref())
}

/// The user and team behind a device.
fn sender(conn: &mut DbConn, device: Option<&str>) -> Result<(Option<String>, Option<String>), AppError> {
    let Some(device) = device else { return Ok((None, None)) };
    Ok(device::sender(conn, device)?.map_or((None, None), |(u, t)| (Some(u), t)))
}

/// A resident as a supervisor compares duplicates: masked, with how much hangs on it.
fn resident_summary(conn: &mut DbConn, id: Option<&str>) -> Result<Option<serde_json::Value>, AppError> {
    let Some(r) = id.map(|id| resident::find(conn, id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let Resident { id, .. } = &r;
    let hanging = merged::hanging_on(conn, id)?;
    let mut v = serde_json::to_value(r.view(false)).map_err(AppError::internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("deleted".into(), r.deleted.into());
        o.insert("contracts".into(), hanging.contracts.into());
        o.insert("visits".into(), hanging.visits.into());
        o.insert("surveys".into(), hanging.surveys.into());
    }
    Ok(Some(v))
}

/// A contract as the supervisor sees it in a double signing.
fn contract_summary(conn: &mut DbConn, id: Option<&str>) -> Result<Option<serde_json::Value>, AppError> {
    let Some(c) = id.map(|id| contract::find(conn, id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let packages = contract::package_codes(conn, &c.id)?;
    let mut v = serde_json::to_value(c.view(packages)?).map_err(AppError::internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("village_code".into(), c.village_code.clone().into());
        o.insert("signed_on".into(), c.signed_on.clone().into());
    }
    Ok(Some(v))
}

/// Masks every `id_number` and `phone` anywhere in a value (a raw op may carry both in
/// clear), whatever the value's type: a number is masked like the text of its digits, and
/// everything inside an array or object under those names is masked the same way.
pub fn masked(mut v: serde_json::Value) -> serde_json::Value {
    mask_in(&mut v);
    v
}

fn mask_in(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match k.as_str() {
                    "id_number" => mask_all(x, &mask_id),
                    "phone" => mask_all(x, &|s| {
                        use crate::sync::quarantine::{is_masked, kept_phone_mask};
                        // A resident summary's phone is masked already.
                        kept_phone_mask(s).unwrap_or_else(|| if is_masked(s) { s.to_string() } else { mask_phone(s) })
                    }),
                    _ => mask_in(x),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_in),
        _ => {}
    }
}

/// Masks every string and number inside `v` with `mask`.
fn mask_all(v: &mut serde_json::Value, mask: &dyn Fn(&str) -> String) {
    match v {
        serde_json::Value::String(s) => *v = mask(s).into(),
        serde_json::Value::Number(n) => *v = mask(&n.to_string()).into(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask_all(x, mask)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| mask_all(x, mask)),
        _ => {}
    }
}

/// The mask of an 18-character number (also of one masked already, old or new form);
/// anything else is all stars. A number kept as its hash shows the mask kept with it.
fn mask_id(s: &str) -> String {
    if let Some(kept) = crate::domain::id_number::KeptId::mask_in(s) {
        return kept;
    }
    match s.chars().count() {
        18 => crate::domain::id_number::mask_of_18(s),
        n => "*".repeat(n.min(18)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ops_are_masked_at_any_depth() {
        let v = serde_json::json!({ "data": { "id_number": "43112619800101123X", "phone": "13800138000",
            "nested": [{ "phone": "13912345678" }], "name": "x" } });
        let m = masked(v);
        assert_eq!(m["data"]["id_number"], "****************3*");
        assert_eq!(m["data"]["phone"], "138******00");
        assert_eq!(m["data"]["nested"][0]["phone"], "139******78");
        assert_eq!(m["data"]["name"], "x");
        assert_eq!(mask_id("4311**********123X"), "****************3*");
        assert_eq!(mask_id("1234"), "****");
    }

    #[test]
    fn numbers_and_nested_values_under_pii_names_are_masked_too() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{ "data": { "id_number": 431126198001011235, "phone": 13800138000,
                 "x": [{ "id_number": ["431126198001011235", { "a": 13912345678 }] }],
                 "y": { "phone": { "home": "84561234", "n": [13800138000.0] } } } }"#,
        )
        .unwrap();
        let m = masked(v).to_string();
        for clear in [
            "431126198001011235",
            "13800138000",
            "13912345678",
            "84561234",
            "1380013800",
        ] {
            assert!(!m.contains(clear), "{clear} in {m}");
        }
        assert!(m.contains(r#""id_number":"****************3*""#), "{m}");
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(parse_cursor(&cursor_of(42, &id)).unwrap(), (42, id));
        assert_eq!(parse_cursor("nope").unwrap_err().code, Code::InvalidCursor);
        assert_eq!(parse_cursor("1_x").unwrap_err().code, Code::InvalidCursor);
    }
}
