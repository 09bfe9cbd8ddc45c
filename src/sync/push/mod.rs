//! `POST /api/v1/sync/push`: one batch, one short transaction; every op applied or
//! refused on its own (a savepoint each), its first result stored with its `op_id` so a
//! replay answers that first verdict again and changes nothing (`replay`). A refused op's
//! raw payload goes to quarantine: nothing the tablet sent is lost, and nothing blocks the
//! rest of the queue.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Deserialize;

use crate::access::Caller;
use crate::db::{write_tx_retrying, DbConn};
use crate::domain::contract;
use crate::domain::id_number::IdNumber;
use crate::domain::resident::{self, Resident};
use crate::domain::survey;
use crate::domain::visit;
use crate::domain::{self, Applied, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::schema::{applied_ops, devices, quarantine};
use crate::time::now_ms;

mod fast;
mod parse;
mod refuse;
mod wire;

use fast::*;
use parse::*;
use refuse::*;
pub use wire::*;

use super::held::Held;
use super::replay::{self, Earlier};
use crate::ledger::Journal;

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
        // First, so that two batches of one device run one after the other: the second
        // waits here for the first to commit and then finds its ops' records
        // (`ledger::Journal::lock`).
        let device = devices::table.find(&auth.device_id);
        match app_version {
            Some(v) => diesel::update(device)
                .set((devices::last_seen_at.eq(now), devices::app_version.eq(v)))
                .execute(c)?,
            None => diesel::update(device).set(devices::last_seen_at.eq(now)).execute(c)?,
        };
        let journal = RefCell::new(Journal::default());
        let held = RefCell::new(Held::default());
        let fast = fast_path_context(c, auth, &req.ops, limits.id_hash_secret)?;
        let batch = Batch {
            auth,
            now,
            limits,
            journal: &journal,
            held: &held,
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
        let (mut journal, mut held) = (journal.into_inner(), held.into_inner());
        journal.write_unsequenced(c)?;
        held.confirm_registrations(c, &auth.county_code)?;
        crate::db::dialect::generic_plans_for_writes(c)?;
        match journal.lock(c)? {
            Some(base) => {
                let settled = held.settle(base);
                held.write_pending(c)?;
                journal.write(c, base, &settled)?;
            }
            None => held.write_pending(c)?,
        }
        // Read in the batch's transaction, after its writes: every op answered (applied
        // now or before) lies at or before this position.
        let (position, mark) = crate::ledger::head_mark(c)?;
        Ok((results, super::cursor::checkpoint(position, &mark)))
    })?;
    let (results, checkpoint) = results;
    Ok(PushResponse {
        results,
        server_time: crate::time::fmt_instant(now),
        checkpoint,
    })
}

/// What every op of a batch shares.
struct Batch<'a> {
    auth: &'a Caller,
    now: i64,
    limits: &'a PushLimits<'a>,
    journal: &'a RefCell<Journal>,
    /// New records the fast path checked, written together.
    held: &'a RefCell<Held>,
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
            OpStatus::Conflict
        } else {
            OpStatus::Applied
        },
        version: Some(applied.version),
        conflict_id: applied.conflict_id.clone(),
        error: None,
        replayed: false,
    };
    diesel::update(applied_ops::table.find((replay::device_key(ctx.auth), &op_id)))
        .set((
            applied_ops::status.eq(result.status.as_str()),
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
        status: OpStatus::Rejected,
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
                    status: OpStatus::Applied,
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
    b.held.borrow_mut().write_pending(conn)?;
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
            status: if a.conflict_id.is_some() {
                OpStatus::Conflict
            } else {
                OpStatus::Applied
            },
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
            let mut j = b.held.borrow_mut();
            j.new_ids.insert(r.id.clone());
            j.new_id_hashes.insert(r.id_hash.clone());
            b.residents.borrow_mut().insert(r.id.clone(), r);
        }
    }
    remember(b, &op_id, &op.entity, Some(&op.id), &op.action, &digest, &result)?;
    Ok(result)
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

fn dispatch(conn: &mut DbConn, ctx: &WriteCtx, op: &PushOp) -> Result<Applied, AppError> {
    let recorded = domain::validate::clinical(&op.recorded_at, "recorded_at", ctx)?;
    use crate::vocabulary::{Action as A, Entity as E};
    use domain::{contract, not_signed, referral, resident, survey, visit};
    let entity = E::parse(&op.entity).ok_or_else(|| {
        AppError::invalid(
            Code::UnknownEntity,
            "entity",
            "entity must be resident, contract, visit, survey, not_signed or referral",
        )
    })?;
    let unsupported = || {
        AppError::invalid(
            Code::UnsupportedAction,
            "action",
            "this entity does not take that action (see the sync protocol's table of entities and actions)",
        )
    };
    let action = A::parse(&op.action).ok_or_else(unsupported)?;
    match (entity, action) {
        (E::Resident, A::Create) => {
            resident::create(conn, ctx, &op.id, &parse(&op.data)?, recorded.at, recorded.local_date)
        }
        (E::Resident, A::Update) => resident::update::update(conn, ctx, &op.id, op.base_version, &op.data, recorded),
        (E::Resident, A::Delete) => resident::update::delete(conn, ctx, &op.id, recorded),
        (E::Contract, A::Create) => contract::create(conn, ctx, &op.id, &parse(&op.data)?, recorded.at),
        (E::Contract, A::Transition) => contract::transition::transition(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Contract, A::Update) => Err(AppError::invalid(
            Code::ContractImmutable,
            "action",
            "a contract's content does not change: a correction is a new contract; use transition for its state",
        )),
        (E::Contract, A::Delete) => contract::transition::delete(conn, ctx, &op.id),
        (E::Visit, A::Create) => visit::create(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Visit, A::Amend) => visit::amend(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Visit, A::Delete) => visit::delete(conn, ctx, &op.id),
        (E::Survey, A::Create) => survey::create(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Survey, A::Amend) => survey::amend(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Survey, A::Delete) => survey::delete(conn, ctx, &op.id),
        (E::NotSigned, A::Create) => not_signed::create(conn, ctx, &op.id, &parse(&op.data)?),
        (E::NotSigned, A::Delete) => not_signed::delete(conn, ctx, &op.id),
        (E::Referral, A::Create) => referral::create(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Referral, A::Amend) => referral::amend(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Referral, A::Transition) => referral::transition::transition(conn, ctx, &op.id, &parse(&op.data)?),
        (E::Referral, A::Delete) => referral::delete(conn, ctx, &op.id),
        (E::Resident, A::Transition | A::Amend)
        | (E::Contract, A::Amend)
        | (E::Visit | E::Survey, A::Update | A::Transition)
        | (E::NotSigned, A::Update | A::Transition | A::Amend)
        | (E::Referral, A::Update) => Err(unsupported()),
    }
}
