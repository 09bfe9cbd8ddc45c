//! Resolving a review item with a decision (docs/review.md). One transaction: the item is
//! claimed (`open` → `resolved`, so two supervisors cannot both decide it), the decision's
//! effect goes through the same domain functions a tablet's op would (change log, audit),
//! and an audit entry records who decided what and why.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queue::{self, ReviewItem};
use super::{decisions_for, merge};
use crate::access::{Caller, Role};
use crate::db::{write_tx, DbConn};
use crate::domain::conflict::{self, Resolution};
use crate::domain::contract::{self, transition};
use crate::domain::{audit, quarantined, resident, validate, Applied, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::vocabulary::{ConflictKind, ContractStatus, Decision, ItemKind, ItemStatus};

/// A supervisor's decision on one item.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `keep_server`, `keep_client`, `accept`, `void`, `merge` or `dismiss` — the ones the
    /// item lists in `decisions`.
    pub decision: String,
    /// Why (1–500 characters); kept with the item and in the audit log.
    pub reason: String,
    /// For `merge`: the resident to keep (default: the one registered first).
    #[serde(default)]
    pub keep: Option<String>,
}

/// A record a decision changed, with its new version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Changed {
    /// Entity kind.
    pub entity: String,
    /// Its id.
    pub id: String,
    /// Its version after the decision.
    pub version: i64,
}

/// What a decision did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionOutcome {
    /// The item, now resolved.
    pub item: ReviewItem,
    /// Every record the decision changed (tablets learn them on their next pull).
    pub changed: Vec<Changed>,
}

/// Settings a decision needs from the configuration.
pub struct DecideSettings<'a> {
    /// ID-number hash key.
    pub id_hash_secret: &'a str,
    /// Clock skew allowed for clinical times, ms (a re-applied op is checked again).
    pub max_skew_ms: i64,
}

/// Decides an item. Refusals: a team member → 403 `forbidden`; an item outside the
/// caller's scope → 404 `not_found` (as if absent); already resolved → 409
/// `already_resolved`; a decision the kind does not take → 422 `decision_not_allowed`.
pub fn decide(
    conn: &mut DbConn,
    auth: &Caller,
    settings: &DecideSettings,
    item_id: &str,
    req: &DecisionRequest,
) -> Result<DecisionOutcome, AppError> {
    auth.require(&[Role::Supervisor, Role::Admin])?;
    let decision = Decision::parse(&req.decision).ok_or_else(|| {
        AppError::invalid(
            Code::InvalidDecision,
            "decision",
            format!("decision must be one of: {}", names(&Decision::ALL)),
        )
    })?;
    let reason = validate::text(&req.reason, "reason", 500)?;
    let now = crate::time::now_ms();
    let ctx = WriteCtx {
        auth,
        op_id: None,
        now,
        id_hash_secret: settings.id_hash_secret,
        max_skew_ms: settings.max_skew_ms,
        journal: None,
    };
    write_tx(conn, |c| {
        let item = queue::find(c, auth, item_id)?.ok_or_else(|| AppError::not_found("review item"))?;
        if item.status != ItemStatus::Open {
            return Err(AppError::conflict(
                Code::AlreadyResolved,
                "this item was already resolved; see its resolution",
            ));
        }
        if !decisions_for(item.kind).contains(&decision) {
            return Err(AppError::invalid(
                Code::DecisionNotAllowed,
                "decision",
                format!("a {} item takes: {}", item.kind, names(decisions_for(item.kind))),
            ));
        }
        if req.keep.is_some() && decision != Decision::Merge {
            return Err(AppError::invalid(
                Code::InvalidField,
                "keep",
                "keep goes with the merge decision",
            ));
        }
        claim(c, &item, decision, &reason, auth, now)?;
        let changed = apply(c, &ctx, &item, decision, req.keep.as_deref(), &reason)?;
        // A held contract without a conflict leaves the queue once decided: its answer is
        // the item as it was, marked resolved.
        let resolved = ReviewItem {
            status: ItemStatus::Resolved,
            decisions: Vec::new(),
            resolution: Some(decision),
            resolution_reason: Some(reason.clone()),
            resolved_by: Some(auth.user_id.clone()),
            resolved_at: Some(crate::time::fmt_instant(now)),
            ..item.clone()
        };
        audit::record_for(
            c,
            &ctx,
            audit::Entry::actor(auth, "review_decision")
                .entity(source_entity(item.kind), &item.id)
                .detail(serde_json::json!({
                    "kind": item.kind, "decision": decision, "reason": reason,
                    "changed": changed,
                }))
                .at(now),
        )?;
        let item = queue::find(c, auth, item_id)?.unwrap_or(resolved);
        Ok(DecisionOutcome { item, changed })
    })
}

