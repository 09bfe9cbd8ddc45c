//! Family-doctor service contracts (签约服务协议).
//!
//! States: `DRAFT → SIGNED → ACTIVE → {EXPIRED, TERMINATED, RENEWED}`, `DRAFT → CANCELLED`,
//! any signed state → `VOIDED`; `PENDING_REVIEW` holds a second signing of a resident who
//! already has a contract in effect with another team, until a supervisor decides.
//! `ACTIVE` and `EXPIRED` follow from the dates: a stored `SIGNED` contract is active
//! while today is inside its term and expired after, without anyone pushing it.

pub mod transition;

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{audit, resident, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger::{self, Change};
use crate::schema::{contract_packages, contracts, county_settings};
use crate::time::fmt_date;
use crate::vocabulary::{self, ConflictKind, ContractStatus};

/// Stored statuses of a contract in effect, dates aside (a rival to a new signing).
pub const IN_EFFECT: [ContractStatus; 2] = [ContractStatus::Signed, ContractStatus::Active];

/// The status a reader sees on a date: stored `SIGNED`/`ACTIVE` become `ACTIVE` inside the
/// term and `EXPIRED` after it.
pub fn effective_status(stored: ContractStatus, from: &str, to: &str, today: &str) -> ContractStatus {
    use ContractStatus::{Active, Expired, Signed};
    match stored {
        Signed | Active if today > to => Expired,
        Signed | Active if today >= from => Active,
        other => other,
    }
}

/// A contract as a tablet sends it (`data` of a `contract` create op).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContractPush)]
pub struct ContractData {
    /// The resident.
    pub resident_id: String,
    /// The signing team (a doctor's own team).
    pub team_id: String,
    /// The responsible doctor (a user id).
    #[serde(default)]
    pub doctor_id: Option<String>,
    /// Package codes; `BASIC` is always included.
    pub packages: Vec<String>,
    /// `DRAFT` or `SIGNED`.
    pub status: String,
    /// Clinical instant of signing (required when `SIGNED`).
    #[serde(default)]
    pub signed_at: Option<String>,
    /// First day in effect.
    pub effective_from: String,
    /// Last day in effect; defaults to the county's term (one year) from `effective_from`.
    #[serde(default)]
    pub effective_to: Option<String>,
    /// SHA-256 of the signature image blob.
    #[serde(default)]
    pub signature_sha256: Option<String>,
    /// The predecessor this contract renews.
    #[serde(default)]
    pub renews: Option<String>,
}

/// A contract row (also what a new contract's INSERT writes).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contracts)]
pub struct Contract {
    pub id: String,
    pub county_code: String,
    pub village_code: String,
    pub resident_id: String,
    pub team_id: String,
    pub doctor_id: Option<String>,
    pub status: String,
    pub signed_at: Option<i64>,
    pub signed_on: Option<String>,
    pub effective_from: String,
    pub effective_to: String,
    pub ended_on: Option<String>,
    pub end_reason: Option<String>,
    pub end_reason_text: Option<String>,
    pub signature_sha256: Option<String>,
    pub renews: Option<String>,
    pub renewed_by: Option<String>,
    pub supersedes: Option<String>,
    pub version: i64,
    pub deleted: bool,
    pub recorded_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub change_seq: i64,
    pub created_by: String,
    pub device_id: Option<String>,
}

/// A contract as outputs show it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = ContractPulled)]
pub struct ContractView {
    pub id: String,
    pub resident_id: String,
    pub team_id: String,
    pub doctor_id: Option<String>,
    /// Status as of today (`ACTIVE`/`EXPIRED` follow from the dates).
    #[schema(value_type = String)]
    pub status: ContractStatus,
    pub signed_at: Option<String>,
    pub effective_from: String,
    pub effective_to: String,
    pub ended_on: Option<String>,
    pub end_reason: Option<String>,
    pub signature_sha256: Option<String>,
    pub renews: Option<String>,
    pub renewed_by: Option<String>,
    pub packages: Vec<String>,
    pub version: i64,
}

impl Contract {
    /// The stored status (an unknown one is an internal error).
    pub fn stored_status(&self) -> Result<ContractStatus, AppError> {
        vocabulary::stored("contracts.status", &self.status, ContractStatus::parse)
    }

    /// The status as of `today`: see [`effective_status`].
    pub fn status_on(&self, today: &str) -> Result<ContractStatus, AppError> {
        let (stored, from, to) = (self.stored_status()?, &self.effective_from, &self.effective_to);
        Ok(effective_status(stored, from, to, today))
    }

    /// The output form with its package codes.
    pub fn view(&self, packages: Vec<String>) -> Result<ContractView, AppError> {
        let today = fmt_date(crate::time::today_cst());
        Ok(ContractView {
            id: self.id.clone(),
            resident_id: self.resident_id.clone(),
            team_id: self.team_id.clone(),
            doctor_id: self.doctor_id.clone(),
            status: self.status_on(&today)?,
            signed_at: self.signed_at.map(crate::time::fmt_instant),
            effective_from: self.effective_from.clone(),
            effective_to: self.effective_to.clone(),
            ended_on: self.ended_on.clone(),
            end_reason: self.end_reason.clone(),
            signature_sha256: self.signature_sha256.clone(),
            renews: self.renews.clone(),
            renewed_by: self.renewed_by.clone(),
            packages,
            version: self.version,
        })
    }
}

/// Package codes of a contract.
pub fn package_codes(conn: &mut DbConn, contract_id: &str) -> Result<Vec<String>, AppError> {
    Ok(contract_packages::table
        .filter(contract_packages::contract_id.eq(contract_id))
        .order(contract_packages::package_code)
        .select(contract_packages::package_code)
        .load(conn)?)
}

/// Finds a contract by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Contract>, AppError> {
    Ok(contracts::table
        .find(id)
        .select(Contract::as_select())
        .first(conn)
        .optional()?)
}

