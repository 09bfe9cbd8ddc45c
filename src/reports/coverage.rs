//! `GET /api/v1/reports/coverage`: every indicator of the dictionary per township, village
//! or team, and in total. Counts come from `facts` per (village, team) cell; a group sums
//! its cells, the total sums every cell in reach: totals are sums of numerators and
//! denominators, never averages of rates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::{CodeRange, FactTable};
use super::indicators::{self, rate, Denominator, Indicator, DICTIONARY, DICTIONARY_VERSION};
use super::measures::{Facts, CATEGORY_MEASURES, M};
use super::period::Period;
use super::places::{self, Place};
use crate::access::region::{self, Level};
use crate::access::{Caller, Scope};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::{population, regions, team_villages, teams};

/// How to break the region down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One group per township.
    Township,
    /// One group per village.
    Village,
    /// One group per family-doctor team.
    Team,
}

/// One indicator's figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Figure {
    /// What was counted.
    pub numerator: i64,
    /// What it is divided by (null for plain counts).
    pub denominator: Option<i64>,
    /// numerator / denominator, half-up to 4 places; null when the denominator is 0 or absent.
    pub rate: Option<f64>,
    /// `imported` (population table), `registered` (registered residents carrying the
    /// category: the fallback, or the definition itself), `computed` (another count of
    /// this report) or `none` (a plain count).
    pub denominator_source: String,
    /// The definition's version.
    pub version: u32,
}

/// One group's indicators.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// Region code or team id.
    pub code: String,
    /// Name.
    pub name: String,
    /// Indicator id → figures.
    pub indicators: BTreeMap<String, Figure>,
}

/// The indicators over the whole region.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Total {
    /// Indicator id → figures.
    pub indicators: BTreeMap<String, Figure>,
}

/// The coverage report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoverageReport {
    /// Region code asked for.
    pub region: String,
    /// The region's name.
    pub region_name: String,
    /// Period asked for.
    pub period: String,
    /// First day of the period.
    pub period_start: String,
    /// Last day of the period.
    pub period_end: String,
    /// Indicator dictionary version.
    pub dictionary_version: String,
    /// The breakdown.
    pub group_by: GroupBy,
    /// Groups, sorted by code.
    pub groups: Vec<Group>,
    /// The whole region (for a team member: the team's villages in it).
    pub total: Total,
}

/// The request, validated.
pub struct CoverageQuery {
    /// Region code.
    pub region: String,
    /// Period text.
    pub period: String,
    /// Breakdown.
    pub group_by: GroupBy,
}

/// The part of a region a caller may count.
pub struct Reach {
    /// The region asked for.
    pub root: Place,
    /// Its villages the caller may see, sorted by code.
    pub villages: Vec<Place>,
    /// False when the caller sees only some villages (a team): the region's own
    /// population row does not apply then.
    pub whole_region: bool,
    /// A team member's team: team breakdowns show only it.
    pub own_team: Option<String>,
}

/// Checks the region code and the caller's scope; another township's or team's region → 403.
pub fn reach(conn: &mut DbConn, auth: &Caller, code: &str) -> Result<Reach, AppError> {
    region::parse_code(code).map_err(|e| AppError {
        field: Some("region".into()),
        ..e
    })?;
    let root = places::find(conn, code)?.ok_or_else(|| AppError::not_found("region"))?;
    let mut villages = places::villages_under(conn, code)?;
    let (whole_region, own_team) = match &auth.scope {
        Scope::Team { villages: own, team_id } => {
            villages.retain(|v| own.binary_search(&v.code).is_ok());
            if villages.is_empty() {
                return Err(AppError::forbidden("that region is outside your team's villages"));
            }
            (false, Some(team_id.clone()))
        }
        scope => {
            if !scope.covers_region(code) {
                return Err(AppError::forbidden("that region is outside your scope"));
            }
            (true, None)
        }
    };
    Ok(Reach {
        root,
        villages,
        whole_region,
        own_team,
    })
}

/// Computes the report for a caller.
pub fn coverage(conn: &mut DbConn, auth: &Caller, q: &CoverageQuery) -> Result<CoverageReport, AppError> {
    let period = Period::parse(&q.period)?;
    coverage_from(conn, auth, q, period, false)
}

