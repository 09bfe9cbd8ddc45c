//! `GET /api/v1/reports/coverage`: each indicator's numerator, denominator and rate per
//! township, village or team, and in total. Numerators are counted per village (a
//! resident lives in one village, so village counts add up without double counting) and
//! per village × team; groups sum them. Totals sum numerators and denominators, never rates.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::indicators::{self, rate, DICTIONARY_VERSION};
use super::period::Period;
use crate::auth::{Auth, Scope};
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::domain::contract::COUNTING;
use crate::domain::region::{self, Level};
use crate::error::AppError;
use crate::schema::{population, team_villages, teams};
use crate::time::fmt_date;

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
    /// `imported` (population table), `registered` (fallback: registered residents),
    /// `computed` (another indicator's numerator) or `none` (a count).
    pub denominator_source: String,
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
    /// Period asked for.
    pub period: String,
    /// Indicator dictionary version.
    pub dictionary_version: String,
    /// The breakdown.
    pub group_by: GroupBy,
    /// Groups, sorted by code.
    pub groups: Vec<Group>,
    /// The whole region.
    pub total: Total,
}

/// Counts of one village, or of one village's residents signed by one team.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    registered: i64,
    registered_key: i64,
    signed: i64,
    signed_key: i64,
    contracts: i64,
    personalised: i64,
}

