//! DHIS2 aggregate export (docs/interop.md): the coverage report's numerators and
//! denominators as a `dataValueSets` payload, and the metadata a DHIS2 instance imports
//! first. Rates are not exported: DHIS2 computes them from `<indicator>_NUM` and
//! `<indicator>_DEN`, so its totals are sums of counts, as jiayi's are.
//!
//! Every value comes from [`coverage::coverage_in`], the function behind
//! `GET /api/v1/reports/coverage`: there is no second count to drift from the first.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::coverage::{self, CoverageQuery, GroupBy};
use super::indicators::{Indicator, DICTIONARY};
use super::period::Period;
use crate::access::Caller;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::regions;

/// DHIS2's period types that jiayi exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodType {
    /// `202611`.
    Monthly,
    /// `2026Q4`.
    Quarterly,
    /// `2026`.
    Yearly,
}

impl PeriodType {
    /// All three, in the order the metadata lists their data sets.
    pub const ALL: [PeriodType; 3] = [PeriodType::Monthly, PeriodType::Quarterly, PeriodType::Yearly];

    /// DHIS2's name for it (`periodType`).
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodType::Monthly => "Monthly",
            PeriodType::Quarterly => "Quarterly",
            PeriodType::Yearly => "Yearly",
        }
    }

    /// The code of jiayi's data set of this period type.
    pub fn data_set(self) -> &'static str {
        match self {
            PeriodType::Monthly => "JIAYI_MONTHLY",
            PeriodType::Quarterly => "JIAYI_QUARTERLY",
            PeriodType::Yearly => "JIAYI_YEARLY",
        }
    }
}

/// A period in DHIS2's notation and the dates it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhis2Period {
    /// As DHIS2 writes it.
    pub label: String,
    /// Its type.
    pub kind: PeriodType,
    /// The clinical dates it covers.
    pub period: Period,
}

/// Reads `2026`, `202611` or `2026Q4`.
pub fn parse_period(s: &str) -> Result<Dhis2Period, AppError> {
    let bad = || {
        AppError::bad_request(
            Code::InvalidPeriod,
            "period must be a DHIS2 period: a year (2026), a month (202611) or a quarter (2026Q4)",
        )
        .with_field("period")
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if s.len() < 4 || !digits(&s[..4]) {
        return Err(bad());
    }
    let year: i32 = s[..4].parse().map_err(|_| bad())?;
    let rest = &s[4..];
    let (kind, period) = if rest.is_empty() {
        (PeriodType::Yearly, Period::months_from(year, 1, 12))
    } else if rest.len() == 2 && digits(rest) {
        (
            PeriodType::Monthly,
            Period::months_from(year, rest.parse().map_err(|_| bad())?, 1),
        )
    } else if rest.len() == 2 && rest.starts_with('Q') && digits(&rest[1..]) {
        (
            PeriodType::Quarterly,
            Period::quarter(year, rest[1..].parse().map_err(|_| bad())?),
        )
    } else {
        return Err(bad());
    };
    Ok(Dhis2Period {
        label: s.to_string(),
        kind,
        period: period.ok_or_else(bad)?,
    })
}

/// The org-unit level data values are given at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgLevel {
    /// One org unit per township.
    Township,
    /// One org unit per village.
    Village,
}

/// One value, in DHIS2's `dataValues` shape (codes, `idScheme=code`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    /// `<indicator>_NUM` or `<indicator>_DEN`.
    pub data_element: String,
    /// The period as asked (`202611`, `2026Q4`, `2026`).
    pub period: String,
    /// The region code.
    pub org_unit: String,
    /// The count, as DHIS2 writes values: a string.
    pub value: String,
}

/// The `dataValueSets` payload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataValueSet {
    /// Code of jiayi's data set of the period's type (`JIAYI_MONTHLY`, …).
    pub data_set: String,
    /// `CODE`: data elements and org units are named by code, not DHIS2 UID.
    pub id_scheme: String,
    /// One value per org unit, indicator and part (`_NUM`; `_DEN` where there is one).
    pub data_values: Vec<DataValue>,
}

