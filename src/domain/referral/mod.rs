//! Two-way referrals (双向转诊): a resident sent up (上转) from the village or township to a
//! county or higher hospital, or down (下转) from a hospital back to the family-doctor team.
//! Recorded offline on a tablet like a visit; its content is corrected by an amendment
//! that replaces it (as for visits), and its state moves through [`transition`].
//! docs/domain.md, "Referrals".

pub mod transition;

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::resident::{self, Resident};
use super::{audit, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger::{self, Change};
use crate::schema::{contracts, referrals, visits};
use crate::time::fmt_date;
use crate::vocabulary::ConflictKind;

// Named in the vocabulary because the reports count by it too.
pub use crate::vocabulary::referral::{status, DIRECTIONS, DOWN, UP};

/// Reason codes; free text may stand beside any of them and is required for `other`.
pub const REASON_CODES: [&str; 8] = [
    "htn_uncontrolled",
    "dm_uncontrolled",
    "diagnosis",
    "emergency",
    "specialist",
    "rehabilitation",
    "chronic_followup",
    "other",
];

/// Where the resident is referred to (or, down, from).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferralFacility)]
pub struct Facility {
    /// The hospital's or centre's name, 1–100 characters.
    pub name: String,
    /// Its code in the county's facility list, when the county keeps one (1–40 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A referral as a tablet sends it (`data` of a `referral` create or amend op).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferralPush)]
pub struct ReferralData {
    /// The resident referred.
    pub resident_id: String,
    /// `up` (上转) or `down` (下转).
    pub direction: String,
    /// The other facility.
    #[serde(deserialize_with = "object")]
    pub facility: Facility,
    /// A reason code (see `REASON_CODES` in docs/sync-protocol.md); this or `reason_text` is required.
    #[serde(default)]
    pub reason_code: Option<String>,
    /// The reason in words (required for `other`), up to 500 characters.
    #[serde(default)]
    pub reason_text: Option<String>,
    /// Clinical time of the referral, RFC 3339 with offset.
    pub referred_at: String,
    /// The visit it came from, if any (a visit of the same resident).
    #[serde(default)]
    pub visit_id: Option<String>,
    /// The contract it is served under, if any (a contract of the same resident).
    #[serde(default)]
    pub contract_id: Option<String>,
    /// For an amendment: the referral it corrects.
    #[serde(default)]
    pub amends: Option<String>,
}

/// An object only: serde would also read a struct from an array of its fields in order,
/// which no tablet means.
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(D::Error::custom("expected an object"));
    }
    serde_json::from_value(v).map_err(D::Error::custom)
}

/// A referral as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referrals)]
pub struct Referral {
    /// Its id.
    pub id: String,
    /// County.
    pub county_code: String,
    /// The resident's village when it was recorded (moves carry it along).
    pub village_code: String,
    /// The resident.
    pub resident_id: String,
    /// The team that recorded it.
    pub team_id: Option<String>,
    /// The contract it is served under.
    pub contract_id: Option<String>,
    /// The visit it came from.
    pub visit_id: Option<String>,
    /// `up` or `down`.
    pub direction: String,
    /// The other facility's name.
    pub facility_name: String,
    /// Its code.
    pub facility_code: Option<String>,
    /// Reason code.
    pub reason_code: Option<String>,
    /// Reason in words.
    pub reason_text: Option<String>,
    /// Clinical time, UTC milliseconds.
    pub referred_at: i64,
    /// Its local date.
    pub referred_on: String,
    /// One of [`status::ALL`].
    pub status: String,
    /// When the receiving side confirmed.
    pub received_at: Option<i64>,
    /// Its local date.
    pub received_on: Option<String>,
    /// When it was returned, closed or cancelled.
    pub ended_at: Option<i64>,
    /// Its local date.
    pub ended_on: Option<String>,
    /// The return summary.
    pub summary: Option<String>,
    /// The referral this one corrects.
    pub amends: Option<String>,
    /// The amendment that replaced this one.
    pub amended_by: Option<String>,
    /// Server version.
    pub version: i64,
    /// A tombstone.
    pub deleted: bool,
    /// Server receive time of the first version.
    pub created_at: i64,
    /// Server time of the latest version.
    pub updated_at: i64,
    /// Change-log position of the latest version.
    pub change_seq: i64,
    /// The user who recorded it.
    pub created_by: String,
    /// The device it was recorded on.
    pub device_id: Option<String>,
}

/// Loads a referral by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Referral>, AppError> {
    Ok(referrals::table
        .find(id)
        .select(Referral::as_select())
        .first(conn)
        .optional()?)
}

/// The change-log entry of a referral's version.
pub(crate) fn change_of(ctx: &WriteCtx, r: &Referral, version: i64) -> Change {
    let c = ctx
        .change(&r.county_code, "referral", &r.id, version)
        .village(&r.village_code);
    match &r.team_id {
        Some(t) => c.team(t),
        None => c,
    }
}

