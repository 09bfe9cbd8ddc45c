//! The counting queries behind every indicator. Each returns counts per (village, team):
//! the village is where the resident lived at the end of the period, the team the one
//! whose contract made the resident count (none for residents without a contract in the
//! period). Reports sum these cells; nothing here knows about groups or denominators.
//!
//! Conventions (docs/reports.md, "How every figure is counted"): clinical dates; voided, cancelled, pending-review, draft,
//! deleted and merged-away records never count; an amended visit or survey counts once,
//! with its amended values (the row that is not `amended_by` anything); so does a referral,
//! and a cancelled one not at all. The measures themselves and how the per-resident query
//! selects each are in `measures`.

use std::collections::HashMap;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;

use super::measures::{select_list, Facts, ResidentRow, M};
use super::period::Period;
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;
use crate::time::fmt_date;
use crate::vocabulary::referral::{self, DOWN, UP};
use crate::vocabulary::{ContractStatus, FOLLOWUP_KINDS, RECORDED_TAGS};

/// Statuses whose contracts count as signed and in effect for their dates.
pub const COUNTING: [ContractStatus; 5] = [
    ContractStatus::Signed,
    ContractStatus::Active,
    ContractStatus::Expired,
    ContractStatus::Terminated,
    ContractStatus::Renewed,
];

/// An up-referral counts as received in time when the receiving side confirmed it at most
/// 7 × 24 hours after it was sent (`referrals_up_received_7d`).
const RECEIVED_WITHIN_MS: i64 = 7 * 24 * 3600 * 1000;

/// Counts by (village at period end, team of the counting contract; `None`: no contract).
pub type FactTable = HashMap<(String, Option<String>), Facts>;

/// Codes between `lo` and `hi` (inclusive): every 12-digit code starting with a prefix.
#[derive(Debug, Clone)]
pub struct CodeRange {
    /// Smallest code.
    pub lo: String,
    /// Largest code.
    pub hi: String,
}

impl CodeRange {
    /// The range of 12-digit codes that start with `prefix`.
    pub fn prefix(prefix: &str) -> CodeRange {
        CodeRange {
            lo: format!("{prefix:0<12}"),
            hi: format!("{prefix:9<12}"),
        }
    }

    /// Does the range hold every village of a county?
    fn whole_county(&self) -> bool {
        self.lo.ends_with("000000") && self.hi.ends_with("999999")
    }
}

/// What a counting query reads and how it returns it. One query builder serves the
/// grouped count, the per-resident count that incremental refreshes keep, and the
/// recount of a few residents, so the indicator rules exist once.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    /// Villages counted (end-of-period village).
    pub(super) range: &'a CodeRange,
    /// Only these residents (used with the whole county's range).
    pub(super) ids: Option<&'a [String]>,
    /// One row per resident (per contract) instead of sums per (village, team) cell.
    pub(super) detail: bool,
}

/// SQL text with its `?` binds, in order.
#[derive(Default)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) binds: Vec<Bind>,
}