/// The data element code of an indicator's numerator (`_NUM`) or denominator (`_DEN`).
pub fn data_element(indicator: &str, part: &str) -> String {
    format!("{indicator}_{part}")
}

/// The coverage report's figures at `level` for the region and period, as data values.
pub fn data_values(
    conn: &mut DbConn,
    caller: &Caller,
    region: &str,
    period: &str,
    level: OrgLevel,
) -> Result<DataValueSet, AppError> {
    let p = parse_period(period)?;
    let above = match level {
        OrgLevel::Township => region.len() == 12 && !region.ends_with("000"),
        OrgLevel::Village => false,
    };
    let query = CoverageQuery {
        region: region.to_string(),
        period: p.label.clone(),
        group_by: match level {
            OrgLevel::Township => GroupBy::Township,
            OrgLevel::Village => GroupBy::Village,
        },
    };
    if above {
        return Err(AppError::bad_request(
            Code::InvalidQuery,
            "level=township is above a village; ask for level=village",
        )
        .with_field("level"));
    }
    let report = coverage::coverage_in(conn, caller, &query, p.period)?;
    let mut values = Vec::new();
    for g in &report.groups {
        for i in DICTIONARY.iter() {
            let Some(f) = g.indicators.get(i.id) else { continue };
            values.push(DataValue {
                data_element: data_element(i.id, "NUM"),
                period: p.label.clone(),
                org_unit: g.code.clone(),
                value: f.numerator.to_string(),
            });
            if let Some(d) = f.denominator {
                values.push(DataValue {
                    data_element: data_element(i.id, "DEN"),
                    period: p.label.clone(),
                    org_unit: g.code.clone(),
                    value: d.to_string(),
                });
            }
        }
    }
    Ok(DataValueSet {
        data_set: p.kind.data_set().to_string(),
        id_scheme: "CODE".into(),
        data_values: values,
    })
}

/// The values in DHIS2's CSV import format (`dataelement,period,orgunit,
/// categoryoptioncombo,attributeoptioncombo,value`, the option combos left to DHIS2's
/// defaults); every cell is a code or a count, so none needs quoting or escaping.
pub fn data_values_csv(set: &DataValueSet) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "dataelement",
        "period",
        "orgunit",
        "categoryoptioncombo",
        "attributeoptioncombo",
        "value",
    ])
    .map_err(AppError::internal)?;
    for v in &set.data_values {
        w.write_record([&v.data_element, &v.period, &v.org_unit, "", "", &v.value])
            .map_err(AppError::internal)?;
    }
    w.into_inner().map_err(AppError::internal)
}

/// A DHIS2 UID (a letter, then 10 letters or digits) derived from what it names, so every
/// export of the same metadata names the same objects and an import updates, never doubles.
pub fn uid(kind: &str, code: &str) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let digest = Sha256::digest(format!("jiayi:{kind}:{code}").as_bytes());
    digest
        .iter()
        .take(11)
        .enumerate()
        .map(|(n, b)| {
            let range = if n == 0 { 52 } else { 62 };
            ALNUM[*b as usize % range] as char
        })
        .collect()
}

/// `{ "id": … }`, DHIS2's way of pointing at another object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdRef {
    /// The object's UID.
    pub id: String,
}

/// A data element.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataElementMeta {
    /// UID.
    pub id: String,
    /// `<indicator>_NUM` / `_DEN`.
    pub code: String,
    /// Chinese name and part.
    pub name: String,
    /// The code again (DHIS2 wants a short name of at most 50 characters).
    pub short_name: String,
    /// What is counted.
    pub description: String,
    /// `INTEGER_ZERO_OR_POSITIVE`.
    pub value_type: String,
    /// `AGGREGATE`.
    pub domain_type: String,
    /// `SUM` for counts of events in the period, `LAST` for counts of people, which do
    /// not add up across periods (docs/interop.md).
    pub aggregation_type: String,
    /// True: a zero is a figure, not a missing value.
    pub zero_is_significant: bool,
}

