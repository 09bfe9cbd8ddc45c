//! The demo county (docs/operations.md): `cargo run --release` on an empty embedded database loads a
//! small, believable county so the dashboard and the tablets have something to show.
//!
//! Everything is written through the domain functions a sync push uses, acting as each
//! team's lead on a registered demo device, in one transaction. The generator is seeded, so
//! the same day always gives the same county (ids are UUIDv7 and differ; values do not).
//! Clinical times fall between January 1st of the current year (or a resident's
//! registration) and now, never later.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, SecondsFormat, TimeZone};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::access::Caller as Auth;
use crate::auth::device;
use crate::db::{write_tx, DbConn, Pool};
use crate::domain::caller::load_caller;
use crate::domain::contract::{self, ContractData};
use crate::domain::id_number::IdNumber;
use crate::domain::not_signed::{self, NotSignedData};
use crate::domain::resident::{self, ResidentData};
use crate::domain::survey::{self, SurveyData};
use crate::domain::team::{self, NewTeam};
use crate::domain::user::{self, NewUser};
use crate::domain::visit::{self, Measurements, VisitData};
use crate::domain::{population, region, WriteCtx};
use crate::error::AppError;
use crate::schema::regions;
use crate::time::{now_ms, today_cst, Millis};
use crate::vocabulary::ContractStatus::{Draft, Signed};

/// The demo county's division code (a real-looking Hunan code).
pub const COUNTY_CODE: &str = "431126000000";
/// The demo county's name.
pub const COUNTY_NAME: &str = "示范县";
/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "jiayi-demo";

/// The generator's seed: the same county every time.
const SEED: u64 = 0x4a49_4159_4931_3236;
const AREA6: &str = "431126";
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Townships: (code, name).
const TOWNSHIPS: [(&str, &str); 5] = [
    ("431126100000", "城关镇"),
    ("431126101000", "青山乡"),
    ("431126102000", "白沙镇"),
    ("431126103000", "桃花乡"),
    ("431126104000", "石桥镇"),
];

/// Eight villages per township. 城关镇 starts with four communities (居委会, codes 001–004).
const VILLAGES: [[&str; 8]; 5] = [
    [
        "东门社区",
        "西门社区",
        "南街社区",
        "北塔社区",
        "莲塘村",
        "枫林村",
        "杨家坪村",
        "新民村",
    ],
    [
        "青山村",
        "竹园村",
        "石板村",
        "黄泥村",
        "长冲村",
        "高峰村",
        "大坪村",
        "龙潭村",
    ],
    [
        "白沙村",
        "沙洲村",
        "河口村",
        "柳树村",
        "金盆村",
        "水口村",
        "荷叶村",
        "双江村",
    ],
    [
        "桃花村",
        "李家村",
        "樟树村",
        "茶园村",
        "梅溪村",
        "响水村",
        "青龙村",
        "花桥村",
    ],
    [
        "石桥村",
        "马头村",
        "凤形村",
        "田心村",
        "泉塘村",
        "松林村",
        "栗山村",
        "白果村",
    ],
];

/// Team leads' display names, by team.
const LEAD_NAMES: [&str; 8] = [
    "刘建国",
    "谭志强",
    "彭红梅",
    "邓国华",
    "曾卫东",
    "唐秀英",
    "肖永刚",
    "蒋丽华",
];

const SURNAMES: [&str; 40] = [
    "李", "王", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马",
    "罗", "谭", "彭", "邓", "曾", "唐", "肖", "蒋", "欧阳", "谢", "廖", "龙", "贺", "颜", "易", "向", "田", "雷", "伍",
    "邹", "石",
];
const MALE_GIVEN: [&str; 40] = [
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "辉", "斌", "建国", "建华", "志强", "国庆", "德明", "永红", "春生",
    "海波", "立新", "卫东", "文斌", "家豪", "子轩", "浩然", "宇航", "俊杰", "光明", "长青", "满仓", "福生", "冬生",
    "金山", "铁柱", "新华", "晓东", "鹏", "磊", "刚", "平", "波",
];
const FEMALE_GIVEN: [&str; 40] = [
    "芳", "娟", "敏", "静", "丽", "艳", "霞", "燕", "红", "玲", "秀英", "桂英", "秀兰", "玉兰", "春梅", "冬梅", "淑珍",
    "凤英", "美华", "丽娟", "海燕", "小红", "婷婷", "欣怡", "梓涵", "诗琪", "雨萱", "佳怡", "慧", "琴", "萍", "莉",
    "桂花", "菊香", "翠兰", "满英", "金凤", "爱华", "晓雯", "雪",
];

