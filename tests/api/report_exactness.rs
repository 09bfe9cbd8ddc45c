//! Exactness: a county generated with a known answer. The generator writes through the sync push API (and the CSV
//! imports for regions, teams and users), keeps its own books of what it wrote, and computes every indicator from
//! those books with code of its own — nothing here calls the report code. Then every indicator's numerator,
//! denominator and source is asserted by township, village and team, in total, for a year and months, and so are
//! the DHIS2 export's values (a quarter too).
//!
//! The county, 验证县 (431127), has two townships and six villages, three teams, and 1,000 residents registered in
//! January 2024; 470 of them are signed in 2025, 73 % of the key population. It holds what must not count
//! (voided, pending-review, draft, cancelled contracts; deleted and amended-away visits; deleted residents;
//! residents registered after the period) and what moves between periods (terminations, renewals, a resident who
//! moved village mid-year, one who moved across townships, one who moved after the period ended).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{self, spawn_app, Op, Session, TestApp};

const COUNTY: &str = "431127000000";
const T1: &str = "431127100000";
const T2: &str = "431127101000";
const VILLAGES: [&str; 6] = [
    "431127100001",
    "431127100002",
    "431127100003",
    "431127101001",
    "431127101002",
    "431127101003",
];
/// Team of each village (index into TEAMS).
const VILLAGE_TEAM: [usize; 6] = [0, 0, 1, 2, 2, 2];
const TEAMS: [&str; 3] = ["XA", "XB", "XC"];
const DOCTORS: [&str; 3] = ["xdoc_a", "xdoc_b", "xdoc_c"];
const PASSWORD: &str = "exact-pass-2025";
const COUNTING: [&str; 5] = ["SIGNED", "ACTIVE", "EXPIRED", "TERMINATED", "RENEWED"];
const CATEGORIES: [&str; 12] = [
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

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A local (UTC+8) clinical time on a date.
fn at(date: NaiveDate, hour: u32) -> String {
    format!("{}T{hour:02}:00:00+08:00", date.format("%Y-%m-%d"))
}

// ---------------------------------------------------------------- the generator's books

struct Res {
    id: String,
    village0: usize,
    /// (moved_on, from, to), in order.
    moves: Vec<(NaiveDate, usize, usize)>,
    registered: NaiveDate,
    birth: NaiveDate,
    sex: char,
    tags: Vec<&'static str>,
    deleted: bool,
}

struct Con {
    id: String,
    resident: usize,
    team: usize,
    status: &'static str,
    signed: Option<(NaiveDate, u32)>,
    from: NaiveDate,
    to: NaiveDate,
    ended: Option<NaiveDate>,
    personalised: bool,
    renews: Option<usize>,
}

struct Vis {
    id: String,
    resident: usize,
    kind: &'static str,
    on: NaiveDate,
    hour: u32,
    sys: Option<i32>,
    dia: Option<i32>,
    glu: Option<f64>,
    live: bool,
}

#[derive(Clone)]
struct Sur {
    id: String,
    resident: usize,
    on: NaiveDate,
    hour: u32,
    satisfaction: Option<&'static str>,
    awareness: Option<&'static str>,
    live: bool,
}

#[derive(Default)]
struct Books {
    res: Vec<Res>,
    con: Vec<Con>,
    vis: Vec<Vis>,
    sur: Vec<Sur>,
}

fn uuid7() -> String {
    Uuid::now_v7().to_string()
}

fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut a = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

impl Res {
    fn village_at(&self, end: NaiveDate) -> usize {
        if let Some((_, _, to)) = self.moves.iter().rev().find(|(on, _, _)| *on <= end) {
            return *to;
        }
        if let Some((_, from, _)) = self.moves.iter().find(|(on, _, _)| *on > end) {
            return *from;
        }
        self.village0
    }
    fn current_village(&self) -> usize {
        self.moves.last().map_or(self.village0, |m| m.2)
    }
    fn has(&self, cat: &str, end: NaiveDate) -> bool {
        match cat {
            "elderly" => age_on(self.birth, end) >= 65,
            "child" => self.birth <= end && age_on(self.birth, end) <= 6,
            t => self.tags.contains(&t),
        }
    }
    fn is_key(&self, end: NaiveDate) -> bool {
        self.has("elderly", end) || self.has("child", end) || !self.tags.is_empty()
    }
}

impl Con {
    fn counting(&self) -> bool {
        COUNTING.contains(&self.status)
    }
    fn in_effect(&self, s: NaiveDate, e: NaiveDate) -> bool {
        let last = match self.ended {
            Some(x) if x < self.to => x,
            _ => self.to,
        };
        self.counting() && self.from <= e && last >= s
    }
}

/// Builds the county's books deterministically.
fn generate() -> Books {
    let mut b = Books::default();
    let reg = d("2024-01-10");
    for i in 0..1000usize {
        // Villages unevenly: 0..5 weighted.
        let village0 = [0, 0, 1, 1, 2, 3, 3, 4, 5, 5][i % 10];
        let (birth, sex) = match i % 10 {
            0 | 7 => (
                d("1950-03-15") + chrono::Days::new((i % 300) as u64),
                if i % 2 == 0 { 'M' } else { 'F' },
            ),
            1 => (d("2021-05-01") + chrono::Days::new((i % 200) as u64), 'F'),
            // Turns 65 during 2025 (after 2025-06-30: elderly for the year, not for June).
            3 if i % 30 == 3 => (d("1960-10-20"), 'M'),
            // Turns 7 in March 2025: a child at the end of February, not at the end of the year.
            5 if i % 40 == 5 => (d("2018-03-10"), 'F'),
            _ => (
                d("1982-07-01") + chrono::Days::new((i % 900) as u64),
                if i % 2 == 0 { 'M' } else { 'F' },
            ),
        };
        let mut tags = Vec::new();
        if i % 7 == 0 {
            tags.push("hypertension");
        }
        if i % 11 == 0 {
            tags.push("diabetes");
        }
        if i % 50 == 3 && sex == 'F' {
            tags.push("pregnant");
        }
        if i % 97 == 5 {
            tags.push("severe_mental");
        }
        if i % 89 == 7 {
            tags.push("tuberculosis");
        }
        if i % 31 == 2 {
            tags.push("disability");
        }
        if i % 23 == 4 {
            tags.push("poverty");
        }
        if i % 29 == 6 {
            tags.push("dibao");
        }
        if i % 61 == 8 {
            tags.push("tekun");
        }
        if i % 67 == 9 {
            tags.push("family_planning_special");
        }
        b.res.push(Res {
            id: uuid7(),
            village0,
            moves: Vec::new(),
            registered: reg,
            birth,
            sex,
            tags,
            deleted: false,
        });
    }
    // Five residents registered after the period: never counted in 2025.
    for k in 0..5 {
        b.res.push(Res {
            id: uuid7(),
            village0: k,
            moves: Vec::new(),
            registered: d("2026-02-03"),
            birth: d("1990-01-01"),
            sex: 'M',
            tags: vec!["hypertension"],
            deleted: false,
        });
    }
    let end = d("2025-12-31");
    // Signing: 73 % of the key population, the rest of the 470 from the others.
    let key: Vec<usize> = (0..1000).filter(|&i| b.res[i].is_key(end)).collect();
    let others: Vec<usize> = (0..1000).filter(|&i| !b.res[i].is_key(end)).collect();
    let key_signed = (key.len() * 73 + 50) / 100;
    assert!(key_signed <= 470 && others.len() >= 470 - key_signed, "generator shape");
    let mut signed: Vec<usize> = key[..key_signed].to_vec();
    signed.extend(&others[..470 - key_signed]);
    signed.sort();
    // Ten of the signed residents hold a 2024 contract that expires on 2025-02-28; six of
    // those are renewed by a successor from 2025-03-01, the other four signed again later
    // without naming it (not a renewal).
    for (n, &r) in signed.iter().enumerate() {
        let team = VILLAGE_TEAM[b.res[r].village0];
        let personalised = b.res[r].tags.contains(&"hypertension") || b.res[r].has("elderly", end);
        if n < 10 {
            b.con.push(Con {
                id: uuid7(),
                resident: r,
                team,
                status: "SIGNED",
                signed: Some((d("2024-03-01"), 9)),
                from: d("2024-03-01"),
                to: d("2025-02-28"),
                ended: None,
                personalised,
                renews: None,
            });
            let pred = b.con.len() - 1;
            let renews = (n < 6).then_some(pred);
            if renews.is_some() {
                b.con[pred].status = "RENEWED";
            }
            b.con.push(Con {
                id: uuid7(),
                resident: r,
                team,
                status: "SIGNED",
                signed: Some((if n < 6 { d("2025-02-20") } else { d("2025-03-05") }, 10)),
                from: d("2025-03-01") + chrono::Days::new(if n < 6 { 0 } else { 5 }),
                to: d("2026-02-28"),
                ended: None,
                personalised,
                renews,
            });
            continue;
        }
        let month = 1 + (n % 12) as u32;
        let signed_on = NaiveDate::from_ymd_opt(2025, month, 5 + (n % 20) as u32).unwrap();
        b.con.push(Con {
            id: uuid7(),
            resident: r,
            team,
            status: "SIGNED",
            signed: Some((signed_on, 9 + (n % 8) as u32)),
            from: signed_on,
            to: signed_on
                .checked_add_months(chrono::Months::new(12))
                .unwrap()
                .pred_opt()
                .unwrap(),
            ended: None,
            personalised,
            renews: None,
        });
    }
    // Four signed in January are terminated on 2025-06-15 (they count for 2025, not for September).
    let jan: Vec<usize> = (0..b.con.len())
        .filter(|&c| {
            b.con[c].renews.is_none() && b.con[c].signed.unwrap().0.month() == 1 && b.con[c].from.year() == 2025
        })
        .take(4)
        .collect();
    for c in jan {
        // A two-year term: the sync rules judge a transition by today's state, and a
        // one-year 2025 contract has expired by now (EXPIRED cannot be terminated).
        b.con[c].to = b.con[c]
            .from
            .checked_add_months(chrono::Months::new(24))
            .unwrap()
            .pred_opt()
            .unwrap();
        b.con[c].status = "TERMINATED";
        b.con[c].ended = Some(d("2025-06-15"));
    }
    let unsigned: Vec<usize> = (0..1000).filter(|i| !signed.contains(i)).collect();
    // Voided (fake signings): five unsigned residents, signed then voided by the supervisor.
    for &r in &unsigned[..5] {
        b.con.push(Con {
            id: uuid7(),
            resident: r,
            team: VILLAGE_TEAM[b.res[r].village0],
            status: "VOIDED",
            signed: Some((d("2025-04-02"), 10)),
            from: d("2025-04-02"),
            to: d("2026-04-01"),
            ended: None,
            personalised: true,
            renews: None,
        });
    }
    // Pending review: a second signing of three already-signed residents.
    for &r in &signed[20..23] {
        b.con.push(Con {
            id: uuid7(),
            resident: r,
            team: VILLAGE_TEAM[b.res[r].village0],
            status: "PENDING_REVIEW",
            signed: Some((d("2025-12-20"), 10)),
            from: d("2025-12-20"),
            to: d("2026-12-19"),
            ended: None,
            personalised: true,
            renews: None,
        });
    }
    // Drafts (one cancelled) of unsigned residents.
    for (k, &r) in unsigned[5..8].iter().enumerate() {
        b.con.push(Con {
            id: uuid7(),
            resident: r,
            team: VILLAGE_TEAM[b.res[r].village0],
            status: if k == 0 { "CANCELLED" } else { "DRAFT" },
            signed: None,
            from: d("2025-05-01"),
            to: d("2026-04-30"),
            ended: None,
            personalised: false,
            renews: None,
        });
    }
    // Visits.
    let htn: Vec<usize> = (0..1000).filter(|&i| b.res[i].tags.contains(&"hypertension")).collect();
    for (n, &r) in htn.iter().enumerate() {
        let count = [4, 3, 0, 4, 1][n % 5];
        let dates = ["2025-02-10", "2025-05-12", "2025-08-11", "2025-11-10"];
        for (k, date) in dates.iter().take(count).enumerate() {
            let last = k + 1 == count;
            let controlled = if last { n % 2 == 0 } else { k % 2 == 1 };
            b.vis.push(Vis {
                id: uuid7(),
                resident: r,
                kind: "htn_followup",
                on: d(date),
                hour: 9,
                sys: Some(if controlled { 128 } else { 152 }),
                dia: Some(if controlled { 82 } else { 95 }),
                glu: None,
                live: true,
            });
        }
        // Borderline readings: 140/85 and 135/90 are not controlled.
        if n % 5 == 4 {
            b.vis.push(Vis {
                id: uuid7(),
                resident: r,
                kind: "htn_followup",
                on: d("2025-12-01"),
                hour: 9,
                sys: Some(if n % 10 == 4 { 140 } else { 135 }),
                dia: Some(if n % 10 == 4 { 85 } else { 90 }),
                glu: None,
                live: true,
            });
        }
        // A follow-up in 2024 never counts for 2025.
        if n % 7 == 0 {
            b.vis.push(Vis {
                id: uuid7(),
                resident: r,
                kind: "htn_followup",
                on: d("2024-11-20"),
                hour: 9,
                sys: Some(120),
                dia: Some(80),
                glu: None,
                live: true,
            });
        }
    }
    let dm: Vec<usize> = (0..1000).filter(|&i| b.res[i].tags.contains(&"diabetes")).collect();
    for (n, &r) in dm.iter().enumerate() {
        let count = [4, 1, 2, 0][n % 4];
        for k in 0..count {
            let last = k + 1 == count;
            b.vis.push(Vis {
                id: uuid7(),
                resident: r,
                kind: "dm_followup",
                on: d(["2025-01-15", "2025-04-15", "2025-07-15", "2025-10-15"][k]),
                hour: 10,
                sys: None,
                dia: None,
                glu: Some(if last && n % 3 == 0 {
                    6.9
                } else if last && n % 3 == 1 {
                    7.0
                } else {
                    8.2
                }),
                live: true,
            });
        }
    }
    for i in 0..1000 {
        let res = &b.res[i];
        if res.has("elderly", end) && i % 5 != 0 {
            b.vis.push(Vis {
                id: uuid7(),
                resident: i,
                kind: "elderly_check",
                on: d("2025-06-03"),
                hour: 8,
                sys: Some(130),
                dia: Some(80),
                glu: None,
                live: true,
            });
        }
        if res.tags.contains(&"severe_mental") && i % 2 == 0 {
            b.vis.push(smi_or_tb(i, "smi_followup"));
        }
        if res.tags.contains(&"tuberculosis") && i % 3 != 0 {
            b.vis.push(smi_or_tb(i, "tb_followup"));
        }
        if i % 13 == 0 {
            b.vis.push(Vis {
                id: uuid7(),
                resident: i,
                kind: "home_visit",
                on: d("2025-09-09"),
                hour: 15,
                sys: None,
                dia: None,
                glu: None,
                live: true,
            });
        }
    }
    // Surveys: 300 signed residents; every third answers twice (the later one counts), some
    // answer the satisfaction item only.
    let opts = [
        "very_satisfied",
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
        "very_dissatisfied",
    ];
    for (n, &r) in signed.iter().take(300).enumerate() {
        b.sur.push(Sur {
            id: uuid7(),
            resident: r,
            on: d("2025-06-20"),
            hour: 10,
            satisfaction: Some(opts[n % 5]),
            awareness: if n % 4 == 0 {
                None
            } else {
                Some(if n % 3 == 0 { "unaware" } else { "aware" })
            },
            live: true,
        });
        if n % 3 == 0 {
            b.sur.push(Sur {
                id: uuid7(),
                resident: r,
                on: d("2025-11-02"),
                hour: 10,
                satisfaction: Some(opts[(n + 2) % 5]),
                awareness: if n % 6 == 0 { Some("aware") } else { None },
                live: true,
            });
        }
    }
    b
}

fn smi_or_tb(r: usize, kind: &'static str) -> Vis {
    Vis {
        id: uuid7(),
        resident: r,
        kind,
        on: d("2025-03-03"),
        hour: 11,
        sys: None,
        dia: None,
        glu: None,
        live: true,
    }
}

// ------------------------------------------------------------ the generator's expectations

/// Counts of one (village, team) cell, by measure name.
type Cell = BTreeMap<&'static str, i64>;
type Cells = HashMap<(usize, Option<usize>), Cell>;

fn bump(cells: &mut Cells, village: usize, team: Option<usize>, m: &'static str, by: i64) {
    *cells.entry((village, team)).or_default().entry(m).or_default() += by;
}

fn cat_reg(c: &str) -> &'static str {
    Box::leak(format!("reg_{c}").into_boxed_str())
}
fn cat_signed(c: &str) -> &'static str {
    Box::leak(format!("signed_{c}").into_boxed_str())
}

