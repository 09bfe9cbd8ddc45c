//! Editing a resident: a field-level merge against the version the tablet's edit was
//! based on (docs/sync-protocol.md, "Update a resident: field-level merge"). Fields nobody else touched since that version are applied; a
//! field changed on both sides goes to the later clinical time, and the losing value is
//! kept in a conflict record. Moving to another village moves the resident and their
//! records out of one team's scope and into another's.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::{check_birth_date, check_name, check_phone, check_sex, check_tags, find, write_tags, Resident, FIELDS};
use crate::db::DbConn;
use crate::domain::id_number::IdInput;
use crate::domain::region::{self, Level};
use crate::domain::{audit, review, validate, Applied, WriteCtx};
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger;
use crate::schema::{contracts, not_signed, referrals, resident_moves, residents, survey_responses, visits};
use crate::time::{fmt_date, ClinicalTime};
use crate::vocabulary::{ConflictKind, ContractStatus};

/// Per field: (the resident version that last changed it, that change's clinical time).
pub type FieldClock = BTreeMap<String, (i64, i64)>;

/// One field's new value, validated.
#[derive(Debug, Clone, PartialEq)]
enum NewValue {
    Text(String),
    OptText(Option<String>),
    Tags(Vec<String>),
    /// The ID number: its hash and masked form (the clear number is never kept).
    Id {
        hash: String,
        masked: String,
    },
}

impl NewValue {
    /// The value as conflict records and comparisons see it (ID numbers only masked).
    fn shown(&self) -> Value {
        match self {
            NewValue::Text(s) => Value::from(s.clone()),
            NewValue::OptText(o) => o.clone().map(Value::from).unwrap_or(Value::Null),
            NewValue::Tags(t) => Value::from(t.clone()),
            NewValue::Id { masked, .. } => Value::from(masked.clone()),
        }
    }
}

fn current_value(r: &Resident, field: &str) -> NewValue {
    match field {
        "village_code" => NewValue::Text(r.village_code.clone()),
        "name" => NewValue::Text(r.name.clone()),
        "sex" => NewValue::Text(r.sex.clone()),
        "birth_date" => NewValue::Text(r.birth_date.clone()),
        "id_number" => NewValue::Id {
            hash: r.id_hash.clone(),
            masked: r.id_masked.clone(),
        },
        "phone" => NewValue::OptText(r.phone.clone()),
        "tags" => NewValue::Tags(serde_json::from_str(&r.tags).unwrap_or_default()),
        _ => NewValue::OptText(r.household_id.clone()),
    }
}

fn text_of(v: &Value, field: &str) -> Result<String, AppError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| AppError::invalid(Code::InvalidField, field, format!("{field} must be a string")))
}

fn opt_text_of(v: &Value, field: &str) -> Result<Option<String>, AppError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(AppError::invalid(
            Code::InvalidField,
            field,
            format!("{field} must be a string or null"),
        )),
    }
}

/// Validates the patch against the record it will land on.
fn parse_patch(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    current: &Resident,
    data: &Value,
) -> Result<BTreeMap<&'static str, NewValue>, AppError> {
    let obj: &Map<String, Value> = data
        .as_object()
        .ok_or_else(|| AppError::invalid(Code::InvalidField, "data", "data must be an object"))?;
    if obj.is_empty() {
        return Err(AppError::invalid(
            Code::MissingField,
            "data",
            "an update names at least one field",
        ));
    }
    let out = parse_fields(conn, ctx, current, obj)?;
    // The stored ID number is only a hash: a new birth date or sex can be checked against
    // the number only if the number comes with it.
    let birth = obj
        .get("birth_date")
        .and_then(Value::as_str)
        .unwrap_or(&current.birth_date);
    let sex = obj.get("sex").and_then(Value::as_str).unwrap_or(&current.sex);
    match obj.get("id_number").and_then(Value::as_str) {
        Some(raw) => {
            let id = IdInput::parse(raw, ctx.id_hash_secret)?;
            let birth = validate::date(birth, "birth_date")?;
            id.check_matches(birth, sex.chars().next().unwrap_or('?'))?;
        }
        None if obj.contains_key("birth_date") || obj.contains_key("sex") => {
            return Err(AppError::invalid(
                Code::IdNumberRequired,
                "id_number",
                "changing birth_date or sex needs the ID number in the same update",
            ))
        }
        None => {}
    }
    Ok(out)
}

