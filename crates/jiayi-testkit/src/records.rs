//! Records as a tablet writes them — residents with valid ID numbers, contracts, visits
//! with measurements, surveys — for the simulator, the benchmarks and tests. Values
//! follow the protocol's rules (docs/sync-protocol.md), never the server's code.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

const SURNAMES: [&str; 24] = [
    "李", "王", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "罗",
    "谭", "彭", "邓", "曾", "欧阳",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "秀英", "建国", "桂英", "志强", "春梅", "德明", "玉兰", "海波", "丽娟", "卫东", "淑珍", "国庆", "冬梅",
    "满仓", "金凤", "长青", "小红", "光明", "翠兰", "铁柱", "慧", "磊",
];
const RECORDED_TAGS: [&str; 4] = ["hypertension", "diabetes", "disability", "poverty"];

/// A valid 18-character ID number (GB 11643): area, birth date, a sequence whose last
/// digit is odd for a man. The check character is the server's own generator's.
pub fn id_number(area: u32, birth: NaiveDate, seq: u32, male: bool) -> String {
    let seq = (seq % 500) * 2 + u32::from(male);
    jiayi::domain::id_number::IdNumber::generate(&format!("{area:06}"), birth, seq, if male { 'M' } else { 'F' })
        .expose()
        .to_string()
}

/// China Standard Time.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// An instant as a tablet writes it: RFC 3339, seconds, +08:00.
pub fn rfc3339(ms: i64) -> String {
    at(ms).to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub fn at(ms: i64) -> DateTime<FixedOffset> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("instant in range")
        .with_timezone(&cst())
}

/// The date in China of an instant.
pub fn local_date(ms: i64) -> NaiveDate {
    at(ms).date_naive()
}

/// An op as a tablet sends it, with a fresh `op_id`: [`Op::new`](crate::Op::new) recorded at
/// `recorded_ms`, for the simulator's and the benchmarks' generators.
pub fn op(entity: &str, action: &str, id: &str, recorded_ms: i64, data: Value) -> Value {
    crate::ops::Op::new(entity, action, id, data)
        .recorded_ms(recorded_ms)
        .build()
}

/// A new resident's registration data.
pub struct Person {
    /// Resident id.
    pub id: String,
    /// Birth date.
    pub birth: NaiveDate,
    /// Recorded tags.
    pub tags: Vec<String>,
    /// The create op's `data`.
    pub data: Value,
}

/// A believable person in one of the villages, with a valid ID number.
pub fn person(rng: &mut StdRng, village: &str, area: u32, seq: u32, today: NaiveDate) -> Person {
    let age: i32 = match rng.gen_range(0..100) {
        0..=6 => rng.gen_range(1..7),
        7..=40 => rng.gen_range(18..45),
        41..=75 => rng.gen_range(45..65),
        _ => rng.gen_range(65..92),
    };
    let birth = NaiveDate::from_ymd_opt(today.year() - age - 1, rng.gen_range(1..=12), rng.gen_range(1..=28))
        .expect("valid date");
    let male = rng.gen_bool(0.5);
    let mut tags = Vec::new();
    if age >= 35 && rng.gen_bool(0.3) {
        tags.push("hypertension".to_string());
    }
    if age >= 35 && rng.gen_bool(0.12) {
        tags.push("diabetes".to_string());
    }
    if rng.gen_bool(0.05) {
        tags.push(RECORDED_TAGS[2 + rng.gen_range(0..2)].to_string());
    }
    let name = format!(
        "{}{}",
        SURNAMES[rng.gen_range(0..SURNAMES.len())],
        GIVEN[rng.gen_range(0..GIVEN.len())]
    );
    let id = Uuid::now_v7().to_string();
    let data = json!({ "village_code": village, "name": name, "sex": if male { "M" } else { "F" },
        "birth_date": birth.to_string(), "id_number": id_number(area, birth, seq, male),
        "phone": format!("13{:09}", rng.gen_range(0..1_000_000_000u64)), "tags": tags,
        "household_id": format!("H{:08}", rng.gen_range(0..100_000_000u64)) });
    Person { id, birth, tags, data }
}

/// A signed contract for a resident, packages fitting their tags and age.
pub fn contract_data(resident_id: &str, team_id: &str, tags: &[String], elderly: bool, signed_ms: i64) -> Value {
    let mut packages = vec!["BASIC"];
    if tags.iter().any(|t| t == "hypertension") {
        packages.push("HTN");
    }
    if tags.iter().any(|t| t == "diabetes") {
        packages.push("DM");
    }
    if elderly {
        packages.push("ELDERLY");
    }
    json!({ "resident_id": resident_id, "team_id": team_id, "packages": packages, "status": "SIGNED",
            "signed_at": rfc3339(signed_ms), "effective_from": local_date(signed_ms).to_string() })
}

/// A follow-up visit that fits the resident: blood pressure for hypertension, glucose for
/// diabetes, a health check for the elderly, a home visit otherwise.
pub fn visit_data(rng: &mut StdRng, resident_id: &str, tags: &[String], elderly: bool, occurred_ms: i64) -> Value {
    let bp = |rng: &mut StdRng| {
        let s = rng.gen_range(105..175);
        (s, rng.gen_range(60..(s - 20).min(110)))
    };
    let (kind, m) = if tags.iter().any(|t| t == "hypertension") {
        let (s, d) = bp(rng);
        (
            "htn_followup",
            json!({ "systolic": s, "diastolic": d, "heart_rate": rng.gen_range(58..96) }),
        )
    } else if tags.iter().any(|t| t == "diabetes") {
        let g = f64::from(rng.gen_range(45..140)) / 10.0;
        (
            "dm_followup",
            json!({ "fasting_glucose": g, "weight_kg": f64::from(rng.gen_range(450..850)) / 10.0 }),
        )
    } else if elderly {
        let (s, d) = bp(rng);
        let w = f64::from(rng.gen_range(420..800)) / 10.0;
        let h = f64::from(rng.gen_range(1450..1780)) / 10.0;
        (
            "elderly_check",
            json!({ "systolic": s, "diastolic": d, "weight_kg": w, "height_cm": h }),
        )
    } else {
        ("home_visit", json!({}))
    };
    json!({ "resident_id": resident_id, "kind": kind, "occurred_at": rfc3339(occurred_ms), "measurements": m })
}

/// A satisfaction survey answer (questionnaire `satisfaction`, version 1).
pub fn survey_data(rng: &mut StdRng, resident_id: &str, answered_ms: i64) -> Value {
    const SAT: [&str; 5] = [
        "very_satisfied",
        "satisfied",
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
    ];
    let aware = if rng.gen_bool(0.8) { "aware" } else { "unaware" };
    json!({ "resident_id": resident_id, "questionnaire": "satisfaction", "questionnaire_version": 1,
            "answers": { "satisfaction": SAT[rng.gen_range(0..SAT.len())], "awareness": aware },
            "answered_at": rfc3339(answered_ms) })
}

/// 65 or older on `today`.
pub fn elderly(birth: Option<NaiveDate>, today: NaiveDate) -> bool {
    birth.is_some_and(|b| today.years_since(b).unwrap_or(0) >= 65)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_valid_and_carry_the_sex() {
        let n = id_number(431126, NaiveDate::from_ymd_opt(1950, 3, 1).unwrap(), 7, true);
        assert_eq!(n.len(), 18);
        assert_eq!(n.as_bytes()[16] % 2, 1, "odd 17th digit for a man");
        assert!(jiayi::domain::id_number::IdNumber::parse(&n).is_ok(), "{n}");
    }
}
