//! Family-doctor teams (家庭医生团队) and the villages each serves.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::region::{self, Level};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{team_villages, teams};
use crate::time::now_ms;

/// A team row.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = teams)]
pub struct Team {
    /// Team id.
    pub id: String,
    /// Short code, unique in the database (used by CSV imports).
    pub code: String,
    /// Name.
    pub name: String,
    /// The township the team works in.
    pub township_code: String,
    /// County.
    pub county_code: String,
    /// Created (server, epoch ms).
    #[serde(skip)]
    pub created_at: i64,
}

/// A team to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// Short unique code, `A–Z a–z 0–9 - _`, 2–32 characters.
    pub code: String,
    /// Name.
    pub name: String,
    /// Township code.
    pub township_code: String,
    /// Codes of the villages it serves, all in that township.
    pub village_codes: Vec<String>,
}

/// The village codes a team serves, sorted.
pub fn village_codes(conn: &mut DbConn, team_id: &str) -> Result<Vec<String>, AppError> {
    Ok(team_villages::table
        .filter(team_villages::team_id.eq(team_id))
        .order(team_villages::village_code)
        .select(team_villages::village_code)
        .load(conn)?)
}

/// Finds a team by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Team>, AppError> {
    Ok(teams::table.find(id).select(Team::as_select()).first(conn).optional()?)
}