/// Every measure per (village at period end, team of the resident's latest contract in effect).
fn expected_cells(b: &Books, s: NaiveDate, e: NaiveDate) -> Cells {
    let mut cells = Cells::new();
    for (i, r) in b.res.iter().enumerate() {
        if r.deleted || r.registered > e {
            continue;
        }
        let v = r.village_at(e);
        let mut mine: Vec<&Con> = b.con.iter().filter(|c| c.resident == i && c.in_effect(s, e)).collect();
        mine.sort_by_key(|c| (c.from, c.signed.map(|x| (x.0, x.1))));
        let team = mine.last().map(|c| c.team);
        let signed = team.is_some();
        let key = r.is_key(e);
        bump(&mut cells, v, team, "registered", 1);
        bump(&mut cells, v, team, "key_pop", key as i64);
        bump(&mut cells, v, team, "signed", signed as i64);
        bump(&mut cells, v, team, "signed_key", (signed && key) as i64);
        for c in CATEGORIES {
            bump(&mut cells, v, team, cat_reg(c), r.has(c, e) as i64);
            bump(&mut cells, v, team, cat_signed(c), (signed && r.has(c, e)) as i64);
        }
        let mut visits: Vec<&Vis> = b
            .vis
            .iter()
            .filter(|x| x.resident == i && x.live && x.on >= s && x.on <= e)
            .collect();
        visits.sort_by_key(|x| (x.on, x.hour));
        let of = |k: &str| visits.iter().filter(|x| x.kind == k).copied().collect::<Vec<_>>();
        let (htn, dm) = (of("htn_followup"), of("dm_followup"));
        let has = |t: &str| r.tags.contains(&t);
        bump(
            &mut cells,
            v,
            team,
            "elderly_managed",
            (r.has("elderly", e) && !of("elderly_check").is_empty()) as i64,
        );
        bump(
            &mut cells,
            v,
            team,
            "htn_managed",
            (has("hypertension") && !htn.is_empty()) as i64,
        );
        bump(
            &mut cells,
            v,
            team,
            "htn_standard",
            (has("hypertension") && htn.len() >= 4) as i64,
        );
        let bp_ok = htn.last().is_some_and(|x| x.sys.unwrap() < 140 && x.dia.unwrap() < 90);
        bump(
            &mut cells,
            v,
            team,
            "htn_controlled",
            (has("hypertension") && bp_ok) as i64,
        );
        bump(
            &mut cells,
            v,
            team,
            "dm_managed",
            (has("diabetes") && !dm.is_empty()) as i64,
        );
        bump(
            &mut cells,
            v,
            team,
            "dm_standard",
            (has("diabetes") && dm.len() >= 4) as i64,
        );
        let glu_ok = dm.last().is_some_and(|x| x.glu.unwrap() < 7.0);
        bump(&mut cells, v, team, "dm_controlled", (has("diabetes") && glu_ok) as i64);
        bump(
            &mut cells,
            v,
            team,
            "smi_managed",
            (has("severe_mental") && !of("smi_followup").is_empty()) as i64,
        );
        bump(
            &mut cells,
            v,
            team,
            "tb_managed",
            (has("tuberculosis") && !of("tb_followup").is_empty()) as i64,
        );
        let fu = visits
            .iter()
            .filter(|x| ["htn_followup", "dm_followup", "smi_followup", "tb_followup"].contains(&x.kind))
            .count();
        bump(&mut cells, v, team, "followups", fu as i64);
        let mut answers: Vec<&Sur> = b
            .sur
            .iter()
            .filter(|x| x.resident == i && x.live && x.on >= s && x.on <= e)
            .collect();
        answers.sort_by_key(|x| (x.on, x.hour));
        if let Some(x) = answers.iter().rev().find(|x| x.satisfaction.is_some()) {
            let ok = ["very_satisfied", "satisfied", "basically_satisfied"].contains(&x.satisfaction.unwrap());
            bump(&mut cells, v, team, "sat_den", 1);
            bump(&mut cells, v, team, "sat_num", ok as i64);
        }
        if let Some(x) = answers.iter().rev().find(|x| x.awareness.is_some()) {
            bump(&mut cells, v, team, "aware_den", 1);
            bump(&mut cells, v, team, "aware_num", (x.awareness == Some("aware")) as i64);
        }
    }
    for (n, c) in b.con.iter().enumerate() {
        let r = &b.res[c.resident];
        if r.deleted || r.registered > e || !c.counting() {
            continue;
        }
        let v = r.village_at(e);
        if c.signed.is_some_and(|(on, _)| on >= s && on <= e) {
            bump(&mut cells, v, Some(c.team), "contracts", 1);
            bump(&mut cells, v, Some(c.team), "personalised", c.personalised as i64);
        }
        if c.status != "TERMINATED" && c.to >= s && c.to <= e {
            let renewed = b.con.iter().any(|x| x.renews == Some(n) && x.counting());
            bump(&mut cells, v, Some(c.team), "expiring", 1);
            bump(&mut cells, v, Some(c.team), "renewed", renewed as i64);
        }
    }
    cells
}

