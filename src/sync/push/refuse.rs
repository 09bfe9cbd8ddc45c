//! What a refused op leaves: its raw payload in quarantine for a supervisor (within the
//! per-device daily room), and its first answer remembered under its op id.

use super::*;

/// Keeps a refused op's raw payload for review and remembers the refusal under its op_id
/// with the op's content `digest`.
#[allow(clippy::too_many_arguments)]
pub(super) fn refuse(
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
    b.held.borrow_mut().write_pending(conn)?;
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
                quarantine::raw.eq(crate::sync::quarantine::kept_form(raw, b.limits.id_hash_secret)),
                quarantine::error_code.eq(err.code.as_str()),
                quarantine::error_field.eq(&err.field),
                quarantine::error_message.eq(&err.message),
                quarantine::status.eq(crate::vocabulary::ItemStatus::Open.as_str()),
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
pub(super) fn quarantine_has_room(conn: &mut DbConn, b: &Batch) -> Result<bool, AppError> {
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
pub(super) fn village_of(
    conn: &mut DbConn,
    auth: &Caller,
    raw: &serde_json::Value,
) -> Result<Option<String>, AppError> {
    use crate::schema::{contracts, not_signed, referrals, residents, survey_responses, visits};
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
        Some("referral") => village!(referrals, &id),
        _ => None,
    };
    let named = data
        .and_then(|d| d.get("village_code"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let candidates = [own, village!(residents, &resident_id), named];
    Ok(candidates.into_iter().flatten().find(|v| auth.scope.covers_village(v)))
}

pub(super) fn remember(
    b: &Batch,
    op_id: &str,
    entity: &str,
    entity_id: Option<&str>,
    action: &str,
    digest: &str,
    result: &OpResult,
) -> Result<(), AppError> {
    b.journal.borrow_mut().applied(crate::ledger::OpRecord {
        op_id: op_id.to_string(),
        device_id: replay::device_key(b.auth).to_string(),
        user_id: b.auth.user_id.clone(),
        county_code: b.auth.county_code.clone(),
        // Kept as the tablet sent them, less control characters (NUL cannot be stored).
        entity: entity.chars().filter(|c| !c.is_control()).take(40).collect(),
        entity_id: entity_id.map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect()),
        action: action.chars().filter(|c| !c.is_control()).take(40).collect(),
        status: result.status.as_str().to_string(),
        result: serde_json::to_string(result).map_err(AppError::internal)?,
        received_at: b.now,
        digest: Some(digest.to_string()),
    });
    Ok(())
}
