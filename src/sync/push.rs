//! `POST /api/v1/sync/push`: one batch, one short transaction; every op applied or
//! refused on its own (a savepoint each), its first result stored with its `op_id` so a
//! replay answers that first verdict again and changes nothing (`replay`). A refused op's
//! raw payload goes to quarantine: nothing the tablet sent is lost, and nothing blocks the
//! rest of the queue.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Caller;
use crate::db::{write_tx_retrying, DbConn};
use crate::domain::contract;
use crate::domain::id_number::IdNumber;
use crate::domain::resident::{self, Resident};
use crate::domain::survey;
use crate::domain::visit;
use crate::domain::{self, Applied, WriteCtx};
use crate::error::{AppError, ErrorDetail, Kind};
use crate::error_codes::Code;
use crate::schema::{applied_ops, devices, quarantine};
use crate::time::now_ms;

use super::journal::Journal;
use super::replay::{self, Earlier};

/// The push request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Must be the device the access token was issued to.
    pub device_id: String,
    /// The ops, applied in order. Each is checked on its own; a malformed op is refused
    /// alone, so ops are taken as raw JSON here.
    #[schema(value_type = Vec<PushOp>)]
    pub ops: Vec<serde_json::Value>,
}

/// One op as the tablet queued it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushOp {
    /// Client-generated UUID, the idempotency key.
    pub op_id: String,
    /// `resident`, `contract`, `visit`, `survey` or `not_signed`.
    pub entity: String,
    /// `create`, `update`, `transition`, `amend` or `delete`.
    pub action: String,
    /// The entity's id (UUIDv7 generated on the tablet).
    pub id: String,
    /// The version the tablet's edit was based on (updates).
    #[serde(default)]
    pub base_version: Option<i64>,
    /// The entity's fields, by entity and action (docs/sync-protocol.md §6): `resident`
    /// create `ResidentPush`, update the changed fields of it; `contract` create
    /// `ContractPush`, transition `ContractTransitionPush`; `visit` and `survey` create or
    /// amend `VisitPush`, `SurveyPush`; `not_signed` create `NotSignedPush`; any delete `{}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Clinical time the tablet recorded the op, RFC 3339 with offset.
    pub recorded_at: String,
}

/// What happened to one op.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OpResult {
    /// The op's position in the batch, from 0: names the op even when its `op_id` could
    /// not be read.
    #[serde(default)]
    #[schema(required = true)]
    pub index: usize,
    /// The op's id (empty when the op was too malformed to carry one).
    pub op_id: String,
    /// `applied`, `duplicate` (a replay of an applied op), `conflict` or `rejected`. A
    /// replay keeps its first verdict, so a replayed `conflict` or `rejected` reads the same.
    pub status: String,
    /// The entity's version after the op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The conflict record keeping the losing side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_id: Option<String>,
    /// Why the op was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// Present (`true`) when this device sent the op id before: the answer is the first
    /// one, and nothing changed this time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// The push answer: one result per op, in order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushResponse {
    /// Results in the order of the ops.
    pub results: Vec<OpResult>,
    /// The server's clock, RFC 3339.
    pub server_time: String,
}

/// Settings push needs from the configuration.
pub struct PushLimits<'a> {
    /// Most ops per batch.
    pub max_ops: usize,
    /// Clock skew allowed, ms.
    pub max_skew_ms: i64,
    /// ID-number hash key.
    pub id_hash_secret: &'a str,
    /// Refused ops a device may leave in quarantine per UTC day; the rest are answered
    /// `rejected` as ever but not kept.
    pub quarantine_per_day: u32,
    /// Counts the refused ops not kept for that cap.
    pub quarantine_full: Option<prometheus::IntCounter>,
}

/// Applies a batch. `app_version` (the tablet's `X-App-Version`) is recorded on the device
/// in the batch's transaction.
pub fn push(
    conn: &mut DbConn,
    auth: &Caller,
    app_version: Option<&str>,
    req: &PushRequest,
    limits: &PushLimits,
) -> Result<PushResponse, AppError> {
    if req.device_id != auth.client_device_id {
        return Err(AppError::invalid(
            Code::DeviceMismatch,
            "device_id",
            "device_id is not the device this token was issued to",
        ));
    }
    if req.ops.len() > limits.max_ops {
        return Err(AppError::new(
            Kind::PayloadTooLarge,
            Code::TooManyOps,
            format!("a batch holds at most {} ops", limits.max_ops),
        ));
    }
    let now = now_ms();
    let results = write_tx_retrying(conn, |c| {
        let device = devices::table.find(&auth.device_id);
        match app_version {
            Some(v) => diesel::update(device)
                .set((devices::last_seen_at.eq(now), devices::app_version.eq(v)))
                .execute(c)?,
            None => diesel::update(device).set(devices::last_seen_at.eq(now)).execute(c)?,
        };
        let journal = RefCell::new(Journal::default());
        let fast = fast_path_context(c, auth, &req.ops, limits.id_hash_secret)?;
        let batch = Batch {
            auth,
            now,
            limits,
            journal: &journal,
            replayed: replay::earlier_results(c, auth, &req.ops)?,
            residents: RefCell::new(fast.residents),
            merged: fast.merged,
            redirected: RefCell::new(fast.redirected),
            known_ids: fast.known_ids,
            questionnaires: fast.questionnaires,
            id_hashes_taken: fast.id_hashes_taken,
            in_effect: RefCell::new(fast.in_effect),
            contracts_touched: Cell::new(false),
            signing: fast.signing,
            quarantined_today: Cell::new(None),
        };
        let results = req
            .ops
            .iter()
            .enumerate()
            .map(|(index, raw)| apply_one(c, &batch, index, raw))
            .collect::<Result<Vec<_>, _>>()?;
        let mut journal = journal.into_inner();
        journal.write_unsequenced(c)?;
        journal.confirm_registrations(c, &auth.county_code)?;
        generic_plans_for_writes(c)?;
        journal.flush(c)?;
        Ok(results)
    })?;
    Ok(PushResponse {
        results,
        server_time: crate::time::fmt_instant(now),
    })
}

