//! Reading an export file a page at a time: each page is at most [`PAGE`] rows of one
//! village after the last id of the page before (keyset order within the village, villages
//! in code order), turned into NDJSON lines. A page reads its village through the
//! (county, village) index of its table and sorts at most that village's rows, so the
//! export costs one pass over the region whatever its size; the handler asks for the next
//! page only once the client has taken the last, so memory holds one page.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::prelude::*;
use serde_json::{json, Value};

use super::resources::{self as r, township_of};
use super::{Export, File, ResourceType};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::{
    contract_packages, contracts, questionnaires, regions, residents, service_packages, survey_responses,
    team_villages, teams, visits,
};

/// Rows per page.
pub const PAGE: i64 = 1000;

/// Where the next page starts: a stage (the deletions file walks four tables), the
/// village being read (an index into the region's villages) and the last id read in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Table being read (deletions only).
    pub stage: usize,
    /// Village being read.
    pub village: usize,
    /// Last id read in it.
    pub after: String,
}

impl Cursor {
    /// Where to go after a page of `read` rows whose last id is `last`: on in the village
    /// when the page was full, else the next village; `None` past the last village.
    fn after_page(&self, read: usize, last: Option<String>, villages: usize) -> Option<Cursor> {
        match last {
            Some(after) if read as i64 == PAGE => Some(Cursor { after, ..self.clone() }),
            _ if self.village + 1 < villages => Some(Cursor {
                stage: self.stage,
                village: self.village + 1,
                after: String::new(),
            }),
            _ => None,
        }
    }
}

/// The region's villages, in code order.
fn villages(conn: &mut DbConn, e: &Export) -> Result<Vec<String>, AppError> {
    Ok(regions::table
        .filter(regions::level.eq("village"))
        .filter(regions::code.ge(&e.lo))
        .filter(regions::code.le(&e.hi))
        .order(regions::code.asc())
        .select(regions::code)
        .load(conn)?)
}

/// One page: its NDJSON lines, and where the next starts (none at the end).
pub struct Page {
    /// One resource (or Bundle) per line, each line ending in `\n`.
    pub body: Vec<u8>,
    /// The next page's start.
    pub next: Option<Cursor>,
}

fn lines(resources: impl IntoIterator<Item = Value>) -> Result<Vec<u8>, AppError> {
    let mut body = Vec::new();
    for v in resources {
        serde_json::to_writer(&mut body, &v).map_err(AppError::internal)?;
        body.push(b'\n');
    }
    Ok(body)
}

/// The page of `file` that starts at `cursor`.
pub fn page(conn: &mut DbConn, e: &Export, file: File, cursor: &Cursor) -> Result<Page, AppError> {
    let today = crate::time::fmt_date(crate::time::today_cst());
    let whole = |resources: Vec<Value>| -> Result<Page, AppError> {
        Ok(Page {
            body: lines(resources)?,
            next: None,
        })
    };
    let t = match file {
        File::Deleted => return deleted(conn, e, cursor),
        File::Resources(ResourceType::Location) => return whole(locations(conn, e)?),
        File::Resources(ResourceType::Organization) => return whole(organizations(conn, e)?),
        File::Resources(ResourceType::CareTeam) => return whole(care_teams(conn, e)?),
        File::Resources(ResourceType::Questionnaire) => return whole(questionnaires_all(conn, &e.county)?),
        File::Resources(t) => t,
    };
    let villages = villages(conn, e)?;
    let Some(village) = villages.get(cursor.village) else {
        return whole(Vec::new());
    };
    let after = cursor.after.as_str();
    let (resources, read, last): (Vec<Value>, usize, Option<String>) = match t {
        ResourceType::Patient => {
            let rows = resident_rows(conn, e, village, after, false)?;
            let last = rows.last().map(|x| x.id.clone());
            (rows.iter().map(r::patient).collect(), rows.len(), last)
        }
        ResourceType::CarePlan => {
            let rows = contract_rows(conn, e, village, after, false)?;
            let last = rows.last().map(|x| x.id.clone());
            (rows.iter().map(|c| r::care_plan(c, &today)).collect(), rows.len(), last)
        }
        ResourceType::Encounter | ResourceType::Observation => {
            let rows = visit_rows(conn, e, village, after, false)?;
            let last = rows.last().map(|x| x.id.clone());
            let out = if t == ResourceType::Encounter {
                rows.iter().map(r::encounter).collect()
            } else {
                rows.iter().flat_map(r::observations).collect()
            };
            (out, rows.len(), last)
        }
        _ => {
            let rows = survey_rows(conn, e, village, after, false)?;
            let last = rows.last().map(|x| x.id.clone());
            (rows.iter().map(r::questionnaire_response).collect(), rows.len(), last)
        }
    };
    Ok(Page {
        body: lines(resources)?,
        next: cursor.after_page(read, last, villages.len()),
    })
}