/// Validates each field of a patch on its own.
fn parse_fields(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    current: &Resident,
    obj: &Map<String, Value>,
) -> Result<BTreeMap<&'static str, NewValue>, AppError> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let field = *FIELDS
            .iter()
            .find(|f| **f == k.as_str())
            .ok_or_else(|| AppError::invalid(Code::InvalidField, format!("data.{k}"), "not a resident field"))?;
        let value = match field {
            "village_code" => {
                let code = text_of(v, field)?;
                let ok = region::find(conn, &code)?
                    .is_some_and(|r| r.level == Level::Village.as_str() && r.county_code == current.county_code);
                if !ok {
                    return Err(AppError::invalid(
                        Code::UnknownRegion,
                        field,
                        "no such village in this county",
                    ));
                }
                NewValue::Text(code)
            }
            "name" => NewValue::Text(check_name(&text_of(v, field)?)?),
            "sex" => NewValue::Text(check_sex(&text_of(v, field)?)?),
            "birth_date" => NewValue::Text(fmt_date(check_birth_date(&text_of(v, field)?)?)),
            "id_number" => {
                let id = IdInput::parse(&text_of(v, field)?, ctx.id_hash_secret)?;
                NewValue::Id {
                    hash: id.keyed_hash(ctx.id_hash_secret),
                    masked: id.masked(),
                }
            }
            "phone" => NewValue::OptText(check_phone(opt_text_of(v, field)?.as_deref())?),
            "tags" => {
                let list: Vec<String> = serde_json::from_value(v.clone())
                    .map_err(|_| AppError::invalid(Code::InvalidField, field, "tags must be a list of tag codes"))?;
                NewValue::Tags(check_tags(&list)?)
            }
            _ => NewValue::OptText(validate::opt_text(&opt_text_of(v, field)?, field, 64)?),
        };
        out.insert(field, value);
    }
    Ok(out)
}

/// Applies an update op. `base_version` is the version the tablet edited.
pub fn update(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    base_version: Option<i64>,
    data: &Value,
    recorded: ClinicalTime,
) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    super::lock_row(conn, &id)?;
    let current = match find(conn, &id)? {
        Some(r) if !r.deleted && ctx.auth.scope.covers_village(&r.village_code) => r,
        _ => {
            return Err(AppError::invalid(
                Code::UnknownResident,
                "id",
                "no such resident in your scope",
            ))
        }
    };
    if current.merged_into.is_some() {
        return Err(AppError::invalid(
            Code::ResidentMerged,
            "id",
            "this resident was merged; edit the surviving record",
        ));
    }
    let base = base_version.ok_or_else(|| {
        AppError::invalid(
            Code::MissingField,
            "base_version",
            "an update names the version it edited",
        )
    })?;
    if base < 1 || base > current.version {
        return Err(AppError::invalid(
            Code::UnknownVersion,
            "base_version",
            "base_version is not a version of this resident",
        ));
    }
    let patch = parse_patch(conn, ctx, &current, data)?;
    let clock: FieldClock = serde_json::from_str(&current.field_clock).unwrap_or_default();
    let mut applied: BTreeMap<&str, NewValue> = BTreeMap::new();
    let (mut lost_server, mut lost_client) = (Map::new(), Map::new());
    for (field, value) in patch {
        let now_value = current_value(&current, field);
        if value == now_value {
            continue;
        }
        let (changed_in, changed_at) = clock.get(field).copied().unwrap_or((1, current.recorded_at));
        if changed_in <= base {
            // Nobody changed it since the tablet's version: a plain edit.
            applied.insert(field, value);
        } else if recorded.at > changed_at {
            // Both changed it; this edit is later in clinical time and wins.
            lost_server.insert(field.to_string(), now_value.shown());
            applied.insert(field, value);
        } else {
            // Both changed it; the stored value is later (or as late) and stays.
            lost_client.insert(field.to_string(), value.shown());
        }
    }
    let conflict_id = if lost_server.is_empty() && lost_client.is_empty() {
        None
    } else {
        let fields: Vec<String> = lost_server.keys().chain(lost_client.keys()).cloned().collect();
        Some(review::open_conflict(
            conn,
            ctx,
            review::NewConflict {
                kind: ConflictKind::FieldClash,
                entity: "resident",
                entity_id: &id,
                other_entity_id: None,
                field: Some(fields.join(",")),
                county_code: &current.county_code,
                village_code: Some(&current.village_code),
                // What the rule did not keep, from each side.
                server_value: Some(Value::Object(lost_server)),
                client_value: Some(Value::Object(lost_client)),
            },
        )?)
    };
    if applied.is_empty() {
        return Ok(Applied {
            id,
            version: current.version,
            conflict_id,
        });
    }
    let version = write_version(conn, ctx, &current, clock, applied, recorded)?;
    Ok(Applied {
        id,
        version,
        conflict_id,
    })
}