/// Lets PostgreSQL reuse plans for the rest of the batch's transaction. Connections
/// plan every statement afresh (`db::Manager`: generic plans made while a county's tables
/// were small go bad as they grow, and the batch's look-ups by lists of ids are such
/// statements). What follows is multi-row inserts, whose foreign-key checks are one
/// primary-key look-up per row: planning each of those again took about a seventh of
/// PostgreSQL's time on a push (docs/benchmarks.md).
fn generic_plans_for_writes(conn: &mut DbConn) -> Result<(), AppError> {
    if let DbConn::Pg(_) = conn {
        diesel::connection::SimpleConnection::batch_execute(conn, "SET LOCAL plan_cache_mode = auto")?;
    }
    Ok(())
}

/// What every op of a batch shares.
struct Batch<'a> {
    auth: &'a Caller,
    now: i64,
    limits: &'a PushLimits<'a>,
    journal: &'a RefCell<Journal>,
    /// First results of the device's ops seen in earlier batches, by op id (one query
    /// per batch).
    replayed: HashMap<String, Earlier>,
    /// Residents the batch's new visits refer to, visible to the caller, loaded at once;
    /// a resident an op changes is dropped from here (later visits take the full path).
    residents: RefCell<HashMap<String, Resident>>,
    /// Residents the batch's ops name that were merged into another record: merged-away
    /// id → the survivor's id. Ops naming them land on the survivor.
    merged: HashMap<String, String>,
    /// The survivor of each merged-away resident the caller could see, for the fast path:
    /// a tablet that registered the merged-away record keeps recording for that person.
    redirected: RefCell<HashMap<String, Resident>>,
    /// Which of the ids the batch's creates name already exist.
    known_ids: HashSet<String>,
    /// Questionnaire versions the batch's new responses name.
    questionnaires: HashMap<(String, i32), Option<survey::Questionnaire>>,
    /// Which of the ID-number hashes the batch's new residents carry are registered already.
    id_hashes_taken: HashSet<String>,
    /// Terms of the contracts in effect (signed, not ended) of the residents the batch's
    /// new contracts name, including those signed earlier in the batch.
    in_effect: RefCell<HashMap<String, Vec<(NaiveDate, NaiveDate)>>>,
    /// Set once a contract op took the full path: `in_effect` may be stale from then on,
    /// so later new contracts take the full path too.
    contracts_touched: Cell<bool>,
    /// The package catalog and contract term, when the batch signs contracts.
    signing: Option<(contract::Catalog, u32)>,
    /// Refused ops the device left in quarantine today, counted at the batch's first refusal.
    quarantined_today: Cell<Option<i64>>,
}

/// New residents, contracts, visits and survey responses whose references and ids the
/// batch settles without a query take the fast path; this names which, if any.
fn fast_kind(op: &PushOp) -> Option<&'static str> {
    let plain = op.action == "create" && op.data.get("amends").is_none_or(|a| a.is_null());
    match op.entity.as_str() {
        "resident" if plain => Some("resident"),
        "contract" if plain => Some("contract"),
        "visit" if plain => Some("visit"),
        "survey" if plain => Some("survey"),
        _ => None,
    }
}

/// What the fast path needs, loaded with one query per table.
struct FastPath {
    residents: HashMap<String, Resident>,
    merged: HashMap<String, String>,
    redirected: HashMap<String, Resident>,
    known_ids: HashSet<String>,
    questionnaires: HashMap<(String, i32), Option<survey::Questionnaire>>,
    id_hashes_taken: HashSet<String>,
    in_effect: HashMap<String, Vec<(NaiveDate, NaiveDate)>>,
    signing: Option<(contract::Catalog, u32)>,
}