/// The names of `list`, comma-separated.
fn names(list: &[Decision]) -> String {
    list.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
}

/// The audit entity an item is recorded under.
fn source_entity(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Quarantine => "quarantine",
        ItemKind::PendingContract => "contract",
        ItemKind::Conflict(_) => "conflict",
    }
}

/// Marks the item resolved, only if still open: a concurrent decision finds it taken.
fn claim(
    conn: &mut DbConn,
    item: &ReviewItem,
    decision: Decision,
    reason: &str,
    auth: &Caller,
    now: i64,
) -> Result<(), AppError> {
    let r = Resolution {
        decision: decision.as_str(),
        reason,
        by: &auth.user_id,
        at: now,
    };
    let claimed = match item.kind {
        ItemKind::PendingContract => true,
        ItemKind::Quarantine => quarantined::resolve(conn, &item.id, &r)?,
        ItemKind::Conflict(_) => conflict::resolve(conn, &item.id, &r)?,
    };
    if claimed {
        Ok(())
    } else {
        Err(AppError::conflict(
            Code::AlreadyResolved,
            "this item was already resolved; see its resolution",
        ))
    }
}

fn changed(entity: &str, a: &Applied) -> Changed {
    Changed {
        entity: entity.into(),
        id: a.id.clone(),
        version: a.version,
    }
}

/// The decision's effect.
fn apply(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    item: &ReviewItem,
    decision: Decision,
    keep: Option<&str>,
    reason: &str,
) -> Result<Vec<Changed>, AppError> {
    let entity_id = item.entity_id.clone().unwrap_or_default();
    match (item.kind, decision) {
        (ItemKind::Conflict(ConflictKind::FieldClash), d) => {
            // The conflict keeps, per side, the values the merge rule did not apply: the
            // chosen side's values become the record's (nothing changes if they stand).
            let merged_away = resident::find(conn, &entity_id)?.is_some_and(|r| r.merged_into.is_some());
            if merged_away && d == Decision::KeepServer {
                // The record is a tombstone now: its stored values are history, kept as they are.
                return Ok(Vec::new());
            }
            let values = field_values(conn, &item.id, d == Decision::KeepClient, ctx.id_hash_secret)?;
            Ok(resident::update::apply_review_values(conn, ctx, &entity_id, &values)?
                .map(|a| vec![changed("resident", &a)])
                .unwrap_or_default())
        }
        (ItemKind::Conflict(ConflictKind::DoubleSigning) | ItemKind::PendingContract, d) => {
            let held = contract::find(conn, &entity_id)?
                .filter(|c| !c.deleted && ctx.auth.scope.covers_village(&c.village_code))
                .ok_or_else(|| AppError::invalid(Code::UnknownContract, "decision", "the held contract is gone"))?;
            if held.stored_status()? != ContractStatus::PendingReview {
                return Err(AppError::invalid(
                    Code::NotPending,
                    "decision",
                    format!("the contract is {} now, not held for review", held.status),
                ));
            }
            if d == Decision::Accept {
                accept_contract(conn, ctx, &held, reason)
            } else {
                // `keep_server`: the contract already in effect stays; the held signing is
                // void, like `void`, with the decision recorded as taken.
                let text = if d == Decision::KeepServer {
                    format!("kept the contract already in effect: {reason}")
                } else {
                    reason.to_string()
                };
                let voided = transition_data(ContractStatus::Voided, Some(text), ctx);
                let a = transition::transition(conn, ctx, &held.id, &voided)?;
                Ok(vec![changed("contract", &a)])
            }
        }
        (ItemKind::Conflict(ConflictKind::DuplicateResident), Decision::Merge) => {
            let other = item.other_entity_id.clone().unwrap_or_default();
            merge::merge(conn, ctx, &item.id, &entity_id, &other, keep)
        }
        (ItemKind::Conflict(ConflictKind::DuplicateResident), _) => {
            dismiss_duplicate(conn, &entity_id, item.other_entity_id.as_deref())?;
            Ok(Vec::new())
        }
        (ItemKind::Conflict(ConflictKind::DivergentAppend), _) => Ok(Vec::new()),
        (ItemKind::Quarantine, Decision::Accept) => reapply(conn, ctx, &item.id),
        (ItemKind::Quarantine, _) => Ok(Vec::new()),
    }
}