/// What the demo load created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// The county's code.
    pub county_code: String,
    /// Townships created.
    pub townships: usize,
    /// Villages created.
    pub villages: usize,
    /// Teams created.
    pub teams: usize,
    /// Staff accounts created.
    pub users: usize,
    /// Residents registered.
    pub residents: usize,
    /// Contracts created (signed and drafts).
    pub contracts: usize,
    /// Service visits recorded.
    pub visits: usize,
    /// Satisfaction survey responses recorded.
    pub surveys: usize,
    /// Not-signed records.
    pub not_signed: usize,
}

impl DemoSummary {
    /// Prints what was loaded and how to log in.
    pub fn print(&self) {
        println!(
            "已载入示范县演示数据 / demo county loaded: {COUNTY_NAME} ({})",
            self.county_code
        );
        println!(
            "  {} 乡镇 townships, {} 村/社区 villages, {} 家医团队 teams, {} 用户 users",
            self.townships, self.villages, self.teams, self.users
        );
        println!(
            "  {} 居民 residents, {} 签约 contracts, {} 服务记录 visits, {} 满意度调查 surveys, {} 未签约登记 not-signed",
            self.residents, self.contracts, self.visits, self.surveys, self.not_signed
        );
    }
}

/// Prints where a demo server listens and how to log in (every start in demo mode);
/// `public_secret` says tokens are signed with [`crate::config::DEMO_SECRET`], so the
/// banner warns that anyone can forge them.
pub fn print_logins(port: u16, public_secret: bool) {
    println!("jiayi 示范县 demo: http://127.0.0.1:{port}  (API under /api/v1, spec at /api-docs/openapi.json)");
    println!("  督导看板 dashboard http://127.0.0.1:{port}/   ·   家医随访 field app http://127.0.0.1:{port}/field/");
    if public_secret {
        println!(
            "警告 WARNING: demo tokens are signed with the public demo secret: anyone can forge them. \
             Never put real residents' data on this server"
        );
    }
    println!("演示账号 / demo logins (密码 password: {DEMO_PASSWORD}):");
    println!("  {:<12} 县卫健局管理员 county administrator", "admin");
    println!(
        "  {:<12} 城关镇督导 township supervisor ({})",
        "supervisor1", TOWNSHIPS[0].0
    );
    println!("  {:<12} 家庭医生 doctor, team T01", "doctor1");
    println!(
        "  {:<12} 家庭医生 doctor, team T02 (same township, other team)",
        "doctor2"
    );
    println!("  {:<12} 团队长 team leads of T01…T08", "lead1…lead8");
    println!(
        "e.g. curl -s -X POST http://127.0.0.1:{port}/api/v1/auth/login -H 'content-type: application/json' \\\n  \
         -d '{{\"username\":\"doctor1\",\"password\":\"{DEMO_PASSWORD}\",\"device_id\":\"my-laptop-01\",\"device_name\":\"laptop\"}}'"
    );
}

/// Loads the demo county if the database has no regions yet; `None` when it already has some.
pub fn load_if_empty(pool: &Pool, config: &crate::Config) -> Result<Option<DemoSummary>, AppError> {
    let mut conn = pool.get()?;
    write_tx(&mut conn, |c| {
        let regions_present: i64 = regions::table.count().get_result(c)?;
        if regions_present > 0 {
            return Ok(None);
        }
        load(c, config).map(Some)
    })
}

/// A team as planned: code, name, township index, village codes.
struct TeamPlan {
    code: String,
    name: String,
    township: usize,
    villages: Vec<String>,
}

/// Per-village tallies that the population denominators are derived from.
#[derive(Default, Clone, Copy)]
struct Tally {
    residents: i64,
    key: i64,
    elderly: i64,
    child: i64,
    hypertension: i64,
    diabetes: i64,
}

/// The clock and calendar the generator works in (China Standard Time).
struct Clock {
    now: Millis,
    today: NaiveDate,
    year_start: Millis,
    cst: FixedOffset,
}

impl Clock {
    fn new(now: Millis) -> Clock {
        let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        let today = today_cst();
        let jan1 = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("valid date");
        Clock {
            now,
            today,
            year_start: midnight(cst, jan1).min(now),
            cst,
        }
    }

