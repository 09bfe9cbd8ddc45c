//! Who the caller is and what they may reach, as plain data for every layer below `http`
//! (docs/architecture.md): the [`Caller`], its [`Role`] and [`Scope`], and password rules
//! and hashing.

pub mod password;
pub mod region;
pub mod scope;

pub use scope::{Role, Scope};

use crate::error::AppError;

/// Who is acting: user, role, device and scope. The `auth` layer builds it from an access
/// token (checked against the database on every request, so a revoked device or a
/// deactivated user stops at once); the review workflow builds it for the author of an op
/// it applies again. Below `http`, every rule takes this, never an HTTP extractor.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub user_id: String,
    /// Username (not PII: staff accounts).
    pub username: String,
    /// Role.
    pub role: Role,
    /// Team, for doctors and team leads.
    pub team_id: Option<String>,
    /// The user's region code.
    pub region_code: String,
    /// The user's county code (12 digits).
    pub county_code: String,
    /// The server's id of the device the token was issued to (`devices.id`): what stored
    /// rows, rate limits and idempotency name as the caller's device.
    pub device_id: String,
    /// The tablet's own id for that device, as it sends it in `device_id` fields.
    pub client_device_id: String,
    /// What the caller may reach.
    pub scope: Scope,
    /// An administrator reset the password: until a new one is set, the caller may only
    /// change it (the extractor refuses everything else with `password_change_required`).
    pub must_change_password: bool,
}

impl Caller {
    /// Refuses unless the caller has one of the roles.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }
}
