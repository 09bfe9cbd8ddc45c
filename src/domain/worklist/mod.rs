//! The team work list (工作清单): who a family-doctor team should see next. Follow-ups due
//! this quarter and overdue, recalls (召回) after an uncontrolled reading, referral
//! suggestions (转诊建议), referrals waiting to be received and patients back from hospital,
//! contracts ending within 30 days, and residents aged 65 and over without this year's
//! health check.
//!
//! The rules live in [`super::followup`]; this module loads what they need for a whole
//! team with a handful of set-based queries (residents, tags, the last two follow-ups of
//! each kind per resident, elderly checks, expiring contracts) — never one query per
//! resident — and applies them.
//!
//! "As of a date" means: visits after the date are ignored and ages, quarters and contract
//! terms are measured on it; residents, their villages, tags and contract states are
//! taken as they stand now.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Days, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use diesel::QueryableByName;

mod entries;
mod referrals;

pub use entries::*;

use super::contract::IN_EFFECT;
use super::followup::{self, Condition, Duty, FollowupVisit, Quarter, Reading};
use super::resident::age_on;
use super::team::{self, Team};
use crate::access::{Caller, Role, Scope};
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::{regions, residents};
use crate::time::{fmt_date, parse_date};
use crate::vocabulary::ContractStatus;

/// Contracts whose term ends within this many days of the date are listed.
pub const EXPIRING_WITHIN_DAYS: u64 = 30;
/// Age from which a resident needs the annual elderly health check.
pub const ELDERLY_AGE: i32 = 65;

/// Who may read a team's work list: its own members, the supervisor of its township,
/// the county administrator. A team of another county is, to the caller, not there.
pub fn authorise(auth: &Caller, team: &Team) -> Result<(), AppError> {
    if team.county_code != auth.county_code {
        return Err(AppError::not_found("team"));
    }
    let allowed = match (auth.role, &auth.scope) {
        (Role::Doctor | Role::TeamLead, _) => auth.team_id.as_deref() == Some(team.id.as_str()),
        (Role::Supervisor, Scope::Township(t)) => *t == team.township_code,
        (Role::Admin, Scope::County(c)) => *c == team.county_code,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden("this team's work list is outside your reach"))
    }
}

/// Residents per query when a query names them: one query for most teams (PostgreSQL
/// then reads the visits once, where smaller chunks made it scan them once per chunk), and
/// well under every backend's limit on bound parameters (SQLite 32,766; PostgreSQL 65,535).
const CHUNK: usize = 10_000;

/// Runs `sql` (ending in `IN (` + placeholders + `)` for the resident ids, marked `{ids}`)
/// once per chunk of residents, with `leading` bound before the ids. The resident list was
/// read once; naming the ids keeps each query on its resident index instead of reading the
/// team's residents again.
fn per_chunk<T>(conn: &mut DbConn, sql: &str, leading: &[Bind], ids: &[String]) -> Result<Vec<T>, AppError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut binds = leading.to_vec();
        binds.extend(chunk.iter().map(|id| Bind::from(id.as_str())));
        out.extend(raw::load::<T>(conn, &sql.replace("{ids}", &marks), &binds)?);
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct TagRow {
    #[diesel(sql_type = Text)]
    resident_id: String,
    #[diesel(sql_type = Text)]
    tag: String,
}

#[derive(QueryableByName)]
struct FollowupRow {
    #[diesel(sql_type = Text)]
    resident_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    occurred_at: i64,
    #[diesel(sql_type = Text)]
    occurred_on: String,
    #[diesel(sql_type = Nullable<Integer>)]
    systolic: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    diastolic: Option<i32>,
    #[diesel(sql_type = Nullable<Double>)]
    fasting_glucose: Option<f64>,
}

#[derive(QueryableByName)]
struct CheckRow {
    #[diesel(sql_type = Text)]
    resident_id: String,
    #[diesel(sql_type = Text)]
    last_on: String,
}

#[derive(QueryableByName)]
struct ContractRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    resident_id: String,
    #[diesel(sql_type = Text)]
    team_id: String,
    #[diesel(sql_type = Text)]
    effective_to: String,
}

struct Person {
    view: WorkResident,
    birth: Option<NaiveDate>,
    registered_on: Option<NaiveDate>,
}