/// One side's values of a field clash, as the conflict record keeps them, a kept phone
/// opened again (unmasked).
fn field_values(
    conn: &mut DbConn,
    conflict_id: &str,
    client: bool,
    secret: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    let (server, client_side) = conflict::sides(conn, conflict_id)?;
    let raw = if client { client_side } else { server };
    Ok(raw
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .map(|v| crate::sync::quarantine::reopened(&v, secret))
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default())
}

fn transition_data(to: ContractStatus, reason: Option<String>, ctx: &WriteCtx) -> transition::TransitionData {
    transition::TransitionData {
        to: to.as_str().into(),
        reason,
        reason_text: None,
        at: chrono::DateTime::from_timestamp_millis(ctx.now)
            .unwrap_or_default()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"))
            .to_rfc3339(),
    }
}

/// Takes a held contract into effect. Every other contract of the resident in effect over
/// its term ends first (TERMINATED, reason `other`, the review named in the text): a
/// resident never has two contracts in effect.
fn accept_contract(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    held: &contract::Contract,
    reason: &str,
) -> Result<Vec<Changed>, AppError> {
    let mut out = Vec::new();
    while let Some(rival) = queue::rival_of(conn, held)? {
        let text = format!("superseded by contract {} on review: {reason}", held.id);
        let a = transition::end_for_review(conn, ctx, &rival, &text)?;
        out.push(changed("contract", &a));
    }
    let a = transition::transition(conn, ctx, &held.id, &transition_data(ContractStatus::Active, None, ctx))?;
    out.push(changed("contract", &a));
    Ok(out)
}

/// `dismiss` closes a duplicate candidate only once the two records no longer share an ID
/// number (one was corrected): the same ID number is the same person, and then only a
/// merge resolves it.
fn dismiss_duplicate(conn: &mut DbConn, a: &str, b: Option<&str>) -> Result<(), AppError> {
    let hash = |conn: &mut DbConn, id: &str| -> Result<Option<(String, bool)>, AppError> {
        Ok(resident::find(conn, id)?.map(|r| (r.id_hash, r.deleted)))
    };
    let (ha, hb) = (hash(conn, a)?, b.map(|b| hash(conn, b)).transpose()?.flatten());
    match (ha, hb) {
        (Some((x, false)), Some((y, false))) if x == y => Err(AppError::invalid(
            Code::StillDuplicate,
            "decision",
            "both records carry the same ID number, so they are one person: merge them, or correct the wrong ID number first",
        )),
        _ => Ok(()),
    }
}

/// Re-applies a quarantined op as its sender, through the push's per-op path.
fn reapply(conn: &mut DbConn, ctx: &WriteCtx, quarantine_id: &str) -> Result<Vec<Changed>, AppError> {
    let (raw, user_id, device_id) = quarantined::sent(conn, quarantine_id)?;
    let sender = crate::domain::caller::load_caller(conn, &user_id, &device_id).map_err(|_| {
        AppError::invalid(
            Code::SenderUnavailable,
            "decision",
            "the sending device was revoked or its account deactivated; the op cannot be applied as theirs",
        )
    })?;
    let raw: serde_json::Value = serde_json::from_str(&raw).map_err(|_| {
        AppError::invalid(
            Code::MalformedOp,
            "decision",
            "the stored op is not JSON; it can only be voided",
        )
    })?;
    let sender_ctx = WriteCtx {
        auth: &sender,
        op_id: ctx.op_id,
        now: ctx.now,
        id_hash_secret: ctx.id_hash_secret,
        max_skew_ms: ctx.max_skew_ms,
        journal: None,
    };
    let (entity, a) = crate::sync::push::reapply(conn, &sender_ctx, &raw).map_err(|e| {
        if matches!(e.kind, Kind::Internal | Kind::Unavailable) {
            e
        } else {
            let mut out = AppError::invalid(
                Code::ReapplyFailed,
                e.field.clone().unwrap_or_else(|| "decision".into()),
                format!("the op was refused again ({}): {}", e.code, e.message),
            );
            out.field = e.field.clone();
            out
        }
    })?;
    Ok(vec![changed(&entity, &a)])
}