/// The report for a period another format named (a DHIS2 quarter, say): the same count,
/// labelled with `q.period` as given.
pub fn coverage_in(
    conn: &mut DbConn,
    auth: &Caller,
    q: &CoverageQuery,
    period: Period,
) -> Result<CoverageReport, AppError> {
    coverage_from(conn, auth, q, period, false)
}

/// The same report counted from scratch, bypassing the counted-facts cache: what every
/// cached or incrementally refreshed report must equal (tests and benchmarks compare them).
pub fn coverage_uncached(conn: &mut DbConn, auth: &Caller, q: &CoverageQuery) -> Result<CoverageReport, AppError> {
    let period = Period::parse(&q.period)?;
    coverage_from(conn, auth, q, period, true)
}

fn coverage_from(
    conn: &mut DbConn,
    auth: &Caller,
    q: &CoverageQuery,
    period: Period,
    fresh: bool,
) -> Result<CoverageReport, AppError> {
    let reach = reach(conn, auth, &q.region)?;
    let table = if fresh {
        let prefix = region_prefix(&reach.root.code);
        let mut t = super::facts::count(conn, &reach.root.county_code, &CodeRange::prefix(&prefix), &period)?;
        in_reach(&reach, &mut t);
        t
    } else {
        count_in_reach(conn, &reach, &period)?
    };
    let pop = Population::load(conn, &reach.root.county_code, period.year())?;
    let groups = groups(conn, &reach, &table, &pop, q.group_by)?;
    let total = Total {
        indicators: total_figures(&reach, &table, &pop),
    };
    Ok(CoverageReport {
        region: reach.root.code.clone(),
        region_name: reach.root.name.clone(),
        period: q.period.clone(),
        period_start: crate::time::fmt_date(period.start),
        period_end: crate::time::fmt_date(period.end),
        dictionary_version: DICTIONARY_VERSION.into(),
        group_by: q.group_by,
        groups,
        total,
    })
}

/// The counts of the villages in reach.
pub fn count_in_reach(conn: &mut DbConn, reach: &Reach, period: &Period) -> Result<FactTable, AppError> {
    let prefix = region_prefix(&reach.root.code);
    let mut table = super::cache::count(conn, &reach.root.county_code, &CodeRange::prefix(&prefix), period)?;
    in_reach(reach, &mut table);
    Ok(table)
}

/// Keeps the villages the caller may see.
fn in_reach(reach: &Reach, table: &mut FactTable) {
    let visible: BTreeSet<&str> = reach.villages.iter().map(|v| v.code.as_str()).collect();
    table.retain(|(v, _), _| visible.contains(v.as_str()));
}

/// The figures of the whole reach.
pub fn total_figures(reach: &Reach, table: &FactTable, pop: &Population) -> BTreeMap<String, Figure> {
    let codes: Vec<&str> = reach.villages.iter().map(|v| v.code.as_str()).collect();
    let f = sum_villages(table, &codes);
    let imported = |cat: &str| {
        if reach.whole_region {
            pop.region(&reach.root.code, &codes, cat)
        } else {
            pop.all_villages(&codes, cat)
        }
    };
    figures(&f, &f, &imported)
}

fn region_prefix(code: &str) -> String {
    match region::parse_code(code).map(|(l, _)| l) {
        Ok(Level::County) => code[..6].to_string(),
        Ok(Level::Township) => code[..9].to_string(),
        _ => code.to_string(),
    }
}

fn sum_villages(table: &FactTable, codes: &[&str]) -> Facts {
    let set: BTreeSet<&str> = codes.iter().copied().collect();
    let mut f = Facts::default();
    for ((v, _), x) in table {
        if set.contains(v.as_str()) {
            f += x;
        }
    }
    f
}