/// Loads what the batch's creates refer to: the residents their records name (visible to
/// the caller), which of their ids exist already, which of the new residents' ID numbers
/// are registered, the contracts in effect of the residents being signed, the catalog and
/// term, and the questionnaire versions named.
fn fast_path_context(
    conn: &mut DbConn,
    auth: &Caller,
    ops: &[serde_json::Value],
    id_hash_secret: &str,
) -> Result<FastPath, AppError> {
    use crate::schema::{contracts, residents, survey_responses, visits};
    let kind = |o: &serde_json::Value| {
        let e = o.get("entity").and_then(|e| e.as_str());
        let create = o.get("action").and_then(|e| e.as_str()) == Some("create");
        e.filter(|e| create && matches!(*e, "resident" | "contract" | "visit" | "survey"))
            .map(str::to_string)
    };
    // Text holding NUL cannot reach a query (PostgreSQL refuses it); such ops are refused.
    let text = |o: &serde_json::Value, path: &[&str]| {
        path.iter()
            .try_fold(o, |v, k| v.get(k))
            .and_then(|v| v.as_str())
            .filter(|s| !s.contains('\0'))
            .map(str::to_string)
    };
    let new: Vec<(String, &serde_json::Value)> = ops.iter().filter_map(|o| kind(o).map(|k| (k, o))).collect();
    let referring = |kinds: &[&str]| -> Vec<String> {
        let mut ids: Vec<String> = new
            .iter()
            .filter(|(e, _)| kinds.contains(&e.as_str()))
            .filter_map(|(_, o)| text(o, &["data", "resident_id"]))
            .map(|s| canonical(&s))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    // Every resident an op names: new records' residents, and residents being edited
    // (to find those merged away).
    let mut resident_ids: Vec<String> = ops
        .iter()
        .filter_map(|o| {
            let edit = o.get("entity").and_then(|e| e.as_str()) == Some("resident")
                && o.get("action").and_then(|e| e.as_str()) == Some("update");
            if edit {
                text(o, &["id"])
            } else {
                text(o, &["data", "resident_id"])
            }
        })
        .map(|s| canonical(&s))
        .collect();
    resident_ids.sort();
    resident_ids.dedup();
    let mut residents_found = HashMap::new();
    let mut merged_away = Vec::new();
    for chunk in resident_ids.chunks(500) {
        let list: Vec<Resident> = residents::table
            .filter(residents::id.eq_any(chunk))
            .select(Resident::as_select())
            .load(conn)?;
        for r in list {
            if r.merged_into.is_some() {
                merged_away.push(r);
            } else if !r.deleted && auth.scope.covers_village(&r.village_code) {
                residents_found.insert(r.id.clone(), r);
            }
        }
    }
    let (merged, redirected) = survivors(conn, auth, merged_away)?;
    let ids_of = |k: &str| -> Vec<String> {
        new.iter()
            .filter(|(e, _)| e == k)
            .filter_map(|(_, o)| text(o, &["id"]))
            .map(|s| canonical(&s))
            .collect()
    };
    let mut known_ids = HashSet::new();
    macro_rules! existing {
        ($kind:expr, $table:ident) => {
            for chunk in ids_of($kind).chunks(500) {
                known_ids.extend(
                    $table::table
                        .filter($table::id.eq_any(chunk))
                        .select($table::id)
                        .load::<String>(conn)?,
                );
            }
        };
    }
    existing!("resident", residents);
    existing!("contract", contracts);
    existing!("visit", visits);
    existing!("survey", survey_responses);
    // A number that does not parse is refused by the op's own checks.
    let hashes: Vec<String> = new
        .iter()
        .filter(|(e, _)| e == "resident")
        .filter_map(|(_, o)| text(o, &["data", "id_number"]))
        .filter_map(|n| IdNumber::parse(&n).ok())
        .map(|n| n.keyed_hash(id_hash_secret))
        .collect();
    // Read without the county's registration lock, so that batches work side by side;
    // `Journal::confirm_registrations` takes the lock just before writing and checks again.
    let id_hashes_taken: HashSet<String> = resident::registered(conn, &auth.county_code, &hashes)?
        .into_iter()
        .map(|(_, hash)| hash)
        .collect();
    let signed_for = referring(&["contract"]);
    // A batch signing the same resident at the same moment waits for this one (PostgreSQL),
    // so the contracts in effect read here stay true until commit.
    resident::lock_rows(conn, &signed_for)?;
    let mut in_effect: HashMap<String, Vec<(NaiveDate, NaiveDate)>> = HashMap::new();
    for chunk in signed_for.chunks(500) {
        let rows: Vec<(String, String, String)> = contracts::table
            .filter(contracts::resident_id.eq_any(chunk))
            .filter(contracts::deleted.eq(false))
            .filter(contracts::status.eq_any([contract::status::SIGNED, contract::status::ACTIVE]))
            .filter(contracts::ended_on.is_null())
            .select((
                contracts::resident_id,
                contracts::effective_from,
                contracts::effective_to,
            ))
            .load(conn)?;
        for (r, from, to) in rows {
            if let (Some(from), Some(to)) = (contract::stored_date(&from), contract::stored_date(&to)) {
                in_effect.entry(r).or_default().push((from, to));
            }
        }
    }
    let signing = if new.iter().any(|(e, _)| e == "contract") {
        Some((
            contract::catalog(conn)?,
            contract::term_months(conn, &auth.county_code)?,
        ))
    } else {
        None
    };
    let mut questionnaires = HashMap::new();
    for (_, o) in new.iter().filter(|(e, _)| e == "survey") {
        let code = text(o, &["data", "questionnaire"]);
        let version = o
            .get("data")
            .and_then(|d| d.get("questionnaire_version"))
            .and_then(|v| v.as_i64());
        if let (Some(code), Some(version)) = (code, version.and_then(|v| i32::try_from(v).ok())) {
            if !questionnaires.contains_key(&(code.clone(), version)) {
                let q = survey::questionnaire(conn, &code, version)?;
                questionnaires.insert((code, version), q);
            }
        }
    }
    Ok(FastPath {
        residents: residents_found,
        merged,
        redirected,
        known_ids,
        questionnaires,
        id_hashes_taken,
        in_effect,
        signing,
    })
}

/// Merged-away id → survivor id, and merged-away id → survivor for the fast path.
type Survivors = (HashMap<String, String>, HashMap<String, Resident>);

/// Each merged-away resident's survivor (merged-away id → survivor id), and the survivors
/// of those the caller could see (by merged-away id) for the fast path.
fn survivors(conn: &mut DbConn, auth: &Caller, merged_away: Vec<Resident>) -> Result<Survivors, AppError> {
    let (mut merged, mut redirected) = (HashMap::new(), HashMap::new());
    for r in merged_away {
        if let Some(s) = domain::review::survivor_of(conn, &r.id)?.filter(|s| !s.deleted) {
            merged.insert(r.id.clone(), s.id.clone());
            if auth.scope.covers_village(&r.village_code) {
                redirected.insert(r.id, s);
            }
        }
    }
    Ok((merged, redirected))
}

/// Points an op that names a merged-away resident at the survivor. An edit of the merged-away
/// record is merged field by field into the survivor as if made on its first version: what the
/// survivor changed later in clinical time stays, and the edit's losing values go to a field
/// clash for review. Returns the merged-away id when the op was redirected.
fn redirect(merged: &HashMap<String, String>, op: &mut PushOp) -> Option<String> {
    let named = match (op.entity.as_str(), op.action.as_str()) {
        ("resident", "update") => canonical(&op.id),
        ("resident", _) => return None,
        _ => canonical(op.data.get("resident_id")?.as_str()?),
    };
    let survivor = merged.get(&named)?;
    if op.entity == "resident" {
        op.id = survivor.clone();
        op.base_version = Some(1);
    } else if let Some(d) = op.data.as_object_mut() {
        d.insert("resident_id".into(), survivor.clone().into());
    }
    Some(named)
}

/// Re-applies an op kept in quarantine (a supervisor's `accept`), through the per-op path
/// as `ctx`'s caller (its sender), under its own op id. A merged-away resident it names is
/// redirected as in a push. The op's remembered answer becomes this one, so a tablet
/// retrying it learns it was applied. Returns the entity and what was applied.
pub(crate) fn reapply(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    raw: &serde_json::Value,
) -> Result<(String, Applied), AppError> {
    if super::quarantine::is_excerpt(raw) {
        return Err(AppError::invalid(
            Code::OpNotKept,
            "decision",
            "the op was larger than quarantine keeps whole; only an excerpt and its digest are stored, so it can only be voided",
        ));
    }
    let raw = &super::quarantine::reopened(raw, ctx.id_hash_secret);
    let mut op: PushOp = serde_json::from_value(raw.clone()).map_err(|e| {
        AppError::invalid(
            Code::MalformedOp,
            "ops",
            crate::error::without_quoted_values(&e.to_string()),
        )
    })?;
    let op_id = uuid::Uuid::parse_str(&op.op_id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::invalid(Code::InvalidId, "op_id", "op_id must be a UUID"))?;
    let named: Vec<String> = [
        op.data.get("resident_id").and_then(|v| v.as_str()),
        Some(op.id.as_str()),
    ]
    .into_iter()
    .flatten()
    .map(canonical)
    .collect();
    let away: Vec<Resident> = residents_by_id(conn, &named)?
        .into_iter()
        .filter(|r| r.merged_into.is_some())
        .collect();
    let (merged, _) = survivors(conn, ctx.auth, away)?;
    redirect(&merged, &mut op);
    let ctx = WriteCtx {
        auth: ctx.auth,
        op_id: Some(&op_id),
        now: ctx.now,
        id_hash_secret: ctx.id_hash_secret,
        max_skew_ms: ctx.max_skew_ms,
        journal: None,
    };
    let applied = conn.transaction::<Applied, AppError, _>(|c| dispatch(c, &ctx, &op))?;
    let result = OpResult {
        // A replay answers with its own position in its batch.
        index: 0,
        op_id: op_id.clone(),
        status: if applied.conflict_id.is_some() {
            "conflict"
        } else {
            "applied"
        }
        .into(),
        version: Some(applied.version),
        conflict_id: applied.conflict_id.clone(),
        error: None,
        replayed: false,
    };
    diesel::update(applied_ops::table.find((replay::device_key(ctx.auth), &op_id)))
        .set((
            applied_ops::status.eq(&result.status),
            applied_ops::result.eq(serde_json::to_string(&result).map_err(AppError::internal)?),
        ))
        .execute(conn)?;
    Ok((op.entity, applied))
}

fn residents_by_id(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Resident>, AppError> {
    use crate::schema::residents;
    Ok(residents::table
        .filter(residents::id.eq_any(ids))
        .select(Resident::as_select())
        .load(conn)?)
}

fn rejected(index: usize, op_id: &str, e: &AppError) -> OpResult {
    OpResult {
        index,
        op_id: op_id.to_string(),
        status: "rejected".into(),
        version: None,
        conflict_id: None,
        error: Some(e.detail()),
        replayed: false,
    }
}

/// Applies the op at `index` in the batch; only a database failure escapes (and aborts
/// the batch for a retry).
fn apply_one(conn: &mut DbConn, b: &Batch, index: usize, raw: &serde_json::Value) -> Result<OpResult, AppError> {
    // A replayed op answers its first result, even one too malformed to parse: a retried
    // batch must never trip over its own earlier refusals.
    let raw_op_id = raw
        .get("op_id")
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.hyphenated().to_string());
    let digest = replay::digest(raw);
    if let Some((id, first)) = raw_op_id.as_ref().and_then(|id| first_result(b, id).map(|f| (id, f))) {
        return replay::answer(&first, id, &digest, index);
    }
    let refused = |conn: &mut DbConn, entity: Option<&str>, op_id: &str, err: &AppError| {
        refuse(conn, b, index, raw, entity, op_id, &digest, err)
    };
    if has_nul(raw) {
        let err = AppError::invalid(
            Code::InvalidCharacter,
            "ops",
            "text in an op must not contain NUL characters",
        );
        return refused(conn, None, raw_op_id.as_deref().unwrap_or(""), &err);
    }
    let mut op: PushOp = match PushOp::deserialize(raw) {
        Ok(op) => op,
        Err(e) => {
            let err = AppError::invalid(
                Code::MalformedOp,
                "ops",
                crate::error::without_quoted_values(&e.to_string()),
            );
            // Only a UUID op id is remembered, in the canonical form replays are looked up by.
            return refused(conn, None, raw_op_id.as_deref().unwrap_or(""), &err);
        }
    };
    let op_id = match uuid::Uuid::parse_str(&op.op_id) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => {
            let err = AppError::invalid(Code::InvalidId, "op_id", "op_id must be a UUID");
            return refused(conn, Some(&op.entity), "", &err);
        }
    };
    let ctx = WriteCtx {
        auth: b.auth,
        op_id: Some(&op_id),
        now: b.now,
        id_hash_secret: b.limits.id_hash_secret,
        max_skew_ms: b.limits.max_skew_ms,
        journal: Some(b.journal),
    };
    let via = redirect(&b.merged, &mut op);
    if let Some(kind) = fast_kind(&op) {
        // Every check runs before anything is kept, so a refusal needs no savepoint.
        let applied = domain::validate::clinical(&op.recorded_at, "recorded_at", &ctx)
            .and_then(|recorded| apply_fast(b, &ctx, &op, kind, recorded, via.as_deref()));
        match applied {
            Ok(Some(a)) => {
                let result = OpResult {
                    index,
                    op_id: op_id.clone(),
                    status: "applied".into(),
                    version: Some(a.version),
                    conflict_id: None,
                    error: None,
                    replayed: false,
                };
                remember(b, &op_id, &op.entity, Some(&op.id), &op.action, &digest, &result)?;
                return Ok(result);
            }
            Ok(None) => {}
            Err(e) if matches!(e.kind, Kind::Internal | Kind::Unavailable) => return Err(e),
            Err(e) => return refused(conn, Some(&op.entity), &op_id, &e),
        }
    }
    // What the fast path holds back is written before an op reads the database.
    b.journal.borrow_mut().write_pending(conn)?;
    if op.entity == "resident" && op.action != "create" {
        b.residents.borrow_mut().remove(&result_id(&op));
    }
    if op.entity == "contract" {
        b.contracts_touched.set(true);
    }
    // A savepoint per op: a refused op leaves nothing behind, in the database or the journal.
    let mark = b.journal.borrow().mark();
    let outcome = conn.transaction::<Applied, AppError, _>(|c| dispatch(c, &ctx, &op));
    let result = match outcome {
        Ok(a) => OpResult {
            index,
            op_id: op_id.clone(),
            status: if a.conflict_id.is_some() { "conflict" } else { "applied" }.into(),
            version: Some(a.version),
            conflict_id: a.conflict_id,
            error: None,
            replayed: false,
        },
        Err(e) if matches!(e.kind, Kind::Internal | Kind::Unavailable) => return Err(e),
        Err(e) => {
            b.journal.borrow_mut().rollback(mark);
            return refused(conn, Some(&op.entity), &op_id, &e);
        }
    };
    if op.entity == "resident" && op.action != "create" {
        // A survivor that merged-away ids lead to changed: later ops see its new state.
        let id = result_id(&op);
        if b.redirected.borrow().values().any(|s| s.id == id) {
            let now = domain::resident::find(conn, &id)?.filter(|r| !r.deleted);
            b.redirected.borrow_mut().retain(|_, s| s.id != id || now.is_some());
            for s in b.redirected.borrow_mut().values_mut().filter(|s| s.id == id) {
                if let Some(r) = &now {
                    *s = r.clone();
                }
            }
        }
    }
    if op.entity == "resident" && op.action == "create" {
        // Visits later in the batch for this new resident can take the fast path.
        if let Some(r) = domain::resident::find(conn, &result_id(&op))? {
            let mut j = b.journal.borrow_mut();
            j.new_ids.insert(r.id.clone());
            j.new_id_hashes.insert(r.id_hash.clone());
            b.residents.borrow_mut().insert(r.id.clone(), r);
        }
    }
    remember(b, &op_id, &op.entity, Some(&op.id), &op.action, &digest, &result)?;
    Ok(result)
}