/// The deletions since `since`: per table, one Bundle of DELETE entries per page.
fn deleted(conn: &mut DbConn, e: &Export, cursor: &Cursor) -> Result<Page, AppError> {
    const STAGES: [&[ResourceType]; 4] = [
        &[ResourceType::Patient],
        &[ResourceType::CarePlan],
        &[ResourceType::Encounter, ResourceType::Observation],
        &[ResourceType::QuestionnaireResponse],
    ];
    if e.after_position.is_none() {
        return Ok(Page {
            body: Vec::new(),
            next: None,
        });
    }
    let villages = villages(conn, e)?;
    let mut cursor = cursor.clone();
    // Past the last village of a stage, the next stage's first village.
    while cursor.stage < STAGES.len() {
        let wanted: Vec<ResourceType> = STAGES[cursor.stage]
            .iter()
            .copied()
            .filter(|t| e.types.contains(t))
            .collect();
        let Some(village) = villages.get(cursor.village).filter(|_| !wanted.is_empty()) else {
            cursor = Cursor {
                stage: cursor.stage + 1,
                ..Cursor::default()
            };
            continue;
        };
        let after = cursor.after.as_str();
        let mut refs: Vec<String> = Vec::new();
        let (read, last) = match cursor.stage {
            0 => {
                let rows = resident_rows(conn, e, village, after, true)?;
                refs.extend(rows.iter().map(|x| format!("Patient/{}", x.id)));
                (rows.len(), rows.last().map(|x| x.id.clone()))
            }
            1 => {
                let rows = contract_rows(conn, e, village, after, true)?;
                refs.extend(rows.iter().map(|x| format!("CarePlan/{}", x.id)));
                (rows.len(), rows.last().map(|x| x.id.clone()))
            }
            2 => {
                let rows = visit_rows(conn, e, village, after, true)?;
                for v in &rows {
                    if wanted.contains(&ResourceType::Encounter) {
                        refs.push(format!("Encounter/{}", v.id));
                    }
                    if wanted.contains(&ResourceType::Observation) {
                        refs.extend(r::observation_ids(v).into_iter().map(|id| format!("Observation/{id}")));
                    }
                }
                (rows.len(), rows.last().map(|x| x.id.clone()))
            }
            _ => {
                let rows = survey_rows(conn, e, village, after, true)?;
                refs.extend(rows.iter().map(|x| format!("QuestionnaireResponse/{}", x.id)));
                (rows.len(), rows.last().map(|x| x.id.clone()))
            }
        };
        let next = cursor.after_page(read, last, villages.len()).unwrap_or(Cursor {
            stage: cursor.stage + 1,
            ..Cursor::default()
        });
        let body = if refs.is_empty() {
            Vec::new()
        } else {
            lines([json!({
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": refs.iter().map(|u| json!({ "request": { "method": "DELETE", "url": u } })).collect::<Vec<_>>(),
            })])?
        };
        // An empty page moves on without a line; the handler asks for the next at once.
        return Ok(Page { body, next: Some(next) });
    }
    Ok(Page {
        body: Vec::new(),
        next: None,
    })
}

/// A record table's page in one village of the export's region: live rows, or with
/// `deleted` the tombstones; for a `since` export only rows changed after its position.
macro_rules! scoped_page {
    ($conn:expr, $e:expr, $table:ident, $select:expr, $village:expr, $after:expr, $deleted:expr) => {{
        let mut q = $table::table
            .filter($table::county_code.eq(&$e.county))
            .filter($table::village_code.eq($village))
            .filter($table::id.gt($after))
            .filter($table::deleted.eq($deleted))
            .order($table::id.asc())
            .limit(PAGE)
            .select($select)
            .into_boxed();
        if let Some(p) = $e.after_position {
            q = q.filter($table::change_seq.gt(p));
        }
        q.load($conn)?
    }};
}

