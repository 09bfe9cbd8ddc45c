//! The referral state machine. Each move is a new version with a change-log and an audit
//! entry; the content never changes here (a correction is an amendment).
//!
//! ```text
//! SENT ──▶ RECEIVED ──▶ RETURNED (with a summary)
//!   │           └─────▶ CLOSED
//!   ▼
//! CANCELLED
//! ```
//!
//! A move to the state the referral is already in is answered as applied without a new
//! version: two tablets of a team that both recorded the hospital's confirmation offline
//! recorded the same fact, and the first one's time stands.

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{change_of, find, newest, status, Referral};
use crate::access::Role;
use crate::db::DbConn;
use crate::domain::{audit, validate, Applied, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::ledger;
use crate::schema::referrals;
use crate::time::fmt_date;

/// `data` of a referral `transition` op.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferralTransitionPush)]
pub struct TransitionData {
    /// Target state: `RECEIVED`, `RETURNED`, `CLOSED` or `CANCELLED`.
    pub to: String,
    /// Clinical time of the move, RFC 3339 with offset; not before the referral.
    pub at: String,
    /// The return summary (required for `RETURNED`), up to 2000 characters.
    #[serde(default)]
    pub summary: Option<String>,
}

/// Is `from → to` a move of the state machine?
pub fn legal(from: &str, to: &str) -> bool {
    use status::*;
    matches!((from, to), (SENT, RECEIVED | CANCELLED) | (RECEIVED, RETURNED | CLOSED))
}

/// Applies a transition op to the referral, or to the amendment that replaced it.
pub fn transition(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &TransitionData) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let r = match find(conn, &id)? {
        Some(r) if !r.deleted && ctx.auth.scope.covers_village(&r.village_code) => newest(conn, r)?,
        _ => {
            return Err(AppError::invalid(
                Code::UnknownReferral,
                "id",
                "no such referral in your scope",
            ))
        }
    };
    if r.deleted {
        return Err(AppError::invalid(
            Code::UnknownReferral,
            "id",
            "the referral's correction was deleted",
        ));
    }
    if !status::ALL.contains(&d.to.as_str()) {
        return Err(AppError::invalid(Code::InvalidStatus, "to", "unknown referral state"));
    }
    let at = validate::clinical(&d.at, "at", ctx)?;
    let own_team = r.team_id.is_some() && ctx.auth.team_id == r.team_id;
    if !own_team && !matches!(ctx.auth.role, Role::Supervisor | Role::Admin) {
        return Err(AppError::new(
            Kind::Forbidden,
            Code::TransitionNotAllowed,
            "only the referring team or a supervisor changes this referral",
        )
        .with_field("team_id"));
    }
    if d.to == r.status {
        return Ok(Applied {
            id: r.id,
            version: r.version,
            conflict_id: None,
        });
    }
    if !legal(&r.status, &d.to) {
        return Err(AppError::invalid(
            Code::IllegalTransition,
            "to",
            format!("a referral cannot go from {} to {}", r.status, d.to),
        ));
    }
    if at.at < r.referred_at || r.received_at.is_some_and(|t| at.at < t) {
        return Err(AppError::invalid(
            Code::OutOfOrder,
            "at",
            "a referral's step cannot come before the step it follows",
        ));
    }
    let summary = validate::opt_text(&d.summary, "summary", 2000)?;
    if d.to == status::RETURNED && summary.is_none() {
        return Err(AppError::invalid(
            Code::MissingField,
            "summary",
            "a returned referral carries the hospital's summary",
        ));
    }
    let on = fmt_date(at.local_date);
    let mut next = Referral {
        status: d.to.clone(),
        version: r.version + 1,
        updated_at: ctx.now,
        ..r.clone()
    };
    if d.to == status::RECEIVED {
        next.received_at = Some(at.at);
        next.received_on = Some(on);
    } else {
        next.ended_at = Some(at.at);
        next.ended_on = Some(on);
        if summary.is_some() {
            next.summary = summary;
        }
    }
    next.change_seq = ledger::append(conn, ctx.journal, &change_of(ctx, &next, next.version))?;
    diesel::update(referrals::table.find(&next.id))
        .set((
            referrals::status.eq(&next.status),
            referrals::received_at.eq(next.received_at),
            referrals::received_on.eq(&next.received_on),
            referrals::ended_at.eq(next.ended_at),
            referrals::ended_on.eq(&next.ended_on),
            referrals::summary.eq(&next.summary),
            referrals::version.eq(next.version),
            referrals::updated_at.eq(next.updated_at),
            referrals::change_seq.eq(next.change_seq),
        ))
        .execute(conn)?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "referral_transition")
            .entity("referral", &next.id)
            .at(ctx.now)
            .clinical(at.at)
            .detail(serde_json::json!({ "from": r.status, "to": next.status })),
    )?;
    Ok(Applied {
        id: next.id,
        version: next.version,
        conflict_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::legal;
    use super::status::*;

    #[test]
    fn every_pair_of_states() {
        let moves = [
            (SENT, RECEIVED),
            (SENT, CANCELLED),
            (RECEIVED, RETURNED),
            (RECEIVED, CLOSED),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(legal(from, to), moves.contains(&(from, to)), "{from} → {to}");
            }
        }
    }
}
