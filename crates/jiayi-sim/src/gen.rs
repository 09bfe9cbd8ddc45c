//! What a tablet records while it is offline: residents registered, contracts signed,
//! follow-up visits with measurements, satisfaction surveys, edits of residents the team
//! shares, and the odd record the server must refuse. Each op comes with what the tablet
//! expects of it, written from the protocol's rules (`docs/sync-protocol.md`), never from
//! the server's code: the simulator's ledger is the tablet's own view.
//!
//! The records themselves come from the test kit (`jiayi_testkit::records`).

#[cfg(test)]
use chrono::Utc;
use chrono::{Datelike, NaiveDate, TimeZone};
use jiayi_testkit::records::{contract_data, elderly, local_date, op, person, rfc3339, survey_data, visit_data};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

/// What the tablet expects the server to do with an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// A valid record: applied (or `conflict`, when it belongs to a [`Group`]).
    Store,
    /// Deliberately invalid (or in the future beyond the server's clock rule): rejected
    /// with one of these codes and kept in quarantine.
    Reject(Vec<&'static str>),
}

/// Ops whose outcome depends on each other, checked together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Edits of the same field of one shared resident, all from the same base version:
    /// every one after the first to arrive is a `conflict`, and the edit with the latest
    /// clinical time holds the field in the end.
    Clash {
        /// The resident.
        resident: String,
        /// The field.
        field: String,
    },
    /// Registrations of the same person (same ID number) by several tablets: all stored,
    /// every one after the first a `conflict` (a duplicate candidate for review).
    SamePerson {
        /// A key naming the person within the run.
        key: String,
    },
}

/// One op the tablet queued, with what it expects.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The op exactly as it is sent.
    pub op: Value,
    /// Expected outcome on its own.
    pub intent: Intent,
    /// Records this tablet created that the op refers to (resident, contract): if they are
    /// not on the server when the op arrives, it is refused (`unknown_resident`, …).
    pub deps: Vec<(String, &'static str)>,
    /// Its group, if any.
    pub group: Option<Group>,
    /// The op's clinical time, epoch ms (for the clash rule).
    pub clinical_ms: i64,
}

/// A resident the tablet received at bootstrap.
#[derive(Debug, Clone)]
pub struct KnownResident {
    /// Id.
    pub id: String,
    /// Server version at bootstrap (the base of an edit).
    pub version: i64,
    /// Birth date, for the visit kinds that fit.
    pub birth_date: Option<NaiveDate>,
    /// Recorded tags.
    pub tags: Vec<String>,
}

/// Who the tablet is and how it works.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Tablet number in the run (pairs 2m, 2m+1 share a team and edit the same residents).
    pub index: usize,
    /// Seed of its generator.
    pub seed: u64,
    /// Its team.
    pub team_id: String,
    /// Its team's villages.
    pub villages: Vec<String>,
    /// Offline days.
    pub days: u32,
    /// Records a day.
    pub ops_per_day: u32,
    /// How far its clock is off, ms (positive: ahead).
    pub skew_ms: i64,
    /// The server's allowance for clocks ahead, ms.
    pub max_skew_ms: i64,
    /// Share of deliberately invalid ops (0–1).
    pub invalid_rate: f64,
    /// A key shared by the run (keeps ID numbers of separate runs apart).
    pub run_key: u64,
}

/// A tablet's residents as it sees them while offline.
struct Mine {
    id: String,
    birth: NaiveDate,
    tags: Vec<String>,
    contract: Option<String>,
}