fn groups(
    conn: &mut DbConn,
    reach: &Reach,
    table: &FactTable,
    pop: &Population,
    by: GroupBy,
) -> Result<Vec<Group>, AppError> {
    let mut out = Vec::new();
    match by {
        GroupBy::Village => {
            for v in &reach.villages {
                let codes = [v.code.as_str()];
                let f = sum_villages(table, &codes);
                out.push(Group {
                    code: v.code.clone(),
                    name: v.name.clone(),
                    indicators: figures(&f, &f, &|cat| pop.region(&v.code, &codes, cat)),
                });
            }
        }
        GroupBy::Township => {
            let mut towns: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for v in &reach.villages {
                towns
                    .entry(format!("{}000", &v.code[..9]))
                    .or_default()
                    .push(v.code.as_str());
            }
            let codes: Vec<&String> = towns.keys().collect();
            let names: HashMap<String, String> = regions::table
                .filter(regions::code.eq_any(codes))
                .select((regions::code, regions::name))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect();
            for (town, codes) in &towns {
                let f = sum_villages(table, codes);
                // A team sees only some of a township's villages: its own rows apply then.
                let imported = |cat: &str| {
                    if reach.whole_region {
                        pop.region(town, codes, cat)
                    } else {
                        pop.all_villages(codes, cat)
                    }
                };
                out.push(Group {
                    code: town.clone(),
                    name: names.get(town).cloned().unwrap_or_default(),
                    indicators: figures(&f, &f, &imported),
                });
            }
        }
        GroupBy::Team => {
            let in_reach: Vec<&str> = reach.villages.iter().map(|v| v.code.as_str()).collect();
            let served: Vec<(String, String)> = team_villages::table
                .filter(team_villages::village_code.eq_any(&in_reach))
                .select((team_villages::team_id, team_villages::village_code))
                .load(conn)?;
            let mut team_villages_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (team, village) in served {
                team_villages_map.entry(team).or_default().push(village);
            }
            // Teams whose contracts count here without serving a village of it (a resident
            // who moved) still get their group, so the groups add up to the total.
            for (_, team) in table.keys() {
                if let Some(t) = team {
                    team_villages_map.entry(t.clone()).or_default();
                }
            }
            if let Some(own) = &reach.own_team {
                team_villages_map.retain(|id, _| id == own);
            }
            let ids: Vec<&String> = team_villages_map.keys().collect();
            let names: HashMap<String, String> = teams::table
                .filter(teams::id.eq_any(ids))
                .select((teams::id, teams::name))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect();
            for (team, villages) in &team_villages_map {
                let codes: Vec<&str> = villages.iter().map(String::as_str).collect();
                // Residents of the team's villages (the registered fallback of denominators).
                let residents = sum_villages(table, &codes);
                let mut counted = Facts::default();
                for ((_, t), x) in table {
                    if t.as_deref() == Some(team.as_str()) {
                        counted += x;
                    }
                }
                out.push(Group {
                    code: team.clone(),
                    name: names.get(team).cloned().unwrap_or_default(),
                    indicators: figures(&counted, &residents, &|cat| pop.all_villages(&codes, cat)),
                });
            }
        }
    }
    Ok(out)
}

/// The registered-residents measure that stands in for a population category.
fn registered_measure(category: &str) -> Option<M> {
    match category {
        "resident" => Some(M::Registered),
        "key_total" => Some(M::KeyPop),
        c => CATEGORY_MEASURES
            .iter()
            .find(|(k, _, _)| *k == c)
            .map(|(_, reg, _)| *reg),
    }
}

/// Numerator and (for computed denominators) denominator measures of an indicator.
fn measures_of(i: &Indicator) -> (M, Option<M>) {
    use indicators as d;
    let signed_cat = |id: &str| {
        let cat = id.strip_prefix("signing_rate.")?;
        CATEGORY_MEASURES.iter().find(|(k, _, _)| *k == cat).map(|(_, _, s)| *s)
    };
    if let Some(m) = signed_cat(i.id) {
        return (m, None);
    }
    match i.id {
        x if x == d::RECORD_RATE.id => (M::Registered, None),
        x if x == d::SIGNING_RATE.id => (M::Signed, None),
        x if x == d::KEY_SIGNING_RATE.id => (M::SignedKey, None),
        x if x == d::KEY_SHARE_OF_SIGNED.id => (M::SignedKey, Some(M::Signed)),
        x if x == d::CONTRACTS_SIGNED.id => (M::Contracts, None),
        x if x == d::PERSONALISED_CONTRACTS.id => (M::Personalised, Some(M::Contracts)),
        x if x == d::RENEWAL_RATE.id => (M::Renewed, Some(M::Expiring)),
        x if x == d::ELDERLY_MANAGED.id => (M::ElderlyManaged, None),
        x if x == d::HTN_MANAGED.id => (M::HtnManaged, None),
        x if x == d::HTN_STANDARD.id => (M::HtnStandard, Some(M::HtnManaged)),
        x if x == d::HTN_CONTROLLED.id => (M::HtnControlled, Some(M::HtnManaged)),
        x if x == d::DM_MANAGED.id => (M::DmManaged, None),
        x if x == d::DM_STANDARD.id => (M::DmStandard, Some(M::DmManaged)),
        x if x == d::DM_CONTROLLED.id => (M::DmControlled, Some(M::DmManaged)),
        x if x == d::SMI_MANAGED.id => (M::SmiManaged, None),
        x if x == d::TB_MANAGED.id => (M::TbManaged, None),
        x if x == d::FOLLOWUP_VISITS.id => (M::Followups, None),
        x if x == d::SATISFACTION_RATE.id => (M::SatNum, Some(M::SatDen)),
        x if x == d::AWARENESS_RATE.id => (M::AwareNum, Some(M::AwareDen)),
        x if x == d::REFERRALS_UP.id => (M::ReferralsUp, None),
        x if x == d::REFERRALS_DOWN.id => (M::ReferralsDown, None),
        x if x == d::REFERRALS_UP_RECEIVED_7D.id => (M::UpReceived7d, Some(M::ReferralsUp)),
        other => unreachable!("indicator {other} has no measure"),
    }
}