/// A data element of a data set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetElement {
    /// The data element.
    pub data_element: IdRef,
}

/// A data set (one per period type).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetMeta {
    /// UID.
    pub id: String,
    /// `JIAYI_MONTHLY`, `JIAYI_QUARTERLY`, `JIAYI_YEARLY`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Short name.
    pub short_name: String,
    /// `Monthly`, `Quarterly`, `Yearly`.
    pub period_type: String,
    /// Every data element.
    pub data_set_elements: Vec<DataSetElement>,
    /// The org units exported.
    pub organisation_units: Vec<IdRef>,
}

/// An org unit: a county, township or village.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgUnitMeta {
    /// UID.
    pub id: String,
    /// The 12-digit region code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Name, cut to 50 characters.
    pub short_name: String,
    /// DHIS2 requires one; jiayi does not know when a region began, so `2000-01-01`.
    pub opening_date: String,
    /// The region above (none for the county).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub parent: Option<IdRef>,
}

/// The one indicator type: a percentage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndicatorTypeMeta {
    /// UID.
    pub id: String,
    /// Name.
    pub name: String,
    /// 100.
    pub factor: i32,
    /// False.
    pub number: bool,
}

/// A rate, computed by DHIS2 from the two data elements.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndicatorMeta {
    /// UID.
    pub id: String,
    /// The dictionary id.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// The dictionary id.
    pub short_name: String,
    /// The percentage type.
    pub indicator_type: IdRef,
    /// `#{<uid of _NUM>}`.
    pub numerator: String,
    /// What is counted.
    pub numerator_description: String,
    /// `#{<uid of _DEN>}`.
    pub denominator: String,
    /// What it is divided by.
    pub denominator_description: String,
}

/// The metadata to import into DHIS2 before the first data values.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The county, and under it the townships and villages the caller may see.
    pub organisation_units: Vec<OrgUnitMeta>,
    /// `<indicator>_NUM` for every indicator, `_DEN` for every rate.
    pub data_elements: Vec<DataElementMeta>,
    /// One data set per period type.
    pub data_sets: Vec<DataSetMeta>,
    /// The percentage type.
    pub indicator_types: Vec<IndicatorTypeMeta>,
    /// Every rate of the dictionary.
    pub indicators: Vec<IndicatorMeta>,
}

/// Indicators that count events in the period, in both parts (they add up across months:
/// a denominator such as contracts signed or up-referrals is itself an event count).
const EVENT_COUNTS: [&str; 6] = [
    "contracts_signed",
    "personalised_contracts",
    "followup_visits",
    "referrals_up",
    "referrals_down",
    "referrals_up_received_7d",
];

fn data_element_meta(i: &Indicator, part: &str) -> DataElementMeta {
    let code = data_element(i.id, part);
    let (zh, what) = if part == "NUM" {
        ("分子", i.numerator)
    } else {
        ("分母", i.denominator)
    };
    let events = EVENT_COUNTS.contains(&i.id);
    DataElementMeta {
        id: uid("dataElement", &code),
        name: format!("{}（{zh}）", i.name_zh),
        short_name: code.clone(),
        code,
        description: what.to_string(),
        value_type: "INTEGER_ZERO_OR_POSITIVE".into(),
        domain_type: "AGGREGATE".into(),
        aggregation_type: if events { "SUM" } else { "LAST" }.into(),
        zero_is_significant: true,
    }
}

fn short(name: &str) -> String {
    name.chars().take(50).collect()
}

