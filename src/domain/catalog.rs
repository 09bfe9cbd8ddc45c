//! The catalog every county starts with (docs/domain.md, "Contracts"): service packages and the
//! satisfaction questionnaire, version 1. The catalog is each county's own (rows keyed by
//! `county_code`): a county may add more, and what one county adds no other county sees.
//! The seeded rows are never edited.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{questionnaires, regions, service_packages};
use crate::time::now_ms;

/// (code, name, kind, price in fen, self-pay in fen).
pub const PACKAGES: [(&str, &str, &str, i64, i64); 5] = [
    ("BASIC", "基础公共卫生服务包", "basic", 0, 0),
    ("HTN", "高血压管理包", "personalised", 12000, 3000),
    ("DM", "糖尿病管理包", "personalised", 12000, 3000),
    ("ELDERLY", "老年人健康管理包", "personalised", 10000, 2000),
    ("MCH", "母婴健康包", "personalised", 15000, 5000),
];

/// The satisfaction questionnaire, version 1, with the labels tablets show for its options
/// (databases seeded before the labels gain them by migration `questionnaire_labels`).
pub fn satisfaction_v1() -> serde_json::Value {
    serde_json::json!({
        "items": [
            { "code": "satisfaction", "text": "您对家庭医生签约服务是否满意？",
              "options": ["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"],
              "option_texts": { "very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
                                "dissatisfied": "不满意", "very_dissatisfied": "非常不满意" } },
            { "code": "awareness", "text": "您是否知道自己已签约家庭医生？", "options": ["aware", "unaware"],
              "option_texts": { "aware": "知道", "unaware": "不知道" } }
        ],
        "satisfied_options": ["very_satisfied", "satisfied", "basically_satisfied"],
        "aware_options": ["aware"]
    })
}

/// A service package as tablets offer it on the signing screen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageView {
    /// Code, as contracts name it in `packages`.
    pub code: String,
    /// Name to show.
    pub name: String,
    /// `basic` (every contract holds it, free) or `personalised`.
    #[schema(example = "personalised")]
    pub kind: PackageKind,
    /// Price, fen.
    pub price_fen: i64,
    /// What the resident pays of it, fen.
    pub self_pay_fen: i64,
    /// Whether new contracts may take it; retired packages stay listed so that tablets can
    /// still name them on the contracts that hold them.
    pub active: bool,
}

/// A package's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// The basic public-health package every contract includes.
    Basic,
    /// A package the resident chooses.
    Personalised,
}

impl PackageKind {
    /// The kind a stored or imported `kind` names, if it is one.
    pub fn parse(s: &str) -> Option<PackageKind> {
        match s {
            "basic" => Some(PackageKind::Basic),
            "personalised" => Some(PackageKind::Personalised),
            _ => None,
        }
    }
}

/// Every package of the county, by code: what the signing screen offers (the active ones)
/// and names.
pub fn packages(conn: &mut DbConn, county: &str) -> Result<Vec<PackageView>, AppError> {
    let rows: Vec<(String, String, String, i64, i64, bool)> = service_packages::table
        .filter(service_packages::county_code.eq(county))
        .order(service_packages::code)
        .select((
            service_packages::code,
            service_packages::name,
            service_packages::kind,
            service_packages::price_fen,
            service_packages::self_pay_fen,
            service_packages::active,
        ))
        .load(conn)?;
    // `jiayi import packages` checks the kind; a row written by hand with another one is
    // left out (and logged) rather than failing every tablet's bootstrap.
    Ok(rows
        .into_iter()
        .filter_map(|(code, name, kind, price_fen, self_pay_fen, active)| match PackageKind::parse(&kind) {
            Some(kind) => Some(PackageView { code, name, kind, price_fen, self_pay_fen, active }),
            None => {
                tracing::warn!(county = %county, package = %code, kind = %kind, "service package of unknown kind left out of the catalog");
                None
            }
        })
        .collect())
}

/// The county's active packages, code → (price, self-pay) in fen: what signing prices a
/// contract from; another county's packages are unknown here.
pub fn active_prices(
    conn: &mut DbConn,
    county: &str,
) -> Result<std::collections::HashMap<String, (i64, i64)>, AppError> {
    let rows: Vec<(String, i64, i64)> = service_packages::table
        .filter(service_packages::county_code.eq(county))
        .filter(service_packages::active.eq(true))
        .select((
            service_packages::code,
            service_packages::price_fen,
            service_packages::self_pay_fen,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(c, p, s)| (c, (p, s))).collect())
}