/// Applies a create on the fast path: checked in Rust against what the batch loaded, its
/// rows kept in the journal. `Ok(None)` when the batch cannot settle it without the
/// database (the op then takes the full path, which gives the same answer).
/// `via` names the merged-away resident the op was redirected from: its survivor comes
/// from the batch's redirections (a new visit or response), and a new contract for it takes
/// the full path, which reads the survivor's contracts in effect.
fn apply_fast(
    b: &Batch,
    ctx: &WriteCtx,
    op: &PushOp,
    kind: &str,
    recorded: crate::time::ClinicalTime,
    via: Option<&str>,
) -> Result<Option<Applied>, AppError> {
    let id = result_id(op);
    let resident_of = |data: &serde_json::Value| match via {
        Some(_) if kind == "contract" => None,
        Some(away) => b.redirected.borrow().get(away).cloned(),
        None => data
            .get("resident_id")
            .and_then(|v| v.as_str())
            .and_then(|r| b.residents.borrow().get(&canonical(r)).cloned()),
    };
    let unused = |id: &str| {
        !b.known_ids.contains(id) && {
            let j = b.journal.borrow();
            !j.new_ids.contains(id) && !j.new_visit_ids.contains(id) && !j.new_survey_ids.contains(id)
        }
    };
    match kind {
        "resident" => {
            let d: resident::ResidentData = parse(&op.data)?;
            let settled = |id: &str, hash: &str| {
                unused(id) && !b.id_hashes_taken.contains(hash) && !b.journal.borrow().new_id_hashes.contains(hash)
            };
            let Some((a, new)) = resident::create_in_batch(ctx, &op.id, &d, recorded.at, recorded.local_date, settled)?
            else {
                return Ok(None);
            };
            b.residents.borrow_mut().insert(new.row.id.clone(), new.row.clone());
            b.journal.borrow_mut().resident(new.row, new.tags);
            Ok(Some(a))
        }
        "contract" => {
            let (Some(res), Some((catalog, term_months)), false) =
                (resident_of(&op.data), b.signing.as_ref(), b.contracts_touched.get())
            else {
                return Ok(None);
            };
            let d: contract::ContractData = parse(&op.data)?;
            let signed = d.status == contract::status::SIGNED;
            let settled = |id: &str, from: NaiveDate, to: NaiveDate| {
                let overlaps = b
                    .in_effect
                    .borrow()
                    .get(&res.id)
                    .is_some_and(|terms| terms.iter().any(|(f, t)| *f <= to && *t >= from));
                unused(id) && !(signed && overlaps)
            };
            let known = contract::BatchSigning {
                catalog,
                term_months: *term_months,
            };
            let Some((a, new)) = contract::create_in_batch(ctx, &op.id, &d, &res, &known, recorded.at, settled)? else {
                return Ok(None);
            };
            if signed {
                let terms = (
                    contract::stored_date(&new.row.effective_from),
                    contract::stored_date(&new.row.effective_to),
                );
                if let (Some(f), Some(t)) = terms {
                    b.in_effect.borrow_mut().entry(res.id.clone()).or_default().push((f, t));
                }
            }
            b.journal.borrow_mut().contract(new.row, new.packages);
            Ok(Some(a))
        }
        _ => {
            let Some(res) = resident_of(&op.data).filter(|_| unused(&id)) else {
                return Ok(None);
            };
            if kind == "visit" {
                let (a, row) = visit::create_in_batch(ctx, &op.id, &parse(&op.data)?, &res)?;
                b.journal.borrow_mut().visit(row);
                Ok(Some(a))
            } else {
                let d: survey::SurveyData = parse(&op.data)?;
                let q = b
                    .questionnaires
                    .get(&(d.questionnaire.clone(), d.questionnaire_version))
                    .cloned()
                    .flatten();
                let (a, row) = survey::create_in_batch(ctx, &op.id, &d, &res, q.as_ref())?;
                b.journal.borrow_mut().survey(row);
                Ok(Some(a))
            }
        }
    }
}

