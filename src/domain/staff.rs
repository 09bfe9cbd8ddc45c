//! Staff administration from the console (docs/console.md): the list of accounts in the
//! caller's reach, role / team / name edits, deactivation and one-time passwords.
//! Administrators act within their county; supervisors only read their township's staff.

use diesel::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::region::{self, Level};
use super::user::{self, User};
use super::{audit, team};
use crate::access::{password, Caller, Role, Scope};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{devices, refresh_tokens, users};
use crate::time::now_ms;

/// An account as the staff list shows it (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// `doctor`, `team_lead`, `supervisor` or `admin`.
    pub role: String,
    /// Team id (doctors and team leads).
    pub team_id: Option<String>,
    /// Township (supervisors, team members) or county (admins).
    pub region_code: String,
    /// Can log in.
    pub active: bool,
    /// Last successful login (epoch ms), if any.
    pub last_login_at: Option<i64>,
    /// The password was reset and must be changed at the next login.
    pub must_change_password: bool,
    /// Devices registered to the account, revoked ones included.
    pub device_count: i64,
}

/// Filters of the staff list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Only members of this team (id).
    pub team_id: Option<String>,
    /// Only active (`true`) or deactivated (`false`) accounts.
    pub active: Option<bool>,
    /// Part of the username or display name.
    pub q: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
    /// The previous page's `cursor`.
    pub cursor: Option<String>,
}

/// A page of the staff list, by username.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffPage {
    /// Accounts, by username.
    pub items: Vec<StaffView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The staff in the caller's reach: an administrator's county, a supervisor's township.
pub fn list(c: &mut DbConn, caller: &Caller, f: &StaffFilter) -> Result<StaffPage, AppError> {
    caller.require(&[Role::Admin, Role::Supervisor])?;
    let limit = f.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(Code::InvalidLimit, "limit must be 1–500").with_field("limit"));
    }
    let mut q = users::table
        .filter(users::county_code.eq(&caller.county_code))
        .order(users::username.asc())
        .limit(limit + 1)
        .select(User::as_select())
        .into_boxed();
    if let Scope::Township(t) = &caller.scope {
        q = q.filter(users::region_code.eq(t.clone()));
    }
    if let Some(r) = &f.role {
        let role = Role::parse(r).ok_or_else(|| {
            AppError::bad_request(
                Code::InvalidQuery,
                "role must be doctor, team_lead, supervisor or admin",
            )
            .with_field("role")
        })?;
        q = q.filter(users::role.eq(role.as_str()));
    }
    if let Some(t) = &f.team_id {
        q = q.filter(users::team_id.eq(t.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(users::active.eq(a));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 64 {
            return Err(AppError::bad_request(Code::InvalidQuery, "q is at most 64 characters").with_field("q"));
        }
        let like = format!("%{}%", escape_like(text));
        q = q.filter(
            users::username
                .like(like.clone())
                .escape('\\')
                .or(users::display_name.like(like).escape('\\')),
        );
    }
    if let Some(after) = &f.cursor {
        q = q.filter(users::username.gt(after.clone()));
    }
    let mut rows: Vec<User> = q.load(c)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let cursor = if more {
        rows.last().map(|u| u.username.clone())
    } else {
        None
    };
    let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
    let counts: Vec<(String, i64)> = devices::table
        .filter(devices::user_id.eq_any(&ids))
        .group_by(devices::user_id)
        .select((devices::user_id, diesel::dsl::count_star()))
        .load(c)?;
    let items = rows
        .iter()
        .map(|u| {
            let n = counts.iter().find(|(id, _)| *id == u.id).map_or(0, |(_, n)| *n);
            view(u, n)
        })
        .collect();
    Ok(StaffPage { items, cursor })
}

/// `%`, `_` and `\` typed into a search match themselves.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn view(u: &User, device_count: i64) -> StaffView {
    StaffView {
        id: u.id.clone(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role.clone(),
        team_id: u.team_id.clone(),
        region_code: u.region_code.clone(),
        active: u.active,
        last_login_at: u.last_login_at,
        must_change_password: u.must_change_password,
        device_count,
    }
}

/// One account as the staff list shows it.
pub fn show(c: &mut DbConn, u: &User) -> Result<StaffView, AppError> {
    let n: i64 = devices::table
        .filter(devices::user_id.eq(&u.id))
        .count()
        .get_result(c)?;
    Ok(view(u, n))
}

/// An edit of an account; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name shown to colleagues.
    pub display_name: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// Team id, for a doctor or team lead.
    pub team_id: Option<String>,
    /// Township (supervisor) or county (admin), for a role without a team.
    pub region_code: Option<String>,
}

/// The account `id` in the administrator's county; anything else is not found.
fn in_county(c: &mut DbConn, admin: &Caller, id: &str) -> Result<User, AppError> {
    admin.require(&[Role::Admin])?;
    user::find(c, id)?
        .filter(|u| u.county_code == admin.county_code)
        .ok_or_else(|| AppError::new(crate::error::Kind::NotFound, Code::NotFound, "user not found"))
}

fn not_self(admin: &Caller, u: &User, what: &str) -> Result<(), AppError> {
    if admin.user_id == u.id {
        return Err(AppError::invalid(
            Code::OwnAccount,
            "id",
            format!("an administrator cannot {what} their own account; ask another administrator"),
        ));
    }
    Ok(())
}