/// Finds a team by code.
pub fn find_by_code(conn: &mut DbConn, code: &str) -> Result<Option<Team>, AppError> {
    Ok(teams::table
        .filter(teams::code.eq(code))
        .select(Team::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a team. `county` restricts where (an admin's county).
pub fn create(conn: &mut DbConn, new: &NewTeam, county: Option<&str>) -> Result<Team, AppError> {
    let code = new.code.trim();
    if !(2..=32).contains(&code.len())
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::invalid(
            Code::InvalidTeamCode,
            "code",
            "a team code is 2–32 of A–Z a–z 0–9 - _",
        ));
    }
    let name = super::validate::text(&new.name, "name", 100)?;
    let township = region::find(conn, &new.township_code)?
        .filter(|r| r.level == Level::Township.as_str())
        .ok_or_else(|| AppError::invalid(Code::UnknownRegion, "township_code", "no such township"))?;
    if let Some(c) = county {
        if c != township.county_code {
            return Err(AppError::forbidden("that township is outside your county"));
        }
    }
    if new.village_codes.is_empty() {
        return Err(AppError::invalid(
            Code::NoVillages,
            "village_codes",
            "a team serves at least one village",
        ));
    }
    let mut villages = new.village_codes.clone();
    villages.sort();
    villages.dedup();
    for v in &villages {
        let ok = region::find(conn, v)?
            .is_some_and(|r| r.level == Level::Village.as_str() && r.parent_code.as_deref() == Some(&township.code));
        if !ok {
            return Err(AppError::invalid(
                Code::UnknownRegion,
                "village_codes",
                format!("{v} is not a village of township {}", township.code),
            ));
        }
    }
    if find_by_code(conn, code)?.is_some() {
        return Err(AppError::conflict(
            Code::TeamExists,
            format!("a team with code {code} exists"),
        ));
    }
    let team = Team {
        id: Uuid::now_v7().to_string(),
        code: code.to_string(),
        name,
        township_code: township.code.clone(),
        county_code: township.county_code.clone(),
        created_at: now_ms(),
    };
    diesel::insert_into(teams::table)
        .values((
            teams::id.eq(&team.id),
            teams::code.eq(&team.code),
            teams::name.eq(&team.name),
            teams::township_code.eq(&team.township_code),
            teams::county_code.eq(&team.county_code),
            teams::created_at.eq(team.created_at),
        ))
        .execute(conn)?;
    for v in &villages {
        diesel::insert_into(team_villages::table)
            .values((
                team_villages::team_id.eq(&team.id),
                team_villages::village_code.eq(v),
                team_villages::county_code.eq(&team.county_code),
            ))
            .execute(conn)?;
    }
    Ok(team)
}

/// Replaces the villages a team serves. Its members' scope changes with it, so their pull
/// cursors stop working (409 `resync_required`) and their tablets bootstrap again.
pub fn set_villages(
    conn: &mut DbConn,
    team_id: &str,
    village_codes: &[String],
    county: &str,
) -> Result<Team, AppError> {
    let team = find(conn, team_id)?
        .filter(|t| t.county_code == county)
        .ok_or_else(|| AppError::not_found("team"))?;
    if village_codes.is_empty() {
        return Err(AppError::invalid(
            Code::NoVillages,
            "village_codes",
            "a team serves at least one village",
        ));
    }
    let mut villages = village_codes.to_vec();
    villages.sort();
    villages.dedup();
    for v in &villages {
        let ok = region::find(conn, v)?.is_some_and(|r| {
            r.level == Level::Village.as_str() && r.parent_code.as_deref() == Some(&team.township_code)
        });
        if !ok {
            return Err(AppError::invalid(
                Code::UnknownRegion,
                "village_codes",
                format!("{v} is not a village of township {}", team.township_code),
            ));
        }
    }
    diesel::delete(team_villages::table.filter(team_villages::team_id.eq(&team.id))).execute(conn)?;
    for v in &villages {
        diesel::insert_into(team_villages::table)
            .values((
                team_villages::team_id.eq(&team.id),
                team_villages::village_code.eq(v),
                team_villages::county_code.eq(&team.county_code),
            ))
            .execute(conn)?;
    }
    Ok(team)
}

/// A team as the console lists it: the villages it serves and how many staff it has.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    /// Team id.
    pub id: String,
    /// Short code.
    pub code: String,
    /// Name.
    pub name: String,
    /// The township the team works in.
    pub township_code: String,
    /// The villages it serves, sorted.
    pub villages: Vec<String>,
    /// Active doctors and team leads of the team.
    pub member_count: i64,
}

/// The teams in `scope` (an administrator's county, a supervisor's township), by code.
pub fn list_in_reach(conn: &mut DbConn, county: &str, scope: &crate::access::Scope) -> Result<Vec<TeamView>, AppError> {
    use crate::schema::users;
    let rows: Vec<Team> = teams::table
        .filter(teams::county_code.eq(county))
        .order(teams::code)
        .select(Team::as_select())
        .load(conn)?;
    let rows: Vec<Team> = rows
        .into_iter()
        .filter(|t| scope.covers_region(&t.township_code))
        .collect();
    let ids: Vec<&str> = rows.iter().map(|t| t.id.as_str()).collect();
    let links: Vec<(String, String)> = team_villages::table
        .filter(team_villages::team_id.eq_any(&ids))
        .order(team_villages::village_code)
        .select((team_villages::team_id, team_villages::village_code))
        .load(conn)?;
    let members: Vec<(Option<String>, i64)> = users::table
        .filter(users::team_id.eq_any(ids.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>()))
        .filter(users::active.eq(true))
        .group_by(users::team_id)
        .select((users::team_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|t| TeamView {
            villages: links
                .iter()
                .filter(|(id, _)| *id == t.id)
                .map(|(_, v)| v.clone())
                .collect(),
            member_count: members
                .iter()
                .find(|(id, _)| id.as_deref() == Some(t.id.as_str()))
                .map_or(0, |(_, n)| *n),
            id: t.id,
            code: t.code,
            name: t.name,
            township_code: t.township_code,
        })
        .collect())
}

/// Moves a village to team `to` (in the village's township): every team that served it
/// stops, `to` starts. The members of both teams reach other villages from their next
/// call on, so their tablets' pull cursors are refused with `resync_required` and they
/// bootstrap again (docs/sync-protocol.md, "Re-sync"). Answers the teams that served it
/// before (none when it had no team).
pub fn move_village(conn: &mut DbConn, village: &str, to: &str, county: &str) -> Result<Vec<Team>, AppError> {
    let target = find(conn, to)?
        .filter(|t| t.county_code == county)
        .ok_or_else(|| AppError::invalid(Code::UnknownTeam, "team_id", "no team with that id in your county"))?;
    let in_township = region::find(conn, village)?
        .is_some_and(|r| r.level == Level::Village.as_str() && r.parent_code.as_deref() == Some(&target.township_code));
    if !in_township {
        return Err(AppError::not_found("village"));
    }
    let from_ids: Vec<String> = team_villages::table
        .filter(team_villages::village_code.eq(village))
        .filter(team_villages::team_id.ne(&target.id))
        .select(team_villages::team_id)
        .load(conn)?;
    let mut from = Vec::new();
    for id in &from_ids {
        if village_codes(conn, id)?.len() <= 1 {
            return Err(AppError::invalid(
                Code::NoVillages,
                "team_id",
                "the team serving that village would be left with none: give it another village first",
            ));
        }
        if let Some(t) = find(conn, id)? {
            from.push(t);
        }
    }
    diesel::delete(team_villages::table.filter(team_villages::village_code.eq(village))).execute(conn)?;
    diesel::insert_into(team_villages::table)
        .values((
            team_villages::team_id.eq(&target.id),
            team_villages::village_code.eq(village),
            team_villages::county_code.eq(&target.county_code),
        ))
        .execute(conn)?;
    Ok(from)
}