fn quoted(list: &[&str]) -> String {
    list.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

/// The last two live follow-ups of each kind per resident, on or before `on`.
fn last_followups(
    conn: &mut DbConn,
    ids: &[String],
    on: NaiveDate,
) -> Result<HashMap<(String, Condition), Vec<FollowupVisit>>, AppError> {
    let kinds: Vec<&str> = Condition::ALL.iter().map(|c| c.visit_kind()).collect();
    let sql = format!(
        "SELECT resident_id, kind, id, occurred_at, occurred_on, systolic, diastolic, fasting_glucose FROM (\
         SELECT v.resident_id, v.kind, v.id, v.occurred_at, v.occurred_on, v.systolic, v.diastolic, v.fasting_glucose, \
         ROW_NUMBER() OVER (PARTITION BY v.resident_id, v.kind ORDER BY v.occurred_at DESC, v.id DESC) AS rn \
         FROM visits v WHERE v.kind IN ({}) AND v.deleted = FALSE AND v.amended_by IS NULL \
         AND v.occurred_on <= ? AND v.resident_id IN ({{ids}})) t WHERE t.rn <= 2",
        quoted(&kinds),
    );
    let rows: Vec<FollowupRow> = per_chunk(conn, &sql, &[Bind::from(fmt_date(on))], ids)?;
    let mut out: HashMap<(String, Condition), Vec<FollowupVisit>> = HashMap::new();
    for r in rows {
        let (Some(condition), Some(occurred_on)) = (Condition::of_kind(&r.kind), parse_date(&r.occurred_on)) else {
            continue;
        };
        out.entry((r.resident_id, condition)).or_default().push(FollowupVisit {
            id: r.id,
            occurred_at: r.occurred_at,
            occurred_on,
            systolic: r.systolic,
            diastolic: r.diastolic,
            fasting_glucose: r.fasting_glucose,
            deleted: false,
            amended_by: None,
        });
    }
    Ok(out)
}

fn reading_words(condition: Condition, r: &Reading) -> String {
    match condition {
        Condition::Hypertension => format!(
            "血压 {}/{} mmHg（{}）",
            r.systolic.map_or("-".into(), |v| v.to_string()),
            r.diastolic.map_or("-".into(), |v| v.to_string()),
            r.on
        ),
        Condition::Diabetes => format!(
            "空腹血糖 {} mmol/L（{}）",
            r.fasting_glucose.map_or("-".into(), |v| v.to_string()),
            r.on
        ),
    }
}

fn condition_words(condition: Condition) -> &'static str {
    match condition {
        Condition::Hypertension => "高血压",
        Condition::Diabetes => "糖尿病",
    }
}

