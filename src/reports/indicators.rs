//! The indicator dictionary, version 1 (docs/reports.md). Definitions change by adding a
//! version, never by editing one in place: a 2025 report made under v1 must come out the
//! same after v2 exists.

use serde::Serialize;
use utoipa::ToSchema;

/// Version of the dictionary these definitions belong to.
pub const DICTIONARY_VERSION: &str = "v1";

/// Where an indicator's denominator comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    /// A population category (imported; registered residents carrying it as the fallback).
    Population(&'static str),
    /// Registered residents carrying a tag, always (no imported figure is meant).
    Registered(&'static str),
    /// Another count of the same report (e.g. `htn_managed`'s numerator).
    Computed,
    /// None: the indicator is a plain count.
    Count,
}

/// One indicator's definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Indicator {
    /// Stable id, e.g. `signing_rate`.
    pub id: &'static str,
    /// Chinese name as county reports print it.
    pub name_zh: &'static str,
    /// English name.
    pub name_en: &'static str,
    /// What is counted.
    pub numerator: &'static str,
    /// What it is divided by (empty for plain counts).
    pub denominator: &'static str,
    /// Population category of the denominator, when it comes from the population table.
    pub denominator_category: Option<&'static str>,
    /// `rate` or `count`.
    pub kind: &'static str,
    /// Definition version.
    pub version: u32,
    #[serde(skip)]
    #[schema(ignore)]
    /// How the report finds the denominator.
    pub source: Denominator,
}

impl Indicator {
    /// True for plain counts (no denominator, no rate).
    pub fn is_count(&self) -> bool {
        self.source == Denominator::Count
    }
}

const fn ind(
    id: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    numerator: &'static str,
    denominator: &'static str,
    source: Denominator,
) -> Indicator {
    let (category, kind) = match source {
        Denominator::Population(c) => (Some(c), "rate"),
        Denominator::Registered(_) | Denominator::Computed => (None, "rate"),
        Denominator::Count => (None, "count"),
    };
    Indicator {
        id,
        name_zh,
        name_en,
        numerator,
        denominator,
        denominator_category: category,
        kind,
        version: 1,
        source,
    }
}

use Denominator::{Computed, Count, Population, Registered};

/// 居民健康档案建档率.
pub const RECORD_RATE: Indicator = ind(
    "record_rate",
    "居民健康档案建档率",
    "Health record rate",
    "residents with a health record (registered by period end, not deleted or merged away), in the village they lived in at period end",
    "resident population 常住人口",
    Population("resident"),
);
/// 家庭医生签约率.
pub const SIGNING_RATE: Indicator = ind(
    "signing_rate",
    "家庭医生签约率",
    "Family-doctor signing rate",
    "distinct residents with a contract in effect at any time in the period",
    "resident population 常住人口",
    Population("resident"),
);
/// 重点人群签约率.
pub const KEY_SIGNING_RATE: Indicator = ind(
    "key_signing_rate",
    "重点人群签约率",
    "Key-population signing rate",
    "distinct residents carrying any key-population tag at period end, with a contract in effect in the period",
    "key population (imported total)",
    Population("key_total"),
);

