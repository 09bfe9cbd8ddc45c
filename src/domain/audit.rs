//! The audit log: append-only, written in the same transaction as the change it records.

use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::Auth;
use crate::db::DbConn;
use crate::domain::user::User;
use crate::error::AppError;
use crate::schema::audit_log;
use crate::time::{now_ms, Millis};

/// One audit entry being built.
#[derive(Debug, Default)]
pub struct Entry {
    action: &'static str,
    at: Option<Millis>,
    clinical_at: Option<Millis>,
    county_code: Option<String>,
    user_id: Option<String>,
    device_id: Option<String>,
    entity: Option<&'static str>,
    entity_id: Option<String>,
    detail: Option<serde_json::Value>,
}

impl Entry {
    /// An action with no user (failed login, start-up, import).
    pub fn system(action: &'static str) -> Entry {
        Entry {
            action,
            ..Default::default()
        }
    }
    /// An action by a user on a device.
    pub fn by(user: &User, device_id: &str, action: &'static str) -> Entry {
        Entry {
            action,
            county_code: Some(user.county_code.clone()),
            user_id: Some(user.id.clone()),
            device_id: Some(device_id.to_string()),
            ..Default::default()
        }
    }
    /// An action by the authenticated caller.
    pub fn actor(a: &Auth, action: &'static str) -> Entry {
        Entry {
            action,
            county_code: Some(a.county_code.clone()),
            user_id: Some(a.user_id.clone()),
            device_id: Some(a.device_id.clone()),
            ..Default::default()
        }
    }
    /// Sets the device.
    pub fn device(mut self, id: &str) -> Entry {
        self.device_id = Some(id.to_string());
        self
    }
    /// Sets the county.
    pub fn county(mut self, code: &str) -> Entry {
        self.county_code = Some(code.to_string());
        self
    }
    /// Sets the entity touched.
    pub fn entity(mut self, kind: &'static str, id: &str) -> Entry {
        self.entity = Some(kind);
        self.entity_id = Some(id.to_string());
        self
    }
    /// Adds detail (never PII).
    pub fn detail(mut self, d: serde_json::Value) -> Entry {
        self.detail = Some(d);
        self
    }
    /// Server time of the action.
    pub fn at(mut self, ms: Millis) -> Entry {
        self.at = Some(ms);
        self
    }
    /// Clinical time of the recorded event.
    pub fn clinical(mut self, ms: Millis) -> Entry {
        self.clinical_at = Some(ms);
        self
    }
}

/// Appends an entry.
pub fn record(conn: &mut DbConn, e: Entry) -> Result<(), AppError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(Uuid::now_v7().to_string()),
            audit_log::at.eq(e.at.unwrap_or_else(now_ms)),
            audit_log::clinical_at.eq(e.clinical_at),
            audit_log::county_code.eq(e.county_code),
            audit_log::user_id.eq(e.user_id),
            audit_log::device_id.eq(e.device_id),
            audit_log::action.eq(e.action),
            audit_log::entity.eq(e.entity),
            audit_log::entity_id.eq(e.entity_id),
            audit_log::detail.eq(e.detail.map(|d| d.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Appends an entry stamped now.
pub fn record_now(conn: &mut DbConn, e: Entry) -> Result<(), AppError> {
    record(conn, e.at(now_ms()))
}