/// Population rows the test imports: (region, category) → count.
fn imported() -> HashMap<(&'static str, &'static str), i64> {
    let mut m = HashMap::new();
    for (k, v) in VILLAGES[..3].iter().enumerate() {
        m.insert((*v, "resident"), 250 + k as i64 * 10);
        m.insert((*v, "key_total"), 130 + k as i64);
        m.insert((*v, "elderly"), 40 + k as i64);
        m.insert((*v, "hypertension"), 45 + k as i64);
    }
    m.insert((T2, "resident"), 480);
    m
}

/// An imported denominator as the dictionary's conventions define it, computed here again:
/// the region's own row, else the sum over its parts when every part has one.
fn imported_for(region: &str, villages: &[usize], cat: &str) -> Option<i64> {
    let rows = imported();
    if let Some(n) = rows
        .iter()
        .find(|((r, c), _)| *r == region && *c == cat)
        .map(|(_, n)| *n)
    {
        return Some(n);
    }
    if region.ends_with("000000") {
        let mut sum = 0;
        for t in [T1, T2] {
            let vs: Vec<usize> = villages
                .iter()
                .copied()
                .filter(|&v| VILLAGES[v].starts_with(&t[..9]))
                .collect();
            if vs.is_empty() {
                continue;
            }
            sum += imported_for(t, &vs, cat)?;
        }
        return Some(sum);
    }
    if region.ends_with("000") {
        return all_villages(villages, cat);
    }
    None
}