    /// RFC 3339 with `+08:00`, whole seconds.
    fn rfc3339(&self, ms: Millis) -> String {
        self.at(ms).to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn at(&self, ms: Millis) -> DateTime<FixedOffset> {
        self.cst.timestamp_millis_opt(ms).single().expect("in range")
    }

    fn local_date(&self, ms: Millis) -> NaiveDate {
        self.at(ms).date_naive()
    }

    /// A clinical instant in `[lo, min(hi, now)]`, whole seconds, during working hours
    /// (08:00–18:00) when that fits; clamped to now.
    fn between(&self, rng: &mut StdRng, lo: Millis, hi: Millis) -> Millis {
        self.skewed(rng, lo, hi, 1.0)
    }

    /// Like [`Clock::between`], with the instant's position in the interval raised to
    /// `power` (> 1 leans towards `lo`). Always draws two numbers, so that how many the
    /// generator consumes never depends on the clock.
    fn skewed(&self, rng: &mut StdRng, lo: Millis, hi: Millis, power: f64) -> Millis {
        let (u, hour): (f64, f64) = (rng.gen(), rng.gen());
        let hi = hi.min(self.now);
        if hi <= lo {
            return hi - hi.rem_euclid(1000);
        }
        let t = lo + ((hi - lo) as f64 * u.powf(power)) as i64;
        let day = self.local_date(t);
        let candidate = midnight(self.cst, day) + (8 * 3600 + (hour * 10.0 * 3600.0) as i64) * 1000;
        let chosen = if (lo..=hi).contains(&candidate) { candidate } else { t };
        let whole = chosen - chosen.rem_euclid(1000);
        if whole < lo {
            (whole + 1000).min(hi)
        } else {
            whole
        }
    }
}

fn midnight(cst: FixedOffset, d: NaiveDate) -> Millis {
    cst.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("valid time"))
        .single()
        .expect("fixed offsets are unambiguous")
        .timestamp_millis()
}

/// Prefixes what failed, so a bug in the generator names its record kind.
fn failed(what: &'static str) -> impl Fn(AppError) -> AppError {
    move |mut e| {
        e.message = format!("demo {what}: {}", e.message);
        e
    }
}

fn village_code(township: usize, index: usize) -> String {
    let prefix = &TOWNSHIPS[township].0[..9];
    let n = if township == 0 && index < 4 {
        index + 1
    } else {
        201 + index - if township == 0 { 4 } else { 0 }
    };
    format!("{prefix}{n:03}")
}

fn team_plans() -> Vec<TeamPlan> {
    let mut plans = Vec::new();
    for (t, (_, tname)) in TOWNSHIPS.iter().enumerate() {
        let all: Vec<String> = (0..8).map(|v| village_code(t, v)).collect();
        if t < 3 {
            for (k, ordinal) in ["第一", "第二"].iter().enumerate() {
                plans.push(TeamPlan {
                    code: String::new(),
                    name: format!("{tname}{ordinal}家医团队"),
                    township: t,
                    villages: all[k * 4..k * 4 + 4].to_vec(),
                });
            }
        } else {
            plans.push(TeamPlan {
                code: String::new(),
                name: format!("{tname}家医团队"),
                township: t,
                villages: all,
            });
        }
    }
    for (i, p) in plans.iter_mut().enumerate() {
        p.code = format!("T{:02}", i + 1);
    }
    plans
}

/// An age in whole years: ≈7 % 0–6, ≈18 % 65 and over.
fn sample_age(rng: &mut StdRng) -> u32 {
    let u: f64 = rng.gen();
    let (lo, hi) = match u {
        u if u < 0.07 => (0, 6),
        u if u < 0.19 => (7, 17),
        u if u < 0.49 => (18, 44),
        u if u < 0.82 => (45, 64),
        u if u < 0.92 => (65, 74),
        u if u < 0.98 => (75, 84),
        _ => (85, 96),
    };
    rng.gen_range(lo..=hi)
}

/// A birth date giving exactly `age` today (never today itself).
fn birth_for_age(rng: &mut StdRng, today: NaiveDate, age: u32) -> NaiveDate {
    let anniversary = today.checked_sub_months(Months::new(12 * age)).unwrap_or(today);
    let back = if age == 0 {
        rng.gen_range(1..=364)
    } else {
        rng.gen_range(0..=364)
    };
    anniversary - Days::new(back)
}

