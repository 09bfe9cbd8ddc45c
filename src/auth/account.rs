//! The caller's own account: changing one's password and signing out everywhere
//! (docs/security.md, "Password resets" and "Signing out").

use serde::Deserialize;
use utoipa::ToSchema;

use super::password;
use crate::access::Caller;
use crate::db::{write_tx, DbConn};
use crate::domain::staff::end_tokens;
use crate::domain::{audit, user};
use crate::error::AppError;
use crate::error_codes::Code;

/// `POST /api/v1/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password (after a reset: the one-time password).
    pub old_password: String,
    /// The new password (the password rules: docs/security.md).
    pub new_password: String,
}

/// Changes the caller's password. Every other device's tokens end (whoever knew the old
/// password is signed out); the device making the change stays signed in. Clears a
/// pending reset.
pub fn change_password(c: &mut DbConn, caller: &Caller, req: &PasswordChange) -> Result<(), AppError> {
    let u = user::find(c, &caller.user_id)?.ok_or_else(|| AppError::internal("caller without a user row"))?;
    if req.old_password.len() > 4 * password::MAX_LEN || !password::verify(&req.old_password, &u.password_hash) {
        return Err(AppError::invalid(
            Code::WrongPassword,
            "old_password",
            "the current password is not right",
        ));
    }
    password::check_rules(&req.new_password, &u.username, "new_password")?;
    if req.new_password == req.old_password {
        return Err(AppError::invalid(
            Code::WeakPassword,
            "new_password",
            "the new password must differ from the current one",
        ));
    }
    let hash = password::hash(&req.new_password)?;
    write_tx(c, |c| {
        user::set_password(c, &u.id, &hash, false)?;
        end_tokens(c, &u.id, Some(&caller.device_id))?;
        audit::record_now(c, audit::Entry::actor(caller, "password_changed").entity("user", &u.id))
    })
}

/// Ends every token of the caller, on every device, this one included.
pub fn sign_out_everywhere(c: &mut DbConn, caller: &Caller) -> Result<(), AppError> {
    write_tx(c, |c| {
        end_tokens(c, &caller.user_id, None)?;
        audit::record_now(
            c,
            audit::Entry::actor(caller, "signed_out_everywhere").entity("user", &caller.user_id),
        )
    })
}
