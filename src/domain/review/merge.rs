//! Merging duplicate residents (重复档案合并): two teams registered the same person (same
//! ID-number hash) offline. One record survives; every contract, visit, survey response,
//! not-signed record, tag and move of the other is re-pointed to it; the other becomes a
//! tombstone (`deleted`, `merged_into` = the survivor) that pulls carry. Nothing is lost.

use diesel::prelude::*;

use super::decide::Changed;
use super::{open_conflict, NewConflict};
use crate::db::DbConn;
use crate::domain::contract::{self, transition};
use crate::domain::resident::{self, update::FieldClock, write_tags, Resident};
use crate::domain::{audit, validate, WriteCtx};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::schema::{contracts, not_signed, referrals, resident_moves, residents, survey_responses, visits};
use crate::vocabulary::{ConflictKind, ContractStatus};

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
    let mut changed = Vec::new();
    let county = survivor.county_code.clone();
    let to = survivor.village_code.clone();
    // Each record of the other follows to the survivor (and its village): a new version,
    // told to the survivor's village and, if it moved, to the village it left.
    macro_rules! repoint {
        ($table:ident, $entity:expr, $team:expr) => {{
            let rows: Vec<(String, i64, String)> = $table::table
                .filter($table::resident_id.eq(&other.id))
                .select(($table::id, $table::version, $table::village_code))
                .load(conn)?;
            for (rid, version, village) in rows {
                let team: Option<String> = $team(conn, &rid)?;
                let change = |v: &str| {
                    let c = ctx.change(&county, $entity, &rid, version + 1).village(v);
                    match &team {
                        Some(t) => c.team(t),
                        None => c,
                    }
                };
                let seq = ctx.append(conn, &change(&to))?;
                if village != to {
                    ctx.append(conn, &change(&village))?;
                }
                diesel::update($table::table.find(&rid))
                    .set((
                        $table::resident_id.eq(&survivor.id),
                        $table::village_code.eq(&to),
                        $table::version.eq(version + 1),
                        $table::change_seq.eq(seq),
                    ))
                    .execute(conn)?;
                changed.push(Changed {
                    entity: $entity.into(),
                    id: rid,
                    version: version + 1,
                });
            }
        }};
    }
    let contract_team = |conn: &mut DbConn, id: &str| -> Result<Option<String>, AppError> {
        Ok(contracts::table
            .find(id)
            .select(contracts::team_id)
            .first(conn)
            .optional()?)
    };
    let no_team = |_: &mut DbConn, _: &str| -> Result<Option<String>, AppError> { Ok(None) };
    repoint!(contracts, "contract", contract_team);
    repoint!(visits, "visit", no_team);
    repoint!(survey_responses, "survey", no_team);
    repoint!(not_signed, "not_signed", no_team);
    let referral_team = |conn: &mut DbConn, id: &str| -> Result<Option<String>, AppError> {
        Ok(referrals::table
            .find(id)
            .select(referrals::team_id)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten())
    };
    repoint!(referrals, "referral", referral_team);
    let counts = |e: &str| changed.iter().filter(|c| c.entity == e).count();
    let detail = serde_json::json!({
        "survivor": survivor.id, "merged": other.id, "conflict": conflict_id,
        "contracts": counts("contract"), "visits": counts("visit"),
        "surveys": counts("survey"), "not_signed": counts("not_signed"),
        "referrals": counts("referral"),
    });
    diesel::update(resident_moves::table.filter(resident_moves::resident_id.eq(&other.id)))
        .set(resident_moves::resident_id.eq(&survivor.id))
        .execute(conn)?;
    // The survivor takes what it lacks from the other: a phone, a household, tags.
    let mut tags: Vec<String> = serde_json::from_str(&survivor.tags).unwrap_or_default();
    let theirs: Vec<String> = serde_json::from_str(&other.tags).unwrap_or_default();
    let mut filled: Vec<&str> = Vec::new();
    for t in theirs {
        if !tags.contains(&t) {
            tags.push(t);
            if !filled.contains(&"tags") {
                filled.push("tags");
            }
        }
    }
    tags.sort();
    let phone = survivor.phone.clone().or_else(|| other.phone.clone());
    if phone != survivor.phone {
        filled.push("phone");
    }
    let household = survivor.household_id.clone().or_else(|| other.household_id.clone());
    if household != survivor.household_id {
        filled.push("household_id");
    }
    let version = survivor.version + 1;
    let mut clock: FieldClock = serde_json::from_str(&survivor.field_clock).unwrap_or_default();
    for f in &filled {
        clock.insert(f.to_string(), (version, ctx.now));
    }
    let seq = ctx.append(
        conn,
        &ctx.change(&county, "resident", &survivor.id, version).village(&to),
    )?;
    diesel::update(residents::table.find(&survivor.id))
        .set((
            residents::tags.eq(serde_json::to_string(&tags).map_err(AppError::internal)?),
            residents::phone.eq(&phone),
            residents::household_id.eq(&household),
            residents::field_clock.eq(serde_json::to_string(&clock).map_err(AppError::internal)?),
            residents::version.eq(version),
            residents::updated_at.eq(ctx.now),
            residents::change_seq.eq(seq),
        ))
        .execute(conn)?;
    write_tags(conn, &survivor.id, &county, &to, &tags)?;
    changed.push(Changed {
        entity: "resident".into(),
        id: survivor.id.clone(),
        version,
    });
    // The other becomes a tombstone that names the survivor.
    let other_version = other.version + 1;
    let seq = ctx.append(
        conn,
        &ctx.change(&county, "resident", &other.id, other_version)
            .village(&other.village_code)
            .deleted(true),
    )?;
    diesel::update(residents::table.find(&other.id))
        .set((
            residents::deleted.eq(true),
            residents::merged_into.eq(&survivor.id),
            residents::version.eq(other_version),
            residents::updated_at.eq(ctx.now),
            residents::change_seq.eq(seq),
        ))
        .execute(conn)?;
    write_tags(conn, &other.id, &county, &other.village_code, &[])?;
    changed.push(Changed {
        entity: "resident".into(),
        id: other.id.clone(),
        version: other_version,
    });
    // Two contracts in effect for one person now: the later signing is held for review.
    let in_effect: Vec<contract::Contract> = contracts::table
        .filter(contracts::resident_id.eq(&survivor.id))
        .filter(contracts::deleted.eq(false))
        .filter(contracts::status.eq_any(contract::IN_EFFECT.map(ContractStatus::as_str)))
        .filter(contracts::ended_on.is_null())
        .order((contracts::signed_at.asc(), contracts::id.asc()))
        .select(contract::Contract::as_select())
        .load(conn)?;
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
