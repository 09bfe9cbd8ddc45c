//! The contract state machine. Once signed, a contract's content never changes: only
//! these transitions do, each with a new version, a change-log entry and an audit entry.
//!
//! ```text
//! DRAFT ──▶ SIGNED ──▶ ACTIVE ──▶ EXPIRED ─┐
//!   │          │         │  └──▶ TERMINATED ├──▶ VOIDED (supervisor, with reason)
//!   ▼          └─────────┴──▶ RENEWED ──────┘
//! CANCELLED                PENDING_REVIEW ──▶ ACTIVE | VOIDED (supervisor)
//! ```
//!
//! Two moves exist only as effects of a review decision (docs/review.md), never as ops:
//! merging duplicate residents holds the later of two contracts in effect
//! (`SIGNED | ACTIVE → PENDING_REVIEW`), and accepting a held contract ends the one in
//! effect (`SIGNED | ACTIVE → TERMINATED`, reason `other`, the review named in the text).
//!
//! `ACTIVE` and `EXPIRED` also follow from the dates (see [`super::effective_status`]);
//! `RENEWED` is set when a successor naming this contract in `renews` is signed.

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{find, find_rival, Contract};
use crate::access::Role;
use crate::db::DbConn;
use crate::domain::{audit, review, validate, Applied, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::ledger;
use crate::schema::contracts;
use crate::time::{fmt_date, today_cst};
use crate::vocabulary::{ConflictKind, ContractStatus};

/// Why a contract was terminated (docs/sync-protocol.md, "Enumerated values").
pub const TERMINATION_REASONS: [&str; 6] = [
    "moved_away",
    "unreachable_1y",
    "refused_1y",
    "resident_request",
    "death",
    "other",
];

/// `data` of a contract `transition` op.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContractTransitionPush)]
pub struct TransitionData {
    /// Target state: `SIGNED` (from DRAFT), `ACTIVE`, `EXPIRED`, `TERMINATED`, `CANCELLED` or `VOIDED`.
    pub to: String,
    /// Termination reason code, or the reason for voiding.
    #[serde(default)]
    pub reason: Option<String>,
    /// Free text (required for termination reason `other`).
    #[serde(default)]
    pub reason_text: Option<String>,
    /// Clinical time of the transition, RFC 3339 with offset.
    pub at: String,
}

/// Who may ask for a transition: a member of the contract's team, or a supervisor/admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A doctor or team lead of the contract's team.
    Team,
    /// A supervisor or admin over the contract's village.
    Supervisor,
}

/// Is `from → to` legal for `actor`? `from` is the state as of today (dates applied).
pub fn check(from: ContractStatus, to: ContractStatus, actor: Actor) -> Result<(), AppError> {
    use ContractStatus::*;
    let legal = matches!(
        (from, to),
        (Draft, Signed | Cancelled)
            | (Signed, Active | Terminated)
            | (Active, Expired | Terminated)
            | (PendingReview, Active)
            | (Signed | Active | Expired | Terminated | Renewed | PendingReview, Voided)
    );
    if !legal {
        return Err(AppError::invalid(
            Code::IllegalTransition,
            "to",
            format!("a contract cannot go from {from} to {to}"),
        ));
    }
    let supervisors_only = to == Voided || from == PendingReview;
    match (supervisors_only, actor) {
        (true, Actor::Team) => Err(AppError::new(
            Kind::Forbidden,
            Code::TransitionNotAllowed,
            format!("only a supervisor may take a contract from {from} to {to}"),
        )
        .with_field("to")),
        (false, Actor::Supervisor) => Err(AppError::new(
            Kind::Forbidden,
            Code::TransitionNotAllowed,
            format!("the signing team takes a contract from {from} to {to}"),
        )
        .with_field("to")),
        _ => Ok(()),
    }
}