fn all_villages(villages: &[usize], cat: &str) -> Option<i64> {
    let rows = imported();
    villages.iter().map(|v| rows.get(&(VILLAGES[*v], cat)).copied()).sum()
}

/// (numerator, denominator, source) of every indicator for a group.
fn expected_figures(
    counted: &Cell,
    residents: &Cell,
    population: &dyn Fn(&str) -> Option<i64>,
) -> BTreeMap<String, (i64, Option<i64>, &'static str)> {
    let g = |c: &Cell, m: &str| c.get(m).copied().unwrap_or(0);
    let pop = |num: i64, cat: &str, reg: &str| match population(cat) {
        Some(n) => (num, Some(n), "imported"),
        None => (num, Some(g(residents, reg)), "registered"),
    };
    let computed = |num: &str, den: &str| (g(counted, num), Some(g(counted, den)), "computed");
    let mut out = BTreeMap::new();
    out.insert(
        "record_rate".into(),
        pop(g(counted, "registered"), "resident", "registered"),
    );
    out.insert(
        "signing_rate".into(),
        pop(g(counted, "signed"), "resident", "registered"),
    );
    out.insert(
        "key_signing_rate".into(),
        pop(g(counted, "signed_key"), "key_total", "key_pop"),
    );
    for c in CATEGORIES {
        out.insert(
            format!("signing_rate.{c}"),
            pop(g(counted, cat_signed(c)), c, cat_reg(c)),
        );
    }
    out.insert("key_share_of_signed".into(), computed("signed_key", "signed"));
    out.insert("contracts_signed".into(), (g(counted, "contracts"), None, "none"));
    out.insert("personalised_contracts".into(), computed("personalised", "contracts"));
    out.insert("renewal_rate".into(), computed("renewed", "expiring"));
    out.insert(
        "elderly_managed".into(),
        pop(g(counted, "elderly_managed"), "elderly", "reg_elderly"),
    );
    out.insert(
        "htn_managed".into(),
        pop(g(counted, "htn_managed"), "hypertension", "reg_hypertension"),
    );
    out.insert("htn_standard".into(), computed("htn_standard", "htn_managed"));
    out.insert("htn_controlled".into(), computed("htn_controlled", "htn_managed"));
    out.insert(
        "dm_managed".into(),
        pop(g(counted, "dm_managed"), "diabetes", "reg_diabetes"),
    );
    out.insert("dm_standard".into(), computed("dm_standard", "dm_managed"));
    out.insert("dm_controlled".into(), computed("dm_controlled", "dm_managed"));
    for (id, reg) in [("smi_managed", "reg_severe_mental"), ("tb_managed", "reg_tuberculosis")] {
        out.insert(id.into(), (g(counted, id), Some(g(residents, reg)), "registered"));
    }
    out.insert("followup_visits".into(), (g(counted, "followups"), None, "none"));
    out.insert("satisfaction_rate".into(), computed("sat_num", "sat_den"));
    out.insert("awareness_rate".into(), computed("aware_num", "aware_den"));
    // This county records no referrals: they are counted in tests/api/report_referrals.rs.
    for id in ["referrals_up", "referrals_down"] {
        out.insert(id.into(), (g(counted, id), None, "none"));
    }
    out.insert(
        "referrals_up_received_7d".into(),
        computed("up_received_7d", "referrals_up"),
    );
    out
}