/// The metadata for the region: its org units (with the regions above it, so the
/// hierarchy imports whole), every data element, the data sets and the rates.
pub fn metadata(conn: &mut DbConn, caller: &Caller, region: &str) -> Result<Metadata, AppError> {
    let reach = coverage::reach(conn, caller, region)?;
    let county = reach.root.county_code.clone();
    let mut codes: Vec<String> = vec![county.clone()];
    let township_of = |v: &str| format!("{}000", &v[..9]);
    if reach.root.code != county {
        codes.push(township_of(&reach.root.code));
    }
    for v in &reach.villages {
        codes.push(township_of(&v.code));
        codes.push(v.code.clone());
    }
    codes.sort();
    codes.dedup();
    let rows: Vec<(String, String, Option<String>)> = regions::table
        .filter(regions::code.eq_any(&codes))
        .select((regions::code, regions::name, regions::parent_code))
        .order(regions::code.asc())
        .load(conn)?;
    let organisation_units: Vec<OrgUnitMeta> = rows
        .into_iter()
        .map(|(code, name, parent)| OrgUnitMeta {
            id: uid("organisationUnit", &code),
            short_name: short(&name),
            name,
            opening_date: "2000-01-01".into(),
            parent: parent.map(|p| IdRef {
                id: uid("organisationUnit", &p),
            }),
            code,
        })
        .collect();
    let mut data_elements = Vec::new();
    let mut indicators = Vec::new();
    let percent = uid("indicatorType", "percent");
    for i in DICTIONARY.iter() {
        let num = data_element_meta(i, "NUM");
        if !i.is_count() {
            let den = data_element_meta(i, "DEN");
            indicators.push(IndicatorMeta {
                id: uid("indicator", i.id),
                code: i.id.to_string(),
                name: i.name_zh.to_string(),
                short_name: i.id.to_string(),
                indicator_type: IdRef { id: percent.clone() },
                numerator: format!("#{{{}}}", num.id),
                numerator_description: i.numerator.to_string(),
                denominator: format!("#{{{}}}", den.id),
                denominator_description: i.denominator.to_string(),
            });
            data_elements.push(num);
            data_elements.push(den);
        } else {
            data_elements.push(num);
        }
    }
    let exported: Vec<IdRef> = organisation_units.iter().map(|o| IdRef { id: o.id.clone() }).collect();
    let data_sets = PeriodType::ALL
        .iter()
        .map(|t| DataSetMeta {
            id: uid("dataSet", t.data_set()),
            code: t.data_set().to_string(),
            name: format!("家庭医生签约服务（jiayi，{}）", t.as_str()),
            short_name: t.data_set().to_string(),
            period_type: t.as_str().to_string(),
            data_set_elements: data_elements
                .iter()
                .map(|d| DataSetElement {
                    data_element: IdRef { id: d.id.clone() },
                })
                .collect(),
            organisation_units: exported.clone(),
        })
        .collect();
    Ok(Metadata {
        organisation_units,
        data_elements,
        data_sets,
        indicator_types: vec![IndicatorTypeMeta {
            id: percent,
            name: "百分比 Percent".into(),
            factor: 100,
            number: false,
        }],
        indicators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhis2_periods() {
        let q = parse_period("2026Q4").unwrap();
        assert_eq!(q.kind, PeriodType::Quarterly);
        assert_eq!(
            (q.period.start.to_string(), q.period.end.to_string()),
            ("2026-10-01".into(), "2026-12-31".into())
        );
        let m = parse_period("202402").unwrap();
        assert_eq!(
            (m.kind, m.period.end.to_string()),
            (PeriodType::Monthly, "2024-02-29".into())
        );
        let y = parse_period("2026").unwrap();
        assert_eq!(
            (y.kind, y.period.start.to_string()),
            (PeriodType::Yearly, "2026-01-01".into())
        );
        for bad in [
            "", "26", "202613", "2026Q5", "2026Q0", "2026-11", "2026W3", "1999", "2026q4", "20261", "2026Q+",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uids_are_dhis2_shaped_stable_and_distinct() {
        let a = uid("dataElement", "signing_rate_NUM");
        assert_eq!(a, uid("dataElement", "signing_rate_NUM"));
        assert_ne!(a, uid("dataElement", "signing_rate_DEN"));
        assert_eq!(a.len(), 11);
        assert!(a.as_bytes()[0].is_ascii_alphabetic() && a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn data_element_codes_fit_dhis2() {
        for i in DICTIONARY.iter() {
            for part in ["NUM", "DEN"] {
                assert!(data_element(i.id, part).len() <= 50, "{}", i.id);
            }
        }
    }
}