fn names(conn: &mut DbConn, codes: BTreeSet<String>) -> Result<HashMap<String, String>, AppError> {
    let codes: Vec<String> = codes.into_iter().collect();
    Ok(regions::table
        .filter(regions::code.eq_any(&codes))
        .select((regions::code, regions::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

fn resident_rows(
    conn: &mut DbConn,
    e: &Export,
    village: &str,
    after: &str,
    deleted: bool,
) -> Result<Vec<r::ResidentRow>, AppError> {
    let rows: Vec<(String, String, String, String, String, String)> = scoped_page!(
        conn,
        e,
        residents,
        (
            residents::id,
            residents::village_code,
            residents::name,
            residents::sex,
            residents::birth_date,
            residents::tags
        ),
        village,
        after,
        deleted
    );
    let mut codes = BTreeSet::new();
    for (_, v, ..) in &rows {
        codes.insert(v.clone());
        codes.insert(township_of(v));
        codes.insert(format!("{}000000", &v[..6]));
    }
    let names = names(conn, codes)?;
    let name = |c: &str| names.get(c).cloned().unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|(id, village_code, person, sex, birth_date, tags)| r::ResidentRow {
            place: (
                name(&village_code),
                name(&township_of(&village_code)),
                name(&format!("{}000000", &village_code[..6])),
            ),
            id,
            village_code,
            name: person,
            sex,
            birth_date,
            tags,
        })
        .collect())
}

type ContractTuple = (
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<String>,
);

fn contract_rows(
    conn: &mut DbConn,
    e: &Export,
    village: &str,
    after: &str,
    deleted: bool,
) -> Result<Vec<r::ContractRow>, AppError> {
    let rows: Vec<ContractTuple> = scoped_page!(
        conn,
        e,
        contracts,
        (
            contracts::id,
            contracts::resident_id,
            contracts::team_id,
            contracts::status,
            contracts::signed_at,
            contracts::effective_from,
            contracts::effective_to,
            contracts::ended_on
        ),
        village,
        after,
        deleted
    );
    let ids: Vec<&String> = rows.iter().map(|x| &x.0).collect();
    let held: Vec<(String, String, String, i64, i64)> = contract_packages::table
        .inner_join(
            service_packages::table.on(service_packages::county_code
                .eq(contract_packages::county_code)
                .and(service_packages::code.eq(contract_packages::package_code))),
        )
        .filter(contract_packages::contract_id.eq_any(&ids))
        .order((contract_packages::contract_id, contract_packages::package_code))
        .select((
            contract_packages::contract_id,
            contract_packages::package_code,
            service_packages::name,
            contract_packages::price_fen,
            contract_packages::self_pay_fen,
        ))
        .load(conn)?;
    let mut packages: HashMap<String, Vec<r::PackageRow>> = HashMap::new();
    for (contract, code, name, price_fen, self_pay_fen) in held {
        packages.entry(contract).or_default().push(r::PackageRow {
            code,
            name,
            price_fen,
            self_pay_fen,
        });
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, resident_id, team_id, status, signed_at, effective_from, effective_to, ended_on)| r::ContractRow {
                packages: packages.remove(&id).unwrap_or_default(),
                id,
                resident_id,
                team_id,
                status,
                signed_at,
                effective_from,
                effective_to,
                ended_on,
            },
        )
        .collect())
}

type VisitTuple = (
    (String, String, String, String, i64),
    r::Vitals,
    (String, Option<String>, Option<String>),
);

fn visit_rows(
    conn: &mut DbConn,
    e: &Export,
    village: &str,
    after: &str,
    deleted: bool,
) -> Result<Vec<r::VisitRow>, AppError> {
    let rows: Vec<VisitTuple> = scoped_page!(
        conn,
        e,
        visits,
        (
            (
                visits::id,
                visits::resident_id,
                visits::village_code,
                visits::kind,
                visits::occurred_at
            ),
            (
                visits::systolic,
                visits::diastolic,
                visits::fasting_glucose,
                visits::weight_kg,
                visits::height_cm
            ),
            (visits::measurements, visits::amends, visits::amended_by)
        ),
        village,
        after,
        deleted
    );
    Ok(rows
        .into_iter()
        .map(
            |((id, resident_id, village_code, kind, occurred_at), vitals, (measurements, amends, amended_by))| {
                r::VisitRow {
                    id,
                    resident_id,
                    village_code,
                    kind,
                    occurred_at,
                    vitals,
                    measurements,
                    amends,
                    amended_by,
                }
            },
        )
        .collect())
}

type SurveyTuple = (String, String, String, i32, String, i64, Option<String>, Option<String>);

