//! Devices as the server keeps them: one row per (user, the tablet's own `device_id`),
//! named everywhere inside the server by its own id (`devices.id`). The tablet's id is only
//! how a login or a refresh finds the row, so two users naming the same tablet id
//! (a shared tablet, or a guessable id from the README) each get their own row: nobody's
//! login can take over, revoke or block another user's device, in any county.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::DbConn;
use crate::domain::user::User;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{devices, users};
use crate::time::Millis;

/// A device row as the token code needs it.
#[derive(Debug, Clone, Queryable)]
pub struct Device {
    /// The server's id.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// The tablet's own id.
    pub client_id: String,
    /// When a supervisor revoked it.
    pub revoked_at: Option<i64>,
    /// Moves on when a refresh-token reuse ends the device's tokens.
    pub token_generation: i64,
}

type Columns = (
    devices::id,
    devices::user_id,
    devices::client_id,
    devices::revoked_at,
    devices::token_generation,
);

const COLUMNS: Columns = (
    devices::id,
    devices::user_id,
    devices::client_id,
    devices::revoked_at,
    devices::token_generation,
);

/// The device with the server id `id`.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Device>, AppError> {
    Ok(devices::table.find(id).select(COLUMNS).first(conn).optional()?)
}

/// The answer for a revoked device.
pub fn revoked() -> AppError {
    AppError::unauthorized(Code::DeviceRevoked, "this device was revoked; wipe its local data")
}

/// Finds or registers the user's device named `client_id` by the tablet, recording its
/// name and app version. A device a supervisor revoked stays revoked for this user.
pub fn register(
    conn: &mut DbConn,
    user: &User,
    client_id: &str,
    name: &str,
    app_version: Option<&str>,
    now: Millis,
) -> Result<Device, AppError> {
    let existing: Option<Device> = devices::table
        .filter(devices::user_id.eq(&user.id))
        .filter(devices::client_id.eq(client_id))
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    match existing {
        Some(d) if d.revoked_at.is_some() => Err(revoked()),
        Some(d) => {
            diesel::update(devices::table.find(&d.id))
                .set((
                    devices::name.eq(name),
                    devices::app_version.eq(app_version),
                    devices::last_seen_at.eq(now),
                ))
                .execute(conn)?;
            Ok(d)
        }
        None => {
            let id = Uuid::now_v7().to_string();
            // Two first logins of one user on one tablet at once: the later insert meets
            // the unique (user, tablet id) index. Its savepoint rolls back and the login
            // takes the row the other one made.
            let inserted = conn.transaction(|c| {
                insert(c, &id, user, client_id, name, app_version, now)
                    .map_err(|_| diesel::result::Error::RollbackTransaction)
            });
            if inserted.is_err() {
                let other: Option<Device> = devices::table
                    .filter(devices::user_id.eq(&user.id))
                    .filter(devices::client_id.eq(client_id))
                    .select(COLUMNS)
                    .first(conn)
                    .optional()?;
                return match other {
                    Some(d) if d.revoked_at.is_some() => Err(revoked()),
                    Some(d) => Ok(d),
                    None => Err(AppError::internal(
                        "device insert failed and no row holds its tablet id",
                    )),
                };
            }
            Ok(Device {
                id,
                user_id: user.id.clone(),
                client_id: client_id.to_string(),
                revoked_at: None,
                token_generation: 0,
            })
        }
    }
}