/// The seed of the `n`th generator of a stream.
fn sub_seed(stream: u64, n: u64) -> u64 {
    SEED ^ stream.wrapping_mul(0xA24B_AED4_963E_E407) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.gen_bool(p.clamp(0.0, 1.0))
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Recorded tags for a person of this age and sex.
fn sample_tags(rng: &mut StdRng, age: u32, sex: char) -> Vec<String> {
    let mut tags = Vec::new();
    let (htn, dm) = match age {
        0..=17 => (0.0, 0.0),
        18..=44 => (0.03, 0.015),
        45..=64 => (0.12, 0.06),
        _ => (0.28, 0.11),
    };
    let mut add = |rng: &mut StdRng, p: f64, tag: &str| {
        if chance(rng, p) {
            tags.push(tag.to_string());
        }
    };
    add(rng, htn, "hypertension");
    add(rng, dm, "diabetes");
    add(
        rng,
        if sex == 'F' && (20..=40).contains(&age) {
            0.04
        } else {
            0.0
        },
        "pregnant",
    );
    add(rng, if age >= 18 { 0.004 } else { 0.0 }, "severe_mental");
    add(rng, if age >= 18 { 0.001 } else { 0.0 }, "tuberculosis");
    add(rng, 0.02, "disability");
    add(rng, 0.03, "poverty");
    add(rng, 0.02, "dibao");
    add(rng, if age >= 60 { 0.01 } else { 0.0 }, "tekun");
    add(
        rng,
        if (45..=75).contains(&age) { 0.005 } else { 0.0 },
        "family_planning_special",
    );
    tags
}

fn phone(rng: &mut StdRng) -> String {
    let second = *pick(rng, &['3', '5', '7', '8', '9']);
    format!("1{second}{:09}", rng.gen_range(0..1_000_000_000u32))
}

/// A blood pressure reading: mostly controlled, some not; diastolic always below systolic.
fn blood_pressure(rng: &mut StdRng) -> (i32, i32) {
    let systolic = (128.0 + normal(rng) * 14.0).round().clamp(110.0, 170.0) as i32;
    let diastolic = (systolic as f64 * 0.55 + 8.0 + normal(rng) * 6.0)
        .round()
        .clamp(65.0, 105.0) as i32;
    (systolic, diastolic)
}

/// A standard normal deviate (Box–Muller; the seeded RNG keeps it deterministic).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn weight(rng: &mut StdRng, sex: char) -> f64 {
    let mean = if sex == 'M' { 66.0 } else { 56.0 };
    one_decimal((mean + normal(rng) * 8.0).clamp(38.0, 110.0))
}

fn height(rng: &mut StdRng, sex: char) -> f64 {
    let mean = if sex == 'M' { 166.0 } else { 156.0 };
    one_decimal((mean + normal(rng) * 6.0).clamp(135.0, 190.0))
}