/// Builds a team's work list as of `on`; an up-referral not confirmed within
/// `receive_days` is overdue. The caller has been authorised ([`authorise`]).
pub fn build(conn: &mut DbConn, team: &Team, on: NaiveDate, receive_days: u32) -> Result<Worklist, AppError> {
    let villages = team::village_codes(conn, &team.id)?;
    let quarter = Quarter::of(on);
    let mut list = Worklist {
        team: TeamRef {
            id: team.id.clone(),
            code: team.code.clone(),
            name: team.name.clone(),
        },
        date: on,
        quarter,
        followups_due: Vec::new(),
        followups_overdue: Vec::new(),
        recalls_due: Vec::new(),
        referrals_suggested: Vec::new(),
        referrals_overdue: Vec::new(),
        referral_followups_due: Vec::new(),
        contracts_expiring: Vec::new(),
        elderly_checks_missing: Vec::new(),
    };
    if villages.is_empty() {
        return Ok(list);
    }
    let village_names: HashMap<String, String> = regions::table
        .filter(regions::code.eq_any(&villages))
        .select((regions::code, regions::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    type Row = (String, String, String, String, String, String);
    let rows: Vec<Row> = residents::table
        .filter(residents::county_code.eq(&team.county_code))
        .filter(residents::village_code.eq_any(&villages))
        .filter(residents::deleted.eq(false))
        .filter(residents::merged_into.is_null())
        .select((
            residents::id,
            residents::name,
            residents::village_code,
            residents::id_masked,
            residents::birth_date,
            residents::registered_on,
        ))
        .load(conn)?;
    let mut people: BTreeMap<String, Person> = BTreeMap::new();
    for (id, name, village, masked, birth, registered) in rows {
        people.insert(
            id.clone(),
            Person {
                view: WorkResident {
                    id,
                    name,
                    village_name: village_names.get(&village).cloned().unwrap_or_default(),
                    village_code: village,
                    id_number_masked: masked,
                },
                birth: parse_date(&birth),
                registered_on: parse_date(&registered),
            },
        );
    }
    let ids: Vec<String> = people.keys().cloned().collect();

    // Follow-up duty, recalls and referrals.
    let tags: Vec<&str> = Condition::ALL.iter().map(|c| c.tag()).collect();
    let tag_sql = format!(
        "SELECT t.resident_id, t.tag FROM resident_tags t WHERE t.tag IN ({}) AND t.resident_id IN ({{ids}})",
        quoted(&tags),
    );
    let tagged: HashSet<(String, Condition)> = per_chunk::<TagRow>(conn, &tag_sql, &[], &ids)?
        .into_iter()
        .filter_map(|t| {
            Condition::ALL
                .into_iter()
                .find(|c| c.tag() == t.tag)
                .map(|c| (t.resident_id, c))
        })
        .collect();
    let followups = last_followups(conn, &ids, on)?;
    let referred = referrals::load(conn, &ids, on)?;
    for (id, p) in &people {
        for condition in Condition::ALL {
            let key = (id.clone(), condition);
            let visits = followups.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let is_patient = tagged.contains(&key);
            if visits.is_empty() && !is_patient {
                continue;
            }
            let a = followup::assess(condition, visits, on, p.registered_on);
            let what = condition_words(condition);
            if is_patient {
                let last = a
                    .last_followup_on
                    .map_or("从未随访".to_string(), |d| format!("上次随访 {d}"));
                match a.duty {
                    Duty::Done => {}
                    Duty::Due => list.followups_due.push(FollowupEntry {
                        resident: p.view.clone(),
                        condition,
                        last_followup_on: a.last_followup_on,
                        reason: format!(
                            "{what}患者本季度（{} 至 {}）尚未随访；{last}",
                            quarter.start, quarter.end
                        ),
                    }),
                    Duty::Overdue => list.followups_overdue.push(FollowupEntry {
                        resident: p.view.clone(),
                        condition,
                        last_followup_on: a.last_followup_on,
                        reason: format!("{what}患者本季度和上季度均未随访；{last}"),
                    }),
                }
            }
            // Readings call for action whether or not the tag is (still) recorded: the
            // measurement itself is the finding.
            if let Some(r) = a.recall {
                list.recalls_due.push(RecallEntry {
                    resident: p.view.clone(),
                    condition,
                    reason: format!(
                        "{what}随访未控制：{}；应于 {} 前召回{}",
                        reading_words(condition, &r.reading),
                        r.due_on,
                        if r.overdue { "，已逾期" } else { "" }
                    ),
                    reading: r.reading,
                    due_on: r.due_on,
                    overdue: r.overdue,
                });
            }
            let taken = |since| referred.get(id).is_some_and(|l| referrals::suggestion_taken(l, since));
            if let Some([x, y]) = a.referral.filter(|[_, y]| !taken(y.on)) {
                list.referrals_suggested.push(ReferralEntry {
                    resident: p.view.clone(),
                    condition,
                    reason: format!(
                        "连续两次{what}随访未控制：{}、{}；建议转诊",
                        reading_words(condition, &x),
                        reading_words(condition, &y)
                    ),
                    readings: vec![x, y],
                });
            }
        }
    }

    // Contracts in effect on the date whose term ends within 30 days.
    let until = on
        .checked_add_days(Days::new(EXPIRING_WITHIN_DAYS))
        .unwrap_or(NaiveDate::MAX);
    // A contract's village follows its resident's moves, so the team's villages find them
    // in one query; the resident must still be one of the team's live residents.
    let contract_sql = format!(
        "SELECT c.id, c.resident_id, c.team_id, c.effective_to FROM contracts c WHERE c.county_code = ? \
         AND c.village_code IN ({}) AND c.deleted = FALSE AND c.status IN ({}) AND c.ended_on IS NULL \
         AND c.effective_from <= ? AND c.effective_to >= ? AND c.effective_to <= ?",
        vec!["?"; villages.len()].join(", "),
        quoted(&IN_EFFECT.map(ContractStatus::as_str)),
    );
    let mut binds = vec![Bind::from(team.county_code.as_str())];
    binds.extend(villages.iter().map(|v| Bind::from(v.as_str())));
    binds.extend([
        Bind::from(fmt_date(on)),
        Bind::from(fmt_date(on)),
        Bind::from(fmt_date(until)),
    ]);
    for c in raw::load::<ContractRow>(conn, &contract_sql, &binds)? {
        let (Some(p), Some(to)) = (people.get(&c.resident_id), parse_date(&c.effective_to)) else {
            continue;
        };
        let days_left = (to - on).num_days();
        list.contracts_expiring.push(ExpiringEntry {
            resident: p.view.clone(),
            contract_id: c.id,
            team_id: c.team_id,
            effective_to: to,
            days_left,
            reason: format!("签约服务协议将于 {to} 到期（还有 {days_left} 天），请办理续约"),
        });
    }

    // Referred up and not yet received; back from hospital and not yet seen.
    let views: HashMap<&str, &WorkResident> = people.iter().map(|(id, p)| (id.as_str(), &p.view)).collect();
    let (overdue, back) = referrals::sections(conn, &views, &referred, on, receive_days)?;
    list.referrals_overdue = overdue;
    list.referral_followups_due = back;

    // Aged 65 and over on the date, no elderly health check this calendar year.
    let check_sql = "SELECT v.resident_id, MAX(v.occurred_on) AS last_on FROM visits v \
        WHERE v.kind = 'elderly_check' AND v.deleted = FALSE AND v.amended_by IS NULL AND v.occurred_on <= ? \
        AND v.resident_id IN ({ids}) GROUP BY v.resident_id";
    let last_check: HashMap<String, NaiveDate> =
        per_chunk::<CheckRow>(conn, check_sql, &[Bind::from(fmt_date(on))], &ids)?
            .into_iter()
            .filter_map(|r| parse_date(&r.last_on).map(|d| (r.resident_id, d)))
            .collect();
    let year_start = NaiveDate::from_ymd_opt(on.year(), 1, 1).expect("1 January");
    for (id, p) in &people {
        let Some(birth) = p.birth else { continue };
        let age = age_on(birth, on);
        if age < ELDERLY_AGE {
            continue;
        }
        let last = last_check.get(id).copied();
        if last.is_some_and(|d| d >= year_start) {
            continue;
        }
        list.elderly_checks_missing.push(ElderlyEntry {
            resident: p.view.clone(),
            age,
            last_check_on: last,
            reason: format!(
                "{age} 岁，{} 年尚未做老年人健康体检{}",
                on.year(),
                last.map_or(String::new(), |d| format!("（上次 {d}）"))
            ),
        });
    }

    let by_place = |r: &WorkResident| (r.village_code.clone(), r.name.clone(), r.id.clone());
    list.followups_due.sort_by_key(|e| (by_place(&e.resident), e.condition));
    list.followups_overdue
        .sort_by_key(|e| (by_place(&e.resident), e.condition));
    list.recalls_due
        .sort_by_key(|e| (e.due_on, by_place(&e.resident), e.condition));
    list.referrals_suggested
        .sort_by_key(|e| (by_place(&e.resident), e.condition));
    list.referrals_overdue
        .sort_by_key(|e| (e.referred_on, by_place(&e.resident), e.referral_id.clone()));
    list.referral_followups_due
        .sort_by_key(|e| (e.due_on, by_place(&e.resident), e.referral_id.clone()));
    list.contracts_expiring
        .sort_by_key(|e| (e.effective_to, by_place(&e.resident), e.contract_id.clone()));
    list.elderly_checks_missing.sort_by_key(|e| by_place(&e.resident));
    Ok(list)
}

/// Finds a team by its id as a path gives it; anything that is not a team is 404.
pub fn find_team(conn: &mut DbConn, id: &str) -> Result<Team, AppError> {
    let id = uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::not_found("team"))?;
    team::find(conn, &id)?.ok_or_else(|| AppError::not_found("team"))
}