/// The county's contract term in months (default 12).
pub fn term_months(conn: &mut DbConn, county: &str) -> Result<u32, AppError> {
    let m: Option<i32> = county_settings::table
        .find(county)
        .select(county_settings::contract_term_months)
        .first(conn)
        .optional()?;
    Ok(m.unwrap_or(12).clamp(1, 60) as u32)
}

/// The package catalog as signing sees it: active package code → (price, self-pay), fen.
pub type Catalog = std::collections::HashMap<String, (i64, i64)>;

/// Loads the county's active packages (a batch of new contracts prices them all from one read).
pub fn catalog(conn: &mut DbConn, county: &str) -> Result<Catalog, AppError> {
    super::catalog::active_prices(conn, county)
}

/// A `contract_packages` row: a package of a contract at its price on signing.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = contract_packages)]
pub struct PackageRow {
    contract_id: String,
    package_code: String,
    price_fen: i64,
    self_pay_fen: i64,
    county_code: String,
}

/// What the checks that need no database yield.
struct Checked {
    id: String,
    resident_id: String,
    team_id: String,
    doctor_id: Option<String>,
    signed: bool,
    signed_at: Option<crate::time::ClinicalTime>,
    from: NaiveDate,
    to: Option<NaiveDate>,
    packages: Vec<String>,
    signature: Option<String>,
    renews: Option<String>,
}

