//! The county coverage report against what the tablets created: a county that started
//! empty must count exactly the residents, contracts, follow-ups and survey answers the
//! tablets were told were stored, in total and team by team.

use std::collections::BTreeMap;

use jiayi::reports::coverage::{CoverageReport, Figure};

use crate::tablet::{outcome, Tablet};

/// Visit kinds the report counts as follow-ups (`followup_visits`) among those the
/// generator makes.
const FOLLOWUP_KINDS: [&str; 2] = ["htn_followup", "dm_followup"];

/// What the tablets' answers say the county holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Residents stored.
    pub residents: i64,
    /// Contracts stored (each for a resident of its own).
    pub contracts: i64,
    /// Follow-up visits stored.
    pub followups: i64,
    /// Survey answers stored (each from a resident of its own).
    pub surveys: i64,
    /// Contracts stored, by team id.
    pub contracts_by_team: BTreeMap<String, i64>,
}

impl Expected {
    /// Counts the ops answered as stored (`applied`, or `conflict`, which stores too).
    pub fn from_tablets(tablets: &[Tablet]) -> Expected {
        let mut e = Expected::default();
        for entry in tablets.iter().flat_map(|t| &t.ledger) {
            let stored = entry
                .result
                .as_ref()
                .is_some_and(|r| matches!(outcome(r), "applied" | "conflict"));
            let op = &entry.planned.op;
            if !stored || op["action"] != "create" {
                continue;
            }
            match op["entity"].as_str().unwrap_or_default() {
                "resident" => e.residents += 1,
                "contract" => {
                    e.contracts += 1;
                    let team = op["data"]["team_id"].as_str().unwrap_or_default().to_string();
                    *e.contracts_by_team.entry(team).or_default() += 1;
                }
                "visit" if FOLLOWUP_KINDS.iter().any(|k| op["data"]["kind"] == *k) => e.followups += 1,
                "survey" => e.surveys += 1,
                _ => {}
            }
        }
        e
    }
}

fn figure<'a>(indicators: &'a BTreeMap<String, Figure>, id: &str) -> Option<&'a Figure> {
    indicators.get(id)
}

/// Where the county report's total differs from what the tablets stored (empty: none).
pub fn total_mismatches(report: &CoverageReport, e: &Expected) -> Vec<String> {
    let t = &report.total.indicators;
    let checks: [(&str, bool, i64); 5] = [
        ("record_rate", false, e.residents),
        ("signing_rate", false, e.contracts),
        ("contracts_signed", false, e.contracts),
        ("followup_visits", false, e.followups),
        ("satisfaction_rate", true, e.surveys),
    ];
    let mut out = Vec::new();
    for (id, denominator, want) in checks {
        let got = figure(t, id).map(|f| if denominator { f.denominator } else { Some(f.numerator) });
        let part = if denominator { "denominator" } else { "numerator" };
        match got {
            Some(Some(n)) if n == want => {}
            Some(got) => out.push(format!(
                "county total {id} {part} {}, the tablets stored {want}",
                got.map_or("none".into(), |n| n.to_string())
            )),
            None => out.push(format!("county total: no {id} in the report")),
        }
    }
    out
}

/// Where a report by team differs from the contracts each team's tablet stored; every
/// team of the report is compared, so contracts counted for a team that signed none show.
pub fn team_mismatches(report: &CoverageReport, e: &Expected) -> Vec<String> {
    let mut out = Vec::new();
    for g in &report.groups {
        let want = e.contracts_by_team.get(&g.code).copied().unwrap_or(0);
        for id in ["signing_rate", "contracts_signed"] {
            match figure(&g.indicators, id) {
                Some(f) if f.numerator == want => {}
                Some(f) => out.push(format!(
                    "team {} {id} numerator {}, its tablet stored {want}",
                    g.name, f.numerator
                )),
                None => out.push(format!("team {}: no {id} in the report", g.name)),
            }
        }
    }
    for team in e.contracts_by_team.keys() {
        if !report.groups.iter().any(|g| &g.code == team) {
            out.push(format!("team {team}: not in the report by team"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fig(n: i64, d: Option<i64>) -> serde_json::Value {
        json!({ "numerator": n, "denominator": d, "rate": null, "denominator_source": "registered", "version": 1 })
    }

    fn report(groups: serde_json::Value, residents: i64, contracts: i64) -> CoverageReport {
        serde_json::from_value(json!({
            "region": "431126000000", "region_name": "示范县", "period": "2026",
            "period_start": "2026-01-01", "period_end": "2026-12-31", "dictionary_version": "1",
            "group_by": "team", "groups": groups,
            "total": { "indicators": {
                "record_rate": fig(residents, Some(residents)), "signing_rate": fig(contracts, Some(residents)),
                "contracts_signed": fig(contracts, None), "followup_visits": fig(3, None),
                "satisfaction_rate": fig(1, Some(2)) } }
        }))
        .unwrap()
    }

    fn team(code: &str, contracts: i64) -> serde_json::Value {
        json!({ "code": code, "name": code, "indicators": {
            "signing_rate": fig(contracts, Some(10)), "contracts_signed": fig(contracts, None) } })
    }

    #[test]
    fn a_report_that_counts_otherwise_than_the_tablets_stored_is_named() {
        let e = Expected {
            residents: 10,
            contracts: 8,
            followups: 3,
            surveys: 2,
            contracts_by_team: [("a".to_string(), 5), ("b".to_string(), 3)].into(),
        };
        let good = report(json!([team("a", 5), team("b", 3), team("demo", 0)]), 10, 8);
        assert!(total_mismatches(&good, &e).is_empty());
        assert!(team_mismatches(&good, &e).is_empty());

        let off = report(json!([team("a", 5), team("demo", 3)]), 9, 8);
        let total = total_mismatches(&off, &e);
        assert_eq!(total.len(), 1, "{total:?}");
        assert!(total[0].contains("record_rate numerator 9"), "{total:?}");
        let teams = team_mismatches(&off, &e);
        // demo counted three contracts it never signed (two indicators), b is missing.
        assert_eq!(teams.len(), 3, "{teams:?}");
    }
}
