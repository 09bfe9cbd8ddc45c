//! The county a run pushes into, made through the server's admin API as a county
//! administrator makes one: townships, their villages, a team serving some of them, a
//! team lead account per team.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Session;

/// Teams per township.
const TEAMS_PER_TOWNSHIP: usize = 3;
/// Villages each team serves.
const VILLAGES_PER_TEAM: usize = 4;
/// The first township number (digits 7–9 of its code), clear of the demo county's.
const FIRST_TOWNSHIP: usize = 201;
/// The first village number within a township (digits 10–12).
const FIRST_VILLAGE: usize = 201;

/// A team made for the run and its account.
#[derive(Debug, Clone)]
pub struct TeamAccount {
    /// Team code.
    pub code: String,
    /// The team lead's username (the tablet logs in with it).
    pub username: String,
}

/// Most teams one county can have this way (township numbers run out at 999).
pub const MAX_TEAMS: usize = (1000 - FIRST_TOWNSHIP) * TEAMS_PER_TOWNSHIP;

async fn post(admin: &mut Session, path: &str, body: Value) -> Result<(), String> {
    admin
        .call(Method::POST, path, Some(&body))
        .await
        .map(|_| ())
        .map_err(|e| format!("setting up the county: {e}"))
}

/// Creates `teams` teams in the administrator's county `county` (its 12-digit code),
/// each with its villages and a team lead account with `password`.
pub async fn build(
    admin: &mut Session,
    county: &str,
    teams: usize,
    password: &str,
) -> Result<Vec<TeamAccount>, String> {
    if teams == 0 || teams > MAX_TEAMS {
        return Err(format!("--teams must be 1–{MAX_TEAMS}"));
    }
    let prefix = county
        .get(..6)
        .ok_or("the administrator's region is not a county code")?;
    let mut out = Vec::with_capacity(teams);
    for t in 0..teams.div_ceil(TEAMS_PER_TOWNSHIP) {
        let township = format!("{prefix}{:03}000", FIRST_TOWNSHIP + t);
        let tname = format!("县域{:03}镇", t + 1);
        post(
            admin,
            "/api/v1/admin/regions",
            json!({ "code": township, "name": tname }),
        )
        .await?;
        for k in 0..TEAMS_PER_TOWNSHIP {
            let i = t * TEAMS_PER_TOWNSHIP + k;
            if i >= teams {
                break;
            }
            let mut villages = Vec::with_capacity(VILLAGES_PER_TEAM);
            for v in 0..VILLAGES_PER_TEAM {
                let n = k * VILLAGES_PER_TEAM + v;
                let code = format!("{}{:03}", &township[..9], FIRST_VILLAGE + n);
                let name = format!("{tname}{}村", n + 1);
                post(admin, "/api/v1/admin/regions", json!({ "code": code, "name": name })).await?;
                villages.push(code);
            }
            let code = format!("C{:03}", i + 1);
            let team = json!({ "code": code, "name": format!("{tname}第{}家医团队", k + 1),
                               "township_code": township, "village_codes": villages });
            post(admin, "/api/v1/admin/teams", team).await?;
            let username = format!("county-lead{:03}", i + 1);
            let user = json!({ "username": username, "password": password, "role": "team_lead",
                               "team_code": code, "display_name": format!("团队长{:03}", i + 1) });
            post(admin, "/api/v1/admin/users", user).await?;
            out.push(TeamAccount { code, username });
        }
    }
    Ok(out)
}