/// Does any string or key in the value hold a NUL character?
fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The first result of an op id the device sent in an earlier batch or earlier in this one.
fn first_result(b: &Batch, op_id: &str) -> Option<Earlier> {
    b.replayed
        .get(op_id)
        .cloned()
        .or_else(|| b.journal.borrow().seen.get(op_id).cloned())
}

/// An op's `data` as the entity's wire type; a mismatch is a per-op refusal naming the
/// field: `missing_field` for an absent required one, `invalid_field` otherwise.
fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.inner().to_string();
        let message = crate::error::without_quoted_values(&inner);
        let at = data_path(e.path());
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
            .filter(|name| is_name(name));
        match (missing, at) {
            (Some(name), None) => AppError::invalid(Code::MissingField, name, message),
            (Some(name), Some(at)) => AppError::invalid(Code::MissingField, format!("{at}.{name}"), message),
            (None, at) => AppError::invalid(Code::InvalidField, at.unwrap_or_else(|| "data".into()), message),
        }
    })
}

/// A field or variant name this server defines; any other key (an answer's item code, or
/// whatever the tablet sent) may be personal data and is not echoed.
fn is_name(s: &str) -> bool {
    s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The path of a mismatch inside `data` (`measurements.systolic`, `tags[2]`), keys that
/// are not names blanked; `None` at the top.
fn data_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if is_name(key) { key } else { "…" });
            }
            Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An id as stored (canonical UUID text), whatever case the tablet wrote it in; text that
