//! Residents and their health records (居民健康档案).

pub mod update;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id_number::IdNumber;
use super::{audit, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::{resident_tags, residents};
use crate::sync::changelog::{self, Change};

/// Key-population tags recorded on a resident (DESIGN §7).
pub const RECORDED_TAGS: [&str; 10] = [
    "hypertension",
    "diabetes",
    "pregnant",
    "severe_mental",
    "tuberculosis",
    "disability",
    "poverty",
    "dibao",
    "tekun",
    "family_planning_special",
];

/// The fields of a resident a tablet edits; each carries its own clock for merging.
pub const FIELDS: [&str; 8] = [
    "village_code",
    "name",
    "sex",
    "birth_date",
    "id_number",
    "phone",
    "tags",
    "household_id",
];

/// Tags derived from the birth date; a tablet never sends them.
pub const DERIVED_TAGS: [&str; 2] = ["elderly", "child"];

/// Age in whole years on a date.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The derived tags that hold on a date: `elderly` at 65 and over, `child` from 0 to 6.
pub fn derived_tags(birth: NaiveDate, on: NaiveDate) -> Vec<&'static str> {
    let age = age_on(birth, on);
    let mut t = Vec::new();
    if age >= 65 {
        t.push("elderly");
    }
    if (0..=6).contains(&age) && birth <= on {
        t.push("child");
    }
    t
}

/// A resident as a tablet sends it (`data` of a `resident` create op).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidentData {
    /// 12-digit village code, in the caller's scope.
    pub village_code: String,
    /// Full name.
    pub name: String,
    /// `M` or `F`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// 居民身份证号 (18 characters; 15-digit legacy numbers are converted).
    pub id_number: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Recorded key-population tag codes.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Household id.
    #[serde(default)]
    pub household_id: Option<String>,
}

/// A resident row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = residents)]
pub struct Resident {
    pub id: String,
    pub county_code: String,
    pub village_code: String,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub id_hash: String,
    pub id_masked: String,
    pub phone: Option<String>,
    pub tags: String,
    pub household_id: Option<String>,
    pub registered_on: String,
    pub field_clock: String,
    pub merged_into: Option<String>,
    pub version: i64,
    pub deleted: bool,
    pub recorded_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub change_seq: i64,
    pub created_by: String,
    pub device_id: Option<String>,
}

/// A resident as every output shows it: the ID number masked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResidentView {
    pub id: String,
    pub village_code: String,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    /// Masked, e.g. `4311**********123X`.
    pub id_number_masked: String,
    pub phone: Option<String>,
    /// Recorded tags.
    pub tags: Vec<String>,
    pub household_id: Option<String>,
    pub registered_on: String,
    pub merged_into: Option<String>,
    pub version: i64,
}

/// Masks a phone number for readers outside the owning team: `138****5678`.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

impl Resident {
    /// The output form; `own_team` decides whether the phone is shown in full.
    pub fn view(&self, own_team: bool) -> ResidentView {
        ResidentView {
            id: self.id.clone(),
            village_code: self.village_code.clone(),
            name: self.name.clone(),
            sex: self.sex.clone(),
            birth_date: self.birth_date.clone(),
            id_number_masked: self.id_masked.clone(),
            phone: self
                .phone
                .as_deref()
                .map(|p| if own_team { p.to_string() } else { mask_phone(p) }),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            household_id: self.household_id.clone(),
            registered_on: self.registered_on.clone(),
            merged_into: self.merged_into.clone(),
            version: self.version,
        }
    }
}

/// A validated resident, ready to store.
struct Valid {
    village_code: String,
    name: String,
    sex: String,
    birth_date: NaiveDate,
    id: IdNumber,
    phone: Option<String>,
    tags: Vec<String>,
    household_id: Option<String>,
}

fn validate(d: &ResidentData, ctx: &WriteCtx) -> Result<Valid, AppError> {
    if !ctx.auth.scope.covers_village(&d.village_code) {
        return Err(AppError::invalid(
            "out_of_scope",
            "village_code",
            "that village is not in your team's scope",
        ));
    }
    let sex = check_sex(&d.sex)?;
    let birth_date = check_birth_date(&d.birth_date)?;
    let id = IdNumber::parse(&d.id_number)?;
    id.check_matches(birth_date, sex.chars().next().unwrap_or('?'))?;
    Ok(Valid {
        village_code: d.village_code.clone(),
        name: check_name(&d.name)?,
        sex,
        birth_date,
        id,
        phone: check_phone(d.phone.as_deref())?,
        tags: check_tags(&d.tags)?,
        household_id: validate::opt_text(&d.household_id, "household_id", 64)?,
    })
}

/// A name: 1–50 printable characters.
pub(crate) fn check_name(v: &str) -> Result<String, AppError> {
    validate::text(v, "name", 50)
}

/// `M` or `F`.
pub(crate) fn check_sex(v: &str) -> Result<String, AppError> {
    match v {
        "M" | "F" => Ok(v.to_string()),
        _ => Err(AppError::invalid("invalid_sex", "sex", "sex must be M or F")),
    }
}

/// A birth date not in the future.
pub(crate) fn check_birth_date(v: &str) -> Result<NaiveDate, AppError> {
    let d = validate::date(v, "birth_date")?;
    if d > crate::time::today_cst() + chrono::Days::new(1) {
        return Err(AppError::invalid(
            "future_date",
            "birth_date",
            "birth_date is in the future",
        ));
    }
    Ok(d)
}