fn sum_cells(cells: &Cells, keep: impl Fn(usize, Option<usize>) -> bool) -> Cell {
    let mut out = Cell::new();
    for ((v, t), c) in cells {
        if keep(*v, *t) {
            for (m, n) in c {
                *out.entry(m).or_default() += n;
            }
        }
    }
    out
}

/// Half-up to 4 places, computed in integers.
fn rate(n: i64, d: Option<i64>) -> Option<f64> {
    let d = d.filter(|d| *d > 0)?;
    Some(((n * 20000 + d) / (2 * d)) as f64 / 10000.0)
}

fn assert_figures(label: &str, got: &Value, want: &BTreeMap<String, (i64, Option<i64>, &'static str)>) {
    assert_eq!(got.as_object().map(|o| o.len()), Some(34), "{label}: 34 indicators");
    for (id, (num, den, src)) in want {
        let f = &got[id.as_str()];
        assert_eq!(f["numerator"].as_i64(), Some(*num), "{label} {id} numerator");
        assert_eq!(f["denominator"].as_i64(), *den, "{label} {id} denominator");
        assert_eq!(f["denominator_source"], *src, "{label} {id} source");
        assert_eq!(f["rate"].as_f64(), rate(*num, *den), "{label} {id} rate");
    }
}

// ---------------------------------------------------------------------- writing it all

async fn import(app: &TestApp, kind: jiayi::import::ImportKind, csv: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, csv).unwrap();
    let pool = app.state.pool.clone();
    let summary = tokio::task::spawn_blocking(move || jiayi::import::import(&pool, kind, &path, false))
        .await
        .unwrap()
        .expect("import");
    assert!(
        summary.refused.is_empty(),
        "import refused rows: {:?}",
        summary.refused.len()
    );
}

async fn login(app: &TestApp, username: &str) -> Session {
    let device = format!("dev-{}", Uuid::new_v4().simple());
    let res = app.login_raw(username, PASSWORD, &device).await;
    assert_eq!(res.status(), StatusCode::OK, "login {username}");
    let body: Value = res.json().await.unwrap();
    app.session_from(&body, &device).await
}

/// Pushes ops in batches; every op must be applied (or held as a conflict when `conflict`).
async fn push_all(app: &TestApp, s: &Session, ops: Vec<Value>, conflict: bool) {
    for chunk in ops.chunks(400) {
        let out = app.push(s, chunk.to_vec()).await;
        for (r, o) in out["results"].as_array().unwrap().iter().zip(chunk) {
            let want = if conflict { "conflict" } else { "applied" };
            assert_eq!(r["status"], want, "op {} {}: {r}", o["entity"], o["action"]);
        }
    }
}