impl Sql {
    fn s(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    fn b(&mut self, v: impl Into<Bind>) -> &mut Self {
        self.text.push('?');
        self.binds.push(v.into());
        self
    }
}

/// Dates the queries compare against.
pub(super) struct Dates {
    start: String,
    end: String,
    /// Born on or before: aged 65 or more at the end.
    born_65: String,
    /// Born after: younger than 7 at the end.
    born_7: String,
}

fn quoted(items: &[&str]) -> String {
    items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(",")
}

/// Fixed-width text of an instant (epoch ms shifted to stay positive and 13 digits wide
/// from 1875 to 2190), so that "the latest row" is the MAX of a concatenated key: portable
/// across both backends, and planned as a plain GROUP BY (window functions over derived
/// tables made SQLite scan them once per resident).
fn instant_key(col: &str) -> String {
    format!("CAST(COALESCE({col}, 0) + 3000000000000 AS TEXT)")
}

/// `mv`: the village a resident who ever moved lived in at the end of the period — the
/// destination of the last move on or before it, else the origin of the first move after it.
/// Keys: moved_on (10) + recorded_at (13) + village (12, from position 24).
fn moves_cte(q: &mut Sql, county: &str, t: Target, d: &Dates) {
    let rec = instant_key("m.recorded_at");
    q.s(&cte("mv", t))
        .s("SELECT resident_id, SUBSTR(COALESCE(MAX(CASE WHEN m.moved_on <= ")
        .b(d.end.clone())
        .s(&format!(
            " THEN m.moved_on || {rec} || m.to_village END), MIN(CASE WHEN m.moved_on > "
        ))
        .b(d.end.clone())
        .s(&format!(
            " THEN m.moved_on || {rec} || m.from_village END)), 24) AS village \
             FROM resident_moves m WHERE m.county_code{}",
            county_eq(t)
        ))
        .b(county);
    only_ids(q, "m.resident_id", t);
    q.s(" GROUP BY m.resident_id)");
}

/// `cand` (below a county only): residents whose end-of-period village may lie in the
/// range — those living there now, and those with a move from or to a village there.
/// Every other aggregate is restricted to them, so a township report reads a township.
fn cand_cte(q: &mut Sql, county: &str, t: Target) {
    let range = t.range;
    if range.whole_county() || t.ids.is_some() {
        return;
    }
    q.s(", cand AS (SELECT id FROM residents WHERE county_code = ")
        .b(county)
        .s(" AND village_code >= ")
        .b(range.lo.clone())
        .s(" AND village_code <= ")
        .b(range.hi.clone())
        .s(" UNION SELECT resident_id FROM resident_moves WHERE county_code = ")
        .b(county)
        .s(" AND ((from_village >= ")
        .b(range.lo.clone())
        .s(" AND from_village <= ")
        .b(range.hi.clone())
        .s(") OR (to_village >= ")
        .b(range.lo.clone())
        .s(" AND to_village <= ")
        .b(range.hi.clone())
        .s(")))");
}

/// Restricts a resident id column to `cand` (nothing to do for a whole county) or to the
/// residents asked for.
fn only_cand(q: &mut Sql, col: &str, t: Target) {
    if t.ids.is_some() {
        only_ids(q, col, t);
    } else if !t.range.whole_county() {
        q.s(&format!(" AND {col} IN (SELECT id FROM cand)"));
    }
}

/// ` = ` before a county code, or (a few residents asked for) ` || '' = `: the county
/// condition then cannot pick a county index, so SQLite reads each table through its
/// resident index for just those residents instead of the county's year of rows.
fn county_eq(t: Target) -> &'static str {
    if t.ids.is_some() {
        " || '' = "
    } else {
        " = "
    }
}

/// How a per-resident aggregate is declared. For a few residents asked for it is
/// `MATERIALIZED`: PostgreSQL estimates one row per aggregate and would run each one again
/// for every resident in a nested loop (335 ms for 250 residents, 28 ms materialized).
fn cte(name: &str, t: Target) -> String {
    if t.ids.is_some() {
        format!("{name} AS MATERIALIZED (")
    } else {
        format!("{name} AS (")
    }
}

/// Restricts a resident id column to the residents asked for, if any.
fn only_ids(q: &mut Sql, col: &str, t: Target) {
    if let Some(ids) = t.ids {
        q.s(&format!(" AND {col} IN ("));
        for (k, id) in ids.iter().enumerate() {
            if k > 0 {
                q.s(",");
            }
            q.b(id.as_str());
        }
        q.s(")");
    }
}

/// Live residents registered by the end of the period that may count in the range (movers
/// and the range itself are checked again once their end-of-period village is known).
fn live_residents(q: &mut Sql, county: &str, t: Target, d: &Dates) {
    if t.ids.is_some() {
        q.s("r.county_code").s(county_eq(t)).b(county);
        only_ids(q, "r.id", t);
    } else if t.range.whole_county() {
        // `|| ''` keeps SQLite off the county index: reading the whole table in order is
        // faster than visiting every row through an index.
        q.s("r.county_code || '' = ").b(county);
    } else {
        q.s("r.county_code = ")
            .b(county)
            .s(" AND r.id IN (SELECT id FROM cand)");
    }
    q.s(" AND r.deleted = FALSE AND r.merged_into IS NULL AND r.registered_on <= ")
        .b(d.end.clone());
}

fn in_effect(q: &mut Sql, d: &Dates) {
    q.s("c.deleted = FALSE AND c.status IN (")
        .s(&quoted(&COUNTING.map(ContractStatus::as_str)))
        .s(") AND c.effective_from <= ")
        .b(d.end.clone())
        .s(" AND (CASE WHEN c.ended_on IS NOT NULL AND c.ended_on < c.effective_to THEN c.ended_on ELSE c.effective_to END) >= ")
        .b(d.start.clone());
}