/// Records contact from the device at `now`.
pub fn touch(conn: &mut DbConn, id: &str, now: Millis) -> Result<(), AppError> {
    diesel::update(devices::table.find(id))
        .set(devices::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Moves the device's token generation on, which ends its access tokens at their next
/// request (the extractor compares the generation).
pub fn next_generation(conn: &mut DbConn, id: &str) -> Result<(), AppError> {
    diesel::update(devices::table.find(id))
        .set(devices::token_generation.eq(devices::token_generation + 1))
        .execute(conn)?;
    Ok(())
}

/// Who a device belongs to, where, and whether it is revoked: what revoking it checks.
pub struct Standing {
    /// The device's user.
    pub user_id: String,
    /// The device's county.
    pub county_code: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// The [`Standing`] of the device with the server id `id`.
pub fn standing(conn: &mut DbConn, id: &str) -> Result<Option<Standing>, AppError> {
    let row: Option<(String, String, Option<i64>)> = devices::table
        .find(id)
        .select((devices::user_id, devices::county_code, devices::revoked_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user_id, county_code, revoked_at)| Standing {
        user_id,
        county_code,
        revoked_at,
    }))
}

/// Marks the device revoked by `by` for `reason` at `now`.
pub fn mark_revoked(conn: &mut DbConn, id: &str, by: &str, reason: &str, now: Millis) -> Result<(), AppError> {
    diesel::update(devices::table.find(id))
        .set((
            devices::revoked_at.eq(now),
            devices::revoked_by.eq(by),
            devices::revoke_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user a device belongs to and that user's team: who sent what came from it.
pub fn sender(conn: &mut DbConn, id: &str) -> Result<Option<(String, Option<String>)>, AppError> {
    Ok(devices::table
        .inner_join(users::table.on(users::id.eq(devices::user_id)))
        .filter(devices::id.eq(id))
        .select((users::id, users::team_id))
        .first(conn)
        .optional()?)
}

/// Inserts a device row with the server id `id`.
pub fn insert(
    conn: &mut DbConn,
    id: &str,
    user: &User,
    client_id: &str,
    name: &str,
    app_version: Option<&str>,
    now: Millis,
) -> Result<(), AppError> {
    diesel::insert_into(devices::table)
        .values((
            devices::id.eq(id),
            devices::user_id.eq(&user.id),
            devices::client_id.eq(client_id),
            devices::name.eq(name),
            devices::app_version.eq(app_version),
            devices::county_code.eq(&user.county_code),
            devices::first_seen_at.eq(now),
            devices::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A device as supervisors see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// The server's id of the device (one per user and tablet id): what revoke names.
    pub id: String,
    /// The tablet's own id; a tablet shared by several users has a device per user.
    pub device_id: String,
    /// Name.
    pub name: String,
    /// The username of the device's user.
    pub username: String,
    /// The device's user.
    pub user_id: String,
    /// That user's team, for doctors and team leads.
    pub team_id: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Last contact (epoch ms).
    pub last_seen_at: i64,
    /// Revoked at (epoch ms).
    pub revoked_at: Option<i64>,
    /// Open review items (conflicts and quarantined ops) its pushes left.
    pub pending_review: i64,
}

/// Filters of the device list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Only this user's devices.
    pub user_id: Option<String>,
    /// Only devices of this team's members (id).
    pub team_id: Option<String>,
    /// Only revoked (`true`) or unrevoked (`false`) devices.
    pub revoked: Option<bool>,
}

/// The devices a supervisor (their township's users) or an administrator (the county's)
/// may see, the most recently seen first.
pub fn list_in_reach(
    c: &mut DbConn,
    caller: &crate::access::Caller,
    f: &DeviceFilter,
) -> Result<Vec<DeviceView>, AppError> {
    use crate::schema::{conflicts, quarantine};
    type Row = (
        (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
        ),
        String,
    );
    let mut q = devices::table
        .inner_join(users::table.on(users::id.eq(devices::user_id)))
        .filter(devices::county_code.eq(&caller.county_code))
        .order(devices::last_seen_at.desc())
        .select((
            (
                devices::id,
                devices::client_id,
                devices::name,
                users::username,
                users::id,
                users::team_id,
                devices::app_version,
                devices::last_seen_at,
                devices::revoked_at,
            ),
            users::region_code,
        ))
        .into_boxed();
    if let Some(u) = &f.user_id {
        q = q.filter(users::id.eq(u.clone()));
    }
    if let Some(t) = &f.team_id {
        q = q.filter(users::team_id.eq(t.clone()));
    }
    match f.revoked {
        Some(true) => q = q.filter(devices::revoked_at.is_not_null()),
        Some(false) => q = q.filter(devices::revoked_at.is_null()),
        None => {}
    }
    let rows: Vec<Row> = q.load(c)?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(_, region)| caller.scope.covers_region(region))
        .map(|(d, _)| d)
        .collect();
    let ids: Vec<&str> = rows.iter().map(|d| d.0.as_str()).collect();
    let open_conflicts: Vec<(Option<String>, i64)> = conflicts::table
        .filter(conflicts::status.eq(crate::vocabulary::ItemStatus::Open.as_str()))
        .filter(conflicts::device_id.eq_any(ids.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>()))
        .group_by(conflicts::device_id)
        .select((conflicts::device_id, diesel::dsl::count_star()))
        .load(c)?;
    let open_quarantine: Vec<(String, i64)> = quarantine::table
        .filter(quarantine::status.eq(crate::vocabulary::ItemStatus::Open.as_str()))
        .filter(quarantine::device_id.eq_any(&ids))
        .group_by(quarantine::device_id)
        .select((quarantine::device_id, diesel::dsl::count_star()))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, device_id, name, username, user_id, team_id, app_version, last_seen_at, revoked_at)| {
                let pending = open_conflicts
                    .iter()
                    .filter(|(d, _)| d.as_deref() == Some(id.as_str()))
                    .map(|(_, n)| n)
                    .sum::<i64>()
                    + open_quarantine
                        .iter()
                        .filter(|(d, _)| *d == id)
                        .map(|(_, n)| n)
                        .sum::<i64>();
                DeviceView {
                    id,
                    device_id,
                    name,
                    username,
                    user_id,
                    team_id,
                    app_version,
                    last_seen_at,
                    revoked_at,
                    pending_review: pending,
                }
            },
        )
        .collect())
}