/// Every indicator's figure. `counted` holds the numerators (and computed denominators);
/// `residents` the registered counts the population fallback uses (for a team: the
/// residents of its villages, whichever team signed them); `imported` looks up the
/// population table.
fn figures(counted: &Facts, residents: &Facts, imported: &dyn Fn(&str) -> Option<i64>) -> BTreeMap<String, Figure> {
    let mut out = BTreeMap::new();
    for i in DICTIONARY.iter() {
        let (num, computed) = measures_of(i);
        let numerator = counted.get(num);
        let (denominator, source) = match i.source {
            Denominator::Count => (None, "none"),
            Denominator::Computed => (computed.map(|m| counted.get(m)), "computed"),
            Denominator::Registered(cat) => (registered_measure(cat).map(|m| residents.get(m)), "registered"),
            Denominator::Population(cat) => match imported(cat) {
                Some(n) => (Some(n), "imported"),
                None => (registered_measure(cat).map(|m| residents.get(m)), "registered"),
            },
        };
        out.insert(
            i.id.to_string(),
            Figure {
                numerator,
                denominator,
                rate: denominator.and_then(|d| rate(numerator, d)),
                denominator_source: source.to_string(),
                version: i.version,
            },
        );
    }
    out
}

/// Imported population rows of a county and year.
pub struct Population {
    rows: HashMap<(String, String), i64>,
}

impl Population {
    /// Loads a county's rows for a year.
    pub fn load(conn: &mut DbConn, county: &str, year: i32) -> Result<Population, AppError> {
        let rows: Vec<(String, String, i64)> = population::table
            .filter(population::county_code.eq(county))
            .filter(population::year.eq(year))
            .select((population::region_code, population::category, population::head_count))
            .load(conn)?;
        Ok(Population {
            rows: rows.into_iter().map(|(r, c, n)| ((r, c), n)).collect(),
        })
    }

    fn row(&self, code: &str, category: &str) -> Option<i64> {
        self.rows.get(&(code.to_string(), category.to_string())).copied()
    }

    /// A region's denominator: its own row; else, when every part below it has one, their
    /// sum (a county from its townships, a township from its villages); else none.
    pub fn region(&self, code: &str, villages: &[&str], category: &str) -> Option<i64> {
        if let Some(n) = self.row(code, category) {
            return Some(n);
        }
        match region::parse_code(code).ok()?.0 {
            Level::Village => None,
            Level::Township => self.all_villages(villages, category),
            Level::County => {
                let mut towns: BTreeMap<String, Vec<&str>> = BTreeMap::new();
                for v in villages {
                    towns.entry(format!("{}000", &v[..9])).or_default().push(v);
                }
                let mut sum = 0;
                for (town, vs) in &towns {
                    sum += self.region(town, vs, category)?;
                }
                (!towns.is_empty()).then_some(sum)
            }
        }
    }

    /// The sum of the villages' rows when every one has a row.
    pub fn all_villages(&self, villages: &[&str], category: &str) -> Option<i64> {
        if villages.is_empty() {
            return None;
        }
        villages.iter().map(|v| self.row(v, category)).sum()
    }
}