/// is no UUID is returned as it is (the op's rules refuse it).
fn canonical(id: &str) -> String {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| id.to_string())
}

/// The entity id of an op as stored.
fn result_id(op: &PushOp) -> String {
    canonical(&op.id)
}

fn dispatch(conn: &mut DbConn, ctx: &WriteCtx, op: &PushOp) -> Result<Applied, AppError> {
    let recorded = domain::validate::clinical(&op.recorded_at, "recorded_at", ctx)?;
    use domain::{contract, not_signed, resident, survey, visit};
    match (op.entity.as_str(), op.action.as_str()) {
        ("resident", "create") => {
            resident::create(conn, ctx, &op.id, &parse(&op.data)?, recorded.at, recorded.local_date)
        }
        ("resident", "update") => resident::update::update(conn, ctx, &op.id, op.base_version, &op.data, recorded),
        ("resident", "delete") => resident::update::delete(conn, ctx, &op.id, recorded),
        ("contract", "create") => contract::create(conn, ctx, &op.id, &parse(&op.data)?, recorded.at),
        ("contract", "transition") => contract::transition::transition(conn, ctx, &op.id, &parse(&op.data)?),
        ("contract", "update") => Err(AppError::invalid(
            Code::ContractImmutable,
            "action",
            "a contract's content does not change: a correction is a new contract; use transition for its state",
        )),
        ("contract", "delete") => contract::transition::delete(conn, ctx, &op.id),
        ("visit", "create") => visit::create(conn, ctx, &op.id, &parse(&op.data)?),
        ("visit", "amend") => visit::amend(conn, ctx, &op.id, &parse(&op.data)?),
        ("visit", "delete") => visit::delete(conn, ctx, &op.id),
        ("survey", "create") => survey::create(conn, ctx, &op.id, &parse(&op.data)?),
        ("survey", "amend") => survey::amend(conn, ctx, &op.id, &parse(&op.data)?),
        ("survey", "delete") => survey::delete(conn, ctx, &op.id),
        ("not_signed", "create") => not_signed::create(conn, ctx, &op.id, &parse(&op.data)?),
        ("not_signed", "delete") => not_signed::delete(conn, ctx, &op.id),
        ("resident" | "contract" | "visit" | "survey" | "not_signed", _) => Err(AppError::invalid(
            Code::UnsupportedAction,
            "action",
            "this entity does not take that action (see the sync protocol's table of entities and actions)",
        )),
        _ => Err(AppError::invalid(
            Code::UnknownEntity,
            "entity",
            "entity must be resident, contract, visit, survey or not_signed",
        )),
    }
}