/// Applies a supervisor's review decision on a field clash: `fields` (as the conflict
/// record keeps them) become the resident's values in a new version, through the same
/// write as a tablet's edit, so the change log and audit carry it. The values were checked
/// against the ID number when the tablet sent them; only each field's own rules run again.
/// Returns `None` when every value already stands.
pub fn apply_review_values(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    fields: &Map<String, Value>,
) -> Result<Option<Applied>, AppError> {
    let current = match find(conn, id)? {
        Some(r) if !r.deleted && ctx.auth.scope.covers_village(&r.village_code) => r,
        Some(r) if r.merged_into.is_some() => {
            return Err(AppError::invalid(
                Code::ResidentMerged,
                "decision",
                "this resident was merged into another record; its values cannot be applied",
            ))
        }
        _ => {
            return Err(AppError::invalid(
                Code::UnknownResident,
                "decision",
                "the resident is no longer in your scope",
            ))
        }
    };
    if fields.contains_key("id_number") {
        return Err(AppError::invalid(
            Code::IdNumberNotRestorable,
            "decision",
            "only the masked ID number was kept; correct it on the tablet with the resident's card",
        ));
    }
    let patch = parse_fields(conn, ctx, &current, fields)?;
    let applied: BTreeMap<&str, NewValue> = patch
        .into_iter()
        .filter(|(f, v)| *v != current_value(&current, f))
        .collect();
    if applied.is_empty() {
        return Ok(None);
    }
    let clock: FieldClock = serde_json::from_str(&current.field_clock).unwrap_or_default();
    let recorded = ClinicalTime {
        at: ctx.now,
        local_date: crate::time::today_cst(),
    };
    let version = write_version(conn, ctx, &current, clock, applied, recorded)?;
    Ok(Some(Applied {
        id: id.to_string(),
        version,
        conflict_id: None,
    }))
}

/// Writes a resident's next version with the fields in `applied`: change log (both
/// villages on a move), row, tags, the records that follow a move, and the audit entry.
fn write_version(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    current: &Resident,
    mut clock: FieldClock,
    applied: BTreeMap<&str, NewValue>,
    recorded: ClinicalTime,
) -> Result<i64, AppError> {
    let id = current.id.clone();
    let new_version = current.version + 1;
    for f in applied.keys() {
        clock.insert(f.to_string(), (new_version, recorded.at));
    }
    let new_village = match applied.get("village_code") {
        Some(NewValue::Text(v)) => v.clone(),
        _ => current.village_code.clone(),
    };
    let moved = new_village != current.village_code;
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&current.county_code, "resident", &id, new_version)
            .village(&new_village),
    )?;
    if moved {
        // The old village's tablets learn the resident left their scope.
        ledger::append(
            conn,
            ctx.journal,
            &ctx.change(&current.county_code, "resident", &id, new_version)
                .village(&current.village_code),
        )?;
    }
    let mut row = current.clone();
    for (field, value) in &applied {
        match (*field, value) {
            ("village_code", NewValue::Text(v)) => row.village_code = v.clone(),
            ("name", NewValue::Text(v)) => row.name = v.clone(),
            ("sex", NewValue::Text(v)) => row.sex = v.clone(),
            ("birth_date", NewValue::Text(v)) => row.birth_date = v.clone(),
            ("id_number", NewValue::Id { hash, masked }) => {
                row.id_hash = hash.clone();
                row.id_masked = masked.clone();
            }
            ("phone", NewValue::OptText(v)) => row.phone = v.clone(),
            ("tags", NewValue::Tags(t)) => row.tags = serde_json::to_string(t).map_err(AppError::internal)?,
            (_, NewValue::OptText(v)) => row.household_id = v.clone(),
            _ => return Err(AppError::internal("resident patch field and value disagree")),
        }
    }
    diesel::update(residents::table.find(&id))
        .set((
            residents::village_code.eq(&row.village_code),
            residents::name.eq(&row.name),
            residents::sex.eq(&row.sex),
            residents::birth_date.eq(&row.birth_date),
            residents::id_hash.eq(&row.id_hash),
            residents::id_masked.eq(&row.id_masked),
            residents::phone.eq(&row.phone),
            residents::tags.eq(&row.tags),
            residents::household_id.eq(&row.household_id),
            residents::field_clock.eq(serde_json::to_string(&clock).map_err(AppError::internal)?),
            residents::version.eq(new_version),
            residents::recorded_at.eq(recorded.at.max(current.recorded_at)),
            residents::updated_at.eq(ctx.now),
            residents::change_seq.eq(seq),
            residents::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    if applied.contains_key("tags") || moved {
        let tags: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_default();
        write_tags(conn, &id, &row.county_code, &row.village_code, &tags)?;
    }
    if moved {
        move_records(conn, ctx, current, &new_village, recorded)?;
    }
    let fields: Vec<&str> = applied.keys().copied().collect();
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, if moved { "resident_moved" } else { "resident_updated" })
            .entity("resident", &id)
            .detail(serde_json::json!({ "fields": fields, "version": new_version }))
            .at(ctx.now)
            .clinical(recorded.at),
    )?;
    Ok(new_version)
}

