//! The review-queue count the dashboard shows: open sync conflicts and open quarantined
//! ops in the caller's scope. A row without a village counts where the user whose device
//! sent it works (their team's township or villages).

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, Scope};
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;

/// Open items waiting for a supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ReviewCount {
    /// Open conflicts (double signings, field clashes, duplicate residents…).
    pub conflicts: i64,
    /// Open quarantined ops (refused records kept for review).
    pub quarantine: i64,
    /// Both together.
    pub total: i64,
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Counts the open items the caller may see.
pub fn count(conn: &mut DbConn, auth: &Auth) -> Result<ReviewCount, AppError> {
    let conflicts = count_table(conn, auth, "conflicts")?;
    let quarantine = count_table(conn, auth, "quarantine")?;
    Ok(ReviewCount {
        conflicts,
        quarantine,
        total: conflicts + quarantine,
    })
}

fn count_table(conn: &mut DbConn, auth: &Auth, table: &str) -> Result<i64, AppError> {
    // Who sent a village-less row: device → user → team → township / villages.
    let sender = "SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id JOIN teams t ON t.id = u.team_id \
                  WHERE d.id = q.device_id";
    let mut binds: Vec<Bind> = vec![auth.county_code.clone().into()];
    let place = match &auth.scope {
        Scope::County(_) => "TRUE".to_string(),
        Scope::Township(t) => {
            let lo = format!("{:0<12}", &t[..9]);
            let hi = format!("{:9<12}", &t[..9]);
            binds.extend([lo.into(), hi.into(), t.clone().into()]);
            format!(
                "((q.village_code >= ? AND q.village_code <= ?) OR \
                 (q.village_code IS NULL AND EXISTS ({sender} AND t.township_code = ?)))"
            )
        }
        Scope::Team { team_id, villages } => {
            let marks = vec!["?"; villages.len().max(1)].join(",");
            if villages.is_empty() {
                binds.push(String::new().into());
            }
            binds.extend(villages.iter().map(|v| Bind::from(v.clone())));
            binds.push(team_id.clone().into());
            format!("(q.village_code IN ({marks}) OR (q.village_code IS NULL AND EXISTS ({sender} AND t.id = ?)))")
        }
    };
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table} q WHERE q.county_code = ? AND q.status = 'open' AND {place}"
    );
    let rows = raw::load::<N>(conn, &sql, &binds)?;
    Ok(rows.first().map_or(0, |r| r.n))
}