impl std::ops::AddAssign for Facts {
    fn add_assign(&mut self, o: Facts) {
        self.registered += o.registered;
        self.registered_key += o.registered_key;
        self.signed += o.signed;
        self.signed_key += o.signed_key;
        self.contracts += o.contracts;
        self.personalised += o.personalised;
    }
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    village: String,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    k: i64,
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

/// Computes the report for a caller.
pub fn coverage(conn: &mut DbConn, auth: &Auth, q: &CoverageQuery) -> Result<CoverageReport, AppError> {
    let period = Period::parse(&q.period)?;
    let (level, _) = region::parse_code(&q.region).map_err(|e| AppError {
        field: Some("region".into()),
        ..e
    })?;
    let root = region::find(conn, &q.region)?.ok_or_else(|| AppError::not_found("region"))?;
    // Villages the caller may count inside the region.
    let mut villages = region::villages_under(conn, &q.region)?;
    match &auth.scope {
        Scope::Team { villages: own, .. } => {
            villages.retain(|v| own.binary_search(&v.code).is_ok());
            if villages.is_empty() {
                return Err(AppError::forbidden("that region is outside your team's villages"));
            }
        }
        scope => {
            if !scope.covers_region(&q.region) {
                return Err(AppError::forbidden("that region is outside your scope"));
            }
        }
    }
    let prefix = match level {
        Level::County => q.region[..6].to_string(),
        Level::Township => q.region[..9].to_string(),
        Level::Village => q.region.clone(),
    };
    let (by_village, by_village_team) = count(conn, &root.county_code, &prefix, &period)?;
    let pop = population_rows(conn, &root.county_code, period.year(), &prefix)?;
    let village_codes: Vec<String> = villages.iter().map(|v| v.code.clone()).collect();
    let sum_villages = |codes: &[String]| {
        let mut f = Facts::default();
        for c in codes {
            if let Some(x) = by_village.get(c) {
                f += *x;
            }
        }
        f
    };
    let mut groups = Vec::new();
    match q.group_by {
        GroupBy::Village => {
            for v in &villages {
                let codes = vec![v.code.clone()];
                let facts = sum_villages(&codes);
                groups.push(Group {
                    code: v.code.clone(),
                    name: v.name.clone(),
                    indicators: figures(&facts, Some(&v.code), &codes, &pop),
                });
            }
        }
        GroupBy::Township => {
            let mut towns: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for v in &villages {
                towns
                    .entry(format!("{}000", &v.code[..9]))
                    .or_default()
                    .push(v.code.clone());
            }
            for (town, codes) in towns {
                let name = region::find(conn, &town)?.map(|r| r.name).unwrap_or_default();
                let facts = sum_villages(&codes);
                groups.push(Group {
                    code: town.clone(),
                    name,
                    indicators: figures(&facts, Some(&town), &codes, &pop),
                });
            }
        }
        GroupBy::Team => {
            let served: Vec<(String, String, String)> = team_villages::table
                .inner_join(teams::table.on(teams::id.eq(team_villages::team_id)))
                .filter(team_villages::village_code.eq_any(&village_codes))
                .select((teams::id, teams::name, team_villages::village_code))
                .load(conn)?;
            let mut team_villages_map: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
            for (id, name, v) in served {
                team_villages_map
                    .entry(id)
                    .or_insert_with(|| (name, Vec::new()))
                    .1
                    .push(v);
            }
            if let Scope::Team { team_id, .. } = &auth.scope {
                team_villages_map.retain(|id, _| id == team_id);
            }
            for (team_id, (name, codes)) in team_villages_map {
                let mut facts = Facts::default();
                for c in &codes {
                    if let Some(x) = by_village.get(c) {
                        facts.registered += x.registered;
                        facts.registered_key += x.registered_key;
                    }
                }
                for ((v, t), x) in &by_village_team {
                    if t == &team_id && village_codes.contains(v) {
                        facts.signed += x.signed;
                        facts.signed_key += x.signed_key;
                        facts.contracts += x.contracts;
                        facts.personalised += x.personalised;
                    }
                }
                groups.push(Group {
                    code: team_id,
                    name,
                    indicators: figures(&facts, None, &codes, &pop),
                });
            }
        }
    }
    let total_facts = sum_villages(&village_codes);
    let whole_region = !matches!(auth.scope, Scope::Team { .. });
    let total = Total {
        indicators: figures(
            &total_facts,
            whole_region.then_some(q.region.as_str()),
            &village_codes,
            &pop,
        ),
    };
    Ok(CoverageReport {
        region: q.region.clone(),
        period: q.period.clone(),
        dictionary_version: DICTIONARY_VERSION.into(),
        group_by: q.group_by,
        groups,
        total,
    })
}

type PopRows = HashMap<(String, String), i64>;

fn population_rows(conn: &mut DbConn, county: &str, year: i32, prefix: &str) -> Result<PopRows, AppError> {
    let county_root = format!("{}000000", &prefix[..6]);
    let township_root = (prefix.len() >= 9).then(|| format!("{}000", &prefix[..9]));
    let rows: Vec<(String, String, i64)> = population::table
        .filter(population::county_code.eq(county))
        .filter(population::year.eq(year))
        .filter(
            population::region_code
                .like(format!("{prefix}%"))
                .or(population::region_code.eq(county_root))
                .or(population::region_code.nullable().eq(township_root)),
        )
        .select((population::region_code, population::category, population::head_count))
        .load(conn)?;
    Ok(rows.into_iter().map(|(r, c, n)| ((r, c), n)).collect())
}

/// The denominator of a category for a group: the group region's own imported row, else
/// the sum of its villages' rows when every village has one, else the registered count.
fn denominator(
    pop: &PopRows,
    region: Option<&str>,
    villages: &[String],
    category: &str,
    registered: i64,
) -> (i64, &'static str) {
    if let Some(n) = region.and_then(|r| pop.get(&(r.to_string(), category.to_string()))) {
        return (*n, "imported");
    }
    let rows: Vec<i64> = villages
        .iter()
        .filter_map(|v| pop.get(&(v.clone(), category.to_string())).copied())
        .collect();
    if !villages.is_empty() && rows.len() == villages.len() {
        return (rows.iter().sum(), "imported");
    }
    (registered, "registered")
}

fn figures(f: &Facts, region: Option<&str>, villages: &[String], pop: &PopRows) -> BTreeMap<String, Figure> {
    let fig = |numerator: i64, den: Option<(i64, &str)>| Figure {
        numerator,
        denominator: den.map(|d| d.0),
        rate: den.and_then(|d| rate(numerator, d.0)),
        denominator_source: den.map(|d| d.1).unwrap_or("none").to_string(),
    };
    let residents = denominator(pop, region, villages, "resident", f.registered);
    let key = denominator(pop, region, villages, "key_total", f.registered_key);
    let mut m = BTreeMap::new();
    m.insert(indicators::RECORD_RATE.id.into(), fig(f.registered, Some(residents)));
    m.insert(indicators::SIGNING_RATE.id.into(), fig(f.signed, Some(residents)));
    m.insert(indicators::KEY_SIGNING_RATE.id.into(), fig(f.signed_key, Some(key)));
    m.insert(
        indicators::KEY_SHARE_OF_SIGNED.id.into(),
        fig(f.signed_key, Some((f.signed, "computed"))),
    );
    m.insert(indicators::CONTRACTS_SIGNED.id.into(), fig(f.contracts, None));
    m.insert(
        indicators::PERSONALISED_CONTRACTS.id.into(),
        fig(f.personalised, Some((f.contracts, "computed"))),
    );
    m
}

/// Runs the counting queries: per village, and per village × contract team.
#[allow(clippy::type_complexity)]
fn count(
    conn: &mut DbConn,
    county: &str,
    prefix: &str,
    p: &Period,
) -> Result<(HashMap<String, Facts>, HashMap<(String, String), Facts>), AppError> {
    let start = fmt_date(p.start);
    let end = fmt_date(p.end);
    let elderly_by = fmt_date(p.born_by_for_age(65));
    let child_after = fmt_date(p.born_by_for_age(7));
    let like = format!("{prefix}%");
    let counting = COUNTING.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(",");
    // Key population at period end: a recorded tag, or aged 65+, or aged 0–6.
    let key = "(r.birth_date <= ? OR (r.birth_date > ? AND r.birth_date <= ?) \
               OR EXISTS (SELECT 1 FROM resident_tags t WHERE t.resident_id = r.id))";
    let key_binds = || -> Vec<Bind> {
        vec![
            elderly_by.clone().into(),
            child_after.clone().into(),
            end.clone().into(),
        ]
    };
    let live = "r.deleted = FALSE AND r.merged_into IS NULL";

    let mut by_village: HashMap<String, Facts> = HashMap::new();
    let mut by_vt: HashMap<(String, String), Facts> = HashMap::new();

    let sql = format!(
        "SELECT r.village_code AS village, NULL AS team, COUNT(*) AS n, \
         COALESCE(SUM(CASE WHEN {key} THEN 1 ELSE 0 END), 0) AS k \
         FROM residents r WHERE r.county_code = ? AND r.village_code LIKE ? AND {live} AND r.registered_on <= ? \
         GROUP BY r.village_code"
    );
    let mut binds = key_binds();
    binds.extend([county.into(), like.clone().into(), end.clone().into()]);
    for row in raw::load::<CountRow>(conn, &sql, &binds)? {
        let f = by_village.entry(row.village).or_default();
        f.registered = row.n;
        f.registered_key = row.k;
    }

    let signed_from = format!(
        "FROM contracts c JOIN residents r ON r.id = c.resident_id \
         WHERE c.county_code = ? AND r.village_code LIKE ? AND {live} AND c.deleted = FALSE \
         AND c.status IN ({counting}) AND c.effective_from <= ? AND COALESCE(c.ended_on, c.effective_to) >= ?"
    );
    let signed_cols =
        format!("COUNT(DISTINCT c.resident_id) AS n, COUNT(DISTINCT CASE WHEN {key} THEN c.resident_id END) AS k");
    let mut binds = key_binds();
    binds.extend([
        county.into(),
        like.clone().into(),
        end.clone().into(),
        start.clone().into(),
    ]);
    let sql =
        format!("SELECT r.village_code AS village, NULL AS team, {signed_cols} {signed_from} GROUP BY r.village_code");
    for row in raw::load::<CountRow>(conn, &sql, &binds)? {
        let f = by_village.entry(row.village).or_default();
        f.signed = row.n;
        f.signed_key = row.k;
    }
    let sql = format!(
        "SELECT r.village_code AS village, c.team_id AS team, {signed_cols} {signed_from} GROUP BY r.village_code, c.team_id"
    );
    for row in raw::load::<CountRow>(conn, &sql, &binds)? {
        let f = by_vt.entry((row.village, row.team.unwrap_or_default())).or_default();
        f.signed = row.n;
        f.signed_key = row.k;
    }

    let sql = format!(
        "SELECT r.village_code AS village, c.team_id AS team, COUNT(*) AS n, \
         COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM contract_packages cp JOIN service_packages sp \
           ON sp.code = cp.package_code WHERE cp.contract_id = c.id AND sp.kind = 'personalised') THEN 1 ELSE 0 END), 0) AS k \
         FROM contracts c JOIN residents r ON r.id = c.resident_id \
         WHERE c.county_code = ? AND r.village_code LIKE ? AND {live} AND c.deleted = FALSE \
         AND c.status IN ({counting}) AND c.signed_on >= ? AND c.signed_on <= ? \
         GROUP BY r.village_code, c.team_id"
    );
    let binds: Vec<Bind> = vec![county.into(), like.into(), start.into(), end.into()];
    for row in raw::load::<CountRow>(conn, &sql, &binds)? {
        let team = row.team.unwrap_or_default();
        let f = by_village.entry(row.village.clone()).or_default();
        f.contracts += row.n;
        f.personalised += row.k;
        let t = by_vt.entry((row.village, team)).or_default();
        t.contracts = row.n;
        t.personalised = row.k;
    }
    Ok((by_village, by_vt))
}
