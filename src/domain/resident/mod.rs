//! Residents and their health records (居民健康档案).

pub mod merged;
mod phone;
pub mod search;
pub mod update;

pub(crate) use phone::check_phone;
pub use phone::mask_phone;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id_number::IdInput;
use super::{audit, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger::{self, Change};
use crate::schema::{resident_tags, residents};
use crate::vocabulary::ConflictKind;

// Named in the vocabulary because the reports count by it too.
pub use crate::vocabulary::RECORDED_TAGS;

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
#[schema(as = ResidentPush)]
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

/// A resident row (also what a new resident's INSERT writes).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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
#[schema(as = ResidentPulled)]
pub struct ResidentView {
    pub id: String,
    pub village_code: String,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    /// Masked: only the 17th character, e.g. `****************2*`.
    pub id_number_masked: String,
    pub phone: Option<String>,
    /// Recorded tags.
    pub tags: Vec<String>,
    pub household_id: Option<String>,
    pub registered_on: String,
    pub merged_into: Option<String>,
    pub version: i64,
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
    id: IdInput,
    phone: Option<String>,
    tags: Vec<String>,
    household_id: Option<String>,
}

fn validate(d: &ResidentData, ctx: &WriteCtx) -> Result<Valid, AppError> {
    if !ctx.auth.scope.covers_village(&d.village_code) {
        return Err(AppError::invalid(
            Code::OutOfScope,
            "village_code",
            "that village is not in your team's scope",
        ));
    }
    let sex = check_sex(&d.sex)?;
    let birth_date = check_birth_date(&d.birth_date)?;
    let id = IdInput::parse(&d.id_number, ctx.id_hash_secret)?;
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
        _ => Err(AppError::invalid(Code::InvalidSex, "sex", "sex must be M or F")),
    }
}

/// A birth date not in the future.
pub(crate) fn check_birth_date(v: &str) -> Result<NaiveDate, AppError> {
    let d = validate::date(v, "birth_date")?;
    if d > crate::time::today_cst() + chrono::Days::new(1) {
        return Err(AppError::invalid(
            Code::FutureDate,
            "birth_date",
            "birth_date is in the future",
        ));
    }
    Ok(d)
}

