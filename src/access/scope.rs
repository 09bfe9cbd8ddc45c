//! Roles and the part of the county a caller may see.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Family doctor, nurse, village doctor: their team's villages.
    Doctor,
    /// Team lead: a doctor who also sees the team's work list and coverage.
    TeamLead,
    /// Township supervisor: reads the township, resolves its review queue.
    Supervisor,
    /// County administrator.
    Admin,
}

impl Role {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Doctor => "doctor",
            Role::TeamLead => "team_lead",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "doctor" => Some(Role::Doctor),
            "team_lead" => Some(Role::TeamLead),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    /// Roles that belong to a team.
    pub fn is_team_member(self) -> bool {
        matches!(self, Role::Doctor | Role::TeamLead)
    }
}

/// The residents and regions a caller may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A team's villages.
    Team {
        /// The team.
        team_id: String,
        /// Its villages' codes, sorted.
        villages: Vec<String>,
    },
    /// Everything under a township (9-digit prefix).
    Township(String),
    /// Everything under a county (6-digit prefix).
    County(String),
}

impl Scope {
    /// May the caller reach residents of this village?
    pub fn covers_village(&self, village: &str) -> bool {
        match self {
            Scope::Team { villages, .. } => villages.binary_search_by(|v| v.as_str().cmp(village)).is_ok(),
            Scope::Township(t) => village.len() == 12 && village.starts_with(&t[..9]),
            Scope::County(c) => village.len() == 12 && village.starts_with(&c[..6]),
        }
    }
    /// May the caller read figures for this region code (county, township or village)?
    pub fn covers_region(&self, code: &str) -> bool {
        match self {
            Scope::Team { .. } => self.covers_village(code),
            Scope::Township(t) => code.len() == 12 && code.starts_with(&t[..9]),
            Scope::County(c) => code.len() == 12 && code.starts_with(&c[..6]),
        }
    }
    /// A stable description, hashed into pull cursors so a cursor is refused once the scope changes.
    pub fn fingerprint(&self) -> String {
        match self {
            Scope::Team { team_id, villages } => format!("team:{team_id}:{}", villages.join(",")),
            Scope::Township(t) => format!("township:{t}"),
            Scope::County(c) => format!("county:{c}"),
        }
    }
}
