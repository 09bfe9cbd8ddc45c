//! Merging duplicate residents (重复档案合并): two teams registered the same person (same
//! ID-number hash) offline. One record survives; every contract, visit, survey response,
//! not-signed record, tag and move of the other is re-pointed to it; the other becomes a
//! tombstone (`deleted`, `merged_into` = the survivor) that pulls carry. Nothing is lost.

use super::decide::Changed;
use super::{open_conflict, NewConflict};
use crate::db::DbConn;
use crate::domain::contract::{self, transition};
use crate::domain::resident::{self, merged, Resident};
use crate::domain::{audit, validate, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::vocabulary::ConflictKind;

/// Follows `merged_into` to the record that survives (a chain if merged twice).
pub(crate) fn survivor_of(conn: &mut DbConn, id: &str) -> Result<Option<Resident>, AppError> {
    let mut r = resident::find(conn, id)?;
    for _ in 0..16 {
        match r.as_ref().and_then(|x| x.merged_into.clone()) {
            Some(next) => r = resident::find(conn, &next)?,
            None => return Ok(r),
        }
    }
    Err(AppError::internal("a merge chain longer than 16 records"))
}

/// Merges the pair a duplicate conflict names. `keep` chooses the survivor; by default the
/// record registered first (its registration date, then when the server received it).
pub(crate) fn merge(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    conflict_id: &str,
    a: &str,
    b: &str,
    keep: Option<&str>,
) -> Result<Vec<Changed>, AppError> {
    let gone = || {
        AppError::invalid(
            Code::UnknownResident,
            "decision",
            "a record of this pair no longer exists",
        )
    };
    let ra = survivor_of(conn, a)?.ok_or_else(gone)?;
    let rb = survivor_of(conn, b)?.ok_or_else(gone)?;
    // Pushes still writing records of either (PostgreSQL) finish first, so what they wrote
    // is re-pointed below; then both are read again as they are now.
    resident::lock_rows(conn, &[ra.id.clone(), rb.id.clone()])?;
    let ra = resident::find(conn, &ra.id)?.ok_or_else(gone)?;
    let rb = resident::find(conn, &rb.id)?.ok_or_else(gone)?;
    if ra.id == rb.id {
        // Already one record (merged through another item): nothing left to do.
        return Ok(Vec::new());
    }
    if ra.deleted || rb.deleted {
        return Err(AppError::invalid(
            Code::ResidentDeleted,
            "decision",
            "a record of this pair was deleted; only live records are merged",
        ));
    }
    for r in [&ra, &rb] {
        if !ctx.auth.scope.covers_village(&r.village_code) {
            return Err(AppError::new(
                Kind::Forbidden,
                Code::OutsideScope,
                "one of the two records lives outside your township: the county administrator merges this pair",
            ));
        }
    }
    let (survivor, other) = match keep {
        Some(k) => {
            let k = validate::uuid(k, "keep")?;
            let named = survivor_of(conn, &k)?.map(|r| r.id);
            if named.as_deref() == Some(ra.id.as_str()) {
                (ra, rb)
            } else if named.as_deref() == Some(rb.id.as_str()) {
                (rb, ra)
            } else {
                return Err(AppError::invalid(
                    Code::InvalidKeep,
                    "keep",
                    "keep must name one of the two records of this item",
                ));
            }
        }
        None => {
            let first = |r: &Resident| (r.registered_on.clone(), r.created_at, r.id.clone());
            if first(&ra) <= first(&rb) {
                (ra, rb)
            } else {
                (rb, ra)
            }
        }
    };
    let county = survivor.county_code.clone();
    let to = survivor.village_code.clone();
    let folded = merged::fold(conn, ctx, &survivor, &other)?;
    let mut changed: Vec<Changed> = folded
        .changed
        .into_iter()
        .map(|r| Changed {
            entity: r.entity.into(),
            id: r.id,
            version: r.version,
        })
        .collect();
    let counts = |e: &str| changed.iter().filter(|c| c.entity == e).count();
    let detail = serde_json::json!({
        "survivor": survivor.id, "merged": other.id, "conflict": conflict_id,
        "contracts": counts("contract"), "visits": counts("visit"),
        "surveys": counts("survey"), "not_signed": counts("not_signed"),
        "referrals": counts("referral"),
    });
    let filled = folded.filled;
    // Two contracts in effect for one person now: the later signing is held for review.
    let in_effect = merged::contracts_in_effect(conn, &survivor.id)?;
    let mut kept: Vec<&contract::Contract> = Vec::new();
    let mut held = Vec::new();
    for c in &in_effect {
        let overlaps = kept.iter().find(|k| {
            k.effective_from <= c.effective_to
                && c.effective_from <= k.effective_to
                && c.renews.as_deref() != Some(k.id.as_str())
        });
        match overlaps {
            None => kept.push(c),
            Some(k) => {
                let a = transition::hold_for_review(conn, ctx, &c.id)?;
                open_conflict(
                    conn,
                    ctx,
                    NewConflict {
                        kind: ConflictKind::DoubleSigning,
                        entity: "contract",
                        entity_id: &c.id,
                        other_entity_id: Some(&k.id),
                        field: None,
                        county_code: &county,
                        village_code: Some(&to),
                        server_value: None,
                        client_value: None,
                    },
                )?;
                changed.retain(|x| x.id != c.id);
                changed.push(Changed {
                    entity: "contract".into(),
                    id: a.id.clone(),
                    version: a.version,
                });
                held.push(a.id);
            }
        }
    }
    let mut detail = detail;
    detail["filled"] = serde_json::json!(filled);
    detail["held_for_review"] = serde_json::json!(held);
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "residents_merged")
            .entity("resident", &other.id)
            .detail(detail)
            .at(ctx.now),
    )?;
    Ok(changed)
}