fn check(ctx: &WriteCtx, id: &str, d: &ContractData) -> Result<Checked, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    let team_id = validate::uuid(&d.team_id, "team_id")?;
    let doctor_id = d
        .doctor_id
        .as_deref()
        .map(|x| validate::uuid(x, "doctor_id"))
        .transpose()?;
    match &ctx.auth.team_id {
        Some(own) if *own == team_id => {}
        Some(_) => {
            return Err(AppError::invalid(
                Code::OutOfScope,
                "team_id",
                "a doctor signs for their own team",
            ))
        }
        None => {
            return Err(AppError::invalid(
                Code::OutOfScope,
                "team_id",
                "only team members sign contracts",
            ))
        }
    }
    let signed = match ContractStatus::parse(&d.status) {
        Some(ContractStatus::Draft) => false,
        Some(ContractStatus::Signed) => true,
        _ => {
            return Err(AppError::invalid(
                Code::InvalidStatus,
                "status",
                "a new contract is DRAFT or SIGNED",
            ))
        }
    };
    let signed_at = match (&d.signed_at, signed) {
        (Some(s), _) => Some(validate::clinical(s, "signed_at", ctx)?),
        (None, true) => {
            return Err(AppError::invalid(
                Code::MissingField,
                "signed_at",
                "a SIGNED contract needs signed_at",
            ))
        }
        (None, false) => None,
    };
    let from = validate::date(&d.effective_from, "effective_from")?;
    let to = d
        .effective_to
        .as_deref()
        .map(|t| validate::date(t, "effective_to"))
        .transpose()?;
    let mut packages: Vec<String> = d.packages.clone();
    packages.sort();
    packages.dedup();
    if packages.len() != d.packages.len() {
        return Err(AppError::invalid(
            Code::DuplicatePackage,
            "packages",
            "a package is listed twice",
        ));
    }
    if !packages.iter().any(|c| c == "BASIC") {
        return Err(AppError::invalid(
            Code::BasicPackageRequired,
            "packages",
            "every contract includes the BASIC package",
        ));
    }
    Ok(Checked {
        id,
        resident_id,
        team_id,
        doctor_id,
        signed,
        signed_at,
        from,
        to,
        packages,
        signature: d
            .signature_sha256
            .as_deref()
            .map(|s| validate::sha256(s, "signature_sha256"))
            .transpose()?,
        renews: d.renews.as_deref().map(|r| validate::uuid(r, "renews")).transpose()?,
    })
}

/// The resident a contract is signed for must not have been merged away.
fn check_resident(res: &resident::Resident) -> Result<(), AppError> {
    if res.merged_into.is_some() {
        return Err(AppError::invalid(
            Code::ResidentMerged,
            "resident_id",
            "this resident was merged; sign the surviving record",
        ));
    }
    Ok(())
}

/// The last day in effect: as sent, or the county's term from the first day; at most five years.
fn last_day(c: &Checked, term_months: u32) -> Result<NaiveDate, AppError> {
    let to = match c.to {
        Some(t) => t,
        None => c
            .from
            .checked_add_months(Months::new(term_months))
            .and_then(|x| x.pred_opt())
            .ok_or_else(|| AppError::invalid(Code::InvalidDate, "effective_from", "effective_from is out of range"))?,
    };
    if to < c.from {
        return Err(AppError::invalid(
            Code::InvalidPeriod,
            "effective_to",
            "effective_to is before effective_from",
        ));
    }
    if to > c.from + chrono::Days::new(5 * 366) {
        return Err(AppError::invalid(
            Code::InvalidPeriod,
            "effective_to",
            "a contract term is at most five years",
        ));
    }
    Ok(to)
}

/// Prices the packages from the catalog; an unknown or withdrawn code is refused.
fn priced(c: &Checked, catalog: &Catalog, county: &str) -> Result<Vec<PackageRow>, AppError> {
    c.packages
        .iter()
        .map(|code| match catalog.get(code) {
            Some((price, self_pay)) => Ok(PackageRow {
                contract_id: c.id.clone(),
                package_code: code.clone(),
                price_fen: *price,
                self_pay_fen: *self_pay,
                county_code: county.to_string(),
            }),
            None => Err(AppError::invalid(
                Code::UnknownPackage,
                "packages",
                "unknown or withdrawn package code",
            )),
        })
        .collect()
}