/// Keeps a refused op's raw payload for review and remembers the refusal under its op_id
/// with the op's content `digest`.
#[allow(clippy::too_many_arguments)]
fn refuse(
    conn: &mut DbConn,
    b: &Batch,
    index: usize,
    raw: &serde_json::Value,
    entity: Option<&str>,
    op_id: &str,
    digest: &str,
    err: &AppError,
) -> Result<OpResult, AppError> {
    // The record the op refers to may be one the fast path holds back.
    b.journal.borrow_mut().write_pending(conn)?;
    if quarantine_has_room(conn, b)? {
        let village = village_of(conn, b.auth, raw)?;
        diesel::insert_into(quarantine::table)
            .values((
                quarantine::id.eq(uuid::Uuid::now_v7().to_string()),
                quarantine::county_code.eq(&b.auth.county_code),
                quarantine::village_code.eq(village),
                quarantine::device_id.eq(&b.auth.device_id),
                quarantine::user_id.eq(&b.auth.user_id),
                quarantine::op_id.eq(Some(op_id).filter(|s| !s.is_empty())),
                quarantine::entity.eq(entity),
                quarantine::raw.eq(super::quarantine::kept_form(raw, b.limits.id_hash_secret)),
                quarantine::error_code.eq(err.code.as_str()),
                quarantine::error_field.eq(&err.field),
                quarantine::error_message.eq(&err.message),
                quarantine::status.eq("open"),
                quarantine::received_at.eq(b.now),
            ))
            .execute(conn)?;
    }
    let result = rejected(index, op_id, err);
    if !op_id.is_empty() {
        let id = raw.get("id").and_then(|v| v.as_str());
        let action = raw.get("action").and_then(|v| v.as_str()).unwrap_or("");
        remember(b, op_id, entity.unwrap_or(""), id, action, digest, &result)?;
    }
    Ok(result)
}