macro_rules! by_tag {
    ($name:ident, $id:literal, $tag:literal, $zh:literal, $en:literal) => {
        #[doc = concat!("分类人群签约率: ", $zh, ".")]
        pub const $name: Indicator = ind(
            $id,
            concat!("分类人群签约率（", $zh, "）"),
            concat!("Signing rate: ", $en),
            concat!(
                "residents tagged ",
                $tag,
                " at period end with a contract in effect in the period"
            ),
            concat!("population category ", $tag),
            Population($tag),
        );
    };
}
by_tag!(
    SIGNING_ELDERLY,
    "signing_rate.elderly",
    "elderly",
    "65岁以上老年人",
    "aged 65 and over"
);
by_tag!(
    SIGNING_HYPERTENSION,
    "signing_rate.hypertension",
    "hypertension",
    "高血压患者",
    "hypertension patients"
);
by_tag!(
    SIGNING_DIABETES,
    "signing_rate.diabetes",
    "diabetes",
    "2型糖尿病患者",
    "type-2 diabetes patients"
);
by_tag!(
    SIGNING_PREGNANT,
    "signing_rate.pregnant",
    "pregnant",
    "孕产妇",
    "pregnant and postpartum women"
);
by_tag!(
    SIGNING_CHILD,
    "signing_rate.child",
    "child",
    "0-6岁儿童",
    "children aged 0–6"
);
by_tag!(
    SIGNING_SEVERE_MENTAL,
    "signing_rate.severe_mental",
    "severe_mental",
    "严重精神障碍患者",
    "severe mental disorder patients"
);
by_tag!(
    SIGNING_TUBERCULOSIS,
    "signing_rate.tuberculosis",
    "tuberculosis",
    "肺结核患者",
    "tuberculosis patients"
);
by_tag!(
    SIGNING_DISABILITY,
    "signing_rate.disability",
    "disability",
    "残疾人",
    "people with disabilities"
);
by_tag!(
    SIGNING_POVERTY,
    "signing_rate.poverty",
    "poverty",
    "脱贫/建档立卡人口",
    "poverty-registered residents"
);
by_tag!(
    SIGNING_DIBAO,
    "signing_rate.dibao",
    "dibao",
    "低保对象",
    "minimum-living-allowance recipients"
);
by_tag!(
    SIGNING_TEKUN,
    "signing_rate.tekun",
    "tekun",
    "特困人员",
    "extremely poor (五保/特困) residents"
);
by_tag!(
    SIGNING_FAMILY_PLANNING_SPECIAL,
    "signing_rate.family_planning_special",
    "family_planning_special",
    "计生特殊家庭",
    "special family-planning households"
);