/// The tablet's offline work, oldest first. `shared` are the team's residents from
/// bootstrap; `now_ms` the true time the work ends (the tablet's clock adds its skew).
pub fn offline_work(p: &Profile, shared: &[KnownResident], now_ms: i64) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let day = 24 * 3600 * 1000i64;
    let total = (p.days * p.ops_per_day).max(1) as usize;
    // Working times spread over the offline days, ending a few minutes before now.
    let start = now_ms - i64::from(p.days.max(1)) * day;
    let mut times: Vec<i64> = (0..total)
        .map(|_| rng.gen_range(start..now_ms - 5 * 60_000) / 1000 * 1000)
        .collect();
    times.sort();
    // The tablet's clock is off by `skew_ms`. A time close to the server's future limit
    // could land on either side of it depending on when it is sent: move it clear.
    let limit = now_ms + p.max_skew_ms;
    let clock = |t: i64| {
        let t = t + p.skew_ms;
        if t > limit - 2 * 60_000 && t < limit + 20 * 60_000 {
            limit + 20 * 60_000 + (t % 1000)
        } else {
            t
        }
    };
    let today = local_date(now_ms);
    let area = 110_000 + ((p.run_key.wrapping_mul(7919) + p.index as u64 * 104_729) % 540_000) as u32;
    let mut seq = 0u32;
    let mut mine: Vec<Mine> = Vec::new();
    let mut out = Vec::with_capacity(total + 4);
    let future = |t: i64| t > limit;
    let push = |out: &mut Vec<Planned>,
                op: Value,
                intent: Intent,
                deps: Vec<(String, &'static str)>,
                group: Option<Group>,
                t: i64| {
        let intent = match (intent, future(t)) {
            (Intent::Store, true) => Intent::Reject(vec!["future_timestamp"]),
            (Intent::Reject(mut codes), true) => {
                codes.push("future_timestamp");
                Intent::Reject(codes)
            }
            (i, false) => i,
        };
        out.push(Planned {
            op,
            intent,
            deps,
            group,
            clinical_ms: t,
        });
    };
    let pair = p.index / 2;
    for (k, &t0) in times.iter().enumerate() {
        let t = clock(t0);
        let village = &p.villages[rng.gen_range(0..p.villages.len())];
        // The first op of each tablet: an edit of a resident its pair partner edits too.
        if k == 0 && !shared.is_empty() {
            let r = &shared[(pair * 7919) % shared.len()];
            // Distinct clinical seconds within a pair, so the later one is well defined.
            let t = t + (p.index % 2) as i64 * 1000;
            let data = json!({ "household_id": format!("HH-{}-{}", p.run_key % 100_000, p.index) });
            let mut o = op("resident", "update", &r.id, t, data);
            o["base_version"] = json!(r.version);
            let g = Group::Clash {
                resident: r.id.clone(),
                field: "household_id".into(),
            };
            push(&mut out, o, Intent::Store, vec![], Some(g), t);
            continue;
        }
        // The second: both tablets of a pair register the same person.
        if k == 1 {
            let mut prng = StdRng::seed_from_u64(p.run_key ^ (pair as u64).wrapping_mul(0x9e37_79b9));
            let parea = 660_000 + ((p.run_key + pair as u64 * 31) % 99_000) as u32;
            let person = person(&mut prng, village, parea, pair as u32, today);
            let mut data = person.data;
            data["village_code"] = json!(village);
            let o = op("resident", "create", &Uuid::now_v7().to_string(), t, data);
            let g = Group::SamePerson {
                key: format!("{}-{pair}", p.run_key),
            };
            push(&mut out, o, Intent::Store, vec![], Some(g), t);
            continue;
        }
        let roll: f64 = rng.gen();
        if roll < p.invalid_rate {
            // Deliberately invalid records a real tablet might send.
            let (o, code) = match rng.gen_range(0..3) {
                0 => {
                    let mut per = person(&mut rng, village, area, seq, today);
                    seq += 1;
                    per.data["tags"] = json!(["smoker"]);
                    (op("resident", "create", &per.id, t, per.data), "unknown_tag")
                }
                1 => {
                    let mut per = person(&mut rng, village, area, seq, today);
                    seq += 1;
                    let idn = per.data["id_number"].as_str().unwrap_or_default().to_string();
                    let last = if idn.ends_with('0') { '1' } else { '0' };
                    per.data["id_number"] = json!(format!("{}{last}", &idn[..17]));
                    (op("resident", "create", &per.id, t, per.data), "id_number_checksum")
                }
                _ => {
                    let target = shared.get(rng.gen_range(0..shared.len().max(1))).map(|r| r.id.clone());
                    let rid = target.or_else(|| mine.first().map(|m| m.id.clone()));
                    let Some(rid) = rid else {
                        continue;
                    };
                    let data = json!({ "resident_id": rid, "kind": "htn_followup", "occurred_at": rfc3339(t),
                        "measurements": { "systolic": 400, "diastolic": 90 } });
                    (
                        op("visit", "create", &Uuid::now_v7().to_string(), t, data),
                        "out_of_range",
                    )
                }
            };
            push(&mut out, o, Intent::Reject(vec![code]), vec![], None, t);
            continue;
        }
        let roll: f64 = rng.gen();
        if roll < 0.2 || (mine.is_empty() && shared.is_empty()) {
            // Register a new resident; most sign on the spot.
            let per = person(&mut rng, village, area, seq, today);
            seq += 1;
            push(
                &mut out,
                op("resident", "create", &per.id, t, per.data),
                Intent::Store,
                vec![],
                None,
                t,
            );
            let mut m = Mine {
                id: per.id,
                birth: per.birth,
                tags: per.tags,
                contract: None,
            };
            if rng.gen_bool(0.75) {
                let cid = Uuid::now_v7().to_string();
                let data = contract_data(&m.id, &p.team_id, &m.tags, elderly(Some(m.birth), today), t);
                push(
                    &mut out,
                    op("contract", "create", &cid, t, data),
                    Intent::Store,
                    vec![(m.id.clone(), "unknown_resident")],
                    None,
                    t,
                );
                m.contract = Some(cid);
            }
            mine.push(m);
        } else if roll < 0.8 {
            // A follow-up visit: a resident of this tablet's or one the team shares.
            let own = !mine.is_empty() && (shared.is_empty() || rng.gen_bool(0.4));
            let id = Uuid::now_v7().to_string();
            if own {
                let m = &mine[rng.gen_range(0..mine.len())];
                let mut data = visit_data(&mut rng, &m.id, &m.tags, elderly(Some(m.birth), today), t);
                let deps = vec![(m.id.clone(), "unknown_resident")];
                // The server keeps a visit whose contract has not arrived yet (batches
                // reordered): the reference is recorded, not checked, so it is no dependency.
                if let Some(c) = &m.contract {
                    data["contract_id"] = json!(c);
                }
                push(
                    &mut out,
                    op("visit", "create", &id, t, data),
                    Intent::Store,
                    deps,
                    None,
                    t,
                );
            } else {
                let r = &shared[rng.gen_range(0..shared.len())];
                let data = visit_data(&mut rng, &r.id, &r.tags, elderly(r.birth_date, today), t);
                push(
                    &mut out,
                    op("visit", "create", &id, t, data),
                    Intent::Store,
                    vec![],
                    None,
                    t,
                );
            }
        } else {
            let id = Uuid::now_v7().to_string();
            if !mine.is_empty() && (shared.is_empty() || rng.gen_bool(0.5)) {
                let m = &mine[rng.gen_range(0..mine.len())];
                let deps = vec![(m.id.clone(), "unknown_resident")];
                let data = survey_data(&mut rng, &m.id, t);
                push(
                    &mut out,
                    op("survey", "create", &id, t, data),
                    Intent::Store,
                    deps,
                    None,
                    t,
                );
            } else {
                let r = &shared[rng.gen_range(0..shared.len())];
                let data = survey_data(&mut rng, &r.id, t);
                push(
                    &mut out,
                    op("survey", "create", &id, t, data),
                    Intent::Store,
                    vec![],
                    None,
                    t,
                );
            }
        }
    }
    out
}