fn survey_rows(
    conn: &mut DbConn,
    e: &Export,
    village: &str,
    after: &str,
    deleted: bool,
) -> Result<Vec<r::SurveyRow>, AppError> {
    let rows: Vec<SurveyTuple> = scoped_page!(
        conn,
        e,
        survey_responses,
        (
            survey_responses::id,
            survey_responses::resident_id,
            survey_responses::questionnaire,
            survey_responses::questionnaire_version,
            survey_responses::answers,
            survey_responses::answered_at,
            survey_responses::amends,
            survey_responses::amended_by
        ),
        village,
        after,
        deleted
    );
    Ok(rows
        .into_iter()
        .map(
            |(id, resident_id, questionnaire, questionnaire_version, answers, answered_at, amends, amended_by)| {
                r::SurveyRow {
                    id,
                    resident_id,
                    questionnaire,
                    questionnaire_version,
                    answers,
                    answered_at,
                    amends,
                    amended_by,
                }
            },
        )
        .collect())
}

/// The region's own codes: the county, the township above a village, and every region in
/// the range.
/// Code, name, level and parent of a region.
type RegionTuple = (String, String, String, Option<String>);

fn region_rows(conn: &mut DbConn, e: &Export) -> Result<Vec<RegionTuple>, AppError> {
    let above = [format!("{}000000", &e.region[..6]), township_of(&e.region)];
    Ok(regions::table
        .filter(
            regions::code
                .ge(&e.lo)
                .and(regions::code.le(&e.hi))
                .or(regions::code.eq_any(&above)),
        )
        .order(regions::code.asc())
        .select((regions::code, regions::name, regions::level, regions::parent_code))
        .load(conn)?)
}

fn locations(conn: &mut DbConn, e: &Export) -> Result<Vec<Value>, AppError> {
    Ok(region_rows(conn, e)?
        .iter()
        .map(|(code, name, level, parent)| r::location(code, name, level, parent.as_deref()))
        .collect())
}

/// The teams the export's records name: those of its townships, those serving its
/// villages, and those holding contracts there.
fn team_rows(conn: &mut DbConn, e: &Export) -> Result<Vec<(String, String, String, String)>, AppError> {
    let mut ids: BTreeSet<String> = team_villages::table
        .filter(team_villages::village_code.ge(&e.lo))
        .filter(team_villages::village_code.le(&e.hi))
        .select(team_villages::team_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let holding: Vec<String> = contracts::table
        .filter(contracts::county_code.eq(&e.county))
        .filter(contracts::village_code.ge(&e.lo))
        .filter(contracts::village_code.le(&e.hi))
        .select(contracts::team_id)
        .distinct()
        .load(conn)?;
    ids.extend(holding);
    let ids: Vec<String> = ids.into_iter().collect();
    Ok(teams::table
        .filter(
            teams::id
                .eq_any(&ids)
                .or(teams::township_code.ge(&e.lo).and(teams::township_code.le(&e.hi))),
        )
        .filter(teams::county_code.eq(&e.county))
        .order(teams::id.asc())
        .select((teams::id, teams::code, teams::name, teams::township_code))
        .load(conn)?)
}

fn care_teams(conn: &mut DbConn, e: &Export) -> Result<Vec<Value>, AppError> {
    Ok(team_rows(conn, e)?
        .iter()
        .map(|(id, code, name, township)| r::care_team(id, code, name, township))
        .collect())
}

fn organizations(conn: &mut DbConn, e: &Export) -> Result<Vec<Value>, AppError> {
    let mut towns: BTreeSet<String> = region_rows(conn, e)?
        .into_iter()
        .filter(|(_, _, level, _)| level != "county")
        .map(|(code, ..)| township_of(&code))
        .collect();
    towns.extend(team_rows(conn, e)?.into_iter().map(|(.., t)| t));
    let names: BTreeMap<String, String> = names(conn, towns.clone())?.into_iter().collect();
    Ok(towns
        .iter()
        .map(|t| r::organization(t, names.get(t).map(String::as_str).unwrap_or_default()))
        .collect())
}

/// The county's questionnaire versions (each county has its own).
fn questionnaires_all(conn: &mut DbConn, county: &str) -> Result<Vec<Value>, AppError> {
    let rows: Vec<(String, i32, String, String, i64)> = questionnaires::table
        .filter(questionnaires::county_code.eq(county))
        .order((questionnaires::code, questionnaires::version))
        .select((
            questionnaires::code,
            questionnaires::version,
            questionnaires::title,
            questionnaires::definition,
            questionnaires::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(code, version, title, definition, created_at)| {
            r::questionnaire(&r::QuestionnaireRow {
                code,
                version,
                title,
                definition,
                created_at,
            })
        })
        .collect())
}