/// Applies a transition op.
pub fn transition(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &TransitionData) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let c = match find(conn, &id)? {
        Some(c) if !c.deleted && ctx.auth.scope.covers_village(&c.village_code) => c,
        _ => {
            return Err(AppError::invalid(
                Code::UnknownContract,
                "id",
                "no such contract in your scope",
            ))
        }
    };
    let to = ContractStatus::parse(&d.to)
        .ok_or_else(|| AppError::invalid(Code::InvalidStatus, "to", "unknown contract state"))?;
    let at = validate::clinical(&d.at, "at", ctx)?;
    // The state the contract was in when the transition happened (a tablet may push days
    // later): an expiry is judged on the last day of the term, an explicit activation on
    // the stored state, anything else on the transition's own date.
    let at_date = fmt_date(at.local_date);
    let from = match to {
        ContractStatus::Active => c.stored_status()?,
        ContractStatus::Expired => c.status_on(&c.effective_to)?,
        _ => c.status_on(&at_date)?,
    };
    let actor = match ctx.auth.role {
        Role::Supervisor | Role::Admin => Actor::Supervisor,
        _ if ctx.auth.team_id.as_deref() == Some(c.team_id.as_str()) => Actor::Team,
        _ => {
            return Err(AppError::new(
                Kind::Forbidden,
                Code::TransitionNotAllowed,
                "only the signing team changes this contract",
            )
            .with_field("team_id"))
        }
    };
    check(from, to, actor)?;
    let reason_text = validate::opt_text(&d.reason_text, "reason_text", 500)?;
    let mut next = c.clone();
    next.status = to.as_str().into();
    next.version = c.version + 1;
    let mut conflict_id = None;
    match to {
        ContractStatus::Signed => {
            next.signed_at = Some(at.at);
            next.signed_on = Some(at_date.clone());
            let (from_d, to_d) = (
                validate::date(&c.effective_from, "effective_from")?,
                validate::date(&c.effective_to, "effective_to")?,
            );
            if let Some(other) = find_rival(conn, &c.resident_id, from_d, to_d, c.renews.as_deref())? {
                next.status = ContractStatus::PendingReview.as_str().into();
                conflict_id = Some(review::open_conflict(
                    conn,
                    ctx,
                    review::NewConflict {
                        kind: ConflictKind::DoubleSigning,
                        entity: "contract",
                        entity_id: &id,
                        other_entity_id: Some(&other),
                        field: None,
                        county_code: &c.county_code,
                        village_code: Some(&c.village_code),
                        server_value: None,
                        client_value: None,
                    },
                )?);
            }
        }
        ContractStatus::Active if from == ContractStatus::Signed && at_date < c.effective_from => {
            return Err(AppError::invalid(
                Code::NotYetEffective,
                "at",
                "a contract becomes active on its effective_from date",
            ))
        }
        ContractStatus::Expired if at_date < c.effective_to => {
            return Err(AppError::invalid(
                Code::NotYetExpired,
                "at",
                "a contract expires after its effective_to date",
            ))
        }
        ContractStatus::Terminated => {
            let reason = d.reason.as_deref().unwrap_or("");
            if !TERMINATION_REASONS.contains(&reason) {
                return Err(AppError::invalid(
                    Code::InvalidReason,
                    "reason",
                    format!("reason must be one of: {}", TERMINATION_REASONS.join(", ")),
                ));
            }
            if reason == "other" && reason_text.is_none() {
                return Err(AppError::invalid(
                    Code::MissingField,
                    "reason_text",
                    "reason other needs reason_text",
                ));
            }
            next.ended_on = Some(at_date.clone());
            next.end_reason = Some(reason.to_string());
            next.end_reason_text = reason_text.clone();
        }
        ContractStatus::Voided => {
            let reason = validate::opt_text(&d.reason, "reason", 500)?
                .ok_or_else(|| AppError::invalid(Code::MissingField, "reason", "voiding needs a reason"))?;
            next.end_reason = Some("voided".into());
            next.end_reason_text = Some(reason);
        }
        _ => {}
    }
    store(conn, ctx, &c, &next, at.at)?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "contract_transition")
            .entity("contract", &id)
            .detail(serde_json::json!({ "from": from, "to": next.status, "version": next.version }))
            .at(ctx.now)
            .clinical(at.at),
    )?;
    Ok(Applied {
        id,
        version: next.version,
        conflict_id,
    })
}

/// Writes a changed contract (its version already bumped) and tells its village's tablets.
fn store(conn: &mut DbConn, ctx: &WriteCtx, old: &Contract, next: &Contract, clinical_at: i64) -> Result<(), AppError> {
    let version = next.version;
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&old.county_code, "contract", &old.id, version)
            .village(&old.village_code)
            .team(&old.team_id),
    )?;
    diesel::update(contracts::table.find(&old.id))
        .set((
            contracts::status.eq(&next.status),
            contracts::signed_at.eq(next.signed_at),
            contracts::signed_on.eq(&next.signed_on),
            contracts::ended_on.eq(&next.ended_on),
            contracts::end_reason.eq(&next.end_reason),
            contracts::end_reason_text.eq(&next.end_reason_text),
            contracts::renewed_by.eq(&next.renewed_by),
            contracts::version.eq(version),
            contracts::recorded_at.eq(clinical_at.max(old.recorded_at)),
            contracts::updated_at.eq(ctx.now),
            contracts::change_seq.eq(seq),
            contracts::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// A review decision ends a contract in effect so that a held one can take its place:
/// `TERMINATED` today with reason `other` and `text`.
pub(crate) fn end_for_review(conn: &mut DbConn, ctx: &WriteCtx, id: &str, text: &str) -> Result<Applied, AppError> {
    review_move(conn, ctx, id, ContractStatus::Terminated, Some(text))
}

/// A merge of duplicate residents holds the later of two contracts in effect for review.
pub(crate) fn hold_for_review(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    review_move(conn, ctx, id, ContractStatus::PendingReview, None)
}

fn review_move(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    to: ContractStatus,
    text: Option<&str>,
) -> Result<Applied, AppError> {
    let c = find(conn, id)?.ok_or_else(|| AppError::internal("a contract under review vanished"))?;
    if !super::IN_EFFECT.contains(&c.stored_status()?) || c.deleted {
        return Err(AppError::invalid(
            Code::IllegalTransition,
            "decision",
            format!("a {} contract is not in effect", c.status),
        ));
    }
    let mut next = c.clone();
    next.status = to.as_str().into();
    next.version = c.version + 1;
    if to == ContractStatus::Terminated {
        next.ended_on = Some(fmt_date(today_cst()));
        next.end_reason = Some("other".into());
        next.end_reason_text = text.map(str::to_string);
    }
    store(conn, ctx, &c, &next, ctx.now)?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "contract_transition")
            .entity("contract", id)
            .detail(serde_json::json!({ "from": c.status, "to": to, "version": next.version, "by": "review" }))
            .at(ctx.now),
    )?;
    Ok(Applied {
        id: id.to_string(),
        version: next.version,
        conflict_id: None,
    })
}