/// Of the residents a tablet registers on a registration day, the share who sign a
/// contract on the spot; of those who sign, the shares who also get a follow-up visit and
/// answer the satisfaction survey the same day. Together about two ops a resident, the
/// mix of the county in docs/benchmarks.md ("County scale through the sync API").
pub const SIGN_SHARE: f64 = 0.8;
/// See [`SIGN_SHARE`].
pub const VISIT_SHARE: f64 = 0.19;
/// See [`SIGN_SHARE`].
pub const SURVEY_SHARE: f64 = 0.085;

/// Residents one tablet may register in a registration day: its ID numbers take area
/// codes of its own, 500 sequence numbers each, and a tablet has 100 of them.
pub const MAX_DAY_RESIDENTS: usize = 50_000;

/// A team's tablet on a registration day (`jiayi-sim county`).
#[derive(Debug, Clone)]
pub struct DayProfile {
    /// Tablet number in the run: keeps its ID numbers apart from the other tablets'.
    pub index: usize,
    /// Seed of its generator.
    pub seed: u64,
    /// Its team.
    pub team_id: String,
    /// Its team's villages.
    pub villages: Vec<String>,
    /// Residents it registers (at most [`MAX_DAY_RESIDENTS`]).
    pub residents: usize,
    /// A key shared by the run.
    pub run_key: u64,
}