/// 签约居民中重点人群占比.
pub const KEY_SHARE_OF_SIGNED: Indicator = ind(
    "key_share_of_signed",
    "签约居民中重点人群占比",
    "Key populations among signed residents",
    "residents counted in key_signing_rate's numerator",
    "residents counted in signing_rate's numerator",
    Computed,
);
/// 签约协议份数.
pub const CONTRACTS_SIGNED: Indicator = ind(
    "contracts_signed",
    "签约协议份数",
    "Contracts signed",
    "contracts whose signing date is in the period",
    "",
    Count,
);
/// 个性化签约服务.
pub const PERSONALISED_CONTRACTS: Indicator = ind(
    "personalised_contracts",
    "个性化签约服务",
    "Contracts with personalised packages",
    "contracts counted in contracts_signed with at least one personalised package",
    "contracts_signed",
    Computed,
);
/// 续约率.
pub const RENEWAL_RATE: Indicator = ind(
    "renewal_rate",
    "续约率",
    "Renewal rate",
    "contracts that ended by expiry in the period and were renewed by a successor contract for the same resident",
    "contracts that ended by expiry in the period",
    Computed,
);
/// 老年人健康管理率.
pub const ELDERLY_MANAGED: Indicator = ind(
    "elderly_managed",
    "老年人健康管理率",
    "Elderly health management rate",
    "residents aged 65 or over at period end with an elderly annual health check in the period",
    "population aged 65 and over",
    Population("elderly"),
);
/// 高血压患者管理率.
pub const HTN_MANAGED: Indicator = ind(
    "htn_managed",
    "高血压患者管理率",
    "Hypertension management rate",
    "hypertension-tagged residents with at least one hypertension follow-up in the period",
    "hypertension patients (imported estimate)",
    Population("hypertension"),
);
/// 高血压患者规范管理率.
pub const HTN_STANDARD: Indicator = ind(
    "htn_standard",
    "高血压患者规范管理率",
    "Hypertension standard management rate",
    "residents in htn_managed's numerator with at least 4 hypertension follow-ups in the period",
    "htn_managed's numerator",
    Computed,
);
/// 管理人群血压控制率.
pub const HTN_CONTROLLED: Indicator = ind(
    "htn_controlled",
    "管理人群血压控制率",
    "Blood-pressure control rate",
    "residents in htn_managed's numerator whose last hypertension follow-up in the period has systolic < 140 and diastolic < 90",
    "htn_managed's numerator",
    Computed,
);
/// 2型糖尿病患者管理率.
pub const DM_MANAGED: Indicator = ind(
    "dm_managed",
    "2型糖尿病患者管理率",
    "Type-2 diabetes management rate",
    "diabetes-tagged residents with at least one diabetes follow-up in the period",
    "diabetes patients (imported estimate)",
    Population("diabetes"),
);
/// 2型糖尿病患者规范管理率.
pub const DM_STANDARD: Indicator = ind(
    "dm_standard",
    "2型糖尿病患者规范管理率",
    "Diabetes standard management rate",
    "residents in dm_managed's numerator with at least 4 diabetes follow-ups in the period",
    "dm_managed's numerator",
    Computed,
);
/// 管理人群血糖控制率.
pub const DM_CONTROLLED: Indicator = ind(
    "dm_controlled",
    "管理人群血糖控制率",
    "Blood-glucose control rate",
    "residents in dm_managed's numerator whose last diabetes follow-up in the period has fasting glucose < 7.0 mmol/L",
    "dm_managed's numerator",
    Computed,
);
/// 严重精神障碍患者管理.
pub const SMI_MANAGED: Indicator = ind(
    "smi_managed",
    "严重精神障碍患者管理",
    "Severe mental disorder management",
    "residents tagged severe_mental with at least one severe-mental follow-up in the period",
    "residents registered with the severe_mental tag",
    Registered("severe_mental"),
);
/// 肺结核患者管理.
pub const TB_MANAGED: Indicator = ind(
    "tb_managed",
    "肺结核患者管理",
    "Tuberculosis management",
    "residents tagged tuberculosis with at least one tuberculosis follow-up in the period",
    "residents registered with the tuberculosis tag",
    Registered("tuberculosis"),
);
/// 随访人次.
pub const FOLLOWUP_VISITS: Indicator = ind(
    "followup_visits",
    "随访人次",
    "Follow-up visits",
    "follow-up visits (hypertension, diabetes, severe mental, tuberculosis) in the period, an amended visit once",
    "",
    Count,
);
/// 签约居民满意率.
pub const SATISFACTION_RATE: Indicator = ind(
    "satisfaction_rate",
    "签约居民满意率",
    "Satisfaction rate",
    "residents whose latest survey response in the period answering the satisfaction item chose an option marked as satisfied",
    "residents with a survey response in the period that answers the satisfaction item",
    Computed,
);
/// 签约服务知晓率.
pub const AWARENESS_RATE: Indicator = ind(
    "awareness_rate",
    "签约服务知晓率",
    "Awareness rate",
    "residents whose latest survey response in the period answering the awareness item chose an option marked as aware",
    "residents with a survey response in the period that answers the awareness item",
    Computed,
);

/// 上转人次.
pub const REFERRALS_UP: Indicator = ind(
    "referrals_up",
    "上转人次",
    "Up-referrals",
    "referrals up (上转) to a county or higher hospital whose referral date is in the period, not cancelled or deleted, an amended referral once with its amended values",
    "",
    Count,
);
/// 下转人次.
pub const REFERRALS_DOWN: Indicator = ind(
    "referrals_down",
    "下转人次",
    "Down-referrals",
    "referrals down (下转) from a hospital back to the team whose referral date is in the period, not cancelled or deleted, an amended referral once with its amended values",
    "",
    Count,
);
/// 上转7日内接收率.
pub const REFERRALS_UP_RECEIVED_7D: Indicator = ind(
    "referrals_up_received_7d",
    "上转7日内接收率",
    "Up-referrals received within 7 days",
    "referrals counted in referrals_up that the receiving hospital confirmed within 7 × 24 hours of the referral time",
    "referrals_up",
    Computed,
);

/// The population categories with their own signing rate (`signing_rate.<tag>`), in display order.
pub const SIGNING_CATEGORIES: [&str; 12] = [
    "elderly",
    "hypertension",
    "diabetes",
    "pregnant",
    "child",
    "severe_mental",
    "tuberculosis",
    "disability",
    "poverty",
    "dibao",
    "tekun",
    "family_planning_special",
];