/// Records a referral. The same id sent again with the same content is accepted once;
/// with other content the stored one stays and the other is kept in a conflict record.
pub fn create(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &ReferralData) -> Result<Applied, AppError> {
    validate::not_amending(&d.amends)?;
    record(conn, ctx, id, d, None)
}

/// Records an amendment of `data.amends`: it replaces the referral in reads and counts and
/// carries on its state. If the original was already amended (two tablets correcting it
/// offline), this one amends the newest amendment and a conflict flags the pair.
pub fn amend(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &ReferralData) -> Result<Applied, AppError> {
    let original = validate::amended(&d.amends, "referral")?;
    record(conn, ctx, id, d, Some(&original))
}

/// The checked content of a push, before the database is asked.
struct Checked {
    id: String,
    resident_id: String,
    when: crate::time::ClinicalTime,
    facility: Facility,
    reason_code: Option<String>,
    reason_text: Option<String>,
    visit_id: Option<String>,
    contract_id: Option<String>,
}

fn check(ctx: &WriteCtx, id: &str, d: &ReferralData) -> Result<Checked, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    if !DIRECTIONS.contains(&d.direction.as_str()) {
        return Err(AppError::invalid(
            Code::InvalidDirection,
            "direction",
            "direction must be up or down",
        ));
    }
    let facility = Facility {
        name: validate::text(&d.facility.name, "facility.name", 100)?,
        code: validate::opt_text(&d.facility.code, "facility.code", 40)?,
    };
    if let Some(c) = &d.reason_code {
        if !REASON_CODES.contains(&c.as_str()) {
            return Err(AppError::invalid(
                Code::InvalidReason,
                "reason_code",
                "unknown referral reason code",
            ));
        }
    }
    let reason_text = validate::opt_text(&d.reason_text, "reason_text", 500)?;
    match (d.reason_code.as_deref(), &reason_text) {
        (None, None) => {
            return Err(AppError::invalid(
                Code::MissingField,
                "reason_code",
                "a referral gives a reason_code or a reason_text",
            ))
        }
        (Some("other"), None) => {
            return Err(AppError::invalid(
                Code::MissingField,
                "reason_text",
                "reason other needs reason_text",
            ))
        }
        _ => {}
    }
    let opt_uuid = |v: &Option<String>, field: &str| v.as_deref().map(|x| validate::uuid(x, field)).transpose();
    Ok(Checked {
        id,
        resident_id,
        when: validate::clinical(&d.referred_at, "referred_at", ctx)?,
        facility,
        reason_code: d.reason_code.clone(),
        reason_text,
        visit_id: opt_uuid(&d.visit_id, "visit_id")?,
        contract_id: opt_uuid(&d.contract_id, "contract_id")?,
    })
}

/// The visit and contract a referral names must be the resident's own.
fn check_links(conn: &mut DbConn, c: &Checked) -> Result<(), AppError> {
    if let Some(v) = &c.visit_id {
        let owner: Option<(String, bool)> = visits::table
            .find(v)
            .select((visits::resident_id, visits::deleted))
            .first(conn)
            .optional()?;
        if owner != Some((c.resident_id.clone(), false)) {
            return Err(AppError::invalid(
                Code::UnknownVisit,
                "visit_id",
                "no such visit of this resident",
            ));
        }
    }
    if let Some(k) = &c.contract_id {
        let owner: Option<(String, bool)> = contracts::table
            .find(k)
            .select((contracts::resident_id, contracts::deleted))
            .first(conn)
            .optional()?;
        if owner != Some((c.resident_id.clone(), false)) {
            return Err(AppError::invalid(
                Code::UnknownContract,
                "contract_id",
                "no such contract of this resident",
            ));
        }
    }
    Ok(())
}

/// Does a stored referral hold what `c` says (the content a tablet sends)?
fn same_content(r: &Referral, c: &Checked, d: &ReferralData, amends: Option<&str>) -> bool {
    r.resident_id == c.resident_id
        && r.direction == d.direction
        && r.facility_name == c.facility.name
        && r.facility_code == c.facility.code
        && r.reason_code == c.reason_code
        && r.reason_text == c.reason_text
        && r.referred_at == c.when.at
        && r.visit_id == c.visit_id
        && r.contract_id == c.contract_id
        && r.amends.as_deref() == amends
}