/// A resident's records follow them to the new village, and both villages' tablets are told.
fn move_records(conn: &mut DbConn, ctx: &WriteCtx, r: &Resident, to: &str, when: ClinicalTime) -> Result<(), AppError> {
    diesel::insert_into(resident_moves::table)
        .values((
            resident_moves::id.eq(uuid::Uuid::now_v7().to_string()),
            resident_moves::resident_id.eq(&r.id),
            resident_moves::county_code.eq(&r.county_code),
            resident_moves::from_village.eq(&r.village_code),
            resident_moves::to_village.eq(to),
            resident_moves::moved_on.eq(fmt_date(when.local_date)),
            resident_moves::recorded_at.eq(when.at),
            resident_moves::created_at.eq(ctx.now),
        ))
        .execute(conn)?;
    macro_rules! follow {
        ($table:ident, $entity:expr) => {{
            let rows: Vec<(String, i64)> = $table::table
                .filter($table::resident_id.eq(&r.id))
                .select(($table::id, $table::version))
                .load(conn)?;
            for (rid, version) in rows {
                let seq = ledger::append(
                    conn,
                    ctx.journal,
                    &ctx.change(&r.county_code, $entity, &rid, version).village(to),
                )?;
                ledger::append(
                    conn,
                    ctx.journal,
                    &ctx.change(&r.county_code, $entity, &rid, version)
                        .village(&r.village_code),
                )?;
                diesel::update($table::table.find(&rid))
                    .set(($table::village_code.eq(to), $table::change_seq.eq(seq)))
                    .execute(conn)?;
            }
        }};
    }
    follow!(contracts, "contract");
    follow!(visits, "visit");
    follow!(survey_responses, "survey");
    follow!(not_signed, "not_signed");
    follow!(referrals, "referral");
    Ok(())
}

/// Deletes a resident: a tombstone that pulls carry. A resident with a signed contract is
/// a party to a legal record and cannot be deleted; void or terminate the contract.
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str, recorded: ClinicalTime) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    super::lock_row(conn, &id)?;
    let current = match find(conn, &id)? {
        Some(r) if ctx.auth.scope.covers_village(&r.village_code) => r,
        _ => {
            return Err(AppError::invalid(
                Code::UnknownResident,
                "id",
                "no such resident in your scope",
            ))
        }
    };
    if current.deleted {
        return Ok(Applied {
            id,
            version: current.version,
            conflict_id: None,
        });
    }
    let signed: i64 = contracts::table
        .filter(contracts::resident_id.eq(&id))
        .filter(contracts::deleted.eq(false))
        .filter(contracts::status.ne_all(
            [ContractStatus::Draft, ContractStatus::Cancelled, ContractStatus::Voided].map(ContractStatus::as_str),
        ))
        .count()
        .get_result(conn)?;
    if signed > 0 {
        return Err(AppError::invalid(
            Code::HasSignedContract,
            "id",
            "a resident with a signed contract cannot be deleted; void or terminate the contract",
        ));
    }
    let version = current.version + 1;
    let seq = ledger::append(
        conn,
        ctx.journal,
        &ctx.change(&current.county_code, "resident", &id, version)
            .village(&current.village_code)
            .deleted(true),
    )?;
    diesel::update(residents::table.find(&id))
        .set((
            residents::deleted.eq(true),
            residents::version.eq(version),
            residents::updated_at.eq(ctx.now),
            residents::change_seq.eq(seq),
            residents::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    write_tags(conn, &id, &current.county_code, &current.village_code, &[])?;
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "resident_deleted")
            .entity("resident", &id)
            .at(ctx.now)
            .clinical(recorded.at),
    )?;
    Ok(Applied {
        id,
        version,
        conflict_id: None,
    })
}
