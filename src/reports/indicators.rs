//! The indicator dictionary, version 1 (`INDICATORS.md`). Definitions change by adding a
//! version, never by editing one in place.

use serde::Serialize;
use utoipa::ToSchema;

/// Version of the dictionary these definitions belong to.
pub const DICTIONARY_VERSION: &str = "v1";

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
    /// Definition version.
    pub version: u32,
}

const fn ind(
    id: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    numerator: &'static str,
    denominator: &'static str,
    denominator_category: Option<&'static str>,
) -> Indicator {
    Indicator {
        id,
        name_zh,
        name_en,
        numerator,
        denominator,
        denominator_category,
        version: 1,
    }
}

/// 居民健康档案建档率.
pub const RECORD_RATE: Indicator = ind(
    "record_rate",
    "居民健康档案建档率",
    "Health record rate",
    "residents with a health record (registered by period end, not deleted or merged away)",
    "resident population 常住人口",
    Some("resident"),
);
/// 家庭医生签约率.
pub const SIGNING_RATE: Indicator = ind(
    "signing_rate",
    "家庭医生签约率",
    "Family-doctor signing rate",
    "distinct residents with a contract in effect at any time in the period",
    "resident population 常住人口",
    Some("resident"),
);
/// 重点人群签约率.
pub const KEY_SIGNING_RATE: Indicator = ind(
    "key_signing_rate",
    "重点人群签约率",
    "Key-population signing rate",
    "distinct residents carrying any key-population tag at period end, with a contract in effect in the period",
    "key population (imported total)",
    Some("key_total"),
);
/// 签约居民中重点人群占比.
pub const KEY_SHARE_OF_SIGNED: Indicator = ind(
    "key_share_of_signed",
    "签约居民中重点人群占比",
    "Key populations among signed residents",
    "residents counted in key_signing_rate's numerator",
    "residents counted in signing_rate's numerator",
    None,
);
/// 签约协议份数.
pub const CONTRACTS_SIGNED: Indicator = ind(
    "contracts_signed",
    "签约协议份数",
    "Contracts signed",
    "contracts whose signing date is in the period",
    "",
    None,
);
/// 个性化签约服务.
pub const PERSONALISED_CONTRACTS: Indicator = ind(
    "personalised_contracts",
    "个性化签约服务",
    "Contracts with personalised packages",
    "contracts counted in contracts_signed with at least one personalised package",
    "contracts_signed",
    None,
);

/// The indicators coverage reports compute, in display order.
pub const COMPUTED: [Indicator; 6] = [
    RECORD_RATE,
    SIGNING_RATE,
    KEY_SIGNING_RATE,
    KEY_SHARE_OF_SIGNED,
    CONTRACTS_SIGNED,
    PERSONALISED_CONTRACTS,
];

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
}