/// A phone number (7–20 digits, `-` and `+` allowed), or none.
pub(crate) fn check_phone(v: Option<&str>) -> Result<Option<String>, AppError> {
    match v.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => {
            let ok = (7..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+');
            if ok {
                Ok(Some(p.to_string()))
            } else {
                Err(AppError::invalid("invalid_phone", "phone", "phone must be 7–20 digits"))
            }
        }
    }
}

/// Recorded tag codes, sorted and de-duplicated; derived tags are refused.
pub(crate) fn check_tags(tags: &[String]) -> Result<Vec<String>, AppError> {
    let mut out = Vec::with_capacity(tags.len());
    for t in tags {
        if DERIVED_TAGS.contains(&t.as_str()) {
            return Err(AppError::invalid(
                "derived_tag",
                "tags",
                format!("{t} is derived from birth_date; do not send it"),
            ));
        }
        if !RECORDED_TAGS.contains(&t.as_str()) {
            return Err(AppError::invalid("unknown_tag", "tags", "unknown tag code"));
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Replaces a resident's rows in `resident_tags`.
pub(crate) fn write_tags(
    conn: &mut DbConn,
    id: &str,
    county: &str,
    village: &str,
    tags: &[String],
) -> Result<(), AppError> {
    diesel::delete(resident_tags::table.filter(resident_tags::resident_id.eq(id))).execute(conn)?;
    for t in tags {
        diesel::insert_into(resident_tags::table)
            .values((
                resident_tags::resident_id.eq(id),
                resident_tags::tag.eq(t),
                resident_tags::county_code.eq(county),
                resident_tags::village_code.eq(village),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Finds a resident by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Resident>, AppError> {
    Ok(residents::table
        .find(id)
        .select(Resident::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a resident the caller may see (not deleted); absent and out of scope look alike.
pub fn find_visible(conn: &mut DbConn, ctx_scope: &crate::auth::Scope, id: &str) -> Result<Resident, AppError> {
    match find(conn, id)? {
        Some(r) if !r.deleted && ctx_scope.covers_village(&r.village_code) => Ok(r),
        _ => Err(AppError::not_found("resident")),
    }
}

/// Locks a resident's row until the transaction ends (PostgreSQL; SQLite has one writer
/// at a time). Two concurrent edits from the same base version must merge one after the
/// other: unlocked, both read the old field clock, both apply as plain edits, and the
/// later commit silently overwrites the earlier one with no conflict recorded.
pub(crate) fn lock_row(conn: &mut DbConn, id: &str) -> Result<(), AppError> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query("SELECT id FROM residents WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// Registers a resident. The same ID number already registered in the county (two teams
/// offline) is stored too, and a duplicate candidate goes to the review queue.
pub fn create(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    data: &ResidentData,
    recorded_at: i64,
    recorded_on: NaiveDate,
) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let v = validate(data, ctx)?;
    if find(conn, &id)?.is_some() {
        return Err(
            AppError::conflict("already_exists", "a resident with this id exists; send an update").with_field("id"),
        );
    }
    let county = ctx.auth.county_code.clone();
    let id_hash = v.id.keyed_hash(ctx.id_hash_secret);
    let twin: Option<String> = residents::table
        .filter(residents::county_code.eq(&county))
        .filter(residents::id_hash.eq(&id_hash))
        .filter(residents::deleted.eq(false))
        .filter(residents::merged_into.is_null())
        .select(residents::id)
        .first(conn)
        .optional()?;
    let seq = changelog::append(
        conn,
        ctx,
        &Change::new(ctx, &county, "resident", &id, 1).village(&v.village_code),
    )?;
    let tags_json = serde_json::to_string(&v.tags).map_err(AppError::internal)?;
    let clock: update::FieldClock = FIELDS.iter().map(|f| (f.to_string(), (1, recorded_at))).collect();
    diesel::insert_into(residents::table)
        .values((
            residents::id.eq(&id),
            residents::county_code.eq(&county),
            residents::village_code.eq(&v.village_code),
            residents::name.eq(&v.name),
            residents::sex.eq(&v.sex),
            residents::birth_date.eq(crate::time::fmt_date(v.birth_date)),
            residents::id_hash.eq(&id_hash),
            residents::id_masked.eq(v.id.masked()),
            residents::phone.eq(&v.phone),
            residents::tags.eq(&tags_json),
            residents::household_id.eq(&v.household_id),
            residents::registered_on.eq(crate::time::fmt_date(recorded_on)),
            residents::field_clock.eq(serde_json::to_string(&clock).map_err(AppError::internal)?),
            residents::version.eq(1i64),
            residents::deleted.eq(false),
            residents::recorded_at.eq(recorded_at),
            residents::created_at.eq(ctx.now),
            residents::updated_at.eq(ctx.now),
            residents::change_seq.eq(seq),
            residents::created_by.eq(&ctx.auth.user_id),
            residents::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    write_tags(conn, &id, &county, &v.village_code, &v.tags)?;
    let conflict_id = match twin {
        None => None,
        Some(other) => Some(review::open_conflict(
            conn,
            ctx,
            review::NewConflict {
                kind: review::kind::DUPLICATE_RESIDENT,
                entity: "resident",
                entity_id: &id,
                other_entity_id: Some(&other),
                field: None,
                county_code: &county,
                village_code: Some(&v.village_code),
                server_value: None,
                client_value: None,
            },
        )?),
    };
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, "resident_created")
            .entity("resident", &id)
            .at(ctx.now)
            .clinical(recorded_at),
    )?;
    Ok(Applied {
        id,
        version: 1,
        conflict_id,
    })
}