/// Creates a contract. A second contract in effect for the same resident (another team
/// signing offline) is stored as `PENDING_REVIEW` with a conflict for the supervisor.
pub fn create(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    d: &ContractData,
    recorded_at: i64,
) -> Result<Applied, AppError> {
    let c = check(ctx, id, d)?;
    let res = resident::find_visible(conn, &ctx.auth.scope, &c.resident_id)
        .map_err(|_| AppError::invalid(Code::UnknownResident, "resident_id", "no such resident in your scope"))?;
    check_resident(&res)?;
    let to = last_day(&c, term_months(conn, &res.county_code)?)?;
    let packages = priced(&c, &catalog(conn, &res.county_code)?, &res.county_code)?;
    if let Some(p) = &c.renews {
        let ok = find(conn, p)?.is_some_and(|x| x.resident_id == c.resident_id && !x.deleted);
        if !ok {
            return Err(AppError::invalid(
                Code::UnknownContract,
                "renews",
                "renews must name a contract of the same resident",
            ));
        }
    }
    if let Some(stored) = find(conn, &c.id)? {
        let mine = ctx.auth.scope.covers_village(&stored.village_code);
        // The same contract sent again under a new op id (a reinstalled tablet's queue):
        // nothing to do. Other content, or another team's record, is a claim on the id
        // that confirms nothing about that record.
        if mine {
            let wanted = build_row(ctx, &c, &res, to, false, recorded_at, 0);
            if same_contract(conn, &stored, &wanted, &c.packages)? {
                return Ok(Applied {
                    id: c.id,
                    version: stored.version,
                    conflict_id: None,
                });
            }
        }
        return Err(super::id_in_use(
            mine,
            "a contract with this id exists with other content; pull it",
        ));
    }
    // Another contract in effect over these dates → hold this one for review. Two teams
    // signing the same resident at the same moment must see each other: the resident's
    // row lock makes the second wait for the first to commit (PostgreSQL).
    let rival = if c.signed {
        resident::lock_row(conn, &c.resident_id)?;
        find_rival(conn, &c.resident_id, c.from, to, c.renews.as_deref())?
    } else {
        None
    };
    let seq = ledger::append(conn, ctx.journal, &change_of(ctx, &res, &c))?;
    let row = build_row(ctx, &c, &res, to, rival.is_some(), recorded_at, seq);
    diesel::insert_into(contracts::table).values(&row).execute(conn)?;
    crate::insert_many!(conn, contract_packages::table, &packages)?;
    if let (Some(p), Ok(ContractStatus::Signed)) = (&c.renews, row.stored_status()) {
        transition::mark_renewed(conn, ctx, p, &c.id)?;
    }
    let conflict_id = match rival {
        None => None,
        Some(other) => Some(review::open_conflict(
            conn,
            ctx,
            review::NewConflict {
                kind: ConflictKind::DoubleSigning,
                entity: "contract",
                entity_id: &c.id,
                other_entity_id: Some(&other),
                field: None,
                county_code: &res.county_code,
                village_code: Some(&res.village_code),
                server_value: None,
                client_value: None,
            },
        )?),
    };
    audit::record_for(conn, ctx, created_entry(ctx, &row))?;
    Ok(Applied {
        id: c.id,
        version: 1,
        conflict_id,
    })
}

/// Whether a stored contract holds what this create would store, in the state it was
/// created in (a contract's content never changes; its state may have moved on, and then
/// the tablet has to pull).
fn same_contract(
    conn: &mut DbConn,
    stored: &Contract,
    wanted: &Contract,
    packages: &[String],
) -> Result<bool, AppError> {
    let same = !stored.deleted
        && stored.resident_id == wanted.resident_id
        && stored.team_id == wanted.team_id
        && stored.doctor_id == wanted.doctor_id
        && stored.status == wanted.status
        && stored.signed_at == wanted.signed_at
        && stored.effective_from == wanted.effective_from
        && stored.effective_to == wanted.effective_to
        && stored.signature_sha256 == wanted.signature_sha256
        && stored.renews == wanted.renews;
    let mut stored_packages = package_codes(conn, &stored.id)?;
    stored_packages.sort();
    Ok(same && stored_packages == packages)
}

/// A new contract checked inside a push batch: its row and package rows, to be written
/// together with the batch's other new contracts.
pub struct NewContract {
    /// The contract row.
    pub row: Contract,
    /// Its `contract_packages` rows.
    pub packages: Vec<PackageRow>,
}

/// What a batch knows for signing without a query.
pub struct BatchSigning<'a> {
    /// The active packages.
    pub catalog: &'a Catalog,
    /// The county's contract term in months.
    pub term_months: u32,
}

