//! The per-resident and per-contract form of the count in `facts` (the same rules, one
//! row per resident and per contract instead of sums per cell): what the report cache
//! keeps for a county-year so that a push recounts only the residents it touched.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;

use super::facts::{contract_query, dates, resident_query, CodeRange, Target};
use super::period::Period;
use crate::db::raw;
use crate::db::DbConn;
use crate::error::AppError;

/// One resident's row of the per-resident count.
#[derive(QueryableByName, Debug)]
pub struct ResidentFacts {
    /// The resident.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// Village at the end of the period.
    #[diesel(sql_type = Text)]
    pub village: String,
    /// Team of the counting contract.
    #[diesel(sql_type = Nullable<Text>)]
    pub team: Option<String>,
    /// Bit k set: the resident counts in `flag_measures()[k]`.
    #[diesel(sql_type = BigInt)]
    pub flags: i64,
    /// Follow-up visits in the period.
    #[diesel(sql_type = BigInt)]
    pub followups: i64,
    /// Up-referrals in the period (counted as `referrals_up` counts them).
    #[diesel(sql_type = BigInt)]
    pub referrals_up: i64,
    /// Down-referrals in the period.
    #[diesel(sql_type = BigInt)]
    pub referrals_down: i64,
    /// Of the up-referrals, those received within 7 days.
    #[diesel(sql_type = BigInt)]
    pub up_received_7d: i64,
}

/// One contract's row of the per-contract count.
#[derive(QueryableByName, Debug)]
pub struct ContractFacts {
    /// The contract.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// Its resident.
    #[diesel(sql_type = Text)]
    pub resident_id: String,
    /// The resident's village at the end of the period.
    #[diesel(sql_type = Text)]
    pub village: String,
    /// The contract's team.
    #[diesel(sql_type = Nullable<Text>)]
    pub team: Option<String>,
    /// 1 signed in the period, 2 signed and personalised, 4 ended in the period, 8 ended and renewed.
    #[diesel(sql_type = BigInt)]
    pub flags: i64,
}

/// The facts of a county over a period resident by resident and contract by contract
/// (the same rules as `count`): of every resident, or of only `ids` (at most a few
/// hundred: they are bound one by one).
pub fn count_detail(
    conn: &mut DbConn,
    county: &str,
    p: &Period,
    ids: Option<&[String]>,
) -> Result<(Vec<ResidentFacts>, Vec<ContractFacts>), AppError> {
    let (mut residents, mut contracts) = (Vec::new(), Vec::new());
    count_detail_each(conn, county, p, ids, |r| residents.push(r), |c| contracts.push(c))?;
    Ok((residents, contracts))
}

/// The facts of [`count_detail`], handed over one row at a time as they arrive, so a full
/// count keeps no rows (docs/benchmarks.md).
pub fn count_detail_each(
    conn: &mut DbConn,
    county: &str,
    p: &Period,
    ids: Option<&[String]>,
    on_resident: impl FnMut(ResidentFacts),
    on_contract: impl FnMut(ContractFacts),
) -> Result<(), AppError> {
    let d = dates(p);
    let range = CodeRange::prefix(&county[..6.min(county.len())]);
    let t = Target {
        range: &range,
        ids,
        detail: true,
    };
    let q = resident_query(county, t, &d);
    raw::for_each::<ResidentFacts>(conn, &q.text, &q.binds, on_resident)?;
    let q = contract_query(county, t, &d);
    raw::for_each::<ContractFacts>(conn, &q.text, &q.binds, on_contract)
}

/// A digest of the rules a full count of a county over a period applies (the text of its
/// two queries, whose values are bound apart): a kept count made under other rules — an
/// older server's, before a measure was added or a rule changed — is not this one's.
pub fn rules_fingerprint(county: &str, p: &Period) -> String {
    use sha2::{Digest, Sha256};
    let d = dates(p);
    let range = CodeRange::prefix(&county[..6.min(county.len())]);
    let t = Target {
        range: &range,
        ids: None,
        detail: true,
    };
    let mut h = Sha256::new();
    h.update(resident_query(county, t, &d).text.as_bytes());
    h.update(b"\0");
    h.update(contract_query(county, t, &d).text.as_bytes());
    hex::encode(&h.finalize()[..16])
}