fn record(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    d: &ReferralData,
    amends: Option<&str>,
) -> Result<Applied, AppError> {
    let c = check(ctx, id, d)?;
    let res = resident::find_visible(conn, &ctx.auth.scope, &c.resident_id)
        .map_err(|_| AppError::invalid(Code::UnknownResident, "resident_id", "no such resident in your scope"))?;
    if let Some(held) = find(conn, &c.id)? {
        // Another team's record under this id: refused without a word about it.
        if !ctx.auth.scope.covers_village(&held.village_code) {
            return Err(super::id_in_use(false, "a referral with this id exists"));
        }
        let conflict_id = if same_content(&held, &c, d, amends) {
            None
        } else {
            Some(open_divergent(
                conn,
                ctx,
                &res,
                &c.id,
                None,
                None,
                Some(client_value(&c, d, amends)),
            )?)
        };
        return Ok(Applied {
            id: c.id,
            version: held.version,
            conflict_id,
        });
    }
    check_links(conn, &c)?;
    // The record this one amends: the newest in the original's chain.
    let mut conflict_id = None;
    let tip = match amends {
        None => None,
        Some(original) => {
            let first = find(conn, original)?
                .filter(|r| !r.deleted && r.resident_id == c.resident_id)
                .ok_or_else(|| {
                    AppError::invalid(Code::UnknownReferral, "amends", "no such referral of this resident")
                })?;
            let tip = newest(conn, first)?;
            if tip.id != original {
                conflict_id = Some(open_divergent(
                    conn,
                    ctx,
                    &res,
                    &c.id,
                    Some(&tip.id),
                    Some("amends".into()),
                    None,
                )?);
            }
            Some(tip)
        }
    };
    let row = build(ctx, c, d, &res, tip.as_ref());
    let seq = ledger::append(conn, ctx.journal, &change_of(ctx, &row, 1))?;
    let row = Referral { change_seq: seq, ..row };
    diesel::insert_into(referrals::table).values(&row).execute(conn)?;
    if let Some(t) = &tip {
        crate::mark_amended!(conn, ctx, referrals, &t.id, &row.id, |v| change_of(ctx, t, v));
    }
    let action = if tip.is_some() {
        "referral_amended"
    } else {
        "referral_recorded"
    };
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, action)
            .entity("referral", &row.id)
            .at(ctx.now)
            .clinical(row.referred_at),
    )?;
    Ok(Applied {
        id: row.id,
        version: 1,
        conflict_id,
    })
}

/// Follows `amended_by` to the referral that stands for the chain.
pub(crate) fn newest(conn: &mut DbConn, mut r: Referral) -> Result<Referral, AppError> {
    // A chain is short (a correction or two); the bound guards against a cycle in bad data.
    for _ in 0..1000 {
        match r.amended_by.clone() {
            None => return Ok(r),
            Some(next) => match find(conn, &next)? {
                Some(n) => r = n,
                None => return Ok(r),
            },
        }
    }
    Err(AppError::internal("a referral's amendment chain does not end"))
}

/// A new row: the content checked, the state carried over from the referral it amends.
fn build(ctx: &WriteCtx, c: Checked, d: &ReferralData, res: &Resident, tip: Option<&Referral>) -> Referral {
    Referral {
        id: c.id,
        county_code: res.county_code.clone(),
        village_code: res.village_code.clone(),
        resident_id: c.resident_id,
        team_id: ctx.auth.team_id.clone(),
        contract_id: c.contract_id,
        visit_id: c.visit_id,
        direction: d.direction.clone(),
        facility_name: c.facility.name,
        facility_code: c.facility.code,
        reason_code: c.reason_code,
        reason_text: c.reason_text,
        referred_at: c.when.at,
        referred_on: fmt_date(c.when.local_date),
        status: tip.map_or(status::SENT.to_string(), |t| t.status.clone()),
        received_at: tip.and_then(|t| t.received_at),
        received_on: tip.and_then(|t| t.received_on.clone()),
        ended_at: tip.and_then(|t| t.ended_at),
        ended_on: tip.and_then(|t| t.ended_on.clone()),
        summary: tip.and_then(|t| t.summary.clone()),
        amends: tip.map(|t| t.id.clone()),
        amended_by: None,
        version: 1,
        deleted: false,
        created_at: ctx.now,
        updated_at: ctx.now,
        change_seq: 0,
        created_by: ctx.auth.user_id.clone(),
        device_id: Some(ctx.auth.device_id.clone()),
    }
}

fn client_value(c: &Checked, d: &ReferralData, amends: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "resident_id": c.resident_id, "direction": d.direction, "facility": c.facility,
        "reason_code": c.reason_code, "reason_text": c.reason_text, "referred_at": d.referred_at,
        "visit_id": c.visit_id, "contract_id": c.contract_id, "amends": amends,
    })
}

fn open_divergent(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    res: &Resident,
    id: &str,
    other: Option<&str>,
    field: Option<String>,
    client_value: Option<serde_json::Value>,
) -> Result<String, AppError> {
    review::open_conflict(
        conn,
        ctx,
        review::NewConflict {
            kind: ConflictKind::DivergentAppend,
            entity: "referral",
            entity_id: id,
            other_entity_id: other,
            field,
            county_code: &res.county_code,
            village_code: Some(&res.village_code),
            server_value: None,
            client_value,
        },
    )
}

/// Deletes a referral recorded in error: a tombstone that pulls carry; it no longer counts.
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    crate::tombstone!(conn, ctx, referrals, "referral", id)
}