/// Marks a predecessor `RENEWED` when its successor is signed.
pub(crate) fn mark_renewed(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    predecessor: &str,
    successor: &str,
) -> Result<(), AppError> {
    let c = find(conn, predecessor)?
        .ok_or_else(|| AppError::invalid(Code::UnknownContract, "renews", "no such contract"))?;
    let today = fmt_date(today_cst());
    let from = c.status_on(&today)?;
    if !matches!(
        from,
        ContractStatus::Signed | ContractStatus::Active | ContractStatus::Expired
    ) {
        return Err(AppError::invalid(
            Code::IllegalTransition,
            "renews",
            format!("a {from} contract cannot be renewed"),
        ));
    }
    if c.renewed_by.is_some() {
        return Err(AppError::invalid(
            Code::AlreadyRenewed,
            "renews",
            "that contract was already renewed",
        ));
    }
    let mut next = c.clone();
    next.status = ContractStatus::Renewed.as_str().into();
    next.version = c.version + 1;
    next.renewed_by = Some(successor.to_string());
    store(conn, ctx, &c, &next, ctx.now)
}

/// Deletes a contract: only a draft, which is no legal record yet.
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let c = match find(conn, &id)? {
        Some(c) if ctx.auth.scope.covers_village(&c.village_code) => c,
        _ => {
            return Err(AppError::invalid(
                Code::UnknownContract,
                "id",
                "no such contract in your scope",
            ))
        }
    };
    if c.deleted {
        return Ok(Applied {
            id,
            version: c.version,
            conflict_id: None,
        });
    }
    if c.stored_status()? != ContractStatus::Draft {
        return Err(AppError::invalid(
            Code::ContractImmutable,
            "id",
            "a signed contract is a legal record: cancel, terminate or void it by transition",
        ));
    }
    let version = c.version + 1;
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&c.county_code, "contract", &id, version)
            .village(&c.village_code)
            .team(&c.team_id)
            .deleted(true),
    )?;
    diesel::update(contracts::table.find(&id))
        .set((
            contracts::deleted.eq(true),
            contracts::version.eq(version),
            contracts::updated_at.eq(ctx.now),
            contracts::change_seq.eq(seq),
        ))
        .execute(conn)?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "contract_deleted")
            .entity("contract", &id)
            .at(ctx.now),
    )?;
    Ok(Applied {
        id,
        version,
        conflict_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table: every (from, to) pair for both actors, against the legal list.
    #[test]
    fn every_transition_pair_is_decided() {
        use ContractStatus::*;
        let team_legal = [
            (Draft, Signed),
            (Draft, Cancelled),
            (Signed, Active),
            (Signed, Terminated),
            (Active, Expired),
            (Active, Terminated),
        ];
        let supervisor_legal = [
            (Signed, Voided),
            (Active, Voided),
            (Expired, Voided),
            (Terminated, Voided),
            (Renewed, Voided),
            (PendingReview, Voided),
            (PendingReview, Active),
        ];
        let mut legal_count = 0;
        for from in ContractStatus::ALL {
            for to in ContractStatus::ALL {
                let team = check(from, to, Actor::Team);
                let sup = check(from, to, Actor::Supervisor);
                if team_legal.contains(&(from, to)) {
                    assert!(team.is_ok(), "{from}->{to} by the team");
                    assert_eq!(
                        sup.unwrap_err().code,
                        Code::TransitionNotAllowed,
                        "{from}->{to} by a supervisor"
                    );
                    legal_count += 1;
                } else if supervisor_legal.contains(&(from, to)) {
                    assert!(sup.is_ok(), "{from}->{to} by a supervisor");
                    assert_eq!(
                        team.unwrap_err().code,
                        Code::TransitionNotAllowed,
                        "{from}->{to} by the team"
                    );
                    legal_count += 1;
                } else {
                    let e = team.unwrap_err();
                    assert_eq!(e.code, Code::IllegalTransition, "{from}->{to}");
                    assert!(e.message.contains(from.as_str()) && e.message.contains(to.as_str()));
                    assert_eq!(sup.unwrap_err().code, Code::IllegalTransition, "{from}->{to}");
                }
            }
        }
        assert_eq!(legal_count, 13);
    }
}
