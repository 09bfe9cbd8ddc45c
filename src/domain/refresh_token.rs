//! Refresh tokens as stored (docs/security.md, "Authentication"): one row per issued
//! token, keyed by its hash, chained to the token it was exchanged for. `auth` decides
//! rotation, reuse and grace; the rows are read and written here.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::refresh_tokens;
use crate::time::Millis;

/// A stored refresh token.
#[derive(Debug, Queryable)]
pub struct TokenRow {
    /// The row's id.
    pub id: String,
    /// The login the token descends from.
    pub family_id: String,
    /// The device (server id) it was issued to.
    pub device_id: String,
    /// The user it was issued to.
    pub user_id: String,
    /// When it was issued (epoch ms).
    pub issued_at: i64,
    /// When it expires (epoch ms).
    pub expires_at: i64,
    /// When it was exchanged for its successor.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// The id of the token it was exchanged for.
    pub replaced_by: Option<String>,
}

/// How [`find`] finds a row.
pub enum TokenKey<'a> {
    /// By the token's hash (what the client presents, hashed).
    Hash(&'a str),
    /// By the row's id.
    Id(&'a str),
}

/// A token to store.
pub struct NewToken<'a> {
    /// The row's id.
    pub id: &'a str,
    /// The token's hash.
    pub token_hash: &'a str,
    /// The login it descends from.
    pub family_id: &'a str,
    /// The device (server id).
    pub device_id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// When it is issued.
    pub issued_at: Millis,
    /// When it expires.
    pub expires_at: Millis,
}

/// Stores a newly issued token.
pub fn insert(conn: &mut DbConn, t: &NewToken) -> Result<(), AppError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(t.id),
            refresh_tokens::token_hash.eq(t.token_hash),
            refresh_tokens::family_id.eq(t.family_id),
            refresh_tokens::device_id.eq(t.device_id),
            refresh_tokens::user_id.eq(t.user_id),
            refresh_tokens::issued_at.eq(t.issued_at),
            refresh_tokens::expires_at.eq(t.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The stored refresh token whose hash or id is `key`.
pub fn find(conn: &mut DbConn, key: TokenKey<'_>) -> Result<Option<TokenRow>, AppError> {
    let columns = (
        refresh_tokens::id,
        refresh_tokens::family_id,
        refresh_tokens::device_id,
        refresh_tokens::user_id,
        refresh_tokens::issued_at,
        refresh_tokens::expires_at,
        refresh_tokens::used_at,
        refresh_tokens::revoked_at,
        refresh_tokens::replaced_by,
    );
    let q = refresh_tokens::table.select(columns);
    Ok(match key {
        TokenKey::Hash(h) => q.filter(refresh_tokens::token_hash.eq(h)).first(conn).optional()?,
        TokenKey::Id(id) => q.filter(refresh_tokens::id.eq(id)).first(conn).optional()?,
    })
}

/// Marks the token spent at `now` if it is not spent yet; false if another exchange
/// spent it first (the update is the race's arbiter).
pub fn spend(conn: &mut DbConn, id: &str, now: Millis) -> Result<bool, AppError> {
    let n = diesel::update(refresh_tokens::table.find(id))
        .filter(refresh_tokens::used_at.is_null())
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
    Ok(n > 0)
}

/// Records the token a spent one was exchanged for.
pub fn set_replaced_by(conn: &mut DbConn, id: &str, child: &str) -> Result<(), AppError> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::replaced_by.eq(child))
        .execute(conn)?;
    Ok(())
}

/// Revokes every unrevoked refresh token of a device.
pub fn revoke_device(conn: &mut DbConn, device_id: &str, now: Millis) -> Result<(), AppError> {
    diesel::update(refresh_tokens::table.filter(refresh_tokens::device_id.eq(device_id)))
        .filter(refresh_tokens::revoked_at.is_null())
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(())
}