/// Loads everything; the caller holds the transaction.
fn load(conn: &mut DbConn, config: &crate::Config) -> Result<DemoSummary, AppError> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let clock = Clock::new(now_ms());
    let year = clock.today.year();

    // Regions (creating the county seeds its catalog).
    region::create(conn, COUNTY_CODE, COUNTY_NAME, None).map_err(failed("region"))?;
    let mut village_count = 0;
    for (t, (code, name)) in TOWNSHIPS.iter().enumerate() {
        region::create(conn, code, name, None).map_err(failed("region"))?;
        for (v, vname) in VILLAGES[t].iter().enumerate() {
            region::create(conn, &village_code(t, v), vname, None).map_err(failed("region"))?;
            village_count += 1;
        }
    }

    // Teams.
    let plans = team_plans();
    let mut team_ids = Vec::with_capacity(plans.len());
    for p in &plans {
        let new = NewTeam {
            code: p.code.clone(),
            name: p.name.clone(),
            township_code: TOWNSHIPS[p.township].0.to_string(),
            village_codes: p.villages.clone(),
        };
        team_ids.push(team::create(conn, &new, None).map_err(failed("team"))?.id);
    }

    // Users.
    let new_user = |username: &str, role: &str, team: Option<&str>, region: Option<&str>, name: &str| NewUser {
        username: username.to_string(),
        password: DEMO_PASSWORD.to_string(),
        role: role.to_string(),
        team_code: team.map(str::to_string),
        region_code: region.map(str::to_string),
        display_name: name.to_string(),
    };
    let mut accounts = vec![
        new_user("admin", "admin", None, Some(COUNTY_CODE), "县卫健局管理员"),
        new_user(
            "supervisor1",
            "supervisor",
            None,
            Some(TOWNSHIPS[0].0),
            "周敏（城关镇卫生院督导）",
        ),
        new_user("doctor1", "doctor", Some("T01"), None, "王丽"),
        new_user("doctor2", "doctor", Some("T02"), None, "陈明"),
    ];
    for (i, p) in plans.iter().enumerate() {
        accounts.push(new_user(
            &format!("lead{}", i + 1),
            "team_lead",
            Some(&p.code),
            None,
            LEAD_NAMES[i],
        ));
    }
    let mut users: BTreeMap<String, user::User> = BTreeMap::new();
    for a in &accounts {
        let u = user::create(conn, a, None).map_err(failed("user"))?;
        users.insert(u.username.clone(), u);
    }

    // One registered tablet per team, used by its lead.
    let mut auths: Vec<Auth> = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        // The tablet's id is guessable, and harmless: a login naming it finds this row only
        // as the lead; anyone else gets a device of their own.
        let client_id = format!("demo-device-{}", p.code);
        let lead = &users[&format!("lead{}", i + 1)];
        let id = Uuid::now_v7().to_string();
        let name = format!("{} 演示平板", p.name);
        device::insert(conn, &id, lead, &client_id, &name, Some("demo"), clock.now).map_err(failed("device"))?;
        auths.push(load_caller(conn, &lead.id, &id).map_err(failed("device"))?);
    }
    let skew = config.max_clock_skew.as_millis().min(i64::MAX as u128) as i64;
    let ctxs: Vec<WriteCtx> = auths
        .iter()
        .map(|a| WriteCtx {
            auth: a,
            op_id: None,
            now: clock.now,
            id_hash_secret: &config.id_hash_secret,
            max_skew_ms: skew,
            journal: None,
        })
        .collect();
    // The doctor named on a contract: T01 and T02 alternate between their doctor and the lead.
    let doctors: Vec<Vec<String>> = (0..plans.len())
        .map(|i| {
            let lead = users[&format!("lead{}", i + 1)].id.clone();
            match i {
                0 => vec![users["doctor1"].id.clone(), lead],
                1 => vec![users["doctor2"].id.clone(), lead],
                _ => vec![lead],
            }
        })
        .collect();

    // Residents, spread over the villages by village size, in households.
    let villages: Vec<(String, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(team, p)| p.villages.iter().map(move |v| (v.clone(), team)))
        .collect();
    let weights: Vec<f64> = villages.iter().map(|_| rng.gen_range(0.6..1.4)).collect();
    let total_weight: f64 = weights.iter().sum();
    let n = config.demo_residents;
    let mut per_village: Vec<usize> = weights
        .iter()
        .map(|w| (n as f64 * w / total_weight).floor() as usize)
        .collect();
    let short = n - per_village.iter().sum::<usize>();
    for i in 0..short {
        let len = per_village.len();
        per_village[i % len] += 1;
    }

    let mut summary = DemoSummary {
        county_code: COUNTY_CODE.to_string(),
        townships: TOWNSHIPS.len(),
        villages: village_count,
        teams: plans.len(),
        users: accounts.len(),
        residents: 0,
        contracts: 0,
        visits: 0,
        surveys: 0,
        not_signed: 0,
    };
    let mut tallies: Vec<Tally> = vec![Tally::default(); villages.len()];
    let mut next_seq: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    let three_years_ago = clock.now - 3 * 365 * DAY_MS;

    // Each village draws its people from its own stream and each person's year from
    // theirs, so that the clock (which moves the dates) never shifts anyone else's draws.
    let mut person_no = 0u64;
    for (vi, (village, team)) in villages.iter().enumerate() {
        let mut village_rng = StdRng::seed_from_u64(sub_seed(1, vi as u64));
        let ctx = &ctxs[*team];
        let team_id = &team_ids[*team];
        let mut remaining = per_village[vi];
        let mut household_no = 0;
        while remaining > 0 {
            household_no += 1;
            let size = village_rng.gen_range(1..=5usize).min(remaining);
            remaining -= size;
            let household_id = format!("{village}-{household_no:04}");
            let family_name = *pick(&mut village_rng, &SURNAMES);
            for _ in 0..size {
                let person = Person::sample(&mut village_rng, &clock, family_name, &mut next_seq);
                person_no += 1;
                let mut person_rng = StdRng::seed_from_u64(sub_seed(2, person_no));
                let t = &mut tallies[vi];
                t.residents += 1;
                t.elderly += i64::from(person.age >= 65);
                t.child += i64::from(person.age <= 6);
                t.hypertension += i64::from(person.has("hypertension"));
                t.diabetes += i64::from(person.has("diabetes"));
                t.key += i64::from(person.is_key());
                write_person(
                    conn,
                    ctx,
                    &mut person_rng,
                    &clock,
                    &person,
                    village,
                    &household_id,
                    team_id,
                    &doctors[*team],
                    three_years_ago,
                    &mut summary,
                )?;
            }
        }
    }

    // Population denominators, consistent with the residents registered.
    for (vi, (village, _)) in villages.iter().enumerate() {
        let t = tallies[vi];
        let up = |rng: &mut StdRng, count: i64, share: f64| -> i64 {
            if count == 0 {
                0
            } else {
                ((count as f64 / share) * rng.gen_range(1.0..1.04)).ceil() as i64
            }
        };
        let resident_pop = up(&mut rng, t.residents, 0.85);
        let registered_pop = (resident_pop as f64 * rng.gen_range(1.08..1.22)).round() as i64;
        let rows = [
            ("resident", resident_pop),
            ("registered", registered_pop),
            ("key_total", up(&mut rng, t.key, 0.85)),
            ("elderly", up(&mut rng, t.elderly, 0.88)),
            ("child", up(&mut rng, t.child, 0.85)),
            ("hypertension", up(&mut rng, t.hypertension, 0.8)),
            ("diabetes", up(&mut rng, t.diabetes, 0.8)),
        ];
        for (category, count) in rows {
            population::set(conn, village, year, category, count, None).map_err(failed("population"))?;
        }
    }
    Ok(summary)
}

