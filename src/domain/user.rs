//! Staff accounts.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use utoipa::ToSchema;
use uuid::Uuid;

use super::region::{self, Level};
use super::team;
use crate::access::{password, Role};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::users;
use crate::time::now_ms;

/// A user row (the password hash never leaves the server).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role code.
    pub role: String,
    /// Team (doctors, team leads).
    pub team_id: Option<String>,
    /// Township (supervisor), county (admin), team's township (team members).
    pub region_code: String,
    /// County.
    pub county_code: String,
    /// Can log in.
    pub active: bool,
    /// Created (server, epoch ms).
    pub created_at: i64,
    /// The password was reset by an administrator: it must be changed before anything else.
    pub must_change_password: bool,
    /// Last successful login (server, epoch ms).
    pub last_login_at: Option<i64>,
}

/// A user to create (API body and CSV row).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3–32 of `a–z 0–9 _ . -`.
    pub username: String,
    /// At least 10 characters, not the username, not one repeated character.
    pub password: String,
    /// `doctor`, `team_lead`, `supervisor` or `admin`.
    pub role: String,
    /// Team code, for doctors and team leads.
    #[serde(default)]
    pub team_code: Option<String>,
    /// Township for a supervisor, county for an admin; ignored for team members.
    #[serde(default)]
    pub region_code: Option<String>,
    /// Name shown to colleagues.
    pub display_name: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role code.
    pub role: String,
    /// Team id.
    pub team_id: Option<String>,
    /// Region code.
    pub region_code: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            team_id: u.team_id.clone(),
            region_code: u.region_code.clone(),
        }
    }
}

/// Finds a user by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<User>, AppError> {
    Ok(users::table.find(id).select(User::as_select()).first(conn).optional()?)
}

/// The one form of a username that creation, lookup and the login throttle use: Unicode
/// NFKC (full-width `ｄｏｃｔｏｒ１` is `doctor1`), lower case, and no surrounding white
/// space of any kind (the ideographic space U+3000 included). Stored usernames are in it.
pub fn normalize_username(typed: &str) -> String {
    let lower = typed.nfkc().collect::<String>().to_lowercase();
    // Lower-casing can leave a form NFKC would change again; settle it.
    lower.nfkc().collect::<String>().trim().to_string()
}

/// Finds a user by username, in its normalised form ([`normalize_username`]).
pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::username.eq(normalize_username(username)))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a user. `county` restricts where (an admin's county); `None` for the command line.
pub fn create(conn: &mut DbConn, new: &NewUser, county: Option<&str>) -> Result<User, AppError> {
    let username = normalize_username(&new.username);
    if !(3..=32).contains(&username.len())
        || !username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err(AppError::invalid(
            Code::InvalidUsername,
            "username",
            "a username is 3–32 of a–z 0–9 _ . -",
        ));
    }
    password::check_rules(&new.password, &username, "password")?;
    let role = Role::parse(&new.role).ok_or_else(|| {
        AppError::invalid(
            Code::InvalidRole,
            "role",
            "role must be doctor, team_lead, supervisor or admin",
        )
    })?;
    let display_name = super::validate::text(&new.display_name, "display_name", 64)?;
    let (team_id, region_code) = if role.is_team_member() {
        let code = new
            .team_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                AppError::invalid(
                    Code::TeamRequired,
                    "team_code",
                    "doctors and team leads belong to a team",
                )
            })?;
        let t = team::find_by_code(conn, code.trim())?
            .ok_or_else(|| AppError::invalid(Code::UnknownTeam, "team_code", "no team with that code"))?;
        (Some(t.id), t.township_code)
    } else {
        if new.team_code.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            return Err(AppError::invalid(
                Code::TeamNotAllowed,
                "team_code",
                "supervisors and admins have no team",
            ));
        }
        let want = if role == Role::Supervisor {
            Level::Township
        } else {
            Level::County
        };
        let code = new.region_code.as_deref().unwrap_or("").trim();
        let r = region::find(conn, code)?
            .filter(|r| r.level == want.as_str())
            .ok_or_else(|| {
                AppError::invalid(
                    Code::UnknownRegion,
                    "region_code",
                    format!("region_code must be an existing {}", want.as_str()),
                )
            })?;
        (None, r.code)
    };
    let county_code = region::county_of(&region_code);
    if let Some(c) = county {
        if c != county_code {
            return Err(AppError::forbidden("that user would be outside your county"));
        }
    }
    if find_by_username(conn, &username)?.is_some() {
        return Err(AppError::conflict(Code::UsernameTaken, "that username is taken").with_field("username"));
    }
    let user = User {
        id: Uuid::now_v7().to_string(),
        username,
        display_name,
        password_hash: password::hash(&new.password)?,
        role: role.as_str().to_string(),
        team_id,
        region_code,
        county_code,
        active: true,
        created_at: now_ms(),
        must_change_password: false,
        last_login_at: None,
    };
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&user.id),
            users::username.eq(&user.username),
            users::display_name.eq(&user.display_name),
            users::password_hash.eq(&user.password_hash),
            users::role.eq(&user.role),
            users::team_id.eq(&user.team_id),
            users::region_code.eq(&user.region_code),
            users::county_code.eq(&user.county_code),
            users::active.eq(user.active),
            users::created_at.eq(user.created_at),
        ))
        .execute(conn)?;
    Ok(user)
}

/// Stores a new password hash; `must_change` marks a one-time password an administrator
/// set (docs/security.md, "Password resets").
pub fn set_password(conn: &mut DbConn, id: &str, hash: &str, must_change: bool) -> Result<(), AppError> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::must_change_password.eq(must_change),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a successful login (the staff list shows it).
pub fn touch_login(conn: &mut DbConn, id: &str, at: i64) -> Result<(), AppError> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(at))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalize_username;

    #[test]
    fn typed_variants_of_a_username_normalise_to_the_stored_form() {
        for typed in [
            "doctor1",
            " doctor1",
            "doctor1\u{3000}",
            "\u{3000}DOCTOR1\t",
            "ｄｏｃｔｏｒ１",
            "ＤＯＣＴＯＲ１\u{00a0}",
        ] {
            assert_eq!(normalize_username(typed), "doctor1", "{typed:?}");
        }
        assert_ne!(normalize_username("doctor 1"), "doctor1");
    }
}