fn live_visits(q: &mut Sql, county: &str, t: Target, d: &Dates) {
    q.s("v.county_code")
        .s(county_eq(t))
        .b(county)
        .s(" AND v.occurred_on >= ")
        .b(d.start.clone())
        .s(" AND v.occurred_on <= ")
        .b(d.end.clone())
        .s(" AND v.amended_by IS NULL AND v.deleted = FALSE");
}

fn live_referrals(q: &mut Sql, county: &str, t: Target, d: &Dates) {
    q.s("f.county_code")
        .s(county_eq(t))
        .b(county)
        .s(" AND f.referred_on >= ")
        .b(d.start.clone())
        .s(" AND f.referred_on <= ")
        .b(d.end.clone())
        .s(&format!(
            " AND f.amended_by IS NULL AND f.deleted = FALSE AND f.status <> '{}'",
            referral::status::CANCELLED
        ));
}

fn live_surveys(q: &mut Sql, county: &str, t: Target, d: &Dates) {
    q.s("s.county_code")
        .s(county_eq(t))
        .b(county)
        .s(" AND s.answered_on >= ")
        .b(d.start.clone())
        .s(" AND s.answered_on <= ")
        .b(d.end.clone())
        .s(" AND s.amended_by IS NULL AND s.deleted = FALSE");
}