/// One generated person, before anything is written.
struct Person {
    name: String,
    sex: char,
    age: u32,
    birth: NaiveDate,
    id_number: IdNumber,
    phone: Option<String>,
    tags: Vec<String>,
}

impl Person {
    fn sample(rng: &mut StdRng, clock: &Clock, family_name: &str, next_seq: &mut BTreeMap<NaiveDate, u32>) -> Person {
        let sex = if rng.gen_bool(0.5) { 'M' } else { 'F' };
        let age = sample_age(rng);
        let birth = birth_for_age(rng, clock.today, age);
        // Most of a household shares the family name; a spouse may not.
        let surname = if rng.gen_bool(0.8) {
            family_name
        } else {
            *pick(rng, &SURNAMES)
        };
        let given = if sex == 'M' {
            *pick(rng, &MALE_GIVEN)
        } else {
            *pick(rng, &FEMALE_GIVEN)
        };
        // Two residents born the same day get different sequence numbers (even for women,
        // odd for men: `generate` moves to the next number of the right parity).
        let k = next_seq.entry(birth).or_insert_with(|| rng.gen_range(0..60));
        let seq = *k * 2;
        *k += 1;
        let id_number = IdNumber::generate(AREA6, birth, seq, sex);
        let has_phone = if age < 14 {
            rng.gen_bool(0.5)
        } else {
            rng.gen_bool(0.92)
        };
        let phone = has_phone.then(|| phone(rng));
        let tags = sample_tags(rng, age, sex);
        Person {
            name: format!("{surname}{given}"),
            sex,
            age,
            birth,
            id_number,
            phone,
            tags,
        }
    }

    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    fn is_key(&self) -> bool {
        self.age >= 65 || self.age <= 6 || !self.tags.is_empty()
    }
}

const HTN_NOTES_OK: [&str; 3] = [
    "血压控制满意，继续当前用药",
    "规律服药，低盐饮食",
    "血压平稳，嘱坚持锻炼",
];
const HTN_NOTES_HIGH: [&str; 2] = [
    "血压控制不满意，调整用药，两周内复诊",
    "血压偏高，已加强健康教育，两周后随访",
];
const DM_NOTES: [&str; 3] = [
    "空腹血糖控制尚可，继续二甲双胍",
    "饮食控制，嘱监测血糖",
    "血糖偏高，调整用药方案",
];
const OTHER_NOTES: [&str; 4] = [
    "上门测量血压血糖，行动不便",
    "咨询用药问题",
    "解读体检报告",
    "指导康复训练",
];