/// The whole v1 dictionary, in display order. Coverage reports compute every one of them.
pub const DICTIONARY: [Indicator; 34] = [
    RECORD_RATE,
    SIGNING_RATE,
    KEY_SIGNING_RATE,
    SIGNING_ELDERLY,
    SIGNING_HYPERTENSION,
    SIGNING_DIABETES,
    SIGNING_PREGNANT,
    SIGNING_CHILD,
    SIGNING_SEVERE_MENTAL,
    SIGNING_TUBERCULOSIS,
    SIGNING_DISABILITY,
    SIGNING_POVERTY,
    SIGNING_DIBAO,
    SIGNING_TEKUN,
    SIGNING_FAMILY_PLANNING_SPECIAL,
    KEY_SHARE_OF_SIGNED,
    CONTRACTS_SIGNED,
    PERSONALISED_CONTRACTS,
    RENEWAL_RATE,
    ELDERLY_MANAGED,
    HTN_MANAGED,
    HTN_STANDARD,
    HTN_CONTROLLED,
    DM_MANAGED,
    DM_STANDARD,
    DM_CONTROLLED,
    SMI_MANAGED,
    TB_MANAGED,
    FOLLOWUP_VISITS,
    SATISFACTION_RATE,
    AWARENESS_RATE,
    REFERRALS_UP,
    REFERRALS_DOWN,
    REFERRALS_UP_RECEIVED_7D,
];

/// Finds a definition by id.
pub fn find(id: &str) -> Option<&'static Indicator> {
    DICTIONARY.iter().find(|i| i.id == id)
}

/// Rounds `numerator / denominator` half-up to 4 decimal places; `None` on a zero denominator.
pub fn rate(numerator: i64, denominator: i64) -> Option<f64> {
    if denominator <= 0 {
        return None;
    }
    let scaled = (numerator as i128 * 20_000 + denominator as i128) / (2 * denominator as i128);
    Some(scaled as f64 / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_half_up_to_four_places() {
        assert_eq!(rate(4791, 10000), Some(0.4791));
        assert_eq!(rate(1, 3), Some(0.3333));
        assert_eq!(rate(2, 3), Some(0.6667));
        assert_eq!(rate(1, 20000), Some(0.0001)); // 0.00005 rounds up
        assert_eq!(rate(1, 20001), Some(0.0));
        assert_eq!(rate(5, 0), None);
        assert_eq!(rate(0, 7), Some(0.0));
    }

    #[test]
    fn the_dictionary_has_every_indicator_of_v1_once() {
        let mut ids: Vec<&str> = DICTIONARY.iter().map(|i| i.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DICTIONARY.len(), "ids are unique");
        for tag in SIGNING_CATEGORIES {
            let i = find(&format!("signing_rate.{tag}")).expect("a signing rate per category");
            assert_eq!(i.source, Denominator::Population(tag));
        }
        for id in [
            "record_rate",
            "signing_rate",
            "key_signing_rate",
            "key_share_of_signed",
            "contracts_signed",
            "personalised_contracts",
            "renewal_rate",
            "elderly_managed",
            "htn_managed",
            "htn_standard",
            "htn_controlled",
            "dm_managed",
            "dm_standard",
            "dm_controlled",
            "smi_managed",
            "tb_managed",
            "followup_visits",
            "satisfaction_rate",
            "awareness_rate",
            "referrals_up",
            "referrals_down",
            "referrals_up_received_7d",
        ] {
            let i = find(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(i.version, 1);
            assert!(!i.name_zh.is_empty() && !i.name_en.is_empty() && !i.numerator.is_empty());
        }
        assert!(CONTRACTS_SIGNED.is_count() && FOLLOWUP_VISITS.is_count());
        assert!(REFERRALS_UP.is_count() && REFERRALS_DOWN.is_count());
        assert_eq!(DICTIONARY.iter().filter(|i| i.is_count()).count(), 4);
    }
}