/// The per-resident query: registrations, key populations, signings, services, surveys.
pub(super) fn resident_query(county: &str, t: Target, d: &Dates) -> Sql {
    let range = t.range;
    let mut q = Sql::default();
    q.s("WITH ");
    moves_cte(&mut q, county, t, d);
    cand_cte(&mut q, county, t);
    // The resident's contract for the period: the latest in effect (one team per resident).
    // Key: effective_from (10) + signed_at (13) + id (36) + team_id (from position 60).
    q.s(&format!(
        ", {}SELECT c.resident_id, SUBSTR(MAX(c.effective_from || {} || c.id || c.team_id), 60) AS team_id \
         FROM contracts c WHERE c.county_code{}",
        cte("pc", t),
        instant_key("c.signed_at"),
        county_eq(t)
    ))
    .b(county)
    .s(" AND ");
    in_effect(&mut q, d);
    only_cand(&mut q, "c.resident_id", t);
    q.s(" GROUP BY c.resident_id)");
    // Recorded tags, one row per resident.
    q.s(", ").s(&cte("tg", t)).s("SELECT resident_id, 1 AS t_any");
    for t in RECORDED_TAGS {
        q.s(&format!(", MAX(CASE WHEN tag = '{t}' THEN 1 ELSE 0 END) AS t_{t}"));
    }
    q.s(" FROM resident_tags WHERE county_code").s(county_eq(t)).b(county);
    only_ids(&mut q, "resident_id", t);
    q.s(" GROUP BY resident_id)");
    // Residents with their end-of-period village and flags.
    q.s(
        ", base AS (SELECT r.id, COALESCE(mv.village, r.village_code) AS v, pc.team_id AS team, \
         CASE WHEN pc.resident_id IS NULL THEN 0 ELSE 1 END AS s, CASE WHEN r.birth_date <= ",
    )
    .b(d.born_65.clone())
    .s(" THEN 1 ELSE 0 END AS t_elderly, CASE WHEN r.birth_date > ")
    .b(d.born_7.clone())
    .s(" AND r.birth_date <= ")
    .b(d.end.clone())
    .s(" THEN 1 ELSE 0 END AS t_child, COALESCE(tg.t_any, 0) AS t_any");
    for t in RECORDED_TAGS {
        q.s(&format!(", COALESCE(tg.t_{t}, 0) AS t_{t}"));
    }
    q.s(
        " FROM residents r LEFT JOIN mv ON mv.resident_id = r.id LEFT JOIN pc ON pc.resident_id = r.id \
         LEFT JOIN tg ON tg.resident_id = r.id WHERE ",
    );
    live_residents(&mut q, county, t, d);
    q.s(")");
    // Services in the period, per resident; the last follow-up of a kind decides control.
    // Key: occurred_at (13) + id (36) + controlled flag (position 50).
    let fu = quoted(&FOLLOWUP_KINDS);
    let at = instant_key("v.occurred_at");
    let va = cte("va", t);
    q.s(&format!(
        ", {va}SELECT v.resident_id, \
         SUM(CASE WHEN v.kind = 'htn_followup' THEN 1 ELSE 0 END) AS htn_n, \
         SUM(CASE WHEN v.kind = 'dm_followup' THEN 1 ELSE 0 END) AS dm_n, \
         SUM(CASE WHEN v.kind = 'smi_followup' THEN 1 ELSE 0 END) AS smi_n, \
         SUM(CASE WHEN v.kind = 'tb_followup' THEN 1 ELSE 0 END) AS tb_n, \
         SUM(CASE WHEN v.kind = 'elderly_check' THEN 1 ELSE 0 END) AS ec_n, \
         SUM(CASE WHEN v.kind IN ({fu}) THEN 1 ELSE 0 END) AS fu_n, \
         MAX(CASE WHEN v.kind = 'htn_followup' THEN {at} || v.id || \
             CASE WHEN v.systolic < 140 AND v.diastolic < 90 THEN '1' ELSE '0' END END) AS htn_last, \
         MAX(CASE WHEN v.kind = 'dm_followup' THEN {at} || v.id || \
             CASE WHEN v.fasting_glucose < 7.0 THEN '1' ELSE '0' END END) AS dm_last \
         FROM visits v WHERE "
    ));
    live_visits(&mut q, county, t, d);
    only_cand(&mut q, "v.resident_id", t);
    q.s(" GROUP BY v.resident_id)");
    // The latest response in the period that answers each item. Key as for visits.
    let at = instant_key("s.answered_at");
    let sa = cte("sa", t);
    q.s(&format!(
        ", {sa}SELECT s.resident_id, \
         MAX(CASE WHEN s.satisfied IS NOT NULL THEN {at} || s.id || \
             CASE WHEN s.satisfied = TRUE THEN '1' ELSE '0' END END) AS sat_last, \
         MAX(CASE WHEN s.aware IS NOT NULL THEN {at} || s.id || \
             CASE WHEN s.aware = TRUE THEN '1' ELSE '0' END END) AS aware_last \
         FROM survey_responses s WHERE "
    ));
    live_surveys(&mut q, county, t, d);
    only_cand(&mut q, "s.resident_id", t);
    q.s(" GROUP BY s.resident_id)");
    // Referrals in the period by direction, not cancelled; the up ones received within 7 days.
    let rf = cte("rf", t);
    q.s(&format!(
        ", {rf}SELECT f.resident_id, \
         SUM(CASE WHEN f.direction = '{UP}' THEN 1 ELSE 0 END) AS up_n, \
         SUM(CASE WHEN f.direction = '{DOWN}' THEN 1 ELSE 0 END) AS down_n, \
         SUM(CASE WHEN f.direction = '{UP}' AND f.received_at IS NOT NULL \
             AND f.received_at - f.referred_at <= {RECEIVED_WITHIN_MS} THEN 1 ELSE 0 END) AS up_r7_n \
         FROM referrals f WHERE "
    ));
    live_referrals(&mut q, county, t, d);
    only_cand(&mut q, "f.resident_id", t);
    q.s(" GROUP BY f.resident_id)");
    if t.detail {
        q.s(" SELECT b.id AS id, b.v AS village, b.team AS team, ");
    } else {
        q.s(" SELECT b.v AS village, b.team AS team, ");
    }
    q.s(&select_list(t.detail));
    q.s(
        " FROM base b LEFT JOIN va ON va.resident_id = b.id LEFT JOIN sa ON sa.resident_id = b.id \
         LEFT JOIN rf ON rf.resident_id = b.id WHERE b.v >= ",
    )
    .b(range.lo.clone())
    .s(" AND b.v <= ")
    .b(range.hi.clone());
    if !t.detail {
        q.s(" GROUP BY b.v, b.team");
    }
    q
}

#[derive(QueryableByName)]
struct ContractRow {
    #[diesel(sql_type = Text)]
    village: String,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = BigInt)]
    contracts: i64,
    #[diesel(sql_type = BigInt)]
    personalised: i64,
    #[diesel(sql_type = BigInt)]
    expiring: i64,
    #[diesel(sql_type = BigInt)]
    renewed: i64,
}