/// Recorded tag codes, sorted and de-duplicated; derived tags are refused.
pub(crate) fn check_tags(tags: &[String]) -> Result<Vec<String>, AppError> {
    let mut out = Vec::with_capacity(tags.len());
    for t in tags {
        if DERIVED_TAGS.contains(&t.as_str()) {
            return Err(AppError::invalid(
                Code::DerivedTag,
                "tags",
                format!("{t} is derived from birth_date; do not send it"),
            ));
        }
        if !RECORDED_TAGS.contains(&t.as_str()) {
            return Err(AppError::invalid(Code::UnknownTag, "tags", "unknown tag code"));
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A row of `resident_tags`: one recorded key-population tag, placed for the reports.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = resident_tags)]
pub struct TagRow {
    resident_id: String,
    tag: String,
    county_code: String,
    village_code: String,
}

fn tag_rows(id: &str, county: &str, village: &str, tags: &[String]) -> Vec<TagRow> {
    tags.iter()
        .map(|t| TagRow {
            resident_id: id.to_string(),
            tag: t.clone(),
            county_code: county.to_string(),
            village_code: village.to_string(),
        })
        .collect()
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
    crate::insert_many!(conn, resident_tags::table, &tag_rows(id, county, village, tags))?;
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
pub fn find_visible(conn: &mut DbConn, ctx_scope: &crate::access::Scope, id: &str) -> Result<Resident, AppError> {
    match find(conn, id)? {
        Some(r) if !r.deleted && ctx_scope.covers_village(&r.village_code) => Ok(r),
        _ => Err(AppError::not_found("resident")),
    }
}

/// On PostgreSQL, makes transactions that register residents in a county wait for each
/// other until commit. Without it, two tablets registering the same person at the same
/// moment each miss the other's uncommitted row and neither is flagged as a duplicate.
/// One lock per county rather than one per ID number: a batch registering hundreds of
/// people would otherwise hold hundreds of locks and can exhaust the server's shared lock
/// table. SQLite has one writer at a time anyway.
pub(crate) fn serialise_registrations(conn: &mut DbConn, county: &str) -> Result<(), AppError> {
    crate::db::dialect::advisory_xact_lock(conn, &format!("register:{county}"))
}

/// The live residents (not deleted, not merged away) of the county registered under any
/// of these ID-number hashes, as (id, hash): who a new registration would duplicate.
pub(crate) fn registered(
    conn: &mut DbConn,
    county: &str,
    hashes: &[String],
) -> Result<Vec<(String, String)>, AppError> {
    let mut found = Vec::new();
    for chunk in hashes.chunks(500) {
        found.extend(
            residents::table
                .filter(residents::county_code.eq(county))
                .filter(residents::id_hash.eq_any(chunk))
                .filter(residents::deleted.eq(false))
                .filter(residents::merged_into.is_null())
                .select((residents::id, residents::id_hash))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// Locks a resident's row until the transaction ends (PostgreSQL; SQLite has one writer
/// at a time). Two concurrent edits from the same base version must merge one after the
/// other: unlocked, both read the old field clock, both apply as plain edits, and the
/// later commit silently overwrites the earlier one with no conflict recorded.
pub(crate) fn lock_row(conn: &mut DbConn, id: &str) -> Result<(), AppError> {
    lock_rows(conn, &[id.to_string()])
}

/// [`lock_row`] for several residents, in id order so that two batches cannot deadlock.
pub(crate) fn lock_rows(conn: &mut DbConn, ids: &[String]) -> Result<(), AppError> {
    crate::db::dialect::lock_rows(conn, "residents", ids)
}

/// Registers a resident. The same ID number already registered in the county (two teams
/// offline) is stored too, and a duplicate candidate goes to the review queue. The caller
/// is told (`conflict`) only when the record registered first lies in their own scope:
/// otherwise the answer is that of any new registration, so that nobody can test whether
/// a number is registered elsewhere (docs/review.md).
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
    let id_hash = v.id.keyed_hash(ctx.id_hash_secret);
    if let Some(stored) = find(conn, &id)? {
        let mine = ctx.auth.scope.covers_village(&stored.village_code);
        // The same registration sent again under a new op id (a reinstalled tablet's
        // queue): nothing to do. Other content, or another team's record, is a claim on
        // the id that confirms nothing about that record.
        if mine && same_registration(ctx, &stored, &v, &id_hash)? {
            return Ok(Applied {
                id,
                version: stored.version,
                conflict_id: None,
            });
        }
        return Err(super::id_in_use(
            mine,
            "a resident with this id exists with other content; pull it, then send an update",
        ));
    }
    let county = ctx.auth.county_code.clone();
    serialise_registrations(conn, &county)?;
    let mut twins = Vec::new();
    for (other, _) in registered(conn, &county, std::slice::from_ref(&id_hash))? {
        let village = find(conn, &other)?.map(|r| r.village_code).unwrap_or_default();
        twins.push((ctx.auth.scope.covers_village(&village), other));
    }
    // The caller's own twin if there is one: the pair they may be told of.
    twins.sort_by_key(|(mine, _)| !*mine);
    let twin = twins.into_iter().next();
    let seq = ledger::append(conn, ctx.journal, &change_of(ctx, &id, &v.village_code))?;
    let row = build_row(ctx, &id, &v, id_hash, recorded_at, recorded_on, seq)?;
    diesel::insert_into(residents::table).values(&row).execute(conn)?;
    write_tags(conn, &id, &county, &v.village_code, &v.tags)?;
    let conflict_id = match twin {
        None => None,
        Some((mine, other)) => Some(review::open_conflict(
            conn,
            ctx,
            review::NewConflict {
                kind: ConflictKind::DuplicateResident,
                entity: "resident",
                entity_id: &id,
                other_entity_id: Some(&other),
                field: None,
                county_code: &county,
                village_code: Some(&v.village_code),
                server_value: None,
                client_value: None,
            },
        )?)
        .filter(|_| mine),
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

/// Whether a stored resident the caller may see holds exactly what this registration
/// would store.
fn same_registration(ctx: &WriteCtx, stored: &Resident, v: &Valid, id_hash: &str) -> Result<bool, AppError> {
    let tags = serde_json::to_string(&v.tags).map_err(AppError::internal)?;
    Ok(!stored.deleted
        && stored.merged_into.is_none()
        && ctx.auth.scope.covers_village(&stored.village_code)
        && stored.village_code == v.village_code
        && stored.name == v.name
        && stored.sex == v.sex
        && stored.birth_date == crate::time::fmt_date(v.birth_date)
        && stored.id_hash == id_hash
        && stored.phone == v.phone
        && stored.tags == tags
        && stored.household_id == v.household_id)
}

/// A new resident checked inside a push batch: the row and its tag rows, to be written
/// together with the batch's other new residents.
pub struct NewResident {
    /// The resident row.
    pub row: Resident,
    /// Its `resident_tags` rows.
    pub tags: Vec<TagRow>,
}

/// Registers a resident inside a push batch without a query: the rules of [`create`],
/// the rows returned to be written with the batch. `settled(id, id_hash)` says whether
/// the batch knows the id is unused and the ID number has no twin in the county; when it
/// does not, this answers `Ok(None)` before keeping anything and the op takes [`create`].
pub fn create_in_batch(
    ctx: &WriteCtx,
    id: &str,
    data: &ResidentData,
    recorded_at: i64,
    recorded_on: NaiveDate,
    settled: impl FnOnce(&str, &str) -> bool,
) -> Result<Option<(Applied, NewResident)>, AppError> {
    let id = validate::uuid(id, "id")?;
    let v = validate(data, ctx)?;
    let id_hash = v.id.keyed_hash(ctx.id_hash_secret);
    if !settled(&id, &id_hash) {
        return Ok(None);
    }
    let seq = super::journal_new(
        ctx,
        change_of(ctx, &id, &v.village_code),
        "resident_created",
        "resident",
        &id,
        recorded_at,
    )?;
    let row = build_row(ctx, &id, &v, id_hash, recorded_at, recorded_on, seq)?;
    let tags = tag_rows(&id, &row.county_code, &row.village_code, &v.tags);
    Ok(Some((
        Applied {
            id,
            version: 1,
            conflict_id: None,
        },
        NewResident { row, tags },
    )))
}

fn change_of(ctx: &WriteCtx, id: &str, village: &str) -> Change {
    ctx.change(&ctx.auth.county_code, "resident", id, 1).village(village)
}

fn build_row(
    ctx: &WriteCtx,
    id: &str,
    v: &Valid,
    id_hash: String,
    recorded_at: i64,
    recorded_on: NaiveDate,
    seq: i64,
) -> Result<Resident, AppError> {
    let clock: update::FieldClock = FIELDS.iter().map(|f| (f.to_string(), (1, recorded_at))).collect();
    Ok(Resident {
        id: id.to_string(),
        county_code: ctx.auth.county_code.clone(),
        village_code: v.village_code.clone(),
        name: v.name.clone(),
        sex: v.sex.clone(),
        birth_date: crate::time::fmt_date(v.birth_date),
        id_hash,
        id_masked: v.id.masked(),
        phone: v.phone.clone(),
        tags: serde_json::to_string(&v.tags).map_err(AppError::internal)?,
        household_id: v.household_id.clone(),
        registered_on: crate::time::fmt_date(recorded_on),
        field_clock: serde_json::to_string(&clock).map_err(AppError::internal)?,
        merged_into: None,
        version: 1,
        deleted: false,
        recorded_at,
        created_at: ctx.now,
        updated_at: ctx.now,
        change_seq: seq,
        created_by: ctx.auth.user_id.clone(),
        device_id: Some(ctx.auth.device_id.clone()),
    })
}
