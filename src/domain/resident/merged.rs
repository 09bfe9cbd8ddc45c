//! What merging two records of one person writes (docs/review.md, "Merging duplicates"):
//! every record of the other re-pointed to the survivor, what the survivor takes from the
//! other, and the other's tombstone. The review workflow chooses the pair and the survivor
//! and holds what the merge leaves in conflict; the rows are written here.

use diesel::prelude::*;

use super::update::FieldClock;
use super::{write_tags, Resident};
use crate::db::DbConn;
use crate::domain::contract::{self, Contract};
use crate::domain::WriteCtx;
use crate::error::AppError;
use crate::schema::{contracts, not_signed, referrals, resident_moves, residents, survey_responses, visits};
use crate::vocabulary::ContractStatus;

/// A record the merge gave a new version.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// Entity kind.
    pub entity: &'static str,
    /// Its id.
    pub id: String,
    /// Its version now.
    pub version: i64,
}

/// What [`fold`] did.
pub struct Folded {
    /// Every record it rewrote: the other's records, then the survivor, then the tombstone.
    pub changed: Vec<Rewritten>,
    /// The survivor's fields filled from the other (`tags`, `phone`, `household_id`).
    pub filled: Vec<&'static str>,
}

/// Folds `other` into `survivor`: its contracts, visits, survey responses, not-signed
/// records, referrals and moves follow the survivor (and its village), the survivor takes
/// what it lacks (a phone, a household, tags), and `other` becomes a tombstone naming it.
pub fn fold(conn: &mut DbConn, ctx: &WriteCtx, survivor: &Resident, other: &Resident) -> Result<Folded, AppError> {
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
                changed.push(Rewritten {
                    entity: $entity,
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
    diesel::update(resident_moves::table.filter(resident_moves::resident_id.eq(&other.id)))
        .set(resident_moves::resident_id.eq(&survivor.id))
        .execute(conn)?;
    // The survivor takes what it lacks from the other: a phone, a household, tags.
    let mut tags: Vec<String> = serde_json::from_str(&survivor.tags).unwrap_or_default();
    let theirs: Vec<String> = serde_json::from_str(&other.tags).unwrap_or_default();
    let mut filled: Vec<&'static str> = Vec::new();
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
    changed.push(Rewritten {
        entity: "resident",
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
    changed.push(Rewritten {
        entity: "resident",
        id: other.id.clone(),
        version: other_version,
    });
    Ok(Folded { changed, filled })
}

/// The resident's contracts in effect and not ended, the earliest signing first: after a
/// merge, two of them over one term are a double signing.
pub fn contracts_in_effect(conn: &mut DbConn, resident_id: &str) -> Result<Vec<Contract>, AppError> {
    Ok(contracts::table
        .filter(contracts::resident_id.eq(resident_id))
        .filter(contracts::deleted.eq(false))
        .filter(contracts::status.eq_any(contract::IN_EFFECT.map(ContractStatus::as_str)))
        .filter(contracts::ended_on.is_null())
        .order((contracts::signed_at.asc(), contracts::id.asc()))
        .select(Contract::as_select())
        .load(conn)?)
}

/// How many live records hang on a resident: what a merge would move.
pub struct Hanging {
    /// Contracts.
    pub contracts: i64,
    /// Visits.
    pub visits: i64,
    /// Survey responses.
    pub surveys: i64,
}

/// The [`Hanging`] records of the resident `id`.
pub fn hanging_on(conn: &mut DbConn, id: &str) -> Result<Hanging, AppError> {
    let contracts: i64 = contracts::table
        .filter(contracts::resident_id.eq(id))
        .filter(contracts::deleted.eq(false))
        .count()
        .get_result(conn)?;
    let visits: i64 = visits::table
        .filter(visits::resident_id.eq(id))
        .filter(visits::deleted.eq(false))
        .count()
        .get_result(conn)?;
    let surveys: i64 = survey_responses::table
        .filter(survey_responses::resident_id.eq(id))
        .filter(survey_responses::deleted.eq(false))
        .count()
        .get_result(conn)?;
    Ok(Hanging {
        contracts,
        visits,
        surveys,
    })
}