/// A registration day's queue, oldest first: each resident registered, most signing a
/// contract on the spot, some of those also followed up and surveyed, at times of the
/// last hours before `now_ms` within its year. No record is refused: every
/// ID number is valid and distinct within the run, and each op's resident comes first.
pub fn registration_day(p: &DayProfile, now_ms: i64) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let end = now_ms - 5 * 60_000;
    let today = local_date(end);
    let year_start = jiayi_testkit::records::cst()
        .with_ymd_and_hms(today.year(), 1, 1, 0, 0, 0)
        .single()
        .map_or(end, |d| d.timestamp_millis());
    // Within the year of `end`, so the year's report counts every record.
    let start = (end - 8 * 3600 * 1000).clamp(year_start.min(end), end);
    let mut times: Vec<i64> = (0..p.residents)
        .map(|_| rng.gen_range(start..=end) / 1000 * 1000)
        .collect();
    times.sort();
    // `person` numbers people 0–499 within an area code: each block of 500 residents gets
    // the next area code of this tablet's own range.
    let slot = (p.run_key % 5400 + p.index as u64) % 5400;
    let mut out = Vec::with_capacity(p.residents * 2 + p.residents / 4);
    for (seq, &t) in times.iter().enumerate() {
        let store = |op: Value, deps: Vec<(String, &'static str)>| Planned {
            op,
            intent: Intent::Store,
            deps,
            group: None,
            clinical_ms: t,
        };
        let village = &p.villages[rng.gen_range(0..p.villages.len())];
        let area = 110_000 + (slot * 100) as u32 + (seq / 500 % 100) as u32;
        let per = person(&mut rng, village, area, seq as u32, today);
        let rid = per.id.clone();
        out.push(store(op("resident", "create", &rid, t, per.data), vec![]));
        if !rng.gen_bool(SIGN_SHARE) {
            continue;
        }
        let old = elderly(Some(per.birth), today);
        let dep = || vec![(rid.clone(), "unknown_resident")];
        let cid = Uuid::now_v7().to_string();
        let data = contract_data(&rid, &p.team_id, &per.tags, old, t);
        out.push(store(op("contract", "create", &cid, t, data), dep()));
        if rng.gen_bool(VISIT_SHARE) {
            let mut data = visit_data(&mut rng, &rid, &per.tags, old, t);
            data["contract_id"] = json!(cid);
            out.push(store(
                op("visit", "create", &Uuid::now_v7().to_string(), t, data),
                dep(),
            ));
        }
        if rng.gen_bool(SURVEY_SHARE) {
            let data = survey_data(&mut rng, &rid, t);
            out.push(store(
                op("survey", "create", &Uuid::now_v7().to_string(), t, data),
                dep(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_far_ahead_makes_recent_work_expected_rejected() {
        let now = Utc::now().timestamp_millis();
        let p = Profile {
            index: 0,
            seed: 1,
            team_id: "t".into(),
            villages: vec!["431126100001".into()],
            days: 2,
            ops_per_day: 20,
            skew_ms: 24 * 3600 * 1000,
            max_skew_ms: 600_000,
            invalid_rate: 0.0,
            run_key: 1,
        };
        let ops = offline_work(&p, &[], now);
        let future = ops
            .iter()
            .filter(|o| o.intent == Intent::Reject(vec!["future_timestamp"]))
            .count();
        assert!(future > 0 && future < ops.len(), "{future} of {}", ops.len());
        for o in &ops {
            let late = o.clinical_ms > now + p.max_skew_ms;
            assert_eq!(late, matches!(o.intent, Intent::Reject(_)), "{}", o.op);
            let near = (o.clinical_ms - (now + p.max_skew_ms)).abs() < 2 * 60_000;
            assert!(!near, "no time near the limit");
        }
    }

    #[test]
    fn a_registration_day_has_distinct_valid_id_numbers_and_about_two_ops_a_resident() {
        let now = Utc::now().timestamp_millis();
        let day = |index| DayProfile {
            index,
            seed: index as u64,
            team_id: "t".into(),
            villages: vec!["431126201201".into(), "431126201202".into()],
            residents: 1_200,
            run_key: 7,
        };
        let mut ids = std::collections::HashSet::new();
        let mut residents = 0;
        let mut ops = 0;
        for index in 0..2 {
            let queue = registration_day(&day(index), now);
            ops += queue.len();
            let mut seen = std::collections::HashSet::new();
            for p in &queue {
                assert_eq!(p.intent, Intent::Store);
                assert!(p.clinical_ms <= now && local_date(p.clinical_ms).year() == local_date(now - 300_000).year());
                for (dep, _) in &p.deps {
                    assert!(seen.contains(dep), "a record's resident comes before it");
                }
                seen.insert(p.op["id"].as_str().unwrap().to_string());
                if p.op["entity"] == "resident" {
                    residents += 1;
                    let n = p.op["data"]["id_number"].as_str().unwrap();
                    assert!(jiayi::domain::id_number::IdNumber::parse(n).is_ok());
                    assert!(ids.insert(n.to_string()), "ID numbers are distinct across tablets");
                }
            }
        }
        assert_eq!(residents, 2_400);
        let per_resident = ops as f64 / residents as f64;
        assert!((1.9..2.15).contains(&per_resident), "{per_resident}");
    }
}