/// Creates a contract inside a push batch without a query: the rules of [`create`] for a
/// resident the batch loaded (visible to the caller), the rows returned to be written with
/// the batch. `settled(id, from, to)` says whether the batch knows the id is unused and
/// no other contract of the resident is in effect over those dates; when it does not, or
/// the contract renews another, this answers `Ok(None)` before keeping anything and the
/// op takes [`create`].
pub fn create_in_batch(
    ctx: &WriteCtx,
    id: &str,
    d: &ContractData,
    res: &resident::Resident,
    known: &BatchSigning,
    recorded_at: i64,
    settled: impl FnOnce(&str, NaiveDate, NaiveDate) -> bool,
) -> Result<Option<(Applied, NewContract)>, AppError> {
    let c = check(ctx, id, d)?;
    if c.renews.is_some() || c.resident_id != res.id {
        return Ok(None);
    }
    check_resident(res)?;
    let to = last_day(&c, known.term_months)?;
    let packages = priced(&c, known.catalog, &res.county_code)?;
    if !settled(&c.id, c.from, to) {
        return Ok(None);
    }
    let row = build_row(ctx, &c, res, to, false, recorded_at, 0);
    let seq = super::journal_entry(ctx, change_of(ctx, res, &c), created_entry(ctx, &row))?;
    Ok(Some((
        Applied {
            id: c.id,
            version: 1,
            conflict_id: None,
        },
        NewContract {
            row: Contract { change_seq: seq, ..row },
            packages,
        },
    )))
}

fn change_of(ctx: &WriteCtx, res: &resident::Resident, c: &Checked) -> Change {
    ctx.change(&res.county_code, "contract", &c.id, 1)
        .village(&res.village_code)
        .team(&c.team_id)
}

fn created_entry(ctx: &WriteCtx, row: &Contract) -> audit::Entry {
    audit::Entry::actor(ctx.auth, "contract_created")
        .entity("contract", &row.id)
        .detail(serde_json::json!({ "status": row.status }))
        .at(ctx.now)
        .clinical(row.recorded_at)
}

fn build_row(
    ctx: &WriteCtx,
    c: &Checked,
    res: &resident::Resident,
    to: NaiveDate,
    held: bool,
    recorded_at: i64,
    seq: i64,
) -> Contract {
    let stored_status = match (held, c.signed) {
        (true, _) => ContractStatus::PendingReview,
        (false, true) => ContractStatus::Signed,
        (false, false) => ContractStatus::Draft,
    };
    Contract {
        id: c.id.clone(),
        county_code: res.county_code.clone(),
        village_code: res.village_code.clone(),
        resident_id: c.resident_id.clone(),
        team_id: c.team_id.clone(),
        doctor_id: c.doctor_id.clone(),
        status: stored_status.as_str().to_string(),
        signed_at: c.signed_at.map(|t| t.at),
        signed_on: c.signed_at.map(|t| fmt_date(t.local_date)),
        effective_from: fmt_date(c.from),
        effective_to: fmt_date(to),
        ended_on: None,
        end_reason: None,
        end_reason_text: None,
        signature_sha256: c.signature.clone(),
        renews: c.renews.clone(),
        renewed_by: None,
        supersedes: None,
        version: 1,
        deleted: false,
        recorded_at,
        created_at: ctx.now,
        updated_at: ctx.now,
        change_seq: seq,
        created_by: ctx.auth.user_id.clone(),
        device_id: Some(ctx.auth.device_id.clone()),
    }
}

/// A contract of the resident in effect over `from..=to`, other than the predecessor a
/// renewal names: a second signing that a supervisor must decide on.
pub(crate) fn find_rival(
    conn: &mut DbConn,
    resident_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    renews: Option<&str>,
) -> Result<Option<String>, AppError> {
    let in_effect: Vec<String> = contracts::table
        .filter(contracts::resident_id.eq(resident_id))
        .filter(contracts::deleted.eq(false))
        .filter(contracts::status.eq_any(IN_EFFECT.map(ContractStatus::as_str)))
        .filter(contracts::effective_from.le(fmt_date(to)))
        .filter(contracts::effective_to.ge(fmt_date(from)))
        .filter(contracts::ended_on.is_null())
        .select(contracts::id)
        .load(conn)?;
    Ok(in_effect.into_iter().find(|r| renews != Some(r.as_str())))
}

/// Parses a stored date (always valid: written by this module).
pub fn stored_date(s: &str) -> Option<NaiveDate> {
    crate::time::parse_date(s)
}