/// Whether the device may leave one more refused op in quarantine today (UTC). When it
/// may not, the refusal is counted and logged, and the op is answered all the same.
fn quarantine_has_room(conn: &mut DbConn, b: &Batch) -> Result<bool, AppError> {
    let kept = match b.quarantined_today.get() {
        Some(n) => n,
        None => {
            let day_start = b.now - b.now.rem_euclid(24 * 3600 * 1000);
            quarantine::table
                .filter(quarantine::device_id.eq(&b.auth.device_id))
                .filter(quarantine::received_at.ge(day_start))
                .count()
                .get_result(conn)?
        }
    };
    if kept >= i64::from(b.limits.quarantine_per_day) {
        if let Some(c) = &b.limits.quarantine_full {
            c.inc();
        }
        // Once per batch: `i64::MAX` marks a batch that met the cap already.
        if kept != i64::MAX {
            tracing::warn!(
                device_id = %b.auth.device_id,
                kept,
                cap = b.limits.quarantine_per_day,
                "quarantine cap reached for this device today; refused ops answered but not kept"
            );
        }
        b.quarantined_today.set(Some(i64::MAX));
        return Ok(false);
    }
    b.quarantined_today.set(Some(kept + 1));
    Ok(true)
}

/// The village a refused op's review item belongs to, from what the server holds: the
/// village of the record the op names, else of the resident it names, else the one its
/// data names — and only a village the sender reaches. `None` files the item with the
/// sender's team (docs/review.md). A sender can neither place an item in a queue outside
/// their scope nor learn anything from where it lands.
fn village_of(conn: &mut DbConn, auth: &Caller, raw: &serde_json::Value) -> Result<Option<String>, AppError> {
    use crate::schema::{contracts, not_signed, residents, survey_responses, visits};
    if has_nul(raw) {
        return Ok(None);
    }
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(canonical);
    let data = raw.get("data");
    let (id, resident_id) = (text(raw.get("id")), text(data.and_then(|d| d.get("resident_id"))));
    macro_rules! village {
        ($table:ident, $id:expr) => {
            match $id {
                Some(id) => $table::table
                    .find(id)
                    .select($table::village_code)
                    .first::<String>(conn)
                    .optional()?,
                None => None,
            }
        };
    }
    let own = match raw.get("entity").and_then(|e| e.as_str()) {
        Some("resident") => village!(residents, &id),
        Some("contract") => village!(contracts, &id),
        Some("visit") => village!(visits, &id),
        Some("survey") => village!(survey_responses, &id),
        Some("not_signed") => village!(not_signed, &id),
        _ => None,
    };
    let named = data
        .and_then(|d| d.get("village_code"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let candidates = [own, village!(residents, &resident_id), named];
    Ok(candidates.into_iter().flatten().find(|v| auth.scope.covers_village(v)))
}

/// An idempotency record as stored: the op's first answer.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = applied_ops)]
pub struct AppliedOpRow {
    pub(crate) op_id: String,
    device_id: String,
    user_id: String,
    county_code: String,
    entity: String,
    entity_id: Option<String>,
    action: String,
    status: String,
    pub(crate) result: String,
    received_at: i64,
    /// The op's content digest (`replay::digest`).
    pub(crate) digest: Option<String>,
}

fn remember(
    b: &Batch,
    op_id: &str,
    entity: &str,
    entity_id: Option<&str>,
    action: &str,
    digest: &str,
    result: &OpResult,
) -> Result<(), AppError> {
    b.journal.borrow_mut().applied(AppliedOpRow {
        op_id: op_id.to_string(),
        device_id: replay::device_key(b.auth).to_string(),
        user_id: b.auth.user_id.clone(),
        county_code: b.auth.county_code.clone(),
        // Kept as the tablet sent them, less control characters (NUL cannot be stored).
        entity: entity.chars().filter(|c| !c.is_control()).take(40).collect(),
        entity_id: entity_id.map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect()),
        action: action.chars().filter(|c| !c.is_control()).take(40).collect(),
        status: result.status.clone(),
        result: serde_json::to_string(result).map_err(AppError::internal)?,
        received_at: b.now,
        digest: Some(digest.to_string()),
    });
    Ok(())
}
