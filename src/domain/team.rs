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