/// Applies an edit. A team member moved to another team, or given another role, reaches
/// other villages from their next call on: their pull cursors name the old scope, so the
/// tablet is told to re-sync (docs/sync-protocol.md, "Re-sync").
pub fn update(c: &mut DbConn, admin: &Caller, id: &str, p: &UserPatch) -> Result<User, AppError> {
    let mut u = in_county(c, admin, id)?;
    if let Some(name) = &p.display_name {
        u.display_name = super::validate::text(name, "display_name", 64)?;
    }
    let role = match &p.role {
        Some(r) => Role::parse(r).ok_or_else(|| {
            AppError::invalid(
                Code::InvalidRole,
                "role",
                "role must be doctor, team_lead, supervisor or admin",
            )
        })?,
        None => Role::parse(&u.role).ok_or_else(|| AppError::internal("unknown role in users table"))?,
    };
    if role.as_str() != u.role {
        not_self(admin, &u, "change the role of")?;
    }
    if role.is_team_member() {
        if p.region_code.is_some() {
            return Err(AppError::invalid(
                Code::InvalidRegionCode,
                "region_code",
                "a team member's township is their team's",
            ));
        }
        let team_id = p.team_id.clone().or_else(|| u.team_id.clone()).ok_or_else(|| {
            AppError::invalid(Code::TeamRequired, "team_id", "doctors and team leads belong to a team")
        })?;
        let t = team::find(c, &team_id)?
            .filter(|t| t.county_code == admin.county_code)
            .ok_or_else(|| AppError::invalid(Code::UnknownTeam, "team_id", "no team with that id in your county"))?;
        u.team_id = Some(t.id);
        u.region_code = t.township_code;
    } else {
        if p.team_id.is_some() {
            return Err(AppError::invalid(
                Code::TeamNotAllowed,
                "team_id",
                "supervisors and admins have no team",
            ));
        }
        let want = if role == Role::Supervisor {
            Level::Township
        } else {
            Level::County
        };
        let code = p.region_code.clone().unwrap_or_else(|| u.region_code.clone());
        let r = region::find(c, &code)?
            .filter(|r| r.level == want.as_str() && region::county_of(&r.code) == admin.county_code)
            .ok_or_else(|| {
                AppError::invalid(
                    Code::UnknownRegion,
                    "region_code",
                    format!("region_code must be a {} of your county", want.as_str()),
                )
            })?;
        u.team_id = None;
        u.region_code = r.code;
    }
    u.role = role.as_str().to_string();
    diesel::update(users::table.find(&u.id))
        .set((
            users::display_name.eq(&u.display_name),
            users::role.eq(&u.role),
            users::team_id.eq(&u.team_id),
            users::region_code.eq(&u.region_code),
        ))
        .execute(c)?;
    audit::record_now(
        c,
        audit::Entry::actor(admin, "user_updated")
            .entity("user", &u.id)
            .detail(serde_json::json!({ "role": u.role, "team_id": u.team_id, "region_code": u.region_code })),
    )?;
    Ok(u)
}

/// Deactivates an account: its access tokens stop at their next call (the caller is
/// loaded from the database on every request), its refresh tokens are revoked, its
/// records stay. Deactivating an inactive account changes nothing.
pub fn deactivate(c: &mut DbConn, admin: &Caller, id: &str, reason: &str) -> Result<User, AppError> {
    let reason = super::validate::text(reason, "reason", 500)?;
    let mut u = in_county(c, admin, id)?;
    not_self(admin, &u, "deactivate")?;
    if !u.active {
        return Ok(u);
    }
    diesel::update(users::table.find(&u.id))
        .set(users::active.eq(false))
        .execute(c)?;
    end_tokens(c, &u.id, None)?;
    audit::record_now(
        c,
        audit::Entry::actor(admin, "user_deactivated")
            .entity("user", &u.id)
            .detail(serde_json::json!({ "reason": reason })),
    )?;
    u.active = false;
    Ok(u)
}

/// Characters of a one-time password: no 0/O, 1/l/I, so it can be read out over a phone.
const OTP_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ";

/// Sets a one-time password and returns it: every token of the account ends, and its next
/// login must set a new password before anything else (docs/security.md, "Password resets").
/// The password is shown once, to the administrator, and stored only as its hash.
pub fn reset_password(c: &mut DbConn, admin: &Caller, id: &str) -> Result<String, AppError> {
    let u = in_county(c, admin, id)?;
    not_self(admin, &u, "reset the password of")?;
    let mut rng = rand::thread_rng();
    let otp: String = (0..14)
        .map(|_| OTP_ALPHABET[rng.gen_range(0..OTP_ALPHABET.len())] as char)
        .collect();
    password::check_rules(&otp, &u.username, "one_time_password")?;
    user::set_password(c, &u.id, &password::hash(&otp)?, true)?;
    end_tokens(c, &u.id, None)?;
    audit::record_now(c, audit::Entry::actor(admin, "password_reset").entity("user", &u.id))?;
    Ok(otp)
}

/// Ends every token of the account's devices but `keep` (a device's id): refresh tokens
/// are revoked and each device's token generation moves on, so access tokens issued
/// before stop at their next call. The devices stay registered.
pub fn end_tokens(c: &mut DbConn, user_id: &str, keep: Option<&str>) -> Result<(), AppError> {
    let now = now_ms();
    let keep = keep.unwrap_or("");
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::device_id.ne(keep))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(c)?;
    diesel::update(
        devices::table
            .filter(devices::user_id.eq(user_id))
            .filter(devices::id.ne(keep)),
    )
    .set(devices::token_generation.eq(devices::token_generation + 1))
    .execute(c)?;
    Ok(())
}