/// Inserts whatever part of the default catalog any county lacks (at start-up, so that
/// no county is ever without `BASIC` and the satisfaction questionnaire).
pub fn ensure(conn: &mut DbConn) -> Result<(), AppError> {
    let counties: Vec<String> = regions::table
        .filter(regions::level.eq("county"))
        .order(regions::code)
        .select(regions::code)
        .load(conn)?;
    for county in counties {
        ensure_county(conn, &county)?;
    }
    Ok(())
}

/// Inserts whatever part of the default catalog the county lacks (when the county is
/// created, and at every start-up through [`ensure`]).
pub fn ensure_county(conn: &mut DbConn, county: &str) -> Result<(), AppError> {
    let now = now_ms();
    let held: Vec<String> = service_packages::table
        .filter(service_packages::county_code.eq(county))
        .select(service_packages::code)
        .load(conn)?;
    for (code, name, kind, price, self_pay) in PACKAGES {
        if !held.iter().any(|h| h == code) {
            diesel::insert_into(service_packages::table)
                .values((
                    service_packages::county_code.eq(county),
                    service_packages::code.eq(code),
                    service_packages::name.eq(name),
                    service_packages::kind.eq(kind),
                    service_packages::price_fen.eq(price),
                    service_packages::self_pay_fen.eq(self_pay),
                    service_packages::active.eq(true),
                    service_packages::created_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    let exists = questionnaires::table
        .find((county, "satisfaction", 1))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(questionnaires::table)
            .values((
                questionnaires::county_code.eq(county),
                questionnaires::code.eq("satisfaction"),
                questionnaires::version.eq(1),
                questionnaires::title.eq("家庭医生签约服务满意度调查"),
                questionnaires::definition.eq(satisfaction_v1().to_string()),
                questionnaires::satisfaction_item.eq(Some("satisfaction")),
                questionnaires::awareness_item.eq(Some("awareness")),
                questionnaires::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A package as `jiayi import packages` reads it from a row, every field as written.
pub struct NewPackage<'a> {
    /// The county whose catalog it joins.
    pub county: &'a str,
    /// `code`.
    pub code: &'a str,
    /// `name`.
    pub name: &'a str,
    /// `kind`.
    pub kind: &'a str,
    /// `price_fen`, fen.
    pub price: &'a str,
    /// `self_pay_fen`, fen.
    pub self_pay: &'a str,
}

/// Adds a service package to a county's catalog; a code the county has is refused, never
/// overwritten (contracts keep the price they were signed at, but the catalog entry itself
/// stays as first defined). Another county's package of the same code is another row.
pub fn add_package(conn: &mut DbConn, p: &NewPackage) -> Result<String, AppError> {
    let NewPackage {
        county,
        code,
        name,
        kind,
        price,
        self_pay,
    } = *p;
    let is_county = super::region::find(conn, county)?.is_some_and(|r| r.level == "county");
    if !is_county {
        return Err(AppError::invalid(
            Code::UnknownRegion,
            "county_code",
            "no such county: import its regions first",
        ));
    }
    let code_ok = (2..=16).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !code_ok {
        return Err(AppError::invalid(
            Code::InvalidPackageCode,
            "code",
            "a package code is 2–16 of A–Z 0–9 _",
        ));
    }
    let name = super::validate::text(name, "name", 100)?;
    if PackageKind::parse(kind).is_none() {
        return Err(AppError::invalid(
            Code::InvalidPackageKind,
            "kind",
            "kind must be basic or personalised",
        ));
    }
    let price: i64 =
        price.parse().ok().filter(|p| *p >= 0).ok_or_else(|| {
            AppError::invalid(Code::InvalidPrice, "price_fen", "price_fen must be a whole number ≥ 0")
        })?;
    let self_pay: i64 = self_pay
        .parse()
        .ok()
        .filter(|s| (0..=price).contains(s))
        .ok_or_else(|| {
            AppError::invalid(
                Code::InvalidSelfPay,
                "self_pay_fen",
                "self_pay_fen must be a whole number from 0 to price_fen",
            )
        })?;
    let exists = service_packages::table
        .find((county, code))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        return Err(AppError::conflict(
            Code::PackageExists,
            format!("package {code} already exists in county {county}"),
        )
        .with_field("code"));
    }
    diesel::insert_into(service_packages::table)
        .values((
            service_packages::county_code.eq(county),
            service_packages::code.eq(code),
            service_packages::name.eq(&name),
            service_packages::kind.eq(kind),
            service_packages::price_fen.eq(price),
            service_packages::self_pay_fen.eq(self_pay),
            service_packages::active.eq(true),
            service_packages::created_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(code.to_string())
}