/// Writes a person and what the team did for them this year.
#[allow(clippy::too_many_arguments)]
fn write_person(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    rng: &mut StdRng,
    clock: &Clock,
    p: &Person,
    village: &str,
    household_id: &str,
    team_id: &str,
    doctors: &[String],
    three_years_ago: Millis,
    summary: &mut DemoSummary,
) -> Result<(), AppError> {
    // Registered some time in the last three years, never before birth.
    let birth_ms = midnight(clock.cst, p.birth) + 10 * 3600 * 1000;
    let registered_at = clock.between(rng, three_years_ago.max(birth_ms), clock.now);
    let resident_id = Uuid::now_v7().to_string();
    let data = ResidentData {
        village_code: village.to_string(),
        name: p.name.clone(),
        sex: p.sex.to_string(),
        birth_date: crate::time::fmt_date(p.birth),
        id_number: p.id_number.expose().to_string(),
        phone: p.phone.clone(),
        tags: p.tags.clone(),
        household_id: Some(household_id.to_string()),
    };
    resident::create(
        conn,
        ctx,
        &resident_id,
        &data,
        registered_at,
        clock.local_date(registered_at),
    )
    .map_err(failed("resident"))?;
    summary.residents += 1;

    let first_contact = registered_at.max(clock.year_start);
    let elderly = p.age >= 65;
    let signs = chance(rng, if p.is_key() { 0.75 } else { 0.44 });
    let mut contract: Option<(String, Millis)> = None;
    if signs {
        let draft = chance(rng, 0.03);
        // Most signing happens early in the year (签约季).
        let signed_at = clock.skewed(rng, first_contact, clock.now, 1.8);
        let mut packages = vec!["BASIC".to_string()];
        for (tag_holds, package) in [
            (p.has("hypertension"), "HTN"),
            (p.has("diabetes"), "DM"),
            (elderly, "ELDERLY"),
            (p.has("pregnant"), "MCH"),
        ] {
            if tag_holds && chance(rng, 0.85) {
                packages.push(package.to_string());
            }
        }
        let id = Uuid::now_v7().to_string();
        let when = clock.rfc3339(signed_at);
        let data = ContractData {
            resident_id: resident_id.clone(),
            team_id: team_id.to_string(),
            doctor_id: Some(pick(rng, doctors).clone()),
            packages,
            status: if draft { Draft } else { Signed }.as_str().to_string(),
            signed_at: (!draft).then(|| when.clone()),
            effective_from: crate::time::fmt_date(clock.local_date(signed_at)),
            effective_to: None,
            signature_sha256: None,
            renews: None,
        };
        contract::create(conn, ctx, &id, &data, signed_at).map_err(failed("contract"))?;
        summary.contracts += 1;
        if !draft {
            contract = Some((id, signed_at));
        }
    } else if chance(rng, 0.04) {
        let reasons: [(&str, Option<&str>, u32); 6] = [
            ("declined", None, 30),
            ("away", None, 30),
            ("not_needed", None, 20),
            ("cost", None, 8),
            ("signed_elsewhere", None, 7),
            ("other", Some("长期在外地子女家居住"), 5),
        ];
        let total: u32 = reasons.iter().map(|r| r.2).sum();
        let mut roll = rng.gen_range(0..total);
        let (reason, text, _) = *reasons
            .iter()
            .find(|r| {
                if roll < r.2 {
                    true
                } else {
                    roll -= r.2;
                    false
                }
            })
            .unwrap_or(&reasons[0]);
        let at = clock.between(rng, first_contact, clock.now);
        let data = NotSignedData {
            resident_id: resident_id.clone(),
            reason: reason.to_string(),
            reason_text: text.map(str::to_string),
            recorded_at: clock.rfc3339(at),
        };
        not_signed::create(conn, ctx, &Uuid::now_v7().to_string(), &data).map_err(failed("not_signed"))?;
        summary.not_signed += 1;
    }

    let record = |conn: &mut DbConn, d: VisitData, summary: &mut DemoSummary| -> Result<(), AppError> {
        visit::create(conn, ctx, &Uuid::now_v7().to_string(), &d).map_err(failed("visit"))?;
        summary.visits += 1;
        Ok(())
    };
    let visit =
        |kind: &str, contract_id: Option<&String>, at: Millis, m: Measurements, notes: Option<&str>| VisitData {
            resident_id: resident_id.clone(),
            contract_id: contract_id.cloned(),
            kind: kind.to_string(),
            occurred_at: clock.rfc3339(at),
            measurements: m,
            notes: notes.map(str::to_string),
            amends: None,
        };

    if let Some((contract_id, signed_at)) = &contract {
        // Follow-ups roughly quarterly since signing: up to four a year.
        let days = ((clock.now - signed_at) / DAY_MS).max(0);
        let most = (1 + days / 80).clamp(1, 4) as u32;
        let followups = |rng: &mut StdRng| -> Vec<Millis> {
            let count = if most > 1 && rng.gen_bool(0.3) { most - 1 } else { most };
            let mut times: Vec<Millis> = (0..count).map(|_| clock.between(rng, *signed_at, clock.now)).collect();
            times.sort_unstable();
            times
        };
        if p.has("hypertension") {
            for at in followups(rng) {
                let (s, d) = blood_pressure(rng);
                let high = s >= 140 || d >= 90;
                let m = Measurements {
                    systolic: Some(s),
                    diastolic: Some(d),
                    heart_rate: Some(rng.gen_range(60..=92)),
                    weight_kg: chance(rng, 0.5).then(|| weight(rng, p.sex)),
                    ..Default::default()
                };
                let note = if high {
                    *pick(rng, &HTN_NOTES_HIGH)
                } else {
                    *pick(rng, &HTN_NOTES_OK)
                };
                record(
                    conn,
                    visit("htn_followup", Some(contract_id), at, m, Some(note)),
                    summary,
                )?;
            }
        }
        if p.has("diabetes") {
            for at in followups(rng) {
                let glucose = one_decimal((7.0 + normal(rng) * 1.4).clamp(4.5, 11.0));
                let m = Measurements {
                    fasting_glucose: Some(glucose),
                    weight_kg: chance(rng, 0.5).then(|| weight(rng, p.sex)),
                    ..Default::default()
                };
                record(
                    conn,
                    visit("dm_followup", Some(contract_id), at, m, Some(*pick(rng, &DM_NOTES))),
                    summary,
                )?;
            }
        }
        if chance(rng, if elderly || p.has("disability") { 0.08 } else { 0.04 }) {
            let kind = if elderly || p.has("disability") {
                "home_visit"
            } else {
                "consultation"
            };
            let at = clock.between(rng, *signed_at, clock.now);
            record(
                conn,
                visit(
                    kind,
                    Some(contract_id),
                    at,
                    Measurements::default(),
                    Some(*pick(rng, &OTHER_NOTES)),
                ),
                summary,
            )?;
        }
    }
    if elderly && chance(rng, 0.6) {
        let lo = contract.as_ref().map_or(first_contact, |c| c.1);
        let at = clock.between(rng, lo, clock.now);
        let (s, d) = blood_pressure(rng);
        let m = Measurements {
            systolic: Some(s),
            diastolic: Some(d),
            fasting_glucose: Some(one_decimal((5.6 + normal(rng) * 0.9).clamp(4.0, 11.0))),
            weight_kg: Some(weight(rng, p.sex)),
            height_cm: Some(height(rng, p.sex)),
            heart_rate: Some(rng.gen_range(58..=95)),
            ..Default::default()
        };
        record(
            conn,
            visit(
                "elderly_check",
                contract.as_ref().map(|c| &c.0),
                at,
                m,
                Some("老年人年度健康体检"),
            ),
            summary,
        )?;
    }

    if let Some((_, signed_at)) = &contract {
        if chance(rng, 0.4) {
            let satisfaction = match rng.gen_range(0..100) {
                0..=44 => "very_satisfied",
                45..=79 => "satisfied",
                80..=92 => "basically_satisfied",
                93..=97 => "dissatisfied",
                _ => "very_dissatisfied",
            };
            let awareness = if chance(rng, 0.9) { "aware" } else { "unaware" };
            let at = clock.between(rng, *signed_at, clock.now);
            let data = SurveyData {
                resident_id: resident_id.clone(),
                questionnaire: "satisfaction".to_string(),
                questionnaire_version: 1,
                answers: [("satisfaction", satisfaction), ("awareness", awareness)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                answered_at: clock.rfc3339(at),
                amends: None,
            };
            survey::create(conn, ctx, &Uuid::now_v7().to_string(), &data).map_err(failed("survey"))?;
            summary.surveys += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{contracts, visits};

    fn count(conn: &mut DbConn, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<N>(conn)
            .unwrap()
            .n
    }

    #[test]
    fn loads_a_demo_county_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()), 2).unwrap();
        let mut config = crate::Config::demo("unused");
        config.demo_residents = 120;
        let s = load_if_empty(&pool, &config)
            .unwrap()
            .expect("an empty database gets the demo county");
        assert_eq!(
            (s.townships, s.villages, s.teams, s.users, s.residents),
            (5, 40, 8, 12, 120)
        );
        assert!(s.contracts > 0 && s.visits > 0 && s.surveys > 0, "{s:?}");

        let mut c = pool.get().unwrap();
        assert_eq!(count(&mut c, "regions"), 46);
        assert_eq!(count(&mut c, "teams"), 8);
        assert_eq!(count(&mut c, "users"), 12);
        assert_eq!(count(&mut c, "residents"), 120);
        assert_eq!(count(&mut c, "contracts"), s.contracts as i64);
        assert_eq!(count(&mut c, "visits"), s.visits as i64);
        assert_eq!(count(&mut c, "survey_responses"), s.surveys as i64);
        // One contract per resident, none held for review.
        let pending: i64 = contracts::table
            .filter(contracts::status.eq(crate::vocabulary::ContractStatus::PendingReview.as_str()))
            .count()
            .get_result(&mut c)
            .unwrap();
        assert_eq!(pending, 0);
        // Nothing clinical in the future.
        let latest: Option<i64> = visits::table
            .select(diesel::dsl::max(visits::occurred_at))
            .first(&mut c)
            .unwrap();
        assert!(latest.unwrap_or(0) <= now_ms());
        // The demo logins work with the documented password.
        let doctor = user::find_by_username(&mut c, "doctor1").unwrap().unwrap();
        assert!(crate::auth::password::verify(DEMO_PASSWORD, &doctor.password_hash));
        drop(c);

        assert!(load_if_empty(&pool, &config).unwrap().is_none());
    }
}