/// The per-contract query: contracts signed in the period (and how many carry a
/// personalised package), contracts whose term ended in the period (and how many were renewed).
pub(super) fn contract_query(county: &str, t: Target, d: &Dates) -> Sql {
    use ContractStatus::{Active, Expired, Renewed, Signed};
    let range = t.range;
    let counting = quoted(&COUNTING.map(ContractStatus::as_str));
    // Ended by expiry: the term ran out (terminated contracts ended otherwise).
    let expiring_statuses = quoted(&[Signed, Active, Expired, Renewed].map(ContractStatus::as_str));
    let mut q = Sql::default();
    q.s("WITH ");
    moves_cte(&mut q, county, t, d);
    cand_cte(&mut q, county, t);
    q.s(", cc AS (SELECT c.id AS cid, r.id AS rid, COALESCE(mv.village, r.village_code) AS v, c.team_id AS team, CASE WHEN c.signed_on >= ")
        .b(d.start.clone())
        .s(" AND c.signed_on <= ")
        .b(d.end.clone())
        .s(
            " THEN 1 ELSE 0 END AS signed_in, CASE WHEN EXISTS (SELECT 1 FROM contract_packages cp JOIN service_packages sp \
             ON sp.county_code = cp.county_code AND sp.code = cp.package_code WHERE cp.contract_id = c.id AND sp.kind = 'personalised') THEN 1 ELSE 0 END AS pers, \
             CASE WHEN c.status IN (",
        )
        .s(&expiring_statuses)
        .s(") AND c.effective_to >= ")
        .b(d.start.clone())
        .s(" AND c.effective_to <= ")
        .b(d.end.clone())
        .s(&format!(
            " THEN 1 ELSE 0 END AS exp_in, CASE WHEN EXISTS (SELECT 1 FROM contracts s WHERE s.renews = c.id \
             AND s.resident_id = c.resident_id AND s.deleted = FALSE AND s.status IN ({counting})) THEN 1 ELSE 0 END AS ren \
             FROM contracts c JOIN residents r ON r.id = c.resident_id LEFT JOIN mv ON mv.resident_id = r.id \
             WHERE c.county_code{}",
            county_eq(t)
        ))
        .b(county);
    only_ids(&mut q, "c.resident_id", t);
    q.s(&format!(" AND c.deleted = FALSE AND c.status IN ({counting}) AND (("))
        .s("c.signed_on >= ")
        .b(d.start.clone())
        .s(" AND c.signed_on <= ")
        .b(d.end.clone())
        .s(") OR (c.effective_to >= ")
        .b(d.start.clone())
        .s(" AND c.effective_to <= ")
        .b(d.end.clone())
        .s(")) AND ");
    live_residents(&mut q, county, t, d);
    if t.detail {
        // One row per contract; flags: 1 signed in the period, 2 and personalised,
        // 4 ended in the period, 8 and renewed.
        q.s(
            ") SELECT cid AS id, rid AS resident_id, v AS village, team, \
             CAST(signed_in + 2 * signed_in * pers + 4 * exp_in + 8 * exp_in * ren AS BIGINT) AS flags FROM cc WHERE v >= ",
        );
    } else {
        q.s(
            ") SELECT v AS village, team, CAST(COALESCE(SUM(signed_in), 0) AS BIGINT) AS contracts, \
             CAST(COALESCE(SUM(signed_in * pers), 0) AS BIGINT) AS personalised, \
             CAST(COALESCE(SUM(exp_in), 0) AS BIGINT) AS expiring, \
             CAST(COALESCE(SUM(exp_in * ren), 0) AS BIGINT) AS renewed FROM cc WHERE v >= ",
        );
    }
    q.b(range.lo.clone()).s(" AND v <= ").b(range.hi.clone());
    if !t.detail {
        q.s(" GROUP BY v, team");
    }
    q
}

pub(super) fn dates(p: &Period) -> Dates {
    Dates {
        start: fmt_date(p.start),
        end: fmt_date(p.end),
        born_65: fmt_date(p.born_by_for_age(65)),
        born_7: fmt_date(p.born_by_for_age(7)),
    }
}

/// Counts every measure for the villages of a county inside `range`, over a period.
pub fn count(conn: &mut DbConn, county: &str, range: &CodeRange, p: &Period) -> Result<FactTable, AppError> {
    let d = dates(p);
    let t = Target {
        range,
        ids: None,
        detail: false,
    };
    let mut table = FactTable::new();
    // Folded as the rows arrive: the table holds one cell per (village, team), never the rows.
    let q = resident_query(county, t, &d);
    raw::for_each::<ResidentRow>(conn, &q.text, &q.binds, |row| {
        let f = Facts::of_row(&row);
        table.insert((row.village, row.team), f);
    })?;
    let q = contract_query(county, t, &d);
    raw::for_each::<ContractRow>(conn, &q.text, &q.binds, |row| {
        let f = table.entry((row.village, row.team)).or_default();
        f.set(M::Contracts, row.contracts);
        f.set(M::Personalised, row.personalised);
        f.set(M::Expiring, row.expiring);
        f.set(M::Renewed, row.renewed);
    })?;
    Ok(table)
}