fn visit_data(b: &Books, v: &Vis) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(x) = v.sys {
        m.insert("systolic".into(), json!(x));
    }
    if let Some(x) = v.dia {
        m.insert("diastolic".into(), json!(x));
    }
    if let Some(x) = v.glu {
        m.insert("fasting_glucose".into(), json!(x));
    }
    json!({ "resident_id": b.res[v.resident].id, "kind": v.kind, "occurred_at": at(v.on, v.hour), "measurements": m })
}

fn survey_data(b: &Books, x: &Sur) -> Value {
    let mut answers = serde_json::Map::new();
    if let Some(s) = x.satisfaction {
        answers.insert("satisfaction".into(), json!(s));
    }
    if let Some(a) = x.awareness {
        answers.insert("awareness".into(), json!(a));
    }
    json!({ "resident_id": b.res[x.resident].id, "questionnaire": "satisfaction", "questionnaire_version": 1,
            "answers": answers, "answered_at": at(x.on, x.hour) })
}

#[tokio::test]
async fn every_indicator_is_exact_by_township_village_and_team() {
    let app = spawn_app().await;
    use jiayi::import::ImportKind;
    import(
        &app,
        ImportKind::Regions,
        &format!(
            "code,name\n{COUNTY},验证县\n{T1},甲镇\n{T2},乙乡\n{}",
            VILLAGES
                .iter()
                .enumerate()
                .map(|(k, v)| format!("{v},村{k}\n"))
                .collect::<String>()
        ),
    )
    .await;
    import(
        &app,
        ImportKind::Teams,
        &format!(
            "code,name,township_code,village_codes\nXA,甲镇一队,{T1},{};{}\nXB,甲镇二队,{T1},{}\nXC,乙乡一队,{T2},{};{};{}\n",
            VILLAGES[0], VILLAGES[1], VILLAGES[2], VILLAGES[3], VILLAGES[4], VILLAGES[5]
        ),
    )
    .await;
    import(
        &app,
        ImportKind::Users,
        &format!(
            "username,password,role,team_code,region_code,display_name\n\
             xdoc_a,{PASSWORD},doctor,XA,,甲一\nxdoc_b,{PASSWORD},doctor,XB,,甲二\nxdoc_c,{PASSWORD},doctor,XC,,乙一\n\
             xsup1,{PASSWORD},supervisor,,{T1},甲镇督导\nxsup2,{PASSWORD},supervisor,,{T2},乙乡督导\n\
             xadm,{PASSWORD},admin,,{COUNTY},验证县管理员\n"
        ),
    )
    .await;
    let mut docs = Vec::new();
    for u in DOCTORS {
        docs.push(login(&app, u).await);
    }
    let team_ids: Vec<String> = docs
        .iter()
        .map(|s| s.user["team_id"].as_str().unwrap().to_string())
        .collect();
    let sup1 = login(&app, "xsup1").await;
    let adm = login(&app, "xadm").await;

    let mut b = generate();
    let by_team = |b: &Books, r: usize| VILLAGE_TEAM[b.res[r].current_village()];

    // Residents.
    let mut ops: Vec<Vec<Value>> = vec![Vec::new(); 3];
    for (i, r) in b.res.iter().enumerate() {
        // Unique ID numbers: the same number twice is a duplicate resident (a conflict).
        let id_number = jiayi::domain::id_number::IdNumber::generate("110105", r.birth, 2 * i as u32, r.sex);
        let data = json!({ "village_code": VILLAGES[r.village0], "name": "验证居民", "sex": r.sex.to_string(),
                           "birth_date": r.birth.format("%Y-%m-%d").to_string(),
                           "id_number": id_number.expose(), "tags": r.tags });
        ops[VILLAGE_TEAM[r.village0]].push(Op::resident_create(&r.id, data).recorded_at(at(r.registered, 9)).into());
    }
    for (t, o) in ops.into_iter().enumerate() {
        push_all(&app, &docs[t], o, false).await;
    }
    // Contracts, in the order the books hold them (predecessors before successors).
    for c in &b.con {
        let packages = if c.personalised {
            vec!["BASIC", "HTN"]
        } else {
            vec!["BASIC"]
        };
        let signed = !matches!(c.status, "DRAFT" | "CANCELLED");
        let mut data = json!({ "resident_id": b.res[c.resident].id, "team_id": team_ids[c.team], "packages": packages,
            "status": if signed { "SIGNED" } else { "DRAFT" },
            "effective_from": c.from.format("%Y-%m-%d").to_string(), "effective_to": c.to.format("%Y-%m-%d").to_string() });
        if let Some((on, h)) = c.signed {
            data["signed_at"] = json!(at(on, h));
        }
        if let Some(p) = c.renews {
            data["renews"] = json!(b.con[p].id);
        }
        let recorded = c.signed.map_or(at(c.from, 8), |(on, h)| at(on, h));
        let o = Op::contract_create(&c.id, data).recorded_at(&recorded).build();
        push_all(&app, &docs[c.team], vec![o], c.status == "PENDING_REVIEW").await;
    }
    // Transitions: terminations and cancellations by the team, voiding by the supervisor.
    for c in &b.con {
        let (who, data) = match c.status {
            "TERMINATED" => (
                &docs[c.team],
                json!({ "to": "TERMINATED", "reason": "resident_request", "at": at(c.ended.unwrap(), 10) }),
            ),
            "CANCELLED" => (&docs[c.team], json!({ "to": "CANCELLED", "at": at(c.from, 10) })),
            "VOIDED" => (
                if VILLAGES[b.res[c.resident].village0].starts_with(&T1[..9]) {
                    &sup1
                } else {
                    &adm
                },
                json!({ "to": "VOIDED", "reason": "signature not the resident's", "at": at(d("2025-08-01"), 10) }),
            ),
            _ => continue,
        };
        let o = Op::contract_transition(&c.id, data.clone())
            .base_version(1)
            .recorded_at(data["at"].as_str().unwrap())
            .build();
        push_all(&app, who, vec![o], false).await;
    }
    // Visits and surveys by the team of the resident's village.
    let mut ops: Vec<Vec<Value>> = vec![Vec::new(); 3];
    for v in &b.vis {
        ops[by_team(&b, v.resident)].push(
            Op::visit_create(&v.id, visit_data(&b, v))
                .recorded_at(at(v.on, v.hour))
                .into(),
        );
    }
    for x in &b.sur {
        ops[by_team(&b, x.resident)].push(
            Op::survey_create(&x.id, survey_data(&b, x))
                .recorded_at(at(x.on, x.hour))
                .into(),
        );
    }
    for (t, o) in ops.into_iter().enumerate() {
        push_all(&app, &docs[t], o, false).await;
    }
    // Amendments: the amended values count, once. Ten hypertension follow-ups get the
    // other control state; one moves out of 2025 (a date typo); one survey answer changes.
    let mut amend = Vec::new();
    let htn_last: Vec<usize> = (0..b.vis.len())
        .filter(|&k| b.vis[k].kind == "htn_followup" && b.vis[k].on == d("2025-11-10"))
        .take(11)
        .collect();
    for (n, &k) in htn_last.iter().enumerate() {
        let old = &b.vis[k];
        let controlled = old.sys.unwrap() < 140;
        let (on, sys, dia) = if n == 10 {
            (d("2024-11-10"), old.sys, old.dia)
        } else if controlled {
            (old.on, Some(150), Some(92))
        } else {
            (old.on, Some(126), Some(78))
        };
        amend.push((
            k,
            Vis {
                id: uuid7(),
                resident: old.resident,
                kind: old.kind,
                on,
                hour: old.hour,
                sys,
                dia,
                glu: None,
                live: true,
            },
        ));
    }
    for (k, new) in amend {
        let mut data = visit_data(&b, &new);
        data["amends"] = json!(b.vis[k].id);
        let o = Op::visit_amend(&new.id, data)
            .recorded_at(at(new.on.max(d("2025-11-10")), 12))
            .build();
        push_all(&app, &docs[by_team(&b, new.resident)], vec![o], false).await;
        b.vis[k].live = false;
        b.vis.push(new);
    }
    let sur_k = (0..b.sur.len())
        .find(|&k| b.sur[k].satisfaction == Some("very_satisfied"))
        .unwrap();
    let new = Sur {
        id: uuid7(),
        satisfaction: Some("very_dissatisfied"),
        ..b.sur[sur_k].clone()
    };
    let mut data = survey_data(&b, &new);
    data["amends"] = json!(b.sur[sur_k].id);
    push_all(
        &app,
        &docs[by_team(&b, new.resident)],
        vec![Op::survey_amend(&new.id, data).recorded_at(at(new.on, 12)).into()],
        false,
    )
    .await;
    b.sur[sur_k].live = false;
    b.sur.push(new);
    // Deleted visits and residents never count.
    let del: Vec<usize> = (0..b.vis.len())
        .filter(|&k| b.vis[k].live && b.vis[k].kind == "dm_followup")
        .take(3)
        .collect();
    for k in del {
        let o = Op::visit_delete(&b.vis[k].id)
            .recorded_at(at(d("2025-12-01"), 9))
            .build();
        push_all(&app, &docs[by_team(&b, b.vis[k].resident)], vec![o], false).await;
        b.vis[k].live = false;
    }
    // (A resident with a signed contract cannot be deleted: two without one, one of them
    // with hypertension follow-ups.)
    let unsigned = |b: &Books, i: usize| !b.con.iter().any(|c| c.resident == i);
    let with_visits = (0..1000)
        .rev()
        .find(|&i| {
            unsigned(&b, i)
                && b.vis
                    .iter()
                    .any(|v| v.resident == i && v.kind == "htn_followup" && v.live)
        })
        .unwrap();
    let plain = (0..1000).rev().find(|&i| unsigned(&b, i) && i != with_visits).unwrap();
    for r in [with_visits, plain] {
        let o = Op::resident_delete(&b.res[r].id)
            .recorded_at(at(d("2025-12-01"), 9))
            .build();
        push_all(&app, &docs[by_team(&b, r)], vec![o], false).await;
        b.res[r].deleted = true;
    }
    // Moves. A signed resident of village 0 moves to village 1 on 2025-07-01 (same team);
    // another moves from township 1 to township 2 on 2025-08-15 (the county admin records
    // it; their team-A contract now counts in a team-C village); a resident of village 3
    // moves to village 4 on 2026-02-01, after the period: 2025 counts them in village 3.
    let signed_in = |b: &Books, v: usize, skip: usize| {
        (0..1000)
            .filter(|&i| {
                b.res[i].village0 == v
                    && !b.res[i].deleted
                    && b.con.iter().any(|c| c.resident == i && c.status == "SIGNED")
            })
            .nth(skip)
            .unwrap()
    };
    for (r, to, on, who) in [
        (signed_in(&b, 0, 0), 1usize, d("2025-07-01"), docs[0].clone()),
        (signed_in(&b, 1, 3), 3usize, d("2025-08-15"), adm.clone()),
        (signed_in(&b, 3, 0), 4usize, d("2026-02-01"), docs[2].clone()),
    ] {
        let o = Op::resident_update(&b.res[r].id, json!({ "village_code": VILLAGES[to] }))
            .base_version(1)
            .recorded_at(at(on, 10))
            .build();
        push_all(&app, &who, vec![o], false).await;
        let from = b.res[r].current_village();
        b.res[r].moves.push((on, from, to));
    }
    // Population denominators through the admin API.
    let rows: Vec<Value> = imported()
        .into_iter()
        .map(|((r, c), n)| json!({ "region_code": r, "year": 2025, "category": c, "count": n }))
        .collect();
    let res = app
        .post(&adm, "/api/v1/admin/population", &json!({ "rows": rows }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The generator's shape, from its own books.
    let (s, e) = (d("2025-01-01"), d("2025-12-31"));
    let year = expected_cells(&b, s, e);
    let total = sum_cells(&year, |_, _| true);
    assert_eq!(total["signed"], 470, "470 signed");
    assert_eq!(total["registered"], 1000 - 2, "1,000 registered in time, two deleted");
    assert!(total["contracts"] > 400 && total["expiring"] == 10 && total["renewed"] == 6);
    assert!(total["htn_standard"] > 0 && total["htn_standard"] < total["htn_managed"]);

    let all: Vec<usize> = (0..6).collect();
    let report = |who: &Session, region: &str, period: &str, group_by: &str| {
        let app = &app;
        let who = who.clone();
        let q = format!("/api/v1/reports/coverage?region={region}&period={period}&group_by={group_by}");
        async move {
            let res = app.get(&who, &q).await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    for (period, s, e) in [
        ("2025", s, e),
        ("2025-02", d("2025-02-01"), d("2025-02-28")),
        ("2025-09", d("2025-09-01"), d("2025-09-30")),
        ("2025Q3", d("2025-07-01"), d("2025-09-30")),
    ] {
        let cells = expected_cells(&b, s, e);
        if period.contains('Q') {
            // A quarter is a DHIS2 period only: its values against the books, by village.
            let set = crate::exports::dhis2_values(&app, &adm, COUNTY, period, "village").await;
            for (v, c) in (0..6).map(|v| (v, sum_cells(&cells, |x, _| x == v))) {
                let want = expected_figures(&c, &c, &|cat| imported_for(VILLAGES[v], &[v], cat));
                crate::exports::assert_values(&set, VILLAGES[v], &want, &format!("{period} village {v}"));
            }
            continue;
        }
        // County by township, and the county total; the DHIS2 export equals it.
        let r = report(&adm, COUNTY, period, "township").await;
        crate::exports::assert_dhis2_equals(&app, &adm, &r, "township").await;
        let groups = r["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        for (g, town) in groups.iter().zip([T1, T2]) {
            assert_eq!(g["code"], town);
            let vs: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&v| VILLAGES[v].starts_with(&town[..9]))
                .collect();
            let c = sum_cells(&cells, |v, _| vs.contains(&v));
            assert_figures(
                &format!("{period} {town}"),
                &g["indicators"],
                &expected_figures(&c, &c, &|cat| imported_for(town, &vs, cat)),
            );
        }
        let c = sum_cells(&cells, |_, _| true);
        assert_figures(
            &format!("{period} county"),
            &r["total"]["indicators"],
            &expected_figures(&c, &c, &|cat| imported_for(COUNTY, &all, cat)),
        );
        // County by village.
        let r = report(&adm, COUNTY, period, "village").await;
        crate::exports::assert_dhis2_equals(&app, &adm, &r, "village").await;
        let groups = r["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 6);
        for (v, g) in groups.iter().enumerate() {
            assert_eq!(g["code"], VILLAGES[v]);
            let c = sum_cells(&cells, |x, _| x == v);
            assert_figures(
                &format!("{period} village {v}"),
                &g["indicators"],
                &expected_figures(&c, &c, &|cat| imported_for(VILLAGES[v], &[v], cat)),
            );
        }
        // County by team: numerators by contract team, registered fallbacks by the team's villages.
        let r = report(&adm, COUNTY, period, "team").await;
        let groups = r["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 3);
        for g in groups {
            let t = team_ids
                .iter()
                .position(|id| g["code"] == *id)
                .expect("one of the three teams");
            let vs: Vec<usize> = all.iter().copied().filter(|&v| VILLAGE_TEAM[v] == t).collect();
            let counted = sum_cells(&cells, |_, team| team == Some(t));
            let residents = sum_cells(&cells, |v, _| vs.contains(&v));
            assert_figures(
                &format!("{period} team {}", TEAMS[t]),
                &g["indicators"],
                &expected_figures(&counted, &residents, &|cat| all_villages(&vs, cat)),
            );
        }
    }
    // The township supervisor by village; a doctor by team (the team's villages only).
    let cells = year;
    let r = report(&sup1, T1, "2025", "village").await;
    assert_eq!(r["groups"].as_array().unwrap().len(), 3);
    let t1: Vec<usize> = vec![0, 1, 2];
    let c = sum_cells(&cells, |v, _| t1.contains(&v));
    assert_figures(
        "supervisor total",
        &r["total"]["indicators"],
        &expected_figures(&c, &c, &|cat| imported_for(T1, &t1, cat)),
    );
    let r = report(&docs[0], T1, "2025", "team").await;
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let own = vec![0usize, 1];
    let counted = sum_cells(&cells, |v, team| team == Some(0) && own.contains(&v));
    let residents = sum_cells(&cells, |v, _| own.contains(&v));
    assert_figures(
        "doctor's team",
        &groups[0]["indicators"],
        &expected_figures(&counted, &residents, &|cat| all_villages(&own, cat)),
    );
    let c = sum_cells(&cells, |v, _| own.contains(&v));
    assert_figures(
        "doctor's total",
        &r["total"]["indicators"],
        &expected_figures(&c, &c, &|cat| all_villages(&own, cat)),
    );
    // And the scope around it.
    let res = app
        .get(&sup1, &format!("/api/v1/reports/coverage?region={T2}&period=2025"))
        .await;
    helpers::assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(
            &docs[0],
            &format!("/api/v1/reports/coverage?region={}&period=2025", VILLAGES[2]),
        )
        .await;
    helpers::assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}
